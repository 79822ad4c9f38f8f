/**
 * Pieces shared by the interop readers and writers: option checks, the view-or-copy rule of the
 * core decoder applied to foreign payloads, and helpers for names, little-endian u64 fields and
 * Fortran-to-C reordering. Internal: nothing here is exported from `ndpack/interop`.
 *
 * @module
 */
import { copySwapped } from "../bytes.js";
import { copyOut, copyRequired, type ArrayInfo, type NdArray } from "../decode.js";
import { DTYPES, isDtype, unknownDtypeMessage, type Dtype, type DtypeInfo } from "../dtypes.js";
import { NdpackError, overLimit, shown } from "../errors.js";
import type { ByteOrder, Order } from "../format.js";
import { elementCount } from "../header.js";
import { HOST_BYTE_ORDER } from "../runtime.js";

/** How a reader hands out payloads, as in the core's `decode` option of the same name. */
export type CopyMode = "auto" | "never" | "always";

/** Checks a positive integer limit option, returning `fallback` when it is absent. */
/**
 * Default of `maxTotalDecodedBytes`: what readers that inflate every array at once (`fromNdpack`,
 * `fromNpz`) may inflate in all. Each array is bounded by `maxDecodedBytes` (1 GiB), but a file of
 * a few MiB could hold many such bombs; twice that bound leaves room for any one array and more.
 */
export const DEFAULT_MAX_TOTAL_DECODED_BYTES = 2 * 1024 * 1024 * 1024;

/**
 * LIMIT_EXCEEDED, before anything is inflated, when the compressed arrays of a file decode to more
 * than `limit` bytes in all (their declared sizes, from the headers).
 */
export function checkTotalDecoded(sizes: Iterable<number>, limit: number): void {
  let total = 0;
  for (const size of sizes) total += size;
  if (total > limit) {
    throw overLimit(`the compressed arrays decode to ${total} bytes in all`, total, limit, "maxTotalDecodedBytes");
  }
}


/** Checks a dtype option. */
export function checkDtype(value: unknown, option: string): Dtype {
  if (!isDtype(value)) throw new NdpackError("INVALID_ARGUMENT", unknownDtypeMessage(value, `option ${option}`), { field: option });
  return value;
}

/** Checks a metadata option: a plain object (or none). */
export function checkMetadata(metadata: unknown): Readonly<Record<string, unknown>> {
  if (metadata === undefined) return {};
  const proto = metadata !== null && typeof metadata === "object" ? Object.getPrototypeOf(metadata) : undefined;
  if (proto !== Object.prototype && proto !== null) throw new NdpackError("INVALID_ARGUMENT", "metadata must be a plain JSON object", { field: "metadata" });
  return metadata as Readonly<Record<string, unknown>>;
}

/** Checks that an array name to write is a Unicode string not seen before. */
export function checkName(name: unknown, seen: Set<string>): string {
  // An empty name is legal in .npz (member ".npy") and .safetensors files, as numpy and safetensors write it.
  if (typeof name !== "string" || !name.isWellFormed()) {
    throw new NdpackError("INVALID_ARGUMENT", `array names must be Unicode strings, got ${shown(name)}`, { field: "name" });
  }
  if (seen.has(name)) throw new NdpackError("DUPLICATE_NAME", `array name ${shown(name)} is given twice`, { array: name });
  seen.add(name);
  return name;
}

/** Reads a little-endian u64 at `at`; `undefined` when it exceeds 2^53-1 (no such offset or size fits in memory). */
export function readU64(view: DataView, at: number): number | undefined {
  const value = view.getBigUint64(at, true);
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(value);
}

/** The element count and byte size of a shape, or `undefined` when the size exceeds 2^53-1. */
export function sizeOf(shape: readonly number[], dtype: DtypeInfo): { count: number; nbytes: number } | undefined {
  const count = elementCount(shape, dtype.itemSize);
  return count === undefined ? undefined : { count, nbytes: count * dtype.itemSize };
}

/**
 * The core decoder's view-or-copy rule for a payload a reader found in a foreign file, described by
 * `info` (as the result reports it: its stored form is `codec`, `offset` and `byteLength`), whose
 * bytes are `payload`, exactly the array's: memory the caller gave, or, when `fresh`, memory the
 * reader allocated (an inflated zip member). A typed-array view of the payload when its byte order
 * is this machine's and its address is a multiple of the word size, a copy (byte-swapped when
 * needed) otherwise, or always with `copy: "always"`. `copy: "never"` turns a needed copy into
 * COPY_REQUIRED.
 */
export function viewOrCopy(info: Omit<ArrayInfo, "nbytes">, payload: Uint8Array, fresh: boolean, copy: CopyMode): NdArray {
  const dtype = DTYPES[info.dtype];
  const { name } = info;
  const wordSize = dtype.wordSize;
  const swap = wordSize > 1 && info.byteOrder !== HOST_BYTE_ORDER;
  let bytes = payload;
  let copied = fresh;
  if (fresh && copy === "never") throw copyRequired(name, "is compressed");
  if (swap || (copy === "always" && !fresh) || payload.byteOffset % wordSize !== 0) {
    bytes = copyOut(name, payload, wordSize, info.byteOrder, swap, copy);
    copied = true;
  }
  return {
    name,
    dtype: dtype.name,
    shape: Object.freeze([...info.shape]),
    order: info.order,
    byteOrder: info.byteOrder,
    codec: info.codec,
    offset: info.offset,
    byteLength: info.byteLength,
    nbytes: payload.length,
    data: new dtype.view(bytes.buffer, bytes.byteOffset, payload.length / wordSize),
    copied,
  } as NdArray; // the table's row for `dtype` makes `data` the type DtypeData names for it
}

/**
 * The bytes of an array in C order, for formats that only hold C order: `source` itself when it
 * already is (C order, or at most one dimension longer than 1), else a reordered copy.
 */
export function cOrderBytes(source: Uint8Array, shape: readonly number[], order: Order, itemSize: number): Uint8Array {
  if (order === "C" || shape.filter((d) => d > 1).length <= 1) return source;
  const rank = shape.length;
  const strides: number[] = [];
  let stride = itemSize;
  for (const dim of shape) {
    strides.push(stride);
    stride *= dim;
  }
  const out = new Uint8Array(source.length);
  const index = new Array<number>(rank).fill(0);
  let from = 0;
  for (let to = 0; to < out.length; to += itemSize) {
    for (let b = 0; b < itemSize; b++) out[to + b] = source[from + b]!;
    // Next C-order index: the last dimension varies fastest.
    for (let k = rank - 1; k >= 0; k--) {
      index[k]!++;
      from += strides[k]!;
      if (index[k]! < shape[k]!) break;
      from -= strides[k]! * shape[k]!;
      index[k] = 0;
    }
  }
  return out;
}

/**
 * `source` (this machine's byte order) in the given byte order: `source` itself when nothing
 * changes, else a swapped copy.
 */
export function inByteOrder(source: Uint8Array, byteOrder: ByteOrder, wordSize: number): Uint8Array {
  if (wordSize === 1 || byteOrder === HOST_BYTE_ORDER) return source;
  const out = new Uint8Array(source.length);
  copySwapped(source, out, 0, wordSize);
  return out;
}

