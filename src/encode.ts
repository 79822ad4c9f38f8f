/**
 * Arrays to ndpack bytes. Every writer in the library starts from {@link planEncoding}, which checks
 * the input, compresses what must be compressed and fixes the layout of FORMAT.md §4; then
 * {@link writePlan} fills caller-provided memory (one copy per payload), and
 * {@link planSegments} hands the same bytes out piece by piece, as views of the caller's arrays
 * wherever they are large and no byte has to change, for streams and vectored file writes.
 *
 * @module
 */
import { bytesOf, copySwapped, isDetached, utf8Length } from "./bytes.js";
import { compressPayload, DEFAULT_COMPRESSION_LEVEL } from "./compress.js";
import { crc32, crc32Within } from "./crc32.js";
import { DTYPES, dtypeOfTag, isDtype, TYPED_ARRAY, typedArrayTag, unknownDtypeError, type Dtype, type DtypeInfo, type TypedArray, type TypedArrayConstructor, type TypedArrayTag } from "./dtypes.js";
import { checkOptionNames, NdpackError, oneOf, shown } from "./errors.js";
import {
  BYTE_ORDERS,
  CHECKSUM_SIZE,
  CHECKSUMS,
  CODECS,
  DEFAULT_ALIGNMENT,
  DEFAULT_LIMITS,
  MAX_ALIGNMENT,
  MIN_ALIGNMENT,
  ORDERS,
  type ByteOrder,
  type Checksum,
  type Codec,
  type Order,
} from "./format.js";
import { elementCount, writePreamble } from "./header.js";
import { writeHead, type EntryFields } from "./header-writer.js";
import { nextRecordOffset } from "./layout.js";
import { HOST_BYTE_ORDER, requestTouchedMemory } from "./runtime.js";

/**
 * One array to write, with its description. Every field but `data` is optional. Other keys are
 * ignored, so that an array `decode` or a reader gave (which also has `name`, `byteOrder`,
 * `offset`...) can be written as it is; a misspelled key (`shpae`) is therefore ignored too, where
 * Python's writer, whose arrays are numpy arrays, refuses an unknown key of its dict form
 * (INVALID_ARGUMENT).
 */
export interface ArraySpec {
  /** The elements, in `order`. Complex dtypes take interleaved (re, im) Float32Array/Float64Array data. */
  readonly data: ArrayBufferView;
  /** Dimensions; defaults to `[element count]` (1-D). `[]` is a 0-d scalar. */
  readonly shape?: readonly number[];
  /** Defaults to the dtype of the typed array (`Float32Array` is float32, `Uint8Array` uint8...). */
  readonly dtype?: Dtype;
  /** `"C"` (default) or `"F"`: how `data` is laid out; the bytes are written as they are. */
  readonly order?: Order;
  /** A codec for this array, which overrides the file-wide `codec` option; `"none"` (or nothing) leaves the choice to that option. */
  readonly codec?: Codec;
}

/** An array to write: a bare typed array (1-D, dtype from its type) or an {@link ArraySpec}. */
export type ArrayInput = ArrayBufferView | ArraySpec;

/** Named arrays: a plain object, a Map, or a list of `[name, array]` pairs (order is kept). */
export type ArraysInput =
  | Readonly<Record<string, ArrayInput>>
  | ReadonlyMap<string, ArrayInput>
  | Iterable<readonly [string, ArrayInput]>;

/** Options of every writer. */
export interface EncodeOptions {
  /** Any JSON object, stored in the header (nested values allowed). */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Payload alignment: a power of two from 8 to 65536 (4096 gives page-aligned arrays). Default 64. */
  readonly alignment?: number;
  /** Byte order of the stored numbers. Default `"little"`. */
  readonly byteOrder?: ByteOrder;
  /** `"crc32"` (default) writes a CRC-32 after every payload; `"none"` writes none. */
  readonly checksum?: Checksum;
  /** Codec for every array that does not name its own. Default `"none"`. */
  readonly codec?: Codec;
  /** DEFLATE level, 0 to 9. Default 6. */
  readonly compressionLevel?: number;
}

/** The option names every writer of ndpack files takes (writers with more add theirs). */
export const ENCODE_OPTIONS = { metadata: true, alignment: true, byteOrder: true, checksum: true, codec: true, compressionLevel: true } as const satisfies Record<keyof EncodeOptions, true>;

/**
 * One array, checked and with its defaults resolved, its bytes not yet viewed: a view per array
 * costs about 40 ns (the `buffer` getter and the constructor), as much as copying its 256 bytes
 * (bench S2), so the encoder copies from the caller's typed array itself.
 */
export interface CheckedArray {
  readonly name: string;
  readonly dtype: DtypeInfo;
  readonly shape: readonly number[];
  readonly order: Order;
  /** The caller's typed array, in this machine's byte order. */
  readonly data: ArrayBufferView;
  /** The type of `data`. */
  readonly tag: TypedArrayTag;
}

