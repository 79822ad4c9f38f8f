/**
 * What a file holds, as text for people: the command line's output (cli/output.ts) and the viewer
 * page (viewer/main.ts) show names, metadata and messages through these. Browser-safe.
 *
 * Those strings come from files that may be hostile, and control characters in them act instead of
 * showing: a terminal obeys ESC and OSC sequences (changing the window title, erasing lines) and CR
 * and VT (rewriting a line, forging an "all checks passed"); a terminal and a web page alike
 * reorder text around the bidirectional marks, embeddings, overrides and isolates (an array named
 * `a\u202egnp.exe` reads `aexe.png`, and a page's text after it reads backwards); a page shows a line
 * feed, a tab or a NUL as a space or as nothing. So, as `ls` and `git` do, {@link escapeControls}
 * shows each of them as an escape (`\u001b`, `\r`, `\u202e`), names that hold one are quoted
 * ({@link displayName}), and JSON is written with them escaped ({@link toJson}, {@link previewJson}).
 *
 * @module
 */

/** Controls besides C0 (which JSON escapes itself): DEL, the C1 controls, and the bidirectional marks, embeddings, overrides and isolates. */
const NON_C0_CONTROLS = "\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069";
/** Every character that acts instead of showing: C0 (U+0000 to U+001F) and {@link NON_C0_CONTROLS}. */
const CONTROLS = new RegExp(`[\\u0000-\\u001f${NON_C0_CONTROLS}]`, "g");
const CONTROLS_JSON_LEAVES = new RegExp(`[${NON_C0_CONTROLS}]`, "g");
const HOLDS_CONTROL = new RegExp(CONTROLS.source);
const SHORT_ESCAPES: Readonly<Record<string, string>> = { "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r" };

/** A control character as JSON writes it: `\n`, `\r`, `\t`, `\b`, `\f`, else `\u` and four hex digits. */
function escapeControl(c: string): string {
  return SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/**
 * `text` with every control character (C0 controls including CR and LF, DEL, C1 controls,
 * bidirectional marks and overrides) shown as its JSON escape; the rest as it is.
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, escapeControl);
}

/** JSON text (whose C0 controls JSON.stringify escaped) with the controls it leaves raw (DEL, C1, bidirectional) escaped too. */
export function escapeJsonControls(json: string): string {
  return json.replace(CONTROLS_JSON_LEAVES, escapeControl);
}

/** JSON.stringify's replacer for `--json`: bigints as strings (JSON has no 64-bit integers). */
export const bigintsAsStrings = (_key: string, v: unknown): unknown => (typeof v === "bigint" ? v.toString() : v);

/**
 * JSON for `--json`: two-space indented (or on one line with `indent` 0), bigints as strings (JSON
 * has no 64-bit integers), and the controls JSON.stringify leaves raw (DEL, C1, bidirectional) as
 * `\u` escapes: the same JSON value, safe on a terminal and on a page.
 */
export function toJson(value: unknown, indent = 2): string {
  return escapeJsonControls(JSON.stringify(value, bigintsAsStrings, indent));
}

/** An array name as shown: as it is, or JSON-quoted (controls escaped) when it holds a control character or edge spaces. */
export function displayName(name: string): string {
  return HOLDS_CONTROL.test(name) || /^\s|\s$/.test(name) ? toJson(name) : name;
}

/** Characters of a string or key that text output shows (`inspect`, `diff`, the viewer's metadata); the rest is summarised. */
const PREVIEW_CHARS = 200;

/**
 * {@link toJson} of `value` for people: strings and keys longer than {@link PREVIEW_CHARS} shown as
 * their start and how long they are (`"xxxx…" (+103809024 characters)`), so that a 99 MiB string
 * in the metadata costs a line, not hundreds of megabytes of text. Not JSON when something is cut;
 * `--json` prints everything (`printJson` of cli/output.ts).
 */
export function previewJson(value: unknown, indent = 2): string {
  const cuts: string[] = [];
  // Cut parts become placeholders, written back as the marker once JSON.stringify has run; a
  // random tag keeps any string of the file from posing as one.
  const tag = Math.random().toString(36).slice(2);
  const cut = (text: string) => {
    cuts.push(`${toJson(text.slice(0, PREVIEW_CHARS) + "…")} (+${text.length - PREVIEW_CHARS} characters)`);
    return `\ue000${tag}:${cuts.length - 1}\ue000`;
  };
  const shorten = (v: unknown): unknown => {
    if (typeof v === "string") return v.length > PREVIEW_CHARS ? cut(v) : v;
    if (typeof v !== "object" || v === null) return v;
    if (Array.isArray(v)) return v.map(shorten);
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v)) Object.defineProperty(out, key.length > PREVIEW_CHARS ? cut(key) : key, { value: shorten((v as Record<string, unknown>)[key]), enumerable: true });
    return out;
  };
  const text = toJson(shorten(value), indent);
  if (cuts.length === 0) return text;
  return text.replace(new RegExp(`"\ue000${tag}:(\\d+)\ue000"`, "g"), (_, index: string) => cuts[Number(index)]!);
}
