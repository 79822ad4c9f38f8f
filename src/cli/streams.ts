/**
 * Byte streams through Node's zlib, as async generators: the command line's deflate and inflate.
 * (Node's native zlib, not fflate's streaming `Deflate`, which emits invalid back-references on
 * some first chunks: fflate issue #260.)
 *
 * @module
 */
import { Readable, type Transform } from "node:stream";

/**
 * The output of `transform` fed with `source`. An error of the source (or of the transform)
 * ends the output with that error; stopping early releases both.
 */
export async function* pipeThrough(source: AsyncIterable<Uint8Array>, transform: Transform): AsyncGenerator<Uint8Array, void, undefined> {
  const input = Readable.from(source, { objectMode: false });
  input.on("error", (error) => transform.destroy(error));
  input.pipe(transform);
  try {
    for await (const piece of transform as AsyncIterable<Buffer>) yield new Uint8Array(piece.buffer, piece.byteOffset, piece.length);
  } finally {
    input.destroy();
    transform.destroy();
  }
}
