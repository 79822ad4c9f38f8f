/**
 * .npy, numpy's one-array format (numpy/lib/_format_impl.py), versions 1.0, 2.0 and 3.0.
 *
 * A .npy file is a 6-byte magic `\x93NUMPY`, a major and a minor version byte, the header length
 * (u16 little-endian in version 1.0, u32 in 2.0 and 3.0), the header, then the array's bytes.
 * The header is a Python dict literal, `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`,
 * padded with spaces and ended by `\n` so that the data starts at a multiple of 64; it is latin-1
 * text in versions 1.0 and 2.0 and UTF-8 in 3.0.
 *
 * The reader never evaluates Python: {@link parseNpyDict} accepts exactly the literals numpy
 * writes (a dict of quoted keys, string, `True`/`False` and tuple-of-int values, and the `2L` ints of
 * Python 2 era files) and refuses anything else. Object arrays (`'O'` descrs, which hold pickles)
 * and structured dtypes are refused with UNKNOWN_DTYPE: nothing is ever unpickled.
 *
 * ml_dtypes types (bfloat16, float8_e4m3fn, float8_e5m2) have no numpy type code: `np.save`
 * writes them as raw bytes, with a void descr such as `'<V2'` (and `'<f1'` for float8_e5m2, a descr
 * `numpy.load` itself cannot read). Such a file cannot say which type it holds, so reading one
 * needs the `voidDtype` option; without it, UNKNOWN_DTYPE. Writing those dtypes produces void
 * descrs (`'<V2'`, `'<V1'`), which `numpy.load(...).view(ml_dtypes.bfloat16)` reads back.
 *
 * @example
 * ```ts
 * const bytes = toNpy({ data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] });
 * const array = fromNpy(bytes); // array.data is a Float32Array viewing `bytes`
 * ```
 *
 * @module
 */
import { concatBytes, decodeUtf8, hexByte } from "../bytes.js";
import { lengthSoFar, runOnBytes, type RangeSteps } from "../io/steps.js";
import { checkCopy, inputBytes, type ArrayInfo, type DecodeInput, type NdArray, type DecodedArray } from "../decode.js";
import { DTYPES, DTYPE_NAMES, type Dtype, type DtypeInfo } from "../dtypes.js";
import { prepareArray, type ArrayInput, type PreparedArray } from "../encode.js";
import { checkOptionNames, NdpackError, oneOf, overLimit, shown } from "../errors.js";
import { BYTE_ORDERS, DEFAULT_LIMITS, type ByteOrder, type Order } from "../format.js";
import { HOST_BYTE_ORDER } from "../runtime.js";
import { checkDtype, sizeOf, viewOrCopy, type CopyMode } from "./common.js";
import { checkLimit } from "../header.js";
import { inMemory, writeToBytes, type ArrayPlan, type WriteSteps } from "../formats/write.js";

/** The magic string every .npy file starts with: `\x93NUMPY`. */
export const NPY_MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59);

/**
 * numpy's `_MAX_HEADER_SIZE`: the longest header `numpy.load` reads by default. A header is a
 * few dozen bytes plus the shape; the cap stops a hostile length field from making the reader
 * decode megabytes of text.
 */
export const NPY_MAX_HEADER_BYTES = 10000;

/** numpy's `ARRAY_ALIGN`: writers pad the header so that the data starts at a multiple of it. */
const NPY_ALIGNMENT = 64;

/** numpy's `GROWTH_AXIS_MAX_DIGITS`: spare spaces numpy leaves after the dict so the shape can grow in place. */
const GROWTH_AXIS_MAX_DIGITS = 21;

/** Magic (6) + version (2) + header length (2 in version 1.0, 4 in 2.0 and 3.0). */
const PREFIX_SIZE = { 1: 10, 2: 12, 3: 12 } as const;

/** The longest prefix: the bytes {@link readNpyPrefix} needs to learn how long the header is. */
const NPY_MAX_PREFIX_SIZE = 12;

/** The .npy format versions. */
export type NpyVersion = 1 | 2 | 3;
const NPY_VERSIONS: readonly NpyVersion[] = [1, 2, 3];

/** An array read from a .npy file: the core's {@link NdArray} without a name (a .npy file has none), still discriminated by `dtype`. */
export type NpyArray = { [D in Dtype]: Omit<DecodedArray<D>, "name"> }[Dtype];

