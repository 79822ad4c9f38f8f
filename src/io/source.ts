/**
 * Where a lazy reader's bytes come from: a {@link ByteSource}, any object with a size and
 * positioned reads. (Placeholder on branch b-http until a-core's src/io/source.ts is merged; the
 * merge takes a-core's file.)
 *
 * @module
 */

/** Options of one {@link ByteSource.read}. */
export interface ReadRequestOptions {
  /** Cancels the read: it rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** A random-access source of bytes whose size is known. */
export interface ByteSource {
  /** Length of the source in bytes. */
  readonly size: number;
  /** The `length` bytes at `offset`; fewer only when the source ends first. */
  read(offset: number, length: number, options?: ReadRequestOptions): Promise<Uint8Array>;
  /** Releases what the source holds (a file handle, connections). Optional. */
  close?(): Promise<void>;
}
