/**
 * `ndpack verify FILE`: checks a file's structure (every header check of its format) and every
 * checksum it has (ndpack payload CRCs and padding, .npz member CRCs), array by array, reading the
 * payloads in chunks. Exit 0 only when everything holds; a damaged file is bad input (exit 2).
 * .npy and .safetensors files have no checksums: only their structure can be checked.
 *
 * @module
 */
import type { Dtype } from "../dtypes.js";
import { isNdpackError, NdpackError } from "../errors.js";
import { errorLine, exitCodeOf, EXIT, FileError, withFile, withoutArrayName } from "./errors.js";
import type { NdpackReader } from "../reader.js";
import { formatLabel, isSet, openFile, versionOf } from "./formats.js";
import type { SetReader } from "../set-reader.js";
import type { CliLimits } from "./limits.js";
import { displayName, escapeControls, print, printError, toJson } from "./output.js";

/** Options of `ndpack verify`. */
export interface VerifyOptions extends CliLimits {
  readonly json?: boolean;
  readonly voidDtype?: Dtype;
}

interface ArrayResult {
  readonly name: string;
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
}

/** Runs `ndpack verify`; returns the exit code. */
export async function verifyCommand(path: string, options: VerifyOptions): Promise<number> {
  let file: NdpackReader;
  try {
    file = await openFile(path, { ...options, lazyShards: true });
  } catch (error) {
    // A file whose structure is invalid still gets its report, for scripts.
    const inner = error instanceof FileError ? error.error : error;
    if (options.json && exitCodeOf(error) === EXIT.badInput && isNdpackError(inner)) {
      print(toJson({ file: path, ok: false, error: { code: inner.code, message: inner.message }, arrays: [] }));
    }
    throw error;
  }
  if (isSet(file)) return verifySet(path, file, options);
  const results: ArrayResult[] = [];
  try {
    await withFile(path, async () => {
      // The reader checks each array in chunks and reports each separately.
      for (const { name, error } of (await file.verify()).arrays) {
        if (error === undefined) results.push({ name, ok: true });
        else if (exitCodeOf(error) !== EXIT.badInput) throw error;
        else results.push({ name, ok: false, code: error.code, message: withoutArrayName(error.message, name) });
      }
    });
  } finally {
    await file.close();
  }

  const failed = results.filter((r) => !r.ok);
  const version = versionOf(file);
  const label = `${formatLabel(file.format)}${version === undefined ? "" : ` ${version}`}`;
  if (options.json) {
    print(toJson({ file: path, format: file.format, ok: failed.length === 0, checksum: file.checksum, arrays: results }));
  } else {
    for (const r of results) print(r.ok ? `ok    ${displayName(r.name)}` : `FAIL  ${displayName(r.name)}: ${escapeControls(r.message!)} (${r.code})`);
    const count = `${results.length} ${results.length === 1 ? "array" : "arrays"}`;
    const shown = escapeControls(path);
    if (failed.length > 0) print(`${shown}: ${failed.length} of ${count} damaged`);
    else if (file.checksum === "none") print(`${shown}: ${label}, structure valid, ${count}; it has no checksums, so the values themselves cannot be checked`);
    else print(`${shown}: ${label}, structure and checksums valid, ${count}`);
  }
  if (failed.length === 0) return EXIT.ok;
  const first = failed[0]!;
  const summary = new NdpackError(first.code as NdpackError["code"], `${failed.length} of ${results.length} arrays failed verification, first ${JSON.stringify(first.name)}: ${first.message}`, { array: first.name });
  printError(errorLine("ndpack verify", new FileError(path, summary)));
  return EXIT.badInput;
}

/** The result of one array or shard as `verify` reports it: what failed, unless the failure is not the set's (an I/O error of this machine), which is thrown. */
function resultOf(name: string, error: NdpackError | undefined, indexPath: string): ArrayResult {
  if (error === undefined) return { name, ok: true };
  if (exitCodeOf(new FileError(indexPath, error)) !== EXIT.badInput) throw error;
  return { name, ok: false, code: error.code, message: error.message };
}

/**
 * `ndpack verify` of a set: every shard is opened and checked against the index (FORMAT.md §12.3),
 * then every array of it; the report is per shard and per array. A missing shard, or one that does
 * not match the index, fails with its arrays; the other shards are still checked.
 */
async function verifySet(path: string, set: SetReader, options: VerifyOptions): Promise<number> {
  let shards: (ArrayResult & { arrays: ArrayResult[] })[];
  try {
    shards = await withFile(path, async () =>
      (await set.verify()).shards.map((shard) => {
        const arrays = shard.arrays.map((array) => resultOf(array.name, array.error, path));
        return { ...resultOf(shard.name, shard.error, path), ok: shard.ok, arrays };
      }),
    );
  } finally {
    await set.close();
  }
  const arrays = shards.flatMap((shard) => shard.arrays);
  const failedShards = shards.filter((shard) => !shard.ok);
  const failedArrays = arrays.filter((array) => !array.ok);
  if (options.json) {
    print(toJson({ file: path, format: "set", ok: failedShards.length === 0, checksum: set.checksum, shards, arrays }));
  } else {
    for (const shard of shards) {
      print(shard.code === undefined ? `${shard.ok ? "ok  " : "FAIL"}  shard ${shard.name}` : `FAIL  shard ${shard.name}: ${shard.message} (${shard.code})`);
      if (shard.code !== undefined) continue;
      for (const r of shard.arrays) print(r.ok ? `ok      ${displayName(r.name)}` : `FAIL    ${displayName(r.name)}: ${r.message} (${r.code})`);
    }
    const count = `${shards.length} ${shards.length === 1 ? "shard" : "shards"}, ${arrays.length} ${arrays.length === 1 ? "array" : "arrays"}`;
    if (failedShards.length > 0) print(`${path}: ${failedShards.length} of ${shards.length} shards and ${failedArrays.length} of ${arrays.length} arrays damaged or missing`);
    else print(`${path}: set of ${count}, every shard matches the index${set.checksum === "crc32" ? ", structure and checksums valid" : "; structure valid (shards without checksums: values not checked)"}`);
  }
  if (failedShards.length === 0) return EXIT.ok;
  const first = failedShards[0]!;
  const firstArray = first.code === undefined ? first.arrays.find((array) => !array.ok) : undefined;
  const reason = firstArray === undefined ? first : firstArray;
  const summary = new NdpackError(reason.code as NdpackError["code"], `${failedShards.length} of ${shards.length} shards failed verification, first ${first.name}${firstArray === undefined ? "" : `, array ${JSON.stringify(firstArray.name)}`}: ${reason.message}`, firstArray === undefined ? {} : { array: firstArray.name });
  process.stderr.write(errorLine("ndpack verify", new FileError(path, summary)) + "\n");
  return EXIT.badInput;
}
