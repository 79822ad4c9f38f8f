/**
 * Every way a remote read fails, against real servers on loopback: nginx (Debian's package) for
 * statuses, a server that ignores Range, a redirect and a file changed on disk between two reads;
 * a tiny Node server (real sockets) for resets, short and cut-off bodies, silence and flakiness.
 * Each case names the error code it must produce; retries are counted in the servers' logs.
 */
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { gzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { NdpackError } from "../src/errors.js";
import { encode } from "../src/index.js";
import { httpSource } from "../src/io/http.js";
import { openUrl } from "../src/remote.js";
import { noise } from "./helpers/common.js";
import { startFaultyServer, type FaultyServer } from "./helpers/faulty-server.js";
import { bytesSent, startNginx, type Nginx } from "./helpers/nginx.js";

/** A file larger than the first request, so that some reads need a second one. */
const FILE = noise(300_000, 7);
const KEPT = 64 * 1024;

let dir: string;
let nginx: Nginx;
let faulty: FaultyServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ndpack-remote-failures-"));
  writeFileSync(join(dir, "file.bin"), FILE);
  writeFileSync(join(dir, "empty.bin"), new Uint8Array(0));
  writeFileSync(join(dir, "small.ndp"), encode({ x: new Float32Array([1, 2, 3]) }));
  [nginx, faulty] = await Promise.all([startNginx(dir), startFaultyServer(FILE)]);
});

