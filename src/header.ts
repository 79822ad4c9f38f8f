/**
 * Reading and writing the preamble and header, in the wire order of FORMAT.md §9. Each reading
 * function is one group of steps, so a lazy file reader can run them as its bytes arrive:
 * {@link readPreamble} (steps 1–5), {@link readHeader} (6–19), {@link checkFileLength} (20) and
 * {@link checkZeroPadding} (21), composed once, for every input, by {@link readLayoutSteps}. The writer mirrors them with header-writer.ts and
 * {@link writePreamble}. Nothing here allocates in proportion to a payload.
 *
 * @module
 */
import { concatBytes, decodeUtf8, hexByte, utf8Length } from "./bytes.js";
import { crc32 } from "./crc32.js";
import { DTYPES } from "./dtypes.js";
import { NdpackError, overLimit, shown } from "./errors.js";
import {
  alignUp,
  DEFAULT_LIMITS,
  FORMAT_VERSION,
  MAGIC,
  MAX_DEPTH_CEILING,
  PREAMBLE,
  PREAMBLE_SIZE,
  type ReadLimits,
} from "./format.js";
import { parseHeaderJson } from "./json.js";
import { lengthSoFar, runOnBytes, type RangeSteps } from "./io/steps.js";
import { readCanonicalHeader } from "./canonical-header.js";
import { checkRecordPlacement, elementCount, entryKind, FileLayout } from "./layout.js";
import type { Header } from "./schema.js";
import { headerStructureIssue } from "./structure.js";

/** What the fixed-size preamble says (FORMAT.md §1). */
export interface Preamble {
  readonly major: number;
  readonly minor: number;
  readonly headerLength: number;
  readonly headerCrc: number;
}

export { elementCount, FileLayout, type EntryLayout } from "./layout.js";

/** The value of limit option `option`: `fallback` when absent, else a positive integer (INVALID_ARGUMENT otherwise). */
export function checkLimit(value: unknown, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw new NdpackError("INVALID_ARGUMENT", `option ${option} must be a positive integer, got ${shown(value)}`, { field: option });
  }
  return value as number;
}

/** The limits of FORMAT.md §7, with the caller's overrides applied and checked. */
export function resolveLimits(overrides: Partial<ReadLimits> = {}): ReadLimits {
  const limits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ReadLimits)[]) limits[key] = checkLimit(overrides[key], limits[key], key);
  if (limits.maxDepth > MAX_DEPTH_CEILING) {
    throw new NdpackError("INVALID_ARGUMENT", `option maxDepth may be at most ${MAX_DEPTH_CEILING}`, { field: "maxDepth", actual: limits.maxDepth });
  }
  return limits;
}

/**
 * §9 steps 1–5. `bytes` holds the start of the input (as much of the first 20 bytes as exists);
 * `totalLength` is the input's full length, which a lazy reader knows from the file's size.
 */
export function readPreamble(bytes: Uint8Array, totalLength: number, limits: ReadLimits): Preamble {
  const available = Math.min(bytes.length, MAGIC.length);
  for (let i = 0; i < available; i++) {
    if (bytes[i] !== MAGIC[i]) {
      const known = recognizeFile(bytes, totalLength);
      const what = known === undefined ? "" : `; it looks like ${known}`;
      throw new NdpackError("BAD_MAGIC", `not an ndpack file: byte ${i} is 0x${hexByte(bytes[i]!)}, expected 0x${hexByte(MAGIC[i]!)}${what}`, { offset: i });
    }
  }
  if (totalLength < PREAMBLE_SIZE || bytes.length < PREAMBLE_SIZE) {
    throw new NdpackError("TRUNCATED", `input is ${totalLength} bytes, shorter than the ${PREAMBLE_SIZE}-byte preamble`, { expected: PREAMBLE_SIZE, actual: totalLength });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, PREAMBLE_SIZE);
  const major = view.getUint16(PREAMBLE.major, true);
  const minor = view.getUint16(PREAMBLE.minor, true);
  const headerLength = view.getUint32(PREAMBLE.headerLength, true);
  const headerCrc = view.getUint32(PREAMBLE.headerCrc, true);
  if (major !== FORMAT_VERSION.major) {
    throw new NdpackError("UNSUPPORTED_VERSION", `file format version ${major}.${minor} is not supported; this reader reads ${FORMAT_VERSION.major}.x`, { offset: PREAMBLE.major, expected: FORMAT_VERSION.major, actual: major });
  }
  if (headerLength > limits.maxHeaderBytes) {
    throw overLimit(`header is ${headerLength} bytes`, headerLength, limits.maxHeaderBytes, "maxHeaderBytes", { offset: PREAMBLE.headerLength }, "HEADER_TOO_LARGE");
  }
  if (PREAMBLE_SIZE + headerLength > totalLength) {
    throw new NdpackError("TRUNCATED", `input ends at byte ${totalLength}, inside the header, which ends at byte ${PREAMBLE_SIZE + headerLength}`, { expected: PREAMBLE_SIZE + headerLength, actual: totalLength });
  }
  return { major, minor, headerLength, headerCrc };
}


