/**
 * A random-access source over a `Blob` (a `File` the user dropped or picked): each read slices the
 * Blob, so the browser reads only those bytes from disk, whatever the file's size.
 *
 * @module
 */
import { NdpackError } from "../errors.js";

/**
 * A source of positioned reads over a Blob: the shape of the core's `ByteSource` (size, read,
 * close), so that `openSource(blobSource(file))` reads a dropped file lazily.
 */
export interface BlobSource {
  /** The Blob's length in bytes. */
  readonly size: number;
  /** The `length` bytes at `offset`; fewer only when the Blob ends first. */
  read(offset: number, length: number, options?: { readonly signal?: AbortSignal }): Promise<Uint8Array>;
  /** Nothing to release (a Blob holds no handle); present for the interface. */
  close(): Promise<void>;
}

/** Reads `blob` lazily: `read(offset, length)` slices it and reads the slice. */
export function blobSource(blob: Blob): BlobSource {
  return {
    size: blob.size,
    async read(offset, length, options) {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
        throw new NdpackError("INVALID_ARGUMENT", `blob read: offset and length must be non-negative integers, got ${offset} and ${length}`);
      }
      options?.signal?.throwIfAborted();
      const end = Math.min(blob.size, offset + length);
      if (end <= offset) return new Uint8Array(0);
      try {
        return new Uint8Array(await blob.slice(offset, end).arrayBuffer());
      } catch (cause) {
        throw new NdpackError("IO_ERROR", `blob read of ${end - offset} bytes at ${offset} failed (the file may have changed or been removed)`, { offset, cause });
      }
    },
    close: async () => undefined,
  };
}
