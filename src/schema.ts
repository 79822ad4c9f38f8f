/**
 * The header's shape (FORMAT.md §2.2) as a zod schema: the single source of the header's types,
 * of structural validation (§9 step 8) and of `spec/header.schema.json`, which
 * `scripts/generate-schema.ts` derives from it.
 *
 * @module
 */
import { z } from "zod";
import { DTYPE_NAMES } from "./dtypes.js";
import { BYTE_ORDERS, CHECKSUMS, CODECS, MAX_ALIGNMENT, MAX_SAFE_SIZE, MIN_ALIGNMENT, ORDERS } from "./format.js";

const size = z.int().min(0).max(MAX_SAFE_SIZE);

const alignment = size
  .min(MIN_ALIGNMENT)
  .max(MAX_ALIGNMENT)
  .refine((value) => (value & (value - 1)) === 0, "alignment must be a power of two")
  .describe("Every payload starts at a file offset that is a multiple of this power of two.");

const entryFields = {
  name: z.string().min(1).describe("Non-empty, unique in the file."),
  dtype: z.enum(DTYPE_NAMES).describe("FORMAT.md §3."),
  shape: z.array(size).describe("Dimensions; [] is a 0-d scalar."),
  order: z.enum(ORDERS),
  byteOrder: z.enum(BYTE_ORDERS),
  codec: z.enum(CODECS).optional().describe('FORMAT.md §5; absent means "none".'),
  offset: size.describe("Start of the stored payload, relative to the data section."),
  byteLength: size.describe("Length of the stored payload."),
};

function headerFieldsOf<Entry extends z.ZodType>(entry: Entry) {
  return {
    alignment,
    checksum: z.enum(CHECKSUMS),
    dataLength: size,
    metadata: z.record(z.string(), z.unknown()).describe("Any JSON object given by the user."),
    arrays: z.array(entry),
  };
}

/** §2.3, a file whose minor version the reader knows: unknown keys are errors. */
export const strictHeaderSchema = z
  .strictObject(headerFieldsOf(z.strictObject(entryFields)))
  .meta({ title: "ndpack header", description: "FORMAT.md §2: the JSON object stored in an ndpack file's header." });

/** §2.3, a file of a newer minor version: unknown keys are ignored. */
export const lenientHeaderSchema = z.object(headerFieldsOf(z.object(entryFields)));

/** The header of an ndpack file (FORMAT.md §2.2). */
export type Header = z.infer<typeof strictHeaderSchema>;

/** One array entry of a header (FORMAT.md §2.2). */
export type HeaderEntry = Header["arrays"][number];

const TOP_KEYS = ["alignment", "checksum", "dataLength", "metadata", "arrays"] as const;
const ENTRY_KEYS = ["name", "dtype", "shape", "order", "byteOrder", "offset", "byteLength"] as const;

function isSize(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** True when `value` has exactly `keys` (plus `optional`) as its own keys, or at least them when `lenient`. */
function hasKeys(value: Record<string, unknown>, keys: readonly string[], optional: string | undefined, lenient: boolean): boolean {
  for (const key of keys) if (!Object.hasOwn(value, key)) return false;
  if (lenient) return true;
  let count = 0;
  for (const key in value) if (Object.hasOwn(value, key)) count++;
  return count === keys.length + (optional !== undefined && Object.hasOwn(value, optional) ? 1 : 0);
}

function isEntry(value: unknown, lenient: boolean): boolean {
  if (!isPlainObject(value) || !hasKeys(value, ENTRY_KEYS, "codec", lenient)) return false;
  const { name, dtype, shape, order, byteOrder, codec, offset, byteLength } = value;
  return (
    typeof name === "string" &&
    name.length > 0 &&
    (DTYPE_NAMES as readonly unknown[]).includes(dtype) &&
    Array.isArray(shape) &&
    shape.every(isSize) &&
    (ORDERS as readonly unknown[]).includes(order) &&
    (BYTE_ORDERS as readonly unknown[]).includes(byteOrder) &&
    (codec === undefined || (CODECS as readonly unknown[]).includes(codec)) &&
    isSize(offset) &&
    isSize(byteLength)
  );
}

/**
 * A fast acceptance test for the header schemas: true only when the schema (strict, or lenient for
 * a newer minor version) would accept `value`. It exists because zod spends about a microsecond
 * per entry, which dominates reading a file of many small arrays; when it says false, the reader
 * asks zod, which stays the single authority on what is wrong. test/schema.test.ts checks that the
 * two agree.
 */
export function isCertainlyValidHeader(value: unknown, lenient: boolean): value is Header {
  if (!isPlainObject(value) || !hasKeys(value, TOP_KEYS, undefined, lenient)) return false;
  const { alignment, checksum, dataLength, metadata, arrays } = value;
  return (
    isSize(alignment) &&
    alignment >= MIN_ALIGNMENT &&
    alignment <= MAX_ALIGNMENT &&
    (alignment & (alignment - 1)) === 0 &&
    (CHECKSUMS as readonly unknown[]).includes(checksum) &&
    isSize(dataLength) &&
    isPlainObject(metadata) &&
    Array.isArray(arrays) &&
    arrays.every((entry) => isEntry(entry, lenient))
  );
}
