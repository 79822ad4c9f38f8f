#!/usr/bin/env node
/**
 * The `ndpack` command line: look inside array files from a terminal, check them, convert them and
 * move arrays in and out of them. Reads .ndp, .npy, .npz and .safetensors files; writes the same.
 *
 * This module parses the arguments (commander), wires the subcommands (one module each) and maps
 * every failure to one line on standard error and an exit code (see `errors.ts`).
 *
 * @module
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import packageJson from "../../package.json";
import { DTYPE_NAMES, type Dtype } from "../dtypes.js";
import { CODECS } from "../format.js";
import { ioError, removeTemporaryFilesSync } from "../node/io.js";
import { convertCommand, type WriteCommandOptions } from "./convert.js";
import { diffCommand } from "./diff.js";
import { debugText, errorLine, EXIT, exitCodeOf } from "./errors.js";
import { extractCommand } from "./extract.js";
import { CHUNK_BYTES } from "./formats.js";
import { inspectCommand } from "./inspect.js";
import { limitFlags } from "./limits.js";
import { escapeControls, handleClosedStdout, printError, stdoutError } from "./output.js";
import { packCommand } from "./pack.js";
import { LARGE_INPUT_BYTES } from "./progress.js";
import { showCommand } from "./show.js";
import { verifyCommand } from "./verify.js";
import { viewCommand } from "./view.js";

const EXIT_CODES = `
Exit codes:
  0  success (verify: every check holds; diff: no difference)
  1  diff found a difference; or a failure that is not the input's fault (IO_ERROR, FILE_CHANGED, an
     HTTP failure: HTTP_ERROR, RANGE_NOT_SUPPORTED, TIMEOUT; internal)
  2  bad input: an invalid or damaged file (its NdpackError code is printed), NOT_FOUND (no such
     array), INVALID_ARGUMENT (bad usage), NOT_REGULAR_FILE (an output path that is a link, a
     directory, a device, a FIFO or a socket); a set with a missing shard or one not matching its index

Errors are one line on standard error: "ndpack <command>: <file>: <problem> (<CODE>)"; --debug adds
the stack trace.`;

const OUTPUT_PATHS = `
Output paths: a regular file (replaced atomically) or nothing. A symbolic link is refused unless
--follow-symlinks is given; a directory, device, FIFO or socket is always refused (NOT_REGULAR_FILE).
Set-user-id, set-group-id and sticky bits of a replaced file are not kept.`;

const MEMORY = `
Memory: arrays are copied one ${CHUNK_BYTES >> 20} MiB chunk at a time, whatever the file's size, except
  - an ndpack array stored with a codec, which is decompressed whole (one array at a time);
  - a Fortran-order array written to .safetensors, which is reordered whole (safetensors is C order only).
Compressing runs on every core, 4 MiB pieces at a time (two per core in memory at most). A deflated
.npz member converted to .ndp with its codec kept (no --codec or --level) keeps its DEFLATE stream:
it is copied rather than compressed again (the first 4 MiB are searched for where to take it over),
and inflated twice to check it.`;

function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    return n;
  };
}

function powerOfTwo(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 8 || n > 65536 || (n & (n - 1)) !== 0) throw new InvalidArgumentError("must be a power of two from 8 to 65536");
  return n;
}

/**
 * A tolerance: a non-negative decimal number (digits with at most one point, and an optional
 * exponent: 0.001, 1e-6), finite. Number() alone would also take hex, binary and octal literals
 * (0x10 is 16), Infinity, and text padded with spaces.
 */
function nonNegative(value: string): number {
  const n = Number(value);
  if (!/^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(value) || !Number.isFinite(n)) throw new InvalidArgumentError("must be a non-negative decimal number, such as 0.001 or 1e-6");
  return n;
}

const voidDtypeOption = () =>
  new Option("--void-dtype <dtype>", "the dtype of raw (void) members of .npy/.npz files, as numpy stores bfloat16 and float8 (ml_dtypes)").choices(DTYPE_NAMES.filter((d) => ["bfloat16", "float8_e4m3fn", "float8_e5m2"].includes(d)));

