/**
 * Header-only readers for .npy, .npz and .safetensors files: what a file holds (names, dtypes,
 * shapes, and where each array's bytes are) learnt from a few positioned reads, whatever the size of
 * the payloads. They are to the whole-buffer readers (`fromNpy`, `fromNpz`, `fromSafetensors`) what
 * `open` is to `load`: the same checks of the same bytes, with the same error codes, except those
 * that need the payloads (the CRC-32 of .npz members).
 *
 * The bytes come from a {@link RangeReader}: a file handle in Node, an HTTP range request or a
 * `Blob.slice` in a browser. Nothing here imports a `node:` module.
 *
 * - .npy: the prefix and the header (two reads).
 * - .safetensors: the 8-byte length and the JSON header (two reads).
 * - .npz: the end records and the central directory from the end of the file, then for each member
 *   its local header and the start of its content, where the .npy header is (inflating only those
 *   first bytes of a deflated member), and the member `__ndpack__.json` when there is one.
 *
 * @example
 * ```ts
 * const handle = await fs.open("model.safetensors");
 * const { size } = await handle.stat();
 * const header = await readSafetensorsHeader({
 *   size,
 *   read: async (offset, length) => {
 *     const bytes = new Uint8Array(length);
 *     const { bytesRead } = await handle.read(bytes, 0, length, offset);
 *     return bytes.subarray(0, bytesRead);
 *   },
 * });
 * for (const array of header.arrays) console.log(array.name, array.dtype, array.shape);
 * ```
 *
 * @module
 */
import type { ArrayInfo } from "../decode.js";
import type { Dtype } from "../dtypes.js";
import { NdpackError } from "../errors.js";
import { DEFAULT_LIMITS } from "../format.js";
import { inflatePrefix } from "../codecs.js";
import { crc32 } from "../crc32.js";
import { checkLimit, type RangeReader } from "./common.js";
import { NPY_MAX_PREFIX_SIZE, readNpyLayout, readNpyPrefix, resolveNpyOptions, type NpyLayout } from "./npy.js";
import { checkNdpackDtypes, checkVoidDtypeOption, noNdpackMember, NPZ_NDPACK_MEMBER, readNdpackMember, sortMembers, storedForm, voidDtypeOf } from "./npz.js";
import { parseSafetensorsHeader, readSafetensorsHeaderLength, resolveSafetensorsOptions, SAFETENSORS_LENGTH_SIZE } from "./safetensors.js";
import { checkInflatedSize, checkMemberCrc, readZipDirectoryAsync, type ZipEntry } from "./zip.js";

export type { RangeReader };

/** Where a .npz array's bytes are: its zip member. */
export interface NpzMemberInfo {
  /** The member's name in the zip (`<array name>.npy`). */
  readonly member: string;
  readonly method: "stored" | "deflate";
  /** The CRC-32 of the member's uncompressed content, from the central directory. */
  readonly crc32: number;
  /** Stored bytes of the member. */
  readonly compressedSize: number;
  /** Uncompressed bytes of the member: the .npy header and the array's bytes. */
  readonly size: number;
  /** Offset of the member's stored bytes in the file. */
  readonly dataStart: number;
  /** Offset of the array's bytes inside the member's uncompressed content (the .npy header's length). */
  readonly npyDataStart: number;
}

/** One array as a header describes it; `offset` and `byteLength` locate its stored bytes in the file. */
export interface ForeignArrayInfo extends ArrayInfo {
  /** For .npz: the member holding the array. */
  readonly npz?: NpzMemberInfo;
}

/** What {@link readNpyHeader}, {@link readNpzHeader} and {@link readSafetensorsHeader} found. */
export interface ForeignHeader {
  readonly format: "npy" | "npz" | "safetensors";
  /** The .npy format version (`"1.0"`, `"2.0"`, `"3.0"`); for .npz, the version of its first member. */
  readonly version: string | undefined;
  /** ndpack metadata the file keeps (`__ndpack__.json` in .npz, `__metadata__` in .safetensors); `{}` for .npy. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** The arrays in the order the whole-buffer reader returns them. */
  readonly arrays: readonly ForeignArrayInfo[];
  /** .npz members that are neither `.npy` files nor `__ndpack__.json`. */
  readonly ignored: readonly string[];
  /** Bytes read to learn all this. */
  readonly bytesRead: number;
}

/** Options of {@link readNpyHeader}. */
export interface NpyHeaderOptions {
  /** The array's name (a .npy file has none). Default `"array"`. */
  readonly name?: string;
  /** As for `fromNpy`: the dtype of a void descr. */
  readonly voidDtype?: Dtype;
  /** As for `fromNpy`. Default 10000 (numpy's). */
  readonly maxHeaderBytes?: number;
  /** As for `fromNpy`. Default 64. */
  readonly maxDims?: number;
}

