/**
 * One way for every command to read .ndp, .npy, .npz and .safetensors files: {@link openArrayFile}
 * tells the format from the first bytes (or the extension), reads the headers only (`open` for
 * ndpack, the header-only readers of `interop/headers.ts` for the others), and hands out each
 * array's bytes in chunks of a fixed size, in this machine's byte order, so that no command ever
 * holds more than a chunk of an uncompressed array.
 *
 * What is held in memory at once: one chunk (8 MiB by default) for uncompressed arrays, .npy,
 * .safetensors and stored or deflated .npz members; a whole array for an ndpack array stored with a
 * codec (it is decompressed in one piece, within `maxDecodedBytes`).
 *
 * @module
 */
import { open as openHandle, type FileHandle } from "node:fs/promises";
import { basename, extname } from "node:path";
import { swapInPlace } from "../bytes.js";
import { createInflater, throughCodec } from "../codecs.js";
import { crc32 } from "../crc32.js";
import type { ArrayInfo } from "../decode.js";
import { DTYPES, type Dtype } from "../dtypes.js";
import { NdpackError } from "../errors.js";
import { CHECKSUM_SIZE, type Checksum } from "../format.js";
import { checkZeroPadding } from "../header.js";
import { detectFormat } from "../interop/convert.js";
import { readNpyHeader, readNpzHeader, readSafetensorsHeader, type ForeignArrayInfo, type NpzMemberInfo, type RangeReader } from "../interop/headers.js";
import { checkMemberCrc } from "../interop/zip.js";
import { open, type NdpackReader } from "../node/fs.js";
import { ioError } from "../node/io.js";
import { HOST_BYTE_ORDER } from "../runtime.js";
import { FileError, withFile } from "./errors.js";

/** The formats the command line reads and writes. */
export type FileFormat = "ndpack" | "npy" | "npz" | "safetensors";

/** File name extensions and their formats. */
const EXTENSIONS: Readonly<Record<string, FileFormat>> = Object.freeze({
  ".ndp": "ndpack",
  ".ndpack": "ndpack",
  ".npy": "npy",
  ".npz": "npz",
  ".safetensors": "safetensors",
});

/** How each format is named in messages. */
export const FORMAT_LABELS: Readonly<Record<FileFormat, string>> = Object.freeze({
  ndpack: "ndpack",
  npy: "numpy .npy",
  npz: "numpy .npz",
  safetensors: "safetensors",
});

/** Bytes per chunk handed out by {@link ArrayFile.chunks}. */
export const CHUNK_BYTES = 8 << 20;

/** The format a path's extension names, if any. */
export function formatOfPath(path: string): FileFormat | undefined {
  return EXTENSIONS[extname(path).toLowerCase()];
}

/** Options of {@link openArrayFile}. */
export interface OpenArrayFileOptions {
  /** The dtype of void descrs in .npy and .npz files (numpy's way of storing ml_dtypes arrays). */
  readonly voidDtype?: Dtype;
  /** The name of a .npy file's one array. Default: the file name without `.npy`. */
  readonly npyName?: string;
}

/** One array of an {@link ArrayFile}: the header's description and how it is protected. */
export interface ArrayEntry extends ArrayInfo {
  /** `"crc32"` (ndpack payload CRC, or the CRC-32 of a .npz member) or `"none"`. */
  readonly checksum: Checksum;
}

