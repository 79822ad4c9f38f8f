/**
 * .npy in the format table: the header reader (magic, version, header) as range steps over the
 * same checks as `fromNpy`, and the array read as one range of exactly its bytes.
 *
 * @module
 */
import type { ArrayInfo } from "../decode.js";
import type { Dtype } from "../dtypes.js";
import { NdpackError } from "../errors.js";
import { FIRST_READ_BYTES } from "../header.js";
import { viewOrCopy } from "../interop/common.js";
import { NPY_MAGIC, npyArrayInfo, npyLayoutSteps, planNpyWrite, resolveNpyOptions, storedHead, streamedHead, toNpy } from "../interop/npy.js";
import type { RangeSteps } from "../io/steps.js";
import type { Container, ContainerOptions, FileFormat, FormatName } from "./types.js";

/**
 * The {@link Container} of a format whose arrays are stored as they are, without checksums (.npy,
 * .safetensors): each array is one range of exactly its bytes, at its `offset`.
 */
export function plainContainer(format: FormatName, version: Container["version"], metadata: Container["metadata"], arrays: readonly ArrayInfo[], fileLength: number): Container {
  const rangeOf = (index: number) => ({ offset: arrays[index]!.offset, length: arrays[index]!.byteLength });
  return {
    format,
    version,
    alignment: 1,
    checksum: "none",
    metadata,
    arrays,
    fileLength,
    ignored: [],
    arrayRange: rangeOf,
    toArray: (index, bytes, options) => viewOrCopy(arrays[index]!, bytes, false, options.copy),
    rawPayload: (index) => ({ before: undefined, payload: rangeOf(index), after: undefined, checked: false, check: () => undefined }),
    deflatedMember: () => undefined,
  };
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

/** The header reader of a .npy file `size` bytes long, or of a stream (`size` undefined). */
function* readNpyContainer(size: number | undefined, options: ContainerOptions): RangeSteps<Container> {
  const resolved = resolveNpyOptions({ voidDtype: npyVoidDtype(options.voidDtype), maxHeaderBytes: options.maxHeaderBytes, maxDims: options.maxDims });
  const layout = yield* npyLayoutSteps(size === undefined ? streamedHead() : storedHead(0), size, FIRST_READ_BYTES, resolved);
  const info = npyArrayInfo(options.npyName ?? "array", layout, { codec: "none", offset: layout.dataStart, byteLength: layout.nbytes });
  return plainContainer("npy", { major: layout.version, minor: 0 }, {}, [info], layout.dataStart + layout.nbytes);
}

/** .npy's row of the format table. */
export const NPY_FORMAT: FileFormat = {
  name: "npy",
  label: "numpy .npy",
  extensions: [".npy"],
  sniff: (head) => NPY_MAGIC.every((byte, i) => head[i] === byte),
  readContainer: readNpyContainer,
  readStream: (options) => readNpyContainer(undefined, options),
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
