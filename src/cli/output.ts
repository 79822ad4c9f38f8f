/**
 * What the commands print: aligned tables, sizes for people, shapes, JSON for scripts, and the
 * standard output stream that a closed pipe (`ndpack show ... | head`) ends quietly.
 *
 * Nothing a file holds reaches the terminal raw. Names, metadata and messages come from files that
 * may be hostile, and a terminal obeys the control characters in them: ESC and OSC sequences
 * change the window title or erase lines, CR and VT rewrite a line (forging an "all checks passed"),
 * bidirectional overrides reorder what is shown. So, as `ls` and `git` do, `escapeControls`
 * (src/text.ts, which the viewer page shares) shows each of them as an escape (`\u001b`, `\r`,
 * `\u202e`), names that hold one are quoted (`displayName`), `--json` output escapes them in JSON's
 * own way (so it stays exact JSON), and {@link print} and {@link printError} pass every line through
 * `escapeControls` as a last guard.
 *
 * @module
 */
import { bigintsAsStrings, escapeControls, escapeJsonControls } from "../text.js";

export { displayName, escapeControls, previewJson, toJson } from "../text.js";

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

let stdoutClosed = false;
/** Why standard output could not be written, other than a closed pipe (a full disk: `> /dev/full`; EIO). */
let stdoutFailure: Error | undefined;

/**
 * Makes a closed pipe on standard output end the program quietly instead of with an error, and any
 * other write failure the command's failure, which `main` reports as one line (rethrown here, it
 * was an uncaught exception: a stack trace).
 */
export function handleClosedStdout(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    stdoutClosed = true;
    if (error.code !== "EPIPE") stdoutFailure ??= error;
  });
}

/** The failure to write standard output, if any; a file's write fails at once, and its error is emitted only on the next tick (so `errored` too). */
export function stdoutError(): Error | undefined {
  const errored = process.stdout.errored as NodeJS.ErrnoException | null;
  return stdoutFailure ?? (errored !== null && errored.code !== "EPIPE" ? errored : undefined);
}

/** Each line of `text` with its controls escaped: the lines a command meant, and nothing a file slipped in. */
function terminalLines(text: string): string {
  return text.split("\n").map(escapeControls).join("\n") + "\n";
}

/** Writes a line (or several) to standard output. */
export function print(text = ""): void {
  if (!stdoutClosed) process.stdout.write(terminalLines(text));
}

/** Writes a line (or several) to standard error. */
export function printError(text: string): void {
  process.stderr.write(terminalLines(text));
}

/** Characters of a long string written at a time by {@link printJson}. */
const JSON_SLICE_CHARS = 1 << 20;

/** JSON.stringify of a string, slice by slice, cut where no surrogate pair is split: the same text, in pieces. */
function* jsonStringPieces(text: string): Generator<string> {
  if (text.length <= JSON_SLICE_CHARS) {
    yield JSON.stringify(text);
    return;
  }
  yield '"';
  for (let at = 0; at < text.length; ) {
    let end = Math.min(at + JSON_SLICE_CHARS, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    yield JSON.stringify(text.slice(at, end)).slice(1, -1);
    at = end;
  }
  yield '"';
}

/**
 * True for a value small enough to write with one `JSON.stringify` (an array's row of a report, a
 * shape): short strings, other primitives, and containers of at most 64 such values, two levels
 * deep. Writing those natively keeps `inspect --json` of 10^5 arrays as fast as one JSON.stringify.
 */
function isSmallJson(value: unknown, depth = 0): boolean {
  if (typeof value === "string") return value.length <= 4096;
  if (typeof value !== "object" || value === null) return true;
  if (depth >= 2) return false;
  const items = Array.isArray(value) ? value : Object.values(value);
  return items.length <= 64 && items.every((item) => isSmallJson(item, depth + 1));
}

/** The text of `JSON.stringify(value, null, indent)` (bigints as strings, as {@link toJson} writes them), piece by piece; `gap` is the current line's indentation. */
function* jsonPieces(value: unknown, indent: string, gap: string): Generator<string> {
  if (typeof value === "bigint") value = value.toString();
  if (typeof value === "string") return yield* jsonStringPieces(value);
  if (typeof value !== "object" || value === null) return yield String(JSON.stringify(value) ?? "null");
  // Raw line breaks in JSON.stringify's output are only its own (strings hold them escaped).
  if (isSmallJson(value)) return yield JSON.stringify(value, bigintsAsStrings, indent).replaceAll("\n", `\n${gap}`);
  const inner = gap + indent;
  const newline = indent === "" ? "" : `\n${inner}`;
  if (Array.isArray(value)) {
    if (value.length === 0) return yield "[]";
    for (let i = 0; i < value.length; i++) {
      yield `${i === 0 ? "[" : ","}${newline}`;
      const item: unknown = value[i];
      yield* item === undefined || typeof item === "function" || typeof item === "symbol" ? ["null"] : jsonPieces(item, indent, inner);
    }
    return yield `${indent === "" ? "" : `\n${gap}`}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((key) => record[key] !== undefined && typeof record[key] !== "function" && typeof record[key] !== "symbol");
  if (keys.length === 0) return yield "{}";
  for (const [i, key] of keys.entries()) {
    yield `${i === 0 ? "{" : ","}${newline}`;
    yield* jsonStringPieces(key);
    yield indent === "" ? ":" : ": ";
    yield* jsonPieces(record[key], indent, inner);
  }
  yield `${indent === "" ? "" : `\n${gap}`}}`;
}

/** Bytes gathered before each write of {@link printJson}. */
const JSON_WRITE_CHARS = 1 << 20;

/**
 * Prints exactly what `print(toJson(value))` prints, written as it is made, a megabyte at a time
 * with the stream's backpressure: metadata of hundreds of megabytes (a header may hold a 99 MiB
 * string) is never held as one text.
 */
export async function printJson(value: unknown): Promise<void> {
  let batch = "";
  const flush = async () => {
    if (stdoutClosed || batch === "") return;
    const ready = process.stdout.write(escapeJsonControls(batch));
    batch = "";
    if (ready || stdoutClosed) return;
    // A pipe closed meanwhile never drains: its error or close ends the wait too.
    await new Promise<void>((resolve) => {
      const done = () => {
        for (const event of ["drain", "error", "close"]) process.stdout.off(event, done);
        resolve();
      };
      for (const event of ["drain", "error", "close"]) process.stdout.once(event, done);
    });
  };
  for (const piece of jsonPieces(value, "  ", "")) {
    batch += piece;
    if (batch.length >= JSON_WRITE_CHARS) await flush();
  }
  batch += "\n";
  await flush();
}
