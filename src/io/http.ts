/**
 * A file read over HTTP(S) with `Range` requests: the {@link ByteSource} behind `openUrl`.
 * Browser-safe: it uses the global `fetch` (or the one given), never a `node:` module.
 *
 * The first request asks for the file's first 64 KiB. Its answer gives the file's size (from
 * `Content-Range`), its validator (`ETag`, else `Last-Modified`) and the URL after redirects (a
 * CDN's 302 to the object store), and its bytes are kept, so that reading a header that fits in
 * them costs no other request. Every later read is one request of exactly the bytes asked for, at
 * the final URL (with `readWithCrc32`, the CRC-32 is computed chunk by chunk as the body arrives,
 * hidden behind the transfer), on the condition that the file is still the one first seen (`If-Match`, else
 * `If-Unmodified-Since`): a file replaced on the server in between is FILE_CHANGED, never a mix of
 * two versions. A server that gives neither an `ETag` nor a `Last-Modified` date leaves only the
 * size to compare: a file replaced by one of the same size is then read as it now is, under the
 * header read at open, and only the CRCs of the records read whole tell a mix of versions
 * (CHECKSUM); a file without checksums (.npy, .safetensors) cannot tell it at all. At most
 * `concurrency` requests are in flight at once.
 *
 * Failures are NdpackErrors: HTTP_ERROR with the `status` (404, 403, 5xx, an answer of other
 * bytes than asked for), RANGE_NOT_SUPPORTED (the whole file, larger than 64 KiB, for a range:
 * `allowFullDownload` accepts it and holds the file in memory), FILE_CHANGED (412, or a validator
 * or size that differs), TRUNCATED (a body shorter than its range, or cut off), IO_ERROR (no
 * answer: connection refused or reset), TIMEOUT (no complete answer within `timeout` ms), ABORTED
 * (the caller's signal; its reason is the `cause`). 5xx, 408, 429, IO_ERROR, TRUNCATED and TIMEOUT
 * are transient: retried `retries` times, waiting 100 ms, 200 ms, 400 ms... (with jitter) between, or
 * longer when the answer's `Retry-After` (seconds or a date) asks for longer; an answer that asks
 * for longer than `timeout` is not retried.
 * Errors name the URL without its query: a presigned URL's signature stays out of logs.
 *
 * Cross-origin servers must allow the request headers sent (`Range`, and `If-Match` or
 * `If-Unmodified-Since` on every read after the first, which makes browsers preflight it) and expose
 * `Content-Range` and `ETag` (CORS `Access-Control-Expose-Headers`), or the browser refuses the
 * request or hides the size and the validator.
 *
 * @module
 */
import { checkOptionNames, NdpackError, shown, type ErrorCode, type ErrorDetails } from "../errors.js";
import { crc32 } from "../crc32.js";
import { unzeroedBytes } from "../runtime.js";
import { signalOption, type ByteSource, type CheckedBytes, type ReadRequestOptions } from "./source.js";

/** Bytes the first request asks for: the whole header of most files, and small files whole. */
const INITIAL_BYTES = 64 * 1024;
const DEFAULT_RETRIES = 3;
const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Browsers open 6 connections per host over HTTP/1.1; more requests would only queue there. */
const DEFAULT_CONCURRENCY = 6;
/** Wait before the first retry; each further retry waits twice as long. */
const FIRST_BACKOFF_MS = 100;

/**
 * Request headers: a record, a list of `[name, value]` pairs, or a `Headers` object (typed without
 * the DOM library's `HeadersInit`, so that Node-only projects type-check). Each request reads them
 * afresh: a token changed in the object reaches the requests after it.
 */
export type HttpHeaders = Readonly<Record<string, string>> | Iterable<readonly [string, string]> | Headers;

