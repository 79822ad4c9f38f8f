import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, sep } from "node:path";
import { defineConfig } from "tsup";

const external = ["node:*", "commander"];

/**
 * pako (the browsers' DEFLATE engine) is bundled into dist rather than imported from node_modules:
 * Node loads an ES module's CommonJS imports through its CommonJS loader and cjs-module-lexer,
 * which took about 30 ms of the 45 ms CPU that `import "ndpack"` cost (bench/README.md, "import");
 * bundled, pako's zlib port is plain functions in one chunk, and a development dependency.
 */
const noExternal = [/^pako(\/|$)/];

/** The licences of the code bundled into dist (pako: MIT, and zlib's licence for its port of zlib). */
function writeThirdPartyLicenses(dir: string): void {
  const pako = readFileSync("node_modules/pako/LICENSE", "utf8");
  const zlibNotice = readFileSync("node_modules/pako/lib/zlib/inflate.js", "utf8").match(/^\/\/ \(C\) 1995[\s\S]*?source distribution\.$/m)![0].replace(/^\/\/ ?/gm, "");
  writeFileSync(join(dir, "THIRD_PARTY_LICENSES.txt"), `dist/ bundles pako (https://github.com/nodeca/pako), licensed MIT AND Zlib:\n\n${pako}\n${zlibNotice}\n`);
}

/**
 * The page toucher (src/page-toucher.cjs), a Node-only file the core loads from beside its own
 * code at run time (src/runtime.ts), so that browser bundles do not carry it: copied next to the
 * chunks of `dir`.
 */
function copyPageToucher(dir: string): void {
  copyFileSync("src/page-toucher.cjs", join(dir, "page-toucher.cjs"));
}

/**
 * Deletes the chunks esbuild emits for modules that end up with no code (src/index.ts, shared by
 * the root and ndpack/node entries, holds only re-exports), and the imports of them: the package
 * should not ship files that do nothing.
 */
function dropEmptyChunks(dir: string): void {
  const files = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => /\.(c?js)$/.test(f));
  const empty = files.filter((f) => /(^|\/)chunk-[\w-]+\.c?js$/.test(f) && readFileSync(join(dir, f), "utf8").replace(/\/\/# sourceMappingURL=.*|["']use strict["'];?/g, "").trim() === "");
  if (empty.length === 0) return;
  const names = empty.map((f) => f.slice(f.lastIndexOf("/") + 1));
  const importOfEmpty = new RegExp(`^(?:import ['"][./]*(?:${names.join("|").replace(/\./g, "\\.")})['"];|require\\(['"][./]*(?:${names.join("|").replace(/\./g, "\\.")})['"]\\);)\\n`, "gm");
  for (const f of files) {
    if (empty.includes(f)) continue;
    const path = join(dir, f);
    const text = readFileSync(path, "utf8");
    const kept = text.replace(importOfEmpty, "");
    if (kept !== text) writeFileSync(path, kept);
  }
  for (const f of empty) for (const file of [f, `${f}.map`]) rmSync(join(dir, file), { force: true });
}

/**
 * Marks the CommonJS modules bundled into dist (pako's zlib port) as free of side effects until
 * used. esbuild wraps each in `require_x = __commonJS({...})` and imports it with a top-level
 * `import_x = __toESM(require_x())`, a call that a user's bundler must keep, and with it all of
 * pako, even in a page that only decodes (the compressor and the decoder share a chunk). Annotated
 * `@__PURE__`, both are dropped with the last code that uses them, as they are when bundling the
 * sources (`npm run size` measures dist, what users bundle).
 */
function markBundledCommonJsPure(dir: string): void {
  // Not dist/cli: the other build writes it at the same time.
  for (const f of readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => /\.js$/.test(f) && !f.startsWith(`cli${sep}`))) {
    const path = join(dir, f);
    const text = readFileSync(path, "utf8");
    const marked = text
      .replace(/(?<!@__PURE__ \*\/ )\b__commonJS\(\{/g, "/* @__PURE__ */ __commonJS({")
      .replace(/(?<!@__PURE__ \*\/ )\b__toESM\((require_\w+\(\))\)/g, "/* @__PURE__ */ __toESM(/* @__PURE__ */ $1)");
    if (marked !== text) writeFileSync(path, marked);
  }
}

/** Where the library is built: `dist`, or the directory given with `--out-dir` (the benchmark builds into bench/.build). */
function outDirOf(argv: readonly string[]): string {
  const at = argv.indexOf("--out-dir");
  return at >= 0 && argv[at + 1] !== undefined ? argv[at + 1]! : "dist";
}

export default defineConfig([
  // The library: ESM and CommonJS, with declarations for both.
  {
    entry: {
      index: "src/index.ts",
      "node/index": "src/node/index.ts",
      "interop/index": "src/interop/index.ts",
      "streams/index": "src/streams.ts",
      "sets/index": "src/sets.ts",
      "http/index": "src/http.ts",
      "source/index": "src/source.ts",
    },
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    // dist/cli is the other build's: the two run at the same time.
    clean: ["!cli/**"],
    target: "node20",
    platform: "neutral",
    splitting: true,
    treeshake: true,
    minifySyntax: true,
    external,
    noExternal,
    onSuccess: async () => {
      const outDir = outDirOf(process.argv);
      dropEmptyChunks(outDir);
      markBundledCommonJsPure(outDir);
      writeThirdPartyLicenses(outDir);
      copyPageToucher(outDir);
    },
  },
  // The `ndpack` command: one ESM file for the bin, no declarations (it exports nothing).
  {
    entry: { main: "src/cli/main.ts" },
    outDir: "dist/cli",
    format: ["esm"],
    dts: false,
    sourcemap: true,
    clean: true,
    target: "node20",
    platform: "node",
    splitting: false,
    treeshake: true,
    external,
    noExternal,
    // With --out-dir (the benchmark's build) the command line's bundle lands at the top of that directory.
    onSuccess: async () => copyPageToucher(process.argv.includes("--out-dir") ? outDirOf(process.argv) : "dist/cli"),
  },
]);
