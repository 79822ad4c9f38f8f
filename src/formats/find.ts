/**
 * Finding a format in a list of them (by its first bytes, its extension, its name), apart from
 * the table of every format (`formats/index.ts`): the core's reader searches only the formats it
 * is given, so a page that reads ndpack files alone does not bundle the foreign formats.
 *
 * @module
 */
import type { FormatName, FormatReader } from "./types.js";

/** Bytes {@link sniffFormatIn} needs from the start of a file. */
export const SNIFF_BYTES = 16;

/** The first of `formats` whose signature `head` (a file's first bytes; the file is `size` bytes long) has, if any. */
export function sniffFormatIn<F extends FormatReader>(formats: readonly F[], head: Uint8Array, size: number = head.length): F | undefined {
  return formats.find((format) => format.sniff(head, size));
}

/** The one of `formats` that a file name's extension names, if any. */
export function formatOfNameIn<F extends FormatReader>(formats: readonly F[], name: string): F | undefined {
  const lower = name.toLowerCase();
  return formats.find((format) => format.extensions.some((extension) => lower.endsWith(extension)));
}

/** The one of `formats` called `name`, if any. */
export function formatNamedIn<F extends FormatReader>(formats: readonly F[], name: FormatName): F | undefined {
  return formats.find((format) => format.name === name);
}
