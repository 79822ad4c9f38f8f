/**
 * A .npz (zip) file written member by member, for arrays that do not fit in memory together: each
 * member's content streams through (deflated on the way when asked), its CRC-32 and sizes are
 * written into its local header once it is complete, and the central directory comes last. The
 * records are those of `interop/zip.ts` `writeZip` (same fields, ZIP64 rules, 64-byte alignment of
 * stored data, 1980-01-01 dates), so a stored archive is byte-identical to `toNpz`'s.
 *
 * @module
 */
import { createDeflateRaw } from "node:zlib";
import { crc32 } from "../crc32.js";
import { NdpackError } from "../errors.js";
import { AtomicFile, FileSink, ioError, writeAt } from "../node/io.js";
import { pipeThrough } from "./streams.js";

const SIG = { local: 0x04034b50, central: 0x02014b50, end: 0x06054b50, zip64End: 0x06064b50, zip64Locator: 0x07064b50 } as const;
const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
const END_SIZE = 22;
const ZIP64_END_SIZE = 56;
const ZIP64_LOCATOR_SIZE = 20;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
const EXTRA_ZIP64 = 0x0001;
const EXTRA_ALIGN = 0xd935;
const FLAG_UTF8 = 0x0800;
const MADE_BY = (3 << 8) | 45;
const EXTERNAL_ATTRIBUTES = (0o100644 << 16) >>> 0;
const DOS_DATE = (1 << 5) | 1;

/** zlib's `deflateBound`: the most bytes DEFLATE can turn `size` bytes into. */
function deflateBound(size: number): number {
  return size + Math.floor(size / 4096) + Math.floor(size / 16384) + Math.floor(size / 33554432) + 13 + 5;
}

interface WrittenMember {
  readonly nameBytes: Uint8Array;
  readonly flags: number;
  readonly method: "stored" | "deflate";
  readonly crc: number;
  readonly size: number;
  readonly compressedSize: number;
  readonly localOffset: number;
  readonly localZip64: boolean;
}

/** A zip archive written to a path atomically (the path is replaced only by {@link finish}). */
export class ZipStreamWriter {
  readonly #file: AtomicFile;
  readonly #sink: FileSink;
  readonly #level: number;
  readonly #members: WrittenMember[] = [];

  private constructor(file: AtomicFile, level: number) {
    this.#file = file;
    this.#sink = new FileSink(file.handle);
    this.#level = level;
  }

