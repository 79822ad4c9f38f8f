/**
 * Conversions between float32 and the floating-point dtypes JavaScript has no typed array for:
 * float16 (IEEE binary16), bfloat16, float8_e4m3fn and float8_e5m2. Their values are stored as
 * raw bit patterns in a `Uint16Array` (16-bit formats) or `Uint8Array` (8-bit formats).
 *
 * Decoding is exact and table-driven. Encoding rounds to nearest, ties to even, like numpy and
 * ml_dtypes; the float8 formats follow ml_dtypes' default (non-saturating) casts.
 *
 * @module
 */

/**
 * Numbers to encode. A Float32Array is read bit-exactly, NaN payloads included. Other numbers are
 * rounded once, directly to the target format (as numpy does for float64 to float16); ml_dtypes
 * rounds float64 through float32 instead, so for a float64 within float32 precision of a
 * midpoint its result can be one unit lower.
 */
export type FloatInput = Float32Array | Float64Array | ArrayLike<number>;

/** Bit layout of a binary floating-point format narrower than float32. */
interface MiniFloatFormat {
  readonly exponentBits: number;
  readonly mantissaBits: number;
  readonly bias: number;
  /**
   * True for IEEE-style formats, where the all-ones exponent means infinity (zero mantissa) or
   * NaN. False for "fn" formats, which have no infinities, use the all-ones exponent for finite
   * values and reserve only the all-ones exponent-and-mantissa pattern for NaN.
   */
  readonly hasInfinity: boolean;
}

const FLOAT16: MiniFloatFormat = { exponentBits: 5, mantissaBits: 10, bias: 15, hasInfinity: true };
const FLOAT8_E5M2: MiniFloatFormat = { exponentBits: 5, mantissaBits: 2, bias: 15, hasInfinity: true };
const FLOAT8_E4M3FN: MiniFloatFormat = { exponentBits: 4, mantissaBits: 3, bias: 7, hasInfinity: false };

const FLOAT32_MANTISSA_BITS = 23;
const FLOAT32_BIAS = 127;
const FLOAT32_INFINITY = 0x7f800000;
const FLOAT32_QUIET_NAN = 0x7fc00000;

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Decodes IEEE binary16 bit patterns to float32 (exact, including subnormals, ±Inf and NaN).
 *
 * @example float16ToFloat32(new Uint16Array([0x3c00, 0xc000, 0x7c00])) // Float32Array [1, -2, Infinity]
 */
export function float16ToFloat32(bits: Uint16Array): Float32Array<ArrayBuffer> {
  return decodeWithTable(bits, float16Table());
}

/**
 * Encodes numbers as IEEE binary16 bit patterns: round to nearest, ties to even; magnitudes past
 * the largest finite value (65504) round to ±Inf; NaN stays NaN with its sign, the top 9 bits of
 * its payload and the quiet bit set.
 *
 * @example float32ToFloat16([1, 65504, 1e6]) // Uint16Array [0x3c00, 0x7bff, 0x7c00]
 */
export function float32ToFloat16(values: FloatInput): Uint16Array<ArrayBuffer> {
  return encodeMiniFloat(values, FLOAT16, new Uint16Array(values.length));
}

/**
 * Decodes bfloat16 bit patterns to float32; exact, since bfloat16 is the top half of a float32.
 *
 * @example bfloat16ToFloat32(new Uint16Array([0x3f80, 0xc049])) // Float32Array [1, -3.140625]
 */
export function bfloat16ToFloat32(bits: Uint16Array): Float32Array<ArrayBuffer> {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i]! << 16;
  return new Float32Array(out.buffer);
}

/**
 * Encodes numbers as bfloat16 bit patterns: round to nearest, ties to even on the dropped bits
 * (overflow gives ±Inf); NaN stays NaN with its sign and top payload bits, quiet bit set.
 *
 * @example float32ToBfloat16([1, Math.PI]) // Uint16Array [0x3f80, 0x4049]
 */
export function float32ToBfloat16(values: FloatInput): Uint16Array<ArrayBuffer> {
  const bits = toFloat32Bits(values);
  const out = new Uint16Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bfloat16FromFloat32Bits(bits[i]!);
  return out;
}

/**
 * Decodes float8_e4m3fn bit patterns (bias 7, no infinities, 0x7f/0xff are NaN, max 448) to float32.
 *
 * @example float8E4M3FNToFloat32(new Uint8Array([0x38, 0x7e, 0x01])) // Float32Array [1, 448, 2 ** -9]
 */
export function float8E4M3FNToFloat32(bits: Uint8Array): Float32Array<ArrayBuffer> {
  return decodeWithTable(bits, float8E4M3FNTable());
}

/**
 * Encodes numbers as float8_e4m3fn, like ml_dtypes' default cast: round to nearest, ties to
 * even; magnitudes that round past 448, ±Inf and NaN all become NaN (sign kept).
 *
 * @example float32ToFloat8E4M3FN([1, 448, 1000]) // Uint8Array [0x38, 0x7e, 0x7f (NaN)]
 */
