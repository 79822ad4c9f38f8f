/**
 * The part of ZIP (PKWARE APPNOTE 6.3) that .npz files use: stored and deflated members, UTF-8
 * and CP437 names, and ZIP64 (members or offsets past 4 GiB, more than 65535 members), read always
 * and written when needed or asked for. Internal to the .npz module.
 *
 * Reading trusts nothing: the central directory is found at the exact end of the input (a comment
 * is allowed, trailing bytes are not), every offset and size is checked against the input before it
 * is used, members may not overlap (the trick of "overlapping" zip bombs), each local header must
 * agree with its central record, a deflated member is inflated only up to its declared size and
 * only when that size is within the caller's limit, and every member's CRC-32 is checked.
 *
 * @module
 */
import { decodeUtf8, hexByte, sameBytes, utf8Encoder } from "../bytes.js";
import { decompressPayload } from "../codecs.js";
import { deflateRaw } from "../compress.js";
import { crc32 } from "../crc32.js";
import { crcOf, type PayloadStep, type WriteSteps } from "../formats/write.js";
import { NdpackError, overLimit } from "../errors.js";
import { runOnBytes, type ByteRange, type PrefetchingSteps, type RangeSteps } from "../io/steps.js";
import { readU64 } from "./common.js";

const SIG = {
  local: 0x04034b50,
  central: 0x02014b50,
  end: 0x06054b50,
  zip64End: 0x06064b50,
  zip64Locator: 0x07064b50,
} as const;

const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
/** The largest central directory record: its fixed part, then a name, an extra field and a comment of up to 65535 bytes each. */
const MAX_CENTRAL_RECORD_SIZE = CENTRAL_HEADER_SIZE + 3 * 65535;
const END_SIZE = 22;
const ZIP64_END_SIZE = 56;
const ZIP64_LOCATOR_SIZE = 20;
/** The largest comment an end record can announce: how far from the end its signature can be. */
const MAX_COMMENT = 0xffff;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
/** Extra field ids: ZIP64 sizes and offsets; Android zipalign's padding record, used to align stored data. */
const EXTRA_ZIP64 = 0x0001;
const EXTRA_ALIGN = 0xd935;
/** General purpose flags: encrypted, UTF-8 name. */
const FLAG_ENCRYPTED = 0x0001;
const FLAG_UTF8 = 0x0800;
/** "Version made by": ZIP 4.5 on Unix, so extracted files get ordinary permissions. */
const MADE_BY = (3 << 8) | 45;
/** External attributes of a regular file with mode 0644. */
const EXTERNAL_ATTRIBUTES = (0o100644 << 16) >>> 0;
/** MS-DOS date of 1980-01-01, the earliest: written for every member so that output is deterministic. */
const DOS_DATE = (1 << 5) | 1;
/** Bytes read from the end of a zip first, to find its end record when it has no long comment. */
const TAIL_FIRST_READ = 4096;

/** Compression methods a member may use. */
export type ZipMethod = "stored" | "deflate";

/** One member, as the central directory describes it and checked against the input. */
export interface ZipEntry {
  readonly name: string;
  readonly method: ZipMethod;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly size: number;
  /** Offset of the member's local header. */
  readonly localOffset: number;
  /** Offset of the member's (possibly compressed) data. */
  readonly dataStart: number;
}

/**
 * CP437, the code page of ZIP names without the UTF-8 flag: the characters of bytes 0x80 to 0xFF.
 * Those from U+250E to U+256C (box drawing) are written as the ASCII character {@link CP437_SHIFT}
 * below them, which bundlers keep as it is: any other character of a literal costs them a 6-byte
 * `\u` escape (37 of them here, about 70 bytes of a gzipped bundle).
 */
const CP437_HIGH =
  "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│6sthgucionm\"&F>.─Npqlf{xrb~yzvwkjde}|*┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0";
const CP437_SHIFT = 0x24ee;

function decodeCp437(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) {
    const unit = CP437_HIGH.charCodeAt(byte - 0x80); // NaN below 0x80
    text += String.fromCharCode(byte < 0x80 ? byte : unit < 0x7f ? unit + CP437_SHIFT : unit);
  }
  return text;
}

function invalid(message: string, offset?: number): NdpackError {
  return new NdpackError("HEADER_INVALID", message, offset === undefined ? {} : { offset });
}

