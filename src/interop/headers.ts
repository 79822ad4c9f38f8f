/**
 * Header-only readers for .npy, .npz and .safetensors files: what a file holds (names, dtypes,
 * shapes, and where each array's bytes are) learnt from a few positioned reads, whatever the size of
 * the payloads. They are to the whole-buffer readers (`fromNpy`, `fromNpz`, `fromSafetensors`) what
 * `open` is to `load`: the same checks of the same bytes, with the same error codes, except those
 * that need the payloads (the CRC-32 of .npz members).
 *
 * The bytes come from a {@link RangeReader}: a file handle in Node, an HTTP range request or a
 * `Blob.slice` in a browser. Nothing here imports a `node:` module.
 *
 * - .npy: the prefix and the header (two reads).
 * - .safetensors: the 8-byte length and the JSON header (two reads).
 * - .npz: the end records and the central directory from the end of the file, then for each member
 *   its local header and the start of its content, where the .npy header is (inflating only those
 *   first bytes of a deflated member), and the member `__ndpack__.json` when there is one.
 *
 * @example
 * ```ts
 * const handle = await fs.open("model.safetensors");
 * const { size } = await handle.stat();
 * const header = await readSafetensorsHeader({
 *   size,
 *   read: async (offset, length) => {
 *     const bytes = new Uint8Array(length);
 *     const { bytesRead } = await handle.read(bytes, 0, length, offset);
 *     return bytes.subarray(0, bytesRead);
 *   },
 * });
 * for (const array of header.arrays) console.log(array.name, array.dtype, array.shape);
 * ```
 *
 * @module
 */
import { Inflate } from "pako";
import type { ArrayInfo } from "../decode.js";
import { isDtype, type Dtype } from "../dtypes.js";
import { NdpackError } from "../errors.js";
import { DEFAULT_LIMITS } from "../format.js";
import { parseHeaderJson } from "../json.js";
import { crc32 } from "../crc32.js";
import { checkLimit, decodeUtf8, readU64, setOwn } from "./common.js";
import { NPY_MAX_PREFIX_SIZE, readNpyLayout, readNpyPrefix, resolveNpyOptions, type NpyLayout } from "./npy.js";
import { NPZ_NDPACK_MEMBER } from "./npz.js";
import { parseSafetensorsHeader, readSafetensorsHeaderLength, resolveSafetensorsOptions, SAFETENSORS_LENGTH_SIZE } from "./safetensors.js";

