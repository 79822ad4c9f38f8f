/** Arrays described once, handed to the writers the three ways they take them: as `encode`'s input, in memory, and in chunks for the file driver. */
import { DTYPES, type Codec, type Dtype } from "../../src/index.js";
import type { ArrayInMemory } from "../../src/formats/write.js";
import type { ArrayInChunks } from "../../src/node/write-steps.js";

/** One array to write: its bytes (little-endian, in `order`) and how to describe them. */
export interface Source {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: number[];
  readonly order: "C" | "F";
  readonly data: ArrayBufferView;
  readonly codec?: Codec;
}

/** The bytes of `data`, as a view. */
export const bytesOf = (data: ArrayBufferView): Uint8Array => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

/** The arrays as `encode` and the whole-buffer writers take them. */
export const specs = (sources: readonly Source[]) =>
  sources.map((s) => [s.name, { data: s.data, dtype: s.dtype, shape: s.shape, order: s.order, ...(s.codec === undefined ? {} : { codec: s.codec }) }] as const);

/** The arrays as the plans and the memory driver take them. */
export function inMemory(sources: readonly Source[]): ArrayInMemory[] {
  return sources.map((s) => ({ name: s.name, dtype: DTYPES[s.dtype], shape: s.shape, order: s.order, nbytes: s.data.byteLength, source: bytesOf(s.data), ...(s.codec === undefined ? {} : { codec: s.codec }) }));
}

/** The arrays as the file driver takes them, in chunks of `chunkBytes` (a multiple of every item size). */
export function inChunks(sources: readonly Source[], chunkBytes: number): ArrayInChunks[] {
  return inMemory(sources).map((array) => ({
    ...array,
    async *chunks() {
      for (let at = 0; at < array.source.length; at += chunkBytes) yield array.source.slice(at, at + chunkBytes);
    },
  }));
}
