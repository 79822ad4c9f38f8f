/**
 * Node's runner of the writers without I/O (`formats/write.ts`): takes a format's steps and sends
 * their bytes to an output, each array's payload streaming through chunk by chunk: rearranged into
 * C order where the step asks (gathered whole), byte-swapped, checksummed, shuffled through a
 * scratch file and deflated on several cores, as the step asks. Its outputs: a file written
 * atomically (`write-file.ts`: `writeToFile`, which the CLI's `convert`, `pack` and `extract` use)
 * and the targets of `createWriter` (`writer.ts`: a file or a stream, fed by the caller's pushes).
 *
 * @module
 */
import { copySwapped } from "../bytes.js";
import { NdpackError } from "../errors.js";
import { crcOf, isBytesStep, needsReorder, needsSwap, type ArrayPlan, type PayloadStep, type PayloadWritten, type WriteSteps } from "../formats/write.js";
import { cOrderBytes } from "../interop/common.js";
import { createDeflater } from "./deflate.js";
import { ShuffleSpool, type ScratchFile } from "./shuffle-spool.js";

/** An array whose bytes arrive in chunks, in its storage order and this machine's byte order. */
export interface ArrayInChunks extends ArrayPlan {
  /**
   * The array's `nbytes` bytes, chunk by chunk, each a whole number of items (so that a chunk can
   * be byte-swapped alone); a chunk may be reused once the next is asked for.
   */
  chunks(): AsyncIterable<Uint8Array>;
  /**
   * The array's bytes, as the plan stores them, already as one raw DEFLATE stream, when the
   * source has one to give (the CLI copies numpy's streams, `cli/deflate-reuse.ts`); `undefined`
   * when it has none, and the runner deflates the chunks. Asked only for a payload deflated without
   * a prefix or a shuffle, whose CRC (if any) is of its stored bytes. The pieces are not reused.
   */
  deflated?(): Promise<AsyncIterable<Uint8Array> | undefined>;
}

/** Where a plan's bytes go, in order. */
export interface StepOutput {
  /** Appends `bytes`; their memory may be reused once this resolves. */
  append(bytes: Uint8Array): Promise<void>;
  /** Appends room for `length` bytes that {@link StepOutput.fill} gives later. */
  reserve(length: number): void;
  /** The bytes of the open reservation. */
  fill(bytes: Uint8Array): Promise<void>;
}

/** What the runner needs besides the steps and the arrays. */
export interface RunContext {
  /** Called with the number of array bytes each time a chunk of an array has been written. */
  readonly onProgress?: (bytes: number) => void;
  /** Where shuffled payloads are staged (`undefined` where the plan has none: a stream target). */
  readonly scratch: ScratchFile | undefined;
}

/**
 * Bytes byte-swapped, or handed to the compressor, at a time: what either holds at once stays a
 * few MiB, whatever the size of the chunks.
 */
const STEP_BYTES = 1 << 20;

/** `bytes` in views of at most {@link STEP_BYTES}. */
function* piecesOf(bytes: Uint8Array): Generator<Uint8Array, void, undefined> {
  for (let at = 0; at < bytes.length; at += STEP_BYTES) yield bytes.subarray(at, Math.min(at + STEP_BYTES, bytes.length));
}

/**
 * Calls `each` with a payload step's bytes before compression, in order, waiting for it before the
 * next: the prefix, then the array's bytes as the step stores them (in C order when asked, gathered
 * whole; byte-swapped piece by piece into fresh memory). Push rather than pull: a small chunk then
 * costs a call, not a promise per async generator it would go through (createWriter's small writes).
 */
