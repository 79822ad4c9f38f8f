/**
 * An independent reading of FORMAT.md for the core tests: the dtype table of §3, the layout of §4,
 * the canonical header text of §8, the shuffle of §5. Nothing here imports `src/`, so the expected
 * bytes these helpers produce come from the spec, not from the code under test. CRC-32 and inflate
 * are Node's own (`node:zlib`).
 */
import { crc32 as zlibCrc32, inflateRawSync } from "node:zlib";
import { expect } from "vitest";

export type SpecDtype =
  | "bool"
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "uint8"
  | "uint16"
  | "uint32"
  | "uint64"
  | "float16"
  | "bfloat16"
  | "float32"
  | "float64"
  | "complex64"
  | "complex128"
  | "float8_e4m3fn"
  | "float8_e5m2";

type AnyTypedArrayCtor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Uint16ArrayConstructor
  | Int16ArrayConstructor
  | Uint32ArrayConstructor
  | Int32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

/** Float16Array where the runtime has one (FORMAT.md §3: else the raw bits as Uint16Array). */
const Float16ArrayIfAny = (globalThis as { Float16Array?: Uint16ArrayConstructor }).Float16Array;

export interface SpecDtypeRow {
  /** Bytes per element (§3). */
  readonly itemSize: number;
  /** Bytes per word: the item size, or half of it for complex dtypes (§3). */
  readonly wordSize: number;
  /** The typed array a caller hands to `encode` for this dtype in these tests. */
  readonly input: AnyTypedArrayCtor;
  /** The JavaScript view §3 says decoded `data` is. */
  readonly decoded: AnyTypedArrayCtor;
}

/** FORMAT.md §3, transcribed. */
export const SPEC_DTYPES: Readonly<Record<SpecDtype, SpecDtypeRow>> = {
  bool: { itemSize: 1, wordSize: 1, input: Uint8Array, decoded: Uint8Array },
  int8: { itemSize: 1, wordSize: 1, input: Int8Array, decoded: Int8Array },
  int16: { itemSize: 2, wordSize: 2, input: Int16Array, decoded: Int16Array },
  int32: { itemSize: 4, wordSize: 4, input: Int32Array, decoded: Int32Array },
  int64: { itemSize: 8, wordSize: 8, input: BigInt64Array, decoded: BigInt64Array },
  uint8: { itemSize: 1, wordSize: 1, input: Uint8Array, decoded: Uint8Array },
  uint16: { itemSize: 2, wordSize: 2, input: Uint16Array, decoded: Uint16Array },
  uint32: { itemSize: 4, wordSize: 4, input: Uint32Array, decoded: Uint32Array },
  uint64: { itemSize: 8, wordSize: 8, input: BigUint64Array, decoded: BigUint64Array },
  float16: { itemSize: 2, wordSize: 2, input: Uint16Array, decoded: Float16ArrayIfAny ?? Uint16Array },
  bfloat16: { itemSize: 2, wordSize: 2, input: Uint16Array, decoded: Uint16Array },
  float32: { itemSize: 4, wordSize: 4, input: Float32Array, decoded: Float32Array },
  float64: { itemSize: 8, wordSize: 8, input: Float64Array, decoded: Float64Array },
  complex64: { itemSize: 8, wordSize: 4, input: Float32Array, decoded: Float32Array },
  complex128: { itemSize: 16, wordSize: 8, input: Float64Array, decoded: Float64Array },
  float8_e4m3fn: { itemSize: 1, wordSize: 1, input: Uint8Array, decoded: Uint8Array },
  float8_e5m2: { itemSize: 1, wordSize: 1, input: Uint8Array, decoded: Uint8Array },
};

export const SPEC_DTYPE_NAMES = Object.keys(SPEC_DTYPES) as SpecDtype[];

/** `alignUp(x, a)` of FORMAT.md. */
export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/** The bytes of any typed array or view, honouring its offset and length. */
export function bytesOfView(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** A copy of `bytes` with every `wordSize`-byte word reversed (little <-> big endian). */
export function swapWords(bytes: Uint8Array, wordSize: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += wordSize) {
    for (let j = 0; j < wordSize; j++) out[i + j] = bytes[i + wordSize - 1 - j]!;
  }
  return out;
}

/** §5 unshuffle: the byte at position `j * m + i` of the shuffled bytes is byte j of word i. */
export function unshuffle(shuffled: Uint8Array, wordSize: number): Uint8Array {
  const m = shuffled.length / wordSize;
  const out = new Uint8Array(shuffled.length);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < wordSize; j++) out[i * wordSize + j] = shuffled[j * m + i]!;
  }
  return out;
}

/** §8: a metadata number as canonical writers write it. */
function canonicalNumber(value: number): string {
  if (Object.is(value, -0)) return "-0";
  if (Number.isInteger(value) && Math.abs(value) > Number.MAX_SAFE_INTEGER) return value.toExponential();
  return String(value);
}

