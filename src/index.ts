/**
 * ndpack: named n-dimensional arrays in one self-describing binary file, read back as zero-copy
 * typed-array views in Node and browsers. The byte format is specified in FORMAT.md.
 *
 * This entry point is browser-safe: it takes and returns bytes and imports no `node:` module.
 * The lazy reader over byte sources (`openSource`, `blobSource`, `bytesSource`) lives in
 * `ndpack/source`, file I/O in `ndpack/node`, HTTP(S) in `ndpack/http`, the foreign formats in
 * `ndpack/interop`, sharded sets in `ndpack/sets`, and streams (one file, or many messages, over a
 * connection) in `ndpack/streams`.
 *
 * @example
 * ```ts
 * import { encode, decode } from "ndpack";
 *
 * const bytes = encode({
 *   image: { data: new Uint8Array(480 * 640 * 3), shape: [480, 640, 3] },
 *   labels: new Int32Array([3, 1, 4]),
 * }, { metadata: { source: "camera 2" } });
 *
 * const file = decode(bytes);
 * const image = file.get("image"); // image.data views `bytes`: no copy
 * ```
 *
 * @packageDocumentation
 */
export { encode, encodeInto, encodedSize } from "./encode.js";
export type { ArrayInput, ArraySpec, ArraysInput, EncodeOptions } from "./encode.js";
export { decode, verify } from "./decode.js";
export type { ArrayInfo, ArrayVerification, DecodedArray, DecodeInput, DecodeOptions, NdArray, NdArrayOf, NdpackContents, NdpackFile, VerifyReport } from "./decode.js";
export { ERROR_CODES, NdpackError, isNdpackError } from "./errors.js";
export type { ErrorCode, ErrorDetails } from "./errors.js";
export { DTYPES, DTYPE_NAMES } from "./dtypes.js";
export type { Dtype, DtypeData, DtypeInfo, Float16ArrayIfDeclared, TypedArray } from "./dtypes.js";
export { DEFAULT_LIMITS, FORMAT_VERSION } from "./format.js";
export type { ByteOrder, Checksum, Codec, Order, ReadLimits } from "./format.js";
export {
  bfloat16ToFloat32,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
  float32ToFloat8E4M3FN,
  float32ToFloat8E5M2,
  float8E4M3FNToFloat32,
  float8E5M2ToFloat32,
} from "./floats.js";
