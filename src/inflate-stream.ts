/**
 * DEFLATE as a stream, for members too large to inflate in one piece (a .npz member of many GiB):
 * the runtime's own `DecompressionStream("deflate-raw")` (Node's native zlib in Node, the
 * browser's in browsers), so no byte is inflated by JavaScript and memory stays one piece at a time.
 *
 * @module
 */
import { NdpackError } from "./errors.js";

/**
 * The uncompressed bytes of the raw DEFLATE stream `compressed`, piece by piece. The stream must
 * inflate to exactly `size` bytes: CODEC_ERROR as soon as it goes past them, or when it is not
 * valid DEFLATE or ends short. `what` names it in messages. Stopping early releases the inflater.
 */
export async function* inflateRawStream(compressed: AsyncIterable<Uint8Array>, size: number, what: string): AsyncGenerator<Uint8Array, void, undefined> {
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
        throw new NdpackError("CODEC_ERROR", `${what} is not a valid deflate stream (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
      }
      if (next.done) break;
      produced += next.value.length;
      if (produced > size) throw new NdpackError("CODEC_ERROR", `${what} inflates to more than the ${size} bytes it declares`, { expected: size, actual: produced });
      yield next.value;
    }
    if (sourceError !== undefined) throw sourceError;
    if (produced < size) throw new NdpackError("CODEC_ERROR", `${what} inflates to ${produced} bytes, fewer than the ${size} it declares`, { expected: size, actual: produced });
  } finally {
    await reader.cancel().catch(() => undefined);
    await pump;
  }
}