/** Files people hand to an ndpack reader by mistake, by their first bytes, and what to call instead. */
const OTHER_FILES: readonly { readonly magic: string; readonly what: string }[] = [
  { magic: "\x93NUMPY", what: "a .npy file (numpy): read it with fromNpy from ndpack/interop, or `ndpack convert`" },
  { magic: "PK\x03\x04", what: "a zip archive (a .npz file?): read it with fromNpz from ndpack/interop, or `ndpack convert`" },
  { magic: "PK\x05\x06", what: "an empty zip archive (an empty .npz file?)" },
  { magic: "\x89PNG\r\n\x1a\n", what: "a PNG image, not an array file" },
  { magic: "\x89HDF", what: "an HDF5 file (h5py): ndpack does not read HDF5" },
  { magic: "\x1f\x8b", what: "a gzip file: decompress it first" },
];

/**
 * What a non-ndpack input most likely is, for the BAD_MAGIC message: another array format with
 * the function that reads it, or a common file type. A safetensors file starts with the length of
 * its JSON header (8 bytes, little-endian), which fits in the input, followed by `{`.
 */
export function recognizeFile(bytes: Uint8Array, totalLength: number): string | undefined {
  const other = OTHER_FILES.find(({ magic }) => bytes.length >= magic.length && [...magic].every((c, i) => bytes[i] === c.charCodeAt(0)));
  if (other !== undefined) return other.what;
  if (bytes.length > 8 && bytes[8] === 0x7b) {
    const length = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (length > 0n && length <= BigInt(totalLength - 8)) return "a .safetensors file: read it with fromSafetensors from ndpack/interop, or `ndpack convert`";
  }
  return undefined;
}

/** §9 step 6: CRC-32 of preamble bytes 8..15 followed by the header. */
function headerChecksum(bytes: Uint8Array, headerLength: number): number {
  const versionAndLength = bytes.subarray(PREAMBLE.major, PREAMBLE.headerCrc);
  const header = bytes.subarray(PREAMBLE_SIZE, PREAMBLE_SIZE + headerLength);
  return crc32(header, crc32(versionAndLength));
}

/** An issue path in the header path notation used in error fields: `arrays[3].dtype`. */
function fieldPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : out === "" ? part : `.${part}`;
  return out;
}

/** §9 step 8: the header's structure, with the codes FORMAT.md gives to unknown dtypes, codecs and checksums. */
function checkStructure(value: unknown, minor: number): Header {
  const issue = headerStructureIssue(value, minor > FORMAT_VERSION.minor);
  if (issue === undefined) return value as Header;
  const field = fieldPath(issue.path);
  const last = issue.path[issue.path.length - 1];
  const found = issue.path.reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown> | undefined)?.[key], value);
  const actual = typeof found === "string" ? found : undefined;
  const details = { field, ...(actual === undefined ? {} : { actual }) };
  // A string that names no known dtype, codec or checksum has its own code (§9 step 8); a value of
  // the wrong JSON type there is HEADER_INVALID like any other.
  if (issue.kind === "enum" && last === "dtype" && actual !== undefined) {
    throw new NdpackError("UNKNOWN_DTYPE", `unknown dtype ${shown(found)} at ${field}`, details);
  }
  if (issue.kind === "enum" && last === "codec" && actual !== undefined) {
    throw new NdpackError("UNSUPPORTED_CODEC", `unsupported codec ${shown(found)} at ${field}`, details);
  }
  if (issue.kind === "enum" && last === "checksum" && issue.path.length === 1 && actual !== undefined) {
    throw new NdpackError("UNSUPPORTED_CHECKSUM", `unsupported checksum ${shown(found)}`, details);
  }
  const where = issue.kind === "unknown-keys" ? `${field === "" ? "header" : field}: unknown key ${issue.message}` : `${field || "header"}: ${issue.message}`;
  throw new NdpackError("HEADER_INVALID", `invalid header at ${where}`, details);
}

