/**
 * Checks what a web page pays for ndpack: each entry bundled as a new user's bundler would
 * (esbuild --bundle --minify --platform=browser), gzipped at level 9, against the budgets of issue
 * 13. Prints a table (the README's "Size" section quotes it); exits 1 when a budget is exceeded.
 * `npm test` runs it, so CI checks the budgets.
 */
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const KB = 1024;
const budgets = [
  { name: 'import { decode } from "ndpack"', contents: 'export { decode } from "./src/index.ts";', budget: 20 * KB },
  { name: 'import * from "ndpack" (the whole core)', contents: 'export * from "./src/index.ts";', budget: 35 * KB },
  { name: 'core + "ndpack/interop"', contents: 'export * from "./src/index.ts";\nexport * from "./src/interop/index.ts";', budget: 50 * KB },
  // The lazy reader, HTTP, sets and streams are entry points of their own so that the core stays within its budget.
  // Their budgets are the project's, not issue 13's: each is what the entry measured when it was split off
  // (2026-12-06) plus about 1.5 KB, so that growth is noticed, not forbidden.
  { name: 'core + "ndpack/source"', contents: 'export * from "./src/index.ts";\nexport * from "./src/source.ts";', budget: 40 * KB },
  { name: 'core + "ndpack/http"', contents: 'export * from "./src/index.ts";\nexport * from "./src/http.ts";', budget: 42 * KB },
  { name: 'core + "ndpack/sets" (with HTTP)', contents: 'export * from "./src/index.ts";\nexport * from "./src/sets.ts";', budget: 48 * KB },
  { name: 'core + "ndpack/streams"', contents: 'export * from "./src/index.ts";\nexport * from "./src/streams.ts";', budget: 40 * KB },
];

let failed = false;
console.log("| entry | minified | gzipped | budget (gzipped) |\n| --- | ---: | ---: | ---: |");
for (const { name, contents, budget } of budgets) {
  const result = await build({ stdin: { contents, resolveDir: root, loader: "ts" }, bundle: true, minify: true, platform: "browser", format: "esm", write: false, logLevel: "silent" });
  const code = result.outputFiles[0].contents;
  const gzipped = gzipSync(code, { level: 9 }).length;
  const over = gzipped > budget;
  failed ||= over;
  const kb = (n) => `${(n / KB).toFixed(1)} KB`;
  console.log(`| \`${name}\` | ${kb(code.length)} | ${kb(gzipped)} (${gzipped} B) | ${kb(budget)}${over ? " **OVER**" : ""} |`);
}
if (failed) {
  console.error("bundle-size: an entry is over its budget");
  process.exit(1);
}
