/**
 * `ndpack inspect FILE`: what a file holds, from its headers only: the format, version, size,
 * alignment, checksum and metadata, and a table of its arrays (name, dtype, shape, order, byte
 * order, bytes, offset, codec, checksum). `--json` prints the same as one JSON object.
 *
 * @module
 */
import type { Dtype } from "../dtypes.js";
import { withFile } from "./errors.js";
import type { NdpackReader } from "../reader.js";
import type { CliLimits } from "./limits.js";
import { entriesOf, formatLabel, isSet, openFile, versionOf, type FileFormat } from "./formats.js";
import { displayName, escapeControls, formatBytes, formatShape, formatTable, previewJson, print, printJson } from "./output.js";

/** Options of `ndpack inspect`. */
export interface InspectOptions extends CliLimits {
  readonly json?: boolean;
  readonly voidDtype?: Dtype;
}

/** What `inspect --json` prints. */
export interface InspectReport {
  readonly file: string;
  readonly format: string;
  readonly version: string | null;
  /** File size in bytes. */
  readonly size: number;
  readonly alignment: number | null;
  readonly checksum: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly arrays: readonly {
    readonly name: string;
    readonly dtype: string;
    readonly shape: readonly number[];
    readonly order: string;
    readonly byteOrder: string;
    /** Decoded size in bytes. */
    readonly nbytes: number;
    /** Stored size in bytes (compressed size for a codec). */
    readonly byteLength: number;
    /** Where the stored bytes start in the file. */
    readonly offset: number;
    readonly codec: string;
    readonly checksum: string;
    /** For a set: the shard holding the array (its `offset` is in that shard). */
    readonly shard?: string;
  }[];
  /** For a set: its shards, in index order, with their byte lengths. */
  readonly shards?: readonly { readonly name: string; readonly format: string; readonly size: number | null; readonly arrays: number }[];
  /** Bytes of the file read to produce this report. */
  readonly bytesRead: number;
}

/** The report of an opened file. */
function inspectReport(path: string, file: NdpackReader): InspectReport {
  return {
    file: path,
    format: file.format,
    version: versionOf(file) ?? null,
    size: file.byteLength,
    alignment: file.format === "ndpack" && !isSet(file) ? file.alignment : null,
    checksum: file.checksum,
    metadata: file.metadata,
    arrays: entriesOf(file).map((a) => ({
      name: a.name,
      dtype: a.dtype,
      shape: a.shape,
      order: a.order,
      byteOrder: a.byteOrder,
      nbytes: a.nbytes,
      byteLength: a.byteLength,
      offset: a.offset,
      codec: a.codec,
      checksum: a.checksum,
      ...(isSet(file) ? { shard: file.index.shardOf.get(a.name)!.name } : {}),
    })),
    ...(isSet(file) ? { shards: file.index.shards.map((shard) => ({ name: shard.name, format: shard.format, size: file.shardLength(shard.name) ?? null, arrays: shard.arrays.length })) } : {}),
    bytesRead: file.bytesRead,
  };
}

/** The report as text. */
function formatInspectReport(report: InspectReport): string {
  const lines: string[] = [];
  const format = formatLabel(report.format as FileFormat);
  const count = `${report.arrays.length} ${report.arrays.length === 1 ? "array" : "arrays"}`;
  const what = report.shards === undefined ? `${format}${report.version === null ? "" : ` ${report.version}`}` : `set of ${report.shards.length} ${report.shards.length === 1 ? "shard" : "shards"} (${[...new Set(report.shards.map((shard) => formatLabel(shard.format as FileFormat)))].join(", ") || "none"})`;
  lines.push(`${escapeControls(report.file)}: ${what}, ${count}, ${formatBytes(report.size)}${report.size >= 1024 ? ` (${report.size} bytes)` : ""}`);
  const details = [report.alignment === null ? undefined : `alignment ${report.alignment}`, `checksum ${report.checksum}`].filter((d) => d !== undefined);
  lines.push(details.join(", "));
  const metadata = previewJson(report.metadata, 0);
  lines.push(`metadata ${metadata.length > 100 ? previewJson(report.metadata) : metadata}`);
  if (report.shards !== undefined && report.shards.length > 0) {
    const columns = [{ title: "shard" }, { title: "format" }, { title: "bytes", right: true }, { title: "arrays", right: true }];
    lines.push("", formatTable(columns, report.shards.map((shard) => [shard.name, shard.format, shard.size === null ? "" : String(shard.size), String(shard.arrays)])));
  }
  if (report.arrays.length > 0) {
    const compressed = report.arrays.some((a) => a.codec !== "none");
    const columns = [
      { title: "name" },
      { title: "dtype" },
      { title: "shape" },
      { title: "order" },
      { title: "byte order" },
      { title: "bytes", right: true },
      ...(compressed ? [{ title: "stored", right: true }] : []),
      { title: "offset", right: true },
      { title: "codec" },
      { title: "checksum" },
      ...(report.shards === undefined ? [] : [{ title: "shard" }]),
    ];
    const rows = report.arrays.map((a) => [
      displayName(a.name),
      a.dtype,
      formatShape(a.shape),
      a.order,
      a.byteOrder,
      String(a.nbytes),
      ...(compressed ? [String(a.byteLength)] : []),
      String(a.offset),
      a.codec,
      a.checksum,
      ...(a.shard === undefined ? [] : [a.shard]),
    ]);
    lines.push("", formatTable(columns, rows));
  }
  return lines.join("\n");
}

/** Runs `ndpack inspect`; returns the exit code. */
export async function inspectCommand(path: string, options: InspectOptions): Promise<number> {
  const report = await withFile(path, async () => {
    const file = await openFile(path, options);
    try {
      return inspectReport(path, file);
    } finally {
      await file.close();
    }
  });
  if (options.json) await printJson(report);
  else print(formatInspectReport(report));
  return 0;
}
