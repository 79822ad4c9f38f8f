/**
 * The read limits on the command line (FORMAT.md §7, style rule 4): one flag per limit of the
 * library, named after the option (`maxArrays` is `--max-arrays`), so that every message naming a
 * limit can name the flag that raises it. Flags left out keep the library's defaults.
 *
 * @module
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { DEFAULT_LIMITS, MAX_DEPTH_CEILING, type ReadLimits } from "../format.js";

/** The read options a command passes to `open`: the limits its flags raise or lower, and the set index's. */
export type CliLimits = Partial<ReadLimits & { maxIndexBytes: number }>;

/** Each limit the command line sets, what it bounds, and whether its value is a size in bytes (which may take a unit). */
const LIMITS: readonly { readonly option: keyof CliLimits; readonly bounds: string; readonly bytes: boolean; readonly fallback: string }[] = [
  { option: "maxHeaderBytes", bounds: "the largest header", bytes: true, fallback: "100MiB (.ndp; .npy 10000, .safetensors 100MB)" },
  { option: "maxHeaderNodes", bounds: "the most JSON values in a header", bytes: false, fallback: String(DEFAULT_LIMITS.maxHeaderNodes) },
  { option: "maxDepth", bounds: `the deepest JSON nesting in a header (at most ${MAX_DEPTH_CEILING})`, bytes: false, fallback: String(DEFAULT_LIMITS.maxDepth) },
  { option: "maxArrays", bounds: "the most arrays (or .npz members) in a file", bytes: false, fallback: String(DEFAULT_LIMITS.maxArrays) },
  { option: "maxDims", bounds: "the most dimensions of an array", bytes: false, fallback: String(DEFAULT_LIMITS.maxDims) },
  { option: "maxNameBytes", bounds: "the longest array name, in UTF-8 bytes", bytes: false, fallback: String(DEFAULT_LIMITS.maxNameBytes) },
  { option: "maxDecodedBytes", bounds: "the largest .ndp array with a codec, decompressed whole (.npz members are inflated as a stream, in chunks, which it does not bound)", bytes: true, fallback: "1GiB" },
  { option: "maxIndexBytes", bounds: "the largest index of a sharded set (*.index.json)", bytes: true, fallback: "100MiB" },
];

/** `maxArrays` as a flag: `--max-arrays`. */
export function flagOf(option: string): string {
  return `--${option.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

const UNITS: Readonly<Record<string, number>> = { "": 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** A size written as bytes or with a unit (500MB, 5GB, 2GiB), or undefined when `text` is none or not a positive safe integer. */
export function byteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match === null ? undefined : UNITS[match[2]!.toLowerCase()];
  // A fraction of a unit is floored (1.1GiB, as Hugging Face reads sizes), a fraction of a byte refused (1.5).
  const bytes = match === null || unit === undefined || (unit === 1 && match[1]!.includes(".")) ? Number.NaN : Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) && bytes >= 1 ? bytes : undefined;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
}

/** --max-depth: a positive integer up to the library's ceiling, a usage error past it (the library's own refusal came only once a file was opened, and named that file). */
function depth(value: string): number {
  const n = positiveInteger(value);
  if (n > MAX_DEPTH_CEILING) throw new InvalidArgumentError(`must be a positive integer, at most ${MAX_DEPTH_CEILING}`);
  return n;
}

function size(value: string): number {
  const bytes = byteSize(value);
  if (bytes === undefined) throw new InvalidArgumentError("must be a size such as 500MB, 2GiB or a number of bytes");
  return bytes;
}

/** Adds the limit flags to a command that reads files. */
export function limitFlags(command: Command): Command {
  for (const { option, bounds, bytes, fallback } of LIMITS) {
    command.addOption(new Option(`${flagOf(option)} <${bytes ? "size" : "n"}>`, `${bounds} (default ${fallback})`).argParser(bytes ? size : option === "maxDepth" ? depth : positiveInteger).helpGroup("Read limits (raise them to read files the defaults refuse):"));
  }
  return command;
}

/** The limits among a command's parsed options (commander names `--max-arrays` `maxArrays`). */
export function limitsOf(options: CliLimits): CliLimits {
  const limits: Record<string, number> = {};
  for (const { option } of LIMITS) {
    const value = options[option];
    if (value !== undefined) limits[option] = value;
  }
  return limits as CliLimits;
}

/** The library's option names of the limits, which its messages mention ("raise the maxArrays option"). */
export const LIMIT_OPTION_NAMES: readonly string[] = LIMITS.map((limit) => limit.option);