/** A file of any supported format, opened for reading its arrays. */
export interface ArrayFile {
  readonly path: string;
  readonly format: FileFormat;
  /** The format's version (ndpack `1.0`, .npy `1.0`...), when it has one. */
  readonly version: string | undefined;
  /** Length of the file in bytes. */
  readonly size: number;
  /** ndpack payload alignment; `undefined` for other formats. */
  readonly alignment: number | undefined;
  /** `"crc32"` when the arrays carry checksums (ndpack with CRCs, .npz), else `"none"`. */
  readonly checksum: Checksum;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly arrays: readonly ArrayEntry[];
  /** Bytes read from the file so far. */
  readonly bytesRead: number;
  /** The array `name`, or NOT_FOUND. */
  entry(name: string): ArrayEntry;
  /**
   * The array's elements, in its storage order and this machine's byte order, in chunks of exactly
   * `chunkBytes` rounded down to whole elements (the last one shorter). A .npz member's CRC-32 is
   * checked when its last chunk has been read (CHECKSUM).
   */
  chunks(name: string, chunkBytes?: number): AsyncGenerator<Uint8Array, void, undefined>;
  /** The whole array's bytes (as {@link chunks} gives them), in fresh memory. */
  read(name: string): Promise<Uint8Array>;
  /**
   * Checks the array's checksum without decoding it (FORMAT.md §9 step 22 for ndpack: the payload's
   * CRC and the padding after it; the member's CRC-32 for .npz). Does nothing for arrays without a
   * checksum. Throws CHECKSUM, BAD_PADDING, CODEC_ERROR (a .npz member that does not inflate).
   */
  verify(name: string): Promise<void>;
  close(): Promise<void>;
}

/** Positioned reads of an open file, counted. */
class FileBytes implements RangeReader {
  bytesRead = 0;
  constructor(
    readonly handle: FileHandle,
    readonly path: string,
    readonly size: number,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    const bytes = new Uint8Array(Math.max(0, Math.min(length, this.size - offset)));
    await this.fill(bytes, offset);
    return bytes;
  }

  /** Fills `target` from `offset`; FILE_CHANGED when the file ends first. */
  async fill(target: Uint8Array, offset: number): Promise<void> {
    let done = 0;
    try {
      while (done < target.length) {
        const { bytesRead } = await this.handle.read(target, done, Math.min(target.length - done, 1 << 30), offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (cause) {
      throw ioError("read", this.path, cause);
    }
    this.bytesRead += done;
    if (done < target.length) {
      throw new NdpackError("FILE_CHANGED", `${this.path} ended at byte ${offset + done}, before the ${this.size} bytes it had when it was opened`, { path: this.path, expected: this.size, actual: offset + done });
    }
  }
}

/** A chunk length: `chunkBytes` rounded down to whole elements, at least one element. */
function chunkLength(chunkBytes: number, itemSize: number): number {
  return Math.max(itemSize, chunkBytes - (chunkBytes % itemSize));
}

/** Stored bytes read straight from the file, `chunk` bytes at a time, swapped into this machine's order. */
async function* rawChunks(file: FileBytes, offset: number, byteLength: number, chunk: number, swapWord: number, onBytes?: (bytes: Uint8Array) => void): AsyncGenerator<Uint8Array, void, undefined> {
  for (let at = 0; at < byteLength; at += chunk) {
    const bytes = new Uint8Array(Math.min(chunk, byteLength - at));
    await file.fill(bytes, offset + at);
    onBytes?.(bytes);
    if (swapWord > 1) swapInPlace(bytes, swapWord);
    yield bytes;
  }
}

/** Cuts a stream of byte pieces into chunks of exactly `chunk` bytes (the last one shorter). */
async function* reblock(pieces: AsyncIterable<Uint8Array>, chunk: number): AsyncGenerator<Uint8Array, void, undefined> {
  let buffer = new Uint8Array(chunk);
  let used = 0;
  for await (const piece of pieces) {
    for (let at = 0; at < piece.length; ) {
      const n = Math.min(chunk - used, piece.length - at);
      buffer.set(piece.subarray(at, at + n), used);
      used += n;
      at += n;
      if (used === chunk) {
        yield buffer;
        buffer = new Uint8Array(chunk);
        used = 0;
      }
    }
  }
  if (used > 0) yield buffer.subarray(0, used);
}

function notFound(path: string, name: string): NdpackError {
  return new NdpackError("NOT_FOUND", `no array named ${JSON.stringify(name)} in ${path}`, { array: name, path });
}

abstract class BaseFile implements ArrayFile {
  abstract readonly format: FileFormat;
  abstract readonly version: string | undefined;
  abstract readonly alignment: number | undefined;
  abstract readonly checksum: Checksum;
  abstract readonly metadata: Readonly<Record<string, unknown>>;
  abstract readonly arrays: readonly ArrayEntry[];
  #byName: Map<string, ArrayEntry> | undefined;

  constructor(protected readonly file: FileBytes) {}

  get path(): string {
    return this.file.path;
  }
  get size(): number {
    return this.file.size;
  }
  get bytesRead(): number {
    return this.file.bytesRead;
  }

  entry(name: string): ArrayEntry {
    this.#byName ??= new Map(this.arrays.map((array) => [array.name, array]));
    const entry = this.#byName.get(name);
    if (entry === undefined) throw new FileError(this.path, notFound(this.path, name));
    return entry;
  }

  /** {@link ArrayFile.chunks}, without naming the file in errors. */
  protected abstract arrayChunks(name: string, chunkBytes: number): AsyncGenerator<Uint8Array, void, undefined>;
  /** {@link ArrayFile.verify}, without naming the file in errors. */
  protected abstract verifyArray(name: string): Promise<void>;

  async *chunks(name: string, chunkBytes = CHUNK_BYTES): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      yield* this.arrayChunks(name, chunkBytes);
    } catch (error) {
      throw error instanceof FileError ? error : new FileError(this.path, error);
    }
  }

  verify(name: string): Promise<void> {
    return withFile(this.path, () => this.verifyArray(name));
  }

  async read(name: string): Promise<Uint8Array> {
    const entry = this.entry(name);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(entry.nbytes);
    } catch (cause) {
      throw new NdpackError("LIMIT_EXCEEDED", `array "${name}" is ${entry.nbytes} bytes, more than this runtime can hold in one typed array`, { array: name, actual: entry.nbytes, cause });
    }
    let at = 0;
    for await (const chunk of this.chunks(name)) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    return bytes;
  }

