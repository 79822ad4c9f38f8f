/**
 * .npz, numpy's many-array format: a zip file whose members are .npy files named `<name>.npy`
 * (`np.savez` stores them, `np.savez_compressed` deflates them). Zip handling, ZIP64 included, is
 * in `zip.ts`; each member is read and written by the .npy module.
 *
 * ndpack metadata and the dtypes numpy cannot name (bfloat16 and float8, stored as void descrs)
 * have no place in a .npz file, so {@link toNpz} adds one more member when there is something to
 * keep: {@link NPZ_NDPACK_MEMBER}, a JSON object `{"metadata": {...}, "dtypes": {"name": "bfloat16"}}`.
 * Its name does not end in `.npy`, so `numpy.load` lists it as raw bytes and loads every array as
 * before; {@link fromNpz} reads it back, so ndpack → .npz → ndpack loses nothing.
 *
 * Stored members are written so that each array's data starts at a multiple of 64 in the file
 * (padding the local header with an extra field, as Android's zipalign does), so that reading them
 * back gives zero-copy views, as it does for .npy files.
 *
 * @example
 * ```ts
 * const bytes = toNpz({ weights: { data: new Float32Array(6), shape: [2, 3] } }, { compress: true });
 * const { arrays } = fromNpz(bytes); // arrays.get("weights")
 * ```
 *
 * @module
 */
import { runOnBytes } from "../io/steps.js";
import { checkCopy, inputBytes, type ArrayInfo, type DecodeInput, type NdArray } from "../decode.js";
import { isDtype, type Dtype } from "../dtypes.js";
import { checkLevel, entriesOf, prepareArray, type ArraysInput } from "../encode.js";
import { booleanOption, checkOptionNames, NdpackError, shown } from "../errors.js";
import { DEFAULT_LIMITS, type ByteOrder } from "../format.js";
import { parseHeaderJson, setOwn, stringifyJson } from "../json.js";
import { decodeUtf8, utf8Encoder } from "../bytes.js";
import { checkMetadata, checkTotalDecoded, DEFAULT_MAX_TOTAL_DECODED_BYTES, checkName, viewOrCopy, type CopyMode } from "./common.js";
import { checkLimit } from "../header.js";
import { checkVoidDtypeOption } from "../formats/find.js";
import { npyArrayInfo, npyByteOrder, npyLayoutSteps, resolveNpyOptions, storedHead, writeNpyHeader, type NpyLayout } from "./npy.js";
import { checkInflatedSize, planZipWrite, readZipDirectory, readZipMember, type ZipEntry, type ZipMemberPlan } from "./zip.js";
import { inMemory, writeToBytes, type ArrayPlan, type WriteSteps } from "../formats/write.js";

/** The member that carries ndpack metadata and dtypes numpy has no name for. */
export const NPZ_NDPACK_MEMBER = "__ndpack__.json";

/** Options of {@link fromNpz}. */
export interface NpzReadOptions {
  /** As for {@link fromNpy}: views of the input where possible (`"auto"`), never copies (`"never"`), or always copies (`"always"`). Deflated members are always fresh memory (with `"never"`, COPY_REQUIRED). */
  readonly copy?: CopyMode;
  /**
   * The dtype of members with a void descr (ml_dtypes arrays saved by numpy): one dtype for all,
   * or one per array name. Overrides what {@link NPZ_NDPACK_MEMBER} says.
   */
  readonly voidDtype?: Dtype | Readonly<Record<string, Dtype>>;
  /** Most members. Default 100,000 (the core's `maxArrays`). */
  readonly maxArrays?: number;
  /** Largest uncompressed size of a deflated member, checked before inflating it. Default 1 GiB (the core's `maxDecodedBytes`). */
  readonly maxDecodedBytes?: number;
  /** Largest uncompressed size of all deflated members together, checked before inflating any. Default 2 GiB. */
  readonly maxTotalDecodedBytes?: number;
  /** Longest .npy header. Default 10000 (numpy's). */
  readonly maxHeaderBytes?: number;
  /** Most dimensions. Default 64. */
  readonly maxDims?: number;
  /** Check every member's CRC-32 (reads every byte). Default true, as Python's zipfile does. */
  readonly verify?: boolean;
}

/** What {@link fromNpz} found. */
export interface NpzContents {
  /** The arrays, by name (the member name without `.npy`), in the order of the zip's directory. */
  readonly arrays: ReadonlyMap<string, NdArray>;
  /** ndpack metadata kept in {@link NPZ_NDPACK_MEMBER}; `{}` when there is none. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Names of members that are neither `.npy` files nor ndpack's member (numpy returns them as bytes, or as an array when their bytes are a .npy file's). */
  readonly ignored: readonly string[];
}

