// Types of pako's per-direction CommonJS modules (its ESM build is one module holding both
// directions, which a bundler cannot split): the same API as the package root.
declare module "pako/lib/inflate.js" {
  export { Inflate, inflateRaw } from "pako";
}
declare module "pako/lib/deflate.js" {
  export { Deflate, deflateRaw } from "pako";
}
