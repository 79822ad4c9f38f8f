/**
 * Finding a format in a list of them (by its first bytes, its extension, its name), apart from
 * the table of every format (`formats/index.ts`): the core's readers (`openSource`, `decodeStream`)
 * search only the formats they are given, so a page that reads ndpack files alone does not bundle
 * the foreign formats.
 *
 * @module
 */
import { NdpackError, shown } from "../errors.js";
import { isDtype } from "../dtypes.js";
import { recognizeFile } from "../header.js";
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

/** The `formats` option of a reader, checked: a non-empty array of format readers (INVALID_ARGUMENT otherwise). */
export function checkFormats(formats: unknown): readonly FormatReader[] {
  // Each is asked first to sniff the file's first bytes.
  if (!Array.isArray(formats) || formats.length === 0 || !formats.every((format: Partial<FormatReader> | null) => typeof format?.sniff === "function")) throw new NdpackError("INVALID_ARGUMENT", "formats must be a non-empty array of formats (FORMATS of ndpack/interop)", { field: "formats" });
  return formats;
}

/**
 * The options a reader passes to the foreign formats' readers, `voidDtype` and `npyName`, checked
 * before a byte is read (INVALID_ARGUMENT): a stream's reader leaves a caller's stream as it was.
 */
export function checkContainerOptions(options: { readonly voidDtype?: unknown; readonly npyName?: unknown }): void {
  checkVoidDtypeOption(options.voidDtype);
  checkNpyName(options.npyName);
}

/** The `npyName` option (a .npy file's array's name): INVALID_ARGUMENT unless a string. (`voidDtype` is checked by the formats that read it.) */
export function checkNpyName(option: unknown): void {
  if (option !== undefined && typeof option !== "string") throw new NdpackError("INVALID_ARGUMENT", `npyName must be a string, got ${shown(option)}`, { field: "npyName" });
}

/** Checks a `voidDtype` read option: one dtype, or one per array name. */
export function checkVoidDtypeOption(option: unknown): void {
  if (option !== undefined && typeof option !== "string") {
    if (option === null || typeof option !== "object") throw new NdpackError("INVALID_ARGUMENT", "voidDtype must be a dtype name or an object of dtype names by array name", { field: "voidDtype" });
    for (const [name, dtype] of Object.entries(option)) if (!isDtype(dtype)) throw new NdpackError("INVALID_ARGUMENT", `voidDtype of "${name}" must be an ndpack dtype name, got ${shown(dtype)}`, { field: "voidDtype" });
  } else if (option !== undefined && !isDtype(option)) {
    throw new NdpackError("INVALID_ARGUMENT", `voidDtype must be an ndpack dtype name, got ${shown(option)}`, { field: "voidDtype" });
  }
}

/** How messages list `formats`: "ndpack, .npy or .safetensors". */
function listed(formats: readonly FormatReader[]): string {
  const names = formats.map((f: FormatReader) => (f.name === "ndpack" ? "ndpack" : `.${f.name}`));
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]!}`;
}

/**
 * The format of the file whose first bytes are `head` (it is `size` bytes long), among `formats`:
 * the one `options.format` names, else told from `head`, else from the extension of `options.name`.
 * BAD_MAGIC when none matches ({@link unknownFormatError}).
 */
export function chooseFormat(head: Uint8Array, size: number, formats: readonly FormatReader[], options: { readonly format?: FormatName; readonly formats?: readonly FormatReader[]; readonly name?: string }): FormatReader {
  checkFormats(formats);
  if (options.format !== undefined) {
    const named = formatNamedIn(formats, options.format);
    if (named === undefined) throw new NdpackError("INVALID_ARGUMENT", `format ${shown(options.format)} is not one of the formats given (${listed(formats)}); FORMATS of ndpack/interop has them all`, { field: "format" });
    return named;
  }
  const format = sniffFormatIn(formats, head, size) ?? (options.name === undefined ? undefined : formatOfNameIn(formats, options.name));
  if (format === undefined) throw unknownFormatError(head, size, formats, options);
  return format;
}

/**
 * BAD_MAGIC for a file (`options.name`) whose first bytes, `head`, match none of `formats`: it
 * says what the file looks like, and, when the caller gave no `options.formats`, how to read the
 * foreign formats too.
 */
export function unknownFormatError(head: Uint8Array, size: number, formats: readonly FormatReader[], options: { readonly formats?: readonly FormatReader[]; readonly name?: string }): NdpackError {
  const known = listed(formats);
  const recognized = recognizeFile(head, size);
  const what = recognized === undefined ? "" : `; it looks like ${recognized}`;
  const hint = options.formats === undefined ? `; to read .npy, .npz and .safetensors files too, pass formats: FORMATS from ndpack/interop` : "";
  return new NdpackError("BAD_MAGIC", `${options.name ?? "the source"} is not ${known.startsWith("ndpack") ? "an" : "a"} ${known} file (its first bytes match none of them)${what}${hint}`, { offset: 0, ...(options.name === undefined ? {} : { path: options.name }) });
}
