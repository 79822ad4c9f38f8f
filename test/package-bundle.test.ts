/**
 * What a user gets from the package: the tarball `npm pack` makes of the built clone (README,
 * "Quickstart"), installed into a fresh project (test/helpers/packed.ts), through every entry point
 * of its package.json, in Node (ES module and CommonJS), in a user's bundler for browsers and in
 * Chromium, and as the `ndpack` command; and what a user's bundler makes of it: a page that only
 * decodes gets no compressor. dist bundles pako's CommonJS modules, whose top-level
 * `__toESM(require_x())` calls a bundler had to keep (the decode-only bundle was 8 KB larger than
 * the sources' until tsup.config.ts marked them pure).
 */
import { build, type Metafile } from "esbuild";
import { spawnSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { isBuiltin } from "node:module";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { installPacked, type PackedInstall } from "./helpers/packed.js";
import { REPO } from "./helpers/python-env.js";
import { decode } from "../src/index.js";

/** Debian's Chromium, as in the viewer's tests (.ci/run installs it). */
const CHROMIUM = "/usr/bin/chromium";

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

/** Paths no package should ship: tests and their runners, Python build output, sources, the benchmark and its build. */
const NOT_SHIPPED = /(^|\/)(tests?|__pycache__|build|\.build|[^/]*\.egg-info)\/|(^|\/)(test_[^/]*\.py|conftest\.py|conformance\.py|[^/]*\.test\.[cm]?[jt]s)$|^(bench|src|test|scripts|fixtures|examples|docs)\//;

/**
 * Run by Node in the installed project: for each entry point (argv[2], a JSON list), its exports
 * under `import` and under `require`, the shared values that are not the core's own, and an error
 * it throws for bad input checked against the core's class and guard, in each module system; then
 * whether the core loads the page toucher from beside itself in each (encode of 3 x 64 MiB).
 */
const NODE_CHECK = `
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const FAILS = {
  "ndpack": (m) => m.decode(new Uint8Array(3)),
  "ndpack/node": (m) => m.open("does-not-exist.ndp"),
  "ndpack/interop": (m) => m.fromNpy(new Uint8Array(3)),
  "ndpack/streams": (m) => m.createMessageWriter(null),
  "ndpack/sets": (m) => m.parseSetIndex("{}"),
  "ndpack/http": (m) => m.openUrl("ftp://example.invalid/a.ndp"),
  "ndpack/source": (m) => m.openSource(m.bytesSource(new Uint8Array(3))),
};
async function thrown(f) { try { await f(); } catch (e) { return e; } return undefined; }
const core = { esm: await import("ndpack"), cjs: require("ndpack") };
const report = { entries: {} };
for (const entry of JSON.parse(process.argv[2])) {
  const loaded = { esm: await import(entry), cjs: require(entry) };
  report.entries[entry] = {};
  for (const kind of ["esm", "cjs"]) {
    const m = loaded[kind];
    const error = FAILS[entry] === undefined ? undefined : await thrown(() => FAILS[entry](m));
    report.entries[entry][kind] = {
      names: Object.keys(m).sort(),
      notTheCores: Object.keys(m).filter((name) => name in core[kind] && m[name] !== core[kind][name]),
      error: error === undefined ? "no error" : { code: error.code, instanceOfCore: error instanceof core[kind].NdpackError, guard: core[kind].isNdpackError(error), otherGuard: core[kind === "esm" ? "cjs" : "esm"].isNdpackError(error) },
    };
  }
}
for (const kind of ["esm", "cjs"]) for (let i = 0; i < 3; i++) core[kind].encode({ a: new Float32Array(16 << 20) });
report.loadedBeside = Object.keys(require.cache).filter((path) => path.includes("page-toucher"));
console.log(JSON.stringify(report));
`;

/** A page that uses every browser entry point: decodes the file at /f.ndp from memory, a byte source, HTTP and a stream, reads a set, and round-trips a .npy. */
const PAGE = `
import { decode, NdpackError, isNdpackError } from "ndpack";
import { openSource, bytesSource } from "ndpack/source";
import { openUrl } from "ndpack/http";
import { openSetUrl } from "ndpack/sets";
import { decodeStream } from "ndpack/streams";
import { fromNpy, toNpy } from "ndpack/interop";
window.run = async () => {
  const sum = (a) => Array.from(a).reduce((s, v) => s + v, 0);
  const url = new URL("/f.ndp", location.href).href;
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const x = decode(bytes).get("x", "float32");
  const reader = await openSource(bytesSource(bytes));
  const fromSource = await reader.read("x");
  const remote = await openUrl(url);
  const fromHttp = await remote.read("x");
  const stream = await decodeStream((await fetch(url)).body);
  const streamed = [];
  for await (const array of stream) streamed.push(array.name);
  const set = await openSetUrl(new URL("/set/model.ndp.index.json", location.href).href);
  const npy = fromNpy(toNpy({ data: new Int16Array([7, 8]), shape: [2] }));
  let error;
  try { fromNpy(new Uint8Array(3)); } catch (e) { error = [e.code, e instanceof NdpackError, isNdpackError(e)]; }
  return { shape: x.shape, sum: sum(x.data), source: sum(fromSource.data), http: sum(fromHttp.data), streamed, set: set.names, npy: Array.from(npy.data), error };
};
`;

/** Serves `dir` on 127.0.0.1 with Range requests and an ETag, as a static host does. */
async function serveStatic(dir: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    const file = join(dir, path === "/" ? "index.html" : decodeURIComponent(path));
    if (!existsSync(file)) return void response.writeHead(404).end();
    const body = readFileSync(file);
    const type = file.endsWith(".html") ? "text/html" : file.endsWith(".js") ? "text/javascript" : file.endsWith(".json") ? "application/json" : "application/octet-stream";
    const headers = { "content-type": type, etag: '"v1"', "accept-ranges": "bytes" };
    const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? "");
    if (range === null) return void response.writeHead(200, headers).end(body);
    const start = Number(range[1]);
    const end = Math.min(range[2] === "" ? body.length - 1 : Number(range[2]), body.length - 1);
    response.writeHead(206, { ...headers, "content-range": `bytes ${start}-${end}/${body.length}` }).end(body.subarray(start, end + 1));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe("the package packed with npm pack and installed from its tarball", () => {
  let pkg: PackedInstall;
  /** The package's entry points (`ndpack`, `ndpack/node`, ...), from its "exports". */
  let entries: string[];
  /** Those meant for browsers: all but ndpack/node. */
  let browserEntries: string[];

  beforeAll(() => {
    pkg = installPacked("consumer", { type: "module" });
    entries = Object.keys(pkg.manifest.exports).filter((key) => key !== "./package.json").map((key) => `ndpack${key.slice(1)}`);
    browserEntries = entries.filter((entry) => entry !== "ndpack/node");
  });
  afterAll(() => pkg?.remove());

  test("the tarball holds the documents and every file package.json names, and no tests, sources, build output of other tools or source maps without their sources", () => {
    expect(pkg.files.filter((file) => NOT_SHIPPED.test(file))).toEqual([]);
    for (const document of ["README.md", "FORMAT.md", "LICENSE", "dist/THIRD_PARTY_LICENSES.txt", "spec/header.schema.json"]) expect(pkg.files).toContain(document);
    const targets = (value: unknown): string[] => (typeof value === "string" ? [value] : Object.values(value as object).flatMap(targets));
    const named = [...targets(pkg.manifest.exports), ...Object.values(pkg.manifest.bin), ...targets(pkg.manifest.typesVersions)].map((file) => file.replace(/^\.\//, ""));
    expect(named.length).toBeGreaterThan(30);
    expect(named.filter((file) => !pkg.files.includes(file))).toEqual([]);
    // Debuggers show a map's sources from its sourcesContent: the sources themselves are not shipped.
    for (const file of pkg.files.filter((f) => f.endsWith(".map"))) {
      const map = JSON.parse(readFileSync(join(pkg.root, file), "utf8")) as { sources: string[]; sourcesContent?: (string | null)[] };
      expect(map.sources.filter((_, i) => typeof map.sourcesContent?.[i] !== "string"), file).toEqual([]);
    }
  });

  test("every file the built code loads from beside itself (the page toucher, the viewer's worker) is in the tarball beside it", () => {
    const beside = pkg.files.filter((file) => /\.c?js$/.test(file)).flatMap((file) => {
      const code = readFileSync(join(pkg.root, file), "utf8");
      const relative = [...code.matchAll(/requireBeside\("(\.[^"]+)"\)|new URL\("(\.[^"]+)",\s*import\.meta\.url\)/g)].map((m) => m[1] ?? m[2]!);
      return relative.map((path) => new URL(path, `file:///${file}`).pathname.slice(1));
    });
    expect(beside).toContain("dist/page-toucher.cjs");
    expect(beside).toContain("dist/cli/page-toucher.cjs");
    expect(beside).toContain("dist/viewer/stats-worker.js");
    expect(beside.filter((file) => !pkg.files.includes(file))).toEqual([]);
    // `ndpack view` serves dist/viewer/ (src/cli/view.ts), which `npm run build` makes after tsup.
    expect(pkg.files, "dist/viewer/ is missing: npm run build makes it (tsup alone empties dist/)").toContain("dist/viewer/index.html");
    // So `npm pack` builds all of it first, whatever state dist/ was left in (README, "Quickstart").
    expect(pkg.manifest.scripts?.prepack).toBe("npm run build");
  });

  test("in Node, import and require of each entry point give the same names and the core's own values; an error from any entry point is an instance of the core's NdpackError; the page toucher loads from beside the core", () => {
    writeFileSync(pkg.path("check.mjs"), NODE_CHECK);
    const run = spawnSync(process.execPath, ["check.mjs", JSON.stringify(entries)], { cwd: pkg.dir, encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout) as { entries: Record<string, Record<"esm" | "cjs", { names: string[]; notTheCores: string[]; error: unknown }>>; loadedBeside: string[] };
    expect(Object.keys(report.entries)).toEqual(entries);
    for (const [entry, { esm, cjs }] of Object.entries(report.entries)) {
      expect(esm.names.length, entry).toBeGreaterThan(0);
      expect(cjs.names, entry).toEqual(esm.names);
      expect([esm.notTheCores, cjs.notTheCores], entry).toEqual([[], []]);
      for (const { error } of [esm, cjs]) expect(error, entry).toEqual({ code: expect.any(String), instanceOfCore: true, guard: true, otherGuard: true });
    }
    expect(report.entries["ndpack/node"]!.esm.names).toEqual(expect.arrayContaining(report.entries.ndpack!.esm.names));
    expect(report.loadedBeside).toEqual([join(pkg.root, "dist/page-toucher.cjs")]);
  });

  test("each browser entry point, bundled from the installed package by esbuild for the browser, pulls in no Node module", async () => {
    for (const entry of browserEntries) {
      const result = await build({ stdin: { contents: `export * from "${entry}";`, resolveDir: pkg.dir, loader: "js" }, absWorkingDir: pkg.dir, bundle: true, platform: "browser", format: "esm", write: false, metafile: true, logLevel: "silent" });
      const metafile: Metafile = result.metafile;
      const imported = [...Object.keys(metafile.inputs), ...Object.values(metafile.outputs).flatMap((output) => output.imports.map((i) => i.path))];
      expect(imported.filter((path) => path.startsWith("node:") || isBuiltin(path)), entry).toEqual([]);
      expect(Object.keys(metafile.inputs).every((path) => path.startsWith("node_modules/ndpack/dist/") || path === "<stdin>"), entry).toBe(true);
      expect(result.outputFiles[0]!.text, entry).not.toMatch(/from\s*"node:|require\("node:|import\("node:/);
    }
  });

  test("in Chromium, a page bundled from the installed package decodes a file through every browser entry point", async () => {
    const site = pkg.path("site");
    await build({ stdin: { contents: PAGE, resolveDir: pkg.dir, loader: "js" }, bundle: true, platform: "browser", format: "esm", outfile: join(site, "page.js"), logLevel: "silent" });
    writeFileSync(join(site, "index.html"), '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>');
    copyFileSync(join(REPO, "fixtures/valid/codec-deflate-float32.ndp"), join(site, "f.ndp"));
    cpSync(join(REPO, "fixtures/sets/valid/ndpack-two-shards"), join(site, "set"), { recursive: true });
    const { server, origin } = await serveStatic(site);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(String(error)));
      await page.goto(`${origin}/`);
      await page.waitForFunction(() => typeof (window as { run?: unknown }).run === "function");
      const result = await page.evaluate(() => (window as unknown as { run: () => Promise<unknown> }).run());
      const x = decode(readFileSync(join(site, "f.ndp"))).get("x", "float32");
      const sum = x.data.reduce((s, v) => s + v, 0);
      expect(result).toEqual({ shape: [32, 32], sum, source: sum, http: sum, streamed: ["x"], set: ["embed.weight", "layers.0.weight", "layers.0.bias"], npy: [7, 8], error: ["BAD_MAGIC", true, true] });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      server.close();
    }
  }, 120_000);

  test("the ndpack command installed from the tarball prints its help and inspects a file", () => {
    const bin = pkg.path("node_modules/.bin/ndpack");
    const help = spawnSync(bin, ["--help"], { cwd: pkg.dir, encoding: "utf8" });
    expect([help.status, help.stderr]).toEqual([0, ""]);
    expect(help.stdout).toMatch(/^Usage: ndpack /);
    const inspect = spawnSync(bin, ["inspect", join(REPO, "fixtures/valid/codec-deflate-float32.ndp")], { cwd: pkg.dir, encoding: "utf8" });
    expect([inspect.status, inspect.stderr]).toEqual([0, ""]);
    expect(inspect.stdout).toMatch(/^x +float32 +\[32, 32\] .* deflate +crc32$/m);
  });
});
