/**
 * Readers written once for every place bytes live (sans-IO): a reader is a generator that yields
 * the byte ranges it needs and is resumed with their bytes, then returns what it read. It never
 * does I/O itself; {@link runOnBytes} runs it on memory (each range a view, no copies) and
 * {@link runOnSource} on a `ByteSource` of io/source.ts (one read per range).
 *
 * @module
 */

/** Bytes a reader asks for: `length` bytes at `offset` (it gets fewer only when the input ends first). */
export interface ByteRange {
  /** Offset of the first byte. */
  readonly offset: number;
  /** Number of bytes. */
  readonly length: number;
}

/**
 * The order of ranges by their first byte, for `sort`. The readers' per-entry paths sort and loop
 * with functions of their modules, not with arrows made per call: V8 keeps a function's optimized
 * code only while a function object holds it, so an arrow made per call (and the code inlined into
 * it) is compiled again after every full GC and runs in the interpreter meanwhile. Opening a
 * .safetensors file of 256 tensors after a full GC took ~1.5 ms that way, ~0.9 ms with loops.
 */
export function byOffset(a: ByteRange, b: ByteRange): number {
  return a.offset - b.offset;
}

/** A reader that asks for byte ranges and is given their bytes, returning a `T`. */
export type RangeSteps<T> = Generator<ByteRange, T, Uint8Array>;

/**
 * What a reader says it will ask for soon, all at once, so that a driver over a source with round
 * trips can read those ranges ahead, coalesced and concurrently (the .npz reader's member headers).
 * Only a hint: the reader still asks for each range, and is answered here with no bytes.
 */
export interface Prefetch {
  /** The ranges, in any order. */
  readonly prefetch: readonly ByteRange[];
}

/** A {@link RangeSteps} that may also yield {@link Prefetch} hints. */
export type PrefetchingSteps<T> = Generator<ByteRange | Prefetch, T, Uint8Array>;

const NO_BYTES = new Uint8Array(0);

/**
 * The input's length as a reader knows it after its first read (`asked` bytes, answered with
 * `first`): `size`; or, for a stream (`size` undefined), whose length is known only at its end,
 * the bytes it gave when they are fewer than asked (it has ended), else the largest possible
 * length, which stands in for it until the reader has the header, whose length the driver then
 * checks the stream against.
 */
export function lengthSoFar(size: number | undefined, first: Uint8Array, asked: number): number {
  return size ?? (first.length < asked ? first.length : Number.MAX_SAFE_INTEGER);
}

/** True when a step is a {@link Prefetch} hint rather than a range. */
export function isPrefetch(step: ByteRange | Prefetch): step is Prefetch {
  return "prefetch" in step;
}

/** Runs `steps` on `bytes`: each range is a view of `bytes` (shorter only past its end). */
export function runOnBytes<T>(steps: PrefetchingSteps<T>, bytes: Uint8Array): T {
  let step = steps.next();
  while (step.done !== true) {
    const asked = step.value;
    step = steps.next(isPrefetch(asked) ? NO_BYTES : bytes.subarray(asked.offset, asked.offset + asked.length));
  }
  return step.value;
}

/** Runs `steps` on `source` (a `ByteSource` of io/source.ts, or anything that reads like one): one `read` per range, in order (prefetch hints are ignored). */
export async function runOnSource<T>(steps: PrefetchingSteps<T>, source: { read(offset: number, length: number, options?: { signal?: AbortSignal }): Promise<Uint8Array> }, signal?: AbortSignal): Promise<T> {
  let step = steps.next();
  while (step.done !== true) {
    const asked = step.value;
    if (isPrefetch(asked) || asked.length <= 0) step = steps.next(NO_BYTES);
    else step = steps.next(await source.read(asked.offset, asked.length, signal === undefined ? undefined : { signal }));
  }
  return step.value;
}
