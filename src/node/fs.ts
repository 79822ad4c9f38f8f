/**
 * ndpack files in Node: {@link save} (atomic, written straight from the caller's arrays),
 * {@link load} (the whole file into aligned memory, zero-copy views) and {@link open}, a lazy
 * reader that reads the header once and then only the bytes of the arrays (or rows) asked for.
 *
 * @example
 * ```ts
 * import { open, save } from "ndpack/node";
 *
 * await save("model.ndp", { "layer.0.weight": { data: weights, shape: [4096, 4096] } });
 *
 * await using reader = await open("model.ndp");
 * const first = await reader.readRows("layer.0.weight", 0, 16); // 16 rows, one positioned read
 * ```
 *
 * @module
 */
import type { FileHandle } from "node:fs/promises";
import { checkCopy, DECODE_OPTIONS, decodeFile, type DecodeOptions, type NdpackFile } from "../decode.js";
import { ENCODE_OPTIONS, planEncoding, planSegments, type ArraysInput, type EncodeOptions } from "../encode.js";
import { booleanOption, checkOptionNames, NdpackError, withPath } from "../errors.js";
import { checkZeroPadding, readLayoutSteps, resolveLimits } from "../header.js";
import { parseUrl } from "../io/http.js";
import { signalOption, type ByteSource } from "../io/source.js";
import { runOnSource } from "../io/steps.js";
import { FORMATS } from "../formats/index.js";
import { OPEN_SOURCE_OPTIONS, openSource, type NdpackReader } from "../reader.js";
import { openUrl, type OpenUrlOptions } from "../remote.js";
import { openSetUrl } from "../sets.js";
import { allocatePayload } from "../stream.js";
import { SET_INDEX_SUFFIX } from "../set.js";
import { FileSource } from "./file-source.js";
import { openSetFile } from "./set-open.js";
import { AtomicFile, FileSink, ioError, toPath, type PathLike, type TargetOptions } from "./io.js";

export type { PathLike, TargetOptions } from "./io.js";

/** Options of {@link save}. */
export interface SaveOptions extends EncodeOptions, TargetOptions {
  /**
   * Flush the file and its directory to the disk before returning (default `true`), so that a
   * power loss after `save` resolves keeps the new file. `false` is faster; the replacement stays
   * atomic for other processes and for crashes of this one.
   */
  readonly fsync?: boolean;
}

/** The option names of {@link save} (and of `createWriter`, which takes the same). Not part of the public API. */
export const SAVE_OPTIONS = { ...ENCODE_OPTIONS, fsync: true, followSymlinks: true } as const satisfies Record<keyof SaveOptions, true>;

/**
 * Saves named arrays as an ndpack file, atomically: the bytes go to a temporary file in the same
 * directory (`.<name>.<random>.tmp`), which is fsynced and renamed over `path`, and then the
 * directory is fsynced. At no moment does `path` hold a partial file: it is the old file until the
 * rename, the complete new one after. On failure the temporary file is removed and `path` is left
 * as it was. A process killed mid-save can leave its temporary file behind, never a damaged target.
 *
 * Payloads are written with vectored writes straight from the caller's arrays (keep them unchanged
 * until the promise resolves); memory used is the header plus a small constant (plus the
 * compressed payloads, when a codec is asked for). Runs of 64 MiB of zeros are left as holes in
 * the new file.
 *
 * Where it writes, as GNU tar and curl do: `path` must be a regular file or absent. A symbolic link
 * at `path` is refused unless `followSymlinks: true` (then the regular file it points to is
 * replaced); a directory, device, FIFO or socket is always refused. A replaced file's permission
 * bits (0o777) are kept, never its set-user-id, set-group-id or sticky bits; a new file gets what
 * `fs.writeFile` would give it (0o666 less the umask).
 *
 * Errors: argument errors as `encode` throws them, before any file is touched; NOT_REGULAR_FILE for
 * a path it may not replace (see above); IO_ERROR with the OS error (ENOENT, EACCES, ENOSPC, EFBIG,
 * ...) as `cause`.
 *
 * @example
 * ```ts
 * await save("frame.ndp", { image: { data: pixels, shape: [480, 640, 3] } }, { metadata: { camera: 2 } });
 * ```
 */