  async close(): Promise<void> {
    await this.file.handle.close().catch(() => undefined);
  }
}

/** An ndpack file: the header through `open` (FORMAT.md §9 steps 1–21), payloads by positioned reads. */
class NdpackArrayFile extends BaseFile {
  readonly format = "ndpack";
  readonly version: string;
  readonly alignment: number;
  readonly checksum: Checksum;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly arrays: readonly ArrayEntry[];

  constructor(
    file: FileBytes,
    private readonly reader: NdpackReader,
  ) {
    super(file);
    this.version = `${reader.version.major}.${reader.version.minor}`;
    this.alignment = reader.alignment;
    this.checksum = reader.checksum;
    this.metadata = reader.metadata;
    this.arrays = reader.names.map((name) => ({ ...reader.info(name), checksum: reader.checksum }));
  }

  override get bytesRead(): number {
    return this.file.bytesRead + this.reader.bytesRead;
  }

  protected async *arrayChunks(name: string, chunkBytes: number): AsyncGenerator<Uint8Array, void, undefined> {
    const entry = this.entry(name);
    const dtype = DTYPES[entry.dtype];
    const chunk = chunkLength(chunkBytes, dtype.itemSize);
    if (entry.codec === "none") {
      const swap = dtype.wordSize > 1 && entry.byteOrder !== HOST_BYTE_ORDER ? dtype.wordSize : 1;
      yield* rawChunks(this.file, entry.offset, entry.byteLength, chunk, swap);
      return;
    }
    // A compressed payload is decompressed in one piece (shuffled bytes cannot be undone in parts).
    const array = await this.reader.read(name);
    const bytes = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
    for (let at = 0; at < bytes.length; at += chunk) yield bytes.subarray(at, Math.min(at + chunk, bytes.length));
  }

