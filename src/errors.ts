/**
 * The one error type ndpack throws, with a stable `code` per failure.
 *
 * Every way a file, a buffer, an argument or the file system can be wrong maps to exactly one
 * code below; FORMAT.md ("Validation") lists the format codes in the order a reader checks them.
 * Codes are part of the public API: they never change meaning, and new ones are only added.
 *
 * @module
 */

/** Every error code ndpack can raise, grouped by where it is raised. */
export const ERROR_CODES = [
  // Preamble
  "BAD_MAGIC",
  "UNSUPPORTED_VERSION",
  "TRUNCATED",
  "HEADER_TOO_LARGE",
  "HEADER_CHECKSUM",
  // Header text and structure
  "HEADER_INVALID",
  "DUPLICATE_KEY",
  "BAD_NUMBER",
  "LIMIT_EXCEEDED",
  "DUPLICATE_NAME",
  "UNKNOWN_DTYPE",
  "UNSUPPORTED_CODEC",
  "UNSUPPORTED_CHECKSUM",
  "BAD_SHAPE",
  "SIZE_MISMATCH",
  // Layout of the data section
  "MISALIGNED",
  "OVERLAP",
  "GAP",
  "OUT_OF_BOUNDS",
  "TRAILING_BYTES",
  "BAD_PADDING",
  // Payload contents
  "CHECKSUM",
  "CODEC_ERROR",
  // API use
  "COPY_REQUIRED",
  "NOT_FOUND",
  "INVALID_ARGUMENT",
  "DTYPE_MISMATCH",
  // Files and streams (ndpack/node, streams)
  "IO_ERROR",
  "FILE_CHANGED",
  "WRITE_SIZE",
  "CLOSED",
  // HTTP(S) reads (io/http.ts); ABORTED is any cancelled read (a signal), NOT_REGULAR_FILE a path
  // that file writers (save, createWriter) may not replace
  "HTTP_ERROR",
  "RANGE_NOT_SUPPORTED",
  "TIMEOUT",
  "ABORTED",
  "NOT_REGULAR_FILE",
  // Sharded sets (FORMAT.md §12): an index, or a shard, that breaks the set's rules
  "SET_INVALID",
] as const;

/** A stable string naming one kind of failure; see {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Structured details an {@link NdpackError} may carry besides its code and message. */
export interface ErrorDetails {
  /** Name of the array the failure concerns. */
  array?: string;
  /** Where in the header: a path such as `arrays[3].shape` or `metadata.a.b`. */
  field?: string;
  /** Byte offset in the file or buffer where the problem was found. */
  offset?: number;
  /** What the reader expected (a size, an offset, a checksum...). */
  expected?: number | string;
  /** What it found instead. */
  actual?: number | string;
  /** For LIMIT_EXCEEDED and HEADER_TOO_LARGE: the option that raises the limit. */
  limit?: string;
  /** For file errors: the path involved. */
  path?: string;
  /** For errors of a message stream: the index of the message (0 for the first). */
  messageIndex?: number;
  /** For errors of a message stream: true when the next message can still be read (the failing message's length was known). */
  recoverable?: boolean;
  /** For HTTP errors: the URL asked for (after redirects). */
  url?: string;
  /** For HTTP_ERROR: the response's status, when the server answered. */
  status?: number;
  /** The underlying error (an OS error, a codec failure, an abort's reason). */
  cause?: unknown;
}

/** The {@link ErrorDetails} an {@link NdpackError} carries as fields of its own (`cause` goes to `Error`). */
const DETAIL_FIELDS = ["array", "field", "offset", "expected", "actual", "limit", "path", "messageIndex", "recoverable", "url", "status"] as const satisfies readonly Exclude<keyof ErrorDetails, "cause">[];

/**
 * The error class for every failure ndpack reports. Narrow with {@link isNdpackError} and switch on
 * `code`; the message is for people and may change between versions.
 *
 * @example
 * ```ts
 * try { decode(bytes); } catch (e) { if (isNdpackError(e) && e.code === "TRUNCATED") retry(); }
 * ```
 */
