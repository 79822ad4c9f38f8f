/**
 * The messages of the message-stream tests, the same in TypeScript and Python
 * (`message_cases.py`): message `i` is a pure function of `i`, so a producer in one language and a
 * consumer in the other agree on every value without exchanging anything else. Every fifth
 * message has no arrays; the others mix dtypes, ranks (0 to 3) and zero-size arrays.
 */
import { DTYPES, type ArraySpec, type Dtype, type NdArray } from "../../src/index.js";

/** The dtypes the cases use: every integer and float width with a numpy dtype, and bool. */
export const CASE_DTYPES: readonly { dtype: Dtype; itemSize: number }[] = [
  { dtype: "float32", itemSize: 4 },
  { dtype: "float64", itemSize: 8 },
  { dtype: "int8", itemSize: 1 },
  { dtype: "uint8", itemSize: 1 },
  { dtype: "int16", itemSize: 2 },
  { dtype: "uint16", itemSize: 2 },
  { dtype: "int32", itemSize: 4 },
  { dtype: "uint32", itemSize: 4 },
  { dtype: "int64", itemSize: 8 },
  { dtype: "uint64", itemSize: 8 },
  { dtype: "bool", itemSize: 1 },
  { dtype: "float16", itemSize: 2 },
];

/** One array of a case: name, dtype, shape and its little-endian bytes. */
export interface CaseArray {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** The arrays of message `i`, and its metadata `{ "i": i }`. */
export function caseMessage(i: number): CaseArray[] {
  const count = i % 5;
  const arrays: CaseArray[] = [];
  for (let j = 0; j < count; j++) {
    const { dtype, itemSize } = CASE_DTYPES[(i + j) % CASE_DTYPES.length]!;
    const rank = (i + j) % 4;
    const dims = [(i % 7) + 1, (j % 3) * 2, 3, (i % 2) + 1].map((d, k) => (k === 1 && i % 11 !== 0 ? d + 1 : d));
    const shape = dims.slice(0, rank);
    const count = shape.reduce((a, b) => a * b, 1);
    const bytes = new Uint8Array(count * itemSize);
    for (let b = 0; b < bytes.length; b++) bytes[b] = (i * 131 + j * 17 + b * 7) & 0xff;
    // Writers store only 0 and 1 for bool (FORMAT.md §3).
    if (dtype === "bool") for (let b = 0; b < bytes.length; b++) bytes[b]! &= 1;
    arrays.push({ name: `a${j}`, dtype, shape, bytes });
  }
  return arrays;
}

/** Message `i` as `send`'s input: each array's bytes viewed as its dtype. */
export function caseInput(i: number): [string, ArraySpec][] {
  return caseMessage(i).map(({ name, dtype, shape, bytes }) => {
    const View = DTYPES[dtype].view;
    const data = new (View as unknown as new (buffer: ArrayBuffer) => ArrayBufferView)(bytes.buffer as ArrayBuffer);
    return [name, { data, dtype, shape }];
  });
}

/** The little-endian bytes of a decoded array (this machine is little-endian, as the tests require). */
export function arrayBytes(array: NdArray): Uint8Array {
  return new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
}

/** Why decoded message `i` differs from the case, or `undefined` when it is equal. */
export function caseMismatch(i: number, metadata: unknown, arrays: readonly NdArray[]): string | undefined {
  const expected = caseMessage(i);
  if (JSON.stringify(metadata) !== JSON.stringify({ i })) return `message ${i}: metadata ${JSON.stringify(metadata)}`;
  if (arrays.length !== expected.length) return `message ${i}: ${arrays.length} arrays, expected ${expected.length}`;
  for (let j = 0; j < expected.length; j++) {
    const want = expected[j]!;
    const got = arrays[j]!;
    if (got.name !== want.name || got.dtype !== want.dtype || JSON.stringify(got.shape) !== JSON.stringify(want.shape)) {
      return `message ${i} array ${j}: ${got.name} ${got.dtype} [${got.shape.join(",")}], expected ${want.name} ${want.dtype} [${want.shape.join(",")}]`;
    }
    if (!Buffer.from(arrayBytes(got)).equals(Buffer.from(want.bytes))) return `message ${i} array ${j}: values differ`;
  }
  return undefined;
}
