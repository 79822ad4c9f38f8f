/**
 * What a user's bundler makes of the built package (dist/, as `npm test` builds it before vitest):
 * a page that only decodes gets no compressor. dist bundles pako's CommonJS modules, whose top-level
 * `__toESM(require_x())` calls a bundler had to keep (the decode-only bundle was 8 KB larger than
 * the sources' until tsup.config.ts marked them pure).
 */
import { build } from "esbuild";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { REPO } from "./helpers/python-env.js";

/** The minified browser bundle of `contents`, with `ndpack` resolved to dist/index.js. */
async function bundle(contents: string): Promise<string> {
  const entry = join(REPO, "dist/index.js");
  if (!existsSync(entry)) throw new Error("dist/ is missing: this test bundles the built package (npm run build)");
  const result = await build({
    stdin: { contents, resolveDir: REPO, loader: "js" },
    bundle: true,
    minify: true,
    platform: "browser",
    format: "esm",
    write: false,
    logLevel: "silent",
    plugins: [{ name: "ndpack", setup: (b) => b.onResolve({ filter: /^ndpack$/ }, () => ({ path: entry, sideEffects: false })) }],
  });
  return result.outputFiles[0]!.text;
}

// pako's deflate state has fields no inflater has (`pending_buf`, `good_match`): property names a
// minifier keeps.
const COMPRESSOR = /pending_buf|good_match/;

test("a decode-only bundle of the built package holds the inflater but no compressor; encode's holds both", async () => {
  const decodeOnly = await bundle('export { decode } from "ndpack";');
  expect(decodeOnly).toMatch(/inflate|wbits/);
  expect(decodeOnly).not.toMatch(COMPRESSOR);
  expect(decodeOnly).not.toMatch(/from\s*"node:|require\("node:/);
  const withEncode = await bundle('export { decode, encode } from "ndpack";');
  expect(withEncode).toMatch(COMPRESSOR);
});