  static async create(path: string, level: number): Promise<ZipStreamWriter> {
    return new ZipStreamWriter(await AtomicFile.create(path), level);
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
    const nameBytes = new TextEncoder().encode(name);
    if (nameBytes.length > U16_MAX) throw new NdpackError("INVALID_ARGUMENT", `zip member name "${name.slice(0, 40)}..." is longer than 65535 UTF-8 bytes`, { array: name });
    const flags = /[^\x20-\x7e]/.test(name) ? FLAG_UTF8 : 0;
    const localOffset = this.#sink.position;
    const localZip64 = size >= U32_MAX || (method === "deflate" && deflateBound(size) >= U32_MAX);
    const zip64Length = localZip64 ? 20 : 0;
    let alignPadding = 0;
    if (method === "stored" && align > 1) {
      const base = localOffset + LOCAL_HEADER_SIZE + nameBytes.length + zip64Length + 6;
      alignPadding = 6 + ((align - (base % align)) % align);
    }
    const header = new Uint8Array(LOCAL_HEADER_SIZE + nameBytes.length + zip64Length + alignPadding);
    const view = new DataView(header.buffer);
    view.setUint32(0, SIG.local, true);
    view.setUint16(4, localZip64 ? 45 : 20, true);
    view.setUint16(6, flags, true);
    view.setUint16(8, method === "stored" ? 0 : 8, true);
    view.setUint16(12, DOS_DATE, true);
    // CRC-32 (14) and the compressed size are written once the content has passed.
    view.setUint32(18, localZip64 ? U32_MAX : method === "stored" ? size : 0, true);
    view.setUint32(22, localZip64 ? U32_MAX : size, true);
    view.setUint16(26, nameBytes.length, true);
    view.setUint16(28, zip64Length + alignPadding, true);
    header.set(nameBytes, LOCAL_HEADER_SIZE);
    let at = LOCAL_HEADER_SIZE + nameBytes.length;
    if (localZip64) {
      view.setUint16(at, EXTRA_ZIP64, true);
      view.setUint16(at + 2, 16, true);
      view.setBigUint64(at + 4, BigInt(size), true);
      view.setBigUint64(at + 12, BigInt(method === "stored" ? size : 0), true);
      at += 20;
    }
    if (alignPadding > 0) {
      view.setUint16(at, EXTRA_ALIGN, true);
      view.setUint16(at + 2, alignPadding - 4, true);
      view.setUint16(at + 4, 64, true);
    }
    await this.#write(header);

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
    const stored = method === "deflate" ? pipeThrough(content, createDeflateRaw({ level: this.#level })) : content;
    for await (const piece of stored) {
      compressedSize += piece.length;
      await this.#write(piece);
    }

    const patch = new Uint8Array(8);
    const patchView = new DataView(patch.buffer);
    patchView.setUint32(0, crc, true);
    patchView.setUint32(4, localZip64 ? U32_MAX : compressedSize, true);
    try {
      await this.#sink.flush();
      await writeAt(this.#file.handle, [patch], localOffset + 14);
      if (localZip64) {
        const size64 = new Uint8Array(8);
        new DataView(size64.buffer).setBigUint64(0, BigInt(compressedSize), true);
        await writeAt(this.#file.handle, [size64], localOffset + LOCAL_HEADER_SIZE + nameBytes.length + 12);
      }
    } catch (cause) {
      throw ioError("write", this.#file.tempPath, cause);
    }
    this.#members.push({ nameBytes, flags, method, crc, size, compressedSize, localOffset, localZip64 });
  }

  /** Writes the central directory and the end records, and renames the file into place. */
  async finish(durable = true): Promise<void> {
    const members = this.#members;
    const cdOffset = this.#sink.position;
    const zip64Fields = members.map((m) => ({ size: m.size >= U32_MAX, compressedSize: m.compressedSize >= U32_MAX, localOffset: m.localOffset >= U32_MAX }));
    const extraLengths = zip64Fields.map((z) => {
      const fields = Number(z.size) + Number(z.compressedSize) + Number(z.localOffset);
      return fields === 0 ? 0 : 4 + 8 * fields;
    });
    const cdSize = members.reduce((total, m, i) => total + CENTRAL_HEADER_SIZE + m.nameBytes.length + extraLengths[i]!, 0);
    const zip64End = members.length >= U16_MAX || cdOffset >= U32_MAX || cdSize >= U32_MAX;
    const out = new Uint8Array(cdSize + (zip64End ? ZIP64_END_SIZE + ZIP64_LOCATOR_SIZE : 0) + END_SIZE);
    const view = new DataView(out.buffer);
    const u64 = (at: number, value: number) => view.setBigUint64(at, BigInt(value), true);
    let at = 0;
    members.forEach((m, i) => {
      const z = zip64Fields[i]!;
      const zip64 = extraLengths[i]! > 0 || m.localZip64;
      view.setUint32(at, SIG.central, true);
      view.setUint16(at + 4, MADE_BY, true);
      view.setUint16(at + 6, zip64 ? 45 : 20, true);
      view.setUint16(at + 8, m.flags, true);
      view.setUint16(at + 10, m.method === "stored" ? 0 : 8, true);
      view.setUint16(at + 14, DOS_DATE, true);
      view.setUint32(at + 16, m.crc, true);
      view.setUint32(at + 20, z.compressedSize ? U32_MAX : m.compressedSize, true);
      view.setUint32(at + 24, z.size ? U32_MAX : m.size, true);
      view.setUint16(at + 28, m.nameBytes.length, true);
      view.setUint16(at + 30, extraLengths[i]!, true);
      view.setUint32(at + 38, EXTERNAL_ATTRIBUTES, true);
      view.setUint32(at + 42, z.localOffset ? U32_MAX : m.localOffset, true);
      out.set(m.nameBytes, at + CENTRAL_HEADER_SIZE);
      at += CENTRAL_HEADER_SIZE + m.nameBytes.length;
      if (extraLengths[i]! > 0) {
        view.setUint16(at, EXTRA_ZIP64, true);
        view.setUint16(at + 2, extraLengths[i]! - 4, true);
        let field = at + 4;
        for (const [needed, value] of [[z.size, m.size], [z.compressedSize, m.compressedSize], [z.localOffset, m.localOffset]] as const) {
          if (!needed) continue;
          u64(field, value);
          field += 8;
        }
        at += extraLengths[i]!;
      }
    });
    if (zip64End) {
      const zip64At = cdOffset + at;
      view.setUint32(at, SIG.zip64End, true);
      u64(at + 4, ZIP64_END_SIZE - 12);
      view.setUint16(at + 12, MADE_BY, true);
      view.setUint16(at + 14, 45, true);
      u64(at + 24, members.length);
      u64(at + 32, members.length);
      u64(at + 40, cdSize);
      u64(at + 48, cdOffset);
      at += ZIP64_END_SIZE;
      view.setUint32(at, SIG.zip64Locator, true);
      u64(at + 8, zip64At);
      view.setUint32(at + 16, 1, true);
      at += ZIP64_LOCATOR_SIZE;
    }
    view.setUint32(at, SIG.end, true);
    view.setUint16(at + 8, Math.min(members.length, U16_MAX), true);
    view.setUint16(at + 10, Math.min(members.length, U16_MAX), true);
    view.setUint32(at + 12, zip64End ? U32_MAX : cdSize, true);
    view.setUint32(at + 16, zip64End ? U32_MAX : cdOffset, true);
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
