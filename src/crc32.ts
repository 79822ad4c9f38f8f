/**
 * CRC-32 as used by zlib, gzip and PNG (ISO-HDLC: reflected polynomial 0xEDB88320,
 * initial value and final XOR 0xFFFFFFFF).
 *
 * In Node (>= 20.16) a native CRC is used (see runtime.ts for how it is reached without a `node:`
 * import): Node's `zlib.crc32` for the first 32 MiB, then the optional dependency `@node-rs/crc32`
 * (2.3x faster) where it is installed; everywhere else a pure-JS slicing-by-16 implementation.
 *
 * @module
 */
import { loadFastCrc32, nativeZlib } from "./runtime.js";

const POLYNOMIAL = 0xedb88320;
/** Bytes consumed per iteration of the fallback's main loop, one table per byte. */
const SLICES = 16;
const IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * CRC-32 of `bytes`, continuing from `previous` (the CRC of the bytes before them), so that
 * `crc32(b, crc32(a))` equals the CRC of `a` followed by `b`, as with zlib's `crc32`.
 * Only the bytes inside the view (its `byteOffset` and `byteLength`) are read.
 *
 * @example crc32(new TextEncoder().encode("123456789")) // 0xcbf43926
 * @returns the CRC as an unsigned 32-bit integer.
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  // Node 20's zlib.crc32 returns 0 instead of `previous` for an empty view of an empty buffer.
  if (bytes.length === 0) return previous >>> 0;
  if (zlibCrcBytes >= 0 && nativeCrc32 && (zlibCrcBytes += bytes.length) >= FAST_CRC_PAYBACK_BYTES) {
    zlibCrcBytes = -1;
    nativeCrc32 = loadFastCrc32() ?? nativeCrc32;
  }
  return nativeCrc32 ? nativeCrc32(bytes, previous >>> 0) : crc32Fallback(bytes, previous);
}

/** Node's zlib.crc32, then the faster `@node-rs/crc32` once it is loaded; undefined outside Node. */
let nativeCrc32 = nativeZlib.crc32;

/**
 * zlib checksums this many bytes before the faster CRC (runtime.ts `loadFastCrc32`) is loaded: the
 * load costs 1-2 ms, about what zlib's CRC loses on 32 MiB, so a program that checksums a few MiB
 * never pays it and one that has checksummed this much (and is likely to go on) gets it back.
 */
const FAST_CRC_PAYBACK_BYTES = 32 * 1024 * 1024;
/** Bytes zlib has checksummed; -1 once the faster CRC is loaded or failed to load. */
let zlibCrcBytes = 0;

/** Which CRC-32 {@link crc32} runs now; for tests and benchmarks. @internal */
export function crc32Engine(): "@node-rs/crc32" | "zlib" | "javascript" {
  return nativeCrc32 === undefined ? "javascript" : nativeCrc32 === nativeZlib.crc32 ? "zlib" : "@node-rs/crc32";
}

/**
 * A pure-JS, slicing-by-16 CRC for any reflected polynomial, with {@link crc32}'s contract; its
 * tables are built on first use. ndpack uses it with CRC-32's polynomial ({@link crc32Fallback});
 * the benchmark builds CRC-32C with it, to compare the two polynomials in one loop (FORMAT.md §6).
 */
export function slicingCrc(polynomial: number): (bytes: Uint8Array, previous?: number) => number {
  let tables: Uint32Array | undefined;
  return (bytes, previous = 0) => {
    tables ??= slicingTables(polynomial);
    // Word reads need 4-byte alignment (typed-array views cannot be unaligned) and little-endian
    // byte order (so a word's low byte is the first byte in the stream).
    const headLength = IS_LITTLE_ENDIAN ? Math.min(bytes.length, -bytes.byteOffset & 3) : bytes.length;
    const wordCount = ((bytes.length - headLength) >>> 4) << 2;
    const words = wordCount > 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset + headLength, wordCount) : NO_WORDS;
    return ~updateRange(tables, ~previous, bytes, words, 0, bytes.length, headLength) >>> 0;
  };
}

/**
 * The CRC-32 of `bytes[from, to)`, where `words` views the same memory as `bytes` from the same,
 * 4-byte-aligned start: for many small payloads of one buffer (encoding 10,000 arrays of 256
 * bytes), where a call into native code and a word view per payload cost more than the CRC.
 */
export const crc32Within = /* @__PURE__ */ withinCrc();