/** Positioned reads of a file (or any byte source whose length is known). */
export interface RangeReader {
  /** Length of the file in bytes. */
  readonly size: number;
  /** The `length` bytes at `offset`; fewer only when the file ends first. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Where a .npz array's bytes are: its zip member. */
export interface NpzMemberInfo {
  /** The member's name in the zip (`<array name>.npy`). */
  readonly member: string;
  readonly method: "stored" | "deflate";
  /** The CRC-32 of the member's uncompressed content, from the central directory. */
  readonly crc32: number;
  /** Stored bytes of the member. */
  readonly compressedSize: number;
  /** Uncompressed bytes of the member: the .npy header and the array's bytes. */
  readonly size: number;
  /** Offset of the member's stored bytes in the file. */
  readonly dataStart: number;
  /** Offset of the array's bytes inside the member's uncompressed content (the .npy header's length). */
  readonly npyDataStart: number;
}

/** One array as a header describes it; `offset` and `byteLength` locate its stored bytes in the file. */
export interface ForeignArrayInfo extends ArrayInfo {
  /** For .npz: the member holding the array. */
  readonly npz?: NpzMemberInfo;
}

/** What {@link readNpyHeader}, {@link readNpzHeader} and {@link readSafetensorsHeader} found. */
export interface ForeignHeader {
  readonly format: "npy" | "npz" | "safetensors";
  /** The .npy format version (`"1.0"`, `"2.0"`, `"3.0"`); for .npz, the version of its first member. */
  readonly version: string | undefined;
  /** ndpack metadata the file keeps (`__ndpack__.json` in .npz, `__metadata__` in .safetensors); `{}` for .npy. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** The arrays in the order the whole-buffer reader returns them. */
  readonly arrays: readonly ForeignArrayInfo[];
  /** .npz members that are neither `.npy` files nor `__ndpack__.json`. */
  readonly ignored: readonly string[];
  /** Bytes read to learn all this. */
  readonly bytesRead: number;
}

/** Options of {@link readNpyHeader}. */
export interface NpyHeaderOptions {
  /** The array's name (a .npy file has none). Default `"array"`. */
  readonly name?: string;
  /** As for `fromNpy`: the dtype of a void descr. */
  readonly voidDtype?: Dtype;
  /** As for `fromNpy`. Default 10000 (numpy's). */
  readonly maxHeaderBytes?: number;
  /** As for `fromNpy`. Default 64. */
  readonly maxDims?: number;
}

/** Options of {@link readNpzHeader}: those of `fromNpz` that apply without the payloads. */
export interface NpzHeaderOptions {
  /** As for `fromNpz`: one dtype for every void member, or one per array name. */
  readonly voidDtype?: Dtype | Readonly<Record<string, Dtype>>;
  /** Most members. Default 1,000,000. */
  readonly maxArrays?: number;
  /** Longest .npy header. Default 10000. */
  readonly maxHeaderBytes?: number;
  /** Most dimensions. Default 64. */
  readonly maxDims?: number;
  /**
   * As for `fromNpz`: a deflated member larger than this, uncompressed, is refused (LIMIT_EXCEEDED)
   * before anything of it is inflated. Default 1 GiB. Readers that inflate members as a stream,
   * never holding one whole, can raise it to `Number.MAX_SAFE_INTEGER`.
   */
  readonly maxDecodedBytes?: number;
  /** Largest `__ndpack__.json` member read, in bytes. Default 100 MiB (the core's `maxHeaderBytes`). */
  readonly maxMetadataBytes?: number;
}

/** Options of {@link readSafetensorsHeader}. */
export interface SafetensorsHeaderOptions {
  /** As for `fromSafetensors`. Default 100,000,000 (the reference loader's). */
  readonly maxHeaderBytes?: number;
  /** As for `fromSafetensors`. Default 64. */
  readonly maxDims?: number;
}

/** Counts the bytes a reader hands out. */
class CountingReader {
  bytesRead = 0;
  constructor(readonly source: RangeReader) {}
  get size(): number {
    return this.source.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const bytes = length <= 0 ? new Uint8Array(0) : await this.source.read(offset, Math.min(length, Math.max(0, this.source.size - offset)));
    this.bytesRead += bytes.length;
    return bytes;
  }
}

/**
 * The .npy layout of content `length` bytes long, from its first bytes: the prefix, then the
 * prefix and the header (`readHead(n)` gives the first `n` bytes, all of them when shorter).
 */
async function npyLayoutOf(readHead: (length: number) => Promise<Uint8Array>, length: number, options: ReturnType<typeof resolveNpyOptions>, member?: string): Promise<NpyLayout> {
  const { prefixSize, headerLength } = readNpyPrefix(await readHead(Math.min(length, NPY_MAX_PREFIX_SIZE)), length, options, member);
  return readNpyLayout(await readHead(prefixSize + headerLength), length, options, member);
}

/**
 * Reads the header of a .npy file: its one array, with `offset` where the array's bytes start.
 *
 * @throws NdpackError every error `fromNpy` raises from the prefix and the header, and TRUNCATED or
 *   TRAILING_BYTES when the file's size is not what the header describes.
 */
export async function readNpyHeader(source: RangeReader, options: NpyHeaderOptions = {}): Promise<ForeignHeader> {
  const reader = new CountingReader(source);
  const resolved = resolveNpyOptions(options);
  const layout = await npyLayoutOf((length) => reader.read(0, length), reader.size, resolved);
  const info: ForeignArrayInfo = {
    name: options.name ?? "array",
    dtype: layout.dtype.name,
    shape: Object.freeze([...layout.shape]),
    order: layout.order,
    byteOrder: layout.byteOrder,
    codec: "none",
    offset: layout.dataStart,
    byteLength: layout.nbytes,
    nbytes: layout.nbytes,
  };
  return { format: "npy", version: `${layout.version}.0`, metadata: {}, arrays: [info], ignored: [], bytesRead: reader.bytesRead };
}

// ---------------------------------------------------------------------------------------------
// .safetensors

/**
 * Reads the header of a .safetensors file: every tensor, in data order (as `fromSafetensors`
 * returns them), with its absolute offset, and the metadata decoded as `fromSafetensors` decodes it.
 *
 * @throws NdpackError the errors `fromSafetensors` raises: TRUNCATED, HEADER_TOO_LARGE,
 *   HEADER_INVALID, DUPLICATE_NAME, DUPLICATE_KEY, BAD_NUMBER, UNKNOWN_DTYPE, LIMIT_EXCEEDED,
 *   OVERLAP, GAP, BAD_SHAPE, SIZE_MISMATCH, TRAILING_BYTES.
 */
export async function readSafetensorsHeader(source: RangeReader, options: SafetensorsHeaderOptions = {}): Promise<ForeignHeader> {
  const reader = new CountingReader(source);
  const { maxHeaderBytes, maxDims } = resolveSafetensorsOptions(options);
  const size = reader.size;
  const length = readSafetensorsHeaderLength(await reader.read(0, SAFETENSORS_LENGTH_SIZE), size, maxHeaderBytes);
  const { dataStart, tensors, metadata } = parseSafetensorsHeader(await reader.read(SAFETENSORS_LENGTH_SIZE, length), size, maxDims);
  const arrays = tensors.map(
    (entry): ForeignArrayInfo => ({
      name: entry.name,
      dtype: entry.dtype.name,
      shape: Object.freeze([...entry.shape]),
      order: "C",
      byteOrder: "little",
      codec: "none",
      offset: dataStart + entry.begin,
      byteLength: entry.end - entry.begin,
      nbytes: entry.end - entry.begin,
    }),
  );
  return { format: "safetensors", version: undefined, metadata, arrays, ignored: [], bytesRead: reader.bytesRead };
}

// ---------------------------------------------------------------------------------------------
// .npz: the zip central directory from the end of the file (the checks of zip.ts `readZipDirectory`)

const SIG = { local: 0x04034b50, central: 0x02014b50, end: 0x06054b50, zip64End: 0x06064b50, zip64Locator: 0x07064b50 } as const;
const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
const END_SIZE = 22;
const ZIP64_END_SIZE = 56;
const ZIP64_LOCATOR_SIZE = 20;
const MAX_COMMENT = 0xffff;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
const EXTRA_ZIP64 = 0x0001;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_UTF8 = 0x0800;
/** Bytes read from the end of a zip first, to find its end record when it has no long comment. */
const TAIL_FIRST_READ = 4096;
/** Compressed bytes inflated at a time while looking for a deflated member's .npy header. */
const INFLATE_STEP = 4096;

const CP437_HIGH =
  "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0";

function decodeCp437(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += byte < 0x80 ? String.fromCharCode(byte) : CP437_HIGH[byte - 0x80]!;
  return text;
}

function zipInvalid(message: string, offset?: number): NdpackError {
  return new NdpackError("HEADER_INVALID", message, offset === undefined ? {} : { offset });
}

function u64Field(view: DataView, at: number, what: string, length: number, base: number): number {
  const value = readU64(view, at);
  if (value === undefined) throw new NdpackError("OUT_OF_BOUNDS", `zip: ${what} is beyond 2^53-1, past the end of the ${length}-byte input`, { offset: base + at });
  return value;
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** One member, as its central record describes it, checked against its local header. */
interface ZipMember {
  readonly name: string;
  readonly method: "stored" | "deflate";
  readonly crc32: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localOffset: number;
  readonly dataStart: number;
}

async function readZipMembers(reader: CountingReader, maxEntries: number): Promise<ZipMember[]> {
  const size = reader.size;
  const first = await reader.read(0, Math.min(size, 4));
  const empty = first.length >= 4 && ((first[2] === 0x05 && first[3] === 0x06) || (first[2] === 0x06 && first[3] === 0x06));
  const magic = empty ? [0x50, 0x4b, first[2]!, 0x06] : [0x50, 0x4b, 0x03, 0x04];
  for (let i = 0; i < first.length; i++) {
    if (first[i] !== magic[i]) throw new NdpackError("BAD_MAGIC", `not a zip (.npz) file: byte ${i} is 0x${first[i]!.toString(16).padStart(2, "0")}, expected 0x${magic[i]!.toString(16).padStart(2, "0")} (a zip starts with PK\\x03\\x04)`, { offset: i });
  }
  if (size < END_SIZE) throw new NdpackError("TRUNCATED", `zip: input is ${size} bytes, shorter than the ${END_SIZE}-byte end record`, { expected: END_SIZE, actual: size });

  // The end record (and the ZIP64 locator just before it) lie in the file's last 64 KiB or so;
  // without a long comment, in its last few bytes: those are read first.
  let tailStart = 0;
  let tail: Uint8Array = new Uint8Array(0);
  let endAt = -1;
  let mismatch: "trailing" | "truncated" | undefined;
  for (const window of [TAIL_FIRST_READ, END_SIZE + MAX_COMMENT + ZIP64_LOCATOR_SIZE]) {
    tailStart = Math.max(0, size - window);
    tail = await reader.read(tailStart, size - tailStart);
    const view = dataView(tail);
    mismatch = undefined;
    for (let at = size - END_SIZE; at >= Math.max(tailStart, size - END_SIZE - MAX_COMMENT); at--) {
      if (view.getUint32(at - tailStart, true) !== SIG.end) continue;
      const end = at + END_SIZE + view.getUint16(at - tailStart + 20, true);
      if (end === size) {
        endAt = at;
        break;
      }
      mismatch ??= end < size ? "trailing" : "truncated";
    }
    // The ZIP64 locator, just before the end record, must be in the window too.
    if (endAt >= 0 && endAt - ZIP64_LOCATOR_SIZE < tailStart && tailStart > 0) endAt = -1;
    if (endAt >= 0 || tailStart === 0) break;
  }
  const tailView = dataView(tail);
  if (endAt < 0) {
    if (mismatch === "trailing") throw new NdpackError("TRAILING_BYTES", "zip: bytes follow the end of central directory record (and its comment)", { actual: size });
    throw new NdpackError("TRUNCATED", "zip: no end of central directory record at the end of the input: the file is truncated or is not a zip file", { actual: size });
  }
  const e = endAt - tailStart;
  if (tailView.getUint16(e + 4, true) !== 0 || tailView.getUint16(e + 6, true) !== 0) throw zipInvalid("zip: multi-volume archives are not supported", endAt + 4);
  let count = tailView.getUint16(e + 10, true);
  let cdSize = tailView.getUint32(e + 12, true);
  let cdOffset = tailView.getUint32(e + 16, true);
  let cdLimit = endAt;
  const locatorAt = endAt - ZIP64_LOCATOR_SIZE;
  if (locatorAt >= 0 && tailView.getUint32(locatorAt - tailStart, true) === SIG.zip64Locator) {
    const zip64At = u64Field(tailView, locatorAt - tailStart + 8, "the ZIP64 end record's offset", size, tailStart);
    if (zip64At + ZIP64_END_SIZE > locatorAt) {
      throw new NdpackError("OUT_OF_BOUNDS", `zip: the ZIP64 end record at ${zip64At} runs past its locator at ${locatorAt}`, { offset: locatorAt + 8, actual: zip64At });
    }
    const record = await reader.read(zip64At, ZIP64_END_SIZE);
    const view = dataView(record);
    if (view.getUint32(0, true) !== SIG.zip64End) throw zipInvalid(`zip: no ZIP64 end record at offset ${zip64At}, where its locator points`, zip64At);
    if (view.getUint32(16, true) !== 0 || view.getUint32(20, true) !== 0) throw zipInvalid("zip: multi-volume archives are not supported", zip64At + 16);
    count = u64Field(view, 32, "the member count", size, zip64At);
    cdSize = u64Field(view, 40, "the central directory's size", size, zip64At);
    cdOffset = u64Field(view, 48, "the central directory's offset", size, zip64At);
    cdLimit = zip64At;
  } else if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
    throw zipInvalid("zip: the end record defers to a ZIP64 end record, but there is none", endAt);
  }
  if (cdOffset + cdSize > cdLimit) {
    throw new NdpackError("OUT_OF_BOUNDS", `zip: the central directory (offset ${cdOffset}, ${cdSize} bytes) runs past the end records at ${cdLimit}`, { offset: cdOffset, expected: cdLimit, actual: cdOffset + cdSize });
  }
  if (count > maxEntries) {
    throw new NdpackError("LIMIT_EXCEEDED", `zip: ${count} members, more than the limit of ${maxEntries}; raise the maxArrays option to read it`, { expected: maxEntries, actual: count, limit: "maxArrays" });
  }
  if (count * CENTRAL_HEADER_SIZE > cdSize) throw new NdpackError("SIZE_MISMATCH", `zip: ${count} members cannot fit in a ${cdSize}-byte central directory`, { offset: cdOffset, expected: count * CENTRAL_HEADER_SIZE, actual: cdSize });

  const cd = await reader.read(cdOffset, cdSize);
  const view = dataView(cd);
  const cdEnd = cdOffset + cdSize;
  const members: ZipMember[] = [];
  let at = 0;
  for (let index = 0; index < count; index++) {
    const abs = cdOffset + at;
    if (abs + CENTRAL_HEADER_SIZE > cdEnd) throw new NdpackError("OUT_OF_BOUNDS", `zip: central record ${index} at ${abs} runs past the central directory's end at ${cdEnd}`, { offset: abs, expected: cdEnd });
    if (view.getUint32(at, true) !== SIG.central) throw zipInvalid(`zip: no central directory record at offset ${abs}`, abs);
    const flags = view.getUint16(at + 8, true);
    const methodCode = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    let compressedSize = view.getUint32(at + 20, true);
    let memberSize = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const disk = view.getUint16(at + 34, true);
    let localOffset = view.getUint32(at + 42, true);
    const next = at + CENTRAL_HEADER_SIZE + nameLength + extraLength + commentLength;
    if (cdOffset + next > cdEnd) throw new NdpackError("OUT_OF_BOUNDS", `zip: central record ${index} at ${abs} runs past the central directory's end at ${cdEnd}`, { offset: abs, expected: cdEnd, actual: cdOffset + next });
    const nameBytes = cd.subarray(at + CENTRAL_HEADER_SIZE, at + CENTRAL_HEADER_SIZE + nameLength);
    const name = flags & FLAG_UTF8 ? decodeUtf8(nameBytes) : decodeCp437(nameBytes);
    if (name === undefined) throw zipInvalid(`zip: the name of central record ${index} is flagged UTF-8 but is not valid UTF-8`, abs + CENTRAL_HEADER_SIZE);
    const details = { array: name, offset: abs };
    const wanted = [memberSize === U32_MAX && "size", compressedSize === U32_MAX && "compressed size", localOffset === U32_MAX && "local header offset"].filter((w): w is string => w !== false);
    if (wanted.length > 0) {
      const values = readZip64Extra(view, at + CENTRAL_HEADER_SIZE + nameLength, extraLength, wanted, abs, size, cdOffset);
      let i = 0;
      if (memberSize === U32_MAX) memberSize = values[i++]!;
      if (compressedSize === U32_MAX) compressedSize = values[i++]!;
      if (localOffset === U32_MAX) localOffset = values[i++]!;
    }
    if (disk !== 0) throw zipInvalid(`zip: member "${name}" is on another volume; multi-volume archives are not supported`, abs + 34);
    if (flags & FLAG_ENCRYPTED) throw new NdpackError("UNSUPPORTED_CODEC", `zip: member "${name}" is encrypted`, details);
    if (methodCode !== 0 && methodCode !== 8) throw new NdpackError("UNSUPPORTED_CODEC", `zip: member "${name}" uses compression method ${methodCode}; .npz readers support stored (0) and deflate (8)`, { ...details, actual: methodCode });
    const method = methodCode === 0 ? "stored" : "deflate";
    if (method === "stored" && compressedSize !== memberSize) {
      throw new NdpackError("SIZE_MISMATCH", `zip: stored member "${name}" declares ${compressedSize} stored bytes but ${memberSize} uncompressed`, { ...details, expected: memberSize, actual: compressedSize });
    }
    const dataStart = await checkLocalHeader(reader, { name, nameBytes, localOffset, compressedSize, cdOffset });
    members.push({ name, method, crc32: crc, compressedSize, size: memberSize, localOffset, dataStart });
    at = next;
  }
  if (cdOffset + at !== cdEnd) throw new NdpackError("SIZE_MISMATCH", `zip: the central directory is ${cdSize} bytes, but its ${count} records take ${at}`, { offset: cdOffset + at, expected: cdSize, actual: at });
  const sorted = [...members].sort((a, b) => a.localOffset - b.localOffset);
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1]!;
    const member = sorted[i]!;
    if (member.localOffset < previous.dataStart + previous.compressedSize) {
      throw new NdpackError("OVERLAP", `zip: member "${member.name}" at ${member.localOffset} overlaps member "${previous.name}", which ends at ${previous.dataStart + previous.compressedSize}`, { array: member.name, offset: member.localOffset, expected: previous.dataStart + previous.compressedSize });
    }
  }
  const seen = new Set<string>();
  for (const member of members) {
    if (seen.has(member.name)) throw new NdpackError("DUPLICATE_NAME", `zip: member "${member.name}" appears twice`, { array: member.name, offset: member.localOffset });
    seen.add(member.name);
  }
  return members;
}