/**
 * Reads a u64 field that must be a usable offset or size; past 2^53-1 it cannot lie inside any input.
 * `base` is the offset in the input of the bytes `view` holds.
 */
function u64Field(view: DataView, at: number, what: string, length: number, base: number): number {
  const value = readU64(view, at);
  if (value === undefined) throw new NdpackError("OUT_OF_BOUNDS", `zip: ${what} is beyond 2^53-1, past the end of the ${length}-byte input`, { offset: base + at });
  return value;
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Finds the end of central directory record: the one whose comment ends exactly at the end of the
 * input. It lies in the input's last 64 KiB or so, and, without a long comment, in its last few
 * bytes: those are read first. Returns the bytes read from the end (which hold the ZIP64 locator's
 * place, just before the record, too) and where they start.
 */
function* findEndRecord(size: number): RangeSteps<{ tail: Uint8Array; tailStart: number; endAt: number }> {
  let mismatch: "trailing" | "truncated" | undefined;
  for (const window of [TAIL_FIRST_READ, END_SIZE + MAX_COMMENT + ZIP64_LOCATOR_SIZE]) {
    const tailStart = Math.max(0, size - window);
    const tail = yield { offset: tailStart, length: size - tailStart };
    const view = dataView(tail);
    mismatch = undefined;
    let endAt = -1;
    for (let at = size - END_SIZE; at >= Math.max(tailStart, size - END_SIZE - MAX_COMMENT); at--) {
      if (view.getUint32(at - tailStart, true) !== SIG.end) continue;
      const end = at + END_SIZE + view.getUint16(at - tailStart + 20, true);
      if (end === size) {
        endAt = at;
        break;
      }
      mismatch ??= end < size ? "trailing" : "truncated";
    }
    if (endAt >= 0 && (endAt - ZIP64_LOCATOR_SIZE >= tailStart || tailStart === 0)) return { tail, tailStart, endAt };
    if (tailStart === 0) break;
  }
  if (mismatch === "trailing") {
    throw new NdpackError("TRAILING_BYTES", "zip: bytes follow the end of central directory record (and its comment)", { actual: size });
  }
  throw new NdpackError("TRUNCATED", "zip: no end of central directory record at the end of the input: the file is truncated or is not a zip file", { actual: size });
}

/** The directory's place and size, from the end record and, when there is one, the ZIP64 end record. */
function* readEndRecords(tail: Uint8Array, tailStart: number, endAt: number, size: number): RangeSteps<{ count: number; cdOffset: number; cdSize: number }> {
  const view = dataView(tail);
  const e = endAt - tailStart;
  if (view.getUint16(e + 4, true) !== 0 || view.getUint16(e + 6, true) !== 0) throw invalid("zip: multi-volume archives are not supported", endAt + 4);
  let count = view.getUint16(e + 10, true);
  let cdSize = view.getUint32(e + 12, true);
  let cdOffset = view.getUint32(e + 16, true);
  let cdLimit = endAt;
  const locatorAt = endAt - ZIP64_LOCATOR_SIZE;
  if (locatorAt >= 0 && view.getUint32(locatorAt - tailStart, true) === SIG.zip64Locator) {
    const zip64At = u64Field(view, locatorAt - tailStart + 8, "the ZIP64 end record's offset", size, tailStart);
    if (zip64At + ZIP64_END_SIZE > locatorAt) {
      throw new NdpackError("OUT_OF_BOUNDS", `zip: the ZIP64 end record at ${zip64At} runs past its locator at ${locatorAt}`, { offset: locatorAt + 8, actual: zip64At });
    }
    const record = dataView(yield { offset: zip64At, length: ZIP64_END_SIZE });
    if (record.getUint32(0, true) !== SIG.zip64End) throw invalid(`zip: no ZIP64 end record at offset ${zip64At}, where its locator points`, zip64At);
    if (record.getUint32(16, true) !== 0 || record.getUint32(20, true) !== 0) throw invalid("zip: multi-volume archives are not supported", zip64At + 16);
    count = u64Field(record, 32, "the member count", size, zip64At);
    cdSize = u64Field(record, 40, "the central directory's size", size, zip64At);
    cdOffset = u64Field(record, 48, "the central directory's offset", size, zip64At);
    cdLimit = zip64At;
  } else if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
    throw invalid("zip: the end record defers to a ZIP64 end record, but there is none", endAt);
  }
  if (cdOffset + cdSize > cdLimit) {
    throw new NdpackError("OUT_OF_BOUNDS", `zip: the central directory (offset ${cdOffset}, ${cdSize} bytes) runs past the end records at ${cdLimit}`, { offset: cdOffset, expected: cdLimit, actual: cdOffset + cdSize });
  }
  return { count, cdOffset, cdSize };
}