/** Options of {@link fromNpy}. */
export interface NpyReadOptions {
  /**
   * `"auto"` (default): a view of the input where possible (this machine's byte order, an address
   * aligned for the dtype), a copy otherwise. `"never"`: COPY_REQUIRED instead of copying.
   * `"always"`: always a copy.
   */
  readonly copy?: CopyMode;
  /**
   * The dtype of a void descr (`'<V2'`, `'|V1'`...), which is how numpy stores ml_dtypes arrays:
   * `"bfloat16"`, `"float8_e4m3fn"` or `"float8_e5m2"` (any dtype of the same item size is
   * accepted). Ignored for other descrs. Without it a void descr is UNKNOWN_DTYPE.
   */
  readonly voidDtype?: Dtype;
  /** Longest header accepted, in bytes. Default {@link NPY_MAX_HEADER_BYTES} (numpy's own default). */
  readonly maxHeaderBytes?: number;
  /** Most dimensions accepted. Default 64 (numpy's own limit). */
  readonly maxDims?: number;
}

/** Options of {@link toNpy}. */
export interface NpyWriteOptions {
  /**
   * Format version. Default: 1.0, or 2.0 when the header does not fit version 1.0's u16 length,
   * as `np.save` chooses. (3.0 differs from 2.0 only in allowing UTF-8 headers, which ndpack's
   * headers never need.)
   */
  readonly version?: NpyVersion;
  /** Byte order of the stored numbers. Default `"little"`. */
  readonly byteOrder?: ByteOrder;
}

/** What a .npy header says, with the sizes derived from it. */
export interface NpyLayout {
  readonly version: NpyVersion;
  readonly dtype: DtypeInfo;
  readonly byteOrder: ByteOrder;
  readonly shape: readonly number[];
  readonly order: Order;
  /** Offset of the array's bytes (the length of magic, version, length field and header). */
  readonly dataStart: number;
  readonly nbytes: number;
}

interface ResolvedNpyOptions {
  readonly voidDtype: Dtype | undefined;
  readonly maxHeaderBytes: number;
  readonly maxDims: number;
}

/** Checks the read options shared by .npy and .npz readers. */
export function resolveNpyOptions(options: { voidDtype?: unknown; maxHeaderBytes?: unknown; maxDims?: unknown }, voidDtype?: Dtype): ResolvedNpyOptions {
  return {
    voidDtype: voidDtype ?? (options.voidDtype === undefined ? undefined : checkDtype(options.voidDtype, "voidDtype")),
    maxHeaderBytes: checkLimit(options.maxHeaderBytes, NPY_MAX_HEADER_BYTES, "maxHeaderBytes"),
    maxDims: checkLimit(options.maxDims, DEFAULT_LIMITS.maxDims, "maxDims"),
  };
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Where an error happened, for messages: the whole input, or one member of an .npz file. */
function where(member: string | undefined): { prefix: string; details: { array?: string } } {
  return member === undefined ? { prefix: "", details: {} } : { prefix: `member "${member}.npy": `, details: { array: member } };
}

/**
 * Magic, version and header length; the first checks of {@link readNpyLayout}. `head` holds the
 * first bytes of content `totalLength` bytes long: at least its first 12 bytes (all of it when shorter).
 */
function readNpyPrefix(head: Uint8Array, totalLength: number, options: ResolvedNpyOptions, member: string | undefined): { version: NpyVersion; headerLength: number; prefixSize: number } {
  const { prefix, details } = where(member);
  const available = Math.min(totalLength, NPY_MAGIC.length);
  for (let i = 0; i < available; i++) {
    if (head[i] !== NPY_MAGIC[i]) {
      throw new NdpackError("BAD_MAGIC", `${prefix}not a .npy file: byte ${i} is 0x${hexByte(head[i]!)}, expected 0x${hexByte(NPY_MAGIC[i]!)} (the magic is \\x93NUMPY)`, { ...details, offset: i });
    }
  }
  if (totalLength < 8) throw new NdpackError("TRUNCATED", `${prefix}input is ${totalLength} bytes, shorter than the .npy magic and version`, { ...details, expected: 8, actual: totalLength });
  const major = head[6]!;
  const minor = head[7]!;
  if ((major !== 1 && major !== 2 && major !== 3) || minor !== 0) {
    throw new NdpackError("UNSUPPORTED_VERSION", `${prefix}.npy format version ${major}.${minor} is not supported; this reader reads 1.0, 2.0 and 3.0`, { ...details, offset: 6, actual: `${major}.${minor}` });
  }
  const version = major as NpyVersion;
  const prefixSize = PREFIX_SIZE[version];
  if (totalLength < prefixSize) {
    throw new NdpackError("TRUNCATED", `${prefix}input is ${totalLength} bytes, shorter than the ${prefixSize}-byte .npy ${version}.0 prefix`, { ...details, expected: prefixSize, actual: totalLength });
  }
  const view = new DataView(head.buffer, head.byteOffset, prefixSize);
  const headerLength = version === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (headerLength > options.maxHeaderBytes) {
    throw overLimit(`${prefix}.npy header is ${headerLength} bytes`, headerLength, options.maxHeaderBytes, "maxHeaderBytes", { ...details, offset: 8 }, "HEADER_TOO_LARGE");
  }
  if (prefixSize + headerLength > totalLength) {
    throw new NdpackError("TRUNCATED", `${prefix}input ends at byte ${totalLength}, inside the .npy header, which ends at byte ${prefixSize + headerLength}`, { ...details, expected: prefixSize + headerLength, actual: totalLength });
  }
  return { version, headerLength, prefixSize };
}

/** A value of the header dict, as far as the parser tells them apart. */
export type NpyDictValue =
  | { readonly kind: "str"; readonly value: string }
  | { readonly kind: "bool"; readonly value: boolean }
  | { readonly kind: "tuple"; readonly value: readonly number[]; readonly negative: boolean }
  | { readonly kind: "list" };

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d, 0x0c]);

