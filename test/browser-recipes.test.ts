/**
 * The README's recipes for browsers, run as it writes them (adapted only where a page needs it) in
 * Debian's Chromium, in pages bundled by esbuild from the built package (dist/, through the entry
 * points a bundler resolves): remote files and sets on a real nginx of another origin (so every
 * request is a CORS request, as from a CDN), checkpoints read as they download, arrays POSTed to a
 * node:http server that decodes them with the Node library, a Worker sharing a SharedArrayBuffer,
 * a file picked in an `<input type=file>`, the interop writers (read back by numpy and
 * safetensors), and a read cancelled mid-transfer. One browser for the file; fails, never skips,
 * without Chromium, nginx or dist/.
 */
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bytesSent, startNginx, type LogEntry, type Nginx } from "./helpers/nginx.js";
import { REPO } from "./helpers/python-env.js";
import { decode, encode } from "../src/index.js";
import { fromSafetensors, toNpz, toSafetensors } from "../src/interop/index.js";
import { decodeStream } from "../src/streams.js";

const CHROMIUM = "/usr/bin/chromium";
const README = readFileSync(join(REPO, "README.md"), "utf8");

/** The value the README gives for response header `name` (written \`Name: value\`), or "" when it gives none. */
function readmeHeader(name: string): string {
  return new RegExp(`\`${name}: ([^\`]+)\``).exec(README)?.[1] ?? "";
}