/**
 * The ZIP64 extra field's values for the fields the fixed record left at 0xFFFFFFFF, in the order
 * APPNOTE 4.5.3 gives. `base` is the offset in the input of the bytes `view` holds.
 */
function readZip64Extra(view: DataView, extraAt: number, extraLength: number, wanted: readonly string[], recordAt: number, length: number, base: number): number[] {
  let at = extraAt;
  const end = extraAt + extraLength;
  while (at + 4 <= end) {
    const id = view.getUint16(at, true);
    const size = view.getUint16(at + 2, true);
    if (at + 4 + size > end) throw invalid(`zip: extra field 0x${id.toString(16)} of the member at ${recordAt} runs past the extra data`, base + at);
    if (id === EXTRA_ZIP64) {
      if (size < wanted.length * 8) throw invalid(`zip: the ZIP64 extra field of the member at ${recordAt} is too short for ${wanted.join(", ")}`, base + at);
      return wanted.map((what, i) => u64Field(view, at + 4 + i * 8, what, length, base));
    }
    at += 4 + size;
  }
  throw invalid(`zip: the member at ${recordAt} defers its ${wanted.join(", ")} to a ZIP64 extra field, but has none`, recordAt);
}

/**
 * Reads and checks the central directory of a zip file `inputLength` bytes long, and every member's local
 * header: the members, in directory order. Written once for both kinds of input: it asks for the
 * bytes it needs (the first 4, the end records, the directory, each local header), and
 * {@link readZipDirectory} (memory) and the lazy reader (any `ByteSource`) hand them over.
 */
