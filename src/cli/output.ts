/**
 * What the commands print: aligned tables, sizes for people, shapes, JSON for scripts, and the
 * standard output stream that a closed pipe (`ndpack show ... | head`) ends quietly.
 *
 * @module
 */

/** A column of {@link formatTable}. */
export interface Column {
  readonly title: string;
  /** Right-align (numbers). */
  readonly right?: boolean;
}

/** Rows under a header line, each column as wide as its widest cell, two spaces apart. */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  // A loop, not Math.max(...cells): spreading 300,000 rows as arguments overflows the stack.
  const widths = columns.map((column) => column.title.length);
  for (const row of rows) for (let i = 0; i < widths.length; i++) widths[i] = Math.max(widths[i]!, [...row[i]!].length);
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => {
        const pad = widths[i]! - [...cell].length;
        return columns[i]!.right ? " ".repeat(pad) + cell : cell + " ".repeat(pad);
      })
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.title)), ...rows.map(line)].join("\n");
}

const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** `1536` as `1.5 KiB`; small sizes exactly (`12 bytes`). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} ${bytes === 1 ? "byte" : "bytes"}`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${UNITS[unit]}`;
}

/** `[2, 3]`; `[]` for a 0-d array. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** JSON for `--json`: two-space indented, bigints as strings (JSON has no 64-bit integers). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2);
}

let stdoutClosed = false;

/** Makes a closed pipe on standard output end the program quietly instead of with an error. */
export function handleClosedStdout(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") {
      stdoutClosed = true;
      return;
    }
    throw error;
  });
}

/** Writes a line (or several) to standard output. */
export function print(text = ""): void {
  if (!stdoutClosed) process.stdout.write(text + "\n");
}

/** An array name as printed: as it is, or JSON-quoted when it holds control characters or edge spaces. */
export function displayName(name: string): string {
  return /[\u0000-\u001f\u007f-\u009f]|^\s|\s$/.test(name) ? JSON.stringify(name) : name;
}