const salvageOption = () =>
  new Option("--salvage", "copy arrays whose checksum or padding is damaged, with a warning for each (default: fail with the input's error, exit 2)");

/** The options of the commands that write files. */
function writeFlags(command: Command, { formats = true, ndpack = true } = {}): Command {
  if (formats) command.addOption(new Option("--to <format>", "output format, when the extension does not say it").choices(["ndpack", "npy", "npz", "safetensors"]));
  if (ndpack) {
    command
      .option("--compress", "compress the arrays (.ndp: shuffle+deflate; .npz: deflated members, as np.savez_compressed)")
      .option("--no-compress", "store every array uncompressed (default: keep the input's compression)")
      .addOption(new Option("--codec <codec>", ".ndp: the codec of every array").choices(CODECS as unknown as string[]))
      .option("--level <n>", "DEFLATE level, 0 (fastest) to 9 (smallest); default 6", integer(0, 9))
      .option("--alignment <bytes>", ".ndp: payload alignment, a power of two from 8 to 65536 (4096 for page-aligned arrays); default 64", powerOfTwo)
      .addOption(new Option("--checksum <kind>", ".ndp: crc32 (default) or none").choices(["crc32", "none"]));
  }
  return command
    .option("--max-shard-size <size>", "write a set (OUT is <stem>.ndp.index.json or <stem>.safetensors.index.json): the most array bytes per shard, e.g. 500MB, 5GB, 2GiB (default 5GB)")
    .option("--big-endian", "store big-endian numbers (.ndp, .npy, .npz)")
    .option("--progress", `show a progress bar on standard error (default: when it is a terminal and the input is ${LARGE_INPUT_BYTES >> 20} MiB or more)`)
    .option("--no-progress", "never show a progress bar")
    .option("--follow-symlinks", "when the output path is a symbolic link, replace the regular file it points to (default: refuse, NOT_REGULAR_FILE)")
    .addOption(salvageOption())
    .addOption(voidDtypeOption());
}

interface CliState {
  exitCode: number;
}