/** Options of {@link toNpz}. */
export interface NpzWriteOptions {
  /** Deflate every member, as `np.savez_compressed` does. Default false: stored, as `np.savez` does. */
  readonly compress?: boolean;
  /** DEFLATE level, 0 to 9. Default 6. */
  readonly compressionLevel?: number;
  /** Metadata to keep in {@link NPZ_NDPACK_MEMBER} (any JSON object). */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /**
   * Write ZIP64 records for every member and the directory even when no size needs them. Default
   * false. An empty archive is written plain even so: numpy.load recognises a zip by its first
   * bytes, and there is nothing for ZIP64 records to describe.
   */
  readonly forceZip64?: boolean;
}

/** What {@link NPZ_NDPACK_MEMBER} says: ndpack metadata, and the dtypes of void members. */
export interface NdpackMember {
  readonly metadata: Record<string, unknown>;
  readonly dtypes: ReadonlyMap<string, Dtype>;
}

/** Reads {@link NPZ_NDPACK_MEMBER}'s content. */
export function readNdpackMember(content: Uint8Array): NdpackMember {
  const fail = (why: string) => new NdpackError("HEADER_INVALID", `${NPZ_NDPACK_MEMBER}: ${why}`, { array: NPZ_NDPACK_MEMBER });
  const text = decodeUtf8(content);
  if (text === undefined) throw fail("not valid UTF-8");
  // The core's strict JSON reader: duplicate keys, lone surrogates and inexact integers are errors.
  const value = parseHeaderJson(text, { maxDepth: DEFAULT_LIMITS.maxDepth, maxNodes: DEFAULT_LIMITS.maxHeaderNodes }) as Record<string, unknown>;
  const keys = Object.keys(value);
  if (keys.length !== 2 || !Object.hasOwn(value, "metadata") || !Object.hasOwn(value, "dtypes")) throw fail('must be an object with exactly the keys "metadata" and "dtypes"');
  const { metadata, dtypes } = value;
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) throw fail('"metadata" must be an object');
  if (dtypes === null || typeof dtypes !== "object" || Array.isArray(dtypes)) throw fail('"dtypes" must be an object');
  const map = new Map<string, Dtype>();
  for (const [name, dtype] of Object.entries(dtypes)) {
    if (!isDtype(dtype)) throw new NdpackError("UNKNOWN_DTYPE", `${NPZ_NDPACK_MEMBER}: array "${name}" has unknown dtype ${shown(dtype)}`, { array: name, field: `dtypes.${name}` });
    map.set(name, dtype);
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(metadata)) setOwn(out, key, item);
  return { metadata: out, dtypes: map };
}

/** What a .npz file without {@link NPZ_NDPACK_MEMBER} says (fresh: the metadata object goes to the caller). */
export function noNdpackMember(): NdpackMember {
  return { metadata: {}, dtypes: new Map() };
}

/** The caller's `voidDtype` for one array, if any. */
function overriddenDtype(option: NpzReadOptions["voidDtype"], name: string): Dtype | undefined {
  if (option === undefined || typeof option === "string") return option;
  return Object.hasOwn(option, name) ? option[name] : undefined;
}

/** The dtype of array `name`'s void descr, if it has one: the caller's, else {@link NPZ_NDPACK_MEMBER}'s. */
export function voidDtypeOf(option: NpzReadOptions["voidDtype"], extra: NdpackMember, name: string): Dtype | undefined {
  return overriddenDtype(option, name) ?? extra.dtypes.get(name);
}

/** A .npz file's members sorted out: {@link NPZ_NDPACK_MEMBER}, the arrays (`<name>.npy`), and the others. */
export function sortMembers(entries: readonly ZipEntry[]): { ndpack: ZipEntry | undefined; arrays: { name: string; entry: ZipEntry }[]; ignored: string[] } {
  const ndpack = entries.find((e) => e.name === NPZ_NDPACK_MEMBER);
  const arrays: { name: string; entry: ZipEntry }[] = [];
  const ignored: string[] = [];
  for (const entry of entries) {
    // Directories (as `zip -r` adds them) are skipped.
    if (entry === ndpack || (entry.name.endsWith("/") && entry.size === 0)) continue;
    if (entry.name.endsWith(".npy")) arrays.push({ name: entry.name.slice(0, -4), entry });
    else ignored.push(entry.name);
  }
  return { ndpack, arrays, ignored };
}

/** What an array reports as its stored form: a stored member's array bytes, or a deflated member's compressed bytes. */
export function storedForm(entry: ZipEntry, layout: NpyLayout): Pick<ArrayInfo, "codec" | "offset" | "byteLength"> {
  return entry.method === "deflate"
    ? { codec: "deflate", offset: entry.dataStart, byteLength: entry.compressedSize }
    : { codec: "none", offset: entry.dataStart + layout.dataStart, byteLength: layout.nbytes };
}

