/**
 * The one table of formats: name, extensions, sniffing, header reader and writer of ndpack, .npy,
 * .npz and .safetensors. `detectFormat`, `openSource`/`open`, the CLI and conversions all go
 * through it; a new format is one module and one row here.
 *
 * @module
 */
import { NDPACK_FORMAT } from "./ndpack.js";
import { NPY_FORMAT } from "./npy.js";
import { NPZ_FORMAT } from "./npz.js";
import { SAFETENSORS_FORMAT } from "./safetensors.js";
import type { FileFormat, FormatName } from "./types.js";

export type { Container, ContainerOptions, FileFormat, FormatName } from "./types.js";

/** Every format, in the order {@link sniffFormat} tries them (the safetensors guess last: it is the loosest). */
export const FORMATS: readonly FileFormat[] = Object.freeze([NDPACK_FORMAT, NPY_FORMAT, NPZ_FORMAT, SAFETENSORS_FORMAT]);

/** Bytes {@link sniffFormat} needs from the start of a file. */
export const SNIFF_BYTES = 16;

/** The format whose signature `head` (a file's first bytes; the file is `size` bytes long) has, if any. */
export function sniffFormat(head: Uint8Array, size: number = head.length): FileFormat | undefined {
  return FORMATS.find((format) => format.sniff(head, size));
}

/** The format a file name's extension names, if any. */
export function formatOfName(name: string): FileFormat | undefined {
  const lower = name.toLowerCase();
  return FORMATS.find((format) => format.extensions.some((extension) => lower.endsWith(extension)));
}

/** The format called `name`. */
export function formatNamed(name: FormatName): FileFormat {
  return FORMATS.find((format) => format.name === name)!;
}