/** One array, checked and ready to be written. */
export interface PreparedArray {
  readonly name: string;
  readonly dtype: DtypeInfo;
  readonly shape: readonly number[];
  readonly order: Order;
  /** The caller's bytes, in this machine's byte order. */
  readonly source: Uint8Array;
  /** The caller's typed array (a plain view of it), of which `source` is the bytes. */
  readonly data: ArrayBufferView;
}

/** One record of the data section, as the plan will write it: its header entry (§2.2) and how to write its payload. */
export interface PlannedRecord extends EntryFields {
  readonly array: CheckedArray;
  /** Absolute file offset of the payload. */
  readonly start: number;
  /** Bytes to store when they are not the caller's own (compressed payloads). */
  readonly stored: Uint8Array | undefined;
  /** True when the caller's bytes must be byte-swapped on the way out. */
  readonly swap: boolean;
}

/** Everything a writer needs: the header's bytes and where each payload goes. */
export interface EncodePlan {
  /** Preamble, header and padding up to the data section: the first `dataStart` bytes of the file. */
  readonly head: Uint8Array;
  readonly dataStart: number;
  readonly checksumSize: number;
  readonly records: readonly PlannedRecord[];
  /** Exact length of the file. */
  readonly totalLength: number;
}

/** Which of the forms of {@link ArraysInput} `arrays` is; throws INVALID_ARGUMENT when it is none. */
function inputKind(arrays: ArraysInput): "map" | "pairs" | "record" {
  if (arrays === null || typeof arrays !== "object") throw new NdpackError("INVALID_ARGUMENT", "arrays must be an object, a Map or a list of [name, array] pairs", { field: "arrays" });
  if (ArrayBuffer.isView(arrays)) {
    // A typed array is iterable, so it would otherwise be read as a list of pairs of numbers.
    const type = typedArrayTag(arrays) ?? "DataView";
    throw new NdpackError("INVALID_ARGUMENT", `arrays must be named: pass { name: array } (for example { x: new ${type}(...) }), not a bare ${type}; a file holds named arrays`, { field: "arrays" });
  }
  if (arrays instanceof Map) return "map";
  if (typeof (arrays as Iterable<unknown>)[Symbol.iterator] === "function") return "pairs";
  return "record";
}

/** The `[name, array]` pairs of any {@link ArraysInput}, in order; every writer reads its input through this. */
export function entriesOf(arrays: ArraysInput): Iterable<readonly [string, ArrayInput]> {
  const kind = inputKind(arrays);
  if (kind === "map") return (arrays as ReadonlyMap<string, ArrayInput>).entries();
  if (kind === "pairs") return checkedPairs(arrays as Iterable<readonly [string, ArrayInput]>);
  return Object.entries(arrays as Record<string, ArrayInput>);
}

/** The items of a list of pairs, each checked to be one: `[1, 2]` or `[null]` was a TypeError from destructuring it. */
function* checkedPairs(pairs: Iterable<readonly [string, ArrayInput]>): Generator<readonly [string, ArrayInput], void, undefined> {
  let index = 0;
  for (const pair of pairs) {
    if (!Array.isArray(pair)) throw new NdpackError("INVALID_ARGUMENT", `arrays[${index}] must be a [name, array] pair, got ${shown(pair)}`, { field: "arrays" });
    yield pair;
    index++;
  }
}

/**
 * Calls `visit` with each checked name and its array, in order; the same pairs as
 * {@link entriesOf}, without building the pairs of a plain object (10,000 arrays, 10,000 pairs).
 */
function forEachInput(arrays: ArraysInput, visit: (name: string, input: ArrayInput) => void): void {
  const kind = inputKind(arrays);
  if (kind === "record") {
    const record = arrays as Readonly<Record<string, ArrayInput>>;
    const names = Object.keys(record);
    for (let i = 0; i < names.length; i++) visit(checkName(names[i], undefined), record[names[i]!]!);
    return;
  }
  // Only a list of pairs can repeat a name: object and Map keys are unique.
  const seen = kind === "pairs" ? new Set<string>() : undefined;
  for (const [name, input] of entriesOf(arrays)) visit(checkName(name, seen), input);
}

/**
 * A given name as error messages name the array before it is checked: itself when a string, else
 * as `shown` prints it (`String` throws for an object without a prototype or whose toString throws).
 */
export function nameLabel(name: unknown): string {
  return typeof name === "string" ? name : shown(name);
}

/** Checks an array name; `seen` holds the names so far when the input can repeat one (a list of pairs; object keys and Map keys cannot). */
function checkName(name: unknown, seen: Set<string> | undefined): string {
  if (name === "") {
    throw new NdpackError("INVALID_ARGUMENT", 'an ndpack file cannot hold an array with an empty name (FORMAT.md §2.2), as .npz and .safetensors files can: name it, or write one of those', { field: "name", array: "" });
  }
  if (typeof name !== "string" || !name.isWellFormed()) {
    throw new NdpackError("INVALID_ARGUMENT", `array names must be non-empty Unicode strings, got ${shown(name)}`, { field: "name" });
  }
  if (name.length * 3 > DEFAULT_LIMITS.maxNameBytes && utf8Length(name) > DEFAULT_LIMITS.maxNameBytes) {
    throw new NdpackError("LIMIT_EXCEEDED", `array name is longer than the ${DEFAULT_LIMITS.maxNameBytes} UTF-8 bytes readers accept by default`, { array: name, limit: "maxNameBytes" });
  }
  if (seen !== undefined) {
    if (seen.has(name)) throw new NdpackError("DUPLICATE_NAME", `array name ${shown(name)} is given twice`, { array: name });
    seen.add(name);
  }
  return name;
}

