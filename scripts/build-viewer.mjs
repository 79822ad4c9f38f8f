/**
 * Builds the viewer page into dist/viewer/: index.html, viewer.js and stats-worker.js, bundled and
 * minified for browsers. `ndpack view` serves that directory; it also works as a static site
 * (drop a file, or paste a URL). Run after tsup, which empties dist/.
 */
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}dist/viewer`;
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { viewer: `${root}src/viewer/main.ts`, "stats-worker": `${root}src/viewer/stats-worker.ts` },
  outdir: out,
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  logLevel: "warning",
});
copyFileSync(`${root}src/viewer/index.html`, `${out}/index.html`);
console.log(`viewer built into ${out}`);
