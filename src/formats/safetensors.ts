/**
 * .safetensors in the format table: the header reader (length field, then the JSON header) as range
 * steps over the same checks as `fromSafetensors`; each tensor is one range of exactly its bytes.
 *
 * @module
 */
import { planSafetensorsWrite, resolveSafetensorsOptions, safetensorsLayoutSteps, tensorInfos, toSafetensors } from "../interop/safetensors.js";
import type { ArraysInput } from "../encode.js";
import type { RangeSteps } from "../io/steps.js";
import { plainContainer } from "./npy.js";
import type { Container, ContainerOptions, FileFormat, FormatReader } from "./types.js";
import type { ArrayPlan } from "./write.js";

/** The header reader of a .safetensors file `size` bytes long, or of a stream (`size` undefined). */
function* readSafetensorsContainer(size: number | undefined, options: ContainerOptions): RangeSteps<Container> {
  const { dataStart, tensors, metadata, fileLength } = yield* safetensorsLayoutSteps(size, { ...resolveSafetensorsOptions(options), firstReadBytes: options.firstReadBytes });
  return plainContainer("safetensors", { major: 0, minor: 0 }, metadata, tensorInfos(tensors, dataStart), fileLength);
}

/** The reading part of .safetensors' row: the set reader's shards, read without bundling the writer. */
export const SAFETENSORS_READER: FormatReader = {
  name: "safetensors",
  label: "safetensors",
  extensions: [".safetensors"],
  // A little-endian u64 header length that fits in the file, followed by `{`.
  sniff: (head, size) => head.length > 8 && head[8] === 0x7b && new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true) <= BigInt(size - 8),
  readContainer: readSafetensorsContainer,
  readStream: (options) => readSafetensorsContainer(undefined, options),
};

/** .safetensors' row of the format table. */
// Marked pure (a spread is not, to a bundler), so that a bundle which never names this row drops it and its writer.
export const SAFETENSORS_FORMAT: FileFormat = /* @__PURE__ */ Object.assign({}, SAFETENSORS_READER, {
  write: (arrays: ArraysInput, options?: Readonly<Record<string, unknown>>) => toSafetensors(arrays, options),
  planWrite: (arrays: readonly ArrayPlan[], options?: Readonly<Record<string, unknown>>) => planSafetensorsWrite(arrays, options),
});