/**
 * Checks a shape given for an array of `dtype` (§9 steps 12 and 13 on the writer's side); returns
 * the writer's own copy, which is never changed (the same copy as the last call's when the
 * dimensions are the same: 10,000 arrays of one shape share one).
 */
export function checkShape(name: string, shape: unknown, dtype: DtypeInfo): readonly number[] {
  if (!Array.isArray(shape) || !isSizeList(shape)) {
    throw new NdpackError("BAD_SHAPE", `array "${name}": shape must be a list of non-negative integers, got ${shown(shape)}`, { array: name, field: "shape" });
  }
  if (shape.length > DEFAULT_LIMITS.maxDims) {
    throw new NdpackError("LIMIT_EXCEEDED", `array "${name}" has ${shape.length} dimensions, more than the ${DEFAULT_LIMITS.maxDims} readers accept by default`, { array: name, limit: "maxDims" });
  }
  if (elementCount(shape as number[], dtype.itemSize) === undefined) {
    throw new NdpackError("BAD_SHAPE", `array "${name}": shape [${shape.join(", ")}] holds more than 2^53-1 bytes`, { array: name, field: "shape" });
  }
  return ownShape(shape as number[]);
}

/** The last shape {@link ownShape} copied. */
let lastShape: readonly number[] = [];

function ownShape(shape: readonly number[]): readonly number[] {
  const last = lastShape;
  if (last.length !== shape.length) return (lastShape = shape.slice());
  for (let d = 0; d < shape.length; d++) if (last[d] !== shape[d]) return (lastShape = shape.slice());
  return last;
}

function isSizeList(values: readonly unknown[]): boolean {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!Number.isSafeInteger(value) || (value as number) < 0) return false;
  }
  return true;
}

/**
 * §3: writers store only the bytes 0 and 1 for `bool` (readers may not reject other bytes, so a
 * writer is the one place they can be stopped). Throws INVALID_ARGUMENT naming the array.
 */
export function checkElementBytes(name: string, dtype: DtypeInfo, bytes: Uint8Array): void {
  if (dtype.name !== "bool") return;
  const at = firstNonBoolByte(bytes);
  if (at >= 0) {
    throw new NdpackError("INVALID_ARGUMENT", `array "${name}": a bool byte must be 0 or 1, got ${bytes[at]} (FORMAT.md §3)`, { array: name, field: "data" });
  }
}

/**
 * Bool bytes as writers store them (§3): `bytes` itself when each is 0 or 1, else a copy with every
 * non-zero byte 1: what a conversion writes of an array read from a file that holds 2 or 255.
 * Not part of the public API.
 */
export function storedBools(bytes: Uint8Array): Uint8Array {
  return firstNonBoolByte(bytes) < 0 ? bytes : bytes.map((byte) => byte && 1);
}

/**
 * The index of the first byte other than 0 and 1, or -1. Four bytes at a time (such a byte has a
 * bit of 0xfe set): `findIndex` with a callback took 16 ms for S3's 4 MiB mask, this 0.7 ms.
 */
function firstNonBoolByte(bytes: Uint8Array): number {
  const head = Math.min(bytes.length, -bytes.byteOffset & 3);
  const wordCount = (bytes.length - head) >>> 2;
  const words = wordCount > 0 ? new Uint32Array(bytes.buffer, bytes.byteOffset + head, wordCount) : undefined;
  let from = head + wordCount * 4;
  if (words !== undefined) {
    for (let i = 0; i < words.length; i++) {
      if ((words[i]! & 0xfefefefe) !== 0) {
        from = head + i * 4;
        break;
      }
    }
  }
  for (let i = 0; i < head; i++) if (bytes[i]! > 1) return i;
  for (let i = from; i < bytes.length; i++) if (bytes[i]! > 1) return i;
  return -1;
}

/** Checks one array and resolves its defaults. */
export function prepareArray(name: string, input: ArrayInput): PreparedArray {
  const { dtype, shape, order, data } = checkArray(name, input);
  return { name, dtype, shape, order, source: bytesOf(data), data };
}

/** The dtype and data type of the last array checked: the next one is most often the same pair. */
let lastDtype: DtypeInfo | undefined;
let lastTag: TypedArrayTag | undefined;