// The dict being parsed, in the module rather than in an object made per call, as src/json.ts
// keeps its parser's (it says why): parsing is synchronous, one dict at a time.
/** The header's text. */
let dictText = "";
/** Index in {@link dictText} of the next character. */
let dictPos = 0;
/** Whether integers may end in `L` (Python 2's long suffix, in .npy 1.0 and 2.0 headers). */
let dictLongSuffix = false;

/**
 * Parses the Python dict literal of a .npy header, accepting only what numpy writes: keys and
 * string values in single or double quotes without escapes or prefixes, `True` and `False`,
 * tuples of decimal integers (`()`, `(3,)`, `(2, 3)`; `2L` when `allowLongSuffix`), white space
 * between tokens, an optional trailing comma, and white space after the closing brace. A list
 * value (a structured descr) is skipped over and reported as `{ kind: "list" }`.
 *
 * @throws NdpackError HEADER_INVALID for anything else, DUPLICATE_KEY for a repeated key, BAD_NUMBER
 *   for an integer above 2^53-1.
 */
function parseNpyDict(text: string, allowLongSuffix: boolean): Map<string, NpyDictValue> {
  dictText = text;
  dictPos = 0;
  dictLongSuffix = allowLongSuffix;
  try {
    return parseDict();
  } finally {
    dictText = "";
  }
}

/** The dict of {@link dictText}, which must be all of it but white space. */
function parseDict(): Map<string, NpyDictValue> {
  const entries = new Map<string, NpyDictValue>();
  skipDictSpace();
  expectDictChar(0x7b, "'{'");
  skipDictSpace();
  while (nextDictChar() !== 0x7d) {
    const keyAt = dictPos;
    const key = parseDictString();
    if (entries.has(key)) throw new NdpackError("DUPLICATE_KEY", `.npy header: key '${key}' appears twice`, { field: key, offset: keyAt });
    skipDictSpace();
    expectDictChar(0x3a, "':'");
    skipDictSpace();
    entries.set(key, parseDictValue(key));
    skipDictSpace();
    if (nextDictChar() === 0x2c) {
      dictPos++;
      skipDictSpace();
    } else if (nextDictChar() !== 0x7d) {
      throw notNumpyDict("',' or '}'");
    }
  }
  dictPos++;
  skipDictSpace();
  if (dictPos !== dictText.length) throw notNumpyDict("only white space after the dict");
  return entries;
}

/** The code of the next character; -1 at the end. */
function nextDictChar(): number {
  return dictPos < dictText.length ? dictText.charCodeAt(dictPos) : -1;
}

function skipDictSpace(): void {
  while (WHITESPACE.has(nextDictChar())) dictPos++;
}

function expectDictChar(code: number, what: string): void {
  if (nextDictChar() !== code) throw notNumpyDict(what);
  dictPos++;
}

