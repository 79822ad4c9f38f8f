/**
 * ndpack's writer without I/O (`formats/write.ts`): the arrays declared (checked as `encode`
 * checks them, through `planEncoding`), then the steps that write the file: the head (preamble,
 * header, padding, as `layoutHead` lays it out), then each record (padding to its offset, its
 * payload, its CRC-32). The memory driver (`writeToBytes`) and Node's runner (`write-steps.ts` of
 * `ndpack/node`: `writeToFile`, for the CLI's `convert`, `pack` and `extract`, and `createWriter`,
 * which declares its arrays with {@link declareArrays} and runs {@link rawFileSteps} or
 * {@link reservedHeaderSteps}) run it.
 *
 * A compressed payload's stored length is known only once it is compressed, and the header, which
 * holds it, comes first. Two layouts answer that ({@link NdpackPlanOptions.header}): `"exact"`
 * compresses such arrays first (the driver keeps their stored bytes) and writes the canonical
 * header `encode` writes; `"reserved"` streams each payload as it is compressed after room
 * reserved for the header, written last (`createWriter`'s layout).
 *
 * @module
 */
import { DTYPES, isDtype, unknownDtypeError, type Dtype, type DtypeInfo } from "../dtypes.js";
import { checkShape, ENCODE_OPTIONS, layoutHead, nameLabel, planEncoding, resolveEncodeOptions, type ArraySpec, type EncodeOptions } from "../encode.js";
import { checkOptionNames, NdpackError, oneOf, shown } from "../errors.js";
import { CODECS, MAX_ALIGNMENT, type ByteOrder, type Checksum, type Codec, type Order } from "../format.js";
import { elementCount } from "../header.js";
import { nextRecordOffset } from "../layout.js";
import { HOST_BYTE_ORDER } from "../runtime.js";
import type { ArrayPlan, KeptStep, PayloadStep, PayloadWritten, WriteStep, WriteSteps } from "./write.js";

/** One array declared to `createWriter` of `ndpack/node`: everything but its bytes. */
export interface WriterEntry {
  /** Non-empty and unique in the file. */
  readonly name: string;
  /** The element type (FORMAT.md §3). */
  readonly dtype: Dtype;
  /** Dimensions; `[]` is a 0-d scalar. */
  readonly shape: readonly number[];
  /** `"C"` (default) or `"F"`: the order in which the bytes will be written. */
  readonly order?: Order;
  /** As in `ArraySpec`: a codec for this array, overriding the file-wide `codec` option; `"none"` (or nothing) leaves the choice to that option. Path targets only, see `createWriter`. */
  readonly codec?: Codec;
}

/** One declared array, checked, with what the writer derives from it. */
export interface DeclaredArray {
  readonly name: string;
  readonly dtype: DtypeInfo;
  readonly shape: readonly number[];
  readonly order: Order;
  readonly byteOrder: ByteOrder;
  readonly codec: Codec;
  readonly nbytes: number;
  /** True when the caller's bytes must be byte-swapped on the way out. */
  readonly swap: boolean;
}

/** Checked declarations and options of one file. */
export interface DeclaredFile {
  readonly arrays: readonly DeclaredArray[];
  readonly alignment: number;
  readonly checksum: Checksum;
  readonly checksumSize: number;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly level: number;
}

/**
 * Checks the declarations and options. Everything but the shapes and codecs goes through
 * `planEncoding` (with an empty array standing in for each declared one), so that names, orders,
 * byte orders and file options are checked and resolved exactly as `encode` does it.
 */
