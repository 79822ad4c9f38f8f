/**
 * `ndpack view FILE|URL`: serves the viewer page (dist/viewer/, built with the package) and the
 * file on 127.0.0.1, then opens the page in a browser. The file is served with `Range` support, so
 * the page reads the header and then only the array being looked at, however large the file. A
 * URL is proxied through the same address (Range requests passed on), so the page needs no CORS
 * from the remote server.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { createReadStream, existsSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { basename, dirname, extname, join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { NdpackError } from "../errors.js";
import { decodedOr } from "../io/http.js";
import { parseSetIndex, SET_INDEX_SUFFIX } from "../set.js";
import { shardUrl } from "../set-reader.js";
import { EXIT } from "./errors.js";

/** Options of {@link viewCommand}. */
export interface ViewOptions {
  /** Port to listen on (default 0: a free port chosen by the system). */
  readonly port?: number;
  /** Open the page in the default browser (default true; `--no-open`). */
  readonly open?: boolean;
  /** Print every request served (method, path, range, status, bytes sent) on standard output. */
  readonly verbose?: boolean;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json",
};

/** The built page: next to the CLI's bundle (dist/cli/ -> dist/viewer/), or beside it. */
function viewerDirectory(): string {
  for (const relative of ["../viewer/", "./viewer/"]) {
    const dir = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(join(dir, "index.html"))) return dir;
  }
  throw new NdpackError("IO_ERROR", "the viewer page is not built (dist/viewer/index.html is missing): run `npm run build`");
}

/** A single byte range of a `Range` header; "unsatisfiable" for 416; undefined to ignore the header (several ranges, bad syntax). */
export function parseRange(header: string, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    return suffix === 0 || size === 0 ? "unsatisfiable" : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (match[2] !== "" && Number(match[2]) < start) return undefined;
  return start >= size ? "unsatisfiable" : { start, end };
}

interface Served {
  /** Bytes of the file sent so far, across requests. */
  bytesSent: number;
}

