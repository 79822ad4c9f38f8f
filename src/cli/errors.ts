/**
 * Errors on the command line: every failure becomes one line on standard error naming the file and
 * the problem, with the NdpackError code, and an exit code:
 *
 * | exit | meaning |
 * |-----:|---------|
 * | 0 | success (`verify`: every check holds; `diff`: no difference) |
 * | 1 | `diff` found a difference; or a failure that is not the input's fault: IO_ERROR, FILE_CHANGED, an HTTP failure (HTTP_ERROR, RANGE_NOT_SUPPORTED, TIMEOUT, ABORTED), an internal error |
 * | 2 | bad input: a file that is not valid (any format or checksum code), NOT_FOUND (no such array), INVALID_ARGUMENT (bad usage), NOT_REGULAR_FILE (an output path ndpack may not replace); a set with a missing shard or one that does not match its index |
 *
 * @module
 */
import { isNdpackError, NdpackError, type ErrorCode } from "../errors.js";
import { withoutQuery } from "../io/http.js";
import { SET_INDEX_SUFFIX } from "../set.js";
import { flagOf, LIMIT_OPTION_NAMES } from "./limits.js";
import { escapeControls, previewJson } from "./output.js";

/** Exit codes of the `ndpack` command. */
export const EXIT = { ok: 0, failure: 1, badInput: 2 } as const;

/** Codes that are not the input's fault: the command failed (exit 1). Every other code is bad input (exit 2). */
const FAILURE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["IO_ERROR", "FILE_CHANGED", "WRITE_SIZE", "CLOSED", "HTTP_ERROR", "RANGE_NOT_SUPPORTED", "TIMEOUT", "ABORTED"]);

/** The exit code for an error. */
export function exitCodeOf(error: unknown): number {
  const inner = error instanceof FileError ? error.error : error;
  if (!isNdpackError(inner)) return EXIT.failure;
  return !FAILURE_CODES.has(inner.code) || (error instanceof FileError && isBrokenShard(error.file, inner)) ? EXIT.badInput : EXIT.failure;
}

/**
 * True when `error`, met while reading the set whose index is `file` (a path or URL), says that one
 * of its shards is missing (ENOENT; HTTP 404) or is not the file the index describes (FORMAT.md
 * §12.3): the set is broken, which is bad input (exit 2), where the same codes for a file named on
 * the command line are not.
 */
function isBrokenShard(file: string, error: NdpackError): boolean {
  if (!new URL(file, "file:///").pathname.endsWith(SET_INDEX_SUFFIX)) return false;
  const about = error.path ?? error.url;
  if (about === undefined || about === file) return false;
  const cause = error.cause as { code?: unknown } | undefined;
  return (error.code === "IO_ERROR" && cause?.code === "ENOENT") || (error.code === "HTTP_ERROR" && error.status === 404) || (error.code === "FILE_CHANGED" && error.field?.startsWith("ndpack.shards") === true);
}

/** An error while working on one file: what was wrong, and with which file. */
export class FileError extends Error {
  constructor(
    readonly file: string,
    readonly error: unknown,
  ) {
    super(error instanceof Error ? error.message : String(error));
    this.name = "FileError";
  }
}

/** Runs `work` on `file`, so that whatever fails names that file. */
export async function withFile<T>(file: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw error instanceof FileError ? error : new FileError(file, error);
  }
}

/** A usage error (exit 2). */
export function usageError(message: string, field?: string): NdpackError {
  return new NdpackError("INVALID_ARGUMENT", message, field === undefined ? {} : { field });
}

/** Library option names that library messages mention, and the flags that set them on the command line. */
const FLAG_OF_OPTION: readonly (readonly [RegExp, string])[] = [
  [/\b(?:the )?voidDtype(?: option)?\b/g, "--void-dtype"],
  [/\b(?:the )?compressionLevel(?: option)?\b/g, "--level"],
  // Only the commands in FLAG_OF_SOME_COMMANDS have it; the others' lines are rewritten first.
  [/\b(?:the )?followSymlinks(?: option)?\b/g, "--follow-symlinks"],
  ...LIMIT_OPTION_NAMES.map((option) => [new RegExp(`\\b(?:the )?${option}(?: option)?\\b`, "g"), flagOf(option)] as const),
];

