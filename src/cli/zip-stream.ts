/**
 * A .npz (zip) file written member by member, for arrays that do not fit in memory together: each
 * member's content streams through (deflated on the way when asked), its CRC-32 and sizes are
 * written into its local header once it is complete, and the central directory comes last. The
 * records are those of `interop/zip.ts` `writeZip` (same fields, ZIP64 rules, 64-byte alignment of
 * stored data, 1980-01-01 dates), so a stored archive is byte-identical to `toNpz`'s.
 *
 * @module
 */
import { throughCodec } from "../codecs.js";
import { crc32 } from "../crc32.js";
import { NdpackError } from "../errors.js";
import { alignPaddingFor, localHeaderSize, writeCentralDirectory, writeLocalHeader, zipName, type ZipRecord } from "../interop/zip.js";
import { createDeflater } from "../node/deflate.js";
import { AtomicFile, FileSink, ioError, writeAt, type TargetOptions } from "../node/io.js";

/** Sizes at which the local header needs ZIP64 fields (APPNOTE 4.4.8: 0xFFFFFFFF means "see the ZIP64 field"). */
const U32_MAX = 0xffffffff;

/** zlib's `deflateBound`: the most bytes DEFLATE can turn `size` bytes into. */
function deflateBound(size: number): number {
  return size + Math.floor(size / 4096) + Math.floor(size / 16384) + Math.floor(size / 33554432) + 13 + 5;
}

/** A zip archive written to a path atomically (the path is replaced only by {@link finish}). */
/** Members up to this size (uncompressed) are held whole and written once, header first. */
const SMALL_MEMBER_BYTES = 64 * 1024;

export class ZipStreamWriter {
  readonly #file: AtomicFile;
  readonly #sink: FileSink;
  readonly #level: number;
  readonly #members: ZipRecord[] = [];

  private constructor(file: AtomicFile, level: number) {
    this.#file = file;
    this.#sink = new FileSink(file.handle);
    this.#level = level;
  }

  static async create(path: string, level: number, options: TargetOptions = {}): Promise<ZipStreamWriter> {
    return new ZipStreamWriter(await AtomicFile.create(path, options), level);
  }

  async #write(bytes: Uint8Array): Promise<void> {
    try {
      await this.#sink.write(bytes);
    } catch (cause) {
      throw ioError("write", this.#file.tempPath, cause);
    }
  }

  /**
   * Adds a member of `size` uncompressed bytes, which `parts` yields; stored data is placed at a
   * multiple of `align` in the file. INVALID_ARGUMENT when `parts` yields another number of bytes.
   */
  async add(name: string, size: number, parts: AsyncIterable<Uint8Array>, method: "stored" | "deflate", align = 0): Promise<void> {
    const { nameBytes, flags } = zipName(name);
    const localOffset = this.#sink.position;
    // The compressed size is known only at the end: the local header makes room for it.
    const localZip64 = size >= U32_MAX || (method === "deflate" && deflateBound(size) >= U32_MAX);
    const alignPadding = alignPaddingFor(localOffset, nameBytes.length, localZip64, method, align);
    const placeholder: ZipRecord = { nameBytes, flags, method, crc: 0, size, compressedSize: method === "stored" ? size : 0, localOffset, localZip64, alignPadding };
    const header = new Uint8Array(localHeaderSize(placeholder));
    writeLocalHeader(placeholder, header, 0);

    let crc = 0;
    let received = 0;
    let compressedSize = 0;
    const content = (async function* () {
      for await (const part of parts) {
        received += part.length;
        if (received > size) throw new NdpackError("INVALID_ARGUMENT", `zip member "${name}" got more than its ${size} bytes`, { array: name, expected: size, actual: received });
        crc = crc32(part, crc);
        yield part;
      }
      if (received !== size) throw new NdpackError("INVALID_ARGUMENT", `zip member "${name}" got ${received} of its ${size} bytes`, { array: name, expected: size, actual: received });
    })();
    const stored = method === "deflate" ? throughCodec(content, createDeflater(this.#level)) : content;
    if (size <= SMALL_MEMBER_BYTES) {
      // A small member is held whole and written after its final local header: patching the header
      // in place costs two system calls per member, which made 100,000 empty members take 13 s.
      const pieces: Uint8Array[] = [];
      for await (const piece of stored) {
        compressedSize += piece.length;
        pieces.push(piece.slice());
      }
      const record: ZipRecord = { ...placeholder, crc, compressedSize };
      writeLocalHeader(record, header, 0);
      await this.#write(header);
      for (const piece of pieces) await this.#write(piece);
      this.#members.push(record);
      return;
    }
    await this.#write(header);
    for await (const piece of stored) {
      compressedSize += piece.length;
      await this.#write(piece);
    }

    // The local header again, now with the CRC-32 and the compressed size (same length: the
    // ZIP64 and alignment fields were decided up front).
    const record: ZipRecord = { ...placeholder, crc, compressedSize };
    const final = new Uint8Array(header.length);
    writeLocalHeader(record, final, 0);
    try {
      await this.#sink.flush();
      await writeAt(this.#file.handle, [final], localOffset);
    } catch (cause) {
      throw ioError("write", this.#file.tempPath, cause);
    }
    this.#members.push(record);
  }

  /** Writes the central directory and the end records, and renames the file into place. */
  async finish(durable = true): Promise<void> {
    const out = writeCentralDirectory(this.#members, this.#sink.position, false);
    await this.#write(out);
    try {
      await this.#sink.finish();
    } catch (cause) {
      throw ioError("write", this.#file.tempPath, cause);
    }
    await this.#file.commit(durable);
  }

  /** Removes the temporary file; the path is left as it was. */
  async abort(): Promise<void> {
    await this.#file.discard();
  }
}
