/**
 * `ndpack/interop`: .npy, .npz and .safetensors bytes to and from arrays, and conversions to and
 * from ndpack files. Browser-safe: bytes in, bytes out, no `node:` imports.
 *
 * Readers return the core's {@link NdArray} (a .npy array has no name), as zero-copy views of the
 * input wherever the byte order and alignment allow; writers take what `encode` takes (typed
 * arrays, `ArraySpec`s, `NdArray`s), so arrays move between formats without glue. Every failure is
 * an `NdpackError` with a stable code; FORMAT.md Appendix C maps dtypes between the formats.
 * Checksums: a .npz member's CRC-32 is checked by default (`verify: false` skips it, CHECKSUM
 * otherwise); .npy and .safetensors files have none, so their values cannot be checked.
 *
 * @example
 * ```ts
 * import { fromNpz, toSafetensors, toNdpack } from "ndpack/interop";
 *
 * const { arrays, metadata } = fromNpz(npzBytes);          // np.savez / np.savez_compressed output
 * const st = toSafetensors(arrays, { metadata });          // safetensors.safe_open reads it
 * const nd = toNdpack(st);                                 // and back to ndpack
 * ```
 *
 * @packageDocumentation
 */
import type { NdArray } from "../decode.js";

export type { NdArray };
export { fromNpy, toNpy, NPY_MAGIC, NPY_MAX_HEADER_BYTES } from "./npy.js";
export type { NpyArray, NpyReadOptions, NpyVersion, NpyWriteOptions } from "./npy.js";
export { fromNpz, toNpz, NPZ_NDPACK_MEMBER } from "./npz.js";
export type { NpzContents, NpzReadOptions, NpzWriteOptions } from "./npz.js";
export { fromSafetensors, toSafetensors, SAFETENSORS_JSON_KEYS, SAFETENSORS_MAX_HEADER_BYTES } from "./safetensors.js";
export type { SafetensorsContents, SafetensorsReadOptions, SafetensorsWriteOptions } from "./safetensors.js";
export { detectFormat, fromNdpack, toNdpack } from "./convert.js";
export type { FromNdpackOptions, InteropFormat, ToNdpackOptions } from "./convert.js";
export type { CopyMode } from "./common.js";
export { FORMATS } from "../formats/index.js";
