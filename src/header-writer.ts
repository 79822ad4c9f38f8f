/**
 * FORMAT.md §8: the canonical header, written as UTF-8 bytes straight into the memory that starts
 * the file, after room for the preamble. No header object, no JSON text and no encoder pass: with
 * 10,000 small arrays those three cost more than the payloads (bench S2). The bytes are exactly
 * what `JSON.stringify` of the §2.2 objects writes, encoded as UTF-8; the user's metadata goes
 * through the strict serializer of json.ts, which refuses what JSON cannot hold.
 *
 * @module
 */
import { utf8Encoder } from "./bytes.js";
import { NdpackError } from "./errors.js";
import { alignUp, DEFAULT_LIMITS, PREAMBLE_SIZE, type Checksum } from "./format.js";
import { stringifyJson } from "./json.js";
import { dataSectionStart } from "./layout.js";
import type { ArrayInfo } from "./decode.js";

/** One array's entry as §2.2 lists its keys, the fields a reader's {@link ArrayInfo} has but `nbytes`; `codec` `"none"` is not written. */
export type EntryFields = Omit<ArrayInfo, "nbytes">;

/** The file-wide fields of the header. */
export interface FileFields {
  readonly alignment: number;
  readonly checksum: Checksum;
  readonly dataLength: number;
  readonly metadata: Record<string, unknown>;
}

/** Appends to a growing byte buffer that keeps `PREAMBLE_SIZE` bytes free at its start. */
class HeadWriter {
  bytes = new Uint8Array(0);
  view = new DataView(this.bytes.buffer);
  at = PREAMBLE_SIZE;

  /** Starts a head in fresh (zeroed) memory of `capacity` bytes. */
  open(capacity: number): void {
    this.use(new Uint8Array(capacity));
    this.at = PREAMBLE_SIZE;
  }

  /** Hands over the bytes written and lets go of them. */
  close(): Uint8Array {
    const bytes = this.bytes;
    this.use(new Uint8Array(0));
    return bytes;
  }

  private use(bytes: Uint8Array<ArrayBuffer>): void {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer);
  }

  /** Makes room for `length` more bytes. */
  reserve(length: number): void {
    if (this.at + length <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.at + length));
    grown.set(this.bytes.subarray(0, this.at));
    this.use(grown);
  }

  /**
   * Copies `length` bytes written before, from `from` (at least 4 bytes back; the caller has
   * reserved room), four at a time: a fourth of a byte loop's steps.
   */
  repeat(from: number, length: number): void {
    const { bytes, view } = this;
    const at = this.at;
    let k = 0;
    for (; k + 4 <= length; k += 4) view.setInt32(at + k, view.getInt32(from + k, true), true);
    for (; k < length; k++) bytes[at + k] = bytes[from + k]!;
    this.at = at + length;
  }

  /** Text of code units below 0x80 (the caller has reserved room). */
  ascii(text: string): void {
    const bytes = this.bytes;
    let at = this.at;
    for (let i = 0; i < text.length; i++) bytes[at++] = text.charCodeAt(i);
    this.at = at;
  }

  /** Any text, as UTF-8. */
  utf8(text: string): void {
    this.reserve(text.length * 3);
    this.at += utf8Encoder.encodeInto(text, this.bytes.subarray(this.at)).written;
  }

  /** A non-negative safe integer in decimal, as `JSON.stringify` writes it (the caller has reserved 16 bytes). */
  integer(value: number): void {
    const bytes = this.bytes;
    let end = this.at + decimalDigits(value) - 1;
    this.at = end + 1;
    let rest = value;
    // Above 2^31 in floating point: exact for every safe integer, since a quotient's rounding error
    // stays below its fractional part's distance to 1 (and the digit is taken before adding '0').
    while (rest > 0x7fffffff) {
      const quotient = Math.floor(rest / 10);
      bytes[end--] = 0x30 + (rest - quotient * 10);
      rest = quotient;
    }
    // Below, in 32-bit integers, where a division by 10 compiles to a multiplication.
    while (rest >= 10) {
      const quotient = (rest / 10) | 0;
      bytes[end--] = 0x30 + rest - quotient * 10;
      rest = quotient;
    }
    bytes[end] = 0x30 + rest;
  }

  /** A string as `JSON.stringify` writes it, quotes included. */
  string(text: string): void {
    this.reserve(text.length + 2);
    const bytes = this.bytes;
    const start = this.at;
    let at = start;
    bytes[at++] = 0x22;
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      // Printable ASCII but the two characters JSON escapes; anything else takes the general path.
      if (unit < 0x20 || unit > 0x7e || unit === 0x22 || unit === 0x5c) {
        this.at = start;
        this.utf8(JSON.stringify(text));
        return;
      }
      bytes[at++] = unit;
    }
    bytes[at++] = 0x22;
    this.at = at;
  }
}

