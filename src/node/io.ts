/**
 * File-system plumbing shared by `save`, `load`, `open` and `createWriter`: OS errors wrapped as
 * IO_ERROR, reads and writes that loop past the per-call limits, a vectored positioned writer, and
 * the temporary file that becomes the target only when it is complete.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { lstat, open, readFile, realpath, rename, unlink, writeFile, type FileHandle } from "node:fs/promises";
import { unlinkSync, type Stats } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { booleanOption, NdpackError, shown } from "../errors.js";

/** A file path: a string or a `file:` URL. */
export type PathLike = string | URL;

/** The path of a {@link PathLike} (a `file://` URL as a string too, as `http(s)://` strings are URLs), or INVALID_ARGUMENT. */
export function toPath(path: unknown, field = "path"): string {
  const fileUrl = typeof path === "string" && /^file:\/\//i.test(path);
  if (typeof path === "string" && path.length > 0 && !fileUrl) return withoutNul(path, field);
  if ((path instanceof URL && path.protocol === "file:") || fileUrl) {
    try {
      return withoutNul(fileURLToPath(path as string | URL), field);
    } catch (cause) {
      if (cause instanceof NdpackError) throw cause;
      // Not a URL (file://[x), a host (file://server/x) or an encoded separator (%2F): no local path.
      throw new NdpackError("INVALID_ARGUMENT", `${field} ${path instanceof URL ? path.href : String(path)} names no local file: ${(cause as Error).message}`, { field, cause });
    }
  }
  throw new NdpackError("INVALID_ARGUMENT", `${field} must be a non-empty string or a file: URL, got ${shown(path)}`, { field });
}

/** `path`, or INVALID_ARGUMENT when it holds U+0000, which no file name can (Node's TypeError came out of the first file operation as IO_ERROR). */
function withoutNul(path: string, field: string): string {
  if (path.includes("\0")) throw new NdpackError("INVALID_ARGUMENT", `${field} ${shown(path)} holds U+0000, which no file name can`, { field });
  return path;
}

/** An OS error as IO_ERROR, naming what was being done to which path; the OS error (with its `code`, e.g. ENOENT) is the `cause`. */
export function ioError(action: string, path: string, cause: unknown): NdpackError {
  if (cause instanceof NdpackError) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  return new NdpackError("IO_ERROR", `cannot ${action} ${path}: ${message}`, { path, cause });
}

/** Bytes per read or write call: below the 2 GiB a single call can move. */
export const MAX_IO_BYTES = 1 << 30;

/** Buffers per writev call (POSIX IOV_MAX is 1024 on Linux and macOS). */
const MAX_IOVECS = 1024;

