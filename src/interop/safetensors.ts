/**
 * .safetensors (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON, then the
 * tensors' bytes, little-endian and in C order. The JSON maps each tensor name to
 * `{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}` (offsets relative to the end of
 * the header), plus an optional `"__metadata__"` object of string values.
 *
 * The reader runs the reference loader's checks (safetensors `read_metadata` and `validate`): the
 * header length within {@link SAFETENSORS_MAX_HEADER_BYTES} and within the input, UTF-8, JSON, known
 * dtypes, offsets that, sorted, start at 0 and follow each other with no gap or overlap, each
 * tensor's byte length equal to its shape times its dtype size, and the last offset ending exactly
 * at the end of the input. It adds the ones the reference lacks: the header starts with `{` and
 * only spaces follow the object, a repeated tensor name is DUPLICATE_NAME (a JSON parser would
 * keep one of them silently), a number above 2^53-1 is BAD_NUMBER (JavaScript would round it), a
 * tensor entry has exactly its three keys, and every `__metadata__` value is a string.
 *
 * ndpack metadata is any JSON; `__metadata__` holds only strings. {@link toSafetensors} stores a
 * string value as it is and any other value as its JSON text, listing the keys it encoded in
 * {@link SAFETENSORS_JSON_KEYS} (a JSON array of names); {@link fromSafetensors} decodes exactly
 * those keys, so metadata survives the round trip and files from other writers keep their strings.
 *
 * Writing lays tensors out by decreasing item size, as the reference writer does, so that every
 * tensor's data is aligned for its type; tensors of one item size keep the given order (the
 * reference writer sorts them by name). Tensors are read back in data order. Fortran-order arrays are written in C order (safetensors has no other).
 *
 * @example
 * ```ts
 * const bytes = toSafetensors({ "layer.0.weight": { data: new Float32Array(6), shape: [2, 3] } }, { metadata: { format: "pt" } });
 * const { arrays, metadata } = fromSafetensors(bytes);
 * ```
 *
 * @module
 */
import { lengthSoFar, runOnBytes, type RangeSteps } from "../io/steps.js";
import { checkCopy, inputBytes, type ArrayInfo, type DecodeInput, type NdArray } from "../decode.js";
import { DTYPES, DTYPE_NAMES, type DtypeInfo } from "../dtypes.js";
import { entriesOf, prepareArray, type ArraysInput } from "../encode.js";
import { checkOptionNames, NdpackError, overLimit, shown } from "../errors.js";
import { DEFAULT_LIMITS, type ReadLimits } from "../format.js";
import { checkLimit, resolveLimits } from "../header.js";
import { formatPath, parseHeaderJson, parseHeaderJsonKeys, setOwn, stringifyJson } from "../json.js";
import { decodeUtf8, utf8Encoder } from "../bytes.js";
import { checkMetadata, checkName, readU64, sizeOf, viewOrCopy, type CopyMode } from "./common.js";
import { scanCompactSafetensorsHeader, type ListedTensor } from "./compact-safetensors-header.js";
import { inMemory, writeToBytes, type ArrayPlan, type WriteSteps } from "../formats/write.js";

/** The reference implementation's `MAX_HEADER_SIZE`: the longest header read by default. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/** The `__metadata__` key listing the keys whose values ndpack stored as JSON text. */
export const SAFETENSORS_JSON_KEYS = "__ndpack_json__";

/** The reserved header key of safetensors' string-to-string metadata. */
const METADATA_KEY = "__metadata__";

/** Bytes of the header length field. */
export const SAFETENSORS_LENGTH_SIZE = 8;

/** The reference writer pads the header with spaces to a multiple of this, so that the data section is aligned. */
const HEADER_ALIGNMENT = 8;

