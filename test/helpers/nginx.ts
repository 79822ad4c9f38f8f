/**
 * A real nginx (Debian's package) serving a folder on 127.0.0.1, for the remote-reading tests and
 * benchmark: a generated config in a temporary directory (no daemon, one process, its pid, logs and
 * temp files in that directory), a free port, and an access log of one JSON line per request from
 * which the tests count requests and bytes sent. Without nginx, {@link startNginx} throws a message
 * saying how to install it: the tests fail, never skip.
 *
 * Locations, each serving the same folder or failing on purpose:
 * - `/files/NAME`: the file, with Range support (nginx's default);
 * - `/norange/NAME`: the file, ignoring Range (`max_ranges 0`: 200 with the whole body);
 * - `/noetag/NAME`: the file without an ETag (Last-Modified only);
 * - `/redirect/NAME`: a 302 to `/files/NAME`, as a CDN redirects to an object store;
 * - `/status/404`, `/status/403`, `/status/503`: that status, always;
 * - `/cors/NAME`: the file for pages of any origin, as a CDN configured for them serves it: the
 *   request headers a reader sends allowed (`Range`, `If-Match`, `If-Unmodified-Since`,
 *   `Authorization`; preflights answered) and `Content-Range`, `ETag` exposed, or the headers
 *   {@link startNginx}'s `cors` option names;
 * - `/cors-bare/NAME`: `Access-Control-Allow-Origin: *` alone (no request header allowed, none exposed);
 * - `/cors-range-only/NAME`: `Range` allowed (not the conditional headers), `Content-Range` and `ETag` exposed;
 * - `/cors-unexposed/NAME`: every request header allowed, no response header exposed;
 * - `/cors-slow/NAME`: as `/cors/`, sent at 1 MiB/s (a read still in flight when a test cancels it).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const NGINX = process.env.NGINX ?? "/usr/sbin/nginx";

/** One request, as nginx logged it. */
export interface LogEntry {
  /** GET, or OPTIONS for a browser's CORS preflight. */
  readonly method: string;
  readonly status: number;
  /** Bytes of the body sent (`$body_bytes_sent`). */
  readonly bytes: number;
  /** The request's Range header, "" when none. */
  readonly range: string;
  readonly uri: string;
  readonly ifMatch: string;
  readonly ifUnmodifiedSince: string;
  /** The request's Authorization header, "" when none. */
  readonly authorization: string;
}

/** A running nginx. */
export interface Nginx {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  /** The folder it serves. */
  readonly root: string;
  /** Every request logged so far, oldest first (waits until nginx has logged every request it finished). */
  log(): Promise<LogEntry[]>;
  /** Runs `work` and returns what it returned with the requests nginx served meanwhile. */
  requests<T>(work: () => Promise<T>): Promise<{ result: T; entries: LogEntry[] }>;
  stop(): Promise<void>;
}