function readZip64Extra(view: DataView, extraAt: number, extraLength: number, wanted: readonly string[], recordAt: number, length: number, base: number): number[] {
  let at = extraAt;
  const end = extraAt + extraLength;
  while (at + 4 <= end) {
    const id = view.getUint16(at, true);
    const fieldSize = view.getUint16(at + 2, true);
    if (at + 4 + fieldSize > end) throw zipInvalid(`zip: extra field 0x${id.toString(16)} of the member at ${recordAt} runs past the extra data`, base + at);
    if (id === EXTRA_ZIP64) {
      if (fieldSize < wanted.length * 8) throw zipInvalid(`zip: the ZIP64 extra field of the member at ${recordAt} is too short for ${wanted.join(", ")}`, base + at);
      return wanted.map((what, i) => u64Field(view, at + 4 + i * 8, what, length, base));
    }
    at += 4 + fieldSize;
  }
  throw zipInvalid(`zip: the member at ${recordAt} defers its ${wanted.join(", ")} to a ZIP64 extra field, but has none`, recordAt);
}

async function checkLocalHeader(reader: CountingReader, member: { name: string; nameBytes: Uint8Array; localOffset: number; compressedSize: number; cdOffset: number }): Promise<number> {
  const { name, localOffset, compressedSize, cdOffset } = member;
  const details = { array: name, offset: localOffset };
  if (localOffset + LOCAL_HEADER_SIZE > cdOffset) {
    throw new NdpackError("OUT_OF_BOUNDS", `zip: member "${name}"'s local header at ${localOffset} runs into the central directory at ${cdOffset}`, { ...details, expected: cdOffset });
  }
  const head = await reader.read(localOffset, LOCAL_HEADER_SIZE + member.nameBytes.length);
  const view = dataView(head);
  if (view.getUint32(0, true) !== SIG.local) throw zipInvalid(`zip: no local header for member "${name}" at offset ${localOffset}`, localOffset);
  const nameLength = view.getUint16(26, true);
  const extraLength = view.getUint16(28, true);
  const nameAt = localOffset + LOCAL_HEADER_SIZE;
  const dataStart = nameAt + nameLength + extraLength;
  if (dataStart + compressedSize > cdOffset) {
    throw new NdpackError("OUT_OF_BOUNDS", `zip: member "${name}"'s data (${compressedSize} bytes at ${dataStart}) runs into the central directory at ${cdOffset}`, { ...details, expected: cdOffset, actual: dataStart + compressedSize });
  }
  const localName = head.subarray(LOCAL_HEADER_SIZE);
  if (nameLength !== member.nameBytes.length || localName.some((byte, i) => byte !== member.nameBytes[i])) {
    throw zipInvalid(`zip: member "${name}"'s local header names a different file than its central record`, nameAt);
  }
  return dataStart;
}

