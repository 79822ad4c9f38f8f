/**
 * A byte-level ndpack builder written from FORMAT.md alone: it shares no code with `src/`, so the
 * golden fixtures and the error tests check the library against a second, independent reading of
 * the spec. It writes whatever it is given, valid or not: a header object or raw header text, any
 * version, any payload bytes, with the preamble's length and CRC computed correctly unless a case
 * overrides them.
 *
 * Used by `scripts/generate-fixtures.ts` (the conformance vectors) and `test/errors.test.ts`.
 * Node-only (it takes CRC-32 from `node:zlib`), which is fine for scripts and tests.
 *
 * @module
 */
import { deflateRaw } from "pako";
import { crc32 as zlibCrc32 } from "node:zlib";

/** §1: `\x89 N D P \r \n \x1a \n`. */
export const MAGIC: Uint8Array = Uint8Array.of(0x89, 0x4e, 0x44, 0x50, 0x0d, 0x0a, 0x1a, 0x0a);
/** §1: magic, major, minor, header length, header CRC. */
export const PREAMBLE_SIZE = 20;

/** §3: item size and word size (the unit of byte order and shuffling) of every dtype. */
export const DTYPE_SIZES: Readonly<Record<string, { itemSize: number; wordSize: number }>> = Object.freeze({
  bool: { itemSize: 1, wordSize: 1 },
  int8: { itemSize: 1, wordSize: 1 },
  int16: { itemSize: 2, wordSize: 2 },
  int32: { itemSize: 4, wordSize: 4 },
  int64: { itemSize: 8, wordSize: 8 },
  uint8: { itemSize: 1, wordSize: 1 },
  uint16: { itemSize: 2, wordSize: 2 },
  uint32: { itemSize: 4, wordSize: 4 },
  uint64: { itemSize: 8, wordSize: 8 },
  float16: { itemSize: 2, wordSize: 2 },
  bfloat16: { itemSize: 2, wordSize: 2 },
  float32: { itemSize: 4, wordSize: 4 },
  float64: { itemSize: 8, wordSize: 8 },
  complex64: { itemSize: 8, wordSize: 4 },
  complex128: { itemSize: 16, wordSize: 8 },
  float8_e4m3fn: { itemSize: 1, wordSize: 1 },
  float8_e5m2: { itemSize: 1, wordSize: 1 },
});

/** `alignUp(x, a)` of FORMAT.md: the smallest multiple of `a` that is >= `x`. */
export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/**
 * CRC-32 (ISO 3309 / zlib / PNG) of `bytes`, continuing from `previous`. Empty input returns
 * `previous` itself: Node 20's `zlib.crc32` returns 0 instead for an empty view of a zero-length
 * ArrayBuffer (such as `new TextEncoder().encode("")`).
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  return bytes.length === 0 ? previous >>> 0 : zlibCrc32(bytes, previous) >>> 0;
}

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** The concatenation of `parts`. */
export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Four bytes of `value` as u32 little-endian. */
export function u32le(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0, true);
  return out;
}

/** Reverses the bytes of every `wordSize`-byte word (little-endian to big-endian and back). */
export function swapWords(bytes: Uint8Array, wordSize: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += wordSize) {
    for (let j = 0; j < wordSize; j++) out[i + j] = bytes[i + wordSize - 1 - j]!;
  }
  return out;
}

/** §5: byte j of word i goes to position j * words + i. */
export function shuffleBytes(bytes: Uint8Array, wordSize: number): Uint8Array {
  const words = bytes.length / wordSize;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < words; i++) for (let j = 0; j < wordSize; j++) out[j * words + i] = bytes[i * wordSize + j]!;
  return out;
}

/**
 * A raw DEFLATE stream (RFC 1951) of `bytes` at level 6. pako rather than Node's zlib: it is pure
 * JavaScript pinned by the lockfile, so its bytes do not change with the Node version (Node's
 * bundled zlib has changed its output before), which keeps the fixtures reproducible; and it is
 * the library's compressor in browsers, which test/fixtures.test.ts checks reproduces them. With
 * its newer hash (`legacyHash: false`, as the library's), the bytes are those of Node 20's zlib.
 */
export function rawDeflate(bytes: Uint8Array, level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 6): Uint8Array {
  // @types/pako predates pako 2.2's `legacyHash`.
  return deflateRaw(bytes, { level, legacyHash: false } as { level: typeof level });
}

// ---------------------------------------------------------------------------------------------
// JSON as FORMAT.md §8 writes it

function canonicalNumber(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`fixture-builder: ${value} has no JSON form`);
  if (Object.is(value, -0)) return "-0";
  if (Number.isInteger(value) && !Number.isSafeInteger(value)) return value.toExponential();
  return String(value);
}

/**
 * §8: compact JSON, keys in insertion order, strings escaped as `JSON.stringify` does, `-0` as
 * `-0` and integral numbers beyond 2^53-1 in `toExponential()` form. Own enumerable keys only, so
 * an own `"__proto__"` key is written like any other.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return canonicalNumber(value);
    case "boolean":
      return value ? "true" : "false";
    case "object":
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
      return `{${Object.keys(value as object)
        .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`)
        .join(",")}}`;
    default:
      throw new Error(`fixture-builder: ${typeof value} has no JSON form`);
  }
}

/** An object with an own property `key` (also for `"__proto__"`, which plain assignment would not create). */
export function withOwn<T extends object>(object: T, key: string, value: unknown): T {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  return object;
}

