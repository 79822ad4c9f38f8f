/**
 * Conversions between ndpack files and .npy, .npz and .safetensors bytes, keeping what the target
 * can hold:
 *
 * | | arrays | dtypes | order | metadata |
 * |---|---|---|---|---|
 * | .npy | exactly one | all (bfloat16/float8 as void descrs) | C and F | lost (no place for it) |
 * | .npz | all | all (void descrs, named in `__ndpack__.json`) | C and F | kept in `__ndpack__.json` |
 * | .safetensors | all | those with a safetensors name | written as C | kept in `__metadata__` |
 *
 * Compression carries over between ndpack and .npz: arrays from deflated members keep
 * `codec: "deflate"` in ndpack, and an ndpack file with compressed arrays becomes a deflated .npz.
 *
 * @example
 * ```ts
 * const ndpackBytes = toNdpack(safetensorsBytes);            // format detected from the bytes
 * const npzBytes = fromNdpack(ndpackBytes, "npz");
 * ```
 *
 * @module
 */
import { decode, inputBytes, type DecodeInput, type DecodeOptions, type NdArray } from "../decode.js";
import type { Dtype } from "../dtypes.js";
import { encode, ENCODE_OPTIONS, storedBools, type ArraySpec, type EncodeOptions } from "../encode.js";
import { booleanOption, checkOptionNames, NdpackError, shown } from "../errors.js";
import { LIMIT_OPTIONS } from "../format.js";
import { checkTotalDecoded, DEFAULT_MAX_TOTAL_DECODED_BYTES } from "./common.js";
import { checkLimit } from "../header.js";
import { sniffFormat } from "../formats/index.js";
import { npyVoidDtype } from "../formats/npy.js";
import { fromNpy, toNpy } from "./npy.js";
import { fromNpz, toNpz } from "./npz.js";
import { fromSafetensors, toSafetensors } from "./safetensors.js";

/** The formats ndpack converts to and from. */
export type InteropFormat = "npy" | "npz" | "safetensors";

/**
 * Guesses a file's format from its first bytes, with the format table's sniffing: ndpack's and
 * .npy's magic, a zip's local header or the end record that starts an empty archive (.npz), or a
 * safetensors length field followed by `{` within the input. Returns `undefined` when nothing
 * matches. It only looks; the readers check.
 */
export function detectFormat(input: DecodeInput): InteropFormat | "ndpack" | undefined {
  return sniffFormat(inputBytes(input))?.name;
}

/** Options of {@link toNdpack}: where the arrays come from, and how to write them (the core's `encode` options). */
export interface ToNdpackOptions extends EncodeOptions {
  /** The input's format. Default: {@link detectFormat}. */
  readonly from?: InteropFormat;
  /** Name of the array read from a .npy file (which has none). Default `"array"`. */
  readonly name?: string;
  /** The dtype of void descrs in .npy and .npz input (see `fromNpy`, `fromNpz`). */
  readonly voidDtype?: Dtype | Readonly<Record<string, Dtype>>;
}

/**
 * An array as a conversion writes it: bool bytes other than 0 and 1, which any file may hold
 * (FORMAT.md §3 reads any non-zero byte as true) and every writer refuses, written as 1, as
 * `ndpack convert` does. Both directions: an ndpack file holding them converts too.
 */
function boolsStored(array: NdArray): NdArray {
  return array.dtype === "bool" ? { ...array, data: storedBools(array.data) } : array;
}

/** The arrays and metadata of any supported input. */
function readForeign(bytes: Uint8Array, format: InteropFormat, options: ToNdpackOptions): { arrays: Map<string, NdArray>; metadata: Readonly<Record<string, unknown>> } {
  switch (format) {
    case "npy": {
      const voidDtype = npyVoidDtype(options.voidDtype);
      const name = options.name ?? "array";
      const array = fromNpy(bytes, voidDtype === undefined ? {} : { voidDtype });
      return { arrays: new Map([[name, { ...array, name }]]), metadata: {} };
    }
    case "npz": {
      const { arrays, metadata } = fromNpz(bytes, options.voidDtype === undefined ? {} : { voidDtype: options.voidDtype });
      return { arrays: new Map(arrays), metadata };
    }
    case "safetensors": {
      const { arrays, metadata } = fromSafetensors(bytes);
      return { arrays: new Map(arrays), metadata };
    }
    default:
      throw new NdpackError("INVALID_ARGUMENT", `unknown format ${shown(format)}; ndpack converts npy, npz and safetensors`, { field: "from" });
  }
}

/**
 * Converts a .npy, .npz or .safetensors file to an ndpack file. Metadata kept by the source
 * (`__ndpack__.json` in .npz, `__metadata__` in .safetensors) becomes the file's metadata unless
 * `metadata` is given. Each array keeps its compression (deflated .npz members stay deflated)
 * unless `codec` is given, which then applies to every array.
 *
 * @throws NdpackError BAD_MAGIC when the format cannot be detected, and any error of the reader
 *   and of `encode`.
 *
 * @example
 * ```ts
 * const bytes = toNdpack(npzBytes, { checksum: "none" });
 * ```
 */