export class NdpackError extends Error {
  /** Always `"NdpackError"`. */
  override readonly name = "NdpackError";
  /** Stable machine-readable reason. */
  readonly code: ErrorCode;
  /** Name of the array the failure concerns, when there is one. */
  declare readonly array?: string;
  /** Header path of the offending field, when there is one. */
  declare readonly field?: string;
  /** Byte offset in the input where the problem was found, when known. */
  declare readonly offset?: number;
  /** Expected value, when the failure is a comparison. */
  declare readonly expected?: number | string;
  /** Actual value, when the failure is a comparison. */
  declare readonly actual?: number | string;
  /** The option that raises the limit, for LIMIT_EXCEEDED and HEADER_TOO_LARGE. */
  declare readonly limit?: string;
  /** File path involved, for file errors. */
  declare readonly path?: string;
  /** Index of the message (0 for the first), for errors of a message stream (`decodeMessages`). */
  declare readonly messageIndex?: number;
  /**
   * For errors of a message stream: `true` when the reader can go on to the next message (the
   * message's header was valid, so where it ends is known, and the source has not failed);
   * `false` when the stream is over.
   */
  declare readonly recoverable?: boolean;
  /** URL involved, for HTTP errors (after redirects). */
  declare readonly url?: string;
  /** HTTP status of the response, for HTTP_ERROR when the server answered. */
  declare readonly status?: number;

  /**
   * An error with the stable `code`, the people's `message`, and those `details` that are given as
   * its fields (`cause` as the standard `cause`).
   */
  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    // Only the details given become fields, so an error prints (and compares) without undefined ones
    // (the fields above are declared only: class fields would be own properties, undefined).
    for (const key of DETAIL_FIELDS) if (details[key] !== undefined) (this as Record<string, unknown>)[key] = details[key];
  }
}

/**
 * The error for input above one of a reader's limits: `what` says which input and how large it is
 * (`header is 120 bytes`); the message adds the limit and the option that raises it, which are
 * also `expected` and `limit` (`actual` is `actual`). LIMIT_EXCEEDED unless `code` says otherwise
 * (HEADER_TOO_LARGE for a header).
 */
export function overLimit(what: string, actual: number | string, limit: number, option: string, details: ErrorDetails = {}, code: ErrorCode = "LIMIT_EXCEEDED"): NdpackError {
  return new NdpackError(code, `${what}, more than the limit of ${limit}; raise the ${option} option to read it`, { ...details, expected: limit, actual, limit: option });
}

/** True when `value` is an {@link NdpackError} (also across bundle copies, by duck type on `code`). */
export function isNdpackError(value: unknown): value is NdpackError {
  return (
    value instanceof NdpackError ||
    (value instanceof Error &&
      value.name === "NdpackError" &&
      (ERROR_CODES as readonly string[]).includes((value as { code?: string }).code ?? ""))
  );
}

/**
 * `error` with `path` as its `path` field, when it is an {@link NdpackError} that names no path
 * yet: how readers of a file make every error they pass on say which file it was. (Errors of
 * this copy of the library only: `decode` then carries no list of every code.)
 */
export function withPath(error: unknown, path: string | undefined): unknown {
  if (path !== undefined && error instanceof NdpackError && error.path === undefined) (error as { path?: string }).path = path;
  return error;
}

/** How many names a NOT_FOUND message lists before it says how many more there are. */
const NAMES_SHOWN = 5;

/**
 * The NOT_FOUND error of every reader: it names what was asked for, where, the closest name when
 * one is near, and the names that exist (the first few and how many), so a typo fixes itself.
 * `path` is the file (or what else holds the names), carried as the error's `path` field.
 */
export function notFoundError(name: string, names: readonly string[], path?: string): NdpackError {
  const where = path ?? "this file";
  const first = names.slice(0, NAMES_SHOWN).map(shown).join(", ");
  const more = names.length > NAMES_SHOWN ? ` and ${names.length - NAMES_SHOWN} more` : "";
  const nearest = closestName(name, names);
  const hint = nearest === undefined ? "" : `; did you mean ${shown(nearest)}?`;
  const listing = names.length === 0 ? "it holds no arrays" : `it holds ${names.length} array${names.length === 1 ? "" : "s"}: ${first}${more}`;
  return new NdpackError("NOT_FOUND", `no array named ${shown(name)} in ${where}${hint} (${listing})`, { array: name, ...(path === undefined ? {} : { path }) });
}