/** HEADER_INVALID: the `expected` is not at the next character. */
function notNumpyDict(expected: string): NdpackError {
  const found = dictPos < dictText.length ? shown(dictText.slice(dictPos, dictPos + 12)) : "the end of the header";
  return new NdpackError("HEADER_INVALID", `.npy header is not a dict literal numpy writes: expected ${expected} at character ${dictPos}, found ${found}`, { offset: dictPos });
}

/**
 * A quoted string: printable ASCII without escapes, or, `inDescr` (the field names of a
 * structured descr, skipped), any character and escapes (`'é'`, `'a\\b'`), which numpy writes.
 */
function parseDictString(inDescr = false): string {
  const quote = nextDictChar();
  if (quote !== 0x27 && quote !== 0x22) throw notNumpyDict("a quoted string");
  const start = ++dictPos;
  for (;;) {
    const c = nextDictChar();
    if (c === quote) break;
    if (c === -1 || (!inDescr && (c === 0x5c || c < 0x20 || c > 0x7e))) throw notNumpyDict(c === 0x5c ? "a string without escapes" : "a closing quote");
    dictPos += c === 0x5c ? 2 : 1;
  }
  const value = dictText.slice(start, dictPos);
  dictPos++;
  return value;
}

function parseDictValue(key: string): NpyDictValue {
  const c = nextDictChar();
  if (c === 0x27 || c === 0x22) return { kind: "str", value: parseDictString() };
  if (c === 0x28) return parseDictTuple(key);
  if (c === 0x5b) {
    skipDictList();
    return { kind: "list" };
  }
  for (const [word, value] of [["True", true], ["False", false]] as const) {
    if (dictText.startsWith(word, dictPos) && !isIdentifierChar(dictText.charCodeAt(dictPos + word.length))) {
      dictPos += word.length;
      return { kind: "bool", value };
    }
  }
  throw notNumpyDict("a string, True, False or a tuple");
}

function parseDictTuple(key: string): NpyDictValue {
  dictPos++; // (
  const value: number[] = [];
  let negative = false;
  let trailingComma = false;
  skipDictSpace();
  while (nextDictChar() !== 0x29) {
    const item = parseDictInt(key);
    value.push(item.value);
    negative ||= item.negative;
    skipDictSpace();
    trailingComma = false;
    if (nextDictChar() === 0x2c) {
      dictPos++;
      trailingComma = true;
      skipDictSpace();
    } else if (nextDictChar() !== 0x29) {
      throw notNumpyDict("',' or ')'");
    }
  }
  // `(3)` is the integer 3 in Python, not a tuple.
  if (value.length === 1 && !trailingComma) throw notNumpyDict("a tuple: one element needs a trailing comma");
  dictPos++;
  return { kind: "tuple", value, negative };
}

function parseDictInt(key: string): { value: number; negative: boolean } {
  const start = dictPos;
  const negative = nextDictChar() === 0x2d;
  if (negative) dictPos++;
  const digitsAt = dictPos;
  while (nextDictChar() >= 0x30 && nextDictChar() <= 0x39) dictPos++;
  const digits = dictText.slice(digitsAt, dictPos);
  if (digits.length === 0) throw notNumpyDict("an integer");
  // Python 3 has no leading zeros in decimal literals; Python 2 era files may end ints with L.
  if (digits.length > 1 && digits.charCodeAt(0) === 0x30) throw notNumpyDict("an integer without leading zeros");
  if (dictLongSuffix && nextDictChar() === 0x4c) dictPos++;
  if (isIdentifierChar(nextDictChar())) throw notNumpyDict("a decimal integer");
  const value = Number(digits);
  if (!Number.isSafeInteger(value)) {
    throw new NdpackError("BAD_NUMBER", `.npy header: ${key} holds ${dictText.slice(start, dictPos)}, above 2^53-1`, { field: key, offset: start, actual: dictText.slice(start, dictPos) });
  }
  return { value: negative ? -value : value, negative };
}

/** Skips a balanced `[...]` (a structured descr), honouring quotes, so that the dict can be checked as a whole first. */
function skipDictList(): void {
  let depth = 0;
  while (dictPos < dictText.length) {
    const c = nextDictChar();
    if (c === 0x27 || c === 0x22) {
      parseDictString(true);
      continue;
    }
    dictPos++;
    if (c === 0x5b || c === 0x28) depth++;
    else if (c === 0x5d || c === 0x29) {
      depth--;
      if (depth === 0) return;
    }
  }
  throw notNumpyDict("the end of the list");
}

function isIdentifierChar(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || code === 0x5f;
}