/** The dtype named `dtypeName`, checked to take data of type `tag`. */
function dtypeTaking(name: string, dtypeName: unknown, tag: TypedArrayTag): DtypeInfo {
  if (!isDtype(dtypeName)) throw unknownDtypeError(dtypeName, name);
  const dtype = DTYPES[dtypeName];
  if (!dtype.accepts.includes(tag)) {
    throw new NdpackError("INVALID_ARGUMENT", `array "${name}": dtype ${dtypeName} takes ${dtype.accepts.join(" or ")} data, got ${tag}`, { array: name, field: "data" });
  }
  lastDtype = dtype;
  lastTag = tag;
  return dtype;
}

/** The built-in typed-array types, taken when this module loads (a caller's global of the same name is never called). */
const TYPED_ARRAY_TYPES: Partial<Record<TypedArrayTag, TypedArrayConstructor>> = { Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array };

/**
 * `data` itself when it is a typed array of its built-in type, else (a subclass) a plain view of
 * the same memory made with the built-in getters. The writers read `length`, `byteLength`,
 * `buffer` and `subarray` of the caller's array more than once and copy it with
 * `TypedArray.prototype.set` (which takes its true length): a subclass that says otherwise (a
 * `length` getter that says 1 of 4 elements) had the header and the payload disagree, a
 * RangeError or a file with the extra bytes in its padding. Properties redefined on one array
 * object are not looked for: that is the caller's code rewriting the array, as redefining
 * `TypedArray.prototype.set` would be, and five `Object.hasOwn` per array cost 5-8% of encoding
 * 10,000 small arrays. `undefined` when its buffer was detached (transferred): it reads as empty,
 * but copying from it throws a TypeError.
 */
function plainView(data: TypedArray, tag: TypedArrayTag): TypedArray | undefined {
  const type = TYPED_ARRAY_TYPES[tag];
  // `constructor`, read from the prototype, tells a subclass as getPrototypeOf would, in a tenth of the time.
  if (type === undefined || data.constructor === type) return data.length === 0 && isDetached(data.buffer) ? undefined : data;
  const buffer = TYPED_ARRAY.buffer.call(data) as ArrayBuffer;
  return isDetached(buffer) ? undefined : new type(buffer, TYPED_ARRAY.byteOffset.call(data), TYPED_ARRAY.length.call(data));
}

/** {@link prepareArray} without the view of the bytes. */
function checkArray(name: string, input: ArrayInput): CheckedArray {
  const bare = ArrayBuffer.isView(input);
  const spec = bare ? undefined : (input as ArraySpec | undefined);
  const given = bare ? input : spec?.data;
  const tag = typedArrayTag(given);
  if (tag === undefined) {
    throw new NdpackError("INVALID_ARGUMENT", `array "${name}": data must be a typed array (Float32Array, Int32Array, ...)`, { array: name, field: "data" });
  }
  const data = plainView(given as TypedArray, tag);
  if (data === undefined) {
    throw new NdpackError("INVALID_ARGUMENT", `array "${name}": its buffer was detached (transferred?)`, { array: name, field: "data" });
  }
  const dtypeName = spec?.dtype ?? dtypeOfTag(tag);
  const dtype = dtypeName === lastDtype?.name && tag === lastTag ? lastDtype : dtypeTaking(name, dtypeName, tag);
  const lanes = dtype.itemSize / dtype.wordSize;
  const length = (data as unknown as { length: number }).length;
  // Without a shape, data of an odd count for a complex dtype is SIZE_MISMATCH below, not a fractional shape.
  const shape = checkShape(name, spec?.shape ?? [Math.floor(length / lanes)], dtype);
  const count = elementCount(shape, dtype.itemSize)!;
  if (count * lanes !== length) {
    throw new NdpackError("SIZE_MISMATCH", `array "${name}": shape [${shape.join(", ")}] of ${dtypeName} needs ${count * lanes} values, data has ${length}`, { array: name, field: "shape", expected: count * lanes, actual: length });
  }
  const order = spec?.order === undefined ? "C" : oneOf(spec.order, ORDERS, "C", `arrays["${name}"].order`);
  if (dtype.name === "bool") checkElementBytes(name, dtype, bytesOf(data!));
  return { name, dtype, shape, order, data: data!, tag };
}

function checkAlignment(alignment: unknown): number {
  if (alignment === undefined) return DEFAULT_ALIGNMENT;
  if (!Number.isSafeInteger(alignment) || (alignment as number) < MIN_ALIGNMENT || (alignment as number) > MAX_ALIGNMENT || ((alignment as number) & ((alignment as number) - 1)) !== 0) {
    throw new NdpackError("INVALID_ARGUMENT", `alignment must be a power of two from ${MIN_ALIGNMENT} to ${MAX_ALIGNMENT}, got ${shown(alignment)}`, { field: "alignment" });
  }
  return alignment as number;
}

/** Checks a DEFLATE level option (0 to 9, default 6 as in zlib): `encode`'s, and `toNpz`'s. Not part of the public API. */
export function checkLevel(level: unknown): number {
  if (level === undefined) return DEFAULT_COMPRESSION_LEVEL;
  if (!Number.isInteger(level) || (level as number) < 0 || (level as number) > 9) {
    throw new NdpackError("INVALID_ARGUMENT", `compressionLevel must be an integer from 0 to 9, got ${shown(level)}`, { field: "compressionLevel" });
  }
  return level as number;
}