/** Edit distance between two short strings (names, options, dtypes), for "did you mean" hints. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The candidate a mistyped `word` most likely meant: the nearest by edit distance (case ignored)
 * when at most a third of its letters differ, or the one it begins, as `compresion` begins
 * `compressionLevel`. `undefined` when nothing is that near. Only the first 1,000 candidates are
 * compared, so a file with a million arrays still answers at once.
 */
export function closestName(word: string, candidates: readonly string[]): string | undefined {
  // String(): a name asked for may be anything a caller passed (`get(undefined)` is NOT_FOUND).
  const lower = String(word).toLowerCase();
  if (lower.length === 0 || lower.length > 256) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates.slice(0, 1000)) {
    const other = candidate.toLowerCase();
    if (other.length > 256) continue;
    const distance = Math.min(editDistance(lower, other), lower.length >= 4 ? editDistance(lower, other.slice(0, lower.length)) + 1 : Infinity);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(lower.length / 3)) ? best : undefined;
}

/**
 * `value` as an error message shows what a caller passed: strings quoted, arrays and objects as
 * JSON, BigInts with their `n`. Never throws, whatever was passed (a BigInt, which JSON refuses; an
 * object with a throwing `toString` or `toJSON`; one without a prototype), so that a wrong
 * argument always ends in the NdpackError that names it.
 */
export function shown(value: unknown): string {
  try {
    return typeof value === "bigint" ? `${value}n` : typeof value === "string" || typeof value === "object" ? JSON.stringify(value, (_, v: unknown) => (typeof v === "bigint" ? `${v}n` : v)) : String(value);
  } catch {
    return typeof value;
  }
}

/** INVALID_ARGUMENT unless `names` is an array (a string would be read as a list of one-letter names). */
export function checkNameList(names: unknown, fn: string): void {
  if (!Array.isArray(names)) throw new NdpackError("INVALID_ARGUMENT", `${fn} takes an array of names, got ${typeof names}`, { field: "names" });
}

/** An option that takes one of a few values: `fallback` when absent, INVALID_ARGUMENT naming `what` for any other value. */
export function oneOf<T extends string | boolean | number>(value: unknown, allowed: readonly T[], fallback: T, what: string): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly unknown[]).includes(value)) return value as T;
  throw new NdpackError("INVALID_ARGUMENT", `${what} must be one of ${allowed.map((a) => shown(a)).join(", ")}, got ${shown(value)}`, { field: what });
}

/** A boolean option: `fallback` when absent, INVALID_ARGUMENT for anything but `true` or `false` (`verify: 0` must not quietly skip the checks). */
export function booleanOption(value: unknown, fallback: boolean, field: string): boolean {
  return oneOf(value, BOOLEANS, fallback, field);
}

const BOOLEANS = [true, false] as const;

/**
 * Rejects option names a function does not take, so that a typo (`compresion`) fails loudly
 * instead of being ignored: INVALID_ARGUMENT naming the closest option and every known one. Every
 * public function that takes an options object calls it with its own list; `known` is written as
 * `{ name: true, ... } satisfies Record<keyof TheOptions, true>`, so the compiler keeps the list
 * and the interface the same.
 */
export function checkOptionNames(options: unknown, known: Readonly<Record<string, true>>, fn: string): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new NdpackError("INVALID_ARGUMENT", `${fn}: options must be an object, got ${options === null ? "null" : Array.isArray(options) ? "an array" : typeof options}`, { field: "options" });
  }
  for (const key of Object.keys(options)) {
    if (Object.prototype.hasOwnProperty.call(known, key)) continue;
    const names = Object.keys(known);
    const nearest = closestName(key, names);
    const hint = nearest === undefined ? "" : `; did you mean ${shown(nearest)}?`;
    throw new NdpackError("INVALID_ARGUMENT", `${fn}: unknown option ${shown(key)}${hint} (${fn} takes ${names.join(", ")})`, { field: key });
  }
}