/** numpy type code (`"f4"`) to dtype, from the dtype table. */
const DTYPE_OF_NUMPY_CODE: ReadonlyMap<string, DtypeInfo> = new Map(
  DTYPE_NAMES.map((name) => DTYPES[name]).flatMap((info) => (info.numpy === null ? [] : [[info.numpy, info] as const])),
);

/**
 * A descr string to a dtype and byte order. `<` is little-endian, `>` big-endian; `|`, `=` and no
 * character mean this machine's order, as they do in numpy (numpy writes `|` only for 1-byte
 * types, and for the void types of ml_dtypes on little-endian machines).
 */
function dtypeOfDescr(descr: string, voidDtype: Dtype | undefined, member?: string): { dtype: DtypeInfo; byteOrder: ByteOrder } {
  const { prefix, details } = where(member);
  const orderChar = descr.charAt(0);
  const hasOrder = orderChar === "<" || orderChar === ">" || orderChar === "|" || orderChar === "=";
  const code = hasOrder ? descr.slice(1) : descr;
  const byteOrder: ByteOrder = orderChar === "<" ? "little" : orderChar === ">" ? "big" : HOST_BYTE_ORDER;
  const fail = (why: string) => new NdpackError("UNKNOWN_DTYPE", `${prefix}.npy descr '${descr}' ${why}`, { ...details, field: "descr", actual: descr });
  const known = DTYPE_OF_NUMPY_CODE.get(code);
  if (known !== undefined) return { dtype: known, byteOrder };
  if (/^O\d*$/.test(code)) throw fail("is an object array: its elements are pickled Python objects, which ndpack never unpickles");
  // Void descrs are raw bytes; `f1` is no numpy type, but np.save writes it for ml_dtypes' float8_e5m2
  // (whose dtype claims kind "f"), and numpy.load cannot read it back.
  const voidMatch = /^V(\d+)$/.exec(code);
  if (voidMatch || code === "f1") {
    const itemSize = voidMatch ? Number(voidMatch[1]) : 1;
    if (voidDtype === undefined) {
      throw fail(`is raw ${itemSize}-byte items (numpy stores ml_dtypes types such as bfloat16 and float8 this way); pass the voidDtype option to say which dtype they hold`);
    }
    const dtype = DTYPES[voidDtype];
    if (dtype.itemSize !== itemSize) throw fail(`holds ${itemSize}-byte items, but voidDtype ${voidDtype} has ${dtype.itemSize}-byte items`);
    return { dtype, byteOrder };
  }
  throw fail("has no ndpack dtype (ndpack reads bool, integers, floats and complex numbers)");
}

/**
 * Reads and checks a .npy file's magic, version and header, and the length of what follows
 * (numpy/lib/_format_impl.py `_read_array_header`, stricter): the first failure in wire order.
 * `head` holds the first bytes of content `totalLength` bytes long, at least the prefix and the
 * header (the whole file, or only its first bytes for a reader that reads headers alone); a
 * stream's length is `undefined`, and its driver checks it against the layout's end.
 * `member` names the .npz member being read, for error messages.
 */