export function float32ToFloat8E4M3FN(values: FloatInput): Uint8Array<ArrayBuffer> {
  return encodeMiniFloat(values, FLOAT8_E4M3FN, new Uint8Array(values.length));
}

/**
 * Decodes float8_e5m2 bit patterns (bias 15, IEEE-like with ±Inf and NaN, max 57344) to float32.
 *
 * @example float8E5M2ToFloat32(new Uint8Array([0x3c, 0x7b, 0xfc])) // Float32Array [1, 57344, -Infinity]
 */
export function float8E5M2ToFloat32(bits: Uint8Array): Float32Array<ArrayBuffer> {
  return decodeWithTable(bits, float8E5M2Table());
}

/**
 * Encodes numbers as float8_e5m2: round to nearest, ties to even; magnitudes that round past
 * 57344 become ±Inf; NaN stays NaN (sign and top payload bit kept, quiet bit set).
 *
 * @example float32ToFloat8E5M2([1, 57344, 1e6]) // Uint8Array [0x3c, 0x7b, 0x7c]
 */
export function float32ToFloat8E5M2(values: FloatInput): Uint8Array<ArrayBuffer> {
  return encodeMiniFloat(values, FLOAT8_E5M2, new Uint8Array(values.length));
}

// ---------------------------------------------------------------------------------------------
// Decoding: every bit pattern's float32 bits, computed once per format on first use

const float16Table = lazy(() => buildDecodeTable(FLOAT16));
const float8E4M3FNTable = lazy(() => buildDecodeTable(FLOAT8_E4M3FN));
const float8E5M2Table = lazy(() => buildDecodeTable(FLOAT8_E5M2));

function lazy<T>(build: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= build());
}

/** Copies bit patterns rather than float values, so NaN payloads survive the lookup unchanged. */
function decodeWithTable(codes: Uint8Array | Uint16Array, table: Uint32Array): Float32Array<ArrayBuffer> {
  const out = new Uint32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = table[codes[i]!]!;
  return new Float32Array(out.buffer);
}

function buildDecodeTable(format: MiniFloatFormat): Uint32Array {
  const table = new Uint32Array(2 ** (1 + format.exponentBits + format.mantissaBits));
  for (let code = 0; code < table.length; code++) table[code] = decodeToFloat32Bits(code, format);
  return table;
}

function decodeToFloat32Bits(code: number, format: MiniFloatFormat): number {
  const { exponentBits, mantissaBits, bias } = format;
  const maxExponent = (1 << exponentBits) - 1;
  const exponent = (code >>> mantissaBits) & maxExponent;
  const mantissa = code & ((1 << mantissaBits) - 1);
  const sign = ((code >>> (exponentBits + mantissaBits)) & 1) << 31;
  const mantissaShift = FLOAT32_MANTISSA_BITS - mantissaBits;
  let magnitude: number;
  if (isNaNCode(exponent, mantissa, format)) {
    magnitude = FLOAT32_QUIET_NAN | (mantissa << mantissaShift);
  } else if (format.hasInfinity && exponent === maxExponent) {
    magnitude = FLOAT32_INFINITY;
  } else if (exponent === 0) {
    magnitude = subnormalToFloat32Bits(mantissa, format);
  } else {
    magnitude = ((exponent - bias + FLOAT32_BIAS) << FLOAT32_MANTISSA_BITS) | (mantissa << mantissaShift);
  }
  return (sign | magnitude) >>> 0;
}

function isNaNCode(exponent: number, mantissa: number, format: MiniFloatFormat): boolean {
  const maxExponent = (1 << format.exponentBits) - 1;
  const maxMantissa = (1 << format.mantissaBits) - 1;
  if (exponent !== maxExponent) return false;
  return format.hasInfinity ? mantissa !== 0 : mantissa === maxMantissa;
}

/**
 * A subnormal is `mantissa * 2^(1 - bias - mantissaBits)`; every format here has a far smaller
 * exponent range than float32, so it becomes a normal float32 once its leading 1 is made implicit.
 */
function subnormalToFloat32Bits(mantissa: number, format: MiniFloatFormat): number {
  if (mantissa === 0) return 0;
  const leadingBit = 31 - Math.clz32(mantissa);
  const exponent = leadingBit + 1 - format.bias - format.mantissaBits;
  const fraction = (mantissa - (1 << leadingBit)) << (FLOAT32_MANTISSA_BITS - leadingBit);
  return ((exponent + FLOAT32_BIAS) << FLOAT32_MANTISSA_BITS) | fraction;
}

// ---------------------------------------------------------------------------------------------
// Encoding: everything is first brought to float32 bits, then rounded to the narrower format

function encodeMiniFloat<T extends Uint8Array | Uint16Array>(
  values: FloatInput,
  format: MiniFloatFormat,
  out: T,
): T {
  const bits = toFloat32Bits(values);
  for (let i = 0; i < bits.length; i++) out[i] = encodeFromFloat32Bits(bits[i]!, format);
  return out;
}

