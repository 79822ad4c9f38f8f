/**
 * Checks what a web page pays for ndpack: each entry bundled as a new user's bundler would
 * (esbuild --bundle --minify --platform=browser), gzipped at level 9, against the budgets of issue
 * 13, twice: from the sources (src/, the budgets' gate) and from the built package (dist/,
 * resolved through the "exports" and "sideEffects" of package.json as an installed copy is: what
 * users get; run `npm run build` first). Prints a table (the README's "What a web page pays"
 * quotes it); exits 1 when an entry bundled from the sources is over its budget. `npm test` runs it
 * after the build, so CI checks both.
 */
import { build } from "esbuild";
import { existsSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const KB = 1024;
const { name: packageName, exports, sideEffects } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

/** The source file of each browser entry point of the package (tsup.config.ts's entries). */
const SOURCES = { ".": "src/index.ts", "./interop": "src/interop/index.ts", "./source": "src/source.ts", "./http": "src/http.ts", "./sets": "src/sets.ts", "./streams": "src/streams.ts" };

/** Resolves `ndpack` and `ndpack/<entry>` to its source file, or to the file the package exports to an ES module bundler, with the package's "sideEffects". */
const resolveEntries = (from) => ({
  name: "package-entries",
  setup(build) {
    build.onResolve({ filter: new RegExp(`^${packageName}(/|$)`) }, ({ path }) => {
      const entry = `.${path.slice(packageName.length)}`;
      const file = from === "sources" ? SOURCES[entry] : exports[entry]?.import?.default?.replace(/^\.\//, "");
      if (file === undefined) return { errors: [{ text: `${path} is not an entry of the package` }] };
      const absolute = fileURLToPath(new URL(`../${file}`, import.meta.url));
      if (!existsSync(absolute)) return { errors: [{ text: `${file} is missing: run npm run build first` }] };
      return { path: absolute, sideEffects: sideEffects !== false };
    });
  },
});

/** The bundle of `contents` minified, and its size gzipped. */
async function measure(contents, from) {
  const result = await build({ stdin: { contents, resolveDir: root, loader: "js" }, bundle: true, minify: true, platform: "browser", format: "esm", write: false, logLevel: "silent", plugins: [resolveEntries(from)] });
  const code = result.outputFiles[0].contents;
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

const budgets = [
  { name: 'import { decode } from "ndpack"', contents: 'export { decode } from "ndpack";', budget: 20 * KB },
  { name: 'import * from "ndpack" (the whole core)', contents: 'export * from "ndpack";', budget: 35 * KB },
  { name: 'core + "ndpack/interop"', contents: 'export * from "ndpack";\nexport * from "ndpack/interop";', budget: 50 * KB },
  // The lazy reader, HTTP, sets and streams are entry points of their own so that the core stays within its budget.
  // Their budgets are the project's, not issue 13's: each is what the entry measured when it was split off
  // (2026-12-06) plus about 1.5 KB, so that growth is noticed, not forbidden. Noticed, 2026-12-06 (stop 29):
  // http and sets +1 KB each, for ABORTED on a shard not yet opened, messages that show any value a caller
  // passes (errors.ts, `shown`), Retry-After, URLs with credentials refused, and header ranges read ahead a
  // batch at a time (a .npz of 4,000 members took 8,000 reads). Noticed (the cancellation audit): sets
  // +0.25 KB (50,100 B to 50,197 B), for reads of readMany and of a .npz's header that stop at the first
  // failure or abort (they went on reading the source after the call failed, and after it was closed),
  // and a set reader whose every close() resolves once its shards are closed. Noticed (the complexity
  // audit): sets +0.1 KB more (to 50,298 B, within it), for the header reads kept looked up by offset, a shard's length by name,
  // and HTTP's waiting reads as a queue (each was a walk of all of them: quadratic in members, shards or
  // reads waiting). Noticed (specification 1.2.0): sets +0.25 KB (50,426 B to 50,549 B), for shard names
  // that Windows forbids or keeps for a device (`CON.ndp`, `a?.ndp`), refused by §12.1 as paths are.
  // Noticed (2026-12-07, save of many small arrays): http +0.1 KB (43,998 B to 44,065 B), for the
  // core's writePlan writing a range of records into a piece of the file, as planSegments now does
  // for the short bytes between large payloads (save of 10,000 arrays of 256 B: 47 -> 20 ms), and the
  // strict JSON parser's one separator step for objects and arrays. Noticed (2026-12-07, the lazy reader's
  // read ahead): http and sets +0.2 KB (44,065 B to 44,292 B; 50,606 B to 50,844 B), for arrays under
  // 64 KiB read in order served from one read of 256 KiB by the reader itself, for every source (3,000
  // arrays of a remote file read one by one: 3,000 requests -> 2); it was the local file source's, whose
  // read ahead also took the second read of a shard's header and read 256 KiB past it unseen.
  { name: 'core + "ndpack/source"', contents: 'export * from "ndpack";\nexport * from "ndpack/source";', budget: 40 * KB },
  { name: 'core + "ndpack/http"', contents: 'export * from "ndpack";\nexport * from "ndpack/http";', budget: 43.3 * KB },
  { name: 'core + "ndpack/sets" (with HTTP)', contents: 'export * from "ndpack";\nexport * from "ndpack/sets";', budget: 49.7 * KB },
  { name: 'core + "ndpack/streams"', contents: 'export * from "ndpack";\nexport * from "ndpack/streams";', budget: 40 * KB },
];

let failed = false;
const kb = (n) => `${(n / KB).toFixed(1)} KB`;
console.log("| entry | minified | gzipped | from the built package (dist), gzipped | budget (gzipped) |\n| --- | ---: | ---: | ---: | ---: |");
for (const { name, contents, budget } of budgets) {
  const sources = await measure(contents, "sources");
  const dist = await measure(contents, "package");
  const over = sources.gzipped > budget;
  failed ||= over;
  const distOver = dist.gzipped > budget ? " (over)" : "";
  console.log(`| \`${name}\` | ${kb(sources.minified)} | ${kb(sources.gzipped)} (${sources.gzipped} B) | ${kb(dist.gzipped)} (${dist.gzipped} B)${distOver} | ${kb(budget)}${over ? " **OVER**" : ""} |`);
}
if (failed) {
  console.error("bundle-size: an entry is over its budget");
  process.exit(1);
}