/** Options of {@link httpSource} (and of `openUrl`). */
export interface HttpSourceOptions {
  /** Headers sent with every request: `Authorization`, a cookie, an API key. (A presigned URL needs none.) */
  readonly headers?: HttpHeaders;
  /** The `fetch` to use (default: the global one): a proxy agent, a test double, an instrumented client. */
  readonly fetch?: typeof fetch;
  /**
   * Times a transient failure (5xx, 408, 429, reset, truncated body, timeout) is retried (default 3),
   * after 100 ms, 200 ms, 400 ms... (half to all of it, at random), or after what the answer's
   * `Retry-After` asks for when that is longer; an answer whose `Retry-After` asks for longer than
   * `timeout` is not retried.
   */
  readonly retries?: number;
  /** Milliseconds one request may take, body included, before it fails with TIMEOUT (default 30 000; any value past 2^31 - 1, the longest timer, about 24.8 days, is that). */
  readonly timeout?: number;
  /** Most requests in flight at once (default 6); further reads wait their turn. */
  readonly concurrency?: number;
  /** Cancels every request of this source: pending and later reads fail with ABORTED. */
  readonly signal?: AbortSignal;
  /**
   * When the server ignores `Range` and answers the first request with the whole file, keep that
   * file in memory and read from it, instead of failing with RANGE_NOT_SUPPORTED (default `false`).
   */
  readonly allowFullDownload?: boolean;
}

/** The option names of {@link HttpSourceOptions}, for the check of unknown names. */
export const HTTP_SOURCE_OPTIONS = { headers: true, fetch: true, retries: true, timeout: true, concurrency: true, signal: true, allowFullDownload: true } as const satisfies Record<keyof HttpSourceOptions, true>;

/** A file on an HTTP(S) server, read with one `Range` request per read. */
export interface HttpSource extends ByteSource {
  /** The URL the reads go to: the one asked for, after redirects. */
  readonly url: string;
  /** The validator every read is conditional on: the `ETag`, else the `Last-Modified` date, else `undefined`. */
  readonly validator: string | undefined;
  /** {@link ByteSource.readWithCrc32}: one request, its body checked chunk by chunk as it arrives. */
  readWithCrc32(offset: number, length: number, crcLength: number, options?: ReadRequestOptions): Promise<CheckedBytes>;
  /** Stops further reads (they fail with CLOSED) and drops the bytes kept from the first request. */
  close(): Promise<void>;
}

interface Settings {
  readonly fetch: typeof fetch;
  readonly headers: HttpHeaders | undefined;
  readonly retries: number;
  readonly timeout: number;
  readonly signal: AbortSignal | undefined;
  readonly allowFullDownload: boolean;
}

/** What a response says about the file: where it is, how long, which version. */
interface FileIdentity {
  readonly url: string;
  readonly size: number;
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
}

/**
 * Opens a file on an HTTP(S) server for reading with `Range` requests: one request of its first
 * 64 KiB, whose bytes are kept. Throws the errors listed in the module documentation and
 * INVALID_ARGUMENT for a bad option.
 *
 * @example
 * ```ts
 * const source = await httpSource("https://example.com/model.safetensors", { headers: { authorization: `Bearer ${token}` } });
 * const first8 = await source.read(0, 8); // from the bytes kept: no request
 * ```
 */
export async function httpSource(url: string | URL, options: HttpSourceOptions = {}): Promise<HttpSource> {
  const address = parseUrl(url).href;
  checkOptionNames(options, HTTP_SOURCE_OPTIONS, "httpSource");
  const settings: Settings = {
    fetch: options.fetch ?? globalThis.fetch,
    headers: headersOption(options.headers),
    retries: integerOption(options.retries, DEFAULT_RETRIES, "retries", 0),
    // Timers take at most 2^31 - 1 ms (about 24.8 days) and fire at once past it: a longer timeout is that one.
    timeout: Math.min(integerOption(options.timeout, DEFAULT_TIMEOUT_MS, "timeout", 1), MAX_TIMER_MS),
    signal: signalOption(options.signal),
    allowFullDownload: options.allowFullDownload === true,
  };
  if (typeof settings.fetch !== "function") throw invalid("fetch", "a function", settings.fetch);
  const slots = new Slots(integerOption(options.concurrency, DEFAULT_CONCURRENCY, "concurrency", 1));
  const first = await withRetries(settings, undefined, () => slots.run(() => readFirst(settings, address), [settings.signal]));
  // Redirected to another origin (a CDN, an object store): the caller's credentials stay with the
  // origin they were given for, as fetch itself drops Authorization on such a redirect.
  const reads = new URL(first.identity.url).origin === new URL(address).origin ? settings : { ...settings, headers: withoutAuthorization(settings.headers) };
  return new RangeSource(reads, slots, first.identity, first.bytes);
}

