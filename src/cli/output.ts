/**
 * What the commands print: aligned tables, sizes for people, shapes, JSON for scripts, and the
 * standard output stream that a closed pipe (`ndpack show ... | head`) ends quietly.
 *
 * Nothing a file holds reaches the terminal raw. Names, metadata and messages come from files that
 * may be hostile, and a terminal obeys the control characters in them: ESC and OSC sequences
 * change the window title or erase lines, CR and VT rewrite a line (forging an "all checks passed"),
 * bidirectional overrides reorder what is shown. So, as `ls` and `git` do, {@link escapeControls}
 * shows each of them as an escape (`\u001b`, `\r`, `\u202e`), names that hold one are quoted
 * ({@link displayName}), `--json` output escapes them in JSON's own way (so it stays exact JSON), and
 * {@link print} and {@link printError} pass every line through {@link escapeControls} as a last guard.
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

/** Terminal controls besides C0 (which JSON escapes itself): DEL, the C1 controls, and the bidirectional marks, embeddings, overrides and isolates. */
const NON_C0_CONTROLS = "\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069";
/** Every character a terminal acts on instead of showing: C0 (U+0000 to U+001F) and {@link NON_C0_CONTROLS}. */
const TERMINAL_CONTROLS = new RegExp(`[\\u0000-\\u001f${NON_C0_CONTROLS}]`, "g");
const CONTROLS_JSON_LEAVES = new RegExp(`[${NON_C0_CONTROLS}]`, "g");
const HOLDS_CONTROL = new RegExp(TERMINAL_CONTROLS.source);
const SHORT_ESCAPES: Readonly<Record<string, string>> = { "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r" };

/** A control character as JSON writes it: `\n`, `\r`, `\t`, `\b`, `\f`, else `\u` and four hex digits. */
function escapeControl(c: string): string {
  return SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/**
 * `text` with every character a terminal would act on (C0 controls including CR and LF, DEL, C1
 * controls, bidirectional marks and overrides) shown as its JSON escape; the rest as it is.
 */
export function escapeControls(text: string): string {
  return text.replace(TERMINAL_CONTROLS, escapeControl);
}

/**
 * JSON for `--json`: two-space indented (or on one line with `indent` 0), bigints as strings (JSON
 * has no 64-bit integers), and the controls JSON.stringify leaves raw (DEL, C1, bidirectional) as
 * `\u` escapes: the same JSON value, safe on a terminal.
 */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v), indent).replace(CONTROLS_JSON_LEAVES, escapeControl);
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

/** An array name as printed: as it is, or JSON-quoted (controls escaped) when it holds a terminal control or edge spaces. */
export function displayName(name: string): string {
  return HOLDS_CONTROL.test(name) || /^\s|\s$/.test(name) ? toJson(name) : name;
}