function readNpyLayout(head: Uint8Array, totalLength: number | undefined, options: ResolvedNpyOptions, member?: string, known?: Map<string, NpyLayout>): NpyLayout {
  const { prefix, details } = where(member);
  const { version, headerLength, prefixSize } = readNpyPrefix(head, totalLength ?? head.length, options, member);
  const headerBytes = head.subarray(prefixSize, prefixSize + headerLength);
  // Versions 1.0 and 2.0 are latin-1, 3.0 is UTF-8; the grammar is ASCII either way.
  const text = version === 3 ? decodeUtf8(headerBytes) : latin1(headerBytes);
  if (text === undefined) throw new NdpackError("HEADER_INVALID", `${prefix}.npy 3.0 header is not valid UTF-8`, { ...details, offset: prefixSize });
  // The layout is a function of these alone (the member's name only names it in errors).
  const key = `${version} ${totalLength} ${options.voidDtype} ${text}`;
  const seen = known?.get(key);
  if (seen !== undefined) return seen;
  let dict: Map<string, NpyDictValue>;
  try {
    dict = parseNpyDict(text, version !== 3);
  } catch (error) {
    if (error instanceof NdpackError && member !== undefined) throw new NdpackError(error.code, `${prefix}${error.message}`, { ...details, ...(error.field === undefined ? {} : { field: error.field }), cause: error });
    throw error;
  }
  const keys = [...dict.keys()];
  const expectedKeys = ["descr", "fortran_order", "shape"];
  if (keys.length !== 3 || !expectedKeys.every((k) => dict.has(k))) {
    throw new NdpackError("HEADER_INVALID", `${prefix}.npy header must have exactly the keys 'descr', 'fortran_order' and 'shape', has ${keys.map((k) => `'${k}'`).join(", ") || "none"}`, details);
  }
  const descr = dict.get("descr")!;
  if (descr.kind === "list") throw new NdpackError("UNKNOWN_DTYPE", `${prefix}.npy descr is a structured (record) dtype, which ndpack does not read`, { ...details, field: "descr" });
  if (descr.kind !== "str") throw new NdpackError("HEADER_INVALID", `${prefix}.npy header: 'descr' must be a string`, { ...details, field: "descr" });
  const fortran = dict.get("fortran_order")!;
  if (fortran.kind !== "bool") throw new NdpackError("HEADER_INVALID", `${prefix}.npy header: 'fortran_order' must be True or False`, { ...details, field: "fortran_order" });
  const shapeValue = dict.get("shape")!;
  if (shapeValue.kind !== "tuple") throw new NdpackError("HEADER_INVALID", `${prefix}.npy header: 'shape' must be a tuple of integers`, { ...details, field: "shape" });
  const { dtype, byteOrder } = dtypeOfDescr(descr.value, options.voidDtype, member);
  const shape = shapeValue.value;
  if (shapeValue.negative) throw new NdpackError("BAD_SHAPE", `${prefix}.npy shape (${shape.join(", ")}) has a negative dimension`, { ...details, field: "shape" });
  if (shape.length > options.maxDims) {
    throw overLimit(`${prefix}.npy array has ${shape.length} dimensions`, shape.length, options.maxDims, "maxDims", { ...details, field: "shape" });
  }
  const size = sizeOf(shape, dtype);
  if (size === undefined) throw new NdpackError("BAD_SHAPE", `${prefix}.npy shape (${shape.join(", ")}) of ${dtype.name} holds more than 2^53-1 bytes`, { ...details, field: "shape" });
  const dataStart = prefixSize + headerLength;
  const end = dataStart + size.nbytes;
  if (totalLength !== undefined) {
    if (totalLength < end) throw new NdpackError("TRUNCATED", `${prefix}.npy input is ${totalLength} bytes, but its header describes ${end}`, { ...details, expected: end, actual: totalLength });
    if (totalLength > end) throw new NdpackError("TRAILING_BYTES", `${prefix}.npy input is ${totalLength} bytes, ${totalLength - end} more than its header describes`, { ...details, offset: end, expected: end, actual: totalLength });
  }
  const layout: NpyLayout = { version, dtype, byteOrder: dtype.wordSize === 1 ? "little" : byteOrder, shape, order: fortran.value ? "F" : "C", dataStart, nbytes: size.nbytes };
  known?.set(key, layout);
  return layout;
}

/** Bytes the .npy header steps ask for first: the prefix and, for nearly every file, the whole header. */
const NPY_FIRST_READ = 64 * 1024;

/**
 * The .npy layout of content `length` bytes long, from its first bytes, as range steps (see
 * `io/steps.ts`), run over memory by {@link fromNpy}, over any source by the lazy reader and over
 * a stream by `decodeStream`: `readHead(n)` gives the content's first `n` bytes (all of it when
 * shorter). One read of `first` bytes holds the header of nearly every file; a longer header is
 * read again whole. A stream's `length` is `undefined`: its first read is then the longest prefix
 * alone, and {@link streamedHead} gives the rest of the header after it, so that it takes no
 * payload byte (unless the header is under 2 bytes long, which no valid header is).
 */
export function* npyLayoutSteps(readHead: (length: number) => RangeSteps<Uint8Array>, length: number | undefined, first: number, options: ReturnType<typeof resolveNpyOptions>, member?: string, known?: Map<string, NpyLayout>): RangeSteps<NpyLayout> {
  const asked = length === undefined ? NPY_MAX_PREFIX_SIZE : Math.min(length, Math.max(first, NPY_MAX_PREFIX_SIZE));
  let head = yield* readHead(asked);
  const { prefixSize, headerLength } = readNpyPrefix(head, lengthSoFar(length, head, asked), options, member);
  // A stream that ends inside the header gives fewer bytes: readNpyLayout's own prefix check then says TRUNCATED.
  if (head.length < prefixSize + headerLength) head = yield* readHead(prefixSize + headerLength);
  return readNpyLayout(head, length, options, member, known);
}

