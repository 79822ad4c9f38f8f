/**
 * A tiny HTTP server on 127.0.0.1 (real sockets) that serves one file with Range support and fails
 * on request in the ways nginx cannot be told to: a connection reset, a body shorter than its
 * Content-Range, a body cut off mid-way, no answer at all, a 503 before a good answer. It ignores
 * conditional headers (If-Match), as some servers do, and its file can be replaced.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * What the next request gets instead of its bytes:
 * - `reset`: the connection is reset (TCP RST) before any answer;
 * - `short`: a 206 whose Content-Length (and body) is half of what its Content-Range says;
 * - `cut`: a 206 announcing every byte, then the connection closes half-way through the body;
 * - `hang`: no answer, the connection left open;
 * - `503`, `408`, `429`: that status (Service Unavailable, Request Timeout, Too Many Requests);
 * - `whole`: a 206 of the whole file, whatever the range asked for;
 * - `long`: a 206 with the right Content-Range and a longer body;
 * - `no-range`: a 206 without Content-Range.
 */
export type Fault = "reset" | "short" | "cut" | "hang" | "503" | "408" | "429" | "whole" | "long" | "no-range";

export interface FaultyServer {
  readonly url: string;
  /** Requests received so far. */
  readonly requests: number;
  /** When each request was received (`performance.now()`), in order. */
  readonly arrivals: readonly number[];
  /** Most requests that were open at once (received, not yet answered in full). */
  readonly mostOpen: number;
  /** Holds every answer this many milliseconds before sending it (default 0), so that requests overlap. */
  holdMs: number;
  /** Serves `file` with the ETag `etag` from now on. */
  replace(file: Uint8Array, etag: string): void;
  /** Makes the next requests fail, one fault each, in order (faults not used yet are dropped); later requests are served. */
  failNext(...faults: Fault[]): void;
  close(): Promise<void>;
}

/** Serves `file` at `http://127.0.0.1:PORT/file`, with the ETag `etag`. */
export async function startFaultyServer(file: Uint8Array, etag = '"v1"'): Promise<FaultyServer> {
  const faults: Fault[] = [];
  let requests = 0;
  const arrivals: number[] = [];
  let open = 0;
  let mostOpen = 0;
  let holdMs = 0;
  const serve = (request: IncomingMessage, response: ServerResponse) => {
    requests++;
    arrivals.push(performance.now());
    mostOpen = Math.max(mostOpen, ++open);
    response.once("close", () => open--);
    if (holdMs > 0) setTimeout(() => answer(request, response), holdMs);
    else answer(request, response);
  };
  const answer = (request: IncomingMessage, response: ServerResponse) => {
    const fault = faults.shift();
    if (fault === "reset") return request.socket.resetAndDestroy();
    if (fault === "hang") return;
    if (fault === "503" || fault === "408" || fault === "429") return response.writeHead(Number(fault)).end();
    const match = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? "");
    if (match === null) return response.writeHead(200, { "content-length": file.length, etag }).end(file);
    if (fault === "whole") return response.writeHead(206, { "content-range": `bytes 0-${file.length - 1}/${file.length}`, "content-length": file.length, etag }).end(file);
    const start = Number(match[1]);
    // As S3 does: a range that starts past the end (any range of an empty file) is 416.
    if (start >= file.length) return response.writeHead(416, { "content-range": `bytes */${file.length}` }).end();
    const end = Math.min(Number(match[2]), file.length - 1);
    const body = file.subarray(start, end + 1);
    const headers = { "content-range": `bytes ${start}-${end}/${file.length}`, etag };
    if (fault === "short") return response.writeHead(206, { ...headers, "content-length": body.length >> 1 }).end(body.subarray(0, body.length >> 1));
    if (fault === "long") return response.writeHead(206, { ...headers, "content-length": body.length + 100 }).end(Buffer.concat([body, new Uint8Array(100)]));
    if (fault === "no-range") return response.writeHead(206, { etag, "content-length": body.length }).end(body);
    response.writeHead(206, { ...headers, "content-length": body.length });
    if (fault === "cut") {
      response.write(body.subarray(0, body.length >> 1), () => request.socket.destroy());
      return;
    }
    response.end(body);
  };
  const server = createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/file`,
    get requests() {
      return requests;
    },
    arrivals,
    get mostOpen() {
      return mostOpen;
    },
    get holdMs() {
      return holdMs;
    },
    set holdMs(ms: number) {
      holdMs = ms;
    },
    replace: (newFile, newEtag) => {
      file = newFile;
      etag = newEtag;
    },
    failNext: (...next) => void faults.splice(0, faults.length, ...next),
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
