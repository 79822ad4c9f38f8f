/**
 * Sharded array sets (FORMAT.md §12): many shard files and one index file, read as one. This
 * module is the index, without I/O: {@link parseSetIndex} checks an index's bytes and describes the
 * set; {@link checkShardSize}, {@link shardHeaderEnd}, {@link checkShardHeader} and
 * {@link checkShardNames} are the checks a reader runs on a shard when it first opens it; and
 * {@link planShards}, {@link shardFileName} and {@link writeSetIndex} are how a writer splits
 * arrays into shards, names them and writes the index. Readers and writers (`ndpack/node`, the CLI)
 * only move bytes around these functions.
 *
 * The index is Hugging Face's sharded-checkpoint index (`model.safetensors.index.json`) with one
 * optional key of ndpack's own, `ndpack`, listing each shard's size and header CRC:
 *
 * @example
 * ```ts
 * const index = parseSetIndex(await (await fetch(url)).bytes());
 * index.shardOf.get("lm_head.weight")?.name; // "model-00004-of-00004.safetensors"
 * ```
 *
 * @module
 */
import { crc32 } from "./crc32.js";
import { decodeUtf8, utf8Length } from "./bytes.js";
import { NdpackError, overLimit, shown } from "./errors.js";
import { DEFAULT_LIMITS, PREAMBLE, PREAMBLE_SIZE } from "./format.js";
import { SAFETENSORS_LENGTH_SIZE, SAFETENSORS_MAX_HEADER_BYTES } from "./interop/safetensors.js";
import { parseHeaderJsonInOrder, setOwn, stringifyJson } from "./json.js";

/** §12: the version of the index's `ndpack` object that this library reads and writes. */
export const SET_INDEX_VERSION = 1;

/** §12: a path ending in this names an index (a set), not a single file. */
export const SET_INDEX_SUFFIX = ".index.json";

/** The formats a shard may have, by file extension (§12). */
export type ShardFormat = "ndpack" | "safetensors";

/** §12: shard file extensions and the format each names. */
export const SHARD_EXTENSIONS: Readonly<Record<string, ShardFormat>> = Object.freeze({ ".ndp": "ndpack", ".safetensors": "safetensors" });

/**
 * Largest index accepted by default, in bytes: the index is read whole before anything else, so
 * a hostile one must not make a reader allocate without bound. 100 MiB holds about a million
 * entries; raise the `maxIndexBytes` option for more.
 */
export const DEFAULT_MAX_INDEX_BYTES = 100 * 1024 * 1024;

/** §12: digits of the 1-based shard numbers in shard names (`00001-of-00004`), as Hugging Face writes them. */
export const SHARD_NUMBER_DIGITS = 5;

/** §12: hex digits of the generation tag in the names of shards written by ndpack. */
export const GENERATION_HEX_DIGITS = 8;

/** One shard of a set, as its index describes it. */
export interface SetShard {
  /** File name, relative to the index's folder (or URL prefix); checked safe (§12). */
  readonly name: string;
  /** Its format, from its extension. */
  readonly format: ShardFormat;
  /** Byte length of the shard, from the index's `ndpack` object; `undefined` when the index has none. */
  readonly size: number | undefined;
  /** CRC-32 of the shard's bytes [0, header end), from the `ndpack` object; `undefined` when the index has none. */
  readonly headerCrc32: number | undefined;
  /** The arrays the index maps to this shard, in index order. */
  readonly arrays: readonly string[];
}

/** A checked index: what a set holds and where. */
export interface SetIndex {
  /** The set's user metadata: the index's `metadata` without `total_size` (`{}` when absent). */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** `metadata.total_size` when it is a non-negative integer: the arrays' decoded bytes, as the writer counted them. */
  readonly totalSize: number | undefined;
  /** Every array name, in index (`weight_map`) order. */
  readonly names: readonly string[];
  /** The shard of each array. */
  readonly shardOf: ReadonlyMap<string, SetShard>;
  /** Every shard, in the order the index first maps an array to it. */
  readonly shards: readonly SetShard[];
  /** True when the index has the `ndpack` object, so that every shard's size and header CRC are checked when it is opened. */
  readonly checked: boolean;
}

