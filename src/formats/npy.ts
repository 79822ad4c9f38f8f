/**
 * .npy in the format table: the header reader (magic, version, header) as range steps over the
 * same checks as `fromNpy`, and the array read as one range of exactly its bytes.
 *
 * @module
 */
import type { ArrayInfo, NdArray } from "../decode.js";
import type { Dtype } from "../dtypes.js";
import type { Codec } from "../format.js";
import { NdpackError } from "../errors.js";
import { FIRST_READ_BYTES } from "../header.js";
import { viewOrCopy } from "../interop/common.js";
import { NPY_MAGIC, npyLayoutSteps, planNpyWrite, resolveNpyOptions, storedHead, toNpy, type NpyLayout } from "../interop/npy.js";
import type { RangeSteps } from "../io/steps.js";
import type { Container, ContainerOptions, FileFormat, ToArrayOptions } from "./types.js";

/** The one array of a .npy (or .npz) layout as the reader reports it. */
export function npyArrayInfo(name: string, layout: NpyLayout, stored: { codec: Codec; offset: number; byteLength: number }): ArrayInfo {
  return {
    name,
    dtype: layout.dtype.name,
    shape: Object.freeze([...layout.shape]),
    order: layout.order,
    byteOrder: layout.byteOrder,
    ...stored,
    nbytes: layout.nbytes,
  };
}

/** An array whose stored bytes are exactly its bytes (.npy, .safetensors, a stored .npz member's array without its check). */
export function plainArray(info: ArrayInfo, bytes: Uint8Array, options: ToArrayOptions): NdArray {
  return viewOrCopy({ name: info.name, dtype: info.dtype, shape: info.shape, order: info.order, byteOrder: info.byteOrder, payload: bytes, fresh: false, stored: { codec: info.codec, offset: info.offset, byteLength: info.byteLength } }, options.copy);
}

/** The `voidDtype` option for a .npy file: one dtype name (a .npz's may name one per array). Not part of the public API. */
export function npyVoidDtype(option: unknown): Dtype | undefined {
  if (option !== undefined && typeof option !== "string") throw new NdpackError("INVALID_ARGUMENT", "voidDtype for a .npy file must be one dtype name", { field: "voidDtype" });
  return option as Dtype | undefined;
}

/** A .npy file holds one array: INVALID_ARGUMENT for `count` other than 1. */
function oneArray(count: number): void {
  if (count !== 1) throw new NdpackError("INVALID_ARGUMENT", `a .npy file holds exactly one array, got ${count}`, { field: "arrays" });
}

function* readNpyContainer(size: number, options: ContainerOptions): RangeSteps<Container> {
  const resolved = resolveNpyOptions({ voidDtype: npyVoidDtype(options.voidDtype), maxHeaderBytes: options.maxHeaderBytes, maxDims: options.maxDims });
  const layout = yield* npyLayoutSteps(storedHead(0), size, FIRST_READ_BYTES, resolved);
  const info = npyArrayInfo(options.npyName ?? "array", layout, { codec: "none", offset: layout.dataStart, byteLength: layout.nbytes });
  const range = { offset: layout.dataStart, length: layout.nbytes };
  return {
    format: "npy",
    version: { major: layout.version, minor: 0 },
    alignment: 1,
    checksum: "none",
    metadata: {},
    arrays: [info],
    fileLength: size,
    ignored: [],
    arrayRange: () => range,
    toArray: (_index, bytes, toArrayOptions) => plainArray(info, bytes, toArrayOptions),
    rawPayload: () => ({ before: undefined, payload: range, after: undefined, checked: false, check: () => undefined }),
    deflatedMember: () => undefined,
  };
}

/** .npy's row of the format table. */
export const NPY_FORMAT: FileFormat = {
  name: "npy",
  label: "numpy .npy",
  extensions: [".npy"],
  sniff: (head) => NPY_MAGIC.every((byte, i) => head[i] === byte),
  readContainer: readNpyContainer,
  write: (arrays, options) => {
    const list = arrays instanceof Map ? [...arrays.values()] : Array.isArray(arrays) ? arrays.map((pair) => (pair as readonly [string, unknown])[1]) : Object.values(arrays as object);
    oneArray(list.length);
    return toNpy(list[0] as Parameters<typeof toNpy>[0], options);
  },
  planWrite: (arrays, options) => {
    oneArray(arrays.length);
    return planNpyWrite(arrays[0]!, options);
  },
};