/** The array of a .npy layout (a .npy file's, or a .npz member's) as readers report it, named `name`, stored as `stored` says. */
export function npyArrayInfo(name: string, layout: NpyLayout, stored: Pick<ArrayInfo, "codec" | "offset" | "byteLength">): ArrayInfo {
  return {
    name,
    dtype: layout.dtype.name,
    shape: Object.freeze([...layout.shape]),
    order: layout.order,
    byteOrder: layout.byteOrder,
    ...stored,
    nbytes: layout.nbytes,
  };
}

/** A `readHead` for {@link npyLayoutSteps}: content stored as it is, from `base`. */
export function storedHead(base: number): (length: number) => RangeSteps<Uint8Array> {
  return function* (length) {
    return yield { offset: base, length };
  };
}

/** A `readHead` for {@link npyLayoutSteps} on a stream, which gives each byte once: it asks only for the bytes after those it has. */
export function streamedHead(): (length: number) => RangeSteps<Uint8Array> {
  let head: Uint8Array = new Uint8Array(0);
  return function* (length) {
    if (length > head.length) head = concatBytes([head, yield { offset: head.length, length: length - head.length }]);
    return head;
  };
}

/**
 * Latin-1 text. ASCII (every header numpy writes) is the same text in UTF-8, whose native decoder
 * takes a tenth of the time of building it code by code (opening a .npz decodes one per member).
 */
function latin1(bytes: Uint8Array): string {
  let i = 0;
  while (i < bytes.length && bytes[i]! < 0x80) i++;
  if (i === bytes.length) return decodeUtf8(bytes)!;
  let text = "";
  for (i = 0; i < bytes.length; i += 8192) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[]);
  return text;
}

/**
 * Reads a .npy file (version 1.0, 2.0 or 3.0). The array is a view of `input` when its byte order
 * is this machine's and its data is aligned (numpy aligns it to 64 bytes), a copy otherwise.
 * `offset` in the result is the data's offset in `input`. A .npy file has no checksum: its header
 * and size are checked, its values cannot be (a damaged byte of data reads as another value).
 *
 * @throws NdpackError BAD_MAGIC, TRUNCATED, UNSUPPORTED_VERSION, HEADER_TOO_LARGE, HEADER_INVALID,
 *   DUPLICATE_KEY, BAD_NUMBER, UNKNOWN_DTYPE (object, structured, string and void descrs), BAD_SHAPE,
 *   LIMIT_EXCEEDED, TRAILING_BYTES, COPY_REQUIRED (with `copy: "never"`), INVALID_ARGUMENT.
 *
 * @example
 * ```ts
 * const { data, shape, dtype, order } = fromNpy(bytes);
 * const bf16 = fromNpy(mlDtypesBytes, { voidDtype: "bfloat16" }); // a '<V2' file from np.save
 * ```
 */