export function* zipDirectorySteps(inputLength: number, limits: { maxEntries: number; maxDirectoryBytes?: number; memberHeadBytes?: Readonly<Record<ZipMethod, number>> }): PrefetchingSteps<ZipEntry[]> {
  // A zip starts with a local header, or, when it is empty, with its (ZIP64) end record.
  const first = yield { offset: 0, length: Math.min(inputLength, 4) };
  const empty = first.length >= 4 && ((first[2] === 0x05 && first[3] === 0x06) || (first[2] === 0x06 && first[3] === 0x06));
  const magic = empty ? [0x50, 0x4b, first[2]!, 0x06] : [0x50, 0x4b, 0x03, 0x04];
  for (let i = 0; i < first.length; i++) {
    if (first[i] !== magic[i]) throw new NdpackError("BAD_MAGIC", `not a zip (.npz) file: byte ${i} is 0x${hexByte(first[i]!)}, expected 0x${hexByte(magic[i]!)} (a zip starts with PK\\x03\\x04)`, { offset: i });
  }
  if (inputLength < END_SIZE) throw new NdpackError("TRUNCATED", `zip: input is ${inputLength} bytes, shorter than the ${END_SIZE}-byte end record`, { expected: END_SIZE, actual: inputLength });
  const { tail, tailStart, endAt } = yield* findEndRecord(inputLength);
  const { count, cdOffset, cdSize } = yield* readEndRecords(tail, tailStart, endAt, inputLength);
  if (count > limits.maxEntries) {
    throw overLimit(`zip: ${count} members`, count, limits.maxEntries, "maxArrays");
  }
  // Nor can they fill more than their records can hold (names, extra fields and comments of at
  // most 65535 bytes each): a claim of more would have the reader fetch it before finding out.
  if (count * CENTRAL_HEADER_SIZE > cdSize || cdSize > count * MAX_CENTRAL_RECORD_SIZE) {
    throw new NdpackError("SIZE_MISMATCH", `zip: ${count} members cannot fill a ${cdSize}-byte central directory`, { offset: cdOffset, actual: cdSize });
  }
  // The directory is the archive's header: a lazy reader bounds it as it bounds any header.
  if (limits.maxDirectoryBytes !== undefined && cdSize > limits.maxDirectoryBytes) {
    throw overLimit(`zip: the central directory is ${cdSize} bytes`, cdSize, limits.maxDirectoryBytes, "maxHeaderBytes", { offset: cdOffset }, "HEADER_TOO_LARGE");
  }
  const cd = yield { offset: cdOffset, length: cdSize };
  const view = dataView(cd);
  const cdEnd = cdOffset + cdSize;
  // Every member's local header (and what the caller reads after it) is announced at once: a
  // driver with round trips reads them together instead of one after the other.
  if (limits.memberHeadBytes !== undefined) yield { prefetch: localHeaderRanges(view, count, cdOffset, limits.memberHeadBytes) };
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let index = 0; index < count; index++) {
    const abs = cdOffset + at;
    if (abs + CENTRAL_HEADER_SIZE > cdEnd) throw new NdpackError("OUT_OF_BOUNDS", `zip: central record ${index} at ${abs} runs past the central directory's end at ${cdEnd}`, { offset: abs, expected: cdEnd });
    if (view.getUint32(at, true) !== SIG.central) throw invalid(`zip: no central directory record at offset ${abs}`, abs);
    const flags = view.getUint16(at + 8, true);
    const methodCode = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const disk = view.getUint16(at + 34, true);
    let localOffset = view.getUint32(at + 42, true);
    const next = at + CENTRAL_HEADER_SIZE + nameLength + extraLength + commentLength;
    if (cdOffset + next > cdEnd) throw new NdpackError("OUT_OF_BOUNDS", `zip: central record ${index} at ${abs} runs past the central directory's end at ${cdEnd}`, { offset: abs, expected: cdEnd, actual: cdOffset + next });
    const nameBytes = cd.subarray(at + CENTRAL_HEADER_SIZE, at + CENTRAL_HEADER_SIZE + nameLength);
    const name = flags & FLAG_UTF8 ? decodeUtf8(nameBytes) : decodeCp437(nameBytes);
    if (name === undefined) throw invalid(`zip: the name of central record ${index} is flagged UTF-8 but is not valid UTF-8`, abs + CENTRAL_HEADER_SIZE);
    const details = { array: name, offset: abs };
    const wanted = [size === U32_MAX && "size", compressedSize === U32_MAX && "compressed size", localOffset === U32_MAX && "local header offset"].filter((w): w is string => w !== false);
    if (wanted.length > 0) {
      const values = readZip64Extra(view, at + CENTRAL_HEADER_SIZE + nameLength, extraLength, wanted, abs, inputLength, cdOffset);
      let i = 0;
      if (size === U32_MAX) size = values[i++]!;
      if (compressedSize === U32_MAX) compressedSize = values[i++]!;
      if (localOffset === U32_MAX) localOffset = values[i++]!;
    }
    if (disk !== 0) throw invalid(`zip: member "${name}" is on another volume; multi-volume archives are not supported`, abs + 34);
    if (flags & FLAG_ENCRYPTED) throw new NdpackError("UNSUPPORTED_CODEC", `zip: member "${name}" is encrypted`, details);
    if (methodCode !== 0 && methodCode !== 8) throw new NdpackError("UNSUPPORTED_CODEC", `zip: member "${name}" uses compression method ${methodCode}; .npz readers support stored (0) and deflate (8)`, { ...details, actual: methodCode });
    const method: ZipMethod = methodCode === 0 ? "stored" : "deflate";
    if (method === "stored" && compressedSize !== size) {
      throw new NdpackError("SIZE_MISMATCH", `zip: stored member "${name}" declares ${compressedSize} stored bytes but ${size} uncompressed`, { ...details, expected: size, actual: compressedSize });
    }
    const dataStart = yield* checkLocalHeader({ name, nameBytes, localOffset, compressedSize, cdOffset });
    entries.push({ name, method, crc32: crc, compressedSize, size, localOffset, dataStart });
    at = next;
  }
  if (cdOffset + at !== cdEnd) throw new NdpackError("SIZE_MISMATCH", `zip: the central directory is ${cdSize} bytes, but its ${count} records take ${at}`, { offset: cdOffset + at, expected: cdSize, actual: at });
  checkNoOverlap(entries);
  checkNoDuplicates(entries);
  return entries;
}

/**
 * Where the members' local headers are, read from the central directory without checking it (the
 * records are checked, in order, when they are read): from each local header, room for its name
 * and extra field as the central record gives them, and the `headBytes` of its method more (a
 * stored member's first content bytes are read as they are, a deflated one's are inflated: the
 * caller knows how many of each it reads). Records that cannot be read, or whose offset is in a
 * ZIP64 extra field, are left out: this is a hint.
 */
