/**
 * Streams whose bytes arrive when the test says so, to check what a decoder hands out before the
 * rest has arrived, without timing anything: the decoder is given turns of the event loop, not
 * milliseconds, so a loaded machine cannot fail a correct decoder.
 */
import { decode, encode } from "../../src/index.js";

/** An async iterable of chunks that hands out only the bytes `release` has let through, one chunk per release. */
export interface HeldStream {
  readonly source: AsyncIterable<Uint8Array>;
  /** Lets bytes through up to `upTo` (excluded). */
  release(upTo: number): void;
  /** Lets every byte through and ends the stream after them. */
  end(): void;
  /** Bytes handed to the reader so far. */
  readonly given: number;
}

export function heldStream(bytes: Uint8Array): HeldStream {
  let allowed = 0;
  let given = 0;
  let ended = false;
  let wake: (() => void) | undefined;
  const wakeUp = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (given < allowed) {
        const chunk = bytes.slice(given, allowed);
        given = allowed;
        yield chunk;
      } else if (ended) {
        return;
      } else {
        await new Promise<void>((resolve) => (wake = resolve));
      }
    }
  }
  return {
    source: chunks(),
    release(upTo) {
      allowed = Math.max(allowed, upTo);
      wakeUp();
    },
    end() {
      allowed = bytes.length;
      ended = true;
      wakeUp();
    },
    get given() {
      return given;
    },
  };
}

/** Turns of the event loop (each runs every promise job and I/O callback pending) given to code under test. */
const TURNS = 50;

/** Whether `promise` settles within `turns` turns of the event loop. */
export async function settlesWithin(promise: Promise<unknown>, turns = TURNS): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < turns && !settled; i++) await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

/** Waits, a turn of the event loop at a time, until `condition()` holds (bytes that were sent have arrived). */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * A message of two arrays, `a` (`aLength` float32 values: 80,000 bytes is past the 64 KiB from
 * which payloads land in place) and `b` (100,000 int8), and where `b`'s bytes start in it: the
 * bytes before are `a`'s record and the padding after it, all that handing out `a` takes.
 */
export function twoArrayMessage(aLength: number, metadata: Readonly<Record<string, unknown>> = {}): { bytes: Uint8Array; bStart: number; a: Float32Array; b: Int8Array } {
  const a = Float32Array.from({ length: aLength }, (_, i) => i / 4 - 1);
  const b = Int8Array.from({ length: 100_000 }, (_, i) => (i % 251) - 125);
  const bytes = encode({ a, b }, { metadata });
  return { bytes, bStart: decode(bytes).info("b").offset, a, b };
}