/**
 * {@link crc32Within} over tables that its closure holds as a constant (filled on first use): the
 * compiler then knows their length and drops the bounds check of every lookup, which makes 256
 * bytes a third faster (84 against 114 ns) than tables in a module variable (bundlers turn a
 * module's `const` into a `var`).
 */
function withinCrc(): (bytes: Uint8Array, words: Uint32Array, from: number, to: number) => number {
  const tables = new Uint32Array(SLICES * 256);
  return (bytes, words, from, to) => {
    if (tables[1] === 0) tables.set(slicingTables(POLYNOMIAL));
    const headLength = IS_LITTLE_ENDIAN ? Math.min(to - from, -from & 3) : to - from;
    return ~updateRange(tables, -1, bytes, words, from, to, headLength) >>> 0;
  };
}

const NO_WORDS = new Uint32Array(0);

/**
 * Consumes `bytes[from, to)`: `headLength` bytes one at a time up to a word boundary, then 16
 * bytes at a time as words (`words[i]` holds bytes `4i` to `4i + 3` of `bytes`, or, for a view of
 * `bytes` from `headLength` on, bytes `headLength + 4i` on: `headLength >> 2` is 0), then the
 * rest one at a time.
 */
function updateRange(tables: Uint32Array, crc: number, bytes: Uint8Array, words: Uint32Array, from: number, to: number, headLength: number): number {
  const wordsFrom = from + headLength;
  const wordsTo = wordsFrom + (((to - wordsFrom) >>> 4) << 4);
  crc = updateBytewise(tables, crc, bytes, from, wordsFrom);
  if (wordsTo > wordsFrom) crc = updateSlicingBy16(tables, crc, words, wordsFrom >> 2, wordsTo >> 2);
  return updateBytewise(tables, crc, bytes, wordsTo, to);
}

/**
 * The pure-JS implementation behind {@link crc32}, always available; exported so tests and
 * benchmarks can compare it with the native one. Same contract as {@link crc32}.
 *
 * @example crc32Fallback(new Uint8Array([1, 2, 3]), 0) // 0x55bc801d
 */
export const crc32Fallback = slicingCrc(POLYNOMIAL);

/**
 * Table `t` (entries `t * 256 .. t * 256 + 255`) maps a byte to its CRC contribution when
 * `t` more zero bytes follow it; table 0 is the classic byte-at-a-time table.
 */
function slicingTables(polynomial: number): Uint32Array {
  const tables = new Uint32Array(SLICES * 256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? polynomial ^ (crc >>> 1) : crc >>> 1;
    tables[byte] = crc;
  }
  for (let byte = 0; byte < 256; byte++) {
    let crc = tables[byte]!;
    for (let t = 1; t < SLICES; t++) {
      crc = tables[crc & 0xff]! ^ (crc >>> 8);
      tables[t * 256 + byte] = crc;
    }
  }
  return tables;
}

function updateBytewise(
  tables: Uint32Array,
  crc: number,
  bytes: Uint8Array,
  start: number,
  end: number,
): number {
  for (let i = start; i < end; i++) crc = tables[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return crc;
}

/** Consumes 16 bytes (4 little-endian words) per step, `words[from, to)`; `to - from` is a multiple of 4. */
function updateSlicingBy16(t: Uint32Array, crc: number, words: Uint32Array, from: number, to: number): number {
  for (let i = from; i < to; i += 4) {
    const w0 = crc ^ words[i]!;
    const w1 = words[i + 1]!;
    const w2 = words[i + 2]!;
    const w3 = words[i + 3]!;
    crc =
      t[0xf00 + (w0 & 0xff)]! ^
      t[0xe00 + ((w0 >>> 8) & 0xff)]! ^
      t[0xd00 + ((w0 >>> 16) & 0xff)]! ^
      t[0xc00 + (w0 >>> 24)]! ^
      t[0xb00 + (w1 & 0xff)]! ^
      t[0xa00 + ((w1 >>> 8) & 0xff)]! ^
      t[0x900 + ((w1 >>> 16) & 0xff)]! ^
      t[0x800 + (w1 >>> 24)]! ^
      t[0x700 + (w2 & 0xff)]! ^
      t[0x600 + ((w2 >>> 8) & 0xff)]! ^
      t[0x500 + ((w2 >>> 16) & 0xff)]! ^
      t[0x400 + (w2 >>> 24)]! ^
      t[0x300 + (w3 & 0xff)]! ^
      t[0x200 + ((w3 >>> 8) & 0xff)]! ^
      t[0x100 + ((w3 >>> 16) & 0xff)]! ^
      t[w3 >>> 24]!;
  }
  return crc;
}
