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
import { entriesOf, formatLabel, openFile, versionOf, type FileFormat } from "./formats.js";
import { displayName, escapeControls, formatBytes, formatShape, formatTable, print, toJson } from "./output.js";

/** Options of `ndpack inspect`. */
export interface InspectOptions {
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
  }[];
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
    alignment: file.format === "ndpack" ? file.alignment : null,
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
    })),
    bytesRead: file.bytesRead,
  };
}

/** The report as text. */
function formatInspectReport(report: InspectReport): string {
  const lines: string[] = [];
  const format = formatLabel(report.format as FileFormat);
  const count = `${report.arrays.length} ${report.arrays.length === 1 ? "array" : "arrays"}`;
  lines.push(`${escapeControls(report.file)}: ${format}${report.version === null ? "" : ` ${report.version}`}, ${count}, ${formatBytes(report.size)}${report.size >= 1024 ? ` (${report.size} bytes)` : ""}`);
  const details = [report.alignment === null ? undefined : `alignment ${report.alignment}`, `checksum ${report.checksum}`].filter((d) => d !== undefined);
  lines.push(details.join(", "));
  const metadata = toJson(report.metadata, 0);
  lines.push(`metadata ${metadata.length > 100 ? toJson(report.metadata) : metadata}`);
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
    ]);
    lines.push("", formatTable(columns, rows));
  }
  return lines.join("\n");
}

/** Runs `ndpack inspect`; returns the exit code. */
export async function inspectCommand(path: string, options: InspectOptions): Promise<number> {
  const report = await withFile(path, async () => {
    const file = await openFile(path, options.voidDtype === undefined ? {} : { voidDtype: options.voidDtype });
    try {
      return inspectReport(path, file);
    } finally {
      await file.close();
    }
  });
  print(options.json ? toJson(report) : formatInspectReport(report));
  return 0;
}
