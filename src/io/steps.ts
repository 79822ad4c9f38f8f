/**
 * Readers written once for every place bytes live (sans-IO): a reader is a generator that yields
 * the byte ranges it needs and is resumed with their bytes, then returns what it read. It never
 * does I/O itself; {@link runOnBytes} runs it on memory (each range a view, no copies) and
 * {@link runOnSource} on a {@link ByteSource} (one read per range).
 *
 * @module
 */
import type { ByteSource } from "./source.js";

/** Bytes a reader asks for: `length` bytes at `offset` (it gets fewer only when the input ends first). */
export interface ByteRange {
  /** Offset of the first byte. */
  readonly offset: number;
  /** Number of bytes. */
  readonly length: number;
}

/** A reader that asks for byte ranges and is given their bytes, returning a `T`. */
export type RangeSteps<T> = Generator<ByteRange, T, Uint8Array>;

/** Runs `steps` on `bytes`: each range is a view of `bytes` (shorter only past its end). */
export function runOnBytes<T>(steps: RangeSteps<T>, bytes: Uint8Array): T {
  let step = steps.next();
  while (step.done !== true) step = steps.next(bytes.subarray(step.value.offset, step.value.offset + step.value.length));
  return step.value;
}

/** Runs `steps` on `source`: one `read` per range, in order. */
export async function runOnSource<T>(steps: RangeSteps<T>, source: Pick<ByteSource, "read">, signal?: AbortSignal): Promise<T> {
  let step = steps.next();
  while (step.done !== true) {
    const { offset, length } = step.value;
    step = steps.next(length <= 0 ? new Uint8Array(0) : await source.read(offset, length, signal === undefined ? undefined : { signal }));
  }
  return step.value;
}