afterAll(async () => {
  await Promise.all([nginx?.stop(), faulty?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

/** Requires `promise` to reject with an NdpackError of `code`; returns it. */
async function rejection(promise: Promise<unknown>, code: string): Promise<NdpackError> {
  const error = await promise.then(
    () => expect.fail(`expected ${code}, but it resolved`),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(NdpackError);
  expect((error as NdpackError).code, (error as Error).message).toBe(code);
  return error as NdpackError;
}

describe("statuses (nginx)", () => {
  test.each([404, 403])("HTTP_ERROR with status %i, not retried", async (status) => {
    const { result: error, entries } = await nginx.requests(() => rejection(httpSource(`${nginx.origin}/status/${status}`), "HTTP_ERROR"));
    expect(error.status).toBe(status);
    expect(error.url).toBe(`${nginx.origin}/status/${status}`);
    expect(entries.map((e) => e.status)).toEqual([status]);
  });

  test("a presigned URL's query (its signature) stays out of the error's message and url", async () => {
    const error = await rejection(httpSource(`${nginx.origin}/status/403?X-Amz-Signature=secret`), "HTTP_ERROR");
    expect(error.url).toBe(`${nginx.origin}/status/403`);
    expect(error.message).not.toMatch(/secret/);
  });

  test("HTTP_ERROR with status 503 after exactly `retries` retries", async () => {
    const { result: error, entries } = await nginx.requests(() => rejection(httpSource(`${nginx.origin}/status/503`, { retries: 2 }), "HTTP_ERROR"));
    expect(error.status).toBe(503);
    expect(entries.map((e) => e.status)).toEqual([503, 503, 503]);
    const once = await nginx.requests(() => rejection(httpSource(`${nginx.origin}/status/503`, { retries: 0 }), "HTTP_ERROR"));
    expect(once.entries).toHaveLength(1);
  });

  test("RANGE_NOT_SUPPORTED from a server that ignores Range, naming the option; allowFullDownload reads the file from memory", async () => {
    const error = await rejection(httpSource(`${nginx.origin}/norange/file.bin`), "RANGE_NOT_SUPPORTED");
    expect(error.limit).toBe("allowFullDownload");
    expect(error.message).toMatch(/ignores Range/);

    const { result, entries } = await nginx.requests(async () => {
      const source = await httpSource(`${nginx.origin}/norange/file.bin`, { allowFullDownload: true });
      return { size: source.size, bytes: await source.read(100_000, 150_000) };
    });
    expect(result.size).toBe(FILE.length);
    expect(Buffer.from(result.bytes).equals(Buffer.from(FILE.subarray(100_000, 250_000)))).toBe(true);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.status).toBe(200);
  });

  test("FILE_CHANGED when the file is rewritten between two reads (412 on If-Match), never mixed bytes", async () => {
    const path = join(dir, "changing.bin");
    writeFileSync(path, FILE);
    const source = await httpSource(`${nginx.origin}/files/changing.bin`);
    // Same size, other bytes, another modification time: nginx's ETag changes.
    writeFileSync(path, noise(FILE.length, 99));
    utimesSync(path, new Date(), new Date(Date.now() + 10_000));
    const { result: error, entries } = await nginx.requests(() => rejection(source.read(KEPT, 1000), "FILE_CHANGED"));
    expect(error.message).toMatch(/412/);
    expect(entries.map((e) => [e.status, e.ifMatch])).toEqual([[412, source.validator]]);
  });

  test("FILE_CHANGED when a longer file is put in its place", async () => {
    const path = join(dir, "growing.bin");
    writeFileSync(path, FILE);
    const source = await httpSource(`${nginx.origin}/files/growing.bin`);
    writeFileSync(path, noise(FILE.length * 2, 98));
    await rejection(source.read(KEPT, 1000), "FILE_CHANGED");
  });

  test("FILE_CHANGED through If-Unmodified-Since when the server sends no ETag (Last-Modified is the validator)", async () => {
    const path = join(dir, "dated.bin");
    writeFileSync(path, FILE);
    utimesSync(path, new Date(), new Date(Date.now() - 60_000));
    const source = await httpSource(`${nginx.origin}/noetag/dated.bin`);
    expect(source.validator).toMatch(/ GMT$/);
    const { entries } = await nginx.requests(() => source.read(KEPT, 1000));
    expect(entries.map((e) => [e.status, e.ifMatch, e.ifUnmodifiedSince])).toEqual([[206, "", source.validator]]);
    utimesSync(path, new Date(), new Date());
    await rejection(source.read(KEPT, 1000), "FILE_CHANGED");
  });

  test("an empty file has size 0 (nginx: 200, S3: 416); a small file from a server that ignores Range is read whole (no more than was asked for)", async () => {
    const empty = await httpSource(`${nginx.origin}/files/empty.bin`);
    expect(empty.size).toBe(0);
    expect((await empty.read(0, 10)).length).toBe(0);
    const s3Like = await startFaultyServer(new Uint8Array(0));
    try {
      expect((await httpSource(s3Like.url)).size).toBe(0);
    } finally {
      await s3Like.close();
    }
    writeFileSync(join(dir, "small.bin"), FILE.subarray(0, 1000));
    const small = await httpSource(`${nginx.origin}/norange/small.bin`);
    expect(small.size).toBe(1000);
    expect(Buffer.from(await small.read(10, 20)).equals(Buffer.from(FILE.subarray(10, 30)))).toBe(true);
  });
});

describe("broken connections (a Node server on real sockets)", () => {
  test.each([
    ["reset", "IO_ERROR"],
    ["short", "TRUNCATED"],
    ["cut", "TRUNCATED"],
  ] as const)("%s on every attempt: %s after exactly `retries` retries", async (fault, code) => {
    const source = await httpSource(faulty.url, { retries: 2 });
    const before = faulty.requests;
    faulty.failNext(fault, fault, fault);
    const error = await rejection(source.read(KEPT, 100_000), code);
    expect(error.url).toBe(faulty.url);
    expect(faulty.requests - before).toBe(3);
  });

  test("FILE_CHANGED from a server that ignores If-Match: a differing ETag, a weak one included, or size", async () => {
    const server = await startFaultyServer(FILE, 'W/"weak-1"');
    try {
      const source = await httpSource(server.url);
      server.replace(noise(FILE.length, 5), 'W/"weak-2"');
      expect((await rejection(source.read(KEPT, 10), "FILE_CHANGED")).message).toMatch(/ETag/);
      server.replace(FILE, '"strong"');
      const strong = await httpSource(server.url);
      server.replace(noise(FILE.length + 1, 5), '"strong"');
      expect((await rejection(strong.read(KEPT, 10), "FILE_CHANGED")).message).toMatch(/size/);
    } finally {
      await server.close();
    }
  });

  test("HTTP_ERROR, not retried, when the answer holds other bytes than the range asked for (the first request included)", async () => {
    const before = faulty.requests;
    faulty.failNext("whole");
    const first = await rejection(httpSource(faulty.url), "HTTP_ERROR");
    expect([first.status, first.expected, first.actual]).toEqual([206, `0-${KEPT - 1}`, `0-${FILE.length - 1}`]);
    const source = await httpSource(faulty.url);
    faulty.failNext("whole");
    const later = await rejection(source.read(KEPT, 10), "HTTP_ERROR");
    expect(later.expected).toBe(`${KEPT}-${KEPT + 9}`);
    expect(faulty.requests - before).toBe(3);
  });

  test("HTTP_ERROR for a body longer than its Content-Range, and for a 206 without Content-Range (the header a browser hides without CORS)", async () => {
    const source = await httpSource(faulty.url);
    faulty.failNext("long");
    expect((await rejection(source.read(KEPT, 10), "HTTP_ERROR")).message).toMatch(/more than the 10 bytes/);
    faulty.failNext("no-range");
    const error = await rejection(httpSource(faulty.url), "HTTP_ERROR");
    expect(error.field).toBe("Content-Range");
    expect(error.message).toMatch(/Access-Control-Expose-Headers/);
  });

  test("the first request is retried too: a reset, then a 503, then the file", async () => {
    const before = faulty.requests;
    faulty.failNext("reset", "503");
    const source = await httpSource(faulty.url);
    expect(source.size).toBe(FILE.length);
    expect(faulty.requests - before).toBe(3);
  });

  test("transient failures then success: the bytes are right", async () => {
    const source = await httpSource(faulty.url, { retries: 3 });
    const before = faulty.requests;
    faulty.failNext("503", "cut", "short");
    const bytes = await source.read(KEPT - 10, 100_000);
    expect(Buffer.from(bytes).equals(Buffer.from(FILE.subarray(KEPT - 10, KEPT - 10 + 100_000)))).toBe(true);
    expect(faulty.requests - before).toBe(4);
  });

  test("408 and 429 are retried, after the backoff: the requests reach the server at least 50 ms, then 100 ms, apart", async () => {
    const source = await httpSource(faulty.url, { retries: 3 });
    const before = faulty.requests;
    faulty.failNext("408", "429");
    expect(await source.read(KEPT, 10)).toEqual(FILE.subarray(KEPT, KEPT + 10));
    expect(faulty.requests - before).toBe(3);
    // The waits are 100 ms, then 200 ms, times 0.5 to 1 (jitter). Measured where the requests
    // arrive: a busy machine only lengthens the gaps (2 ms of slack for the timers' millisecond clock).
    const [first, second, third] = faulty.arrivals.slice(before);
    expect(second! - first!).toBeGreaterThanOrEqual(48);
    expect(third! - second!).toBeGreaterThanOrEqual(98);
  });

  test("TIMEOUT when the server never answers, after `retries` retries", async () => {
    const source = await httpSource(faulty.url, { timeout: 500, retries: 1 });
    const before = faulty.requests;
    faulty.failNext("hang", "hang");
    const error = await rejection(source.read(KEPT, 10), "TIMEOUT");
    expect(error.limit).toBe("timeout");
    expect(faulty.requests - before).toBe(2);
  });

  test("IO_ERROR when nothing listens", async () => {
    const closed = await startFaultyServer(FILE);
    await closed.close();
    await rejection(httpSource(closed.url, { retries: 0 }), "IO_ERROR");
  });
});

describe("cancelling", () => {
  test("ABORTED, with the signal's reason as cause, when a read is aborted while the server is silent", async () => {
    const source = await httpSource(faulty.url);
    faulty.failNext("hang");
    const controller = new AbortController();
    const before = faulty.requests;
    const read = source.read(KEPT, 10, { signal: controller.signal });
    while (faulty.requests === before) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort(new Error("user went away"));
    const error = await rejection(read, "ABORTED");
    expect((error.cause as Error).message).toBe("user went away");
  });

  test("ABORTED at once, without a request, for an aborted signal; the source's own signal aborts its reads", async () => {
    const before = faulty.requests;
    await rejection(httpSource(faulty.url, { signal: AbortSignal.abort() }), "ABORTED");
    expect(faulty.requests).toBe(before);

    const controller = new AbortController();
    const source = await httpSource(faulty.url, { signal: controller.signal });
    controller.abort();
    await rejection(source.read(KEPT, 10), "ABORTED");
  });

  test("ABORTED at once for a read waiting for its turn behind a silent request", async () => {
    const server = await startFaultyServer(FILE);
    try {
      const source = await httpSource(server.url, { concurrency: 1 });
      server.failNext("hang");
      const first = new AbortController();
      const stuck = source.read(KEPT, 10, { signal: first.signal });
      while (server.requests < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      const second = new AbortController();
      const waiting = source.read(KEPT + 100, 10, { signal: second.signal });
      second.abort();
      await rejection(waiting, "ABORTED");
      expect(server.requests).toBe(2);
      first.abort();
      await rejection(stuck, "ABORTED");
      // The slot is free again.
      expect(Buffer.from(await source.read(KEPT, 10)).equals(Buffer.from(FILE.subarray(KEPT, KEPT + 10)))).toBe(true);
    } finally {
      await server.close();
    }
  });

  test("ABORTED ends the wait between retries", async () => {
    const source = await httpSource(faulty.url, { retries: 5 });
    faulty.failNext("503", "503", "503", "503", "503", "503");
    const controller = new AbortController();
    const before = faulty.requests;
    const read = source.read(KEPT, 10, { signal: controller.signal });
    while (faulty.requests === before) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    await rejection(read, "ABORTED");
    expect(faulty.requests - before).toBeLessThan(6);
    faulty.failNext();
  });
});

/**
 * A fetch that answers each request with the next of `answers` (a status, or a status and its
 * headers; then 206 with a small file), and records when (on the clock the test controls) each
 * request was made.
 */
function scriptedFetch(...answers: (number | [number, Record<string, string>])[]): { fetch: typeof fetch; times: number[] } {
  const times: number[] = [];
  const file = FILE.slice(0, 1000);
  const scripted = async (input: string | URL | Request) => {
    times.push(Date.now());
    const answer = answers.shift();
    if (answer !== undefined) {
      const [status, headers] = typeof answer === "number" ? [answer, {}] : answer;
      return new Response(null, { status, headers });
    }
    return Object.defineProperty(new Response(file, { status: 206, headers: { "content-range": `bytes 0-${file.length - 1}/${file.length}`, etag: '"v1"' } }), "url", { value: String(input) });
  };
  return { fetch: scripted as typeof fetch, times };
}

/** The gaps between successive entries of `times`. */
const gaps = (times: readonly number[]) => times.slice(1).map((t, i) => t - times[i]!);

describe("waits between retries", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  /** Opens a source through `fetch` on a fake clock, running its timers until the opening settles. */
  async function openOnFakeClock(fetch: typeof globalThis.fetch, retries: number, timeout?: number): Promise<unknown> {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: 0 });
    const settled = httpSource("http://ndpack.invalid/file.bin", { fetch, retries, ...(timeout === undefined ? {} : { timeout }) }).then(
      (source) => source,
      (error: unknown) => error,
    );
    await vi.runAllTimersAsync();
    return settled;
  }

  test.each([
    [0, [50, 100, 200]],
    [0.5, [75, 150, 300]],
  ])("the fetch is asked again after 100 ms, 200 ms, 400 ms, each cut by the jitter (Math.random() = %d): %j", async (random, expected) => {
    vi.spyOn(Math, "random").mockReturnValue(random);
    const { fetch, times } = scriptedFetch(503, 503, 503, 503);
    const error = await openOnFakeClock(fetch, 3);
    expect((error as NdpackError).status).toBe(503);
    expect(gaps(times)).toEqual(expected);
  });

  test.each([408, 429, 500, 502, 503, 504])("HTTP %i is transient: retried after the backoff, then the file is read", async (status) => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const { fetch, times } = scriptedFetch(status, status);
    const source = await openOnFakeClock(fetch, 3);
    expect((source as { size: number }).size).toBe(1000);
    expect(gaps(times)).toEqual([50, 100]);
  });

  test.each([400, 401, 403, 404, 410, 416])("HTTP %i is not retried", async (status) => {
    const { fetch, times } = scriptedFetch(status);
    const error = await openOnFakeClock(fetch, 3);
    expect((error as NdpackError).status).toBe(status);
    expect(times).toHaveLength(1);
  });

  test("Retry-After, in seconds or as a date, is waited for when it asks for longer than the backoff; a shorter or unreadable one leaves the backoff", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const { fetch, times } = scriptedFetch(
      [429, { "retry-after": "2" }],
      [503, { "retry-after": new Date(2000 + 50 + 3000).toUTCString() }], // 3 s after the second request
      [429, { "retry-after": "0" }],
      [503, { "retry-after": "soon" }],
    );
    const source = await openOnFakeClock(fetch, 4);
    expect((source as { size: number }).size).toBe(1000);
    expect(gaps(times)).toEqual([2000, 3000, 200, 400]);
  });

  test("a Retry-After longer than the timeout is not waited for: the failure is thrown at once, saying why; up to the timeout, it is waited for", async () => {
    const { fetch, times } = scriptedFetch([429, { "retry-after": "31" }]);
    const error = (await openOnFakeClock(fetch, 3)) as NdpackError;
    expect([error.code, error.status, error.limit]).toEqual(["HTTP_ERROR", 429, "timeout"]);
    expect(error.message).toMatch(/Retry-After asks for 31 s, longer than the timeout of 30000 ms/);
    expect(times).toEqual([0]);
    vi.useRealTimers();
    const atTimeout = scriptedFetch([503, { "retry-after": "5" }]);
    expect(((await openOnFakeClock(atTimeout.fetch, 3, 5000)) as { size: number }).size).toBe(1000);
    expect(gaps(atTimeout.times)).toEqual([5000]);
  });
});