/**
 * The first `length` bytes of a member's uncompressed content: read as they are from a stored
 * member, inflated from as few compressed bytes as needed from a deflated one.
 */
async function memberHead(reader: CountingReader, member: ZipMember, length: number): Promise<Uint8Array> {
  const wanted = Math.min(length, member.size);
  if (member.method === "stored") return reader.read(member.dataStart, wanted);
  const out = new Uint8Array(wanted);
  let filled = 0;
  let failure: unknown;
  // pako, a port of zlib, refuses the streams zlib refuses (fflate's inflater accepts some invalid ones).
  const inflate = new Inflate({ raw: true });
  inflate.onData = (chunk) => {
    const bytes = chunk as Uint8Array;
    const n = Math.min(bytes.length, wanted - filled);
    out.set(bytes.subarray(0, n), filled);
    filled += n;
  };
  for (let at = 0; filled < wanted && at < member.compressedSize; at += INFLATE_STEP) {
    const step = Math.min(INFLATE_STEP, member.compressedSize - at);
    const input = await reader.read(member.dataStart + at, step);
    inflate.push(input, at + step >= member.compressedSize);
    if (inflate.err !== 0) {
      failure = new Error(inflate.msg);
      break;
    }
  }
  if (failure !== undefined || filled < wanted) {
    throw new NdpackError("CODEC_ERROR", `zip: member "${member.name}" is not a valid deflate stream${failure instanceof Error ? ` (${failure.message})` : ""}`, { array: member.name, offset: member.dataStart, cause: failure });
  }
  return out;
}