  /** FORMAT.md §9 step 22, as the core's `verifyRecord`, reading the payload in chunks. */
  protected async verifyArray(name: string): Promise<void> {
    const entry = this.entry(name);
    const index = this.arrays.indexOf(entry);
    const checksumSize = CHECKSUM_SIZE[this.checksum];
    let crc = 0;
    for await (const _ of rawChunks(this.file, entry.offset, entry.byteLength, CHUNK_BYTES, 1, (bytes) => (crc = crc32(bytes, crc)))) {
      // The CRC is computed as the bytes pass.
    }
    const end = entry.offset + entry.byteLength;
    const next = this.arrays[index + 1]?.offset ?? this.size;
    const tail = await this.file.read(end, next - end);
    if (checksumSize > 0) {
      const stored = new DataView(tail.buffer, tail.byteOffset, 4).getUint32(0, true);
      if (stored !== crc) {
        throw new NdpackError("CHECKSUM", `array "${name}": checksum mismatch, the payload is damaged (stored 0x${stored.toString(16)}, computed 0x${crc.toString(16)})`, { array: name, offset: end, expected: stored, actual: crc });
      }
    }
    checkZeroPadding(tail, checksumSize, tail.length, end, name);
  }

  override async close(): Promise<void> {
    await this.reader.close();
    await super.close();
  }
}

/** A .npy, .npz or .safetensors file, described by its header-only reader. */
class ForeignArrayFile extends BaseFile {
  readonly alignment = undefined;
  readonly checksum: Checksum;
  readonly arrays: readonly ArrayEntry[];

  constructor(
    file: FileBytes,
    readonly format: "npy" | "npz" | "safetensors",
    readonly version: string | undefined,
    readonly metadata: Readonly<Record<string, unknown>>,
    private readonly infos: readonly ForeignArrayInfo[],
  ) {
    super(file);
    this.checksum = format === "npz" ? "crc32" : "none";
    this.arrays = infos.map(({ npz: _member, ...info }) => ({ ...info, checksum: this.checksum }));
  }

  #member(name: string): NpzMemberInfo | undefined {
    const entry = this.entry(name);
    return this.infos[this.arrays.indexOf(entry)]!.npz;
  }

  protected async *arrayChunks(name: string, chunkBytes: number): AsyncGenerator<Uint8Array, void, undefined> {
    const entry = this.entry(name);
    const dtype = DTYPES[entry.dtype];
    const chunk = chunkLength(chunkBytes, dtype.itemSize);
    const swap = dtype.wordSize > 1 && entry.byteOrder !== HOST_BYTE_ORDER ? dtype.wordSize : 1;
    const member = this.#member(name);
    if (member === undefined) {
      yield* rawChunks(this.file, entry.offset, entry.byteLength, chunk, swap);
      return;
    }
    if (member.method === "stored") {
      // The array's bytes straight from the file; the member's CRC-32 covers its .npy header too.
      let crc = crc32(await this.file.read(member.dataStart, member.npyDataStart));
      yield* rawChunks(this.file, member.dataStart + member.npyDataStart, entry.nbytes, chunk, swap, (bytes) => (crc = crc32(bytes, crc)));
      checkCrc(name, member, crc);
      return;
    }
    const content = reblock(skip(this.#memberContent(name, member), member.npyDataStart), chunk);
    for await (const bytes of content) {
      if (swap > 1) swapInPlace(bytes, swap);
      yield bytes;
    }
  }

  /**
   * A .npz member's uncompressed content (its .npy header, then the array's bytes), in pieces;
   * the member's CRC-32 is checked after the last one.
   */
  async *#memberContent(name: string, member: NpzMemberInfo): AsyncGenerator<Uint8Array, void, undefined> {
    let crc = 0;
    let produced = 0;
    const pieces =
      member.method === "stored"
        ? rawChunks(this.file, member.dataStart, member.size, CHUNK_BYTES, 1)
        : inflateMember(rawChunks(this.file, member.dataStart, member.compressedSize, 1 << 20, 1), member, this.path);
    for await (const piece of pieces) {
      crc = crc32(piece, crc);
      produced += piece.length;
      yield piece;
    }
    if (produced !== member.size) {
      throw new NdpackError("CODEC_ERROR", `zip: member "${member.member}" inflates to ${produced} bytes, but its directory record says ${member.size}`, { array: name, expected: member.size, actual: produced });
    }
    checkCrc(name, member, crc);
  }

  protected async verifyArray(name: string): Promise<void> {
    const member = this.#member(name);
    if (member === undefined) return;
    for await (const _ of this.#memberContent(name, member)) {
      // The CRC is checked at the end.
    }
  }
}