class RangeSource implements HttpSource {
  readonly #settings: Settings;
  readonly #slots: Slots;
  readonly #identity: FileIdentity;
  /** The first bytes of the file (all of it after a full download); empty once closed. */
  #kept: Uint8Array;
  #closed = false;

  constructor(settings: Settings, slots: Slots, identity: FileIdentity, kept: Uint8Array) {
    this.#settings = settings;
    this.#slots = slots;
    this.#identity = identity;
    this.#kept = kept;
  }

  get url() {
    return this.#identity.url;
  }
  get size() {
    return this.#identity.size;
  }
  get validator() {
    return this.#identity.etag ?? this.#identity.lastModified;
  }

  async read(offset: number, length: number, options: ReadRequestOptions = {}): Promise<Uint8Array> {
    return (await this.#read(offset, length, 0, options)).bytes;
  }

  /** {@link read}, with the CRC-32 of the first `crcLength` bytes computed chunk by chunk as the body arrives. */
  async readWithCrc32(offset: number, length: number, crcLength: number, options: ReadRequestOptions = {}): Promise<CheckedBytes> {
    return this.#read(offset, length, crcLength, options);
  }

  async #read(offset: number, length: number, crcLength: number, options: ReadRequestOptions): Promise<CheckedBytes> {
    if (this.#closed) throw httpFailure("CLOSED", this.url, "the source is closed");
    signalOption(options.signal);
    for (const [field, value] of [["offset", offset], ["length", length], ["crcLength", crcLength]] as const) {
      if (!Number.isSafeInteger(value) || value < 0) throw invalid(field, "an integer of at least 0", value);
    }
    const end = Math.min(offset + length, this.size);
    if (end <= offset) return { bytes: new Uint8Array(0), crc: 0 };
    const kept = this.#kept;
    // Copies, so that no array handed out shares memory with the bytes kept for later reads.
    if (end <= kept.length) {
      const bytes = kept.slice(offset, end);
      return { bytes, crc: crcLength === 0 ? 0 : crc32(bytes.subarray(0, crcLength)) };
    }
    const from = Math.max(offset, kept.length);
    const keptPart = kept.subarray(Math.min(offset, kept.length), from);
    const signals = [this.#settings.signal, options.signal];
    // The fetched part's CRC continues from the kept part's (and restarts from it on a retry).
    const crcStart = crcLength === 0 ? 0 : crc32(keptPart.subarray(0, crcLength));
    const fetched = await withRetries(this.#settings, options.signal, () => this.#slots.run(() => this.#readRange(from, end, options.signal, Math.max(0, crcLength - keptPart.length), crcStart), signals));
    if (from === offset) return fetched;
    const bytes = new Uint8Array(end - offset);
    bytes.set(keptPart);
    bytes.set(fetched.bytes, from - offset);
    return { bytes, crc: fetched.crc };
  }

  /**
   * One request for bytes `start` to `end` (excluded) of the version first seen; the CRC-32 of its
   * first `crcLength` bytes continues from `crcStart`.
   */
  #readRange(start: number, end: number, signal: AbortSignal | undefined, crcLength: number, crcStart: number): Promise<CheckedBytes> {
    const { url, etag, lastModified } = this.#identity;
    const headers = requestHeaders(this.#settings.headers);
    headers.set("range", `bytes=${start}-${end - 1}`);
    // A weak ETag never matches If-Match (RFC 9110 §13.1.1): such servers are checked by date and by the answer's ETag.
    if (etag !== undefined && !etag.startsWith("W/")) headers.set("if-match", etag);
    else if (lastModified !== undefined) headers.set("if-unmodified-since", lastModified);
    return exchange(this.#settings, signal, url, headers, async (response) => {
      if (response.status === 412) throw fileChanged(url, "the server refused the condition (412 Precondition Failed)");
      if (response.status === 200) throw rangeIgnored(url);
      if (response.status !== 206) throw httpError(response, url);
      const range = contentRange(response, url);
      const answer = identityOf(response, url, range);
      for (const [what, first, now] of [["size", this.size, answer.size], ["ETag", etag, answer.etag], ["Last-Modified", lastModified, answer.lastModified]] as const) {
        if (first !== undefined && now !== undefined && first !== now) throw fileChanged(url, `its ${what} was ${first} and is now ${now}`);
      }
      checkAnsweredRange(range, start, end, url);
      let crc = crcStart;
      const bytes = await readBody(response, end - start, url, crcLength === 0 ? undefined : (chunk, at) => {
        if (at < crcLength) crc = crc32(chunk.subarray(0, crcLength - at), crc);
      });
      return { bytes, crc };
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#kept = new Uint8Array(0);
  }
}

/** The first request: the first {@link INITIAL_BYTES} of the file, and what the answer says about it. */
function readFirst(settings: Settings, url: string): Promise<{ identity: FileIdentity; bytes: Uint8Array }> {
  const headers = requestHeaders(settings.headers);
  headers.set("range", `bytes=0-${INITIAL_BYTES - 1}`);
  return exchange(settings, undefined, url, headers, async (response) => {
    const finalUrl = response.url || url;
    if (response.status === 416) {
      // An empty file has no byte 0: the answer is 416 with `Content-Range: bytes */0`.
      await response.body?.cancel();
      if (/^bytes \*\/0$/i.test(response.headers.get("content-range")?.trim() ?? "")) return { identity: identityOf(response, finalUrl, { start: 0, end: -1, total: 0 }), bytes: new Uint8Array(0) };
      throw httpFailure("HTTP_ERROR", finalUrl, `HTTP 416 for the first ${INITIAL_BYTES} bytes of a file that is not empty`, { status: 416 });
    }
    if (response.status === 200) {
      // The whole file instead of its first bytes: fine when it is no longer than what was asked for (an empty file, on nginx).
      // A coded body's Content-Length is the coded length; fetch hands out the decoded bytes.
      const announced = response.headers.has("content-encoding") ? NaN : Number(response.headers.get("content-length") ?? NaN);
      if (!settings.allowFullDownload && !(announced <= INITIAL_BYTES)) throw rangeIgnored(finalUrl);
      const bytes = Number.isSafeInteger(announced) ? await readBody(response, announced, finalUrl) : new Uint8Array(await response.arrayBuffer());
      return { identity: identityOf(response, finalUrl, { start: 0, end: bytes.length - 1, total: bytes.length }), bytes };
    }
    if (response.status !== 206) throw httpError(response, finalUrl);
    const range = contentRange(response, finalUrl);
    checkAnsweredRange(range, 0, Math.min(INITIAL_BYTES, range.total), finalUrl);
    return { identity: identityOf(response, finalUrl, range), bytes: await readBody(response, range.end + 1, finalUrl) };
  });
}

/** The file's size, version and final URL, from a response whose range is `range`. */
function identityOf(response: Response, url: string, range: ContentRange): FileIdentity {
  return { url, size: range.total, etag: response.headers.get("etag") ?? undefined, lastModified: response.headers.get("last-modified") ?? undefined };
}

interface ContentRange {
  readonly start: number;
  /** Last byte sent (included). */
  readonly end: number;
  readonly total: number;
}

/** The `Content-Range` of a 206 answer; a missing, unknown-size or malformed one is HTTP_ERROR. */
function contentRange(response: Response, url: string): ContentRange {
  const header = response.headers.get("content-range");
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/i.exec(header?.trim() ?? "");
  const [start, end, total] = (match?.slice(1) ?? []).map(Number);
  if (start === undefined || end === undefined || total === undefined || !Number.isSafeInteger(total) || start > end || end >= total) {
    const why = header === null ? "no Content-Range header (a cross-origin server must expose it with Access-Control-Expose-Headers)" : `a Content-Range the reader cannot use: "${header}"`;
    throw httpFailure("HTTP_ERROR", url, `a 206 answer with ${why}`, { status: response.status, field: "Content-Range" });
  }
  return { start, end, total };
}

/** The answer must hold exactly the bytes asked for, `start` to `end` (excluded): never more memory than asked for, never other bytes. */
function checkAnsweredRange(range: ContentRange, start: number, end: number, url: string): void {
  if (range.start !== start || range.end !== end - 1) {
    throw httpFailure("HTTP_ERROR", url, `asked for bytes ${start}-${end - 1}, the server sent ${range.start}-${range.end}`, { status: 206, expected: `${start}-${end - 1}`, actual: `${range.start}-${range.end}` });
  }
}

/**
 * Reads a body of exactly `length` bytes into one buffer: fewer is TRUNCATED, more is HTTP_ERROR
 * (never a larger allocation). `landed` sees each chunk, at its place, as it arrives.
 */
async function readBody(response: Response, length: number, url: string, landed?: (chunk: Uint8Array, at: number) => void): Promise<Uint8Array> {
  // Not zeroed first: every byte is written before the buffer is returned, or the read fails.
  let bytes: Uint8Array;
  try {
    bytes = unzeroedBytes(length);
  } catch (cause) {
    // Not TRUNCATED, which would be retried: asking again announces as much.
    throw httpFailure("LIMIT_EXCEEDED", url, `the answer announces ${length} bytes, more than this runtime can hold in one buffer`, { actual: length, cause });
  }
  let filled = 0;
  const reader = response.body?.getReader();
  for (;;) {
    const chunk = reader === undefined ? { done: true as const } : await reader.read();
    if (chunk.done) break;
    if (chunk.value.length > length - filled) {
      throw httpFailure("HTTP_ERROR", url, `the server sent more than the ${length} bytes it announced`, { status: response.status, expected: length });
    }
    bytes.set(chunk.value, filled);
    landed?.(chunk.value, filled);
    filled += chunk.value.length;
  }
  if (filled < length) throw httpFailure("TRUNCATED", url, `the body ended after ${filled} of its ${length} bytes`, { expected: length, actual: filled });
  return bytes;
}

/** A 200 answer to a range request: the server ignores `Range`. */
function rangeIgnored(url: string): NdpackError {
  return httpFailure("RANGE_NOT_SUPPORTED", url, "the server ignores Range requests (it answered 200 with the whole file); allowFullDownload: true downloads it into memory instead", { status: 200, limit: "allowFullDownload" });
}

/**
 * An NdpackError about `url`, which is named without its query (a presigned URL's signature stays
 * out of messages and logs).
 */
function httpFailure(code: ErrorCode, url: string, message: string, details: ErrorDetails = {}): NdpackError {
  const shown = withoutQuery(url);
  return new NdpackError(code, `${shown}: ${message}`, { ...details, url: shown });
}

/** `url` without its query and fragment. */
export function withoutQuery(url: string): string {
  return url.replace(/[?#].*$/s, "");
}

function httpError(response: Response, url: string): NdpackError {
  const error = httpFailure("HTTP_ERROR", url, `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`, { status: response.status });
  const wait = retryAfterMs(response.headers.get("retry-after"));
  if (wait !== undefined) retryAfter.set(error, wait);
  return error;
}

/** The wait (ms) the `Retry-After` of the answer behind an HTTP_ERROR asked for. */
const retryAfter = new WeakMap<NdpackError, number>();

/** A `Retry-After` (RFC 9110 §10.2.3: seconds, or an HTTP date) in milliseconds from now; `undefined` when absent or unreadable. */
function retryAfterMs(value: string | null): number | undefined {
  const text = value?.trim() ?? "";
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = text === "" ? NaN : Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function fileChanged(url: string, why: string): NdpackError {
  return httpFailure("FILE_CHANGED", url, `the file changed on the server since it was opened: ${why}`);
}

/**
 * Sends one request and hands its answer to `handle`, within `timeout` ms (body included). Every
 * failure comes out as an NdpackError: the caller's abort is ABORTED, the timer's TIMEOUT, no
 * answer IO_ERROR, an answer cut off TRUNCATED. After a failure the rest of the body is dropped
 * unread (with its connection).
 */
async function exchange<T>(settings: Settings, signal: AbortSignal | undefined, url: string, headers: Headers, handle: (response: Response) => Promise<T>): Promise<T> {
  const signals = [settings.signal, signal].filter((s): s is AbortSignal => s !== undefined);
  const aborted = () => signals.find((s) => s.aborted);
  const controller = new AbortController();
  const stop = () => controller.abort();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, settings.timeout);
  for (const s of signals) s.addEventListener("abort", stop);
  let answered = false;
  try {
    if (aborted() === undefined) {
      // Called unbound: a browser's fetch called as a method of another object throws "Illegal invocation".
      const fetchFn = settings.fetch;
      const response = await fetchFn(url, { headers, signal: controller.signal });
      answered = true;
      return await handle(response);
    }
  } catch (error) {
    controller.abort();
    if (error instanceof NdpackError) throw error;
    if (aborted() === undefined) {
      if (timedOut) throw httpFailure("TIMEOUT", url, `no complete answer within ${settings.timeout} ms`, { limit: "timeout", cause: error });
      if (answered) throw httpFailure("TRUNCATED", url, `the connection broke while the body was read (${describeCause(error)})`, { cause: error });
      // A page's fetch fails alike ("Failed to fetch") for no connection and for a CORS refusal, which only the console tells apart.
      // (Headers' keys() is typed by the DOM.Iterable library, which the project's does not include.)
      const cors = "location" in globalThis ? `; or a cross-origin server not allowing this origin (Access-Control-Allow-Origin) or ${[...(headers as unknown as Map<string, string>).keys()]} (Access-Control-Allow-Headers)` : "";
      throw httpFailure("IO_ERROR", url, `the request failed (${describeCause(error)}${cors})`, { cause: error });
    }
  } finally {
    clearTimeout(timer);
    for (const s of signals) s.removeEventListener("abort", stop);
  }
  throw httpFailure("ABORTED", url, "the read was aborted", { cause: aborted()?.reason });
}

/** The most telling part of a fetch failure: undici puts the socket error (ECONNRESET...) in `cause`. */
function describeCause(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  return String(cause?.code ?? cause?.message ?? (error as Error | undefined)?.message ?? error);
}

function isTransient(error: unknown): boolean {
  if (!(error instanceof NdpackError)) return false;
  if (error.code === "HTTP_ERROR") return error.status !== undefined && (error.status >= 500 || error.status === 408 || error.status === 429);
  return error.code === "IO_ERROR" || error.code === "TRUNCATED" || error.code === "TIMEOUT";
}

/**
 * Runs `attempt`, again after a transient failure (up to `retries` times), with exponential
 * backoff, or after the answer's `Retry-After` when it asks for longer: at most `timeout`, else the
 * failure is thrown at once (waiting less than the server asked would only be refused again).
 */
async function withRetries<T>(settings: Settings, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
  for (let retry = 0; ; retry++) {
    try {
      return await attempt();
    } catch (error) {
      if (retry >= settings.retries || !isTransient(error)) throw error;
      const asked = retryAfter.get(error as NdpackError) ?? 0;
      if (asked > settings.timeout) {
        const { code, message, status, url } = error as NdpackError;
        throw new NdpackError(code, `${message} (not retried: its Retry-After asks for ${Math.ceil(asked / 1000)} s, longer than the timeout of ${settings.timeout} ms)`, { status, url, limit: "timeout", cause: error });
      }
      await backoff(FIRST_BACKOFF_MS * 2 ** retry, asked, [settings.signal, signal]);
    }
  }
}

/**
 * Waits about `ms` (between half and all of it, so that many clients do not retry in step), and at
 * least `atLeast`; an abort ends the wait early.
 */
function backoff(ms: number, atLeast: number, signals: readonly (AbortSignal | undefined)[]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      for (const s of signals) s?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(ms * (0.5 + Math.random() / 2), atLeast));
    for (const s of signals) s?.addEventListener("abort", done);
    if (signals.some((s) => s?.aborted)) done();
  });
}

/**
 * At most `limit` tasks running at once; the others wait their turn, first come first served. A
 * task whose signal aborts while it waits runs at once, without a turn, so that it fails at once
 * (with ABORTED, before any request) instead of after the requests ahead of it.
 */
class Slots {
  #free: number;
  /**
   * The tasks waiting, first in first out from {@link #head}: Array.shift moves every element, and
   * a search for an aborted one each too, so 100,000 reads waiting at once (then aborted) cost
   * seconds to minutes. Each is called with its turn, and answers false when it was aborted (an
   * aborted task stays in the array until its turn).
   */
  #waiting: (() => boolean)[] = [];
  #head = 0;

  constructor(limit: number) {
    this.#free = limit;
  }

  async run<T>(task: () => Promise<T>, signals: readonly (AbortSignal | undefined)[]): Promise<T> {
    if (this.#free > 0) this.#free--;
    else if (!(await this.#turn(signals))) return task();
    try {
      return await task();
    } finally {
      // The slot goes to the first task waiting that was not aborted (each answers whether it
      // took it), else is freed; the tasks called are dropped once they are half of the array.
      const waiting = this.#waiting;
      let taken = false;
      while (!taken && this.#head < waiting.length) taken = waiting[this.#head++]!();
      if (!taken) this.#free++;
      if (2 * this.#head >= waiting.length) {
        this.#waiting = waiting.slice(this.#head);
        this.#head = 0;
      }
    }
  }

  /** Resolves to true when a running task hands its slot over, to false when a signal aborts first. */
  #turn(signals: readonly (AbortSignal | undefined)[]): Promise<boolean> {
    return new Promise((resolve) => {
      let waiting = true;
      const settle = (turn: boolean) => {
        waiting = false;
        for (const s of signals) s?.removeEventListener("abort", aborted);
        resolve(turn);
      };
      const aborted = () => settle(false);
      if (signals.some((s) => s?.aborted)) return resolve(false);
      this.#waiting.push(() => waiting && (settle(true), true));
      for (const s of signals) s?.addEventListener("abort", aborted, { once: true });
    });
  }
}

/** `text` with its percent escapes decoded, or `fallback` (by default `text` itself) when one is malformed (`%ff`, `%E0`). */
export function decodedOr(text: string, fallback = text): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return fallback;
  }
}

/** `headers` as the `Headers` of one request. */
function requestHeaders(headers: HttpHeaders | undefined): Headers {
  return new Headers(headers as ConstructorParameters<typeof Headers>[0]);
}

function withoutAuthorization(headers: HttpHeaders | undefined): Headers {
  const kept = requestHeaders(headers);
  kept.delete("authorization");
  return kept;
}

/**
 * `url` parsed as `fetch` takes it: a relative URL against the page's address where there is one
 * (a browser); INVALID_ARGUMENT for anything that is not a URL, and for a URL with a user name or
 * password, which `fetch` refuses (credentials go in the `headers` option).
 */
export function parseUrl(url: string | URL): URL {
  if (typeof url !== "string" && !(url instanceof URL)) throw invalid("url", "a string or a URL", url);
  let parsed: URL;
  try {
    parsed = new URL(url, (globalThis as { location?: { href?: string } }).location?.href);
  } catch (cause) {
    throw new NdpackError("INVALID_ARGUMENT", `${shown(String(url))} is not a URL`, { field: "url", cause });
  }
  if (parsed.username || parsed.password) {
    // fetch refuses such a URL (each retry would fail again), and errors would repeat the password.
    parsed.username = parsed.password = "";
    throw new NdpackError("INVALID_ARGUMENT", `${withoutQuery(parsed.href)}: a URL with a user name or password (user:password@), which fetch refuses; send credentials in an Authorization header`, { field: "url" });
  }
  return parsed;
}

function integerOption(value: unknown, fallback: number, field: string, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < min) throw invalid(field, `an integer of at least ${min}`, value);
  return value as number;
}

/** The caller's headers, checked (INVALID_ARGUMENT when fetch would refuse them) and kept as given: each request reads them again. */
function headersOption(headers: HttpSourceOptions["headers"]): HttpHeaders | undefined {
  try {
    requestHeaders(headers);
    return headers;
  } catch (error) {
    throw new NdpackError("INVALID_ARGUMENT", `headers must be a Headers object, a record or [name, value] pairs that fetch takes: ${(error as Error).message}`, { field: "headers", cause: error });
  }
}

function invalid(field: string, expected: string, value: unknown): NdpackError {
  return new NdpackError("INVALID_ARGUMENT", `${field} must be ${expected}, got ${shown(value)}`, { field });
}
