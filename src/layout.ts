/**
 * Where payloads go (FORMAT.md §4): the writer places records with {@link nextRecordOffset}, and
 * the reader checks each entry against the same function, so the two cannot drift apart.
 *
 * @module
 */
import { NdpackError } from "./errors.js";
import { alignUp, PREAMBLE_SIZE } from "./format.js";

/** §4: start of the data section, for a header of `headerLength` bytes. */
export function dataSectionStart(headerLength: number, alignment: number): number {
  return alignUp(PREAMBLE_SIZE + headerLength, alignment);
}

/** §4: offset of the record that follows a record ending at `previousEnd` (0 for the first record). */
export function nextRecordOffset(previousEnd: number, alignment: number): number {
  return alignUp(previousEnd, alignment);
}

/** Offsets and data length for records of the given stored lengths: the writer's side of §4. */
export function placeRecords(
  byteLengths: readonly number[],
  alignment: number,
  checksumSize: number,
): { offsets: number[]; dataLength: number } {
  const offsets: number[] = [];
  let end = 0;
  for (const byteLength of byteLengths) {
    const offset = nextRecordOffset(end, alignment);
    offsets.push(offset);
    end = offset + byteLength + checksumSize;
  }
  if (!Number.isSafeInteger(end)) {
    throw new NdpackError("INVALID_ARGUMENT", "the arrays add up to more than 2^53-1 bytes");
  }
  return { offsets, dataLength: end };
}

/** The reader's side of §4 for one entry (§9 steps 15 to 18); returns the record's end. */
export function checkRecordPlacement(
  entry: { name: string; offset: number; byteLength: number },
  index: number,
  previousEnd: number,
  layout: { alignment: number; checksumSize: number; dataLength: number },
): number {
  const field = `arrays[${index}].offset`;
  const { offset } = entry;
  const details = { array: entry.name, field, actual: offset };
  if (offset % layout.alignment !== 0) {
    throw new NdpackError("MISALIGNED", `array "${entry.name}": offset ${offset} is not a multiple of the alignment ${layout.alignment}`, { ...details, expected: nextRecordOffset(previousEnd, layout.alignment) });
  }
  const expected = nextRecordOffset(previousEnd, layout.alignment);
  if (offset < previousEnd) {
    throw new NdpackError("OVERLAP", `array "${entry.name}": offset ${offset} overlaps the previous record, which ends at ${previousEnd}`, { ...details, expected });
  }
  if (offset > expected) {
    throw new NdpackError("GAP", `array "${entry.name}": offset ${offset} leaves unaccounted bytes; the record must start at ${expected}`, { ...details, expected });
  }
  const end = offset + entry.byteLength + layout.checksumSize;
  if (end > layout.dataLength) {
    throw new NdpackError("OUT_OF_BOUNDS", `array "${entry.name}": its record ends at ${end}, past the data section's length ${layout.dataLength}`, { ...details, field: `arrays[${index}].byteLength`, expected: layout.dataLength, actual: end });
  }
  return end;
}