/** Limits of {@link parseSetIndex}; each defaults to the value of the same name in `DEFAULT_LIMITS` (`maxIndexBytes`: 100 MiB). */
export interface SetIndexLimits {
  /** Largest index, in bytes. */
  readonly maxIndexBytes?: number;
  /** Deepest JSON nesting, the index object counting as 1. */
  readonly maxDepth?: number;
  /** Most arrays in `weight_map`. */
  readonly maxArrays?: number;
  /** Most JSON values in the index (as in a header: FORMAT.md §7), checked as they are parsed. */
  readonly maxHeaderNodes?: number;
  /** Longest array name, in UTF-8 bytes. */
  readonly maxNameBytes?: number;
}

function setInvalid(message: string, details: { field?: string; array?: string; offset?: number; cause?: unknown } = {}): NdpackError {
  return new NdpackError("SET_INVALID", `invalid set index: ${message}`, details);
}

function limitOf(value: unknown, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 1) throw new NdpackError("INVALID_ARGUMENT", `option ${option} must be a positive integer, got ${shown(value)}`, { field: option });
  return value as number;
}

/** The field path of `key` inside `parent`, as error details write it. */
function fieldOf(parent: string, key: string): string {
  return `${parent}[${shown(key)}]`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The format a shard name's extension gives; `undefined` for any other extension. */
export function shardFormatOf(name: string): ShardFormat | undefined {
  for (const [extension, format] of Object.entries(SHARD_EXTENSIONS)) if (name.endsWith(extension) && name.length > extension.length) return format;
  return undefined;
}

/**
 * Names Windows reserves for devices, before the first dot (and spaces before it), in either case:
 * on Windows `CON.ndp` and `aux.0.npy` are the console and the serial port, in any folder, whatever
 * the extension (the names of Microsoft's "Naming Files, Paths, and Namespaces"; Python's
 * `ntpath.isreserved` takes the same). Not part of the public API.
 */
export const WINDOWS_DEVICE = /^(?:CON(?:IN\$|OUT\$)?|PRN|AUX|NUL|(?:COM|LPT)[1-9¹²³]) *(?:\.|$)/i;

/**
 * §12.1: SET_INVALID unless `name` is a plain file name in the index's folder on every system:
 * non-empty, no `/`, `\` or `:` (a Windows drive or stream), not `.` or `..`, no C0 control
 * character, none of the other characters Windows forbids, not a Windows device, and ending in
 * `.ndp` or `.safetensors`. `field` says where the name was found.
 */
export function checkShardName(name: string, field: string): ShardFormat {
  const why =
    name.length === 0 ? "is empty"
    : /[/\\:]/.test(name) ? "is a path, not a file name in the index's folder"
    : name === "." || name === ".." ? "names a folder"
    // eslint-disable-next-line no-control-regex
    : /[\u0000-\u001f]/.test(name) ? "holds a control character"
    : /["*<>?|]/.test(name) || WINDOWS_DEVICE.test(name) ? "is a name Windows forbids or keeps for a device"
    : undefined;
  if (why !== undefined) throw setInvalid(`shard name ${shown(name)} at ${field} ${why}`, { field });
  const format = shardFormatOf(name);
  if (format === undefined) throw setInvalid(`shard ${shown(name)} at ${field} is neither .ndp nor .safetensors`, { field });
  return format;
}

/** JSON white space (RFC 8259), which may surround the index object (Python's json.dump ends files with a newline). */
function trimJsonSpace(text: string): { text: string; start: number } {
  let start = 0;
  let end = text.length;
  const space = (c: string | undefined) => c === " " || c === "\t" || c === "\n" || c === "\r";
  while (start < end && space(text[start])) start++;
  while (end > start && space(text[end - 1])) end--;
  return { text: text.slice(start, end), start };
}

/** The index's JSON, strictly parsed (FORMAT.md §2.1 rules, number rules outside `metadata` included). */
function parseIndexJson(bytes: Uint8Array, maxDepth: number, maxNodes: number): { root: Record<string, unknown>; keyOrders: WeakMap<object, string[]> } {
  const decoded = decodeUtf8(bytes);
  if (decoded === undefined) throw setInvalid("it is not valid UTF-8");
  const { text, start } = trimJsonSpace(decoded);
  if (!text.startsWith("{")) throw setInvalid("it is not a JSON object", { offset: start });
  try {
    const { value, keyOrders } = parseHeaderJsonInOrder(text, { maxDepth, maxNodes });
    return { root: value as Record<string, unknown>, keyOrders };
  } catch (error) {
    if (!(error instanceof NdpackError) || error.code === "LIMIT_EXCEEDED") throw error;
    const where = { offset: start + (error.offset ?? 0), ...(error.field === undefined ? {} : { field: error.field }), cause: error };
    const twice = error.code === "DUPLICATE_KEY" && /^weight_map[.[]/.test(error.field ?? "");
    throw setInvalid(twice ? `an array is mapped twice, at ${error.field}: an array in two shards` : error.message, where);
  }
}

/** `value` as a non-negative safe integer, or SET_INVALID naming `field`. */
function integerAt(value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > max) throw setInvalid(`${field} must be an integer from 0 to ${max}, got ${shown(value)}`, { field });
  return value as number;
}

/**
 * LIMIT_EXCEEDED when an index of `size` bytes is over `maxIndexBytes` (default 100 MiB): run by
 * transports before they read an index whose size they know, and by {@link parseSetIndex}.
 */
export function checkIndexSize(size: number, limits: Pick<SetIndexLimits, "maxIndexBytes"> = {}, name?: string): void {
  const maxIndexBytes = limitOf(limits.maxIndexBytes, DEFAULT_MAX_INDEX_BYTES, "maxIndexBytes");
  if (size > maxIndexBytes) {
    throw overLimit(`set index ${name === undefined ? "" : `${name} `}is ${size} bytes`, size, maxIndexBytes, "maxIndexBytes", name === undefined ? {} : { path: name });
  }
}

/**
 * Parses and checks a set index (FORMAT.md §12), in this order: size, UTF-8, JSON, `metadata`,
 * `weight_map` (each name, then its shard's name), then the `ndpack` object when present (its
 * version, then every shard entry, then that it lists exactly the shards `weight_map` uses).
 * Unknown keys are ignored at the top level and inside `ndpack` and its shard entries.
 *
 * @throws NdpackError SET_INVALID (anything malformed or unsafe; `field` says where),
 *   LIMIT_EXCEEDED (`maxIndexBytes`, `maxDepth`, `maxArrays`, `maxHeaderNodes`, `maxNameBytes`;
 *   `limit` names the option), UNSUPPORTED_VERSION (an `ndpack.version` other than 1),
 *   INVALID_ARGUMENT (bad limits).
 */
export function parseSetIndex(bytes: Uint8Array, limits: SetIndexLimits = {}): SetIndex {
  // A path given where the bytes belong would otherwise be decoded as an index of bad UTF-8 (SET_INVALID).
  if (!(bytes instanceof Uint8Array)) throw new NdpackError("INVALID_ARGUMENT", `a set's index is given as its bytes (a Uint8Array), not ${shown(bytes)}; open a path with open() of ndpack/node`, { field: "indexBytes" });
  const maxDepth = limitOf(limits.maxDepth, DEFAULT_LIMITS.maxDepth, "maxDepth");
  const maxArrays = limitOf(limits.maxArrays, DEFAULT_LIMITS.maxArrays, "maxArrays");
  const maxNameBytes = limitOf(limits.maxNameBytes, DEFAULT_LIMITS.maxNameBytes, "maxNameBytes");
  const maxNodes = limitOf(limits.maxHeaderNodes, DEFAULT_LIMITS.maxHeaderNodes, "maxHeaderNodes");
  checkIndexSize(bytes.length, limits);
  // The set's array order is weight_map's text order (FORMAT.md §12.2), which Object.keys would
  // not give: JavaScript lists integer-like keys ("12") first.
  const { root, keyOrders } = parseIndexJson(bytes, maxDepth, maxNodes);

  const rawMetadata = root.metadata;
  if (rawMetadata !== undefined && !isObject(rawMetadata)) throw setInvalid("metadata must be an object", { field: "metadata" });
  const metadata: Record<string, unknown> = {};
  let totalSize: number | undefined;
  for (const key of (rawMetadata !== undefined && keyOrders.get(rawMetadata)) || []) {
    const value = rawMetadata![key];
    if (key === "total_size") totalSize = Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : undefined;
    else setOwn(metadata, key, value);
  }

  const weightMap = root.weight_map;
  if (!isObject(weightMap)) throw setInvalid(weightMap === undefined ? "weight_map is missing" : "weight_map must be an object of array name to shard name", { field: "weight_map" });
  const names = keyOrders.get(weightMap) ?? [];
  if (names.length > maxArrays) {
    throw overLimit(`set index maps ${names.length} arrays`, names.length, maxArrays, "maxArrays", { field: "weight_map" });
  }
  const building = new Map<string, { name: string; format: ShardFormat; arrays: string[] }>();
  // Each name's shard, in `names`' order, until the shards' objects are made.
  const shardsInOrder: { arrays: string[] }[] = [];
  for (const name of names) {
    // The field is built only for an error: quoting a name costs as much as the rest of its checks.
    if (name.length === 0) throw setInvalid("an array name is empty", { field: fieldOf("weight_map", name) });
    if (utf8Length(name) > maxNameBytes) {
      const field = fieldOf("weight_map", name);
      throw overLimit(`array name at ${field} is ${utf8Length(name)} UTF-8 bytes`, utf8Length(name), maxNameBytes, "maxNameBytes", { field, array: name });
    }
    const shardName = weightMap[name];
    if (typeof shardName !== "string") {
      const field = fieldOf("weight_map", name);
      throw setInvalid(`${field} must be a shard file name (a string), got ${shown(shardName)}`, { field, array: name });
    }
    let shard = building.get(shardName);
    if (shard === undefined) {
      shard = { name: shardName, format: checkShardName(shardName, fieldOf("weight_map", name)), arrays: [] };
      building.set(shardName, shard);
    }
    shard.arrays.push(name);
    shardsInOrder.push(shard);
  }

  const listed = readNdpackObject(root.ndpack);
  if (listed !== undefined) {
    for (const shardName of building.keys()) {
      if (!listed.has(shardName)) throw setInvalid(`shard ${shown(shardName)} holds arrays of weight_map but is not listed in ndpack.shards`, { field: "ndpack.shards", array: building.get(shardName)!.arrays[0]! });
    }
    for (const shardName of listed.keys()) {
      if (!building.has(shardName)) throw setInvalid(`shard ${shown(shardName)} is listed in ndpack.shards but weight_map maps no array to it`, { field: fieldOf("ndpack.shards", shardName) });
    }
  }
  // Each shard's object made whole at once (one hidden class for all, whatever the index holds).
  const made = new Map<object, SetShard>();
  for (const shard of building.values()) {
    const check = listed?.get(shard.name);
    made.set(shard, Object.freeze({ name: shard.name, format: shard.format, size: check?.size, headerCrc32: check?.headerCrc32, arrays: Object.freeze(shard.arrays) }));
  }
  const shards = [...made.values()];
  const shardOf = new Map<string, SetShard>();
  for (let i = 0; i < names.length; i++) shardOf.set(names[i]!, made.get(shardsInOrder[i]!)!);
  return Object.freeze({ metadata: Object.freeze(metadata), totalSize, names: Object.freeze(names), shardOf, shards: Object.freeze(shards), checked: listed !== undefined });
}

/** The `ndpack` object: each listed shard's size and header CRC; `undefined` when the index has none. */
function readNdpackObject(value: unknown): Map<string, { size: number; headerCrc32: number }> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw setInvalid("ndpack must be an object", { field: "ndpack" });
  const version = integerAt(value.version, "ndpack.version");
  if (version !== SET_INDEX_VERSION) {
    throw new NdpackError("UNSUPPORTED_VERSION", `set index version ${version} is not supported; this reader reads version ${SET_INDEX_VERSION}`, { field: "ndpack.version", expected: SET_INDEX_VERSION, actual: version });
  }
  if (!isObject(value.shards)) throw setInvalid("ndpack.shards must be an object of shard name to { size, header_crc32 }", { field: "ndpack.shards" });
  const listed = new Map<string, { size: number; headerCrc32: number }>();
  for (const [name, entry] of Object.entries(value.shards)) {
    const field = fieldOf("ndpack.shards", name);
    checkShardName(name, field);
    if (!isObject(entry)) throw setInvalid(`${field} must be an object { size, header_crc32 }`, { field });
    listed.set(name, { size: integerAt(entry.size, `${field}.size`), headerCrc32: integerAt(entry.header_crc32, `${field}.header_crc32`, 0xffffffff) });
  }
  return listed;
}

/** How many bytes from the start of a shard {@link shardHeaderEnd} needs to find the header's end. */
export function shardPrefixLength(shard: Pick<SetShard, "format">): number {
  return shard.format === "ndpack" ? PREAMBLE_SIZE : SAFETENSORS_LENGTH_SIZE;
}

function fileChanged(shard: Pick<SetShard, "name">, what: string, expected: number, actual: number): NdpackError {
  return new NdpackError("FILE_CHANGED", `shard ${shard.name} does not match the index: ${what}`, { path: shard.name, field: fieldOf("ndpack.shards", shard.name), expected, actual });
}

/** §12, first check of a shard: its size is the index's (FILE_CHANGED otherwise). Nothing to check without `ndpack`. */
export function checkShardSize(shard: SetShard, size: number): void {
  if (shard.size !== undefined && size !== shard.size) throw fileChanged(shard, `it is ${size} bytes, the index says ${shard.size}`, shard.size, size);
}

/**
 * §12: where a shard's header ends (20 + H for .ndp, 8 + N for .safetensors), from its first
 * {@link shardPrefixLength} bytes; `size` is the shard's length. HEADER_TOO_LARGE when the header
 * is longer than the shard format's cap (`maxHeaderBytes`), so that a hostile shard cannot make the
 * reader read and allocate more; FILE_CHANGED when the header would end past the shard's end.
 */
export function shardHeaderEnd(shard: Pick<SetShard, "name" | "format">, prefix: Uint8Array, size: number, maxHeaderBytes?: number): number {
  const need = shardPrefixLength(shard);
  if (prefix.length < need) throw fileChanged(shard, `it is ${size} bytes, too short for a ${shard.format} header`, need, prefix.length);
  const view = new DataView(prefix.buffer, prefix.byteOffset, need);
  const length = shard.format === "ndpack" ? view.getUint32(PREAMBLE.headerLength, true) : Number(view.getBigUint64(0, true));
  const cap = maxHeaderBytes ?? (shard.format === "ndpack" ? DEFAULT_LIMITS.maxHeaderBytes : SAFETENSORS_MAX_HEADER_BYTES);
  if (length > cap) {
    throw overLimit(`shard ${shard.name}: header is ${length} bytes`, length, cap, "maxHeaderBytes", { path: shard.name }, "HEADER_TOO_LARGE");
  }
  const end = need + length;
  if (end > size) throw fileChanged(shard, `its header would end at byte ${end}, past its end at ${size}`, end, size);
  return end;
}

/** §12, second check of a shard: the CRC-32 of its bytes [0, header end) is the index's (FILE_CHANGED otherwise). */
export function checkShardHeader(shard: SetShard, head: Uint8Array): void {
  if (shard.headerCrc32 === undefined) return;
  const actual = crc32(head);
  if (actual !== shard.headerCrc32) throw fileChanged(shard, `the CRC-32 of its header is ${hex(actual)}, the index says ${hex(shard.headerCrc32)}`, shard.headerCrc32, actual);
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, "0")}`;
}

/**
 * §12, once a shard's header is read: the arrays it holds are exactly those the index maps to it.
 * SET_INVALID for an array of the shard that the index does not list, or maps to another shard
 * (an array in two shards), and for an array the index maps to this shard that it does not hold.
 */
export function checkShardNames(index: SetIndex, shard: SetShard, names: Iterable<string>): void {
  const held = new Set<string>();
  for (const name of names) {
    held.add(name);
    const mapped = index.shardOf.get(name);
    if (mapped === undefined) throw setInvalid(`shard ${shard.name} holds array ${shown(name)}, which the index does not list`, { array: name, field: "weight_map" });
    if (mapped !== shard) throw setInvalid(`array ${shown(name)} is in shard ${shard.name}, but the index maps it to ${mapped.name}: an array in two shards`, { array: name, field: fieldOf("weight_map", name) });
  }
  for (const name of shard.arrays) {
    if (!held.has(name)) throw setInvalid(`the index maps array ${shown(name)} to shard ${shard.name}, which does not hold it`, { array: name, field: fieldOf("weight_map", name) });
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * §12's packing rule: arrays, in the order given, fill shard after shard; the next array starts a
 * new shard when its bytes (`sizes`, decoded bytes) would take the current shard's total past
 * `maxShardBytes` (an empty array never does). An array is never split: one larger than
 * `maxShardBytes` has a shard to itself.
 * Returns each shard's array indexes (none for no arrays).
 */
export function planShards(sizes: readonly number[], maxShardBytes: number): number[][] {
  const shards: number[][] = [];
  let used = 0;
  sizes.forEach((size, index) => {
    const current = shards[shards.length - 1];
    if (current === undefined || (size > 0 && used + size > maxShardBytes)) {
      shards.push([index]);
      used = size;
    } else {
      current.push(index);
      used += size;
    }
  });
  return shards;
}

/** §12: the name of shard `number` (1-based) of `count`: `<stem>-<generation>-00001-of-00004.ndp`. */
export function shardFileName(stem: string, generation: string, number: number, count: number, format: ShardFormat): string {
  const digits = (n: number) => String(n).padStart(SHARD_NUMBER_DIGITS, "0");
  const extension = format === "ndpack" ? ".ndp" : ".safetensors";
  return `${stem}-${generation}-${digits(number)}-of-${digits(count)}${extension}`;
}

/** §12: the index file name of a set written with `stem`: `<stem>.ndp.index.json` (or `<stem>.safetensors.index.json`). */
export function setIndexFileName(stem: string, format: ShardFormat): string {
  return `${stem}${format === "ndpack" ? ".ndp" : ".safetensors"}${SET_INDEX_SUFFIX}`;
}

/** INVALID_ARGUMENT unless `stem` makes safe shard and index names (§12's rule for shard names). */
export function checkStem(stem: unknown): string {
  // A lone surrogate cannot be written in the index's JSON, nor in most file systems' names.
  if (typeof stem !== "string" || stem.length === 0 || !stem.isWellFormed()) throw new NdpackError("INVALID_ARGUMENT", `stem must be a non-empty string of whole characters, got ${shown(stem)}`, { field: "stem" });
  try {
    checkShardName(`${stem}.ndp`, "stem");
  } catch (error) {
    throw new NdpackError("INVALID_ARGUMENT", `stem ${shown(stem)} cannot start a file name: it must hold no /, \\, :, "*<>?| or control character, and name no Windows device (CON, NUL, COM1...)`, { field: "stem", cause: error });
  }
  return stem;
}

