/**
 * `ndpack show FILE [NAME]`: an array (the file's only one when NAME is left out) as numpy prints it (the edges of large arrays, the
 * middle elided), and a summary: element count, min, max, mean and standard deviation of the finite
 * values, and the number of NaN and infinite elements. The array is read once, chunk by chunk.
 *
 * @module
 */
import type { Dtype } from "../dtypes.js";
import { usageError, withFile } from "./errors.js";
import { chunksOf, entriesOf, entryOf, openFile, type ArrayEntry } from "./formats.js";
import { displayName, formatBytes, formatShape, print, toJson } from "./output.js";
import type { CliLimits } from "./limits.js";
import { formatPreview, formatStatistic, formatValue, kindOf, planPreview, PreviewCollector, SummaryBuilder, type PartSummary, type Summary } from "./values.js";

/** Options of `ndpack show`. */
export interface ShowOptions extends CliLimits {
  readonly json?: boolean;
  readonly voidDtype?: Dtype;
}

/** The dtype in which a summary's numbers are printed: the parts of complex numbers are floats. */
function partDtype(dtype: Dtype): Dtype {
  return dtype === "complex64" ? "float32" : dtype === "complex128" ? "float64" : dtype;
}

function formatPart(dtype: Dtype, part: PartSummary): string {
  if (part.min === undefined) return "no finite values";
  const value = (v: number | bigint) => formatValue(partDtype(dtype), typeof v === "bigint" ? v : v);
  return `min ${value(part.min)}  max ${value(part.max!)}  mean ${formatStatistic(part.mean!)}  std ${formatStatistic(part.std!)}`;
}

/** The summary line(s) of `show`. */
function formatSummary(dtype: Dtype, summary: Summary): string {
  const kind = kindOf(dtype);
  const count = `count ${summary.count}`;
  if (summary.count === 0) return `${count} (empty)`;
  if (kind === "bool") return `${count}  true ${summary.trues}  false ${summary.count - summary.trues!}  mean ${formatStatistic(summary.mean!)}`;
  const special = kind === "float" || kind === "complex" ? `  NaN ${summary.nan}  Inf ${summary.inf}` : "";
  if (kind === "complex") return `${count}${special}\nreal: ${formatPart(dtype, summary.real!)}\nimag: ${formatPart(dtype, summary.imag!)}`;
  const part = formatPart(dtype, summary);
  return `${count}  ${part}${special}`;
}

/** A line describing an array: dtype, shape, order, byte order, size and storage. */
function describeEntry(entry: ArrayEntry): string {
  const stored = entry.codec === "none" ? "" : `, stored ${entry.codec} in ${formatBytes(entry.byteLength)}`;
  const byteOrder = entry.dtype === "bool" || entry.dtype.endsWith("int8") || entry.dtype.startsWith("float8") ? "" : `, ${entry.byteOrder}-endian`;
  return `${displayName(entry.name)}: ${entry.dtype} ${formatShape(entry.shape)}, ${entry.order} order${byteOrder}, ${formatBytes(entry.nbytes)}${stored}`;
}

/** The array of a file that holds exactly one, for `show FILE` without a name; otherwise a usage error listing the names. */
function onlyArray(arrays: readonly ArrayEntry[], path: string): ArrayEntry {
  if (arrays.length === 1) return arrays[0]!;
  const shown = arrays.slice(0, 5).map((a) => displayName(a.name)).join(", ");
  const more = arrays.length > 5 ? ` and ${arrays.length - 5} more` : "";
  throw usageError(arrays.length === 0 ? `${path} holds no arrays` : `${path} holds ${arrays.length} arrays: name the one to show (${shown}${more})`, "name");
}

/** Runs `ndpack show`; returns the exit code. Without a name, shows the file's only array. */
export async function showCommand(path: string, name: string | undefined, options: ShowOptions): Promise<number> {
  const { entry, summary, preview } = await withFile(path, async () => {
    const file = await openFile(path, options);
    try {
      const entry = name === undefined ? onlyArray(entriesOf(file), path) : entryOf(file, name);
      const plan = planPreview(entry.shape, entry.order);
      const collector = new PreviewCollector(plan, entry.dtype);
      const summary = new SummaryBuilder(entry.dtype);
      for await (const chunk of chunksOf(file, entry.name)) {
        summary.add(chunk);
        collector.add(chunk);
      }
      return { entry, summary: summary.result(), preview: formatPreview(plan, entry.dtype, collector.values) };
    } finally {
      await file.close();
    }
  });
  if (options.json) {
    const { name: arrayName, dtype, shape, order, byteOrder, codec, nbytes, byteLength, offset } = entry;
    print(toJson({ file: path, name: arrayName, dtype, shape, order, byteOrder, codec, nbytes, byteLength, offset, summary, preview }));
  } else {
    print(describeEntry(entry));
    print(preview);
    print(formatSummary(entry.dtype, summary));
  }
  return 0;
}