function localHeaderRanges(view: DataView, count: number, cdOffset: number, headBytes: Readonly<Record<ZipMethod, number>>): ByteRange[] {
  const ranges: ByteRange[] = [];
  for (let index = 0, at = 0; index < count && at + CENTRAL_HEADER_SIZE <= view.byteLength && view.getUint32(at, true) === SIG.central; index++) {
    const nameAndExtra = view.getUint16(at + 28, true) + view.getUint16(at + 30, true);
    const localOffset = view.getUint32(at + 42, true);
    const methodBytes = view.getUint16(at + 10, true) === 0 ? headBytes.stored : headBytes.deflate;
    if (localOffset !== U32_MAX && localOffset < cdOffset) ranges.push({ offset: localOffset, length: Math.min(LOCAL_HEADER_SIZE + nameAndExtra + methodBytes, cdOffset - localOffset) });
    at += CENTRAL_HEADER_SIZE + nameAndExtra + view.getUint16(at + 32, true);
  }
  return ranges;
}

/** {@link zipDirectorySteps} on a zip file held in memory. */
export function readZipDirectory(bytes: Uint8Array, limits: { maxEntries: number }): ZipEntry[] {
  return runOnBytes(zipDirectorySteps(bytes.length, limits), bytes);
}

/** A member's local header: at its place, with its signature and the same name; returns where its data starts. */
function* checkLocalHeader(member: { name: string; nameBytes: Uint8Array; localOffset: number; compressedSize: number; cdOffset: number }): RangeSteps<number> {
  const { name, localOffset, compressedSize, cdOffset } = member;
  const details = { array: name, offset: localOffset };
  if (localOffset + LOCAL_HEADER_SIZE > cdOffset) {
    throw new NdpackError("OUT_OF_BOUNDS", `zip: member "${name}"'s local header at ${localOffset} runs into the central directory at ${cdOffset}`, { ...details, expected: cdOffset });
  }
  const head = yield { offset: localOffset, length: LOCAL_HEADER_SIZE + member.nameBytes.length };
  const view = dataView(head);
  if (view.getUint32(0, true) !== SIG.local) throw invalid(`zip: no local header for member "${name}" at offset ${localOffset}`, localOffset);
  const nameLength = view.getUint16(26, true);
  const extraLength = view.getUint16(28, true);
  const nameAt = localOffset + LOCAL_HEADER_SIZE;
  const dataStart = nameAt + nameLength + extraLength;
  if (dataStart + compressedSize > cdOffset) {
    throw new NdpackError("OUT_OF_BOUNDS", `zip: member "${name}"'s data (${compressedSize} bytes at ${dataStart}) runs into the central directory at ${cdOffset}`, { ...details, expected: cdOffset, actual: dataStart + compressedSize });
  }
  const localName = head.subarray(LOCAL_HEADER_SIZE);
  if (nameLength !== member.nameBytes.length || !sameBytes(localName, member.nameBytes)) {
    throw invalid(`zip: member "${name}"'s local header names a different file than its central record`, nameAt);
  }
  return dataStart;
}

/** The order of members by where their local headers are (a function of the module: io/steps.ts byOffset says why). */
function byLocalOffset(a: ZipEntry, b: ZipEntry): number {
  return a.localOffset - b.localOffset;
}

/** Members may not share bytes: overlapping members let a small file expand to many large ones. */
function checkNoOverlap(entries: readonly ZipEntry[]): void {
  const sorted = [...entries].sort(byLocalOffset);
  let previous: ZipEntry | undefined;
  for (const entry of sorted) {
    if (previous !== undefined && entry.localOffset < previous.dataStart + previous.compressedSize) {
      throw new NdpackError("OVERLAP", `zip: member "${entry.name}" at ${entry.localOffset} overlaps member "${previous.name}", which ends at ${previous.dataStart + previous.compressedSize}`, { array: entry.name, offset: entry.localOffset, expected: previous.dataStart + previous.compressedSize });
    }
    previous = entry;
  }
}

function checkNoDuplicates(entries: readonly ZipEntry[]): void {
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.name)) throw new NdpackError("DUPLICATE_NAME", `zip: member "${entry.name}" appears twice`, { array: entry.name, offset: entry.localOffset });
    seen.add(entry.name);
  }
}