/** Checks {@link NPZ_NDPACK_MEMBER}'s dtypes against the arrays' (`dtypeOf` gives an array's, `undefined` when there is none). */
export function checkNdpackDtypes(extra: NdpackMember, dtypeOf: (name: string) => Dtype | undefined, option: NpzReadOptions["voidDtype"]): void {
  for (const [name, dtype] of extra.dtypes) {
    const actual = dtypeOf(name);
    if (actual === undefined) throw new NdpackError("HEADER_INVALID", `${NPZ_NDPACK_MEMBER} gives a dtype for "${name}", which is not in the file`, { array: name });
    if (actual !== dtype && overriddenDtype(option, name) === undefined) {
      throw new NdpackError("HEADER_INVALID", `${NPZ_NDPACK_MEMBER} says "${name}" is ${dtype}, but its .npy descr says ${actual}`, { array: name, expected: dtype, actual });
    }
  }
}

/**
 * Reads a .npz file (as written by `np.savez`, `np.savez_compressed` or {@link toNpz}): every
 * `.npy` member, stored or deflated, ZIP64 or not. Stored members' arrays are views of `input`
 * where possible; deflated ones are inflated into fresh memory, and report `codec: "deflate"`
 * (with `offset` and `byteLength` of the compressed member), so that passing them to `encode`
 * keeps them compressed.
 *
 * @throws NdpackError BAD_MAGIC, TRUNCATED, TRAILING_BYTES, HEADER_INVALID, OUT_OF_BOUNDS,
 *   OVERLAP, SIZE_MISMATCH, DUPLICATE_NAME, UNSUPPORTED_CODEC (encrypted or not stored/deflate),
 *   LIMIT_EXCEEDED, CODEC_ERROR, CHECKSUM for the zip, and every .npy error of {@link fromNpy}
 *   for a member (with `array` naming it).
 *
 * @example
 * ```ts
 * const { arrays, metadata } = fromNpz(bytes, { voidDtype: { embeddings: "bfloat16" } });
 * ```
 */
export function fromNpz(input: DecodeInput, options: NpzReadOptions = {}): NpzContents {
  checkOptionNames(options, { copy: true, voidDtype: true, maxArrays: true, maxDecodedBytes: true, maxTotalDecodedBytes: true, maxHeaderBytes: true, maxDims: true, verify: true } satisfies Record<keyof NpzReadOptions, true>, "fromNpz");
  const copy = checkCopy(options.copy);
  const npyOptions = resolveNpyOptions({ maxHeaderBytes: options.maxHeaderBytes, maxDims: options.maxDims });
  const maxArrays = checkLimit(options.maxArrays, DEFAULT_LIMITS.maxArrays, "maxArrays");
  const maxDecodedBytes = checkLimit(options.maxDecodedBytes, DEFAULT_LIMITS.maxDecodedBytes, "maxDecodedBytes");
  const maxTotalDecodedBytes = checkLimit(options.maxTotalDecodedBytes, DEFAULT_MAX_TOTAL_DECODED_BYTES, "maxTotalDecodedBytes");
  const verify = booleanOption(options.verify, true, "verify");
  const voidOption = options.voidDtype;
  checkVoidDtypeOption(voidOption);

  const bytes = inputBytes(input);
  const members = sortMembers(readZipDirectory(bytes, { maxEntries: maxArrays }));
  const memberOptions = { maxDecodedBytes, verify };
  // Every member is inflated below: their declared sizes are checked, each and in all, before any is.
  const deflated = [...members.arrays.map(({ entry }) => entry), ...(members.ndpack === undefined ? [] : [members.ndpack])].filter((entry) => entry.method === "deflate");
  for (const entry of deflated) checkInflatedSize(entry, maxDecodedBytes);
  checkTotalDecoded(deflated.map((entry) => entry.size), maxTotalDecodedBytes);
  const extra = members.ndpack === undefined ? noNdpackMember() : readNdpackMember(readZipMember(bytes, members.ndpack, memberOptions));

  const arrays = new Map<string, NdArray>();
  for (const { name, entry } of members.arrays) {
    const content = readZipMember(bytes, entry, memberOptions);
    const layout = runOnBytes(npyLayoutSteps(storedHead(0), content.length, content.length, { ...npyOptions, voidDtype: voidDtypeOf(voidOption, extra, name) }, name), content);
    arrays.set(
      name,
      viewOrCopy(npyArrayInfo(name, layout, storedForm(entry, layout)), content.subarray(layout.dataStart), entry.method === "deflate", copy),
    );
  }
  checkNdpackDtypes(extra, (name) => arrays.get(name)?.dtype, voidOption);
  return { arrays, metadata: extra.metadata, ignored: members.ignored };
}