/** Throws a clear error when nginx is not installed. */
export function requireNginx(): void {
  const probe = existsSync(NGINX) ? spawnSync(NGINX, ["-v"], { encoding: "utf8" }) : undefined;
  if (probe === undefined || probe.error || probe.status !== 0) {
    throw new Error(
      `The remote-reading tests need nginx at ${NGINX} (Debian's package), and it is missing or does not run. ` +
        `Install it with: apt-get install -y nginx (.ci/run does), or point the NGINX environment variable at the binary.`,
    );
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** The request headers a reader sends besides the CORS-safelisted ones (`Authorization` for a token). */
const READER_REQUEST_HEADERS = "Range, If-Match, If-Unmodified-Since, Authorization";

/** A location serving `root` to pages of any origin, allowing `allowHeaders` and exposing `exposeHeaders` ("" for none). */
function corsLocation(prefix: string, root: string, allowHeaders: string, exposeHeaders: string, more = ""): string {
  const headers = [
    "add_header Access-Control-Allow-Origin * always;",
    allowHeaders === "" ? "" : `add_header Access-Control-Allow-Headers "${allowHeaders}" always;`,
    exposeHeaders === "" ? "" : `add_header Access-Control-Expose-Headers "${exposeHeaders}" always;`,
  ].join(" ");
  // A preflight (OPTIONS) of a static file is 405 on nginx unless answered here.
  return `location ${prefix} { alias ${root}/; ${more} ${headers} if ($request_method = OPTIONS) { ${more} ${headers} return 204; } }`;
}

/** The CORS headers of the `/cors/` location. */
export interface CorsHeaders {
  /** `Access-Control-Allow-Headers`. */
  readonly allowHeaders: string;
  /** `Access-Control-Expose-Headers`. */
  readonly exposeHeaders: string;
}

function config(dir: string, root: string, port: number, cors: CorsHeaders): string {
  const status = (code: number) => `location = /status/${code} { return ${code}; }`;
  return `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  default_type application/octet-stream;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  log_format counted escape=json '{"method":"$request_method","status":$status,"bytes":$body_bytes_sent,"range":"$http_range","uri":"$request_uri","ifMatch":"$http_if_match","ifUnmodifiedSince":"$http_if_unmodified_since","authorization":"$http_authorization"}';
  access_log ${dir}/access.log counted;
  sendfile on;
  absolute_redirect off;
  server {
    listen 127.0.0.1:${port};
    location /files/ { alias ${root}/; }
    location /norange/ { alias ${root}/; max_ranges 0; }
    location /noetag/ { alias ${root}/; etag off; }
    location ~ ^/redirect/(.*)$ { return 302 /files/$1; }
    location /fence/ { return 204; }
    ${corsLocation("/cors/", root, cors.allowHeaders, cors.exposeHeaders)}
    ${corsLocation("/cors-bare/", root, "", "")}
    ${corsLocation("/cors-range-only/", root, "Range", "Content-Range, ETag")}
    ${corsLocation("/cors-unexposed/", root, READER_REQUEST_HEADERS, "")}
    ${corsLocation("/cors-slow/", root, READER_REQUEST_HEADERS, "Content-Range, ETag", "limit_rate 1m;")}
    ${status(404)}
    ${status(403)}
    ${status(503)}
  }
}
`;
}

/** Starts nginx serving `root` (a folder) on a free port of 127.0.0.1. */
export async function startNginx(root: string, options: { cors?: CorsHeaders } = {}): Promise<Nginx> {
  const cors = options.cors ?? { allowHeaders: READER_REQUEST_HEADERS, exposeHeaders: "Content-Range, ETag" };
  requireNginx();
  const dir = mkdtempSync(join(tmpdir(), "ndpack-nginx-"));
  mkdirSync(join(dir, "tmp"));
  const logPath = join(dir, "access.log");
  let child: ChildProcess | undefined;
  let origin = "";
  // Another process may take the probed port before nginx binds it: then try another.
  for (let attempt = 0; child === undefined; attempt++) {
    const port = await freePort();
    writeFileSync(join(dir, "nginx.conf"), config(dir, root, port, cors));
    const started = spawn(NGINX, ["-p", dir, "-e", join(dir, "error.log"), "-c", join(dir, "nginx.conf")], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    started.stderr!.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
    const exited = new Promise<number | null>((resolve) => started.once("exit", resolve));
    origin = `http://127.0.0.1:${port}`;
    const ready = await Promise.race([waitUntilServing(origin), exited.then(() => false)]);
    if (ready) child = started;
    else {
      started.kill("SIGKILL");
      const errors = existsSync(join(dir, "error.log")) ? readFileSync(join(dir, "error.log"), "utf8") : "";
      if (attempt >= 4 || !/Address already in use/.test(stderr + errors)) {
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`nginx did not start:\n${stderr}${errors}`);
      }
    }
  }
  const running = child;
  // A test process that ends without stop() (a crash, a killed worker) leaves no nginx behind.
  const killOnExit = () => running.kill("SIGKILL");
  process.once("exit", killOnExit);
  let fences = 0;

  const log = async (): Promise<LogEntry[]> => {
    // nginx logs a request when it has sent its last byte; one worker handles requests in order,
    // so once a fresh request is logged, every request finished before it is logged too.
    const fence = `/fence/${++fences}`;
    await (await fetch(origin + fence)).arrayBuffer();
    for (let wait = 0; ; wait++) {
      const lines = readFileSync(logPath, "utf8").split("\n").filter(Boolean);
      const entries = lines.map((line) => JSON.parse(line) as LogEntry);
      if (entries.some((e) => e.uri === fence)) return entries.filter((e) => !e.uri.startsWith("/fence/") && e.uri !== "/ready");
      if (wait > 500) throw new Error(`nginx did not log ${fence}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  return {
    origin,
    root,
    log,
    async requests(work) {
      const before = (await log()).length;
      const result = await work();
      return { result, entries: (await log()).slice(before) };
    },
    async stop() {
      process.off("exit", killOnExit);
      const exited = new Promise((resolve) => running.once("exit", resolve));
      running.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitUntilServing(origin: string): Promise<boolean> {
  for (let wait = 0; wait < 500; wait++) {
    try {
      await (await fetch(`${origin}/ready`)).arrayBuffer();
      return true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return false;
}

/** Sum of the body bytes of `entries`. */
export function bytesSent(entries: readonly LogEntry[]): number {
  return entries.reduce((sum, e) => sum + e.bytes, 0);
}