/** LIMIT_EXCEEDED when a deflated member inflates to more than `maxDecodedBytes` (checked before inflating any of it). */
export function checkInflatedSize(entry: ZipEntry, maxDecodedBytes: number): void {
  if (entry.method === "deflate" && entry.size > maxDecodedBytes) {
    throw overLimit(`zip: member "${entry.name}" inflates to ${entry.size} bytes`, entry.size, maxDecodedBytes, "maxDecodedBytes", { array: entry.name });
  }
}

/** CHECKSUM unless `actual` is the CRC-32 the central directory gives for the member; `array` names it in the error's details. */
export function checkMemberCrc(entry: Pick<ZipEntry, "name" | "crc32" | "dataStart">, actual: number, array = entry.name): void {
  if (actual !== entry.crc32) {
    throw new NdpackError("CHECKSUM", `zip: member "${entry.name}": CRC-32 mismatch, the member is damaged (stored 0x${entry.crc32.toString(16)}, computed 0x${actual.toString(16)})`, { array, offset: entry.dataStart, expected: entry.crc32, actual });
  }
}

/**
 * A member's uncompressed bytes: a view of `bytes` for a stored member, fresh memory for a deflated
 * one (inflated only when its declared size is within `maxDecodedBytes`, and never past it).
 * With `verify`, the CRC-32 is checked.
 */
export function readZipMember(bytes: Uint8Array, entry: ZipEntry, options: { maxDecodedBytes: number; verify: boolean }): Uint8Array {
  const stored = bytes.subarray(entry.dataStart, entry.dataStart + entry.compressedSize);
  let content = stored;
  if (entry.method === "deflate") {
    checkInflatedSize(entry, options.maxDecodedBytes);
    content = decompressPayload(stored, "deflate", entry.size, 1, entry.name);
  }
  if (options.verify) checkMemberCrc(entry, crc32(content));
  return content;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** One member to write: its name, method and uncompressed content. */
export interface ZipMemberPlan {
  readonly name: string;
  readonly method: ZipMethod;
  /** For stored members: pad the local header so that the content starts at a multiple of this. */
  readonly align?: number;
  /**
   * The content: bytes the plan holds, or an array's payload (after `step.prefix`) that the
   * driver supplies, `size` bytes in all.
   */
  readonly content: Uint8Array | { readonly step: Omit<PayloadStep, "crc" | "deflateLevel">; readonly size: number };
}

/** A member as its local header and central record describe it. */
export interface ZipRecord {
  readonly nameBytes: Uint8Array;
  readonly flags: number;
  readonly method: ZipMethod;
  readonly crc: number;
  readonly size: number;
  readonly compressedSize: number;
  readonly localOffset: number;
  /** The local header gives the sizes in a ZIP64 extra field. */
  readonly localZip64: boolean;
  /** Bytes of the alignment extra field in the local header; 0 for none. */
  readonly alignPadding: number;
}

/** A member name's UTF-8 bytes and the general purpose flags it needs; INVALID_ARGUMENT past 65535 bytes. */
export function zipName(name: string): { nameBytes: Uint8Array; flags: number } {
  const nameBytes = utf8Encoder.encode(name);
  if (nameBytes.length > U16_MAX) throw new NdpackError("INVALID_ARGUMENT", `zip member name "${name.slice(0, 40)}..." is longer than 65535 UTF-8 bytes`, { array: name });
  return { nameBytes, flags: /[^\x20-\x7e]/.test(name) ? FLAG_UTF8 : 0 };
}

/** Bytes of the alignment extra field that make a stored member's data start at a multiple of `align` (0 for none). */
export function alignPaddingFor(localOffset: number, nameLength: number, localZip64: boolean, method: ZipMethod, align: number | undefined): number {
  if (method !== "stored" || align === undefined || align <= 1) return 0;
  // An alignment record is 4 bytes of header, a u16 alignment, then zeros.
  const base = localOffset + LOCAL_HEADER_SIZE + nameLength + (localZip64 ? 20 : 0) + 6;
  return 6 + ((align - (base % align)) % align);
}

/** Length of a member's local header, its name and extra fields included. */
export function localHeaderSize(record: ZipRecord): number {
  return LOCAL_HEADER_SIZE + record.nameBytes.length + (record.localZip64 ? 20 : 0) + record.alignPadding;
}

/** Writes a member's local header into `out` at `at` (which must be zeros); returns where it ends. */
export function writeLocalHeader(record: ZipRecord, out: Uint8Array, at: number): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(at, SIG.local, true);
  view.setUint16(at + 4, record.localZip64 ? 45 : 20, true);
  view.setUint16(at + 6, record.flags, true);
  view.setUint16(at + 8, record.method === "stored" ? 0 : 8, true);
  view.setUint16(at + 10, 0, true); // time 00:00:00
  view.setUint16(at + 12, DOS_DATE, true);
  view.setUint32(at + 14, record.crc, true);
  view.setUint32(at + 18, record.localZip64 ? U32_MAX : record.compressedSize, true);
  view.setUint32(at + 22, record.localZip64 ? U32_MAX : record.size, true);
  view.setUint16(at + 26, record.nameBytes.length, true);
  view.setUint16(at + 28, (record.localZip64 ? 20 : 0) + record.alignPadding, true);
  out.set(record.nameBytes, at + LOCAL_HEADER_SIZE);
  at += LOCAL_HEADER_SIZE + record.nameBytes.length;
  if (record.localZip64) {
    view.setUint16(at, EXTRA_ZIP64, true);
    view.setUint16(at + 2, 16, true);
    view.setBigUint64(at + 4, BigInt(record.size), true);
    view.setBigUint64(at + 12, BigInt(record.compressedSize), true);
    at += 20;
  }
  if (record.alignPadding > 0) {
    view.setUint16(at, EXTRA_ALIGN, true);
    view.setUint16(at + 2, record.alignPadding - 4, true);
    view.setUint16(at + 4, 64, true);
    at += record.alignPadding; // the rest is zeros already
  }
  return at;
}