function checkMetadata(metadata: unknown): Record<string, unknown> {
  if (metadata === undefined) return {};
  const proto = metadata !== null && typeof metadata === "object" ? Object.getPrototypeOf(metadata) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw new NdpackError("INVALID_ARGUMENT", "metadata must be a plain JSON object", { field: "metadata" });
  }
  return metadata as Record<string, unknown>;
}

/** The stored bytes of an array that must go through a codec, or `undefined` when it is stored raw. */
function storedBytes(array: CheckedArray, codec: Codec, swap: boolean, level: number): { stored: Uint8Array | undefined; codec: Codec } {
  if (codec === "none") return { stored: undefined, codec };
  const source = bytesOf(array.data);
  let ordered = source;
  if (swap) {
    ordered = new Uint8Array(source.length);
    copySwapped(source, ordered, 0, array.dtype.wordSize);
  }
  const compressed = compressPayload(ordered, codec, array.dtype.wordSize, level);
  if (compressed !== undefined) return { stored: compressed, codec };
  return { stored: swap ? ordered : undefined, codec: "none" };
}

/** The file-wide options of every ndpack writer, checked, with their defaults filled in. */
export interface ResolvedEncodeOptions {
  readonly alignment: number;
  readonly byteOrder: ByteOrder;
  readonly checksum: Checksum;
  /** Bytes of checksum after each payload. */
  readonly checksumSize: number;
  /** The file-wide codec (`codec`). */
  readonly fileCodec: Codec;
  /** The DEFLATE level (`compressionLevel`). */
  readonly level: number;
  readonly metadata: Record<string, unknown>;
}

/** Checks the file-wide options and fills in their defaults: INVALID_ARGUMENT naming the option, as `encode` throws it. */
export function resolveEncodeOptions(options: EncodeOptions): ResolvedEncodeOptions {
  const checksum = oneOf(options.checksum, CHECKSUMS, "crc32", "checksum");
  return {
    alignment: checkAlignment(options.alignment),
    byteOrder: oneOf(options.byteOrder, BYTE_ORDERS, "little", "byteOrder"),
    checksum,
    checksumSize: CHECKSUM_SIZE[checksum],
    fileCodec: oneOf(options.codec, CODECS, "none", "codec"),
    level: checkLevel(options.compressionLevel),
    metadata: checkMetadata(options.metadata),
  };
}

/** Checks the arrays and options, compresses what must be, and fixes every byte's place. */
export function planEncoding(arrays: ArraysInput, options: EncodeOptions = {}): EncodePlan {
  const { alignment, byteOrder, checksum, checksumSize, fileCodec, level, metadata } = resolveEncodeOptions(options);

  const records: (PlannedRecord & { start: number })[] = [];
  let dataLength = 0;
  forEachInput(arrays, (name, input) => {
    const array = checkArray(name, input);
    const requested = ArrayBuffer.isView(input) ? undefined : (input as ArraySpec).codec;
    if (requested !== undefined && !(CODECS as readonly unknown[]).includes(requested)) {
      throw new NdpackError("UNSUPPORTED_CODEC", `array "${name}": unsupported codec ${shown(requested)}`, { array: name, field: "codec" });
    }
    const { dtype, data } = array;
    const entryByteOrder: ByteOrder = dtype.itemSize === 1 ? "little" : byteOrder;
    const swap = dtype.wordSize > 1 && entryByteOrder !== HOST_BYTE_ORDER;
    // "none" on an array is no preference, so re-encoding decoded arrays (which say how they were
    // stored) with a file-wide codec compresses them.
    const asked = requested === undefined || requested === "none" ? fileCodec : requested;
    const { stored, codec } = asked === "none" ? RAW : storedBytes(array, asked, swap, level);
    // The element count times its size, which every type a dtype accepts has as its word size: V8 compiles the
    // `length` getter inline, not `byteLength` (10 ns per call).
    const byteLength = stored?.length ?? (data as unknown as ArrayLike<unknown>).length * dtype.wordSize;
    const offset = nextRecordOffset(dataLength, alignment);
    dataLength = offset + byteLength + checksumSize;
    records.push({ name, dtype: dtype.name, shape: array.shape, order: array.order, byteOrder: entryByteOrder, codec, offset, byteLength, array, start: 0, stored, swap: swap && stored === undefined });
  });
  if (!Number.isSafeInteger(dataLength)) throw new NdpackError("INVALID_ARGUMENT", "the arrays add up to more than 2^53-1 bytes");

  const { head, headerLength, dataStart } = writeHead({ alignment, checksum, dataLength, metadata }, records);
  writePreamble(head, headerLength);
  placeInFile(records, dataStart);
  return { head, dataStart, checksumSize, records, totalLength: dataStart + dataLength };
}

const RAW = { stored: undefined, codec: "none" } as const;

/** Sets each record's file offset (a function that ends with its loop: see header-writer.ts on why). */
function placeInFile(records: { start: number; offset: number }[], dataStart: number): void {
  for (let i = 0; i < records.length; i++) records[i]!.start = dataStart + records[i]!.offset;
}

