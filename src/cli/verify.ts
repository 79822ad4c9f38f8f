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
import { formatLabel, openFile, versionOf } from "./formats.js";
import { displayName, escapeControls, print, printError, toJson } from "./output.js";

/** Options of `ndpack verify`. */
export interface VerifyOptions {
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
    file = await openFile(path, options.voidDtype === undefined ? {} : { voidDtype: options.voidDtype });
  } catch (error) {
    // A file whose structure is invalid still gets its report, for scripts.
    const inner = error instanceof FileError ? error.error : error;
    if (options.json && exitCodeOf(error) === EXIT.badInput && isNdpackError(inner)) {
      print(toJson({ file: path, ok: false, error: { code: inner.code, message: inner.message }, arrays: [] }));
    }
    throw error;
  }
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