describe("the source", () => {
  test("at most `concurrency` requests in flight; every read gets its own bytes", async () => {
    const server = await startFaultyServer(FILE);
    try {
      const source = await httpSource(server.url, { concurrency: 2 });
      server.holdMs = 50;
      const offsets = Array.from({ length: 8 }, (_, i) => KEPT + i * 20_000);
      const reads = await Promise.all(offsets.map((offset) => source.read(offset, 20_000)));
      reads.forEach((bytes, i) => expect(Buffer.from(bytes).equals(Buffer.from(FILE.subarray(offsets[i], offsets[i]! + 20_000)))).toBe(true));
      expect(server.mostOpen).toBe(2);
      expect(server.requests).toBe(9);
    } finally {
      await server.close();
    }
  });

  test("every request goes through the fetch given, with the headers given", async () => {
    let calls = 0;
    const counted: typeof fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    const { entries } = await nginx.requests(async () => {
      const source = await httpSource(`${nginx.origin}/redirect/file.bin`, { fetch: counted, headers: { authorization: "Bearer secret" } });
      await source.read(KEPT, 10);
    });
    expect(calls).toBe(2);
    expect(entries.map((e) => e.authorization)).toEqual(["Bearer secret", "Bearer secret", "Bearer secret"]);
  });

  test("credentials stay with their origin: after a redirect to another origin (a CDN), no request there carries the caller's Authorization", async () => {
    const redirector = createServer((_, response) => response.writeHead(302, { location: `${nginx.origin}/files/file.bin` }).end());
    await new Promise<void>((resolve) => redirector.listen(0, "127.0.0.1", resolve));
    try {
      const { entries } = await nginx.requests(async () => {
        const source = await httpSource(`http://127.0.0.1:${(redirector.address() as { port: number }).port}/model.bin`, { headers: { authorization: "Bearer secret" } });
        expect(await source.read(KEPT, 10)).toEqual(FILE.subarray(KEPT, KEPT + 10));
      });
      expect(entries.map((e) => [e.range, e.authorization])).toEqual([
        ["bytes=0-65535", ""], // fetch's own redirect drops it
        [`bytes=${KEPT}-${KEPT + 9}`, ""], // and so do the reads that follow, straight to the final URL
      ]);
    } finally {
      redirector.close();
    }
  });

  test("a server that ignores Range and gzips the whole file: RANGE_NOT_SUPPORTED (not HTTP_ERROR over the coded length); allowFullDownload reads the file", async () => {
    const coded = gzipSync(FILE);
    const server = createServer((_, response) => response.writeHead(200, { "content-encoding": "gzip", "content-length": String(coded.length) }).end(coded));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/file.bin`;
    try {
      await rejection(httpSource(url), "RANGE_NOT_SUPPORTED");
      const source = await httpSource(url, { allowFullDownload: true });
      expect(source.size).toBe(FILE.length);
      expect(await source.read(1000, 100_000)).toEqual(FILE.subarray(1000, 101_000));
    } finally {
      server.close();
    }
  });

  test("a full download announcing more bytes than memory can hold is LIMIT_EXCEEDED at once, not TRUNCATED and retried", async () => {
    let requests = 0;
    const server = createServer((_, response) => {
      requests++;
      response.writeHead(200, { "content-length": String(2 ** 50) });
      response.write(FILE.subarray(0, 1000));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      await rejection(httpSource(`http://127.0.0.1:${(server.address() as { port: number }).port}/huge.bin`, { allowFullDownload: true, retries: 2 }), "LIMIT_EXCEEDED");
      expect(requests).toBe(1);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test("CLOSED after close", async () => {
    const source = await httpSource(`${nginx.origin}/files/file.bin`);
    await source.close();
    await rejection(source.read(0, 10), "CLOSED");
  });

  test("reads past the end are cut at the end; nothing past it is asked for", async () => {
    const { result, entries } = await nginx.requests(async () => {
      const source = await httpSource(`${nginx.origin}/files/file.bin`);
      return [await source.read(FILE.length - 10, 100), await source.read(FILE.length + 5, 100)];
    });
    expect(result.map((b) => b.length)).toEqual([10, 0]);
    expect(entries.map((e) => e.range)).toEqual(["bytes=0-65535", `bytes=${FILE.length - 10}-${FILE.length - 1}`]);
    expect(bytesSent(entries)).toBe(KEPT + 10);
  });

  test.each([
    ["retries", { retries: -1 }],
    ["timeout", { timeout: 0 }],
    ["concurrency", { concurrency: 1.5 }],
    ["fetch", { fetch: "no" }],
  ])("INVALID_ARGUMENT for a bad %s option", async (field, options) => {
    const error = await rejection(httpSource(faulty.url, options as object), "INVALID_ARGUMENT");
    expect(error.field).toBe(field);
  });

  test.each(["not a url", "http://[", 42])("INVALID_ARGUMENT for %s as the URL, from httpSource and openUrl (not a TypeError)", async (url) => {
    expect((await rejection(httpSource(url as string), "INVALID_ARGUMENT")).field).toBe("url");
    await rejection(openUrl(url as string), "INVALID_ARGUMENT");
  });

  test.each([2 ** 31, Number.MAX_SAFE_INTEGER])("a timeout of %i ms (past the longest timer) is the longest timer, not a TIMEOUT at once", async (timeout) => {
    const source = await httpSource(`${nginx.origin}/files/file.bin`, { timeout });
    expect(await source.read(KEPT, 10)).toEqual(FILE.subarray(KEPT, KEPT + 10));
  });
});

test("a reader's read with an aborted signal is ABORTED even for bytes kept from the first request, and asks the server nothing", async () => {
  const reader = await openUrl(`${nginx.origin}/files/small.ndp`);
  try {
    const { entries } = await nginx.requests(() => rejection(reader.read("x", { signal: AbortSignal.abort() }), "ABORTED"));
    expect(entries).toEqual([]);
    expect(Array.from((await reader.read("x")).data as Float32Array)).toEqual([1, 2, 3]);
  } finally {
    await reader.close();
  }
});