/**
 * The central directory of members written from `cdOffset` on, and the end records: ZIP64 fields
 * wherever a size, an offset or the member count needs them (or everywhere with `forceZip64`).
 */
export function writeCentralDirectory(records: readonly ZipRecord[], cdOffset: number, forceZip64: boolean): Uint8Array {
  const centralZip64 = records.map((m) => ({
    size: forceZip64 || m.size >= U32_MAX,
    compressedSize: forceZip64 || m.compressedSize >= U32_MAX,
    localOffset: forceZip64 || m.localOffset >= U32_MAX,
  }));
  const centralExtraLength = centralZip64.map((z) => {
    const fields = Number(z.size) + Number(z.compressedSize) + Number(z.localOffset);
    return fields === 0 ? 0 : 4 + 8 * fields;
  });
  const cdSize = records.reduce((total, m, i) => total + CENTRAL_HEADER_SIZE + m.nameBytes.length + centralExtraLength[i]!, 0);
  // An empty archive keeps its plain end record first even when ZIP64 is forced: readers such as
  // numpy.load recognise a zip by its first four bytes (a local header or an end record), and an
  // empty archive has nothing ZIP64 could describe.
  const zip64End = (forceZip64 && records.length > 0) || records.length >= U16_MAX || cdOffset >= U32_MAX || cdSize >= U32_MAX;
  const out = new Uint8Array(cdSize + (zip64End ? ZIP64_END_SIZE + ZIP64_LOCATOR_SIZE : 0) + END_SIZE);
  const view = new DataView(out.buffer);
  const u64 = (at: number, value: number) => view.setBigUint64(at, BigInt(value), true);
  let at = 0;
  records.forEach((m, i) => {
    const z = centralZip64[i]!;
    const zip64 = centralExtraLength[i]! > 0 || m.localZip64;
    view.setUint32(at, SIG.central, true);
    view.setUint16(at + 4, MADE_BY, true);
    view.setUint16(at + 6, zip64 ? 45 : 20, true);
    view.setUint16(at + 8, m.flags, true);
    view.setUint16(at + 10, m.method === "stored" ? 0 : 8, true);
    view.setUint16(at + 12, 0, true);
    view.setUint16(at + 14, DOS_DATE, true);
    view.setUint32(at + 16, m.crc, true);
    view.setUint32(at + 20, z.compressedSize ? U32_MAX : m.compressedSize, true);
    view.setUint32(at + 24, z.size ? U32_MAX : m.size, true);
    view.setUint16(at + 28, m.nameBytes.length, true);
    view.setUint16(at + 30, centralExtraLength[i]!, true);
    // comment length, disk number start, internal attributes: 0
    view.setUint32(at + 38, EXTERNAL_ATTRIBUTES, true);
    view.setUint32(at + 42, z.localOffset ? U32_MAX : m.localOffset, true);
    out.set(m.nameBytes, at + CENTRAL_HEADER_SIZE);
    at += CENTRAL_HEADER_SIZE + m.nameBytes.length;
    if (centralExtraLength[i]! > 0) {
      view.setUint16(at, EXTRA_ZIP64, true);
      view.setUint16(at + 2, centralExtraLength[i]! - 4, true);
      let field = at + 4;
      for (const [needed, value] of [[z.size, m.size], [z.compressedSize, m.compressedSize], [z.localOffset, m.localOffset]] as const) {
        if (!needed) continue;
        u64(field, value);
        field += 8;
      }
      at += centralExtraLength[i]!;
    }
  });
  if (zip64End) {
    const zip64At = cdOffset + at;
    view.setUint32(at, SIG.zip64End, true);
    u64(at + 4, ZIP64_END_SIZE - 12);
    view.setUint16(at + 12, MADE_BY, true);
    view.setUint16(at + 14, 45, true);
    // this disk, directory's disk: 0
    u64(at + 24, records.length);
    u64(at + 32, records.length);
    u64(at + 40, cdSize);
    u64(at + 48, cdOffset);
    at += ZIP64_END_SIZE;
    view.setUint32(at, SIG.zip64Locator, true);
    u64(at + 8, zip64At);
    view.setUint32(at + 16, 1, true);
    at += ZIP64_LOCATOR_SIZE;
  }
  view.setUint32(at, SIG.end, true);
  view.setUint16(at + 8, Math.min(records.length, U16_MAX), true);
  view.setUint16(at + 10, Math.min(records.length, U16_MAX), true);
  view.setUint32(at + 12, zip64End ? U32_MAX : cdSize, true);
  view.setUint32(at + 16, zip64End ? U32_MAX : cdOffset, true);
  return out;
}