/** The page: each recipe of the README as a function of the URLs it reads. */
const PAGE = `
import { decode, encode, encodedSize, encodeInto, isNdpackError } from "ndpack";
import { openSource, blobSource } from "ndpack/source";
import { openUrl } from "ndpack/http";
import { openSetUrl } from "ndpack/sets";
import { decodeStream, encodeStream } from "ndpack/streams";
import { FORMATS, toNpz, toSafetensors } from "ndpack/interop";

const failure = (e) => isNdpackError(e) ? { code: e.code, message: e.message, status: e.status, field: e.field } : { name: e && e.name, message: String(e && e.message || e) };
const outcome = async (work) => { try { return { ok: await work() }; } catch (e) { return { error: failure(e) }; } };
const sha256 = async (bytes) => Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
const summary = (a) => ({ dtype: a.dtype, shape: a.shape, values: Array.from(a.data.subarray(0, 4), Number) });

window.recipes = {
  // "Read one tensor of a remote .safetensors or .ndp file"
  remoteSafetensors: (url, name) => outcome(async () => {
    const model = await openUrl(url, { formats: FORMATS });
    const tensor = await model.read(name);
    const result = { tensor: summary(tensor), names: model.names.length, bytesRead: model.bytesRead, byteLength: model.byteLength, readCount: model.readCount };
    await model.close();
    return result;
  }),
  remoteNdpack: (url, token) => outcome(async () => {
    const headers = token ? { authorization: "Bearer " + token } : {};
    const file = await openUrl(url, { headers, retries: 3, timeout: 30000 });
    const frame = await file.readRows("frames", 10, 11);
    const { timestamps, labels } = Object.fromEntries(await file.readMany(["timestamps", "labels"]));
    const result = { frame: summary(frame), timestamp: timestamps.data[30], label: labels.data[3], bytesRead: file.bytesRead, byteLength: file.byteLength, readCount: file.readCount };
    await file.close();
    return result;
  }),
  // "Read a checkpoint as it downloads"
  stream: (url, withFormats) => outcome(async () => {
    const response = await fetch(url);
    const tensors = decodeStream(response.body, withFormats ? { formats: FORMATS } : {});
    const { format, names } = await tensors.header();
    const arrays = {};
    for await (const tensor of tensors) arrays[tensor.name] = summary(tensor);
    return { format, names, arrays, bytesRead: tensors.bytesRead };
  }),
  // "Sharded sets"
  set: (url, name) => outcome(async () => {
    const set = await openSetUrl(url);
    const array = await set.read(name);
    const report = await set.verify();
    const result = { names: set.names, array: summary(array), ok: report.ok };
    await set.close();
    return result;
  }),
  // "POST several arrays with fetch"
  post: (url, streamed) => outcome(async () => {
    const arrays = { x: new Float32Array([1, 2, 3]), y: { data: new Float64Array([0.5, 0.25, 1, 1]), shape: [2, 2] } };
    const response = await fetch(url, streamed
      ? { method: "POST", headers: { "content-type": "application/x-ndpack" }, body: encodeStream(arrays), duplex: "half" }
      : { method: "POST", headers: { "content-type": "application/x-ndpack" }, body: encode(arrays) });
    return await response.json();
  }),
  // "Share arrays with a Worker through a SharedArrayBuffer"
  sharedWorker: () => outcome(async () => {
    const arrays = { pixels: { data: new Uint8Array(64 * 64).fill(7), shape: [64, 64] }, done: new Int32Array(1) };
    const shared = new SharedArrayBuffer(encodedSize(arrays));
    encodeInto(new Uint8Array(shared), arrays);
    const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    const finished = new Promise((resolve, reject) => { worker.onmessage = resolve; worker.onerror = (e) => reject(new Error(e.message)); });
    worker.postMessage(shared);
    await finished;
    worker.terminate();
    const file = decode(shared, { copy: "never" });
    return { pixel: file.get("pixels").data[0], done: Atomics.load(file.get("done").data, 0), copied: file.get("pixels").copied };
  }),
  isolation: () => ({ crossOriginIsolated: self.crossOriginIsolated, sharedArrayBuffer: typeof SharedArrayBuffer }),
  // "In memory", "Hand arrays to onnxruntime-web...", "Compress": the bytes Node's encode writes
  inMemory: () => outcome(async () => {
    const bytes = encode({ weights: { data: new Float32Array(6), shape: [2, 3] }, labels: new Int32Array([1, 2]) });
    const { data, shape } = decode(bytes).get("weights");
    const input = decode(encode({ input: { data: new Float32Array(1 * 3 * 4 * 4).fill(0.5), shape: [1, 3, 4, 4] } })).get("input");
    const smooth = Float32Array.from({ length: 1 << 18 }, (_, i) => Math.sin(i / 1000));
    const shuffled = encode({ smooth }, { codec: "shuffle+deflate", compressionLevel: 9 });
    const deflated = encode({ smooth }, { codec: "deflate" });
    const back = decode(shuffled).get("smooth");
    return { bytes: Array.from(bytes), weights: [data.constructor.name, shape], input: [input.data.constructor.name, input.shape, input.dtype, input.copied],
      deflated: await sha256(deflated), shuffled: await sha256(shuffled), back: [back.copied, back.data.every((v, i) => v === smooth[i])] };
  }),
  // blobSource of a File picked in the page's <input type=file>
  picked: (name) => outcome(async () => {
    const file = document.querySelector("input[type=file]").files[0];
    const slices = [];
    const slice = file.slice.bind(file);
    file.slice = (start, end) => { slices.push([start, end]); return slice(start, end); };
    const reader = await openSource(blobSource(file), { name: file.name, formats: FORMATS });
    const array = await reader.read(name);
    return { size: file.size, array: summary(array), slices, bytesRead: reader.bytesRead };
  }),
  // toNpz / toSafetensors in the page, for numpy and safetensors to read
  writers: () => outcome(() => {
    const arrays = { w: { data: Float32Array.from([1.5, -2, 3.25, 4, 5, 6]), shape: [2, 3] }, ids: new BigInt64Array([1n, -2n, 9007199254740993n]), h: { data: new Uint16Array([0x3c00, 0xc000]), dtype: "float16" } };
    return { npz: Array.from(toNpz(arrays, { compress: true })), safetensors: Array.from(toSafetensors(arrays, { metadata: { format: "pt" } })) };
  }),
  // A read cancelled while its bytes arrive
  abort: (url, name, afterMs) => outcome(async () => {
    const file = await openUrl(url);
    const controller = new AbortController();
    const read = file.read(name, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("user left")), afterMs);
    const result = await read.then(() => "read whole", failure);
    return { result, bytesRead: file.bytesRead };
  }),
};
`;

const WORKER = `
import { decode } from "ndpack";
self.onmessage = ({ data: shared }) => {
  const file = decode(shared, { copy: "never" });
  const pixels = file.get("pixels").data;
  for (let i = 0; i < pixels.length; i++) pixels[i] += 1;
  Atomics.store(file.get("done").data, 0, 1);
  self.postMessage("done");
};
`;

