/**
 * DEFLATE as a stream, for members too large to inflate in one piece (a .npz member of many GiB):
 * Node's zlib stream where the runtime has it, else the runtime's own
 * `DecompressionStream("deflate-raw")` (browsers), so no byte is inflated by JavaScript and memory
 * stays one piece at a time. Either way the stream meets the one rule of `checkInflated` (codecs.ts):
 * exactly one complete DEFLATE stream, nothing after its end, exactly the declared size. Node's
 * `DecompressionStream` ignores bytes after the end (Node 20), so Node uses its zlib stream, whose
 * `bytesWritten` says where the stream ended; browsers' `DecompressionStream` refuses such bytes
 * itself (the Compression Streams standard).
 *
 * @module
 */
import { checkInflated } from "./codecs.js";
import { NdpackError } from "./errors.js";
import { nativeZlib, type NodeInflater } from "./runtime.js";

function damaged(name: string, cause: unknown): NdpackError {
  return new NdpackError("CODEC_ERROR", `array "${name}": the deflate stream is damaged (${cause instanceof Error ? cause.message : String(cause)})`, { array: name, cause });
}

/** Resolves when `inflater` takes more input, or is closed. */
function drained(inflater: NodeInflater): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      inflater.off("drain", done);
      inflater.off("close", done);
      resolve();
    };
    inflater.once("drain", done);
    inflater.once("close", done);
  });
}

async function* inflateWithNode(createInflateRaw: () => NodeInflater, compressed: AsyncIterable<Uint8Array>, size: number, name: string): AsyncGenerator<Uint8Array, void, undefined> {
  const inflater = createInflateRaw();
  let storedLength = 0;
  let sourceError: unknown;
  const pump = (async () => {
    try {
      for await (const piece of compressed) {
        if (inflater.destroyed) return;
        storedLength += piece.length;
        if (!inflater.write(piece)) await drained(inflater);
      }
      if (!inflater.destroyed) inflater.end();
    } catch (error) {
      sourceError ??= error;
      inflater.destroy();
    }
  })();
  let produced = 0;
  try {
    try {
      for await (const piece of inflater) {
        produced += piece.length;
        // More than declared: stop now, with the rule's error.
        if (produced > size) checkInflated(name, { consumed: 0, storedLength: 0, produced, nbytes: size });
        yield piece;
      }
    } catch (cause) {
      if (sourceError !== undefined) throw sourceError;
      throw cause instanceof NdpackError ? cause : damaged(name, cause);
    }
    await pump;
    if (sourceError !== undefined) throw sourceError;
    checkInflated(name, { consumed: inflater.bytesWritten, storedLength, produced, nbytes: size });
  } finally {
    inflater.destroy();
    await pump;
  }
}

async function* inflateWithWebStream(compressed: AsyncIterable<Uint8Array>, size: number, name: string): AsyncGenerator<Uint8Array, void, undefined> {
  const inflater = new DecompressionStream("deflate-raw");
  const writer = inflater.writable.getWriter();
  let sourceError: unknown;
  const pump = (async () => {
    try {
      for await (const piece of compressed) await writer.write(piece as Uint8Array<ArrayBuffer>);
      await writer.close();
    } catch (error) {
      sourceError ??= error;
      await writer.abort(error).catch(() => undefined);
    }
  })();
  const reader = inflater.readable.getReader();
  let produced = 0;
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (cause) {
        if (sourceError !== undefined) throw sourceError;
        throw damaged(name, cause);
      }
      if (next.done) break;
      produced += next.value.length;
      if (produced > size) checkInflated(name, { consumed: 0, storedLength: 0, produced, nbytes: size });
      yield next.value;
    }
    if (sourceError !== undefined) throw sourceError;
    // The stream refused bytes after its end itself: all the stored bytes were used.
    checkInflated(name, { consumed: 0, storedLength: 0, produced, nbytes: size });
  } finally {
    await reader.cancel().catch(() => undefined);
    await pump;
  }
}

/**
 * The uncompressed bytes of the raw DEFLATE stream `compressed`, piece by piece, for array `name`.
 * CODEC_ERROR (the rule of `checkInflated`) as soon as it goes past `size` bytes, when it is not
 * valid DEFLATE, ends short, or has bytes after its end. Stopping early releases the inflater.
 */
export function inflateRawStream(compressed: AsyncIterable<Uint8Array>, size: number, name: string): AsyncGenerator<Uint8Array, void, undefined> {
  const { createInflateRaw } = nativeZlib;
  return createInflateRaw === undefined ? inflateWithWebStream(compressed, size, name) : inflateWithNode(createInflateRaw, compressed, size, name);
}
