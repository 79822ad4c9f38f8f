// pako by direction (package.json "imports"): in browsers pako's per-direction CommonJS modules
// (its ESM build is one module holding both directions, which a bundler cannot split, so a page that
// only decodes would load the compressor too); in Node the package root, whose ESM build loads in a
// third of the time (Node never calls pako: it has zlib, but modules load before that is known).
declare module "#pako-inflate" {
  export { Inflate, inflateRaw } from "pako";
}
declare module "#pako-deflate" {
  export { Deflate, deflateRaw } from "pako";
}