/**
 * Places records of the entries' stored `byteLength`s (§4), filling in each entry's `offset`, and
 * writes the head of the file: preamble, header and padding, the first `dataStart` bytes. For
 * writers that know the stored lengths only after planning. With `reserveHeaderBytes`, the header
 * is padded with spaces (§2) to exactly that length, for writers that write the header after the
 * payloads.
 */
export function layoutHead(
  entries: (EntryFields & { offset: number })[],
  file: { alignment: number; checksum: Checksum; metadata: Record<string, unknown> },
  reserveHeaderBytes?: number,
): { head: Uint8Array; dataStart: number; dataLength: number; headerLength: number } {
  let dataLength = 0;
  for (const entry of entries) {
    entry.offset = nextRecordOffset(dataLength, file.alignment);
    dataLength = entry.offset + entry.byteLength + CHECKSUM_SIZE[file.checksum];
  }
  if (!Number.isSafeInteger(dataLength)) throw new NdpackError("INVALID_ARGUMENT", "the arrays add up to more than 2^53-1 bytes");
  const { head, headerLength, dataStart } = writeHead({ alignment: file.alignment, checksum: file.checksum, dataLength, metadata: file.metadata }, entries, reserveHeaderBytes);
  writePreamble(head, headerLength);
  return { head, dataStart, dataLength, headerLength };
}

/** Writes one payload into `target` at `start`; `view` is a view of `target` of the type of the record's data, where there is one. */
function writePayload(target: Uint8Array, start: number, record: PlannedRecord, view: TypedArray | undefined): void {
  const { array } = record;
  if (record.stored) target.set(record.stored, start);
  else if (record.swap) copySwapped(bytesOf(array.data), target, start, array.dtype.wordSize);
  // A copy between typed arrays of one type keeps every bit (NaN payloads included).
  else if (view !== undefined && start % view.BYTES_PER_ELEMENT === 0) (view as Uint8Array).set(array.data as Uint8Array, start / view.BYTES_PER_ELEMENT);
  else target.set(bytesOf(array.data), start);
}

/** A view of all of `target` of the typed-array type `tag`, where its start allows one. */
function viewOfType(target: Uint8Array, tag: TypedArrayTag): TypedArray | undefined {
  const type = TYPED_ARRAY_TYPES[tag];
  if (type === undefined || target.byteOffset % type.BYTES_PER_ELEMENT !== 0) return undefined;
  return new type(target.buffer, target.byteOffset, Math.floor(target.byteLength / type.BYTES_PER_ELEMENT));
}

/**
 * Payloads shorter than this are checksummed in JavaScript ({@link crc32Within}): a call to Node's
 * zlib.crc32 costs about 110 ns before its first byte, the JS loop about 0.46 ns per byte against
 * native's 0.14 (CPU time per payload: 256 B 119 ns in JS vs 146 native, 512 B 235 vs 205).
 */
const SMALL_CRC_BYTES = 384;

/**
 * Payloads longer than this are copied and checksummed together, a step of this many bytes at a
 * time: each step's CRC reads what its copy has just written, from the CPU cache. Copying the whole
 * payload and then checksumming it reads it from memory twice, which made encoding 256 MiB about
 * 1.7x slower (bench/README.md, S1 encodeInto).
 */
const COPY_CRC_STEP = 256 * 1024;

/** Copies `source` into `target` at `at`, in steps of {@link COPY_CRC_STEP}; returns the CRC-32 of the bytes copied. */
function copyWithCrc(source: Uint8Array, target: Uint8Array, at: number): number {
  let crc = 0;
  for (let from = 0; from < source.length; from += COPY_CRC_STEP) {
    const to = Math.min(from + COPY_CRC_STEP, source.length);
    target.set(source.subarray(from, to), at + from);
    crc = crc32(target.subarray(at + from, at + to), crc);
  }
  return crc;
}

/**
 * Writes the planned file into `target[0, plan.totalLength)`: one copy of each payload, padding
 * zeroed unless `zeroed` says `target` is fresh memory; `checksums` holds the records' CRCs that
 * are already known (see {@link sourceChecksums}). Or only records `[from, to)`, with their CRCs,
 * into a `target` whose first byte is the file's byte `base` (and the head when that is 0). Not
 * part of the public API.
 */