/** Options of {@link fromSafetensors}. */
export interface SafetensorsReadOptions {
  /** As for `decode`: views of the input where possible (`"auto"`, the default), never copies (`"never"`), always copies (`"always"`). */
  readonly copy?: CopyMode;
  /** Longest header accepted, in bytes. Default {@link SAFETENSORS_MAX_HEADER_BYTES}. */
  readonly maxHeaderBytes?: number;
  /** Most dimensions of a tensor. Default 64. */
  readonly maxDims?: number;
  /** Deepest JSON nesting of the header, as for `decode` (FORMAT.md §7). Default 64. */
  readonly maxDepth?: number;
  /** Most JSON values in the header, as for `decode` (FORMAT.md §7). Default 1,000,000. */
  readonly maxHeaderNodes?: number;
}

/** The limits a .safetensors header is read under (FORMAT.md §7, and the reference loader's header cap). */
export interface SafetensorsLimits {
  readonly maxHeaderBytes: number;
  readonly maxDims: number;
  readonly maxDepth: number;
  readonly maxHeaderNodes: number;
}

/** What {@link fromSafetensors} found. */
export interface SafetensorsContents {
  /** The tensors, by name, in the order of their data in the file. */
  readonly arrays: ReadonlyMap<string, NdArray>;
  /** `__metadata__`, with the values listed in {@link SAFETENSORS_JSON_KEYS} decoded from JSON (and that key removed); `{}` when absent. */
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** Options of {@link toSafetensors}. */
export interface SafetensorsWriteOptions {
  /** Metadata for `__metadata__`: strings are stored as they are, other JSON values as JSON text (see the module notes). */
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** safetensors dtype name (`"F32"`) to dtype, from the dtype table. */
const DTYPE_OF_SAFETENSORS: ReadonlyMap<string, DtypeInfo> = new Map(
  DTYPE_NAMES.map((name) => DTYPES[name]).flatMap((info) => (info.safetensors === null ? [] : [[info.safetensors, info] as const])),
);

/** One tensor as the header describes it; `begin` and `end` are relative to the data section. */
export interface TensorEntry {
  readonly name: string;
  readonly dtype: DtypeInfo;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** What a .safetensors header says, checked against the input's length. */
export interface SafetensorsLayout {
  /** Offset of the data section: the length field and the header. */
  readonly dataStart: number;
  /** The tensors, in data order. */
  readonly tensors: readonly TensorEntry[];
  /** `__metadata__` as ndpack metadata (see {@link SafetensorsContents.metadata}). */
  readonly metadata: Record<string, unknown>;
  /** The file's length as the header implies it: the data section ends with the last tensor. */
  readonly fileLength: number;
}

/** A field path in the header, for error details. */
function fieldOf(name: string, key?: string): string {
  return `${shown(name)}${key === undefined ? "" : `.${key}`}`;
}

/** Checks the read options shared by the whole-buffer and the header-only readers. */
export function resolveSafetensorsOptions(options: Partial<ReadLimits>): SafetensorsLimits {
  // The core's limits, but the header cap: the reference loader's (100,000,000 bytes).
  const { maxDims, maxDepth, maxHeaderNodes } = resolveLimits(options);
  return { maxHeaderBytes: checkLimit(options.maxHeaderBytes, SAFETENSORS_MAX_HEADER_BYTES, "maxHeaderBytes"), maxDims, maxDepth, maxHeaderNodes };
}

/**
 * Reads the length field (reference `read_metadata` up to the header's bytes): the header's length,
 * within `maxHeaderBytes` and within the input. `prefix` holds the input's first 8 bytes (all of
 * it when shorter); the input is `totalLength` bytes long.
 */
function readSafetensorsHeaderLength(prefix: Uint8Array, totalLength: number, maxHeaderBytes: number): number {
  if (totalLength < SAFETENSORS_LENGTH_SIZE) {
    throw new NdpackError("TRUNCATED", `input is ${totalLength} bytes, shorter than the 8-byte safetensors header length`, { expected: SAFETENSORS_LENGTH_SIZE, actual: totalLength });
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, SAFETENSORS_LENGTH_SIZE);
  const length = readU64(view, 0);
  if (length === undefined || length > maxHeaderBytes) {
    const actual = view.getBigUint64(0, true).toString();
    throw overLimit(`safetensors header is ${actual} bytes`, length ?? actual, maxHeaderBytes, "maxHeaderBytes", { offset: 0 }, "HEADER_TOO_LARGE");
  }
  if (SAFETENSORS_LENGTH_SIZE + length > totalLength) {
    throw new NdpackError("TRUNCATED", `input ends at byte ${totalLength}, inside the safetensors header, which ends at byte ${SAFETENSORS_LENGTH_SIZE + length}`, { expected: SAFETENSORS_LENGTH_SIZE + length, actual: totalLength });
  }
  return length;
}

/** The tensors, in the header's order, and `__metadata__`'s strings. */
export interface HeaderEntries {
  readonly entries: TensorEntry[];
  readonly rawMetadata: Record<string, string>;
}

/**
 * The tensors and the raw `__metadata__` of a header (`headerBytes`: the JSON after the length
 * field): through the one-pass reader of compact headers when the text has their shape, else
 * through {@link readHeaderEntriesStrictly}, which gives the same answers (test/compact-safetensors-header.test.ts).
 */
export function readHeaderEntries(headerBytes: Uint8Array, limits: Omit<SafetensorsLimits, "maxHeaderBytes">): HeaderEntries {
  const text = decodeUtf8(headerBytes);
  if (text === undefined) throw new NdpackError("HEADER_INVALID", "safetensors header is not valid UTF-8", { offset: SAFETENSORS_LENGTH_SIZE });
  // A compact header nests 3 deep (the header, a tensor, its shape): under a lower maxDepth the strict parser says LIMIT_EXCEEDED.
  const compact = limits.maxDepth < 3 ? undefined : scanCompactSafetensorsHeader(text, limits.maxHeaderNodes);
  if (compact === undefined) return readEntries(readHeaderJson(text, limits), limits.maxDims);
  // A loop, not `map` with an arrow made per header (io/steps.ts byOffset says why).
  return { entries: tensorEntries(compact.tensors, limits.maxDims), rawMetadata: compact.metadata };
}

/** {@link readHeaderEntries} of any header text without the one-pass reader: the strict parser and {@link readEntries} (for the tests that compare the two). */
export function readHeaderEntriesStrictly(text: string, limits: Omit<SafetensorsLimits, "maxHeaderBytes">): HeaderEntries {
  return readEntries(readHeaderJson(text, limits), limits.maxDims);
}

/**
 * The header's JSON (reference deserialization, with repeated tensor names refused), and its
 * top-level keys in the order of the text, in which FORMAT.md §12.3 step 4.3 checks them
 * (`Object.keys` would list integer-like tensor names, `"0"`, first).
 */
function readHeaderJson(text: string, limits: Pick<SafetensorsLimits, "maxDepth" | "maxHeaderNodes">): { value: Record<string, unknown>; keys: readonly string[] } {
  try {
    // No key's numbers are free: sizes are integer literals everywhere, as the reference's serde
    // reading of u64/usize requires (`2.0` is refused, even in a tensor named "metadata").
    return parseHeaderJsonKeys(text, { maxDepth: limits.maxDepth, maxNodes: limits.maxHeaderNodes, freeNumbersKey: null }) as { value: Record<string, unknown>; keys: string[] };
  } catch (error) {
    // Tensor names are the header's top-level keys: a repeated one is a repeated tensor name.
    // The parser names the repeated key (`actual`) and where it is (`field`): at the top level, the field is the key's own path.
    if (error instanceof NdpackError && error.code === "DUPLICATE_KEY" && error.field === formatPath("", [error.actual as string])) {
      const name = error.actual as string;
      throw new NdpackError("DUPLICATE_NAME", `safetensors header names tensor ${shown(name)} twice`, { array: name, offset: SAFETENSORS_LENGTH_SIZE + (error.offset ?? 0), cause: error });
    }
    throw error;
  }
}

/** A non-negative integer within 2^53-1 (the parser already refused larger literals outside a key named "metadata"). */
function isSize(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** The header's structure: `__metadata__` and one well-formed entry per tensor (reference deserialization, stricter). */
function readEntries({ value, keys: names }: { value: Record<string, unknown>; keys: readonly string[] }, maxDims: number): HeaderEntries {
  const entries: TensorEntry[] = [];
  const rawMetadata: Record<string, string> = {};
  for (const name of names) {
    const info = value[name];
    if (name === METADATA_KEY) {
      // The reference reads it as an Option: null is no metadata.
      if (info === null) continue;
      if (typeof info !== "object" || Array.isArray(info)) throw new NdpackError("HEADER_INVALID", `safetensors ${METADATA_KEY} must be an object of strings`, { field: METADATA_KEY });
      for (const [key, text] of Object.entries(info)) {
        if (typeof text !== "string") throw new NdpackError("HEADER_INVALID", `safetensors ${METADATA_KEY}.${key} must be a string`, { field: `${METADATA_KEY}.${key}` });
        setOwn(rawMetadata, key, text);
      }
      continue;
    }
    const invalid = (why: string, key?: string) => new NdpackError("HEADER_INVALID", `safetensors tensor ${shown(name)}: ${why}`, { array: name, field: fieldOf(name, key) });
    if (info === null || typeof info !== "object" || Array.isArray(info)) throw invalid("must be an object with dtype, shape and data_offsets");
    const fields = info as Record<string, unknown>;
    const keys = Object.keys(fields);
    const unknown = keys.find((k) => k !== "dtype" && k !== "shape" && k !== "data_offsets");
    if (unknown !== undefined) throw invalid(`unknown key ${shown(unknown)}`, unknown);
    for (const key of ["dtype", "shape", "data_offsets"]) if (!keys.includes(key)) throw invalid(`missing key "${key}"`, key);
    const { dtype: dtypeName, shape, data_offsets: offsets } = fields;
    if (typeof dtypeName !== "string") throw invalid("dtype must be a string", "dtype");
    if (!Array.isArray(shape)) throw invalid("shape must be a list of integers", "shape");
    if (!Array.isArray(offsets) || offsets.length !== 2) throw invalid("data_offsets must be a list of two integers", "data_offsets");
    for (const [key, list] of [["shape", shape], ["data_offsets", offsets]] as const) {
      const bad = list.find((v) => !isSize(v));
      if (typeof bad === "number") throw new NdpackError("BAD_NUMBER", `safetensors tensor ${shown(name)}: ${key} holds ${bad}, not an integer from 0 to 2^53-1`, { array: name, field: fieldOf(name, key), actual: bad });
      if (bad !== undefined) throw invalid(`${key} must be a list of integers`, key);
    }
    entries.push(tensorEntry({ name, dtypeName, shape: shape as number[], begin: offsets[0] as number, end: offsets[1] as number }, maxDims));
  }
  return { entries, rawMetadata };
}

/** {@link tensorEntry} of each listed tensor. */
function tensorEntries(listed: readonly ListedTensor[], maxDims: number): TensorEntry[] {
  const entries: TensorEntry[] = [];
  for (const tensor of listed) entries.push(tensorEntry(tensor, maxDims));
  return entries;
}

/** A listed tensor's dtype (UNKNOWN_DTYPE) and number of dimensions (LIMIT_EXCEEDED) checked. */
function tensorEntry({ name, dtypeName, shape, begin, end }: ListedTensor, maxDims: number): TensorEntry {
  const dtype = DTYPE_OF_SAFETENSORS.get(dtypeName);
  if (dtype === undefined) throw new NdpackError("UNKNOWN_DTYPE", `safetensors tensor ${shown(name)} has dtype ${shown(dtypeName)}, which ndpack does not read`, { array: name, field: fieldOf(name, "dtype"), actual: dtypeName });
  if (shape.length > maxDims) {
    throw overLimit(`safetensors tensor ${shown(name)} has ${shape.length} dimensions`, shape.length, maxDims, "maxDims", { array: name, field: fieldOf(name, "shape") });
  }
  return { name, dtype, shape, begin, end };
}

/** The order of {@link checkOffsets}: by where the data begins, then ends (a function of the module: io/steps.ts byOffset says why). */
function byDataOffsets(a: TensorEntry, b: TensorEntry): number {
  return a.begin - b.begin || a.end - b.end;
}

/** Reference `validate`, on the entries sorted by offsets: contiguous from 0, sizes matching shapes. Returns the data's length. */
function checkOffsets(entries: TensorEntry[], dataStart: number): number {
  entries.sort(byDataOffsets);
  let expected = 0;
  for (const entry of entries) {
    const { name, begin, end } = entry;
    // Made only for an error: a header of many tensors is read without a field path per tensor.
    const details = () => ({ array: name, field: fieldOf(name, "data_offsets"), expected, actual: begin });
    if (begin < expected) throw new NdpackError("OVERLAP", `safetensors tensor ${shown(name)} starts at ${begin}, inside the previous tensor, which ends at ${expected}`, { ...details(), offset: dataStart + begin });
    if (begin > expected) throw new NdpackError("GAP", `safetensors tensor ${shown(name)} starts at ${begin}, leaving bytes after the previous tensor, which ends at ${expected}`, { ...details(), offset: dataStart + begin });
    if (end < begin) throw new NdpackError("HEADER_INVALID", `safetensors tensor ${shown(name)} ends (${end}) before it begins (${begin})`, { ...details(), actual: end });
    const size = sizeOf(entry.shape, entry.dtype);
    if (size === undefined) throw new NdpackError("BAD_SHAPE", `safetensors tensor ${shown(name)}: shape [${entry.shape.join(", ")}] of ${entry.dtype.safetensors} holds more than 2^53-1 bytes`, { array: name, field: fieldOf(name, "shape") });
    if (end - begin !== size.nbytes) {
      throw new NdpackError("SIZE_MISMATCH", `safetensors tensor ${shown(name)}: data_offsets span ${end - begin} bytes, but shape [${entry.shape.join(", ")}] of ${entry.dtype.safetensors} needs ${size.nbytes}`, { array: name, field: fieldOf(name, "data_offsets"), expected: size.nbytes, actual: end - begin });
    }
    expected = end;
  }
  return expected;
}

/** `__metadata__` back to ndpack metadata: the keys listed in {@link SAFETENSORS_JSON_KEYS} are decoded from JSON. */
function decodeMetadata(raw: Record<string, string>, limits: Pick<SafetensorsLimits, "maxDepth" | "maxHeaderNodes">): Record<string, unknown> {
  const metadata: Record<string, unknown> = {};
  const listed = Object.hasOwn(raw, SAFETENSORS_JSON_KEYS) ? parseJsonValue(raw[SAFETENSORS_JSON_KEYS]!, SAFETENSORS_JSON_KEYS, limits) : [];
  if (!Array.isArray(listed) || !listed.every((k) => typeof k === "string" && k !== SAFETENSORS_JSON_KEYS && Object.hasOwn(raw, k))) {
    throw new NdpackError("HEADER_INVALID", `safetensors ${METADATA_KEY}.${SAFETENSORS_JSON_KEYS} must be a JSON list of other ${METADATA_KEY} keys`, { field: `${METADATA_KEY}.${SAFETENSORS_JSON_KEYS}` });
  }
  for (const [key, text] of Object.entries(raw)) if (key !== SAFETENSORS_JSON_KEYS) setOwn(metadata, key, text);
  // Decoded in the list's order (FORMAT.md §12.3 step 4.6), each key once however often it is
  // listed: a decoded value is never its own text (a JSON string's value is shorter than its text).
  for (const key of listed as string[]) if (metadata[key] === raw[key]) setOwn(metadata, key, parseJsonValue(raw[key]!, key, limits));
  return metadata;
}

/** One JSON value, read with the core's strict parser (as a metadata value, so any JSON number is allowed). */
function parseJsonValue(text: string, key: string, limits: Pick<SafetensorsLimits, "maxDepth" | "maxHeaderNodes">): unknown {
  try {
    const wrapped = parseHeaderJson(`{"metadata":${text}}`, { maxDepth: limits.maxDepth, maxNodes: limits.maxHeaderNodes }) as Record<string, unknown>;
    if (Object.keys(wrapped).length === 1) return wrapped.metadata;
  } catch (cause) {
    if (cause instanceof NdpackError && cause.code === "LIMIT_EXCEEDED") throw cause;
  }
  throw new NdpackError("HEADER_INVALID", `safetensors ${METADATA_KEY}.${key} is listed as JSON but is not one JSON value`, { field: `${METADATA_KEY}.${key}` });
}

/**
 * Reads and checks a .safetensors header (`headerBytes`: the JSON after the length field, as long as
 * {@link readSafetensorsHeaderLength} said) against the input's length (`undefined` for a stream,
 * whose driver checks it against the layout's `fileLength`): the tensors in data order, where the
 * data section starts, and the metadata decoded. The first failure in wire order.
 */
function parseSafetensorsHeader(headerBytes: Uint8Array, totalLength: number | undefined, limits: SafetensorsLimits): SafetensorsLayout {
  const { entries, rawMetadata } = readHeaderEntries(headerBytes, limits);
  const dataStart = SAFETENSORS_LENGTH_SIZE + headerBytes.length;
  const dataLength = checkOffsets(entries, dataStart);
  const fileLength = dataStart + dataLength;
  if (totalLength !== undefined) {
    if (totalLength < fileLength) throw new NdpackError("TRUNCATED", `input is ${totalLength} bytes, but the safetensors header describes ${fileLength}`, { expected: fileLength, actual: totalLength });
    if (totalLength > fileLength) throw new NdpackError("TRAILING_BYTES", `input is ${totalLength} bytes, ${totalLength - fileLength} more than the safetensors header describes`, { offset: fileLength, expected: fileLength, actual: totalLength });
  }
  return { dataStart, tensors: entries, metadata: decodeMetadata(rawMetadata, limits), fileLength };
}

/**
 * The tensors as readers report them, their data section starting at `dataStart`: a loop, not
 * `map` with an arrow made per header (io/steps.ts `byOffset` says why).
 */
export function tensorInfos(entries: readonly TensorEntry[], dataStart: number): ArrayInfo[] {
  const infos: ArrayInfo[] = [];
  for (const entry of entries) infos.push(tensorInfo(entry, dataStart));
  return infos;
}

/** A tensor as readers report it; its data section starts at `dataStart`. */
export function tensorInfo(entry: TensorEntry, dataStart: number): ArrayInfo {
  return {
    name: entry.name,
    dtype: entry.dtype.name,
    shape: Object.freeze([...entry.shape]),
    order: "C",
    byteOrder: "little",
    codec: "none",
    offset: dataStart + entry.begin,
    byteLength: entry.end - entry.begin,
    nbytes: entry.end - entry.begin,
  };
}

/** Bytes the header steps ask for first: the length field and, for nearly every file, the whole header. */
const SAFETENSORS_FIRST_READ = 64 * 1024;

/**
 * The length field and the header of a .safetensors file `totalLength` bytes long, as range steps
 * (see `io/steps.ts`): one read of the first 64 KiB and, for a longer header, one more. Run over
 * memory by {@link fromSafetensors}, over any source by the lazy reader, and over a stream by
 * `decodeStream`: a stream's length is `undefined`, and the first read is then the length field
 * alone, so that no tensor byte is taken.
 */
export function* safetensorsLayoutSteps(totalLength: number | undefined, options: SafetensorsLimits & { firstReadBytes?: number | undefined }): RangeSteps<SafetensorsLayout> {
  const asked = totalLength === undefined ? SAFETENSORS_LENGTH_SIZE : Math.min(totalLength, options.firstReadBytes ?? SAFETENSORS_FIRST_READ);
  const head = yield { offset: 0, length: asked };
  const length = readSafetensorsHeaderLength(head, lengthSoFar(totalLength, head, asked), options.maxHeaderBytes);
  const headerEnd = SAFETENSORS_LENGTH_SIZE + length;
  const headerBytes = head.length >= headerEnd ? head.subarray(SAFETENSORS_LENGTH_SIZE, headerEnd) : yield { offset: SAFETENSORS_LENGTH_SIZE, length };
  // Only a stream gives fewer: it ended inside the header.
  if (headerBytes.length < length) readSafetensorsHeaderLength(head, SAFETENSORS_LENGTH_SIZE + headerBytes.length, options.maxHeaderBytes);
  return parseSafetensorsHeader(headerBytes, totalLength, options);
}

/**
 * Reads a .safetensors file. Tensors are views of `input` where their data is aligned for their
 * type (the reference writer and {@link toSafetensors} align it), copies otherwise (and on
 * big-endian machines); `offset` in each result is the data's offset in `input`. A .safetensors
 * file has no checksums: its header and layout are checked, its values cannot be (a damaged byte
 * of data reads as another value).
 *
 * @throws NdpackError TRUNCATED, HEADER_TOO_LARGE, HEADER_INVALID, DUPLICATE_NAME, DUPLICATE_KEY,
 *   BAD_NUMBER, UNKNOWN_DTYPE, LIMIT_EXCEEDED, OVERLAP, GAP, BAD_SHAPE, SIZE_MISMATCH,
 *   TRAILING_BYTES, COPY_REQUIRED (with `copy: "never"`), INVALID_ARGUMENT.
 *
 * @example
 * ```ts
 * const { arrays } = fromSafetensors(bytes);
 * const weight = arrays.get("layer.0.weight"); // weight.dtype "bfloat16": raw bits, see bfloat16ToFloat32
 * ```
 */
export function fromSafetensors(input: DecodeInput, options: SafetensorsReadOptions = {}): SafetensorsContents {
  checkOptionNames(options, { copy: true, maxHeaderBytes: true, maxDims: true, maxDepth: true, maxHeaderNodes: true } satisfies Record<keyof SafetensorsReadOptions, true>, "fromSafetensors");
  const copy = checkCopy(options.copy);
  const limits = resolveSafetensorsOptions(options);
  const bytes = inputBytes(input);
  const { dataStart, tensors, metadata } = runOnBytes(safetensorsLayoutSteps(bytes.length, limits), bytes);
  const arrays = new Map<string, NdArray>();
  for (const entry of tensors) arrays.set(entry.name, viewOrCopy(tensorInfo(entry, dataStart), bytes.subarray(dataStart + entry.begin, dataStart + entry.end), false, copy));
  return { arrays, metadata };
}

/** ndpack metadata to `__metadata__`: strings as they are, other values as JSON text listed under {@link SAFETENSORS_JSON_KEYS}. */
function encodeMetadata(metadata: Readonly<Record<string, unknown>>): Record<string, string> | undefined {
  const keys = Object.keys(metadata);
  if (keys.length === 0) return undefined;
  const raw: Record<string, string> = {};
  const json: string[] = [];
  for (const key of keys) {
    if (key === SAFETENSORS_JSON_KEYS) throw new NdpackError("INVALID_ARGUMENT", `metadata key "${SAFETENSORS_JSON_KEYS}" is reserved`, { field: `metadata.${key}` });
    const value = metadata[key];
    if (typeof value === "string") setOwn(raw, key, value);
    else {
      setOwn(raw, key, stringifyJson(value, { maxDepth: DEFAULT_LIMITS.maxDepth - 1, path: `metadata.${key}` }));
      json.push(key);
    }
  }
  if (json.length > 0) setOwn(raw, SAFETENSORS_JSON_KEYS, stringifyJson(json, { maxDepth: 2 }));
  return raw;
}

/**
 * Writes tensors as a .safetensors file that the reference loader (`safetensors.safe_open`) reads.
 * `arrays` takes what the core's `encode` takes, including `NdArray`s from any reader. Every dtype
 * with a safetensors name can be written (see the dtype table); others are UNKNOWN_DTYPE.
 *
 * @throws NdpackError INVALID_ARGUMENT (a name `__metadata__`, a reserved metadata key, metadata
 *   JSON cannot hold), DUPLICATE_NAME, UNKNOWN_DTYPE, SIZE_MISMATCH, BAD_SHAPE, LIMIT_EXCEEDED,
 *   HEADER_TOO_LARGE.
 *
 * @example
 * ```ts
 * toSafetensors({ w: { data: float32ToBfloat16([1, 2, 3, 4]), dtype: "bfloat16", shape: [2, 2] } }, { metadata: { format: "pt", step: 1200 } });
 * ```
 */
export function toSafetensors(arrays: ArraysInput, options: SafetensorsWriteOptions = {}): Uint8Array {
  checkOptionNames(options, { metadata: true } satisfies Record<keyof SafetensorsWriteOptions, true>, "toSafetensors");
  const prepared = [...entriesOf(arrays)].map(([name, input]) => inMemory(prepareArray(name, input)));
  return writeToBytes(planSafetensorsWrite(prepared, options), prepared);
}

/**
 * The .safetensors writer: the length field and the JSON header (the tensors largest items first,
 * a stable sort keeping the given order otherwise, so that every tensor starts at a multiple of its
 * item size and readers can view it in place), then each tensor's bytes, little-endian, in C order
 * (safetensors has no other). Checks names, dtypes, metadata and the header's size before the
 * first step.
 */
export function planSafetensorsWrite(arrays: readonly ArrayPlan[], options: SafetensorsWriteOptions = {}): WriteSteps {
  const metadata = encodeMetadata(checkMetadata(options.metadata));
  const seen = new Set<string>();
  for (const array of arrays) {
    const name = checkName(array.name, seen);
    if (name === METADATA_KEY) throw new NdpackError("INVALID_ARGUMENT", `"${METADATA_KEY}" cannot name a tensor: safetensors reserves it`, { array: name });
    if (array.dtype.safetensors === null) throw new NdpackError("UNKNOWN_DTYPE", `array "${name}": dtype ${array.dtype.name} has no safetensors equivalent`, { array: name, field: "dtype", actual: array.dtype.name });
  }
  const order = arrays.map((_, index) => index).sort((a, b) => arrays[b]!.dtype.itemSize - arrays[a]!.dtype.itemSize);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) setOwn(header, METADATA_KEY, metadata);
  let offset = 0;
  for (const index of order) {
    const { name, dtype, shape, nbytes } = arrays[index]!;
    setOwn(header, name, { dtype: dtype.safetensors, shape: [...shape], data_offsets: [offset, offset + nbytes] });
    offset += nbytes;
  }
  const text = utf8Encoder.encode(stringifyJson(header, { maxDepth: 4, path: "" }));
  const headerLength = text.length + ((HEADER_ALIGNMENT - (text.length % HEADER_ALIGNMENT)) % HEADER_ALIGNMENT);
  if (headerLength > SAFETENSORS_MAX_HEADER_BYTES) {
    throw new NdpackError("HEADER_TOO_LARGE", `the safetensors header would be ${headerLength} bytes, more than readers accept (${SAFETENSORS_MAX_HEADER_BYTES})`, { expected: SAFETENSORS_MAX_HEADER_BYTES, actual: headerLength, limit: "maxHeaderBytes" });
  }
  const head = new Uint8Array(SAFETENSORS_LENGTH_SIZE + headerLength).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLength), true);
  head.set(text, SAFETENSORS_LENGTH_SIZE);
  return (function* (): WriteSteps {
    yield head;
    for (const index of order) yield { payload: index, byteOrder: "little", cOrder: true, crc: false };
  })();
}