export function declareArrays(entries: readonly WriterEntry[], options: EncodeOptions): DeclaredFile {
  if (!Array.isArray(entries)) throw new NdpackError("INVALID_ARGUMENT", "entries must be a list of { name, dtype, shape, order?, codec? }", { field: "entries" });
  const resolved = resolveEncodeOptions(options);
  const fileCodec = resolved.fileCodec;
  const details = entries.map((entry: WriterEntry, index) => {
    if (entry === null || typeof entry !== "object") throw new NdpackError("INVALID_ARGUMENT", `entries[${index}] must be an object { name, dtype, shape }`, { field: `entries[${index}]` });
    // Each field is read once: a getter that answered differently each time had one reading checked
    // and another used (a TypeError, or a header naming the codec "zstd").
    const { name: given, dtype: dtypeName, shape: givenShape, order, codec: givenCodec } = entry;
    const name = nameLabel(given);
    if (!isDtype(dtypeName)) throw unknownDtypeError(dtypeName, name);
    const dtype = DTYPES[dtypeName];
    const shape = checkShape(name, givenShape, dtype);
    if (givenCodec !== undefined && !(CODECS as readonly unknown[]).includes(givenCodec)) {
      throw new NdpackError("UNSUPPORTED_CODEC", `array "${name}": unsupported codec ${shown(givenCodec)}`, { array: name, field: "codec" });
    }
    // As in ArraySpec: "none" (or nothing) on an array leaves the choice to the file-wide option.
    const codec = givenCodec === undefined || givenCodec === "none" ? fileCodec : givenCodec;
    return { given, order, dtype, shape, codec, nbytes: elementCount(shape, dtype.itemSize)! * dtype.itemSize };
  });
  const standIns = details.map(({ given, order, dtype }): [string, ArraySpec] => {
    return [given, { data: new dtype.view(0), dtype: dtype.name, shape: [0], ...(order === undefined ? {} : { order }) }];
  });
  const plan = planEncoding(standIns, options);
  const arrays = plan.records.map((record, index): DeclaredArray => {
    const { dtype, shape, codec, nbytes } = details[index]!;
    const byteOrder = record.byteOrder;
    return { name: record.array.name, dtype, shape, order: record.array.order, byteOrder, codec, nbytes, swap: dtype.wordSize > 1 && byteOrder !== HOST_BYTE_ORDER };
  });
  const { alignment, checksum, checksumSize, metadata, level } = resolved;
  return { arrays, alignment, checksum, checksumSize, metadata, level };
}

/**
 * The head of the file for the given stored lengths (see `layoutHead`), and where each record
 * goes; `codecs`, when given, are the stored codecs where they differ from the declared ones (an
 * array that did not shrink is stored raw).
 */
export function headFor(file: DeclaredFile, byteLengths: readonly number[], reserve?: number, codecs?: readonly Codec[]): { head: Uint8Array; offsets: number[]; headerLength: number } {
  const entries = file.arrays.map((array, index) => ({
    name: array.name,
    dtype: array.dtype.name,
    shape: array.shape,
    order: array.order,
    byteOrder: array.byteOrder,
    codec: codecs?.[index] ?? array.codec,
    offset: 0,
    byteLength: byteLengths[index]!,
  }));
  const { head, headerLength } = layoutHead(entries, { alignment: file.alignment, checksum: file.checksum, metadata: file.metadata as Record<string, unknown> }, reserve);
  return { head, offsets: entries.map((e) => e.offset), headerLength };
}

/**
 * An upper bound of a compressed payload's length. DEFLATE stores incompressible blocks raw (5
 * bytes per block); fixed-Huffman blocks spend at most 9 bits per byte. Only the number of digits
 * of the bound matters: it sizes the room reserved for the header.
 */
export function storedBound(nbytes: number): number {
  return nbytes + Math.ceil(nbytes / 8) + 1024;
}

/** Options of {@link planNdpackWrite}: those of `encode`, and where the header of a file with compressed arrays goes. */
export interface NdpackPlanOptions extends EncodeOptions {
  /**
   * With compressed arrays, `"exact"` (default): each is compressed before the header is written,
   * the driver keeping its stored bytes until its record is written, and the header holds the exact
   * stored lengths: the bytes `encode` writes (an array that does not shrink is stored raw).
   * `"reserved"`: the header is written last, into room reserved for the largest lengths the
   * payloads can take, padded with spaces (FORMAT.md §2: valid, not canonical); each payload goes
   * out as it is compressed and nothing is kept, so the file may be larger than memory:
   * `createWriter`'s layout, which the CLI writes. Without compressed arrays both are the same.
   */
  readonly header?: "exact" | "reserved";
}

/** Zero bytes for padding (at most alignment - 1 of them); views of it are handed out, so it is never written. */
const ZEROS = /* @__PURE__ */ new Uint8Array(MAX_ALIGNMENT);

/** How one record's payload is written: a step, or a kept payload whose stored length and CRC are known. */
interface RecordWrite {
  readonly step: PayloadStep | KeptStep;
  readonly written?: PayloadWritten;
}

/**
 * ndpack's writer: checks the arrays (their declarations: names, dtypes, shapes, orders, codecs)
 * and the options as `encode` does, before the first step, and returns the steps that write the
 * file. `arrays[i].codec` is `ArraySpec.codec` (overrides the file-wide `codec` unless `"none"`).
 * The payloads go in the arrays' storage order (ndpack keeps Fortran order), byte-swapped to
 * `byteOrder` where it is not this machine's; the CRC-32 of each record is taken over its stored
 * bytes (FORMAT.md §6).
 *
 * @throws NdpackError as `encode` for the declarations and options (INVALID_ARGUMENT,
 *   UNKNOWN_DTYPE, BAD_SHAPE, DUPLICATE_NAME, UNSUPPORTED_CODEC, LIMIT_EXCEEDED, HEADER_TOO_LARGE).
 */