/** §8: the canonical JSON text of a metadata value (key order as given, -0 kept, big integers in exponent form). */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "number":
      return canonicalNumber(value);
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "object":
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
      return `{${Object.keys(value)
        .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`)
        .join(",")}}`;
    default:
      throw new Error(`not JSON: ${typeof value}`);
  }
}

/** One array as the test expects the writer to describe it. */
export interface ExpectedEntry {
  readonly name: string;
  readonly dtype: SpecDtype;
  readonly shape: readonly number[];
  readonly order: "C" | "F";
  readonly byteOrder: "little" | "big";
  /** The array's bytes in the file's byte order: what the stored payload must decode to. */
  readonly fileOrderBytes: Uint8Array;
  /** Codecs the writer may have used (the requested one, or "none" where §5 lets it skip). */
  readonly allowedCodecs: readonly string[];
}

export interface ExpectedFile {
  readonly alignment: number;
  readonly checksum: "crc32" | "none";
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly entries: readonly ExpectedEntry[];
}

/** What {@link checkAgainstSpec} found: where each payload is and how it is stored. */
export interface SpecLayout {
  readonly headerLength: number;
  readonly dataStart: number;
  readonly entries: readonly { readonly start: number; readonly byteLength: number; readonly codec: string }[];
}

const MAGIC = [0x89, 0x4e, 0x44, 0x50, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Checks `bytes` against FORMAT.md §1, §2, §4, §5, §6 and §8 for the file the test asked for:
 * preamble, header CRC, the exact canonical header text, zero padding, record offsets, payload
 * CRCs, and each stored payload's decoded bytes. Returns where the payloads are.
 */
export function checkAgainstSpec(bytes: Uint8Array, expected: ExpectedFile): SpecLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  expect([...bytes.subarray(0, 8)], "magic").toEqual(MAGIC);
  expect(view.getUint16(8, true), "major version").toBe(1);
  expect(view.getUint16(10, true), "minor version").toBe(0);
  const headerLength = view.getUint32(12, true);
  const headerBytes = bytes.subarray(20, 20 + headerLength);
  const headerCrc = zlibCrc32(headerBytes, zlibCrc32(bytes.subarray(8, 16)));
  expect(view.getUint32(16, true), "header CRC").toBe(headerCrc);
  const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
  const parsed = JSON.parse(text) as { arrays: { byteLength: number; codec?: string }[] };

  const checksumSize = expected.checksum === "crc32" ? 4 : 0;
  const { alignment } = expected;
  const dataStart = alignUp(20 + headerLength, alignment);
  let end = 0;
  const placed = expected.entries.map((entry, i) => {
    const listed = parsed.arrays[i];
    expect(listed, `entry ${i} in the header`).toBeDefined();
    const codec = listed!.codec ?? "none";
    expect(expected.entries[i]!.allowedCodecs, `codec of ${JSON.stringify(entry.name)}`).toContain(codec);
    const byteLength = codec === "none" ? entry.fileOrderBytes.length : listed!.byteLength;
    const offset = i === 0 ? 0 : alignUp(end, alignment);
    end = offset + byteLength + checksumSize;
    return { entry, codec, offset, byteLength };
  });
  const dataLength = end;

  const arraysText = placed
    .map(({ entry, codec, offset, byteLength }) => {
      const codecText = codec === "none" ? "" : `,"codec":${JSON.stringify(codec)}`;
      return (
        `{"name":${JSON.stringify(entry.name)},"dtype":"${entry.dtype}","shape":[${entry.shape.join(",")}],` +
        `"order":"${entry.order}","byteOrder":"${entry.byteOrder}"${codecText},"offset":${offset},"byteLength":${byteLength}}`
      );
    })
    .join(",");
  const canonical =
    `{"alignment":${alignment},"checksum":"${expected.checksum}","dataLength":${dataLength},` +
    `"metadata":${canonicalJson(expected.metadata)},"arrays":[${arraysText}]}`;
  expect(text, "canonical header text (FORMAT.md §8)").toBe(canonical);

  expect(bytes.length, "file length = D + dataLength").toBe(dataStart + dataLength);
  expect(allZero(bytes.subarray(20 + headerLength, dataStart)), "header padding is zero").toBe(true);

  const entries = placed.map(({ entry, codec, offset, byteLength }, i) => {
    const start = dataStart + offset;
    const stored = bytes.subarray(start, start + byteLength);
    if (checksumSize > 0) {
      expect(view.getUint32(start + byteLength, true), `payload CRC of ${JSON.stringify(entry.name)}`).toBe(zlibCrc32(stored));
    }
    const nextStart = i + 1 < placed.length ? dataStart + placed[i + 1]!.offset : bytes.length;
    expect(allZero(bytes.subarray(start + byteLength + checksumSize, nextStart)), "record padding is zero").toBe(true);
    let decoded: Uint8Array = stored;
    if (codec !== "none") {
      decoded = new Uint8Array(inflateRawSync(stored));
      if (codec === "shuffle+deflate") decoded = unshuffle(decoded, SPEC_DTYPES[entry.dtype].wordSize);
    }
    expect(equalBytes(decoded, entry.fileOrderBytes), `stored payload of ${JSON.stringify(entry.name)} (${codec})`).toBe(true);
    return { start, byteLength, codec };
  });
  return { headerLength, dataStart, entries };
}

export function allZero(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** Hex of some bytes, for readable failure messages. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}