/** Options of {@link readNpzHeader}: those of `fromNpz` that apply without the payloads. */
export interface NpzHeaderOptions {
  /** As for `fromNpz`: one dtype for every void member, or one per array name. */
  readonly voidDtype?: Dtype | Readonly<Record<string, Dtype>>;
  /** Most members. Default 1,000,000. */
  readonly maxArrays?: number;
  /** Longest .npy header. Default 10000. */
  readonly maxHeaderBytes?: number;
  /** Most dimensions. Default 64. */
  readonly maxDims?: number;
  /**
   * As for `fromNpz`: a deflated member larger than this, uncompressed, is refused (LIMIT_EXCEEDED)
   * before anything of it is inflated. Default 1 GiB. Readers that inflate members as a stream,
   * never holding one whole, can raise it to `Number.MAX_SAFE_INTEGER`.
   */
  readonly maxDecodedBytes?: number;
  /** Largest `__ndpack__.json` member read, in bytes. Default 100 MiB (the core's `maxHeaderBytes`). */
  readonly maxMetadataBytes?: number;
}

/** Options of {@link readSafetensorsHeader}. */
export interface SafetensorsHeaderOptions {
  /** As for `fromSafetensors`. Default 100,000,000 (the reference loader's). */
  readonly maxHeaderBytes?: number;
  /** As for `fromSafetensors`. Default 64. */
  readonly maxDims?: number;
}

/** Counts the bytes a reader hands out. */
class CountingReader {
  bytesRead = 0;
  constructor(readonly source: RangeReader) {}
  get size(): number {
    return this.source.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const bytes = length <= 0 ? new Uint8Array(0) : await this.source.read(offset, Math.min(length, Math.max(0, this.source.size - offset)));
    this.bytesRead += bytes.length;
    return bytes;
  }
}

/**
 * The .npy layout of content `length` bytes long, from its first bytes: the prefix, then the
 * prefix and the header (`readHead(n)` gives the first `n` bytes, all of them when shorter).
 */
async function npyLayoutOf(readHead: (length: number) => Promise<Uint8Array>, length: number, options: ReturnType<typeof resolveNpyOptions>, member?: string): Promise<NpyLayout> {
  const { prefixSize, headerLength } = readNpyPrefix(await readHead(Math.min(length, NPY_MAX_PREFIX_SIZE)), length, options, member);
  return readNpyLayout(await readHead(prefixSize + headerLength), length, options, member);
}

/**
 * Reads the header of a .npy file: its one array, with `offset` where the array's bytes start.
 *
 * @throws NdpackError every error `fromNpy` raises from the prefix and the header, and TRUNCATED or
 *   TRAILING_BYTES when the file's size is not what the header describes.
 */
export async function readNpyHeader(source: RangeReader, options: NpyHeaderOptions = {}): Promise<ForeignHeader> {
  const reader = new CountingReader(source);
  const resolved = resolveNpyOptions(options);
  const layout = await npyLayoutOf((length) => reader.read(0, length), reader.size, resolved);
  const info: ForeignArrayInfo = {
    name: options.name ?? "array",
    dtype: layout.dtype.name,
    shape: Object.freeze([...layout.shape]),
    order: layout.order,
    byteOrder: layout.byteOrder,
    codec: "none",
    offset: layout.dataStart,
    byteLength: layout.nbytes,
    nbytes: layout.nbytes,
  };
  return { format: "npy", version: `${layout.version}.0`, metadata: {}, arrays: [info], ignored: [], bytesRead: reader.bytesRead };
}

// ---------------------------------------------------------------------------------------------
// .safetensors

/**
 * Reads the header of a .safetensors file: every tensor, in data order (as `fromSafetensors`
 * returns them), with its absolute offset, and the metadata decoded as `fromSafetensors` decodes it.
 *
 * @throws NdpackError the errors `fromSafetensors` raises: TRUNCATED, HEADER_TOO_LARGE,
 *   HEADER_INVALID, DUPLICATE_NAME, DUPLICATE_KEY, BAD_NUMBER, UNKNOWN_DTYPE, LIMIT_EXCEEDED,
 *   OVERLAP, GAP, BAD_SHAPE, SIZE_MISMATCH, TRAILING_BYTES.
 */
export async function readSafetensorsHeader(source: RangeReader, options: SafetensorsHeaderOptions = {}): Promise<ForeignHeader> {
  const reader = new CountingReader(source);
  const { maxHeaderBytes, maxDims } = resolveSafetensorsOptions(options);
  const size = reader.size;
  const length = readSafetensorsHeaderLength(await reader.read(0, SAFETENSORS_LENGTH_SIZE), size, maxHeaderBytes);
  const { dataStart, tensors, metadata } = parseSafetensorsHeader(await reader.read(SAFETENSORS_LENGTH_SIZE, length), size, maxDims);
  const arrays = tensors.map(
    (entry): ForeignArrayInfo => ({
      name: entry.name,
      dtype: entry.dtype.name,
      shape: Object.freeze([...entry.shape]),
      order: "C",
      byteOrder: "little",
      codec: "none",
      offset: dataStart + entry.begin,
      byteLength: entry.end - entry.begin,
      nbytes: entry.end - entry.begin,
    }),
  );
  return { format: "safetensors", version: undefined, metadata, arrays, ignored: [], bytesRead: reader.bytesRead };
}

// ---------------------------------------------------------------------------------------------
// .npz

