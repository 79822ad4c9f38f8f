/**
 * The dtype table of FORMAT.md §3: one frozen row per dtype. Encoder, decoder, header schema and
 * the interop modules all read this table; nothing else in the library lists dtypes.
 *
 * @module
 */
import { closestName, NdpackError, shown } from "./errors.js";

/**
 * `Float16Array` when the TypeScript lib in use declares it (`"lib": ["ESNext"]` or later; the
 * runtime needs Node 24+ or a recent browser), and `never` otherwise: the declarations compile
 * with either lib, and name Float16Array only where it exists.
 */
export type Float16ArrayIfDeclared = typeof globalThis extends {
  /** The global constructor, where the lib declares one. */
  Float16Array: {
    /** The type of its instances. */
    prototype: infer A;
  };
}
  ? A
  : never;

/** Every typed array ndpack hands out or accepts. */
export type TypedArray =
  | Float16ArrayIfDeclared
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

/**
 * The typed array `data` is for each dtype, as decoded: raw bits for bfloat16 and float8 (see the
 * float conversion helpers), interleaved (re, im) floats for complex, bytes for bool, and for
 * float16 a Float16Array where the runtime has one and raw Uint16Array bits where it does not.
 */
export interface DtypeData {
  /** Bytes, 0 or 1 as written by ndpack (any non-zero byte is true). */
  bool: Uint8Array;
  /** Signed 8-bit integers. */
  int8: Int8Array;
  /** Signed 16-bit integers. */
  int16: Int16Array;
  /** Signed 32-bit integers. */
  int32: Int32Array;
  /** Signed 64-bit integers, as BigInts. */
  int64: BigInt64Array;
  /** Unsigned 8-bit integers. */
  uint8: Uint8Array;
  /** Unsigned 16-bit integers. */
  uint16: Uint16Array;
  /** Unsigned 32-bit integers. */
  uint32: Uint32Array;
  /** Unsigned 64-bit integers, as BigInts. */
  uint64: BigUint64Array;
  /** Float16Array where the runtime has it (Node 24+), raw IEEE half bits elsewhere. */
  float16: Float16ArrayIfDeclared | Uint16Array;
  /** Raw bfloat16 bits; `bfloat16ToFloat32` converts them. */
  bfloat16: Uint16Array;
  /** 32-bit floats. */
  float32: Float32Array;
  /** 64-bit floats. */
  float64: Float64Array;
  /** Interleaved (re, im) 32-bit floats: twice as many values as elements. */
  complex64: Float32Array;
  /** Interleaved (re, im) 64-bit floats: twice as many values as elements. */
  complex128: Float64Array;
  /** Raw float8 E4M3FN bits; `float8E4M3FNToFloat32` converts them. */
  float8_e4m3fn: Uint8Array;
  /** Raw float8 E5M2 bits; `float8E5M2ToFloat32` converts them. */
  float8_e5m2: Uint8Array;
}

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

/** The built-in getters of a property of `prototype`, taken when this module loads: a subclass's or an own property's cannot stand in for them. */
export function builtInGetter<T>(prototype: object, key: PropertyKey): (this: unknown) => T {
  return Object.getOwnPropertyDescriptor(prototype, key)!.get as (this: unknown) => T;
}

const TYPED_ARRAY_PROTOTYPE = Object.getPrototypeOf(Int8Array.prototype) as object;

/**
 * The built-in getters of %TypedArray%.prototype, called on a typed array (`TYPED_ARRAY.buffer.call(a)`):
 * its own type name (`undefined` for anything but a typed array), buffer, byte offset, length and
 * byte length as they are, whatever a subclass or an own property says.
 */
