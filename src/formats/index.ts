/**
 * The one table of formats: name, extensions, sniffing, header reader and writer of ndpack, .npy,
 * .npz and .safetensors. `detectFormat`, `open` of `ndpack/node`, the CLI and conversions all go
 * through it, and `ndpack/interop` exports it for `openSource` of `ndpack/source` (which reads ndpack alone
 * unless given it, so that the core's bundle holds no foreign format); a new format is one module
 * and one row here.
 *
 * @module
 */
import { NDPACK_FORMAT } from "./ndpack.js";
import { NPY_FORMAT } from "./npy.js";
import { NPZ_FORMAT } from "./npz.js";
import { SAFETENSORS_FORMAT } from "./safetensors.js";
import { formatNamedIn, formatOfNameIn, sniffFormatIn } from "./find.js";
import type { FileFormat, FormatName } from "./types.js";

export type { Container, ContainerOptions, FileFormat, FormatName } from "./types.js";

/**
 * Every format ndpack reads: ndpack, .npy, .npz and .safetensors, in the order their signatures
 * are tried (the safetensors guess last: it is the loosest). Give it to `openSource` to read the
 * foreign formats too (`openSource` of `ndpack/source` reads ndpack files alone by default).
 *
 * @example
 * ```ts
 * import { blobSource, openSource } from "ndpack/source";
 * import { FORMATS } from "ndpack/interop";
 *
 * const reader = await openSource(blobSource(file), { name: file.name, formats: FORMATS });
 * ```
 */
export const FORMATS: readonly FileFormat[] = Object.freeze([NDPACK_FORMAT, NPY_FORMAT, NPZ_FORMAT, SAFETENSORS_FORMAT]);

/** The format whose signature `head` (a file's first bytes; the file is `size` bytes long) has, if any. */
export function sniffFormat(head: Uint8Array, size: number = head.length): FileFormat | undefined {
  return sniffFormatIn(FORMATS, head, size);
}

/** The format a file name's extension names, if any. */
export function formatOfName(name: string): FileFormat | undefined {
  return formatOfNameIn(FORMATS, name);
}

/** The format called `name`. */
export function formatNamed(name: FormatName): FileFormat {
  return formatNamedIn(FORMATS, name)!;
}