// ---------------------------------------------------------------------------------------------
// Files

/** What goes into a file; every field but `header` is optional. */
export interface FileParts {
  /** The header: raw bytes, raw text (written as UTF-8, as is), or an object written with {@link canonicalJson}. */
  readonly header: Uint8Array | string | object;
  /** Major version (u16); default 1. */
  readonly major?: number;
  /** Minor version (u16); default 0. */
  readonly minor?: number;
  /** Header length to claim in the preamble; default the header's real length. */
  readonly headerLength?: number;
  /** Header CRC to write; default the correct one (over preamble bytes 8..15 and the header). */
  readonly headerCrc?: number;
  /** Alignment used to place the data section; default the header object's `alignment`, else 8. */
  readonly alignment?: number;
  /** The bytes between the header and the data section; default zeros up to alignUp(20 + H, alignment). */
  readonly padding?: Uint8Array;
  /** The data section. */
  readonly data?: Uint8Array;
}

/** Header bytes of `header` as {@link FileParts} describes. */
export function headerBytes(header: FileParts["header"]): Uint8Array {
  if (header instanceof Uint8Array) return header;
  return utf8(typeof header === "string" ? header : canonicalJson(header));
}

/** §1: the 20-byte preamble for `header`. */
export function preamble(header: Uint8Array, parts: Omit<FileParts, "header"> = {}): Uint8Array {
  const out = new Uint8Array(PREAMBLE_SIZE);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint16(8, parts.major ?? 1, true);
  view.setUint16(10, parts.minor ?? 0, true);
  view.setUint32(12, parts.headerLength ?? header.length, true);
  view.setUint32(16, parts.headerCrc ?? crc32(header, crc32(out.subarray(8, 16))), true);
  return out;
}

/** A whole file: preamble, header, padding to the data section, data section. */
export function buildFile(parts: FileParts): Uint8Array {
  const header = headerBytes(parts.header);
  const declared = (parts.header as { alignment?: unknown }).alignment;
  const alignment = parts.alignment ?? (typeof declared === "number" && declared >= 1 ? declared : 8);
  const padding = parts.padding ?? new Uint8Array(alignUp(PREAMBLE_SIZE + header.length, alignment) - PREAMBLE_SIZE - header.length);
  return concat(preamble(header, parts), header, padding, parts.data ?? new Uint8Array(0));
}

/** The data section of §4 for records with the given stored payloads. */
export function layoutRecords(payloads: readonly Uint8Array[], alignment: number, checksum: string): { offsets: number[]; dataLength: number; data: Uint8Array } {
  const c = checksum === "crc32" ? 4 : 0;
  const offsets: number[] = [];
  let end = 0;
  for (const payload of payloads) {
    const offset = alignUp(end, alignment);
    offsets.push(offset);
    end = offset + payload.length + c;
  }
  const data = new Uint8Array(end);
  payloads.forEach((payload, i) => {
    data.set(payload, offsets[i]!);
    if (c === 4) data.set(u32le(crc32(payload)), offsets[i]! + payload.length);
  });
  return { offsets, dataLength: end, data };
}

/** One array entry, with its stored payload. */
export interface EntrySpec {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Default "C". */
  readonly order?: string;
  /** Default "little". */
  readonly byteOrder?: string;
  /** Omitted from the header when absent. */
  readonly codec?: string;
  /** The payload exactly as stored (already swapped and compressed). */
  readonly stored: Uint8Array;
  /** byteLength to declare; default `stored.length`. */
  readonly byteLength?: number;
}

/** The options of a file. */
export interface FileSpec {
  readonly alignment?: number;
  readonly checksum?: string;
  readonly metadata?: object;
  readonly arrays: readonly EntrySpec[];
}

/** A header object in §2.2 key order and the data section that goes with it, ready to be altered. */
export function canonicalParts(spec: FileSpec): { header: Record<string, unknown> & { arrays: Record<string, unknown>[] }; data: Uint8Array; alignment: number } {
  const alignment = spec.alignment ?? 64;
  const checksum = spec.checksum ?? "crc32";
  const { offsets, dataLength, data } = layoutRecords(spec.arrays.map((a) => a.stored), alignment, checksum);
  const arrays = spec.arrays.map((a, i) => ({
    name: a.name,
    dtype: a.dtype,
    shape: [...a.shape],
    order: a.order ?? "C",
    byteOrder: a.byteOrder ?? "little",
    ...(a.codec === undefined ? {} : { codec: a.codec }),
    offset: offsets[i]!,
    byteLength: a.byteLength ?? a.stored.length,
  }));
  return { header: { alignment, checksum, dataLength, metadata: spec.metadata ?? {}, arrays }, data, alignment };
}

/** A canonical file (§8) holding `spec`'s arrays. */
export function canonicalFile(spec: FileSpec): Uint8Array {
  const { header, data, alignment } = canonicalParts(spec);
  return buildFile({ header, data, alignment });
}

/** Offset of the data section of a file built with {@link buildFile} (reads H from the preamble). */
export function dataStart(file: Uint8Array, alignment: number): number {
  const headerLength = new DataView(file.buffer, file.byteOffset, PREAMBLE_SIZE).getUint32(12, true);
  return alignUp(PREAMBLE_SIZE + headerLength, alignment);
}

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}