export function toNdpack(input: DecodeInput, options: ToNdpackOptions = {}): Uint8Array {
  checkOptionNames(options, { ...ENCODE_OPTIONS, from: true, name: true, voidDtype: true } satisfies Record<keyof ToNdpackOptions, true>, "toNdpack");
  const bytes = inputBytes(input);
  const format = options.from ?? detectFormat(bytes);
  if (format === undefined || format === "ndpack") {
    throw new NdpackError("BAD_MAGIC", format === "ndpack" ? "the input is already an ndpack file" : "the input is not a .npy, .npz or .safetensors file (give the from option if it is)", { offset: 0 });
  }
  const { arrays, metadata } = readForeign(bytes, format, options);
  const specs = new Map<string, ArraySpec>();
  for (const [name, array] of arrays) {
    specs.set(name, { data: boolsStored(array).data, shape: array.shape, dtype: array.dtype, order: array.order, ...(options.codec === undefined && array.codec !== "none" ? { codec: array.codec } : {}) });
  }
  const { from: _from, name: _name, voidDtype: _voidDtype, ...encodeOptions } = options;
  return encode(specs, { ...encodeOptions, metadata: options.metadata ?? metadata });
}

/** Options of {@link fromNdpack}: how to read the ndpack file (the core's `decode` options) and what to write. */
export interface FromNdpackOptions extends Pick<DecodeOptions, "maxHeaderBytes" | "maxHeaderNodes" | "maxDepth" | "maxArrays" | "maxDims" | "maxNameBytes" | "maxDecodedBytes" | "verify"> {
  /** For .npy: the array to write. Default: the file's only array (INVALID_ARGUMENT when it has several). */
  readonly name?: string;
  /** For .npz: deflate the members. Default: when any array of the ndpack file is compressed. */
  readonly compress?: boolean;
  /**
   * Check every payload's CRC before converting (default `true`: every payload is read anyway, so
   * the check costs one CRC pass). `false` converts a damaged payload as it is.
   */
  readonly verify?: boolean;
  /** Largest decoded size of all compressed arrays together (every one is decompressed), checked before decompressing any. Default 2 GiB. */
  readonly maxTotalDecodedBytes?: number;
}

/**
 * Converts an ndpack file to .npy (one array), .npz or .safetensors bytes. Metadata goes where the
 * target can hold it (see the module notes); a .npy file cannot hold any, and it is dropped.
 *
 * @throws NdpackError any error of `decode`; INVALID_ARGUMENT for a .npy of a file without exactly
 *   one array (unless `name` picks one), NOT_FOUND for a `name` not in the file; UNKNOWN_DTYPE for
 *   .safetensors when an array's dtype has no safetensors name.
 *
 * @example
 * ```ts
 * const safetensorsBytes = fromNdpack(ndpackBytes, "safetensors");
 * ```
 */
export function fromNdpack(input: DecodeInput, to: InteropFormat, options: FromNdpackOptions = {}): Uint8Array {
  checkOptionNames(options, { ...LIMIT_OPTIONS, name: true, compress: true, verify: true, maxTotalDecodedBytes: true } satisfies Record<keyof FromNdpackOptions, true>, "fromNdpack");
  const { name, compress, maxTotalDecodedBytes, ...decodeOptions } = options;
  // Every payload is read to be converted, so its CRC is checked unless the caller opts out.
  const file = decode(input, { ...decodeOptions, verify: booleanOption(decodeOptions.verify, true, "verify") });
  // Every array is decompressed below (one for .npy): each is bounded by maxDecodedBytes, all by this.
  const limit = checkLimit(maxTotalDecodedBytes, DEFAULT_MAX_TOTAL_DECODED_BYTES, "maxTotalDecodedBytes");
  const decoded = to === "npy" && name !== undefined ? [name] : file.names;
  checkTotalDecoded(decoded.filter((n) => file.has(n) && file.info(n).codec !== "none").map((n) => file.info(n).nbytes), limit);
  switch (to) {
    case "npy": {
      if (name === undefined && file.size !== 1) {
        throw new NdpackError("INVALID_ARGUMENT", `a .npy file holds one array; this file has ${file.size}: give the name option to pick one`, { field: "name" });
      }
      return toNpy(boolsStored(file.get(name ?? file.names[0]!)));
    }
    case "npz":
      return toNpz([...file].map((array) => [array.name, boolsStored(array)] as const), {
        compress: compress ?? [...file.names].some((n) => file.info(n).codec !== "none"),
        metadata: file.metadata,
      });
    case "safetensors":
      return toSafetensors([...file].map((array) => [array.name, boolsStored(array)] as const), { metadata: file.metadata });
    default:
      throw new NdpackError("INVALID_ARGUMENT", `unknown format ${shown(to)}; ndpack converts to npy, npz and safetensors`, { field: "to" });
  }
}