function encodeFromFloat32Bits(bits: number, format: MiniFloatFormat): number {
  const { exponentBits, mantissaBits } = format;
  const sign = (bits >>> 31) << (exponentBits + mantissaBits);
  const magnitude = bits & 0x7fffffff;
  const infinityCode = ((1 << exponentBits) - 1) << mantissaBits;
  // In "fn" formats the only NaN (per sign) has every exponent and mantissa bit set.
  const fnNaNCode = (1 << (exponentBits + mantissaBits)) - 1;
  if (magnitude > FLOAT32_INFINITY) {
    if (!format.hasInfinity) return sign | fnNaNCode;
    const quietBit = 1 << (mantissaBits - 1);
    const payload = (magnitude & 0x7fffff) >>> (FLOAT32_MANTISSA_BITS - mantissaBits);
    return sign | infinityCode | quietBit | payload;
  }
  const overflowCode = format.hasInfinity ? infinityCode : fnNaNCode;
  if (magnitude === FLOAT32_INFINITY) return sign | overflowCode;
  return sign | Math.min(roundFiniteMagnitude(magnitude, format), overflowCode);
}

/**
 * Rounds a finite float32 magnitude to the format's nearest code (ties to even), which may lie
 * past the largest finite code; the caller clamps it to the overflow code.
 */
function roundFiniteMagnitude(magnitude: number, format: MiniFloatFormat): number {
  const { mantissaBits, bias } = format;
  const float32Exponent = magnitude >>> FLOAT32_MANTISSA_BITS;
  // Float32 subnormals have no implicit 1 and the scale of exponent field 1.
  const significand = float32Exponent === 0 ? magnitude : (magnitude & 0x7fffff) | 0x800000;
  const exponent = Math.max(float32Exponent, 1) - FLOAT32_BIAS + bias;
  const dropBits = FLOAT32_MANTISSA_BITS - mantissaBits;
  if (exponent >= 1) {
    // The rounded significand still holds the implicit 1, worth one exponent step, hence
    // `exponent - 1`; a carry out of the mantissa then bumps the exponent as it should.
    return ((exponent - 1) << mantissaBits) + roundShiftRightEven(significand, dropBits);
  }
  // Subnormal: fixed scale 2^(1 - bias - mantissaBits). Rounding up to 2^mantissaBits yields
  // exactly the code of the smallest normal.
  return roundShiftRightEven(significand, dropBits + 1 - exponent);
}

/** `value / 2^shift` rounded to nearest, ties to even, for `0 <= value < 2^24` and `shift >= 1`. */
function roundShiftRightEven(value: number, shift: number): number {
  if (shift > 24) return 0; // value / 2^shift < 1/2
  const quotient = value >>> shift;
  const remainder = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  const roundUp = remainder > half || (remainder === half && (quotient & 1) === 1);
  return roundUp ? quotient + 1 : quotient;
}

function bfloat16FromFloat32Bits(bits: number): number {
  // Truncating a NaN whose payload lies only in the low 16 bits would leave Inf: force quiet.
  if ((bits & 0x7fffffff) > FLOAT32_INFINITY) return (bits >>> 16) | 0x0040;
  // Adding 0x7fff, plus 1 when the kept part is odd, carries into bit 16 exactly when rounding
  // to nearest even goes up; overflow carries into the exponent and yields Inf as it should.
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

const scratchFloat32 = new Float32Array(1);
const scratchFloat32Bits = new Uint32Array(scratchFloat32.buffer);

/**
 * Float32 bit patterns of `values`. A Float32Array is reinterpreted in place (bit-exact, NaN
 * payloads included); other numbers are rounded to float32 with round-to-odd (see
 * {@link float32BitsRoundedToOdd}) so that the later rounding to fewer bits is correct.
 */
function toFloat32Bits(values: FloatInput): Uint32Array {
  if (values instanceof Float32Array) return new Uint32Array(values.buffer, values.byteOffset, values.length);
  const bits = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) bits[i] = float32BitsRoundedToOdd(values[i]!);
  return bits;
}

/**
 * Rounding a float64 to float32 and then to float16 can round twice the wrong way (a value just
 * above a float16 midpoint can land exactly on it). Rounding to float32 "to odd" instead, i.e.
 * truncating and setting the last bit when anything was lost, keeps that information, and a
 * single correct rounding follows, since float32 has at least 2 more bits than every target.
 */
function float32BitsRoundedToOdd(value: number): number {
  scratchFloat32[0] = value; // round to nearest float32; a NaN stays NaN (sign and top payload kept in V8)
  const nearest = scratchFloat32[0];
  const bits = scratchFloat32Bits[0]!;
  // NaN must skip the adjustment below, which could step a NaN pattern onto Inf.
  if (value !== value || nearest === value || (bits & 1) === 1) return bits;
  // Inexact with an even last bit: step one unit toward `value`, which makes the last bit odd.
  return Math.abs(nearest) < Math.abs(value) ? bits + 1 : bits - 1;
}