/**
 * Advice in library messages for library users that means nothing on the command line (which has
 * no way to take it), left out of the command line's lines.
 */
const LIBRARY_ADVICE: readonly RegExp[] = [
  // FileSource: a FIFO, directory or device given where a file is read.
  /; read pipes and sockets with decodeStream\b/g,
];

/**
 * Library options whose flag only some commands have (`writeFlags` in main.ts), the phrase of a
 * library message that offers the option, and what the line of a command without the flag says
 * instead (`command` is `ndpack <name>`).
 */
const FLAG_OF_SOME_COMMANDS: readonly { readonly commands: readonly string[]; readonly phrase: RegExp; readonly otherwise: (command: string) => string }[] = [
  // checkTarget (node/io.ts): `extract` never follows a link at DIR/<name>.npy.
  { commands: ["convert", "pack"], phrase: /\bndpack does not write through links unless asked \(the followSymlinks option\)/g, otherwise: (command) => `${command} never writes through links` },
];

/**
 * A library message in the command line's words (those of `command`, `ndpack <name>`): flags
 * instead of option names, without advice only library users can take.
 */
function inFlags(message: string, command: string): string {
  const name = /^ndpack (\S+?)(?::|$)/.exec(command)?.[1];
  const forCommand = FLAG_OF_SOME_COMMANDS.reduce((text, { commands, phrase, otherwise }) => (name !== undefined && commands.includes(name) ? text : text.replace(phrase, otherwise(`ndpack${name === undefined ? "" : ` ${name}`}`))), message);
  const withoutAdvice = LIBRARY_ADVICE.reduce((text, advice) => text.replace(advice, ""), forCommand);
  return FLAG_OF_OPTION.reduce((text, [option, flag]) => text.replace(option, flag), withoutAdvice);
}

/**
 * `message` without its leading `array "NAME": `, for lines that already name the array (the
 * library's messages start with it; `FAIL  NAME: ...` need not say it twice).
 */
export function withoutArrayName(message: string, name: string): string {
  const prefix = `array ${JSON.stringify(name)}: `;
  return message.startsWith(prefix) ? message.slice(prefix.length) : message;
}

/**
 * The one line printed for an error: `ndpack <command>: <file>: <problem> (<CODE>)`. The file is
 * left out when the message already names it. Terminal controls in the file name and the message
 * (which may quote a file's contents) are escaped.
 */
export function errorLine(command: string, error: unknown): string {
  const file = error instanceof FileError ? fileShown(error.file) : undefined;
  const inner = error instanceof FileError ? error.error : error;
  // A line break in a message is in what it quotes (a file name, the OS's text), never its layout:
  // it is escaped with the rest below, not joined into a space that would misname a file.
  const message = inFlags(inner instanceof Error ? inner.message : String(inner), command);
  const where = file !== undefined && !message.includes(file) ? `${file}: ` : "";
  const code = isNdpackError(inner) ? inner.code : `internal error${inner instanceof Error && inner.name !== "Error" ? ` ${inner.name}` : ""}; run with --debug for a stack trace`;
  return escapeControls(`${command}: ${where}${message}${unnamedArray(inner, message)} (${code})`);
}

/**
 * The array an error is about, for a message that does not name it (one refusing a name too long
 * to quote, met among thousands of arrays): ` (array "start…" (+N characters))`, else nothing.
 */
function unnamedArray(error: unknown, message: string): string {
  const name = isNdpackError(error) ? error.array : undefined;
  return name === undefined || message.includes(name) || message.includes(JSON.stringify(name)) ? "" : ` (array ${previewJson(name)})`;
}

/** A file as error lines name it: a URL without its query, fragment and credentials (a presigned URL's signature, a password), as the library's messages name it. */
function fileShown(file: string): string {
  // Credentials end at the authority's last @, as URL parsers read them.
  return /^https?:\/\//i.test(file) ? withoutQuery(file.replace(/\/\/[^/?#]*@/, "//")) : file;
}

/** What `--debug` adds: the stack trace and the chain of causes. */
export function debugText(error: unknown): string {
  const lines: string[] = [];
  let current: unknown = error instanceof FileError ? error.error : error;
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    lines.push(depth === 0 ? "" : "caused by:");
    lines.push(current instanceof Error ? (current.stack ?? `${current.name}: ${current.message}`) : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return lines.join("\n");
}