async function serveFile(path: string, request: IncomingMessage, response: ServerResponse, served: Served): Promise<number> {
  const info = await stat(path);
  const size = info.size;
  const etag = `"${size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  response.setHeader("Accept-Ranges", "bytes");
  response.setHeader("ETag", etag);
  response.setHeader("Last-Modified", info.mtime.toUTCString());
  response.setHeader("Cache-Control", "no-cache");
  response.setHeader("Content-Type", "application/octet-stream");
  const rangeHeader = request.headers.range;
  const ifRange = request.headers["if-range"];
  // If-Range names the version the client holds: a range of any other version would mix two files.
  const range = rangeHeader !== undefined && (ifRange === undefined || ifRange === etag) ? parseRange(rangeHeader, size) : undefined;
  if (range === undefined && request.headers["if-none-match"] === etag) {
    response.writeHead(304).end();
    return 304;
  }
  if (range === "unsatisfiable") {
    response.writeHead(416, { "Content-Range": `bytes */${size}` }).end();
    return 416;
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  const length = Math.max(0, end - start + 1);
  const status = range ? 206 : 200;
  response.writeHead(status, { "Content-Length": String(length), ...(range ? { "Content-Range": `bytes ${start}-${end}/${size}` } : {}) });
  if (request.method === "HEAD" || length === 0) {
    response.end();
    return status;
  }
  await new Promise<void>((resolve) => {
    const stream = createReadStream(path, { start, end });
    stream.on("data", (chunk) => {
      served.bytesSent += chunk.length;
    });
    stream.on("error", () => response.destroy());
    response.on("close", () => {
      stream.destroy();
      resolve();
    });
    stream.pipe(response);
  });
  return status;
}

/** Passes a request for the file on to `url`, with its Range and validators, and streams the answer back. */
async function proxyFile(url: string, request: IncomingMessage, response: ServerResponse, served: Served): Promise<number> {
  // Bytes as stored: fetch would undo a content coding, and the length passed on would be the coded one.
  const headers: Record<string, string> = { "accept-encoding": "identity" };
  for (const name of ["range", "if-range", "if-none-match"]) {
    const value = request.headers[name];
    if (typeof value === "string") headers[name] = value;
  }
  const upstream = await fetch(url, { method: request.method === "HEAD" ? "HEAD" : "GET", headers });
  const passed: Record<string, string> = {};
  const coded = upstream.headers.has("content-encoding");
  for (const name of ["content-length", "content-range", "accept-ranges", "etag", "last-modified"]) {
    if (coded && name === "content-length") continue;
    const value = upstream.headers.get(name);
    if (value !== null) passed[name] = value;
  }
  response.writeHead(upstream.status, { ...passed, "Content-Type": "application/octet-stream", "Cache-Control": "no-cache" });
  if (!upstream.body) {
    response.end();
    return upstream.status;
  }
  const body = Readable.fromWeb(upstream.body as import("node:stream/web").ReadableStream<Uint8Array>);
  body.on("data", (chunk: Buffer) => {
    served.bytesSent += chunk.length;
  });
  await new Promise<void>((resolve) => {
    body.on("error", () => response.destroy());
    response.on("close", () => {
      body.destroy();
      resolve();
    });
    body.pipe(response);
  });
  return upstream.status;
}

function openInBrowser(url: string): void {
  const [command, args] = process.platform === "darwin" ? ["open", [url]] : process.platform === "win32" ? ["cmd", ["/c", "start", "", url]] : ["xdg-open", [url]];
  try {
    const child = spawn(command, args as string[], { detached: true, stdio: "ignore" });
    child.on("error", () => process.stderr.write(`ndpack view: could not start a browser (${command}); open ${url}\n`));
    child.unref();
  } catch {
    process.stderr.write(`ndpack view: could not start a browser; open ${url}\n`);
  }
}

/**
 * What the server hands out under /file/, by decoded path: the target, and when it is a set's index,
 * its shards (the page reaches them relative to the index, FORMAT.md §12.1). Shard names are plain
 * file names (the index is refused otherwise), so nothing outside the index's folder is served.
 */
async function servedFiles(target: string, name: string, remote: boolean): Promise<Map<string, string>> {
  const files = new Map([[`/file/${name}`, target]]);
  if (!name.endsWith(SET_INDEX_SUFFIX)) return files;
  const bytes = remote ? new Uint8Array(await (await fetch(target)).arrayBuffer()) : await readFile(target);
  for (const shard of parseSetIndex(bytes).shards) files.set(`/file/${shard.name}`, remote ? shardUrl(target, shard) : join(dirname(target), shard.name));
  return files;
}

/**
 * Serves the viewer and `target` (a file path, or an http(s) URL to proxy) until interrupted.
 * Returns the exit code once the server has closed (SIGINT or SIGTERM).
 */
export async function viewCommand(target: string, options: ViewOptions = {}): Promise<number> {
  const remote = /^https?:\/\//i.test(target);
  const name = remote ? decodedOr(basename(new URL(target).pathname)) || "file" : basename(target);
  if (!remote) {
    const info = await stat(target).catch((cause: unknown) => {
      throw new NdpackError("IO_ERROR", `${target}: cannot read it (${(cause as Error).message})`, { path: target, cause });
    });
    // As every other command says of it (src/node/file-source.ts): bad input, exit code 2.
    if (!info.isFile()) throw new NdpackError("INVALID_ARGUMENT", `${target} is not a regular file`, { path: target, field: "path" });
  }
  const dir = viewerDirectory();
  const assets = new Set((await readdir(dir)).filter((file) => TYPES[extname(file)] !== undefined));
  const filePath = `/file/${encodeURIComponent(name)}`;
  const files = await servedFiles(target, name, remote);
  const served: Served = { bytesSent: 0 };

  let port = 0;
  const server = createServer((request, response) => {
    const path = decodedOr(new URL(request.url ?? "/", "http://localhost").pathname, "");
    const log = (status: number) => {
      if (options.verbose) process.stdout.write(`${request.method} ${path} ${request.headers.range ?? "-"} ${status} total-file-bytes=${served.bytesSent}\n`);
    };
    const fail = (status: number) => {
      if (!response.headersSent) response.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" });
      response.end(status === 404 ? "not found\n" : status === 405 ? "method not allowed\n" : status === 421 ? "this server answers to 127.0.0.1 and localhost only\n" : "error\n");
      log(status);
    };
    // Only this machine's names for the server: a page elsewhere whose name resolves to 127.0.0.1
    // (DNS rebinding) sends its own host name, and must not read the file.
    if (request.headers.host !== `127.0.0.1:${port}` && request.headers.host !== `localhost:${port}`) return fail(421);
    if (request.method !== "GET" && request.method !== "HEAD") return fail(405);
    const file = files.get(path);
    if (file !== undefined) {
      (remote ? proxyFile(file, request, response, served) : serveFile(file, request, response, served)).then(log, () => fail(502));
      return;
    }
    const asset = path === "/" ? "index.html" : path.slice(1);
    if (!assets.has(asset)) return fail(404);
    readFile(join(dir, asset)).then(
      (bytes) => {
        response.writeHead(200, { "Content-Type": TYPES[extname(asset)]!, "Content-Length": String(bytes.length), "Cache-Control": "no-cache" });
        response.end(request.method === "HEAD" ? undefined : bytes);
        log(200);
      },
      () => fail(500),
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", (cause) => reject(new NdpackError("IO_ERROR", `cannot listen on 127.0.0.1:${options.port ?? 0} (${cause.message})`, { cause })));
    server.listen(options.port ?? 0, "127.0.0.1", resolve);
  });
  port = (server.address() as { port: number }).port;
  const pageUrl = `http://127.0.0.1:${port}/?url=${encodeURIComponent(filePath)}`;
  process.stdout.write(`ndpack view: ${remote ? target : name} at ${pageUrl} (Ctrl-C to stop)\n`);
  if (options.open !== false) openInBrowser(pageUrl);

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      server.closeAllConnections();
      server.close(() => resolve());
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  return EXIT.ok;
}