/** Compressed bytes first read while looking for a deflated member's .npy header; doubled while too few. */
const INFLATE_STEP = 4096;

/**
 * The first `length` bytes of a member's uncompressed content: read as they are from a stored
 * member, inflated from as few compressed bytes as needed from a deflated one (each try inflates
 * twice the bytes of the last, so a member that yields little costs at most twice its size).
 */
async function memberHead(reader: CountingReader, member: ZipEntry, length: number): Promise<Uint8Array> {
  const wanted = Math.min(length, member.size);
  if (member.method === "stored") return reader.read(member.dataStart, wanted);
  let head: Uint8Array = new Uint8Array(0);
  let failure: unknown;
  for (let step = Math.min(INFLATE_STEP, member.compressedSize); head.length < wanted; step = Math.min(2 * step, member.compressedSize)) {
    try {
      head = inflatePrefix(await reader.read(member.dataStart, step), wanted, member.name);
    } catch (cause) {
      failure = cause instanceof NdpackError ? cause.cause : cause;
      break;
    }
    if (step === member.compressedSize) break;
  }
  if (failure !== undefined || head.length < wanted) {
    throw new NdpackError("CODEC_ERROR", `zip: member "${member.name}" is not a valid deflate stream${failure instanceof Error ? ` (${failure.message})` : ""}`, { array: member.name, offset: member.dataStart, cause: failure });
  }
  return head;
}

/**
 * Reads the headers of a .npz file: the zip's central directory and each member's local header
 * and .npy header, and the member `__ndpack__.json` (whose CRC-32 is checked: it is read whole).
 * Arrays come in the order of the central directory. A stored member's array has `codec` `"none"`
 * and `offset` where its bytes start; a deflated one has `codec` `"deflate"`, with `offset` and
 * `byteLength` of the member's compressed bytes, as `fromNpz` reports them.
 *
 * @throws NdpackError the errors `fromNpz` raises, except CHECKSUM for array members (whose
 *   content is not read) and CODEC_ERROR past the .npy header of a deflated member. A member
 *   whose .npy header is damaged is reported by what is wrong with that header, where `fromNpz`,
 *   which checks a member's CRC-32 before reading it, reports CHECKSUM.
 */
export async function readNpzHeader(source: RangeReader, options: NpzHeaderOptions = {}): Promise<ForeignHeader> {
  const reader = new CountingReader(source);
  const npyOptions = resolveNpyOptions({ maxHeaderBytes: options.maxHeaderBytes, maxDims: options.maxDims });
  const maxArrays = checkLimit(options.maxArrays, DEFAULT_LIMITS.maxArrays, "maxArrays");
  const maxMetadataBytes = checkLimit(options.maxMetadataBytes, DEFAULT_LIMITS.maxHeaderBytes, "maxMetadataBytes");
  const maxDecodedBytes = checkLimit(options.maxDecodedBytes, DEFAULT_LIMITS.maxDecodedBytes, "maxDecodedBytes");
  const voidOption = options.voidDtype;
  checkVoidDtypeOption(voidOption);
  const members = sortMembers(await readZipDirectoryAsync(reader, { maxEntries: maxArrays }));

  let extra = noNdpackMember();
  const ndpackMember = members.ndpack;
  if (ndpackMember !== undefined) {
    checkInflatedSize(ndpackMember, maxDecodedBytes);
    if (ndpackMember.size > maxMetadataBytes) {
      throw new NdpackError("LIMIT_EXCEEDED", `zip: member "${NPZ_NDPACK_MEMBER}" is ${ndpackMember.size} bytes, more than the limit of ${maxMetadataBytes}; raise the maxMetadataBytes option to read it`, { array: NPZ_NDPACK_MEMBER, expected: maxMetadataBytes, actual: ndpackMember.size, limit: "maxMetadataBytes" });
    }
    const content = await memberHead(reader, ndpackMember, ndpackMember.size);
    checkMemberCrc(ndpackMember, crc32(content));
    extra = readNdpackMember(content);
  }

  const arrays: ForeignArrayInfo[] = [];
  let version: string | undefined;
  for (const { name, entry } of members.arrays) {
    checkInflatedSize(entry, maxDecodedBytes);
    const layout = await npyLayoutOf((length) => memberHead(reader, entry, length), entry.size, { ...npyOptions, voidDtype: voidDtypeOf(voidOption, extra, name) }, name);
    version ??= `${layout.version}.0`;
    arrays.push({
      name,
      dtype: layout.dtype.name,
      shape: Object.freeze([...layout.shape]),
      order: layout.order,
      byteOrder: layout.byteOrder,
      ...storedForm(entry, layout),
      nbytes: layout.nbytes,
      npz: { member: entry.name, method: entry.method, crc32: entry.crc32, compressedSize: entry.compressedSize, size: entry.size, dataStart: entry.dataStart, npyDataStart: layout.dataStart },
    });
  }
  checkNdpackDtypes(extra, (name) => arrays.find((a) => a.name === name)?.dtype, voidOption);
  return { format: "npz", version, metadata: extra.metadata, arrays, ignored: members.ignored, bytesRead: reader.bytesRead };
}
