/**
 * .npz in the format table: the header reader reads the zip's central directory (the steps of
 * `interop/zip.ts`), each member's local header and the .npy header at the start of its content
 * (inflating only those first bytes of a deflated member), and `__ndpack__.json` whole. An array of
 * a stored member is one range of exactly its bytes (the whole member, .npy header included, when
 * its CRC-32 is checked); a deflated member is read whole and inflated.
 *
 * @module
 */
import { decompressPayload, inflatePrefix } from "../codecs.js";
import { crc32 } from "../crc32.js";
import type { ArrayInfo } from "../decode.js";
import type { Dtype } from "../dtypes.js";
import { NdpackError } from "../errors.js";
import { DEFAULT_LIMITS } from "../format.js";
import { viewOrCopy } from "../interop/common.js";
import { checkLimit } from "../header.js";
import { npyArrayInfo, npyLayoutSteps, resolveNpyOptions, storedHead, type NpyLayout } from "../interop/npy.js";
import { checkNdpackDtypes, noNdpackMember, NPZ_NDPACK_MEMBER, readNdpackMember, planNpzWrite, sortMembers, storedForm, toNpz, voidDtypeOf } from "../interop/npz.js";
import { checkVoidDtypeOption } from "./find.js";
import { checkInflatedSize, checkMemberCrc, zipDirectorySteps, type ZipEntry } from "../interop/zip.js";
import type { PrefetchingSteps, RangeSteps } from "../io/steps.js";
import type { Container, ContainerOptions, FileFormat } from "./types.js";

/**
 * Bytes read first from a member for its .npy header: numpy pads headers to 64 bytes, so 512 hold
 * all but very long shapes (which take one more read), and, a few bytes after the member's local
 * header, come from the same read as that header (the reader's header reads take a page at least).
 */
const NPY_HEAD_BYTES = 512;
/** Compressed bytes first read while looking for a deflated member's .npy header; doubled while too few. */
const INFLATE_STEP = 4096;
/** Compressed bytes searched for a deflated member's head beyond its length and a quarter: far more than a deflate stream's overhead. */
const HEAD_SEARCH_SLACK_BYTES = 64 * 1024;
/** Room for a local header's extra field longer than its central record's (alignment padding). */
const LOCAL_EXTRA_SLACK_BYTES = 1024;
/**
 * Bytes after each member's local header (as long as its central record says) read ahead with all
 * the others, by the member's method: a stored member's .npy header, a deflated one's first
 * inflate step, each with room for a longer local extra field. A stored member's 1.5 KiB rather
 * than the 5 KiB of a deflated one: a many-member .npz costs that much less memory to open.
 */
const MEMBER_HEAD_PREFETCH_BYTES = { stored: NPY_HEAD_BYTES + LOCAL_EXTRA_SLACK_BYTES, deflate: INFLATE_STEP + LOCAL_EXTRA_SLACK_BYTES } as const;

/**
 * The first `length` bytes of a member's uncompressed content: read as they are from a stored
 * member, inflated from as few compressed bytes as needed from a deflated one (each try reads twice
 * the bytes of the last). Inflating stops once it has those bytes, whatever the rest of the bytes
 * read hold (a member of zeros inflates 1000 to 1): a try costs its compressed bytes and `length`,
 * and damage after those bytes is found when the member is read.
 */
function* memberHead(member: ZipEntry, length: number, whole = false): RangeSteps<Uint8Array> {
  const wanted = Math.min(length, member.size);
  if (member.method === "stored") return yield { offset: member.dataStart, length: wanted };
  // A deflate stream gives its first `wanted` bytes from about as many compressed ones (stored
  // blocks add 5 bytes in 64 KiB): one that gives fewer from this many (empty blocks, a claimed
  // compressed size of gigabytes) is refused here rather than read to its end.
  const most = Math.min(member.compressedSize, wanted + (wanted >>> 2) + HEAD_SEARCH_SLACK_BYTES);
  // `whole` (the metadata member, read at open): inflated as the eager reader does, its stream
  // checked to end where the member says. (An array's damage is found when it is read.)
  if (whole) return decompressPayload(yield { offset: member.dataStart, length: most }, "deflate", wanted, 1, member.name);
  let head: Uint8Array = new Uint8Array(0);
  let failure: unknown;
  for (let step = Math.min(INFLATE_STEP, most); head.length < wanted; step = Math.min(2 * step, most)) {
    const compressed: Uint8Array = yield { offset: member.dataStart, length: step };
    try {
      head = inflatePrefix(compressed, wanted, member.name);
    } catch (cause) {
      failure = cause instanceof NdpackError ? cause.cause : cause;
      break;
    }
    if (step === most) break;
  }
  if (failure !== undefined || head.length < wanted) {
    throw new NdpackError("CODEC_ERROR", `zip: member "${member.name}" is not a valid deflate stream${failure instanceof Error ? ` (${failure.message})` : ""}`, { array: member.name, offset: member.dataStart, cause: failure });
  }
  return head;
}