export function fromNpy(input: DecodeInput, options: NpyReadOptions = {}): NpyArray {
  checkOptionNames(options, { copy: true, voidDtype: true, maxHeaderBytes: true, maxDims: true } satisfies Record<keyof NpyReadOptions, true>, "fromNpy");
  const copy = checkCopy(options.copy);
  const resolved = resolveNpyOptions(options);
  const bytes = inputBytes(input);
  const layout = runOnBytes(npyLayoutSteps(storedHead(0), bytes.length, NPY_FIRST_READ, resolved), bytes);
  const { name: _name, ...array } = viewOrCopy(npyArrayInfo("npy", layout, { codec: "none", offset: layout.dataStart, byteLength: layout.nbytes }), bytes.subarray(layout.dataStart), false, copy);
  return array;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** The descr numpy (with ml_dtypes) writes for a dtype: `'<f4'`, `'|b1'`, `'<V2'` for bfloat16. */
export function descrOf(dtype: DtypeInfo, byteOrder: ByteOrder): string {
  if (dtype.numpy === null) return `${dtype.itemSize > 1 && byteOrder === "big" ? ">" : "<"}V${dtype.itemSize}`;
  if (dtype.itemSize === 1) return `|${dtype.numpy}`;
  return `${byteOrder === "big" ? ">" : "<"}${dtype.numpy}`;
}

/** Python's `repr` of a shape tuple. */
function shapeRepr(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(", ")})`;
}

/**
 * The byte order a .npy file can hold `dtype` in: the one asked for, except for the ml_dtypes
 * types, which numpy stores as void (raw bytes, `|V2`): a void descr carries no byte order, so
 * numpy reads them in the machine's order and they must be written little-endian.
 */
export function npyByteOrder(dtype: DtypeInfo, requested: ByteOrder): ByteOrder {
  return dtype.numpy === null ? "little" : requested;
}

/**
 * The magic, version, length and header of a .npy file for `array`, exactly as numpy's
 * `_write_array_header` and `_wrap_header` write them: sorted keys, the growth-axis spaces, and
 * padding to a multiple of 64 ending in `\n`.
 */
export function writeNpyHeader(array: Pick<PreparedArray, "dtype" | "shape" | "order">, options: NpyWriteOptions = {}): Uint8Array {
  const byteOrder = oneOf(options.byteOrder, BYTE_ORDERS, "little", "byteOrder");
  const requested = options.version;
  if (requested !== undefined) oneOf(requested, NPY_VERSIONS, 1, "version");
  const { shape, order } = array;
  let dict = `{'descr': '${descrOf(array.dtype, npyByteOrder(array.dtype, byteOrder))}', 'fortran_order': ${order === "F" ? "True" : "False"}, 'shape': ${shapeRepr(shape)}, }`;
  if (shape.length > 0) dict += " ".repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[order === "F" ? shape.length - 1 : 0]).length));
  const wrap = (version: NpyVersion) => {
    const prefixSize = PREFIX_SIZE[version];
    const textLength = dict.length + 1; // the final "\n"
    const padding = NPY_ALIGNMENT - ((prefixSize + textLength) % NPY_ALIGNMENT);
    return { prefixSize, headerLength: textLength + padding };
  };
  let version: NpyVersion = requested ?? 1;
  let { prefixSize, headerLength } = wrap(version);
  if (version === 1 && headerLength > 0xffff) {
    if (requested === 1) {
      throw new NdpackError("HEADER_TOO_LARGE", `the .npy header would be ${headerLength} bytes, more than version 1.0's 65535; write version 2`, { field: "version", expected: 0xffff, actual: headerLength });
    }
    version = 2;
    ({ prefixSize, headerLength } = wrap(version));
  }
  const out = new Uint8Array(prefixSize + headerLength);
  out.set(NPY_MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerLength, true);
  else view.setUint32(8, headerLength, true);
  for (let i = 0; i < dict.length; i++) out[prefixSize + i] = dict.charCodeAt(i);
  out.fill(0x20, prefixSize + dict.length, out.length - 1);
  out[out.length - 1] = 0x0a;
  return out;
}

/**
 * The .npy writer: the header `np.save` writes, then the array's bytes in the byte order a .npy
 * file can hold its dtype in ({@link npyByteOrder}), in the array's own order. Checks the options
 * and the header's size before the first step.
 */
export function planNpyWrite(array: ArrayPlan, options: NpyWriteOptions = {}): WriteSteps {
  const header = writeNpyHeader(array, options);
  const byteOrder = npyByteOrder(array.dtype, options.byteOrder ?? "little");
  return (function* (): WriteSteps {
    yield header;
    yield { payload: 0, byteOrder, cOrder: false, crc: false };
  })();
}

/**
 * Writes one array as a .npy file, byte for byte as `np.save` writes it for the same array
 * (for bfloat16 and float8, as `np.save` writes an ml_dtypes array: a void descr).
 * `array` takes what the core's `encode` takes for one array: a typed array or an `ArraySpec`
 * (`{ data, shape, dtype, order }`), including an `NdArray` from any reader.
 *
 * @throws NdpackError INVALID_ARGUMENT, UNKNOWN_DTYPE, SIZE_MISMATCH, BAD_SHAPE, LIMIT_EXCEEDED (as
 *   `encode`), HEADER_TOO_LARGE (version 1 asked for a header that needs version 2).
 *
 * @example
 * ```ts
 * toNpy({ data: new Int16Array([1, 2, 3, 4, 5, 6]), shape: [2, 3], order: "F" }, { byteOrder: "big" });
 * ```
 */
export function toNpy(array: ArrayInput, options: NpyWriteOptions = {}): Uint8Array {
  checkOptionNames(options, { version: true, byteOrder: true } satisfies Record<keyof NpyWriteOptions, true>, "toNpy");
  const prepared = inMemory(prepareArray("array", array));
  return writeToBytes(planNpyWrite(prepared, options), [prepared]);
}