export function writePlan(plan: EncodePlan, target: Uint8Array, zeroed = false, checksums?: readonly (number | undefined)[], from = 0, to = plan.records.length, base = 0): void {
  if (base === 0) target.set(plan.head, 0);
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  const words = (target.byteOffset & 3) === 0 ? new Uint32Array(target.buffer, target.byteOffset, target.length >>> 2) : undefined;
  const records = plan.records;
  // A view of the target of the type of the last record's data (a view per payload costs as much as a copy of 256 bytes).
  let viewTag: TypedArrayTag | undefined;
  let typed: TypedArray | undefined;
  // Where the padding before the next record starts: read only to zero it, in a whole file's target (from 0, base 0).
  let end = plan.dataStart;
  for (let i = from; i < to; i++) {
    const record = records[i]!;
    if (record.array.tag !== viewTag) {
      viewTag = record.array.tag;
      typed = viewOfType(target, viewTag);
    }
    const start = record.start - base;
    if (!zeroed) target.fill(0, end, start);
    end = start + record.byteLength;
    if (plan.checksumSize === 0) {
      writePayload(target, start, record, typed);
      continue;
    }
    // Stepwise copying needs source and target apart: TypedArray.set copies overlapping memory correctly only in one go.
    const stored = record.stored;
    let crc = checksums?.[i];
    if (crc !== undefined) writePayload(target, start, record, typed);
    else if (!record.swap && record.byteLength > COPY_CRC_STEP && (stored ?? record.array.data).buffer !== target.buffer) crc = copyWithCrc(stored ?? bytesOf(record.array.data), target, start);
    else {
      writePayload(target, start, record, typed);
      crc = words !== undefined && record.byteLength < SMALL_CRC_BYTES ? crc32Within(target, words, start, end) : crc32(target.subarray(start, end));
    }
    view.setUint32(end, crc, true);
    end += plan.checksumSize;
  }
}

/**
 * 64 KiB (a literal: esbuild keeps an unused `64 * 1024` in bundles). Payloads shorter than this
 * are not handed out on their own by {@link planSegments}: they go out copied, with everything
 * else short (the head, padding, CRCs), in fresh pieces of at most this size (unless one record
 * needs more). Not part of the public API.
 */
export const SMALL_PIECE = 65_536;

/**
 * The planned file as consecutive pieces, for streams and vectored writes: payloads of
 * {@link SMALL_PIECE} bytes or more as views of the caller's arrays when no byte changes (swapped
 * copies of at most `chunkBytes` otherwise), and everything between them (the head, padding, CRCs,
 * shorter payloads) written into fresh pieces: 10,000 arrays of 256 bytes are some 40 pieces, not
 * 30,000. The caller's memory is never gathered; pieces that view it are valid only while it is
 * unchanged.
 */
export function* planSegments(plan: EncodePlan, chunkBytes = 1 << 20): Generator<Uint8Array, void, undefined> {
  const { records, checksumSize, dataStart } = plan;
  // The file's offset of the next byte to hand out.
  let at = 0;
  if (dataStart >= SMALL_PIECE) {
    yield plan.head;
    at = dataStart;
  }
  // The CRC of the large payload handed out last, due at `at`.
  let lastCrc: number | undefined;
  let next = 0;
  for (;;) {
    // A piece of the short bytes from `at`: what is due of the head and the last CRC, then the
    // small records that fit, then the padding before a large one.
    let to = Math.max(at, dataStart) + (lastCrc === undefined ? 0 : checksumSize);
    let end = next;
    for (; end < records.length; end++) {
      const record = records[end]!;
      if (record.byteLength >= SMALL_PIECE) {
        to = record.start;
        break;
      }
      const after = record.start + record.byteLength + checksumSize;
      if (after - at > SMALL_PIECE && to > at) break;
      to = after;
    }
    if (to > at) {
      const piece = new Uint8Array(to - at);
      if (lastCrc !== undefined) new DataView(piece.buffer).setUint32(0, lastCrc, true);
      for (let i = next; i < end; i++) checkUnchanged(records[i]!);
      writePlan(plan, piece, true, undefined, next, end, at);
      yield piece;
      at = to;
      lastCrc = undefined;
    }
    // (Records of no bytes, without a checksum, can make no piece.)
    next = end;
    if (next === records.length) return;
    // The piece was full: the next one starts with this record.
    if (records[next]!.byteLength < SMALL_PIECE) continue;
    const record = records[next++]!;
    checkUnchanged(record);
    const { dtype, data } = record.array;
    let crc = 0;
    // Each piece is handed out before its CRC is computed, so that a consumer that starts writing
    // a piece and then asks for the next one overlaps its I/O with the checksum.
    if (record.stored || !record.swap) {
      // A compressed payload's bytes were taken when planning: the caller's array is not read again
      // (viewing it threw a TypeError when its buffer had been detached since).
      const payload = record.stored ?? bytesOf(data);
      yield payload;
      if (checksumSize > 0) crc = crc32(payload);
    } else {
      // Whole elements a piece: a word cut in two would be swapped as two shorter ones.
      const source = bytesOf(data);
      const step = Math.max(dtype.wordSize, chunkBytes - (chunkBytes % dtype.wordSize));
      for (let from = 0; from < source.length; from += step) {
        const piece = source.subarray(from, Math.min(from + step, source.length));
        const swapped = new Uint8Array(piece.length);
        copySwapped(piece, swapped, 0, dtype.wordSize);
        yield swapped;
        if (checksumSize > 0) crc = crc32(swapped, crc);
      }
    }
    at = record.start + record.byteLength;
    if (checksumSize > 0) lastCrc = crc;
  }
}