/** Reads into `target` from file offset `position` until it is full or the file ends; returns the bytes read. */
export async function readAt(handle: FileHandle, target: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < target.length) {
    const length = Math.min(target.length - done, MAX_IO_BYTES);
    const { bytesRead } = await handle.read(target, done, length, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Writes `pieces` back to back from file offset `position`, in writev batches, resuming after partial writes. */
export async function writeAt(handle: FileHandle, pieces: readonly Uint8Array[], position: number): Promise<void> {
  let queue = pieces.filter((piece) => piece.length > 0);
  let at = position;
  while (queue.length > 0) {
    const batch = queue.slice(0, MAX_IOVECS);
    const total = batch.reduce((sum, piece) => sum + piece.length, 0);
    const { bytesWritten } = await handle.writev(batch, at);
    if (bytesWritten <= 0) throw new Error(`writev wrote nothing at offset ${at}`);
    at += bytesWritten;
    if (bytesWritten === total) {
      queue = queue.slice(batch.length);
      continue;
    }
    // A partial write: drop what went out and resume inside the piece where it stopped.
    let left = bytesWritten;
    let index = 0;
    while (left >= queue[index]!.length) left -= queue[index++]!.length;
    queue = [queue[index]!.subarray(left), ...queue.slice(index + 1)];
  }
}

/** True when every byte of `bytes` is zero (eight at a time where the view allows). */
function isAllZero(bytes: Uint8Array): boolean {
  const head = Math.min(bytes.length, -bytes.byteOffset & 7);
  for (let i = 0; i < head; i++) if (bytes[i] !== 0) return false;
  const words = (bytes.length - head) >>> 3;
  if (words > 0) {
    const wide = new BigUint64Array(bytes.buffer, bytes.byteOffset + head, words);
    for (let i = 0; i < words; i++) if (wide[i] !== 0n) return false;
  }
  for (let i = head + words * 8; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Pieces shorter than this are copied into the staging buffer, so that many small writes cost few system calls. */
const SMALL_PIECE = 64 * 1024;
const STAGING_BYTES = 1 << 20;
/** Large pieces are written (or skipped, when zero) in parts of at most this size. */
const PART_BYTES = 64 << 20;
/** Bytes of the caller's memory gathered into one writev call at most. */
const BATCH_BYTES = 256 << 20;

/**
 * Writes a new file front to back with positioned, vectored writes. Large pieces are written
 * straight from the caller's memory; small ones are gathered in a staging buffer of up to 1 MiB. Runs of
 * zeros of 64 MiB (whole parts) are not written at all: the file is new, so the hole they leave
 * reads as zeros, and `finish` sets the final length. Memory held: the staging buffer and the list
 * of pending views.
 */
export class FileSink {
  readonly #handle: FileHandle;
  /** Grown as needed up to STAGING_BYTES: a small file (`extract` writes thousands) costs no megabyte. */
  #staging = new Uint8Array(0);
  #stagingUsed = 0;
  #stagingQueued = 0;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** The one write that may be in flight while the caller prepares the next bytes. */
  #inFlight: Promise<void> = Promise.resolve();
  /** File offset up to which every byte is written (or left as a hole). */
  #flushed: number;
  /** File offset of the next byte: everything before it is written, skipped or pending. */
  position: number;

  constructor(handle: FileHandle, position = 0) {
    this.#handle = handle;
    this.#flushed = position;
    this.position = position;
  }

  /**
   * Appends `piece`. The caller may reuse its memory once the promise resolves, unless `stable` is
   * set: then `piece` is promised to stay unchanged until {@link flush}, and large pieces are
   * gathered into one writev call.
   */
  async write(piece: Uint8Array, stable = false): Promise<void> {
    if (piece.length < SMALL_PIECE) {
      // The staging buffer may be part of the write in flight: let it land before touching it.
      await this.#inFlight;
      if (this.#stagingUsed + piece.length > STAGING_BYTES) await this.flush();
      if (this.#stagingUsed + piece.length > this.#staging.length) this.#growStaging(this.#stagingUsed + piece.length);
      this.#staging.set(piece, this.#stagingUsed);
      this.#stagingUsed += piece.length;
      this.position += piece.length;
      return;
    }
    for (let at = 0; at < piece.length; at += PART_BYTES) {
      const part = piece.subarray(at, Math.min(at + PART_BYTES, piece.length));
      if (part.length === PART_BYTES && isAllZero(part)) {
        await this.flush();
        this.position += part.length;
        this.#flushed = this.position;
        continue;
      }
      this.#queueStaging();
      this.#pending.push(part);
      this.#pendingBytes += part.length;
      this.position += part.length;
      if (this.#pending.length >= MAX_IOVECS - 1 || this.#pendingBytes >= BATCH_BYTES) await this.flush(stable);
    }
    // Unless it is stable, the caller may reuse `piece` after this returns: nothing of it may stay pending or in flight.
    if (!stable) await this.flush();
  }

  /** A larger staging buffer holding the bytes staged so far (views of the old one already pending stay valid). */
  #growStaging(needed: number): void {
    const grown = new Uint8Array(Math.min(STAGING_BYTES, Math.max(needed, 2 * this.#staging.length, 4096)));
    grown.set(this.#staging.subarray(0, this.#stagingUsed));
    this.#staging = grown;
  }

  #queueStaging(): void {
    if (this.#stagingUsed > this.#stagingQueued) {
      this.#pending.push(this.#staging.subarray(this.#stagingQueued, this.#stagingUsed));
      this.#stagingQueued = this.#stagingUsed;
    }
  }

  /**
   * Writes everything pending, after the write in flight. With `overlap`, returns once that write
   * has started (it stays in flight while the caller goes on; pieces given as stable stay valid),
   * otherwise once it has landed.
   */
  async flush(overlap = false): Promise<void> {
    await this.#inFlight;
    this.#queueStaging();
    if (this.#pending.length > 0) this.#inFlight = writeAt(this.#handle, this.#pending, this.#flushed);
    this.#flushed = this.position;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#stagingUsed = 0;
    this.#stagingQueued = 0;
    // A failed write must surface, even when nobody awaits it before the next one.
    this.#inFlight.catch(() => undefined);
    if (!overlap) await this.#inFlight;
  }

  /** Writes everything pending and gives the file its full length (a final run of zeros was skipped). */
  async finish(): Promise<void> {
    await this.flush();
    const { size } = await this.#handle.stat();
    if (size < this.position) await this.#handle.truncate(this.position);
  }
}

/** Directory fsync errors that mean "not supported here", not "failed". */
const DIRECTORY_SYNC_UNSUPPORTED = new Set(["EINVAL", "ENOTSUP", "EOPNOTSUPP", "EISDIR", "EPERM", "EACCES", "EBADF"]);

/** fsyncs a directory, so that the renames done in it last (a no-op where directories cannot be fsynced). */
export async function syncDirectory(directory: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(directory, "r");
    await handle.sync();
  } catch (error) {
    if (!DIRECTORY_SYNC_UNSUPPORTED.has((error as { code?: string }).code ?? "")) throw error;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Options of every function that writes a file at a path. */
export interface TargetOptions {
  /**
   * Write through a symbolic link at the path (replacing the regular file it points to) instead of
   * refusing it with NOT_REGULAR_FILE. Default `false`.
   */
  readonly followSymlinks?: boolean;
}

/** What a file that is not a regular file is, for messages. */
export function kindOf(info: Stats): string {
  if (info.isSymbolicLink()) return "a symbolic link";
  if (info.isDirectory()) return "a directory";
  if (info.isCharacterDevice()) return "a character device";
  if (info.isBlockDevice()) return "a block device";
  if (info.isFIFO()) return "a FIFO";
  if (info.isSocket()) return "a socket";
  return "not a regular file";
}

/** The file at `path` without following a link at it; `undefined` when there is none. */
async function lstatOrNothing(path: string, shown: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (cause) {
    if ((cause as { code?: string }).code === "ENOENT") return undefined;
    throw ioError("look at", shown, cause);
  }
}

/** What a temporary name adds to the final name's start, but its suffix: a dot before, `.<12 random hex digits>` after. */
const TEMPORARY_NAME_EXTRA = 1 + 1 + 12;
/** Temporary names may always be this long (bytes): far below any file system's limit (255 on Linux, 143 on eCryptfs). */
const TEMPORARY_NAME_ALWAYS_FITS = 64;

/**
 * The temporary name for a file named `name`: `.<name>.<12 random hex digits><suffix>` (`.tmp`;
 * a writer's scratch file `.shuffle.tmp`), with `<name>` cut (between characters) so that the
 * whole is no longer than `name` itself when `name` is longer than 64 bytes. So a final name the
 * file system accepts always has temporary names it accepts: a 250-byte array name gives a
 * 254-byte `.npy` file name and a 254-byte temporary name.
 */
export function temporaryName(name: string, suffix = ".tmp"): string {
  const random = randomBytes(6).toString("hex");
  let budget = Math.max(Buffer.byteLength(name), TEMPORARY_NAME_ALWAYS_FITS) - TEMPORARY_NAME_EXTRA - suffix.length;
  let prefix = "";
  for (const character of name) {
    budget -= Buffer.byteLength(character);
    if (budget < 0) break;
    prefix += character;
  }
  return `.${prefix}.${random}${suffix}`;
}

/**
 * Where a write to `target` may land, and the permission bits to give the new file, by the policy
 * of GNU tar and curl: the final path must be a regular file or absent. A symbolic link there is
 * refused unless `followSymlinks` is set, and then the file it points to must itself be regular;
 * devices, FIFOs, sockets and directories are always refused (NOT_REGULAR_FILE). Only the
 * permission bits (0o777) of a replaced file are kept: set-user-id, set-group-id and sticky bits
 * are never carried over to a file this process owns.
 */
async function checkTarget(target: string, followSymlinks: boolean): Promise<{ path: string; mode: number | undefined }> {
  // A path is resolved as the OS resolves it, not textually: "x.ndp/" and "x.ndp/." name a
  // directory (resolve would make them the file x.ndp), and in "link/../y.ndp" the ".." goes up
  // from where the link points.
  const name = basename(target);
  if (target.endsWith("/") || target.endsWith(sep) || name === "." || name === "..") {
    throw new NdpackError("NOT_REGULAR_FILE", `${target} names a directory: ndpack writes only regular files`, { path: target });
  }
  let path: string;
  try {
    path = join(await realpath(dirname(target)), name);
  } catch (cause) {
    throw ioError("find the folder of", target, cause);
  }
  let info = await lstatOrNothing(path, target);
  if (info?.isSymbolicLink()) {
    if (!followSymlinks) {
      throw new NdpackError("NOT_REGULAR_FILE", `${target} is a symbolic link: ndpack does not write through links unless asked (the followSymlinks option)`, { path: target });
    }
    try {
      path = await realpath(path);
    } catch (cause) {
      throw new NdpackError("NOT_REGULAR_FILE", `${target} is a symbolic link to a file that cannot be reached`, { path: target, cause });
    }
    info = await lstatOrNothing(path, target);
  }
  if (info === undefined) return { path, mode: undefined };
  if (!info.isFile()) throw new NdpackError("NOT_REGULAR_FILE", `${target} is ${kindOf(info)}: ndpack writes only regular files`, { path: target });
  return { path, mode: info.mode & 0o777 };
}

/**
 * A new file that replaces `path` only when it is complete: created next to the target (same
 * directory, so the rename is atomic) as `.<name>.<random>.tmp`, then fsynced, renamed over the
 * target, and the directory fsynced. Until `commit` renames it, the target is untouched; `discard`
 * removes it. The target must be a regular file or absent (see {@link TargetOptions} and
 * `checkTarget`): a replaced file's permission bits are kept, never its set-id or sticky bits; a new
 * file gets the mode `fs.writeFile` would give it (0o666 less the umask).
 *
 * The check and the rename are two steps: a link or device put at the path between them is replaced
 * by the rename (rename never writes through a link), never written into.
 */
export class AtomicFile {
  readonly handle: FileHandle;
  /** The file that will be replaced. */
  readonly path: string;
  /** The temporary file being written. */
  readonly tempPath: string;
  #closed = false;
  #renamed = false;

  private constructor(handle: FileHandle, path: string, tempPath: string) {
    this.handle = handle;
    this.path = path;
    this.tempPath = tempPath;
  }

  /** Creates the temporary file for `target`; NOT_REGULAR_FILE for a target it may not replace, IO_ERROR when it cannot be created. */
  static async create(target: string, options: TargetOptions = {}): Promise<AtomicFile> {
    const followSymlinks = booleanOption(options.followSymlinks, false, "followSymlinks");
    const { path, mode } = await checkTarget(target, followSymlinks);
    const tempPath = join(dirname(path), temporaryName(basename(path)));
    // Listed before it exists: a signal handled between the file's creation and the open's
    // continuation would otherwise leave it behind. Its random name is no other file's.
    temporaryFiles.add(tempPath);
    let handle: FileHandle;
    try {
      handle = await open(tempPath, "wx", mode ?? 0o666);
    } catch (cause) {
      temporaryFiles.delete(tempPath);
      throw ioError("create a temporary file next to", target, cause);
    }
    const file = new AtomicFile(handle, path, tempPath);
    if (mode !== undefined) {
      try {
        await handle.chmod(mode);
      } catch (cause) {
        await file.discard();
        throw ioError("set the mode of", tempPath, cause);
      }
    }
    return file;
  }

  /**
   * Makes the temporary file the target: fsync (unless `durable` is false), close, rename, fsync
   * the directory (unless `durable` or `syncDirectoryToo` is false: a caller that renames many files
   * into one directory fsyncs it once, at the end, with {@link syncDirectory}).
   */
  async commit(durable: boolean, syncDirectoryToo = durable): Promise<void> {
    let action = "write";
    try {
      if (durable) {
        action = "fsync";
        await this.handle.sync();
      }
      action = "close";
      this.#closed = true;
      await this.handle.close();
      action = "rename the temporary file over";
      await rename(this.tempPath, this.path);
      temporaryFiles.delete(this.tempPath);
      this.#renamed = true;
      if (durable && syncDirectoryToo) {
        action = "fsync the directory of";
        await syncDirectory(dirname(this.path));
      }
    } catch (cause) {
      await this.discard();
      throw ioError(action, this.path, cause);
    }
  }

  /** True once the file is the target (renamed over it): a later failure (the directory's fsync) leaves it in place. */
  get renamed(): boolean {
    return this.#renamed;
  }

  /** Closes and removes the temporary file, ignoring errors (it may already be gone). */
  async discard(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.handle.close().catch(() => undefined);
    }
    await unlink(this.tempPath).catch(() => undefined);
    temporaryFiles.delete(this.tempPath);
  }
}

/** Temporary files made and not yet renamed or removed: {@link AtomicFile}s' and writers' scratch files. */
export const temporaryFiles = new Set<string>();

/**
 * Removes every temporary file still there, at once: for a program that ends on a signal (the CLI
 * on Ctrl-C or SIGTERM), which runs no further `await` and would leave them behind.
 */
export function removeTemporaryFilesSync(): void {
  for (const path of temporaryFiles) {
    try {
      unlinkSync(path);
    } catch {
      // Already gone.
    }
  }
  temporaryFiles.clear();
}

/** How long {@link withLock} waits for another writer's lock by default: far longer than any commit holds it. */
const LOCK_WAIT_MS = 60_000;
/** How often a waiting writer looks at the lock again. */
const LOCK_POLL_MS = 10;
/** A lock file without a readable owner (its writer died between creating and filling it) is stale after this long. */
const UNOWNED_LOCK_STALE_MS = 10_000;

/** What a lock file holds: `<pid>@<host name>`, so that another writer on the same host can tell when its holder is gone. */
const lockOwner = () => `${process.pid}@${hostname()}`;

/** True when the lock's holder is gone: a process of this host that no longer runs, or no readable owner for a while. */
async function staleLock(lockPath: string, owner: string): Promise<boolean> {
  const match = /^(\d+)@(.*)$/.exec(owner.trim()); // a writer in another language may end it with a newline
  if (match === null) {
    const stats = await lstat(lockPath).catch(() => undefined);
    return stats !== undefined && Date.now() - stats.mtimeMs > UNOWNED_LOCK_STALE_MS;
  }
  if (match[2] !== hostname()) return false;
  try {
    process.kill(Number(match[1]), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * Removes the stale lock `lockPath` found holding `owner`, one breaker at a time (each holds
 * `<lock>.break`, created exclusively, while it looks again and removes): two waiters that found the
 * same stale lock would otherwise both remove it, the second removing the lock the first took since.
 * True when this writer removed it.
 */
async function breakLock(lockPath: string, owner: string): Promise<boolean> {
  const breakPath = `${lockPath}.break`;
  try {
    await writeFile(breakPath, lockOwner(), { flag: "wx" });
  } catch {
    // Another writer is breaking it. One that died doing so left a break file older than any break takes.
    const stats = await lstat(breakPath).catch(() => undefined);
    if (stats !== undefined && Date.now() - stats.mtimeMs > UNOWNED_LOCK_STALE_MS) await unlink(breakPath).catch(() => undefined);
    return false;
  }
  try {
    if ((await readFile(lockPath, "utf8").catch(() => undefined)) !== owner) return false;
    await unlink(lockPath);
    return true;
  } catch {
    return false;
  } finally {
    await unlink(breakPath).catch(() => undefined);
  }
}

/**
 * Runs `critical` holding the lock file `<path>.lock`, created exclusively (O_EXCL) and holding
 * `<pid>@<host>`, so that writers of the same target (two processes saving one set) run their
 * `critical` one after the other. A lock whose holder is gone (a process of this host that no longer
 * runs) is removed ({@link breakLock}); otherwise, and for a lock this writer cannot read (a
 * directory, no permission), the writer waits up to `waitMs`, then fails with IO_ERROR naming the
 * lock and its holder. The lock is removed when `critical` ends, and on a signal in the CLI (it is
 * registered in {@link temporaryFiles}). An abort of `signal` ends the wait with its reason.
 */
export async function withLock<T>(path: string, critical: () => Promise<T>, waitMs = LOCK_WAIT_MS, signal?: AbortSignal): Promise<T> {
  const lockPath = `${path}.lock`;
  const deadline = Date.now() + waitMs;
  for (;;) {
    // A writer abandoned while it waits stops waiting.
    if (signal?.aborted) throw signal.reason;
    try {
      await writeFile(lockPath, lockOwner(), { flag: "wx" });
      break;
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== "EEXIST") throw ioError("create the lock", lockPath, cause);
    }
    const owner = await readFile(lockPath, "utf8").catch(() => undefined);
    if (owner !== undefined && (await staleLock(lockPath, owner)) && (await breakLock(lockPath, owner))) continue;
    if (Date.now() >= deadline) {
      const holder = owner === undefined ? "unreadable" : owner || "owner unknown";
      throw new NdpackError("IO_ERROR", `${lockPath} is held by another writer (${holder}) for more than ${waitMs} ms; remove it if no writer is running`, { path: lockPath });
    }
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
  temporaryFiles.add(lockPath);
  try {
    return await critical();
  } finally {
    await unlink(lockPath).catch(() => undefined);
    temporaryFiles.delete(lockPath);
  }
}