/** CHECKSUM unless `crc` is the CRC-32 the zip's directory gives for the member. */
function checkCrc(name: string, member: NpzMemberInfo, crc: number): void {
  checkMemberCrc({ name: member.member, crc32: member.crc32, dataStart: member.dataStart }, crc, name);
}

/** Drops the first `count` bytes of a stream of pieces. */
async function* skip(pieces: AsyncIterable<Uint8Array>, count: number): AsyncGenerator<Uint8Array, void, undefined> {
  let left = count;
  for await (const piece of pieces) {
    if (left >= piece.length) {
      left -= piece.length;
      continue;
    }
    yield left > 0 ? piece.subarray(left) : piece;
    left = 0;
  }
}

/** Inflates a deflated member as its compressed bytes arrive, stopping (CODEC_ERROR) past its declared size. */
async function* inflateMember(compressed: AsyncIterable<Uint8Array>, member: NpzMemberInfo, path: string): AsyncGenerator<Uint8Array, void, undefined> {
  let produced = 0;
  try {
    for await (const piece of throughCodec(compressed, createInflater())) {
      produced += piece.length;
      if (produced > member.size) {
        throw new NdpackError("CODEC_ERROR", `zip: member "${member.member}" inflates to more than the ${member.size} bytes its directory record says`, { expected: member.size, actual: produced, path });
      }
      yield piece;
    }
  } catch (error) {
    if (error instanceof NdpackError || error instanceof FileError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new NdpackError("CODEC_ERROR", `zip: member "${member.member}" is not a valid deflate stream (${message})`, { path, cause: error });
  }
}

/** Tells the format from the first bytes, falling back on the extension for damaged files. */
async function sniff(file: FileBytes): Promise<FileFormat> {
  const head = await file.read(0, 16);
  const detected = detectFormat(head);
  if (detected !== undefined) return detected;
  if (head.length > 8 && head[8] === 0x7b) {
    const length = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (length <= BigInt(file.size - 8)) return "safetensors";
  }
  const byExtension = formatOfPath(file.path);
  if (byExtension !== undefined) return byExtension;
  throw new NdpackError("BAD_MAGIC", `${file.path} is not an ndpack, .npy, .npz or .safetensors file (its first bytes match none of them)`, { path: file.path, offset: 0 });
}

/**
 * Opens a file of any supported format and reads its headers (never its payloads): the format
 * errors of the format's reader, IO_ERROR, BAD_MAGIC when the format cannot be told.
 */
export async function openArrayFile(path: string, options: OpenArrayFileOptions = {}): Promise<ArrayFile> {
  let handle: FileHandle;
  try {
    handle = await openHandle(path, "r");
  } catch (cause) {
    throw ioError("open", path, cause);
  }
  try {
    let size: number;
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw new NdpackError("INVALID_ARGUMENT", `${path} is not a regular file`, { path });
      size = stats.size;
    } catch (cause) {
      throw ioError("stat", path, cause);
    }
    const file = new FileBytes(handle, path, size);
    const format = await sniff(file);
    switch (format) {
      case "ndpack":
        return new NdpackArrayFile(file, await open(path));
      case "npy": {
        const name = options.npyName ?? basename(path).replace(/\.npy$/i, "");
        const header = await readNpyHeader(file, { name, ...(options.voidDtype === undefined ? {} : { voidDtype: options.voidDtype }) });
        return new ForeignArrayFile(file, "npy", header.version, header.metadata, header.arrays);
      }
      case "npz": {
        // Members are inflated as streams, never whole: no member is too large to read.
        const header = await readNpzHeader(file, { maxDecodedBytes: Number.MAX_SAFE_INTEGER, ...(options.voidDtype === undefined ? {} : { voidDtype: options.voidDtype }) });
        return new ForeignArrayFile(file, "npz", header.version, header.metadata, header.arrays);
      }
      case "safetensors": {
        const header = await readSafetensorsHeader(file);
        return new ForeignArrayFile(file, "safetensors", undefined, header.metadata, header.arrays);
      }
    }
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}