/** Read as the stream is: an array whose buffer was detached (transferred to a worker) since the plan is empty now. */
function checkUnchanged(record: PlannedRecord): void {
  const { data } = record.array;
  if (record.stored === undefined && data.byteLength !== record.byteLength) {
    throw new NdpackError("INVALID_ARGUMENT", `array "${record.array.name}" is ${data.byteLength} bytes now, ${record.byteLength} when the stream began: its buffer was detached (transferred?) before the stream reached it`, { array: record.array.name, expected: record.byteLength, actual: data.byteLength });
  }
}

/**
 * Encodes named arrays into one new buffer holding an ndpack file. The output is deterministic:
 * the same arrays and options give the same bytes.
 *
 * @example
 * ```ts
 * const bytes = encode({ weights: { data: new Float32Array(6), shape: [2, 3] }, labels: new Int32Array([1, 2]) });
 * ```
 */
export function encode(arrays: ArraysInput, options: EncodeOptions = {}): Uint8Array {
  checkOptionNames(options, ENCODE_OPTIONS, "encode");
  const plan = planEncoding(arrays, options);
  const touched = plan.checksumSize > 0 && plan.totalLength >= TOUCHED_OUTPUT_BYTES ? requestTouchedMemory(plan.totalLength) : undefined;
  if (touched === undefined) {
    const out = new Uint8Array(plan.totalLength);
    writePlan(plan, out, true);
    return out;
  }
  const checksums = sourceChecksums(plan);
  const buffer = touched();
  const out = new Uint8Array(buffer?.byteLength === plan.totalLength ? buffer : new ArrayBuffer(plan.totalLength));
  writePlan(plan, out, true, checksums);
  return out;
}

/**
 * Outputs of at least this many bytes, with checksums, get their memory from a helper thread that
 * maps its pages (runtime.ts, requestTouchedMemory) while this thread computes the payloads' CRCs
 * from the caller's arrays: fresh memory costs a page fault per 4 KiB, about as much time as the
 * copy, and the CRC then costs this thread nothing extra on two cores (bench/README.md, S1 encode).
 */
const TOUCHED_OUTPUT_BYTES = 8 << 20;

/**
 * Each record's CRC-32 taken from the bytes it will store, where those are memory no other thread
 * can change (not a byte-swapped copy, not a SharedArrayBuffer); undefined where it must be taken
 * from the output as it is written.
 */
function sourceChecksums(plan: EncodePlan): (number | undefined)[] {
  return plan.records.map((record) => {
    const bytes = record.swap ? undefined : (record.stored ?? bytesOf(record.array.data));
    return bytes === undefined || isShared(bytes) ? undefined : crc32(bytes);
  });
}

function isShared(bytes: Uint8Array): boolean {
  return typeof SharedArrayBuffer === "function" && bytes.buffer instanceof SharedArrayBuffer;
}

/** The exact byte length {@link encode} would produce for these arrays and options (compressing them first when a codec is asked for). */
export function encodedSize(arrays: ArraysInput, options: EncodeOptions = {}): number {
  checkOptionNames(options, ENCODE_OPTIONS, "encodedSize");
  return planEncoding(arrays, options).totalLength;
}

/**
 * Encodes into memory the caller owns, with exactly one copy of each payload and no intermediate
 * buffer (numpy's `concatenate(out=...)`). Returns the number of bytes written, which is
 * {@link encodedSize}. Bytes of `target` past that are left untouched.
 *
 * @example
 * ```ts
 * const target = new Uint8Array(encodedSize(arrays));
 * encodeInto(target, arrays);
 * ```
 */
export function encodeInto(target: Uint8Array, arrays: ArraysInput, options: EncodeOptions = {}): number {
  if (!(target instanceof Uint8Array)) throw new NdpackError("INVALID_ARGUMENT", "target must be a Uint8Array", { field: "target" });
  // Its memory as it is, through the built-in getters (one view per call): a length that a
  // subclass or an own property overstates was a RangeError mid-write.
  const buffer = TYPED_ARRAY.buffer.call(target) as ArrayBuffer;
  if (isDetached(buffer)) throw new NdpackError("INVALID_ARGUMENT", "target's buffer was detached (transferred?)", { field: "target" });
  target = new Uint8Array(buffer, TYPED_ARRAY.byteOffset.call(target), TYPED_ARRAY.length.call(target));
  checkOptionNames(options, ENCODE_OPTIONS, "encodeInto");
  const plan = planEncoding(arrays, options);
  if (target.length < plan.totalLength) {
    throw new NdpackError("INVALID_ARGUMENT", `target holds ${target.length} bytes; the file needs ${plan.totalLength}`, { field: "target", expected: plan.totalLength, actual: target.length });
  }
  if (plan.records.some((record) => record.array.data.buffer === target.buffer)) {
    // Arrays viewing `target` (decoded from it, encoded back into it) would be overwritten by the
    // header and earlier payloads before they are read: the file is made apart, then copied in.
    const staged = new Uint8Array(plan.totalLength);
    writePlan(plan, staged, true);
    target.set(staged);
  } else writePlan(plan, target);
  return plan.totalLength;
}