/** `contents` bundled for the browser, with `ndpack` and `ndpack/X` resolved to dist/ as a bundler resolves the installed package's exports. */
async function bundle(contents: string, outfile: string): Promise<void> {
  if (!existsSync(join(REPO, "dist/index.js"))) throw new Error("dist/ is missing: this test bundles the built package (npm run build)");
  await build({
    stdin: { contents, resolveDir: REPO, loader: "js" },
    bundle: true,
    platform: "browser",
    format: "esm",
    outfile,
    logLevel: "silent",
    plugins: [{ name: "ndpack", setup: (b) => b.onResolve({ filter: /^ndpack(\/[a-z]+)?$/ }, ({ path }) => ({ path: join(REPO, "dist", path.slice("ndpack".length), "index.js") })) }],
  });
}

const TYPES: Record<string, string> = { html: "text/html", js: "text/javascript" };

/**
 * The page's origin: the page and its worker (under /isolated/ with the COOP and COEP headers the
 * README names, which make the page cross-origin isolated; under /isolated-page/ with them on the
 * page and its module, not on the worker's script), and POST /arrays decoding the body with the Node library as the
 * README's server does.
 */
async function servePage(dir: string): Promise<{ server: Server; origin: string }> {
  const server = createServer(async (request, response) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    if (request.method === "POST") {
      try {
        const sums: Record<string, number> = {};
        for await (const array of decodeStream(request)) sums[array.name] = (array.data as Float64Array).reduce((a, b) => a + b, 0);
        return void response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(sums));
      } catch (error) {
        return void response.writeHead(400).end(String((error as { code?: string }).code));
      }
    }
    const served = /^\/(isolated|isolated-page)\//.exec(path)?.[1];
    const file = join(dir, path.replace(/^\/(isolated|isolated-page)\//, "/").replace(/\/$/, "/index.html"));
    const isolated = served === "isolated" || (served === "isolated-page" && !file.endsWith("worker.js"));
    if (!existsSync(file)) return void response.writeHead(404).end();
    const headers: Record<string, string> = { "content-type": TYPES[file.split(".").pop()!] ?? "application/octet-stream" };
    if (isolated) for (const name of ["Cross-Origin-Opener-Policy", "Cross-Origin-Embedder-Policy"]) if (readmeHeader(name) !== "") headers[name] = readmeHeader(name);
    response.writeHead(200, headers).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

let dir: string;
let browser: Browser;
let page: Page;
let nginx: Nginx;
let site: { server: Server; origin: string };
const pageErrors: string[] = [];

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Runs recipe `name` of the page with `args`. */
function recipe<T = unknown>(name: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(([name, args]) => (window as unknown as { recipes: Record<string, (...a: unknown[]) => Promise<unknown>> }).recipes[name as string]!(...(args as unknown[])), [name, args] as const) as Promise<T>;
}

/** The URL of file `name` on nginx under `location` (another origin than the page's). */
const remote = (location: string, name: string) => `${nginx.origin}/${location}/${name}`;

const FRAMES = 64;
const frames = Float32Array.from({ length: FRAMES * 64 * 64 }, (_, i) => Math.floor(i / 4096));
const timestamps = Float64Array.from({ length: FRAMES }, (_, i) => i / 30);
const labels = Int32Array.from({ length: FRAMES }, (_, i) => i * 3);
const layers = { "h.0.ln_1.weight": { data: Float32Array.from({ length: 768 }, (_, i) => i / 2), shape: [768] }, "h.0.attn.weight": { data: new Float32Array(768 * 96).fill(0.25), shape: [768, 96] } };

/** The set-up; each test awaits it first, so that a missing Chromium, nginx or dist/ fails every test with its message. */
let started: Promise<void>;

beforeAll(async () => {
  started = start();
  await started.catch(() => undefined);
}, 120_000);

async function start(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (.ci/run does)`);
  dir = mkdtempSync(join(tmpdir(), "ndpack-browser-recipes-"));
  const pageDir = join(dir, "page");
  const files = join(dir, "files");
  mkdirSync(files, { recursive: true });
  await bundle(PAGE, join(pageDir, "page.js"));
  await bundle(WORKER, join(pageDir, "worker.js"));
  writeFileSync(join(pageDir, "index.html"), '<!doctype html><meta charset="utf-8"><input type="file"><script type="module" src="./page.js"></script>');
  writeFileSync(join(files, "frames.ndp"), encode({ frames: { data: frames, shape: [FRAMES, 64, 64] }, timestamps, labels }));
  writeFileSync(join(files, "model.safetensors"), toSafetensors(layers));
  writeFileSync(join(files, "model.npz"), toNpz(layers));
  writeFileSync(join(files, "big.ndp"), encode({ big: new Float32Array(4 << 20) }));
  cpSync(join(REPO, "fixtures/sets/valid/ndpack-two-shards"), join(files, "set"), { recursive: true });
  cpSync(join(REPO, "fixtures/sets/valid/hf-safetensors"), join(files, "hf"), { recursive: true });
  // The /cors/ location sends the headers the README asks a cross-origin server for, no more (with
  // Authorization, which it asks for "when you send one", as the .ndp recipe does).
  nginx = await startNginx(files, { cors: { allowHeaders: `${readmeHeader("Access-Control-Allow-Headers")}, Authorization`, exposeHeaders: readmeHeader("Access-Control-Expose-Headers") } });
  site = await servePage(pageDir);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  page = await openRecipes(`${site.origin}/`);
}

afterAll(async () => {
  await browser?.close();
  site?.server.close();
  await nginx?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function openRecipes(url: string): Promise<Page> {
  const opened = await browser.newPage();
  opened.setDefaultTimeout(60_000);
  opened.on("pageerror", (error) => pageErrors.push(String(error)));
  await opened.goto(url);
  await opened.waitForFunction(() => typeof (window as { recipes?: unknown }).recipes === "object");
  return opened;
}


/** The requests of `entries` that carried bytes (not a preflight). */
const gets = (entries: readonly LogEntry[]) => entries.filter((entry) => entry.method === "GET");

describe("the README's browser recipes, in Chromium, from the built package", () => {
  test("openUrl of a .ndp and a .safetensors on a server of another origin, with the CORS headers the README names: each read one Range request of exactly its bytes", async () => {
    await started;
    const { result, entries } = await nginx.requests(() => recipe("remoteNdpack", remote("cors", "frames.ndp"), "token-1"));
    expect(result).toEqual({ ok: { frame: { dtype: "float32", shape: [1, 64, 64], values: [10, 10, 10, 10] }, timestamp: 1, label: 9, bytesRead: expect.any(Number), byteLength: readFileSync(join(nginx.root, "frames.ndp")).length, readCount: 3 } });
    const sent = gets(entries);
    expect(sent.map((entry) => entry.status)).toEqual([expect.any(Number), 206, 206]);
    // The first answer may come from Chromium's cache (304 to its own revalidation); each read is one request, conditional, with the token.
    expect(bytesSent(sent.slice(1))).toBe((result as { ok: { bytesRead: number } }).ok.bytesRead - 65536);
    expect(sent.slice(1).map((entry) => [entry.ifMatch !== "", entry.authorization])).toEqual([[true, "Bearer token-1"], [true, "Bearer token-1"]]);
    // Requests with an Authorization or an If-Match header are preflighted: the server must answer OPTIONS.
    expect(entries.filter((entry) => entry.method === "OPTIONS").map((entry) => entry.status)).toEqual([204, 204, 204]);

    const model = await nginx.requests(() => recipe("remoteSafetensors", remote("cors", "model.safetensors"), "h.0.attn.weight"));
    expect(model.result).toEqual({ ok: { tensor: { dtype: "float32", shape: [768, 96], values: [0.25, 0.25, 0.25, 0.25] }, names: 2, bytesRead: expect.any(Number), byteLength: readFileSync(join(nginx.root, "model.safetensors")).length, readCount: 2 } });
    expect(gets(model.entries).map((entry) => entry.status)).toEqual([206, 206]);
    // The tensor is the file's last bytes, partly among the first 64 KiB kept: the wire carries each byte once.
    expect(gets(model.entries).map((entry) => entry.range)).toEqual(["bytes=0-65535", `bytes=65536-${readFileSync(join(nginx.root, "model.safetensors")).length - 1}`]);
    expect(bytesSent(gets(model.entries))).toBe(readFileSync(join(nginx.root, "model.safetensors")).length);
    // The same recipe reads a .npz (its directory at its end: more requests for the header).
    const npz = await recipe("remoteSafetensors", remote("cors", "model.npz"), "h.0.attn.weight");
    expect(npz).toMatchObject({ ok: { tensor: { dtype: "float32", shape: [768, 96], values: [0.25, 0.25, 0.25, 0.25] }, names: 2 } });
  }, 60_000);

  test("a cross-origin server without those headers fails with a typed error naming what it lacks: HTTP_ERROR on Content-Range unexposed, IO_ERROR naming the headers to allow on If-Match refused or on no CORS at all", async () => {
    await started;
    for (const location of ["cors-bare", "cors-unexposed"]) {
      const { result } = await nginx.requests(() => recipe("remoteNdpack", remote(location, "frames.ndp")));
      expect(result, location).toEqual({ error: { code: "HTTP_ERROR", status: 206, field: "Content-Range", message: expect.stringContaining("Access-Control-Expose-Headers") } });
    }
    const { result, entries } = await nginx.requests(() => recipe("remoteNdpack", remote("cors-range-only", "frames.ndp")));
    expect(result).toEqual({ error: { code: "IO_ERROR", message: expect.stringContaining("Failed to fetch") } });
    const { message } = (result as { error: { message: string } }).error;
    expect(message).toContain("Failed to fetch; or a cross-origin server not allowing this origin (Access-Control-Allow-Origin) or if-match,range (Access-Control-Allow-Headers)");
    // The first request went through; each later one stopped at its preflight (retried as a network failure is).
    expect(gets(entries).length).toBe(1);
    expect(entries.filter((entry) => entry.method === "OPTIONS").length).toBe(4);
    // A server with no CORS headers at all refuses the page at the first request.
    expect(await recipe("remoteNdpack", remote("files", "frames.ndp"))).toEqual({ error: { code: "IO_ERROR", message: expect.stringContaining("Failed to fetch; or a cross-origin server not allowing this origin (Access-Control-Allow-Origin) or range (Access-Control-Allow-Headers)") } });
  }, 60_000);

  test("decodeStream of a fetch body: a .ndp without formats, a .safetensors and a .npz with FORMATS; a .safetensors without them is BAD_MAGIC", async () => {
    await started;
    const size = (name: string) => readFileSync(join(nginx.root, name)).length;
    const ndp = await nginx.requests(() => recipe("stream", remote("cors", "frames.ndp"), false));
    expect(ndp.result).toEqual({ ok: { format: "ndpack", names: ["frames", "timestamps", "labels"], arrays: { frames: { dtype: "float32", shape: [FRAMES, 64, 64], values: [0, 0, 0, 0] }, timestamps: { dtype: "float64", shape: [FRAMES], values: [0, 1 / 30, 2 / 30, 3 / 30] }, labels: { dtype: "int32", shape: [FRAMES], values: [0, 3, 6, 9] } }, bytesRead: size("frames.ndp") } });
    const layersRead = { "h.0.ln_1.weight": { dtype: "float32", shape: [768], values: [0, 0.5, 1, 1.5] }, "h.0.attn.weight": { dtype: "float32", shape: [768, 96], values: [0.25, 0.25, 0.25, 0.25] } };
    for (const [name, format] of [["model.safetensors", "safetensors"], ["model.npz", "npz"]] as const) {
      const { result } = await nginx.requests(() => recipe("stream", remote("cors", name), true));
      expect(result, name).toEqual({ ok: { format, names: Object.keys(layersRead), arrays: layersRead, bytesRead: size(name) } });
    }
    expect(await recipe("stream", remote("cors", "model.safetensors"), false)).toEqual({ error: { code: "BAD_MAGIC", message: expect.stringContaining("looks like a .safetensors file") } });
  }, 60_000);

  test("openSetUrl of a set of .ndp shards and of a Hugging Face set of .safetensors shards on nginx reads the index, then the shards it needs, and verifies them", async () => {
    await started;
    const { result, entries } = await nginx.requests(() => recipe("set", remote("cors", "set/model.ndp.index.json"), "layers.0.bias"));
    const shard = readdirSync(join(nginx.root, "set")).map((name) => join(nginx.root, "set", name)).find((path) => path.endsWith(".ndp") && decode(readFileSync(path)).has("layers.0.bias"))!;
    const bias = decode(readFileSync(shard)).get("layers.0.bias");
    expect(result).toEqual({ ok: { names: ["embed.weight", "layers.0.weight", "layers.0.bias"], array: { dtype: bias.dtype, shape: bias.shape, values: Array.from(bias.data.subarray(0, 4) as Float32Array) }, ok: true } });
    expect(gets(entries).map((entry) => entry.uri).sort()).toEqual(["/cors/set/model.ndp.index.json", ...readdirSync(join(nginx.root, "set")).filter((name) => name.endsWith(".ndp")).map((name) => `/cors/set/${name}`)].sort());

    // A Hugging Face set of .safetensors shards: `verify` reads every shard, `read` only its own.
    const index = JSON.parse(readFileSync(join(nginx.root, "hf/model.safetensors.index.json"), "utf8")) as { weight_map: Record<string, string> };
    const norm = fromSafetensors(readFileSync(join(nginx.root, "hf", index.weight_map["model.norm.weight"]!))).arrays.get("model.norm.weight")!;
    const hf = await recipe("set", remote("cors", "hf/model.safetensors.index.json"), "model.norm.weight");
    expect(hf).toEqual({ ok: { names: expect.arrayContaining(Object.keys(index.weight_map)), array: { dtype: norm.dtype, shape: norm.shape, values: Array.from(norm.data.subarray(0, 4) as Float32Array, Number) }, ok: true } });
  }, 60_000);

  test("POST of encode(arrays) to a node:http server that decodes with the Node library; a streamed body fails over HTTP/1.1, as the README says", async () => {
    await started;
    expect(await recipe("post", `${site.origin}/arrays`, false)).toEqual({ ok: { x: 6, y: 2.75 } });
    expect(await recipe("post", `${site.origin}/arrays`, true)).toEqual({ error: { name: "TypeError", message: "Failed to fetch" } });
    expect(README).toMatch(/In a browser, send a body of known length, `body: encode\(arrays\)`: Chromium's `fetch` sends a\s+streamed body[^.]*HTTP\/2 servers only/);
  }, 60_000);

  test("a Worker shares arrays through a SharedArrayBuffer in a page served with the headers the README names; elsewhere SharedArrayBuffer is not defined", async () => {
    await started;
    expect(await recipe("isolation")).toEqual({ crossOriginIsolated: false, sharedArrayBuffer: "undefined" });
    expect(await recipe("sharedWorker")).toEqual({ error: { name: "ReferenceError", message: "SharedArrayBuffer is not defined" } });
    const isolated = await openRecipes(`${site.origin}/isolated/`);
    try {
      const shared = await isolated.evaluate(async () => {
        const { recipes } = window as unknown as { recipes: Record<string, () => unknown> };
        return { isolation: await recipes.isolation!(), worker: await recipes.sharedWorker!() };
      });
      expect(shared).toEqual({ isolation: { crossOriginIsolated: true, sharedArrayBuffer: "function" }, worker: { ok: { pixel: 8, done: 1, copied: false } } });
      // An isolated page still reads files of other origins (CORS requests).
      const remoteRead = await isolated.evaluate((url) => (window as unknown as { recipes: Record<string, (url: string) => Promise<unknown>> }).recipes.remoteNdpack!(url), remote("cors", "frames.ndp"));
      expect(remoteRead).toMatchObject({ ok: { timestamp: 1, label: 9 } });
    } finally {
      await isolated.close();
    }
    // The worker's script needs the headers too: without them an isolated page cannot load it.
    const scriptNotIsolated = await openRecipes(`${site.origin}/isolated-page/`);
    try {
      const shared = await scriptNotIsolated.evaluate(() => (window as unknown as { recipes: Record<string, () => Promise<unknown>> }).recipes.sharedWorker!());
      expect(shared).toEqual({ error: { name: "Error", message: expect.any(String) } });
    } finally {
      await scriptNotIsolated.close();
    }
  }, 60_000);

  test("in memory: the page's encode writes the bytes Node's does (plain, deflate, shuffle+deflate), and decode hands typed arrays and shapes to other libraries", async () => {
    await started;
    const smooth = Float32Array.from({ length: 1 << 18 }, (_, i) => Math.sin(i / 1000));
    const { ok } = (await recipe("inMemory")) as { ok: Record<string, unknown> };
    expect(ok).toEqual({
      bytes: Array.from(encode({ weights: { data: new Float32Array(6), shape: [2, 3] }, labels: new Int32Array([1, 2]) })),
      weights: ["Float32Array", [2, 3]],
      input: ["Float32Array", [1, 3, 4, 4], "float32", false],
      deflated: sha256(encode({ smooth }, { codec: "deflate" })),
      shuffled: sha256(encode({ smooth }, { codec: "shuffle+deflate", compressionLevel: 9 })),
      back: [true, true],
    });
  }, 60_000);

  test("blobSource of a File picked in an <input type=file> reads the header and the one array asked for, nothing else", async () => {
    await started;
    const path = join(nginx.root, "frames.ndp");
    await page.setInputFiles("input[type=file]", path);
    const { ok } = (await recipe("picked", "labels")) as { ok: { size: number; array: unknown; slices: [number, number][]; bytesRead: number } };
    const labelsInfo = decode(readFileSync(path)).info("labels");
    expect(ok.array).toEqual({ dtype: "int32", shape: [FRAMES], values: [0, 3, 6, 9] });
    expect(ok.size).toBe(readFileSync(path).length);
    expect(ok.slices[0]).toEqual([0, 65536]);
    expect(ok.slices.slice(1)).toEqual([[labelsInfo.offset, expect.any(Number)]]);
    expect(ok.slices.reduce((sum, [start, end]) => sum + end - start, 0)).toBe(ok.bytesRead);
    expect(ok.bytesRead).toBeLessThan(65536 + 1024);
  }, 60_000);

  test("toNpz and toSafetensors in the page write files numpy and safetensors read", async () => {
    await started;
    const { ok } = (await recipe("writers")) as { ok: { npz: number[]; safetensors: number[] } };
    writeFileSync(join(dir, "page.npz"), Uint8Array.from(ok.npz));
    writeFileSync(join(dir, "page.safetensors"), Uint8Array.from(ok.safetensors));
    const script = `
import json, sys, numpy as np
from safetensors.numpy import load_file
from safetensors import safe_open
out = {}
for kind, arrays in (("npz", dict(np.load(sys.argv[1]))), ("safetensors", load_file(sys.argv[2]))):
    out[kind] = {name: [str(a.dtype), list(a.shape), [str(v) for v in a.ravel().tolist()]] for name, a in sorted(arrays.items())}
with safe_open(sys.argv[2], "np") as f: out["metadata"] = f.metadata()
print(json.dumps(out))
`;
    const run = spawnSync("python3", ["-c", script, join(dir, "page.npz"), join(dir, "page.safetensors")], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    const expected = { h: ["float16", [2], ["1.0", "-2.0"]], ids: ["int64", [3], ["1", "-2", "9007199254740993"]], w: ["float32", [2, 3], ["1.5", "-2.0", "3.25", "4.0", "5.0", "6.0"]] };
    expect(JSON.parse(run.stdout)).toEqual({ npz: expected, safetensors: expected, metadata: { format: "pt" } });
  }, 60_000);

  test("an AbortSignal cancels an openUrl read in flight: ABORTED, and the connection is closed before the range is sent", async () => {
    await started;
    const before = (await nginx.log()).length;
    const result = await recipe("abort", remote("cors-slow", "big.ndp"), "big", 500);
    expect(result).toEqual({ ok: { result: { code: "ABORTED", message: expect.stringContaining("aborted") }, bytesRead: 65536 } });
    // nginx logs the read once it sees the browser close the connection, which can come after the
    // page has its ABORTED and after a request made since (nginx.requests' fence): looked for again.
    const aborted = async () => gets((await nginx.log()).slice(before)).find((entry) => entry.range !== "bytes=0-65535");
    let read = await aborted();
    for (let waits = 0; read === undefined && waits < 200; waits++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      read = await aborted();
    }
    expect(read, "nginx logged no read of the array").toBeDefined();
    const [start, end] = /^bytes=(\d+)-(\d+)$/.exec(read!.range)!.slice(1).map(Number) as [number, number];
    // nginx logs 499 when the client leaves before the answer's head, else the bytes it sent before the connection closed.
    expect(read!.status === 499 || read!.bytes < end - start + 1, JSON.stringify(read)).toBe(true);
  }, 60_000);

  test("no page error was thrown", async () => {
    await started;
    await started;
    expect(pageErrors).toEqual([]);
  });
});