/** The program, with every subcommand; `state.exitCode` receives the command's exit code. */
function buildProgram(state: CliState): Command {
  const program = new Command("ndpack")
    .description("Look inside, check, convert and assemble files of named n-dimensional arrays:\nndpack (.ndp), numpy (.npy, .npz) and safetensors (.safetensors).")
    .version(packageJson.version, "-V, --version")
    .option("--debug", "print stack traces of errors")
    .showSuggestionAfterError(true)
    .addHelpText(
      "after",
      `
Examples:
  ndpack inspect model.safetensors             the arrays of a file, from its header only
  ndpack show model.ndp encoder.weight         a preview of one array's values, and min/max/mean/std
  ndpack verify checkpoint.ndp                 every checksum
  ndpack convert weights.npz weights.ndp --compress
  ndpack diff before.ndp after.ndp --atol 1e-6
${EXIT_CODES}`,
    );

  program
    .command("inspect")
    .description("list a file's arrays (name, dtype, shape, order, byte order, bytes, offset, codec, checksum), version, alignment and metadata, reading only its headers")
    .argument("<file>", "a .ndp, .npy, .npz or .safetensors file")
    .option("--json", "print one JSON object (for scripts)")
    .addOption(voidDtypeOption())
    .addHelpText("after", `\nOnly the headers are read (a few KiB, whatever the file's size).\n${EXIT_CODES}`)
    .action(async (file: string, options: { json?: boolean; voidDtype?: Dtype }) => {
      state.exitCode = await inspectCommand(file, options);
    });

  program
    .command("show")
    .description("print an array's values as numpy does (the edges of large arrays) and its summary: count, min, max, mean, std, NaN and Inf counts")
    .argument("<file>", "a .ndp, .npy, .npz or .safetensors file")
    .argument("[name]", "the array's name (see ndpack inspect); may be left out when the file holds one array")
    .option("--json", "print one JSON object: the summary and the preview")
    .addOption(voidDtypeOption())
    .addHelpText("after", `\nmin, max, mean and std are of the finite values; the array is read once, chunk by chunk.\n${EXIT_CODES}`)
    .action(async (file: string, name: string | undefined, options: { json?: boolean; voidDtype?: Dtype }) => {
      state.exitCode = await showCommand(file, name, options);
    });

  program
    .command("verify")
    .description("check a file's structure and every checksum (ndpack payload CRCs, .npz member CRCs); exit 0 only when all hold")
    .argument("<file>", "a .ndp, .npy, .npz or .safetensors file")
    .option("--json", "print one JSON object: each array's result")
    .addOption(voidDtypeOption())
    .addHelpText("after", `\n.npy and .safetensors files have no checksums: only their structure is checked. A damaged file exits with 2.\n${EXIT_CODES}`)
    .action(async (file: string, options: { json?: boolean; voidDtype?: Dtype }) => {
      state.exitCode = await verifyCommand(file, options);
    });

  writeFlags(
    program
      .command("convert")
      .description("convert between .ndp, .npy, .npz and .safetensors (by extension), streaming")
      .argument("<in>", "the file to read")
      .argument("<out>", "the file to write (replaced atomically when complete)"),
  )
    .addHelpText("after", `\nMetadata is kept where the output can hold it (not in .npy).\n${OUTPUT_PATHS}\n${MEMORY}\n${EXIT_CODES}`)
    .action(async (input: string, output: string, options: WriteCommandOptions) => {
      state.exitCode = await convertCommand(input, output, options);
    });

  program
    .command("extract")
    .description("write arrays of a file as .npy files, DIR/<name>.npy (all of them when no name is given)")
    .argument("<file>", "a .ndp, .npy, .npz or .safetensors file")
    .argument("[names...]", "the arrays to extract")
    .option("-o, --output <dir>", "the directory to write to (created when missing)", ".")
    .option("--big-endian", "store big-endian numbers")
    .option("--progress", `show a progress bar on standard error for each array (default: when it is a terminal and the array is ${LARGE_INPUT_BYTES >> 20} MiB or more)`)
    .option("--no-progress", "never show a progress bar")
    .addOption(salvageOption())
    .addOption(voidDtypeOption())
    .addHelpText("after", `\nNames become file names with / \\ : * ? " < > | %, control characters, bidirectional marks, a leading dot and the first letter of a Windows device name percent-encoded (layer/0 -> layer%2F0.npy, CON -> %43ON.npy).\nA name too long for a file name, or differing from an earlier one only in case or Unicode normalization (a after A), is written as <prefix>%~<hash>.npy, and said on standard error.\nPrints the path of each file written.\nA symbolic link at DIR/<name>.npy is never followed: extract refuses it (NOT_REGULAR_FILE), as it refuses a directory, device, FIFO or socket there.\n${MEMORY}\n${EXIT_CODES}`)
    .action(async (file: string, names: string[], options: { output?: string; bigEndian?: boolean; progress?: boolean; salvage?: boolean; voidDtype?: Dtype }) => {
      state.exitCode = await extractCommand(file, names, options);
    });

  writeFlags(
    program
      .command("pack")
      .description("assemble arrays from files into one file: NAME=FILE takes the one array of FILE under NAME, FILE alone takes all of its arrays")
      .argument("<out>", "the file to write (.ndp, .npz, .safetensors, or .npy for one array)")
      .argument("<inputs...>", "NAME=FILE (e.g. weights=w.npy) or FILE (a path that exists is FILE, even with = in it; a .npy file's array is named after the file, or after the array extract wrote it for: layer%2F0.npy holds layer/0)")
      .option("--metadata <json>", "the output's metadata, a JSON object"),
  )
    .addHelpText("after", `\n${OUTPUT_PATHS}\n${MEMORY}\n${EXIT_CODES}`)
    .action(async (output: string, inputs: string[], options: WriteCommandOptions & { metadata?: string }) => {
      state.exitCode = await packCommand(output, inputs, options);
    });

  program
    .command("diff")
    .description("which arrays differ in dtype, shape or values between two files (of any formats); exit 1 on any difference")
    .argument("<a>", "a .ndp, .npy, .npz or .safetensors file")
    .argument("<b>", "another")
    .option("--rtol <x>", "relative tolerance: values differ when |a - b| > atol + rtol * |b| (default 0)", nonNegative)
    .option("--atol <x>", "absolute tolerance (default 0: values must be equal; NaN equals NaN)", nonNegative)
    .option("--ignore-metadata", "do not compare the metadata")
    .option("--by-position", "pair the arrays by their position in the files, not by name")
    .option("--exact-bool", "compare bool arrays byte for byte (1 and 2 differ), not by truth value")
    .option("--json", "print one JSON object")
    .addOption(voidDtypeOption())
    .addHelpText(
      "after",
      `\nArrays are paired by name, or by position with --by-position; two files of one array each (two .npy files) are compared whatever the names.\nMemory order, byte order and compression are not differences: values are compared by index.\n${EXIT_CODES}`,
    )
    .action(async (a: string, b: string, options: { rtol?: number; atol?: number; ignoreMetadata?: boolean; byPosition?: boolean; exactBool?: boolean; json?: boolean; voidDtype?: Dtype }) => {
      state.exitCode = await diffCommand(a, b, options);
    });

  program
    .command("view")
    .description("look inside a file in a browser: a local page with a table of the arrays, statistics, a heatmap, a line plot and a histogram")
    .argument("<file>", "a .ndp, .npy, .npz or .safetensors file, or an http(s) URL of one (read with Range requests)")
    .option("--port <port>", "port on 127.0.0.1 to serve on (default: a free one)", integer(0, 65535))
    .option("--no-open", "print the page's address without opening a browser")
    .option("--verbose", "print every request served, with the bytes of the file sent so far")
    .addHelpText("after", `\nThe page reads the header, then only the array selected: whole when it is at most 16 MiB, else rows\nspread over all of it, 16 MiB in all (at most 64 reads). The server listens on 127.0.0.1 only and serves the one file; Ctrl-C stops it.\nThe same page (dist/viewer/) works as a static site: drop a file on it, or paste a URL.\n${EXIT_CODES}`)
    .action(async (file: string, options: { port?: number; open?: boolean; verbose?: boolean }) => {
      state.exitCode = await viewCommand(file, options);
    });

  // Every command that reads files takes the read limits (view's page reads with the library's defaults).
  for (const command of program.commands) if (command.name() !== "view") limitFlags(command);

  // Errors are reported by main(), as one line; commander only throws them.
  const quiet = (command: Command) => {
    command.exitOverride().configureOutput({ outputError: () => undefined });
    command.commands.forEach(quiet);
  };
  quiet(program);
  return program;
}