export function planNdpackWrite(arrays: readonly ArrayPlan[], options: NdpackPlanOptions = {}): WriteSteps {
  checkOptionNames(options, { ...ENCODE_OPTIONS, header: true } satisfies Record<keyof NdpackPlanOptions, true>, "planWrite");
  oneOf(options.header, ["exact", "reserved"], "exact", "header");
  const file = declareArrays(
    arrays.map((array) => ({ name: array.name, dtype: array.dtype.name, shape: array.shape, order: array.order, ...(array.codec === undefined ? {} : { codec: array.codec }) })),
    options,
  );
  const compressed = file.arrays.some((array) => array.codec !== "none");
  if (!compressed) return rawFileSteps(file, headFor(file, file.arrays.map((array) => array.nbytes)).head);
  return options.header === "reserved" ? reservedHeaderSteps(file) : exactHeaderSteps(file);
}

/** The step that writes array `index`'s payload: raw, or compressed with its codec. */
function payloadStep(file: DeclaredFile, index: number, compress: boolean): PayloadStep {
  const array = file.arrays[index]!;
  const raw = { payload: index, byteOrder: array.byteOrder, cOrder: false, crc: file.checksumSize > 0 };
  if (!compress) return raw;
  const shuffle = array.codec === "shuffle+deflate" && array.dtype.wordSize > 1 ? { shuffle: array.dtype.wordSize } : {};
  return { ...raw, deflateLevel: file.level, ...shuffle, crcOfStored: true };
}

/** The records of the data section (FORMAT.md §4): padding to each record's offset, its payload, its CRC-32. Returns the stored lengths. */
function* recordSteps(file: DeclaredFile, recordWrite: (index: number) => RecordWrite): Generator<WriteStep, number[], PayloadWritten | undefined> {
  const storedLengths: number[] = [];
  let end = 0;
  for (let index = 0; index < file.arrays.length; index++) {
    const offset = nextRecordOffset(end, file.alignment);
    if (offset > end) yield ZEROS.subarray(0, offset - end);
    const record = recordWrite(index);
    const answer = yield record.step;
    const written = record.written ?? answer!;
    storedLengths.push(written.storedLength);
    end = offset + written.storedLength;
    if (file.checksumSize > 0) {
      const crc = new Uint8Array(file.checksumSize);
      new DataView(crc.buffer).setUint32(0, written.crc, true);
      yield crc;
      end += file.checksumSize;
    }
  }
  return storedLengths;
}

/** No compressed array: `head` (`headFor` the arrays' lengths, exactly `encode`'s), then the records. */
export function* rawFileSteps(file: DeclaredFile, head: Uint8Array): WriteSteps {
  yield head;
  yield* recordSteps(file, (index) => ({ step: payloadStep(file, index, false) }));
}

/**
 * Compressed arrays, header last (`"reserved"`): room for the head of the largest lengths the
 * payloads can take, the records as they are compressed, then the head in that room.
 */
export function* reservedHeaderSteps(file: DeclaredFile): WriteSteps {
  const bound = headFor(file, file.arrays.map((array) => (array.codec === "none" ? array.nbytes : storedBound(array.nbytes))));
  yield { reserve: bound.head.length };
  const storedLengths = yield* recordSteps(file, (index) => ({ step: payloadStep(file, index, file.arrays[index]!.codec !== "none") }));
  yield { fill: headFor(file, storedLengths, bound.headerLength).head };
}

/** Compressed arrays, canonical header: each compressed and kept first, as `planEncoding` does; one that does not shrink is stored raw. */
function* exactHeaderSteps(file: DeclaredFile): WriteSteps {
  const kept: (PayloadWritten | undefined)[] = [];
  for (const [index, array] of file.arrays.entries()) {
    if (array.codec === "none") continue;
    const written = (yield { ...payloadStep(file, index, true), keep: true })!;
    if (written.storedLength < array.nbytes) kept[index] = written;
  }
  const storedLengths = file.arrays.map((array, index) => kept[index]?.storedLength ?? array.nbytes);
  yield headFor(file, storedLengths, undefined, file.arrays.map((array, index) => (kept[index] === undefined ? "none" : array.codec))).head;
  yield* recordSteps(file, (index) => {
    const written = kept[index];
    return written === undefined ? { step: payloadStep(file, index, false) } : { step: { kept: index }, written };
  });
}