/** zlib's `deflateBound`: the most bytes DEFLATE can turn `size` bytes into. */
function deflateBound(size: number): number {
  return size + Math.floor(size / 4096) + Math.floor(size / 16384) + Math.floor(size / 33554432) + 13 + 5;
}

function localHeader(record: ZipRecord): Uint8Array {
  const out = new Uint8Array(localHeaderSize(record));
  writeLocalHeader(record, out, 0);
  return out;
}

/**
 * The zip writer: each member's local header and data in order, then the central directory and
 * the end record, with ZIP64 records wherever a size, an offset or the member count needs them (or
 * everywhere with `forceZip64`). Whether a local header has ZIP64 fields is decided before its data
 * is compressed (from zlib's bound on the compressed size), so that a member whose content streams
 * through gets its header, reserved first, filled in once its CRC-32 and size are known. Dates are
 * 1980-01-01, so the output depends only on the input. Member names are checked before the first
 * step.
 */
export function planZipWrite(members: readonly ZipMemberPlan[], options: { level: number; forceZip64: boolean }): WriteSteps {
  const named = members.map((member) => ({ member, ...zipName(member.name) }));
  const force = options.forceZip64;
  return (function* (): WriteSteps {
    const records: ZipRecord[] = [];
    let offset = 0;
    for (const { member, nameBytes, flags } of named) {
      const { content, method } = member;
      const size = content instanceof Uint8Array ? content.length : content.size;
      const localZip64 = force || size >= U32_MAX || (method === "deflate" && deflateBound(size) >= U32_MAX);
      const alignPadding = alignPaddingFor(offset, nameBytes.length, localZip64, method, member.align);
      const placed = { nameBytes, flags, method, size, localOffset: offset, localZip64, alignPadding };
      let record: ZipRecord;
      if (content instanceof Uint8Array) {
        const stored = method === "deflate" ? deflateRaw(content, options.level) : content;
        record = { ...placed, crc: crcOf(content, 0), compressedSize: stored.length };
        yield localHeader(record);
        yield stored;
      } else {
        yield { reserve: localHeaderSize({ ...placed, crc: 0, compressedSize: 0 }) };
        const written = (yield { ...content.step, crc: true, ...(method === "deflate" ? { deflateLevel: options.level } : {}) })!;
        record = { ...placed, crc: written.crc, compressedSize: written.storedLength };
        yield { fill: localHeader(record) };
      }
      records.push(record);
      offset += localHeaderSize(record) + record.compressedSize;
    }
    if (!Number.isSafeInteger(offset)) throw new NdpackError("INVALID_ARGUMENT", "the members add up to more than 2^53-1 bytes");
    yield writeCentralDirectory(records, offset, force);
  })();
}