/** The subcommand named in `argv` (for error messages), if any. */
function commandName(program: Command, args: readonly string[]): string {
  const names = new Set(program.commands.map((c) => c.name()));
  const name = args.find((arg) => names.has(arg));
  return name === undefined ? "ndpack" : `ndpack ${name}`;
}

/** Runs the command line on `args` (without the node and script paths); returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const state: CliState = { exitCode: EXIT.ok };
  const program = buildProgram(state);
  const debug = args.includes("--debug");
  const command = commandName(program, args);
  try {
    await program.parseAsync(args, { from: "user" });
    // Output that was lost (a full disk) fails the command, whatever it found.
    const lost = stdoutError();
    if (lost !== undefined) throw ioError("write to", "standard output", lost);
    return state.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return EXIT.ok;
      // `ndpack` alone prints its help on standard error: a usage error.
      if (error.code === "commander.help" || error.code === "commander.executeSubCommandAsync") return EXIT.badInput;
      // One line: commander puts its "(Did you mean ...?)" on a line of its own.
      const message = error.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " ");
      printError(`${command}: ${escapeControls(message)} (INVALID_ARGUMENT); see '${command} --help'`);
      return EXIT.badInput;
    }
    printError(errorLine(command, error));
    if (debug) printError(debugText(error));
    return exitCodeOf(error);
  }
}

handleClosedStdout();
// Ctrl-C or a kill while a command writes: its temporary files go (the targets were never
// touched), then the process ends as the signal ends it (exit status 128 + its number).
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    removeTemporaryFilesSync();
    // A command with a handler of its own (view closes its server) ends by itself.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    printError(`ndpack: ${debugText(error)}`);
    process.exitCode = EXIT.failure;
  },
);
