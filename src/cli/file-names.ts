/**
 * Array names as file names, and back: the `.npy` file `ndpack extract` writes for each array, and
 * the array name a command gives a `.npy` file, which is the name `extract` wrote it for when the
 * file name is one `extract` writes (`layer%2F0.npy` holds `layer/0`), and the file name otherwise.
 *
 * A name is percent-encoded (as UTF-8) where it holds `%`, path separators, characters Windows
 * forbids, control characters (C0, DEL, C1) or bidirectional marks and overrides, and in its first
 * character when that is a dot or when the name starts with a Windows device name (`CON`, `aux.0`:
 * such a file is the device on Windows, whatever its extension), so that every name gives a plain
 * file inside the directory. Two names can still give file names that a file system ignoring case
 * or Unicode normalization takes for one file (`A` and `a`, `é` precomposed and decomposed): the
 * later array's file, and any file name longer than 255 bytes, is marked instead with a hash of
 * the whole name, `<prefix>%~<16 hex digits>.npy`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { utf8Length } from "../bytes.js";
import { WINDOWS_DEVICE } from "../set.js";

/** Characters that no file name shows as they are: `%` itself, separators, what Windows forbids, controls, bidirectional marks. */
const ENCODED_CHARACTERS = /[%/\\:*?"<>|\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** The longest file name (in UTF-8 bytes) on the common file systems (ext4, XFS, btrfs, APFS, tmpfs: NAME_MAX). */
const MAX_FILE_NAME_BYTES = 255;
/** Bytes of the encoded name kept in front of the hash in a marked file name. */
const MARKED_PREFIX_BYTES = 200;
/** Between the prefix and the hash of a marked file name: never in an encoded name, where every `%` starts an escape. */
const MARK = "%~";

function percentEncoded(c: string): string {
  return c.charCodeAt(0) < 0x80 ? `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}` : encodeURIComponent(c);
}

/** An array name with the characters that cannot or should not be in a file name percent-encoded (see the module notes). */
function encodedNameOf(name: string): string {
  const encoded = name.replace(ENCODED_CHARACTERS, percentEncoded);
  return encoded.startsWith(".") || WINDOWS_DEVICE.test(encoded) ? percentEncoded(encoded[0]!) + encoded.slice(1) : encoded;
}

/** 16 hex digits of the SHA-256 of a name's UTF-8. */
function hashOf(name: string): string {
  return createHash("sha256").update(name, "utf8").digest("hex").slice(0, 16);
}

/** The marked file name of `name` (encoded `encoded`): its first 200 bytes (whole characters and escapes), `%~`, its hash, `.npy`. */
function markedFileName(name: string, encoded: string): string {
  let prefix = "";
  let bytes = 0;
  for (const piece of encoded.match(/%[0-9A-F]{2}|[^]/gu) ?? []) {
    bytes += utf8Length(piece);
    if (bytes > MARKED_PREFIX_BYTES) break;
    prefix += piece;
  }
  return `${prefix}${MARK}${hashOf(name)}.npy`;
}

/**
 * A file name as file systems that ignore case (APFS and HFS+ as macOS formats them, NTFS, FAT,
 * exFAT) or Unicode normalization (APFS, HFS+) compare it: file names with one key are one file
 * there. Full case mappings both ways (`ß` is `SS` is `ss`) and canonical decomposition (`é` is
 * `e` and U+0301, the Kelvin sign is `K`): a superset of what each of those file systems folds.
 */
function foldedFileName(fileName: string): string {
  return fileName.normalize("NFD").toUpperCase().toLowerCase().normalize("NFD");
}

/** Where `extract` writes an array, and why it is not simply its encoded name. */
export interface ArrayFile {
  readonly name: string;
  readonly fileName: string;
  /** The encoded name would make a file name longer than 255 bytes: the file name is marked (cut, with a hash). */
  readonly cut: boolean;
  /** The earlier array whose file name this one's would be on a file system ignoring case or normalization: the file name is marked. */
  readonly clash: string | undefined;
}

/**
 * The file names `extract` gives to arrays `names` (distinct), in order: each its encoded name plus
 * `.npy`, or, when that is longer than a file name may be (array names may have 4096 bytes), or
 * would be the same file as an earlier array's where case or normalization is ignored, a marked
 * name. No two are one file on any of the common file systems (unless two 64-bit hashes collide).
 */
export function fileNamesOf(names: readonly string[]): ArrayFile[] {
  const taken = new Map<string, string>();
  return names.map((name) => {
    const encoded = encodedNameOf(name);
    const cut = utf8Length(encoded) + ".npy".length > MAX_FILE_NAME_BYTES;
    let fileName = cut ? markedFileName(name, encoded) : `${encoded}.npy`;
    const clash = taken.get(foldedFileName(fileName));
    if (clash !== undefined) fileName = markedFileName(name, encoded);
    taken.set(foldedFileName(fileName), name);
    return { name, fileName, cut, clash };
  });
}

/**
 * The array name of a `.npy` file whose name is `base` + `.npy`: the array `extract` wrote there
 * when `base` is what it writes for one (an encoded name, or a marked one holding the whole encoded
 * name and that name's hash), else `base` as it is (`weights`, `100%`, `a%2fb` with a lower-case
 * escape, a name cut to 200 bytes).
 */
export function arrayNameOfFile(base: string): string {
  const marked = /^([^]*)%~([0-9a-f]{16})$/.exec(base);
  const encoded = marked === null ? base : marked[1]!;
  let name: string;
  try {
    name = decodeURIComponent(encoded);
  } catch {
    return base; // a `%` that starts no escape, or escapes of no UTF-8
  }
  if (encodedNameOf(name) !== encoded) return base;
  if (marked !== null && hashOf(name) !== marked[2]) return base;
  return name;
}