export async function save(path: PathLike, arrays: ArraysInput, options: SaveOptions = {}): Promise<void> {
  checkOptionNames(options, SAVE_OPTIONS, "save");
  const target = toPath(path);
  const durable = booleanOption(options.fsync, true, "fsync");
  const plan = planEncoding(arrays, options);
  // Byte-swapped payloads come out of planSegments as fresh 1 MiB copies: write those one at a
  // time so they do not pile up. Everything else views memory that stays put until we return.
  const stable = !plan.records.some((record) => record.swap);
  const file = await AtomicFile.create(target, options);
  try {
    const sink = new FileSink(file.handle);
    for (const piece of planSegments(plan)) await sink.write(piece, stable);
    await sink.finish();
  } catch (cause) {
    await file.discard();
    throw ioError("write", file.tempPath, cause);
  }
  await file.commit(durable);
}

/**
 * Reads a whole ndpack file into memory aligned for every dtype and decodes it: the same
 * {@link NdpackFile} as `decode`, whose arrays are zero-copy views of that memory. The header is
 * read and checked first (FORMAT.md §9 steps 1–21, from the first read), so a file that is not
 * ndpack, or is truncated, fails before its size is allocated. Every payload's CRC and padding is
 * checked (step 22) before `load` resolves, unless `verify: false`. Other options are those of
 * `decode` (`copy`, limits).
 *
 * Errors: the format errors of `decode`; CHECKSUM and BAD_PADDING (unless `verify: false`);
 * IO_ERROR with the OS error as `cause`; FILE_CHANGED when the file changes while it is read;
 * LIMIT_EXCEEDED when the file is larger than one typed array can be in this runtime (use
 * {@link open} for such files); INVALID_ARGUMENT for an option it does not take. Every error,
 * and those of the returned file's `get`, carries the file's `path`.
 *
 * @example
 * ```ts
 * const file = await load("frame.ndp");
 * const image = file.get("image").data; // Uint8Array viewing the loaded memory
 * ```
 */
export async function load(path: PathLike, options: DecodeOptions = {}): Promise<NdpackFile> {
  checkOptionNames(options, DECODE_OPTIONS, "load");
  const target = toPath(path);
  try {
    return await loadFile(target, options);
  } catch (error) {
    throw withPath(error, target);
  }
}

async function loadFile(target: string, options: DecodeOptions): Promise<NdpackFile> {
  const limits = resolveLimits(options);
  const verify = booleanOption(options.verify, true, "verify");
  checkCopy(options.copy);
  const file = await FileSource.open(target);
  try {
    // Steps 1–21 from the first reads, before the file's size is allocated. The bytes they read
    // from the start (the header, and what follows it in the same read) begin the file's memory,
    // and the rest is read after them: the header is parsed once (twice cost 10,000 arrays ~4 ms),
    // and a write to the file between the two reads is FILE_CHANGED, as for any read of a source.
    let head: Uint8Array = new Uint8Array(0);
    const read = async (offset: number, length: number) => {
      const bytes = await file.read(offset, length);
      if (offset === 0) head = bytes;
      return bytes;
    };
    const layout = await runOnSource(readLayoutSteps(file.size, limits), { read });
    let bytes: Uint8Array;
    try {
      bytes = allocatePayload("(whole file)", file.size);
    } catch (cause) {
      throw new NdpackError("LIMIT_EXCEEDED", `${target} is ${file.size} bytes, more than this runtime can hold in one typed array; read its arrays with open()`, { path: target, actual: file.size, cause });
    }
    bytes.set(head);
    await file.readInto(bytes.subarray(head.length), head.length);
    // Padding beyond the first reads (alignments above 4 KiB) was checked as it was then.
    checkZeroPadding(bytes, head.length, layout.dataStart);
    return decodeFile(bytes, { ...options, verify }, target, layout);
  } finally {
    await file.close();
  }
}

