/**
 * A progress bar on standard error for the commands that copy arrays (`convert`, `pack`,
 * `extract`). By default it is shown only when standard error is a terminal and the input is large
 * ({@link LARGE_INPUT_BYTES} or more), so scripts and pipes see nothing; `--progress` and
 * `--no-progress` decide it explicitly.
 *
 * @module
 */
import { escapeControls, formatBytes } from "./output.js";

/** Inputs from this size on get a progress bar on a terminal. */
export const LARGE_INPUT_BYTES = 64 << 20;

/** Redraws at most this often. */
const REDRAW_MS = 100;

/** Progress over a known number of bytes. */
export interface Progress {
  /** `bytes` more are done. */
  advance(bytes: number): void;
  /** Finishes the bar (draws it at 100% and ends its line). */
  done(): void;
  /** Ends the bar's line where it stands, so that an error message starts on a line of its own. */
  stop(): void;
}

const SILENT: Progress = { advance() {}, done() {}, stop() {} };

/**
 * A progress bar for `total` bytes of `inputBytes` input: shown when `enabled` is true, or, when it
 * is `undefined`, when standard error is a terminal and the input is large.
 */
export function createProgress(rawLabel: string, total: number, inputBytes: number, enabled: boolean | undefined): Progress {
  const stream = process.stderr;
  const label = escapeControls(rawLabel);
  const show = enabled ?? (stream.isTTY === true && inputBytes >= LARGE_INPUT_BYTES);
  if (!show) return SILENT;
  const started = Date.now();
  let done = 0;
  let drawn = 0;
  const draw = (final: boolean) => {
    const now = Date.now();
    if (!final && now - drawn < REDRAW_MS) return;
    drawn = now;
    const fraction = total === 0 ? 1 : Math.min(1, done / total);
    const seconds = Math.max((now - started) / 1000, 1e-3);
    const rate = `${formatBytes(Math.round(done / seconds))}/s`;
    const text = `${(fraction * 100).toFixed(0).padStart(3)}%  ${formatBytes(done)} of ${formatBytes(total)}  ${rate}`;
    // On a terminal the line fits its width (the label gives way first); elsewhere it is whole.
    const columns = stream.isTTY ? stream.columns || 80 : Infinity;
    const width = Math.max(10, Math.min(40, columns - 1 - text.length - 4 - Math.min(label.length, 20)));
    const filled = Math.round(fraction * width);
    const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${text}`;
    const room = columns - 1 - bar.length - 1;
    const name = label.length <= room ? label : room > 3 ? `...${label.slice(label.length - room + 3)}` : "";
    stream.write(`\r${name === "" ? bar : `${name} ${bar}`}${final ? "\n" : ""}`);
  };
  draw(false);
  return {
    advance(bytes: number) {
      done += bytes;
      draw(false);
    },
    done() {
      done = total;
      draw(true);
    },
    stop() {
      stream.write("\n");
    },
  };
}