/**
 * The one writer, reused: a writer object per call dies with the call, and V8 then throws away
 * the compiled code of every method (it depends on the object's shape, which a full GC collects
 * once no object has it), so each call after a GC ran in the interpreter.
 */
let idleWriter: HeadWriter | undefined = /* @__PURE__ */ new HeadWriter();

/** The number of decimal digits of a non-negative safe integer. */
function decimalDigits(value: number): number {
  let digits = 1;
  for (let bound = 10; value >= bound && digits < 16; bound *= 10) digits++;
  return digits;
}

/** Bytes a typical entry takes besides its name and dimensions (short numbers, no codec): sizes the first buffer. */
const ENTRY_BYTES_ESTIMATE = 110;

/**
 * The most bytes an entry takes after its name, besides its dimensions (17 each at most, comma
 * included): the longest dtype (13) and codec (15), two 16-digit numbers, the fixed text and the
 * next entry's `,{"name":`.
 */
const ENTRY_TAIL_MAX_BYTES = 170;

/**
 * The first `dataSectionStart` bytes of the file, with the header written from `PREAMBLE_SIZE` on
 * and zeros after it (the preamble is the caller's, see `writePreamble`). With `reserveHeaderBytes`
 * the header is padded with spaces (§2) to exactly that length, for writers that write it last.
 * Throws HEADER_TOO_LARGE for a header readers would refuse by default, and what `stringifyJson`
 * throws for metadata JSON cannot hold.
 */
export function writeHead(
  file: FileFields,
  entries: readonly EntryFields[],
  reserveHeaderBytes?: number,
): { head: Uint8Array; headerLength: number; dataStart: number } {
  // Metadata sits at depth 2 of the header, hence the depth budget.
  const metadata = stringifyJson(file.metadata, { maxDepth: DEFAULT_LIMITS.maxDepth - 1, path: "metadata" });
  const estimate = PREAMBLE_SIZE + 128 + metadata.length * 3 + entriesEstimate(entries);
  // Taken, not shared: nothing below calls back into user code, but a second writer costs nothing.
  const out = idleWriter ?? new HeadWriter();
  idleWriter = undefined;
  let headerLength: number;
  let bytes: Uint8Array;
  try {
    out.open(alignUp(Math.max(estimate, PREAMBLE_SIZE + (reserveHeaderBytes ?? 0)), file.alignment));
    out.reserve(96);
    out.ascii('{"alignment":');
    out.integer(file.alignment);
    out.ascii(`,"checksum":"${file.checksum}","dataLength":`);
    out.integer(file.dataLength);
    out.ascii(',"metadata":');
    out.utf8(metadata);
    out.reserve(16);
    out.ascii(',"arrays":[');
    writeEntries(out, entries);
    out.reserve(2);
    out.ascii("]}");
    headerLength = out.at - PREAMBLE_SIZE;
    if (reserveHeaderBytes !== undefined && headerLength <= reserveHeaderBytes) {
      out.reserve(reserveHeaderBytes - headerLength);
      out.bytes.fill(0x20, out.at, PREAMBLE_SIZE + reserveHeaderBytes);
    }
    out.reserve(dataSectionStart(Math.max(headerLength, reserveHeaderBytes ?? 0), file.alignment) - out.at);
  } finally {
    bytes = out.close();
    idleWriter = out;
  }
  if (headerLength > DEFAULT_LIMITS.maxHeaderBytes) {
    // The writer's own limit, not the input's: a file that readers refuse by default is not written.
    throw new NdpackError("HEADER_TOO_LARGE", `the header would be ${headerLength} bytes, more than readers accept by default (maxHeaderBytes ${DEFAULT_LIMITS.maxHeaderBytes}): write fewer arrays or less metadata per file`, { expected: DEFAULT_LIMITS.maxHeaderBytes, actual: headerLength, limit: "maxHeaderBytes" });
  }
  if (reserveHeaderBytes !== undefined) {
    if (headerLength > reserveHeaderBytes) throw new Error(`internal error: the header outgrew the ${reserveHeaderBytes} bytes reserved for it`);
    headerLength = reserveHeaderBytes;
  }
  const dataStart = dataSectionStart(headerLength, file.alignment);
  // Fresh memory past the header: the padding (§4) is already zero.
  return { head: bytes.subarray(0, dataStart), headerLength, dataStart };
}