/** Options of {@link open}: the limits of FORMAT.md §7 and the options of `openSource`; for an HTTP(S) URL, those of `openUrl` too. */
export interface OpenOptions extends OpenUrlOptions {
  /** For a set (a path or URL ending in `.index.json`): the largest index accepted, in bytes (default 100 MiB). */
  readonly maxIndexBytes?: number;
}

/** The option names {@link open} takes for a path, a file handle or a source (an HTTP URL's are openUrl's). */
const OPEN_OPTIONS = { ...OPEN_SOURCE_OPTIONS, maxIndexBytes: true } as const;

/** Whatever {@link open} reads: a path, a `file:` or `http(s):` URL, an open file handle, or any {@link ByteSource}. */
export type OpenTarget = PathLike | FileHandle | ByteSource;

/** An `http:` or `https:` URL, as a string or a URL: read with `openUrl`, not from the file system. */
function isHttpUrl(target: unknown): target is string | URL {
  return /^https?:\/\//i.test(target instanceof URL ? target.href : typeof target === "string" ? target : "");
}

function isFileHandle(target: unknown): target is FileHandle {
  return target !== null && typeof target === "object" && typeof (target as FileHandle).fd === "number" && typeof (target as FileHandle).stat === "function";
}

/**
 * Opens a file of any supported format (ndpack, .npy, .npz, .safetensors) for lazy reading: the
 * reader of `openSource` over the file, with positioned reads. It reads and checks the header
 * (for ndpack, FORMAT.md §9 steps 1–21 and the file's size) with one read of the first 64 KiB,
 * and one more for a longer header; a 100 GiB file opens as fast as a small one. `names`,
 * `metadata` and `info` need no I/O; `read` checks each payload's CRC by default.
 *
 * `target` is a path or `file:` URL (opened here, closed with the reader), an `http:` or `https:`
 * URL (a string or a URL, read with Range requests as `openUrl` reads it), a `FileHandle` you
 * opened (left open), or any {@link ByteSource}. A path that is not a regular file (a directory, a
 * FIFO, a socket, a device) is refused with INVALID_ARGUMENT before anything is read.
 *
 * A path ending in `.index.json` is a sharded set's index (FORMAT.md §12, Hugging Face's
 * `model.safetensors.index.json` included): the reader is then a `SetReader` over every shard,
 * each opened only when one of its arrays is read.
 *
 * Errors: the format errors of the format's reader, IO_ERROR with the OS error as `cause`,
 * INVALID_ARGUMENT for a path that is not a regular file or an option it does not take; for a set, those of `openSet`. Errors of
 * a path's reader, and of its reads, carry the path as their `path`.
 *
 * @example
 * ```ts
 * await using reader = await open("checkpoint.ndp");
 * const bias = await reader.read("layer.3.bias");  // one positioned read, CRC checked
 * console.log(reader.bytesRead); // header + that array
 * ```
 */
export async function open(target: OpenTarget, givenOptions: OpenOptions = {}): Promise<NdpackReader> {
  // Every format: Node loads what it uses, so only browsers' bundles leave the foreign ones out.
  const options: OpenOptions = { formats: FORMATS, ...givenOptions };
  if (isHttpUrl(target)) {
    if (parseUrl(target).pathname.endsWith(SET_INDEX_SUFFIX)) return openSetUrl(target, options);
    const { maxIndexBytes, ...fileOptions } = options; // a set's option, which one file has no use for
    return openUrl(target, fileOptions);
  }
  checkOptionNames(options, OPEN_OPTIONS, "open");
  signalOption(options.signal); // refused at open, not at the first read that uses it
  if (isFileHandle(target)) return openSource(await FileSource.fromHandle(target, options.name), options);
  if (target !== null && typeof target === "object" && !(target instanceof URL)) return openSource(target, options);
  const path = toPath(target);
  resolveLimits(options);
  if (path.endsWith(SET_INDEX_SUFFIX)) return openSetFile(path, options);
  return openSource(await FileSource.open(path), { name: path, ...options });
}