/** One shard as a writer lists it in the index. */
export interface WrittenShard {
  /** File name (from {@link shardFileName}). */
  readonly name: string;
  /** Byte length of the complete shard. */
  readonly size: number;
  /** CRC-32 of its bytes [0, header end). */
  readonly headerCrc32: number;
  /** Its arrays, in the order they were given (an .ndp shard's file order; a .safetensors writer lays them out by item size). */
  readonly arrays: readonly string[];
  /** Their decoded sizes (nbytes), in the same order. */
  readonly nbytes: readonly number[];
}

/**
 * The text of a set's index (§12, "Writing the index"): `metadata` (`total_size` first, then the
 * user's keys), `weight_map` in shard order then each shard's arrays' order, and `ndpack` listing every shard.
 * One entry per line, each value written as `stringifyJson` writes it; ends with a newline.
 * INVALID_ARGUMENT for user metadata that is not a plain object (as `encode`'s), with a `total_size`
 * key, or that JSON cannot hold exactly.
 */
export function writeSetIndex(shards: readonly WrittenShard[], userMetadata: Readonly<Record<string, unknown>> = {}): string {
  // As encode's metadata: an array or a string would otherwise be written as an object of its indexes.
  const prototype: unknown = userMetadata !== null && typeof userMetadata === "object" ? Object.getPrototypeOf(userMetadata) : undefined;
  if (prototype !== Object.prototype && prototype !== null) {
    throw new NdpackError("INVALID_ARGUMENT", "metadata must be a plain JSON object", { field: "metadata" });
  }
  if (Object.hasOwn(userMetadata, "total_size")) {
    throw new NdpackError("INVALID_ARGUMENT", "metadata key total_size is the set index's own (the arrays' decoded bytes, written by ndpack): use another key", { field: "metadata.total_size" });
  }
  const totalSize = shards.reduce((sum, shard) => shard.nbytes.reduce((a, b) => a + b, sum), 0);
  const metadata: Record<string, unknown> = { total_size: totalSize };
  for (const [key, value] of Object.entries(userMetadata)) setOwn(metadata, key, value);
  const json = (value: unknown, path: string) => stringifyJson(value, { maxDepth: DEFAULT_LIMITS.maxDepth - 1, path });
  const block = (lines: readonly string[], indent: string) => (lines.length === 0 ? "{}" : `{\n${lines.map((line) => `${indent}  ${line}`).join(",\n")}\n${indent}}`);
  const weightMap = shards.flatMap((shard) => shard.arrays.map((name) => `${json(name, "weight_map")}: ${json(shard.name, "weight_map")}`));
  const listed = shards.map((shard) => `${json(shard.name, "ndpack.shards")}: {"size":${shard.size},"header_crc32":${shard.headerCrc32}}`);
  return `{\n  "metadata": ${json(metadata, "metadata")},\n  "weight_map": ${block(weightMap, "  ")},\n  "ndpack": {\n    "version": ${SET_INDEX_VERSION},\n    "shards": ${block(listed, "    ")}\n  }\n}\n`;
}
