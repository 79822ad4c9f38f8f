/**
 * `ndpack pack OUT NAME=FILE...`: arrays from several files into one. Each input is `NAME=FILE`
 * (the one array of FILE, under NAME) or `FILE` (every array of FILE, under its own name; a .npy
 * file's array is named after the file; a path that exists is FILE even when it holds `=`). The
 * output's format comes from its extension.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { usageError } from "./errors.js";
import type { NdpackReader } from "../reader.js";
import { entriesOf, openFile } from "./formats.js";
import { copyArrays, inputOptions, outputFormat, parseByteSize, writeOptions, type WriteCommandOptions } from "./convert.js";
import type { OutputArray } from "./writers.js";

/** Options of `ndpack pack`. */
export interface PackOptions extends WriteCommandOptions {
  /** The output's metadata, as JSON text (an object). */
  readonly metadata?: string;
}

/** `NAME=FILE` or `FILE`; an input that is the path of an existing file is FILE, `=` or not (`lr=0.1.npy`). */
function parseInput(input: string): { name: string | undefined; path: string } {
  const at = input.indexOf("=");
  if (at < 0 || existsSync(input)) return { name: undefined, path: input };
  const name = input.slice(0, at);
  const path = input.slice(at + 1);
  if (name.length === 0 || path.length === 0) throw usageError(`${JSON.stringify(input)} is not NAME=FILE: both the name and the file are needed`);
  return { name, path };
}

function parseMetadata(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw usageError(`--metadata must be a JSON object: ${(error as Error).message}`, "--metadata");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw usageError("--metadata must be a JSON object, such as '{\"step\": 100}'", "--metadata");
  return value as Record<string, unknown>;
}

/** Runs `ndpack pack`; returns the exit code. */
export async function packCommand(output: string, inputs: readonly string[], options: PackOptions): Promise<number> {
  const format = outputFormat(output, options.to);
  const metadata = parseMetadata(options.metadata);
  const parsed = inputs.map(parseInput);
  const files: NdpackReader[] = [];
  try {
    const arrays: OutputArray[] = [];
    for (const { name, path } of parsed) {
      const file = await openFile(path, inputOptions("ndpack pack", path, options));
      files.push(file);
      if (name === undefined) {
        for (const entry of entriesOf(file)) arrays.push({ name: entry.name, file, entry });
      } else {
        if (file.size !== 1) {
          throw usageError(`${path} holds ${file.size} arrays, and NAME=FILE takes a file with one: give the file alone to add all of its arrays under their own names`);
        }
        arrays.push({ name, file, entry: entriesOf(file)[0]! });
      }
    }
    const inputBytes = files.reduce((sum, f) => sum + f.byteLength, 0);
    await copyArrays(output, arrays, writeOptions(format, options, metadata), inputBytes, options.progress, options.maxShardSize === undefined ? undefined : parseByteSize(options.maxShardSize));
  } finally {
    await Promise.all(files.map((f) => f.close()));
  }
  return 0;
}