/** §9 steps 9–19 for a header of any layout: every entry's names, limits, sizes and place in the data section. */
function checkEntries(header: Header, preamble: Preamble, limits: ReadLimits): FileLayout {
  const { arrays, alignment, checksum, dataLength, metadata } = header;
  if (arrays.length > limits.maxArrays) {
    throw overLimit(`header lists ${arrays.length} arrays`, arrays.length, limits.maxArrays, "maxArrays", { field: "arrays" });
  }
  const layout = new FileLayout({ major: preamble.major, minor: preamble.minor }, { alignment, checksum, dataLength, metadata }, preamble.headerLength, arrays.length);
  const { checksumSize } = layout;
  let previousEnd = 0;
  for (let index = 0; index < arrays.length; index++) {
    const entry = arrays[index]!;
    const { name, shape } = entry;
    const at = `arrays[${index}]`;
    if (name.length * 3 > limits.maxNameBytes && utf8Length(name) > limits.maxNameBytes) {
      throw overLimit(`array name at ${at} is ${utf8Length(name)} UTF-8 bytes`, utf8Length(name), limits.maxNameBytes, "maxNameBytes", { field: `${at}.name` });
    }
    if (layout.indexOf(name) !== undefined) {
      throw new NdpackError("DUPLICATE_NAME", `array name ${shown(name)} appears twice (${at})`, { array: name, field: `${at}.name` });
    }
    if (shape.length > limits.maxDims) {
      throw overLimit(`array "${name}" has ${shape.length} dimensions`, shape.length, limits.maxDims, "maxDims", { array: name, field: `${at}.shape` });
    }
    const dtype = DTYPES[entry.dtype];
    const count = elementCount(shape, dtype.itemSize);
    if (count === undefined) {
      throw new NdpackError("BAD_SHAPE", `array "${name}": shape [${shape.join(", ")}] of ${entry.dtype} holds more than 2^53-1 bytes`, { array: name, field: `${at}.shape` });
    }
    const nbytes = count * dtype.itemSize;
    const codec = entry.codec ?? "none";
    if (codec === "none" && entry.byteLength !== nbytes) {
      throw new NdpackError("SIZE_MISMATCH", `array "${name}": byteLength is ${entry.byteLength}, but shape [${shape.join(", ")}] of ${entry.dtype} needs ${nbytes}`, { array: name, field: `${at}.byteLength`, expected: nbytes, actual: entry.byteLength });
    }
    previousEnd = checkRecordPlacement(entry, index, previousEnd, { alignment, checksumSize, dataLength });
    for (const dim of shape) layout.pushDim(dim);
    layout.add(name, entryKind(dtype, entry.order, entry.byteOrder, codec), entry.offset, entry.byteLength, nbytes);
  }
  if (dataLength !== previousEnd) {
    throw new NdpackError("GAP", `dataLength is ${dataLength}, but the records end at ${previousEnd}`, { field: "dataLength", expected: previousEnd, actual: dataLength });
  }
  return layout;
}

/**
 * §9 steps 6–19. `bytes` starts at file offset 0 and holds at least the preamble and the header.
 * A header in the canonical layout of §8 (what ndpack's writers write) is read by
 * {@link readCanonicalHeader}, which matches it in one pass; any other, and any header that breaks
 * a rule, by the strict parser and the checks above, which decide what is wrong with it.
 */
export function readHeader(bytes: Uint8Array, preamble: Preamble, limits: ReadLimits): FileLayout {
  const { headerLength } = preamble;
  if (headerChecksum(bytes, headerLength) !== preamble.headerCrc) {
    throw new NdpackError("HEADER_CHECKSUM", "header checksum does not match: the header or the preamble is damaged", { offset: PREAMBLE.headerCrc });
  }
  // §9 step 7 (a byte order mark is kept in the text, which the parser then rejects).
  const text = decodeUtf8(bytes.subarray(PREAMBLE_SIZE, PREAMBLE_SIZE + headerLength));
  if (text === undefined) throw new NdpackError("HEADER_INVALID", "header is not valid UTF-8", { offset: PREAMBLE_SIZE });
  return readCanonicalHeader(text, preamble, limits) ?? readAnyHeader(text, preamble, limits);
}

/** §9 steps 7–19 by the strict parser: for every header, and the authority on what is wrong with one. */
export function readAnyHeader(text: string, preamble: Preamble, limits: ReadLimits): FileLayout {
  const header = checkStructure(parseHeaderJson(text, { maxDepth: limits.maxDepth, maxNodes: limits.maxHeaderNodes }), preamble.minor);
  return checkEntries(header, preamble, limits);
}

/** §9 step 20: the input's length must be exactly what the header implies (a layout's, or any format's container's, `fileLength`). */
export function checkFileLength(layout: Pick<FileLayout, "fileLength">, totalLength: number): void {
  if (totalLength < layout.fileLength) {
    throw new NdpackError("TRUNCATED", `input is ${totalLength} bytes, but its header describes ${layout.fileLength}`, { expected: layout.fileLength, actual: totalLength });
  }
  if (totalLength > layout.fileLength) {
    throw new NdpackError("TRAILING_BYTES", `input is ${totalLength} bytes, ${totalLength - layout.fileLength} more than its header describes`, { offset: layout.fileLength, expected: layout.fileLength, actual: totalLength });
  }
}