/**
 * Writes arrays as a .npz file that `numpy.load` reads: one `<name>.npy` member per array (the
 * .npy bytes `np.save` would write), stored or deflated, ZIP64 where needed, plus
 * {@link NPZ_NDPACK_MEMBER} when there is metadata or a bfloat16/float8 array to describe.
 * `arrays` takes what the core's `encode` takes, including `NdArray`s from any reader.
 *
 * @throws NdpackError INVALID_ARGUMENT, DUPLICATE_NAME, UNKNOWN_DTYPE, SIZE_MISMATCH, BAD_SHAPE,
 *   LIMIT_EXCEEDED (as `encode`); INVALID_ARGUMENT for metadata JSON cannot hold, and for a name
 *   whose member numpy.load would read as another (one holding U+0000; `a.npy` beside `a`) or an
 *   unzip tool could write outside its folder (`/x`, `C:x`, `a\b`, a `..` segment).
 *
 * @example
 * ```ts
 * toNpz(new Map([["x", new Float64Array([1, 2])], ["y", { data: new Uint16Array(4), dtype: "bfloat16", shape: [2, 2] }]]), { metadata: { step: 3 } });
 * ```
 */
export function toNpz(arrays: ArraysInput, options: NpzWriteOptions = {}): Uint8Array {
  checkOptionNames(options, { compress: true, compressionLevel: true, metadata: true, forceZip64: true } satisfies Record<keyof NpzWriteOptions, true>, "toNpz");
  const prepared = [...entriesOf(arrays)].map(([name, input]) => inMemory(prepareArray(name, input)));
  return writeToBytes(planNpzWrite(prepared, options), prepared);
}

/** Options of {@link planNpzWrite}: those of {@link toNpz}, and the byte order of the arrays (the CLI's `--big-endian`). */
export interface NpzPlanOptions extends NpzWriteOptions {
  /** Byte order of the members' arrays where numpy can name it. Default `"little"`. */
  readonly byteOrder?: ByteOrder;
}

/**
 * The .npz writer: one `<name>.npy` member per array (its .npy header, then its bytes; stored data
 * 64-byte aligned), plus {@link NPZ_NDPACK_MEMBER} when there is metadata or a dtype numpy cannot
 * name, as a zip (`planZipWrite`). Checks names, options and metadata before the first step.
 */
export function planNpzWrite(arrays: readonly ArrayPlan[], options: NpzPlanOptions = {}): WriteSteps {
  const level = checkLevel(options.compressionLevel);
  const metadata = checkMetadata(options.metadata);
  // Booleans only, as every option of the library (the string "false" deflated every member).
  const method = booleanOption(options.compress, false, "compress") ? "deflate" : "stored";
  const forceZip64 = booleanOption(options.forceZip64, false, "forceZip64");
  const byteOrder = options.byteOrder ?? "little";
  const seen = new Set<string>();
  const members: ZipMemberPlan[] = [];
  const dtypes: Record<string, Dtype> = {};
  arrays.forEach((array, index) => {
    const name = checkName(array.name, seen);
    if (array.dtype.numpy === null) setOwn(dtypes, name, array.dtype.name);
    const prefix = writeNpyHeader(array, { byteOrder });
    const step = { payload: index, prefix, byteOrder: npyByteOrder(array.dtype, byteOrder), cOrder: false };
    members.push({ name: `${name}.npy`, method, align: 64, content: { step, size: prefix.length + array.nbytes } });
  });
  if (Object.keys(metadata).length > 0 || Object.keys(dtypes).length > 0) {
    const text = stringifyJson({ metadata, dtypes }, { maxDepth: DEFAULT_LIMITS.maxDepth, path: "" });
    members.push({ name: NPZ_NDPACK_MEMBER, method, content: utf8Encoder.encode(text) });
  }
  // Names another tool would read as other names or paths. numpy.load looks a key up as a whole
  // member name first: an array named as another member ("a.npy" beside "a", or the metadata
  // member) would read as that member's bytes. Python's zipfile (so numpy.load) cuts a member name
  // at U+0000 ("w\0a" and "w\0b" would both be "w"). An unzip tool could write a member that is
  // absolute, starts with a drive, holds "\" (the three forbidden by APPNOTE 4.4.17; "\" separates
  // on Windows, where zipfile reads "a\b" as "a/b") or has a ".." segment outside the folder it
  // extracts to (zip slip). numpy.load reads all of these, and np.savez writes them.
  for (const { name } of members) {
    const array = seen.has(name) ? name : name.slice(0, -4);
    if (array === name || /\0|^\/|^[A-Za-z]:|\\|(^|\/)\.\.\//.test(name)) throw new NdpackError("INVALID_ARGUMENT", `array "${array}": its .npz member name is unsafe for numpy or unzip tools`, { array });
  }
  return planZipWrite(members, { level, forceZip64 });
}
