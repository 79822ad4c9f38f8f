/**
 * The dtype table of FORMAT.md §3: one frozen row per dtype. Encoder, decoder, header schema and
 * the interop modules all read this table; nothing else in the library lists dtypes.
 *
 * @module
 */

/** Every typed array ndpack hands out or accepts. */
export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/** The `[Symbol.toStringTag]` of a typed array: how we recognise one, also across realms and Node Buffers. */
export type TypedArrayTag =
  | "Int8Array"
  | "Uint8Array"
  | "Uint8ClampedArray"
  | "Int16Array"
  | "Uint16Array"
  | "Int32Array"
  | "Uint32Array"
  | "BigInt64Array"
  | "BigUint64Array"
  | "Float16Array"
  | "Float32Array"
  | "Float64Array";

/** A constructor of typed arrays over an existing buffer (what the decoder calls to make views). */
export interface TypedArrayConstructor {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  new (length: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
}

/** Float16Array where the runtime has one (Node 24+, recent browsers); `undefined` elsewhere. */
const Float16ArrayIfAny = (globalThis as { Float16Array?: TypedArrayConstructor }).Float16Array;

/** One row of the table. */
export interface DtypeInfo {
  /** The name written in headers (Zarr v3 names). */
  readonly name: Dtype;
  /** Bytes per element. */
  readonly itemSize: number;
  /** Bytes per word: the unit of byte order, shuffling and view alignment (half the item size for complex). */
  readonly wordSize: number;
  /** The typed array `decode` returns for this dtype (words, so complex arrays are interleaved). */
  readonly view: TypedArrayConstructor;
  /** Typed arrays `encode` accepts as data for this dtype, by tag. */
  readonly accepts: readonly TypedArrayTag[];
  /** numpy's type character and size, without byte order (`"f4"`); `null` where numpy has no native type. */
  readonly numpy: string | null;
  /** ml_dtypes' name where numpy needs that package (`"bfloat16"`). */
  readonly mlDtypes: string | null;
  /** The safetensors dtype name, or `null` where safetensors has none. */
  readonly safetensors: string | null;
  /** The Arrow type (columnar format and arrow-js class name, `"Float32"`), or `null` where Arrow has no fixed-width primitive for it. */
  readonly arrow: string | null;
  /** The Arrow C data interface format string (`"f"`), or `null` with {@link DtypeInfo.arrow}. */
  readonly arrowFormat: string | null;
  /** DLPack's `DLDataType` (dlpack.h v1.1) with `lanes` 1: type code (`kDLFloat` = 2...) and bits per element. */
  readonly dlpack: {
    /** The `DLDataTypeCode`. */
    readonly code: number;
    /** Bits per element. */
    readonly bits: number;
  };
}

/** DLPack `DLDataTypeCode` values (dlpack.h v1.1) used by the table. */
const DL = { int: 0, uint: 1, float: 2, bfloat: 4, complex: 5, bool: 6, float8E4M3FN: 10, float8E5M2: 12 } as const;

function row(
  name: Dtype,
  itemSize: number,
  view: TypedArrayConstructor,
  accepts: readonly TypedArrayTag[],
  names: { numpy: string | null; mlDtypes?: string; safetensors: string | null; arrow?: readonly [type: string, format: string]; dlpack: number },
): DtypeInfo {
  const wordSize = view.BYTES_PER_ELEMENT;
  return Object.freeze({
    name,
    itemSize,
    wordSize,
    view,
    accepts: Object.freeze([...accepts]),
    numpy: names.numpy,
    mlDtypes: names.mlDtypes ?? null,
    safetensors: names.safetensors,
    arrow: names.arrow?.[0] ?? null,
    arrowFormat: names.arrow?.[1] ?? null,
    dlpack: Object.freeze({ code: names.dlpack, bits: itemSize * 8 }),
  });
}

/** Every dtype name, in the order of FORMAT.md §3. */
export const DTYPE_NAMES = [
  "bool",
  "int8",
  "int16",
  "int32",
  "int64",
  "uint8",
  "uint16",
  "uint32",
  "uint64",
  "float16",
  "bfloat16",
  "float32",
  "float64",
  "complex64",
  "complex128",
  "float8_e4m3fn",
  "float8_e5m2",
] as const;

/** A dtype name of FORMAT.md §3. */
export type Dtype = (typeof DTYPE_NAMES)[number];

const u8 = Uint8Array as unknown as TypedArrayConstructor;
const u16 = Uint16Array as unknown as TypedArrayConstructor;
const float16View = Float16ArrayIfAny ?? u16;

/** The table itself, keyed by dtype name. */
export const DTYPES: Readonly<Record<Dtype, DtypeInfo>> = Object.freeze({
  bool: row("bool", 1, u8, ["Uint8Array"], { numpy: "b1", safetensors: "BOOL", arrow: ["Bool", "b"], dlpack: DL.bool }),
  int8: row("int8", 1, Int8Array as unknown as TypedArrayConstructor, ["Int8Array"], { numpy: "i1", safetensors: "I8", arrow: ["Int8", "c"], dlpack: DL.int }),
  int16: row("int16", 2, Int16Array as unknown as TypedArrayConstructor, ["Int16Array"], { numpy: "i2", safetensors: "I16", arrow: ["Int16", "s"], dlpack: DL.int }),
  int32: row("int32", 4, Int32Array as unknown as TypedArrayConstructor, ["Int32Array"], { numpy: "i4", safetensors: "I32", arrow: ["Int32", "i"], dlpack: DL.int }),
  int64: row("int64", 8, BigInt64Array as unknown as TypedArrayConstructor, ["BigInt64Array"], { numpy: "i8", safetensors: "I64", arrow: ["Int64", "l"], dlpack: DL.int }),
  uint8: row("uint8", 1, u8, ["Uint8Array", "Uint8ClampedArray"], { numpy: "u1", safetensors: "U8", arrow: ["Uint8", "C"], dlpack: DL.uint }),
  uint16: row("uint16", 2, u16, ["Uint16Array"], { numpy: "u2", safetensors: "U16", arrow: ["Uint16", "S"], dlpack: DL.uint }),
  uint32: row("uint32", 4, Uint32Array as unknown as TypedArrayConstructor, ["Uint32Array"], { numpy: "u4", safetensors: "U32", arrow: ["Uint32", "I"], dlpack: DL.uint }),
  uint64: row("uint64", 8, BigUint64Array as unknown as TypedArrayConstructor, ["BigUint64Array"], { numpy: "u8", safetensors: "U64", arrow: ["Uint64", "L"], dlpack: DL.uint }),
  float16: row("float16", 2, float16View, ["Float16Array", "Uint16Array"], { numpy: "f2", safetensors: "F16", arrow: ["Float16", "e"], dlpack: DL.float }),
  bfloat16: row("bfloat16", 2, u16, ["Uint16Array"], { numpy: null, mlDtypes: "bfloat16", safetensors: "BF16", dlpack: DL.bfloat }),
  float32: row("float32", 4, Float32Array as unknown as TypedArrayConstructor, ["Float32Array"], { numpy: "f4", safetensors: "F32", arrow: ["Float32", "f"], dlpack: DL.float }),
  float64: row("float64", 8, Float64Array as unknown as TypedArrayConstructor, ["Float64Array"], { numpy: "f8", safetensors: "F64", arrow: ["Float64", "g"], dlpack: DL.float }),
  complex64: row("complex64", 8, Float32Array as unknown as TypedArrayConstructor, ["Float32Array"], { numpy: "c8", safetensors: "C64", dlpack: DL.complex }),
  complex128: row("complex128", 16, Float64Array as unknown as TypedArrayConstructor, ["Float64Array"], { numpy: "c16", safetensors: null, dlpack: DL.complex }),
  float8_e4m3fn: row("float8_e4m3fn", 1, u8, ["Uint8Array"], { numpy: null, mlDtypes: "float8_e4m3fn", safetensors: "F8_E4M3", dlpack: DL.float8E4M3FN }),
  float8_e5m2: row("float8_e5m2", 1, u8, ["Uint8Array"], { numpy: null, mlDtypes: "float8_e5m2", safetensors: "F8_E5M2", dlpack: DL.float8E5M2 }),
});

/** The dtype `encode` assumes for a bare typed array, by tag. */
const DTYPE_OF_TAG: Readonly<Record<TypedArrayTag, Dtype>> = Object.freeze({
  Int8Array: "int8",
  Uint8Array: "uint8",
  Uint8ClampedArray: "uint8",
  Int16Array: "int16",
  Uint16Array: "uint16",
  Int32Array: "int32",
  Uint32Array: "uint32",
  BigInt64Array: "int64",
  BigUint64Array: "uint64",
  Float16Array: "float16",
  Float32Array: "float32",
  Float64Array: "float64",
});

/** True when `name` is a dtype of FORMAT.md §3 (exact, lower-case match). */
export function isDtype(name: unknown): name is Dtype {
  return typeof name === "string" && Object.prototype.hasOwnProperty.call(DTYPES, name);
}

/** The typed-array tag of `value`, or `undefined` when it is not a typed array (DataView included). */
export function typedArrayTag(value: unknown): TypedArrayTag | undefined {
  if (!ArrayBuffer.isView(value)) return undefined;
  const tag = (value as { [Symbol.toStringTag]?: string })[Symbol.toStringTag];
  return tag !== undefined && Object.prototype.hasOwnProperty.call(DTYPE_OF_TAG, tag) ? (tag as TypedArrayTag) : undefined;
}

/** The dtype a bare typed array stands for (`Float32Array` is float32, `Uint8ClampedArray` uint8). */
export function dtypeOfTag(tag: TypedArrayTag): Dtype {
  return DTYPE_OF_TAG[tag];
}