async function eachContentPiece(array: ArrayInChunks, step: PayloadStep, onProgress: ((bytes: number) => void) | undefined, each: (piece: Uint8Array) => Promise<void>): Promise<void> {
  if (step.prefix !== undefined && step.prefix.length > 0) await each(step.prefix);
  const swap = needsSwap(array, step.byteOrder) ? array.dtype.wordSize : 0;
  const stored =
    swap === 0
      ? each
      : async (bytes: Uint8Array) => {
          for (const piece of piecesOf(bytes)) {
            const swapped = new Uint8Array(piece.length);
            copySwapped(piece, swapped, 0, swap);
            await each(swapped);
          }
        };
  let received = 0;
  const counted = (chunk: Uint8Array) => {
    received += chunk.length;
    if (received > array.nbytes) throw new NdpackError("INVALID_ARGUMENT", `array "${array.name}" gave more than its ${array.nbytes} bytes`, { array: array.name, expected: array.nbytes, actual: received });
  };
  if (needsReorder(array, step.cOrder)) {
    const whole = new Uint8Array(array.nbytes);
    for await (const chunk of array.chunks()) {
      counted(chunk);
      whole.set(chunk, received - chunk.length);
    }
    if (received === array.nbytes) await stored(cOrderBytes(whole, array.shape, array.order, array.dtype.itemSize));
    onProgress?.(received);
  } else {
    for await (const chunk of array.chunks()) {
      counted(chunk);
      await stored(chunk);
      onProgress?.(chunk.length);
    }
  }
  if (received !== array.nbytes) throw new NdpackError("INVALID_ARGUMENT", `array "${array.name}" gave ${received} of its ${array.nbytes} bytes`, { array: array.name, expected: array.nbytes, actual: received });
}

/**
 * Appends (or keeps) a payload step's bytes, deflated when asked (shuffled first, through the
 * scratch file, when asked); its CRC-32 is taken before compression, or of the stored bytes when
 * the step says so.
 */
async function writePayload(out: StepOutput, array: ArrayInChunks, step: PayloadStep, context: RunContext, kept: Map<number, Uint8Array[]>): Promise<PayloadWritten> {
  const crcOfContent = step.crc && step.crcOfStored !== true;
  const keptPieces: Uint8Array[] | undefined = step.keep === true ? [] : undefined;
  if (keptPieces !== undefined) kept.set(step.payload, keptPieces);
  let crc = 0;
  let storedLength = 0;
  // Plain functions returning the output's promise, not async ones: each would add a promise per piece.
  const store = (piece: Uint8Array): Promise<void> => {
    if (step.crc && !crcOfContent) crc = crcOf(piece, crc);
    storedLength += piece.length;
    if (keptPieces === undefined) return out.append(piece);
    keptPieces.push(piece);
    return Promise.resolve();
  };
  const content = (each: (piece: Uint8Array) => Promise<void>) =>
    eachContentPiece(array, step, context.onProgress, (piece) => {
      if (crcOfContent) crc = crcOf(piece, crc);
      return each(piece);
    });
  if (step.deflateLevel === undefined) {
    await content(store);
    return { crc, storedLength };
  }
  const reusable = step.shuffle === undefined && step.prefix === undefined && !crcOfContent;
  const deflated = reusable ? await array.deflated?.() : undefined;
  if (deflated !== undefined) {
    for await (const piece of deflated) await store(piece);
    return { crc, storedLength };
  }
  const codec = createDeflater(step.deflateLevel);
  const compress = async (bytes: Uint8Array) => {
    for (const piece of piecesOf(bytes)) for (const output of await codec.push(piece)) await store(output);
  };
  try {
    if (step.shuffle === undefined) await content(compress);
    else {
      if (context.scratch === undefined) throw new Error("internal error: a shuffled payload without a scratch file");
      const spool = new ShuffleSpool(await context.scratch.handle(), context.scratch.path, array.nbytes, step.shuffle);
      await content((piece) => spool.append(piece));
      for await (const lanes of spool.shuffled()) await compress(lanes);
    }
    for (const output of await codec.end()) await store(output);
  } finally {
    codec.close();
  }
  return { crc, storedLength };
}

/**
 * Runs `steps` into `out`: literal bytes appended, payloads streamed from `arrays` (the arrays the
 * plan was made for, in the same order), reservations filled, kept payloads appended when asked.
 * Errors of the output and of the arrays' chunks pass through.
 */
export async function runWriteSteps(out: StepOutput, steps: WriteSteps, arrays: readonly ArrayInChunks[], context: RunContext): Promise<void> {
  const kept = new Map<number, Uint8Array[]>();
  let next = steps.next();
  while (next.done !== true) {
    const step = next.value;
    let answer: PayloadWritten | undefined;
    if (isBytesStep(step)) await out.append(step);
    else if ("reserve" in step) out.reserve(step.reserve);
    else if ("fill" in step) await out.fill(step.fill);
    else if ("kept" in step) {
      for (const piece of kept.get(step.kept)!) await out.append(piece);
      kept.delete(step.kept);
    } else answer = await writePayload(out, arrays[step.payload]!, step, context, kept);
    next = steps.next(answer);
  }
}
