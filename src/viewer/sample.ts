/**
 * Which rows the page reads of an array too large to read whole: at most a byte budget, in a
 * bounded number of reads (runs of consecutive rows) spread evenly over the first axis, so the
 * heatmap, the line plot and the statistics see the whole array at a lower resolution instead of
 * only its first rows. Pure, so the tests check the bounds in Node.
 *
 * @module
 */
import type { ArrayInfo, NdArray } from "../decode.js";

/** Most reads (HTTP requests, for a URL) one sample takes. */
export const MAX_SAMPLE_READS = 64;

/** Runs of rows to read, and the original index of each row read, in order. */
export interface RowSample {
  readonly runs: readonly { readonly start: number; readonly end: number }[];
  readonly rows: readonly number[];
}

/**
 * The sample of `info` within `budget` bytes: undefined when the whole array fits (read it whole),
 * a string saying why when no sample can be read by rows (compressed, F-order N-D, one row over budget).
 */
export function planRowSample(info: ArrayInfo, budget: number, maxReads = MAX_SAMPLE_READS): RowSample | undefined | string {
  if (info.nbytes <= budget || info.shape.length === 0) return undefined;
  if (info.codec !== "none") return `it is stored ${info.codec}: its rows cannot be read alone`;
  if (info.order === "F" && info.shape.length > 1) return "it is in F order: its rows are not contiguous";
  const total = info.shape[0]!;
  const rowBytes = info.nbytes / total;
  const fit = Math.floor(budget / rowBytes);
  if (fit < 1) return "one of its rows is larger than that";
  const reads = Math.min(maxReads, fit);
  const length = Math.floor(fit / reads);
  const runs: { start: number; end: number }[] = [];
  const rows: number[] = [];
  for (let k = 0; k < reads; k++) {
    // Run k starts k/reads of the way through, the last one ending at the last row.
    const start = Math.round((k * (total - length)) / Math.max(1, reads - 1));
    runs.push({ start, end: start + length });
    for (let row = start; row < start + length; row++) rows.push(row);
  }
  return { runs, rows };
}

/** The rows read, as one array of shape `[rows, ...rest]` (runs in order). */
export function joinRows(info: ArrayInfo, parts: readonly NdArray[]): NdArray {
  const first = parts[0]!;
  const Ctor = first.data.constructor as new (length: number) => NdArray["data"];
  const data = new Ctor(parts.reduce((n, part) => n + part.data.length, 0));
  let at = 0;
  for (const part of parts) {
    (data as unknown as { set(source: ArrayLike<unknown>, at: number): void }).set(part.data as ArrayLike<unknown>, at);
    at += part.data.length;
  }
  const rows = parts.reduce((n, part) => n + part.shape[0]!, 0);
  return { ...info, shape: [rows, ...info.shape.slice(1)], data, copied: true, nbytes: data.byteLength } as NdArray;
}