/** `__ndpack__.json`: metadata, and the dtypes of void members (as npz.ts `readNdpackMember`). */
function readNdpackMember(content: Uint8Array): { metadata: Record<string, unknown>; dtypes: Map<string, Dtype> } {
  const fail = (why: string) => new NdpackError("HEADER_INVALID", `${NPZ_NDPACK_MEMBER}: ${why}`, { array: NPZ_NDPACK_MEMBER });
  const text = decodeUtf8(content);
  if (text === undefined) throw fail("not valid UTF-8");
  const value = parseHeaderJson(text, { maxDepth: DEFAULT_LIMITS.maxDepth }) as Record<string, unknown>;
  const keys = Object.keys(value);
  if (keys.length !== 2 || !Object.hasOwn(value, "metadata") || !Object.hasOwn(value, "dtypes")) throw fail('must be an object with exactly the keys "metadata" and "dtypes"');
  const { metadata, dtypes } = value;
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) throw fail('"metadata" must be an object');
  if (dtypes === null || typeof dtypes !== "object" || Array.isArray(dtypes)) throw fail('"dtypes" must be an object');
  const map = new Map<string, Dtype>();
  for (const [name, dtype] of Object.entries(dtypes)) {
    if (!isDtype(dtype)) throw new NdpackError("UNKNOWN_DTYPE", `${NPZ_NDPACK_MEMBER}: array "${name}" has unknown dtype ${JSON.stringify(dtype)}`, { array: name, field: `dtypes.${name}` });
    map.set(name, dtype);
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(metadata)) setOwn(out, key, item);
  return { metadata: out, dtypes: map };
}

