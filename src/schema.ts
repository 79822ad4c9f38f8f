/**
 * The header's shape (FORMAT.md §2.2) as a zod schema: the single source of the header's types, of
 * `spec/header.schema.json` (which `scripts/generate-schema.ts` derives from it) and, through that
 * file, of the structural validation readers run (§9 step 8, src/structure.ts). Only scripts and
 * tests import this module's values; the library imports its types, so no reader loads zod.
 *
 * @module
 */
import { z } from "zod";
import { DTYPE_NAMES } from "./dtypes.js";
import { BYTE_ORDERS, CHECKSUMS, CODECS, MAX_ALIGNMENT, MAX_SAFE_SIZE, MIN_ALIGNMENT, ORDERS } from "./format.js";

const size = z.int().min(0).max(MAX_SAFE_SIZE);

/** The powers of two from MIN_ALIGNMENT to MAX_ALIGNMENT, listed so that the JSON Schema states them too. */
const ALIGNMENTS: number[] = [];
for (let value = MIN_ALIGNMENT; value <= MAX_ALIGNMENT; value *= 2) ALIGNMENTS.push(value);

// An integer, as every other number of the header: zod types a literal of numbers "number".
const alignment = z.literal(ALIGNMENTS).meta({ type: "integer", description: "Every payload starts at a file offset that is a multiple of this power of two." });

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
  .meta({
    title: "ndpack header",
    description:
      "FORMAT.md §2: the JSON object stored in an ndpack file's header, as a reader of file format 1.0 checks it (§9 step 8); a file of a newer minor version may hold keys it lacks, which readers ignore (§2.3). It checks values, not how they are written: the number rules of §2.1 (8.0 and 8e0 are BAD_NUMBER where an integer is required) apply to the header's text, before this schema (§9 step 7).",
  });

/** §2.3, a file of a newer minor version: unknown keys are ignored. */
export const lenientHeaderSchema = z.object(headerFieldsOf(z.object(entryFields)));

/** The header of an ndpack file (FORMAT.md §2.2). */
export type Header = z.infer<typeof strictHeaderSchema>;

/** One array entry of a header (FORMAT.md §2.2). */
export type HeaderEntry = Header["arrays"][number];