// The loops over entries are functions of their own that end with their loop: V8 compiles a long
// loop while it runs (on-stack replacement), before the code after it has run even once, and such
// code then gives up at that code on every call.

function entriesEstimate(entries: readonly EntryFields[]): number {
  let estimate = 0;
  for (let i = 0; i < entries.length; i++) estimate += ENTRY_BYTES_ESTIMATE + entries[i]!.name.length + entries[i]!.shape.length * 4;
  return estimate;
}

function writeEntries(out: HeadWriter, entries: readonly EntryFields[]): void {
  // The text from `,"dtype"` to `"offset":` of the last entry written, copied when the next entry
  // has the same dtype, shape, order, byte order and codec (10,000 layers of one shape); and the
  // text from `,"byteLength"` to the next entry's `"name":`, copied when the byte length repeats.
  let layoutOf: EntryFields | undefined;
  let layoutStart = 0;
  let layoutLength = 0;
  let tailOf = -1;
  let tailStart = 0;
  let tailLength = 0;
  out.reserve(8);
  if (entries.length > 0) out.ascii('{"name":');
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const shape = entry.shape;
    out.string(entry.name);
    out.reserve(ENTRY_TAIL_MAX_BYTES + shape.length * 17);
    const start = out.at;
    if (layoutOf !== undefined && sameLayout(layoutOf, entry)) out.repeat(layoutStart, layoutLength);
    else {
      out.ascii(',"dtype":"');
      out.ascii(entry.dtype);
      out.ascii('","shape":[');
      for (let d = 0; d < shape.length; d++) {
        if (d > 0) out.bytes[out.at++] = 0x2c;
        out.integer(shape[d]!);
      }
      out.ascii(entry.order === "C" ? '],"order":"C","byteOrder":"' : '],"order":"F","byteOrder":"');
      out.ascii(entry.byteOrder);
      out.ascii(entry.codec === "none" ? '","offset":' : `","codec":"${entry.codec}","offset":`);
      layoutOf = entry;
      layoutLength = out.at - start;
    }
    layoutStart = start;
    out.integer(entry.offset);
    const tail = out.at;
    if (i === entries.length - 1) {
      out.ascii(',"byteLength":');
      out.integer(entry.byteLength);
      out.bytes[out.at++] = 0x7d;
    } else {
      if (entry.byteLength === tailOf) out.repeat(tailStart, tailLength);
      else {
        out.ascii(',"byteLength":');
        out.integer(entry.byteLength);
        out.ascii('},{"name":');
        tailOf = entry.byteLength;
        tailLength = out.at - tail;
      }
      tailStart = tail;
    }
  }
}

/** True when two entries' texts from `,"dtype"` to `"offset":` are the same. */
function sameLayout(a: EntryFields, b: EntryFields): boolean {
  if (a.dtype !== b.dtype || a.order !== b.order || a.byteOrder !== b.byteOrder || a.codec !== b.codec || a.shape.length !== b.shape.length) return false;
  for (let d = 0; d < a.shape.length; d++) if (a.shape[d] !== b.shape[d]) return false;
  return true;
}