export const TYPED_ARRAY = {
  typeName: builtInGetter<string | undefined>(TYPED_ARRAY_PROTOTYPE, Symbol.toStringTag),
  buffer: builtInGetter<ArrayBufferLike>(TYPED_ARRAY_PROTOTYPE, "buffer"),
  byteOffset: builtInGetter<number>(TYPED_ARRAY_PROTOTYPE, "byteOffset"),
  length: builtInGetter<number>(TYPED_ARRAY_PROTOTYPE, "length"),
  byteLength: builtInGetter<number>(TYPED_ARRAY_PROTOTYPE, "byteLength"),
};

/** The typed-array tag of `value`, or `undefined` when it is not a typed array (DataView included). */
export function typedArrayTag(value: unknown): TypedArrayTag | undefined {
  // The built-in getter reads the array's own type (undefined for anything else, a DataView
  // included): `value[Symbol.toStringTag]` can be an own property or a subclass's getter, and a
  // Uint8Array that says "Float64Array" was written as float64 of 8x its bytes.
  const tag = TYPED_ARRAY.typeName.call(value);
  return tag !== undefined && Object.prototype.hasOwnProperty.call(DTYPE_OF_TAG, tag) ? (tag as TypedArrayTag) : undefined;
}

/** The dtype a bare typed array stands for (`Float32Array` is float32, `Uint8ClampedArray` uint8). */
export function dtypeOfTag(tag: TypedArrayTag): Dtype {
  return DTYPE_OF_TAG[tag];
}

/**
 * Names other libraries give the dtypes, which ndpack does not accept (one name per dtype keeps
 * headers comparable) but recognises in order to say which name was meant: numpy's type strings
 * with or without a byte order (`"<f4"`, `"f4"`), the Python names `"float"` (float64 in numpy)
 * and `"half"`, the safetensors names (`"F32"`, `"BF16"`) and torch's (`"torch.float32"`).
 */
function dtypeAliases(): ReadonlyMap<string, Dtype> {
  // Python's names whose nearest ndpack name would mislead (numpy's "float" is float64, not float16).
  const aliases = new Map<string, Dtype>([["float", "float64"], ["half", "float16"]]);
  for (const info of Object.values(DTYPES)) {
    if (info.numpy !== null) for (const prefix of ["", "<", ">", "=", "|"]) aliases.set(prefix + info.numpy, info.name);
    if (info.safetensors !== null) aliases.set(info.safetensors.toLowerCase(), info.name);
    aliases.set(`torch.${info.name}`, info.name);
  }
  return aliases;
}

let aliases: ReadonlyMap<string, Dtype> | undefined;

/**
 * The ndpack dtype another library's name stands for (`"<f4"` → `"float32"`), or the closest
 * dtype name to a misspelling; `undefined` when nothing comes near.
 */
export function suggestDtype(value: unknown): Dtype | undefined {
  if (typeof value !== "string") return undefined;
  aliases ??= dtypeAliases();
  const key = value.trim().toLowerCase().replace(/^(numpy|np|jnp|ml_dtypes)\./, "");
  if (isDtype(key)) return key;
  return aliases.get(key) ?? (closestName(key, DTYPE_NAMES) as Dtype | undefined);
}

/**
 * Why `value` is not a dtype, for UNKNOWN_DTYPE and INVALID_ARGUMENT messages: the name that was
 * probably meant, and every valid name. `what` says where the value came from (`dtype of array "x"`).
 */
export function unknownDtypeMessage(value: unknown, what: string): string {
  const meant = suggestDtype(value);
  const hint = meant === undefined ? "" : `; did you mean "${meant}"?`;
  return `${what}: unknown dtype ${shown(value)}${hint} (dtypes: ${DTYPE_NAMES.join(", ")})`;
}

/** UNKNOWN_DTYPE for array `name` of a writer's input whose dtype is `value`, which is no dtype: `actual` holds a string as it is, anything else as messages show it. */
export function unknownDtypeError(value: unknown, name: string): NdpackError {
  return new NdpackError("UNKNOWN_DTYPE", unknownDtypeMessage(value, `array "${name}"`), { array: name, field: "dtype", actual: typeof value === "string" ? value : shown(value) });
}