function* readNpzContainer(size: number, options: ContainerOptions): PrefetchingSteps<Container> {
  const npyOptions = resolveNpyOptions({ maxHeaderBytes: options.maxHeaderBytes, maxDims: options.maxDims });
  const maxArrays = checkLimit(options.maxArrays, DEFAULT_LIMITS.maxArrays, "maxArrays");
  const maxDecodedBytes = checkLimit(options.maxDecodedBytes, DEFAULT_LIMITS.maxDecodedBytes, "maxDecodedBytes");
  const voidOption = options.voidDtype;
  checkVoidDtypeOption(voidOption);
  // After each local header: a deflated member's first inflate step, or a stored one's .npy header, with room for a local extra field (alignment padding).
  // The directory is bounded as an ndpack header is (100 MiB by default), not as the members' .npy
  // headers are (numpy's 10,000 bytes): a user's maxHeaderBytes only ever raises that bound.
  const maxDirectoryBytes = Math.max(DEFAULT_LIMITS.maxHeaderBytes, npyOptions.maxHeaderBytes);
  const members = sortMembers(yield* zipDirectorySteps(size, { maxEntries: maxArrays, maxDirectoryBytes, memberHeadBytes: MEMBER_HEAD_PREFETCH_BYTES }));

  let extra = noNdpackMember();
  const ndpackMember = members.ndpack;
  if (ndpackMember !== undefined) {
    checkInflatedSize(ndpackMember, maxDecodedBytes);
    if (ndpackMember.size > DEFAULT_LIMITS.maxHeaderBytes) {
      throw new NdpackError("LIMIT_EXCEEDED", `zip: member "${NPZ_NDPACK_MEMBER}" is ${ndpackMember.size} bytes, more than the ${DEFAULT_LIMITS.maxHeaderBytes} a header may be`, { array: NPZ_NDPACK_MEMBER, expected: DEFAULT_LIMITS.maxHeaderBytes, actual: ndpackMember.size });
    }
    const content = yield* memberHead(ndpackMember, ndpackMember.size, true);
    checkMemberCrc(ndpackMember, crc32(content));
    extra = readNdpackMember(content);
  }

  const arrays: ArrayInfo[] = [];
  const entries: { entry: ZipEntry; arrayStart: number }[] = [];
  let version: number | undefined;
  // Layouts by header text: the members of a checkpoint share a few shapes, whose .npy headers are then parsed once.
  const known = new Map<string, NpyLayout>();
  for (const { name, entry } of members.arrays) {
    const memberOptions = { ...npyOptions, voidDtype: voidDtypeOf(voidOption, extra, name) };
    // A stored member's .npy header is read in place; a deflated one's is inflated from its first bytes.
    const layout =
      entry.method === "stored"
        ? yield* npyLayoutSteps(storedHead(entry.dataStart), entry.size, NPY_HEAD_BYTES, memberOptions, name, known)
        : yield* npyLayoutSteps((length) => memberHead(entry, length), entry.size, NPY_HEAD_BYTES, memberOptions, name, known);
    version ??= layout.version;
    arrays.push(npyArrayInfo(name, layout, storedForm(entry, layout)));
    entries.push({ entry, arrayStart: layout.dataStart });
  }
  // By name: a search of the arrays per dtype made a file of many bfloat16 members quadratic.
  const dtypes = new Map<string, Dtype>();
  for (const array of arrays) dtypes.set(array.name, array.dtype);
  checkNdpackDtypes(extra, (name) => dtypes.get(name), voidOption);

  return {
    format: "npz",
    version: { major: version ?? 1, minor: 0 },
    alignment: 1,
    checksum: "crc32",
    metadata: extra.metadata,
    arrays,
    fileLength: size,
    ignored: members.ignored,
    arrayRange(index, verify) {
      const { entry, arrayStart } = entries[index]!;
      if (entry.method === "deflate" || verify) return { offset: entry.dataStart, length: entry.compressedSize };
      return { offset: entry.dataStart + arrayStart, length: entry.size - arrayStart };
    },
    toArray(index, bytes, toArrayOptions) {
      const { entry, arrayStart } = entries[index]!;
      const info = arrays[index]!;
      const deflated = entry.method === "deflate";
      let content = bytes;
      if (deflated) {
        checkInflatedSize(entry, toArrayOptions.maxDecodedBytes);
        content = decompressPayload(bytes, "deflate", entry.size, 1, entry.name);
      }
      if (toArrayOptions.verify) checkMemberCrc(entry, crc32(content), info.name);
      const payload = deflated || toArrayOptions.verify ? content.subarray(arrayStart) : content;
      return viewOrCopy(info, payload, deflated, toArrayOptions.copy);
    },
    rawPayload(index) {
      const { entry, arrayStart } = entries[index]!;
      if (entry.method === "deflate") return undefined;
      return {
        before: { offset: entry.dataStart, length: arrayStart },
        payload: { offset: entry.dataStart + arrayStart, length: entry.size - arrayStart },
        after: undefined,
        checked: true,
        check: (crc) => checkMemberCrc(entry, crc, arrays[index]!.name),
      };
    },
    deflatedMember(index) {
      const { entry, arrayStart } = entries[index]!;
      if (entry.method !== "deflate") return undefined;
      return { compressed: { offset: entry.dataStart, length: entry.compressedSize }, size: entry.size, arrayStart, check: (crc) => checkMemberCrc(entry, crc, arrays[index]!.name) };
    },
  };
}

/** .npz's row of the format table. */
export const NPZ_FORMAT: FileFormat = {
  name: "npz",
  label: "numpy .npz",
  extensions: [".npz"],
  // A zip starts with a local header, or, when empty, with its (ZIP64) end record.
  sniff: (head) => head[0] === 0x50 && head[1] === 0x4b && [0x0304, 0x0506, 0x0606].includes(((head[2] ?? 0) << 8) | (head[3] ?? 0)),
  readContainer: readNpzContainer,
  write: (arrays, options) => toNpz(arrays, options),
  planWrite: (arrays, options) => planNpzWrite(arrays, options),
};