/**
 * Reads the headers of a .npz file: the zip's central directory and each member's local header
 * and .npy header, and the member `__ndpack__.json` (whose CRC-32 is checked: it is read whole).
 * Arrays come in the order of the central directory. A stored member's array has `codec` `"none"`
 * and `offset` where its bytes start; a deflated one has `codec` `"deflate"`, with `offset` and
 * `byteLength` of the member's compressed bytes, as `fromNpz` reports them.
 *
 * @throws NdpackError the errors `fromNpz` raises, except CHECKSUM for array members (whose
 *   content is not read) and CODEC_ERROR past the .npy header of a deflated member. A member
 *   whose .npy header is damaged is reported by what is wrong with that header, where `fromNpz`,
 *   which checks a member's CRC-32 before reading it, reports CHECKSUM.
 */
export async function readNpzHeader(source: RangeReader, options: NpzHeaderOptions = {}): Promise<ForeignHeader> {
  const reader = new CountingReader(source);
  const npyOptions = resolveNpyOptions({ maxHeaderBytes: options.maxHeaderBytes, maxDims: options.maxDims });
  const maxArrays = checkLimit(options.maxArrays, DEFAULT_LIMITS.maxArrays, "maxArrays");
  const maxMetadataBytes = checkLimit(options.maxMetadataBytes, DEFAULT_LIMITS.maxHeaderBytes, "maxMetadataBytes");
  const maxDecodedBytes = checkLimit(options.maxDecodedBytes, DEFAULT_LIMITS.maxDecodedBytes, "maxDecodedBytes");
  const checkInflatable = (member: ZipMember) => {
    if (member.method === "deflate" && member.size > maxDecodedBytes) {
      throw new NdpackError("LIMIT_EXCEEDED", `zip: member "${member.name}" inflates to ${member.size} bytes, more than the limit of ${maxDecodedBytes}; raise the maxDecodedBytes option to read it`, { array: member.name, expected: maxDecodedBytes, actual: member.size, limit: "maxDecodedBytes" });
    }
  };
  const voidOption = options.voidDtype;
  if (voidOption !== undefined && (typeof voidOption === "string" ? !isDtype(voidOption) : voidOption === null || typeof voidOption !== "object" || !Object.values(voidOption).every(isDtype))) {
    throw new NdpackError("INVALID_ARGUMENT", "voidDtype must be a dtype name or an object of dtype names by array name", { field: "voidDtype" });
  }
  const members = await readZipMembers(reader, maxArrays);

  const ndpackMember = members.find((m) => m.name === NPZ_NDPACK_MEMBER);
  let extra = { metadata: {} as Record<string, unknown>, dtypes: new Map<string, Dtype>() };
  if (ndpackMember !== undefined) {
    checkInflatable(ndpackMember);
    if (ndpackMember.size > maxMetadataBytes) {
      throw new NdpackError("LIMIT_EXCEEDED", `zip: member "${NPZ_NDPACK_MEMBER}" is ${ndpackMember.size} bytes, more than the limit of ${maxMetadataBytes}; raise the maxMetadataBytes option to read it`, { array: NPZ_NDPACK_MEMBER, expected: maxMetadataBytes, actual: ndpackMember.size, limit: "maxMetadataBytes" });
    }
    const content = await memberHead(reader, ndpackMember, ndpackMember.size);
    const actual = crc32(content);
    if (actual !== ndpackMember.crc32) {
      throw new NdpackError("CHECKSUM", `zip: member "${NPZ_NDPACK_MEMBER}": CRC-32 mismatch, the member is damaged (stored 0x${ndpackMember.crc32.toString(16)}, computed 0x${actual.toString(16)})`, { array: NPZ_NDPACK_MEMBER, offset: ndpackMember.dataStart, expected: ndpackMember.crc32, actual });
    }
    extra = readNdpackMember(content);
  }

  const arrays: ForeignArrayInfo[] = [];
  const ignored: string[] = [];
  let version: string | undefined;
  for (const member of members) {
    if (member === ndpackMember || (member.name.endsWith("/") && member.size === 0)) continue;
    if (!member.name.endsWith(".npy")) {
      ignored.push(member.name);
      continue;
    }
    const name = member.name.slice(0, -4);
    const override = voidOption === undefined || typeof voidOption === "string" ? voidOption : Object.hasOwn(voidOption, name) ? voidOption[name] : undefined;
    const voidDtype = override ?? extra.dtypes.get(name);
    checkInflatable(member);
    const layout = await npyLayoutOf((length) => memberHead(reader, member, length), member.size, { ...npyOptions, voidDtype }, name);
    version ??= `${layout.version}.0`;
    const deflated = member.method === "deflate";
    arrays.push({
      name,
      dtype: layout.dtype.name,
      shape: Object.freeze([...layout.shape]),
      order: layout.order,
      byteOrder: layout.byteOrder,
      codec: deflated ? "deflate" : "none",
      offset: deflated ? member.dataStart : member.dataStart + layout.dataStart,
      byteLength: deflated ? member.compressedSize : layout.nbytes,
      nbytes: layout.nbytes,
      npz: { member: member.name, method: member.method, crc32: member.crc32, compressedSize: member.compressedSize, size: member.size, dataStart: member.dataStart, npyDataStart: layout.dataStart },
    });
  }
  for (const [name, dtype] of extra.dtypes) {
    const array = arrays.find((a) => a.name === name);
    if (array === undefined) throw new NdpackError("HEADER_INVALID", `${NPZ_NDPACK_MEMBER} gives a dtype for "${name}", which is not in the file`, { array: name });
    const overridden = voidOption !== undefined && (typeof voidOption === "string" || Object.hasOwn(voidOption, name));
    if (array.dtype !== dtype && !overridden) {
      throw new NdpackError("HEADER_INVALID", `${NPZ_NDPACK_MEMBER} says "${name}" is ${dtype}, but its .npy descr says ${array.dtype}`, { array: name, expected: dtype, actual: array.dtype });
    }
  }
  return { format: "npz", version, metadata: extra.metadata, arrays, ignored, bytesRead: reader.bytesRead };
}