/** §9 step 21 (and step 22's padding rule): every byte of `bytes[from, to)` must be zero. */
export function checkZeroPadding(bytes: Uint8Array, from: number, to: number, baseOffset = 0, array?: string): void {
  for (let i = from; i < to; i++) {
    if (bytes[i] !== 0) {
      const after = array === undefined ? "" : ` after array "${array}"`;
      throw new NdpackError("BAD_PADDING", `padding byte${after} at offset ${baseOffset + i} is 0x${hexByte(bytes[i]!)}, not zero`, { offset: baseOffset + i, ...(array === undefined ? {} : { array }) });
    }
  }
}

/**
 * Bytes a random-access reader asks for first: the preamble and, for nearly every file, the whole
 * header and the padding after it. 64 KiB costs a local file no more than 4 KiB would (one read of
 * a few pages) and saves a remote one a second round trip for headers of up to ~500 arrays.
 *
 * The tradeoff, measured for a local file (issue 10, bench S4: 256 arrays, a 32 KiB header, in the
 * page cache, a full GC before each call): a 4 KiB first read then the rest of the header meets
 * "bytes read <= header + array + 4 KiB", but its second thread-pool round trip made `open` 17-36
 * µs slower (p10 and median of 400 interleaved calls; 5-10% of a raw open + read + close of 4 MiB),
 * to save copying 28 KiB from the page cache (about 3 µs). From a disk, the kernel's read-ahead
 * (128 KiB or more) reads those pages with the first one anyway. So local files keep 64 KiB, and
 * S4's bytes-read row is over by the unused part of it; a caller counting bytes passes
 * `firstReadBytes`.
 */
export const FIRST_READ_BYTES = 64 * 1024;

/** A header that does not fit in the first read is read together with this much more, to take the padding after it too. */
const HEADER_READ_GRANULE = 4096;

/**
 * FORMAT.md §9 steps 1–21, written once for every input: it asks for byte ranges, always the next
 * bytes after those it has, and is given them (see `io/steps.ts`). `size` is the input's length, or
 * `undefined` for a stream, whose length is known only when it ends: then it asks for the preamble
 * alone, then exactly the header, then the padding, so that it never takes a payload byte.
 *
 * A random-access reader makes one read of {@link FIRST_READ_BYTES}, one more for a header that
 * does not fit in it (from the start, with the padding up to the next 4 KiB), and one more only
 * for padding beyond that (alignments above 4 KiB).
 */
export function* readLayoutSteps(size: number | undefined, limits: ReadLimits, firstReadBytes = FIRST_READ_BYTES): RangeSteps<FileLayout> {
  const asked = size === undefined ? PREAMBLE_SIZE : Math.min(size, firstReadBytes);
  let head = yield { offset: 0, length: asked };
  // Steps 1–5. A stream that ends inside the header is caught below with the length actually seen.
  const preamble = readPreamble(head, lengthSoFar(size, head, asked), limits);
  const headerEnd = PREAMBLE_SIZE + preamble.headerLength;
  if (head.length < headerEnd) {
    // A stream gives the rest of the header; other inputs give it from the start again, which is a
    // view of memory (no copy) and, from a source, one read (of at most 64 KiB more than needed).
    if (size === undefined) head = concatBytes([head, yield { offset: head.length, length: headerEnd - head.length }]);
    else head = yield { offset: 0, length: Math.min(size, alignUp(headerEnd, HEADER_READ_GRANULE)) };
    if (head.length < headerEnd) readPreamble(head, head.length, limits);
  }
  const layout = readHeader(head, preamble, limits);
  if (size !== undefined) checkFileLength(layout, size);
  checkZeroPadding(head, headerEnd, Math.min(head.length, layout.dataStart));
  if (head.length < layout.dataStart) {
    const padding = yield { offset: head.length, length: layout.dataStart - head.length };
    if (padding.length < layout.dataStart - head.length) checkFileLength(layout, head.length + padding.length);
    checkZeroPadding(padding, 0, padding.length, head.length);
  }
  return layout;
}

/** Steps 1–21 over a whole file held in memory. */
export function readLayout(bytes: Uint8Array, limits: ReadLimits): FileLayout {
  return runOnBytes(readLayoutSteps(bytes.length, limits), bytes);
}

/** §1: writes the preamble into `target` at offset 0, for the `headerLength` bytes of header that follow it there; the mirror of {@link readPreamble}. */
export function writePreamble(target: Uint8Array, headerLength: number): void {
  target.set(MAGIC, 0);
  const view = new DataView(target.buffer, target.byteOffset, PREAMBLE_SIZE);
  view.setUint16(PREAMBLE.major, FORMAT_VERSION.major, true);
  view.setUint16(PREAMBLE.minor, FORMAT_VERSION.minor, true);
  view.setUint32(PREAMBLE.headerLength, headerLength, true);
  view.setUint32(PREAMBLE.headerCrc, headerChecksum(target, headerLength), true);
}
