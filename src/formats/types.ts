/**
 * What every format's reader gives the one lazy reader (`reader.ts`): a {@link Container}, the
 * layout of a file read from its header alone, which says which bytes to read for each array and
 * turns those bytes into the array. Formats implement it without I/O; transports only move bytes.
 *
 * @module
 */
import type { ArrayInfo, NdArray } from "../decode.js";
import type { Dtype } from "../dtypes.js";
import type { ArraysInput } from "../encode.js";
import type { Checksum, ReadLimits } from "../format.js";
import type { ByteRange, PrefetchingSteps, RangeSteps } from "../io/steps.js";
import type { ArrayPlan, WriteSteps } from "./write.js";

/** The formats ndpack reads and writes. */
export type FormatName = "ndpack" | "npy" | "npz" | "safetensors";

/** Options of a format's header reader: the limits of FORMAT.md §7 and the foreign formats' own options. */
export interface ContainerOptions extends Partial<ReadLimits> {
  /** The dtype of void descrs in .npy and .npz files (numpy's way of storing ml_dtypes arrays): one for all, or one per array name. */
  readonly voidDtype?: Dtype | Readonly<Record<string, Dtype>>;
  /** The name of a .npy file's one array (a .npy file has none). Default `"array"`. */
  readonly npyName?: string;
  /**
   * Bytes of the first read, from the start of the file (default `FIRST_READ_BYTES`, 64 KiB). A
   * caller that has already read the first bytes (a set reader checking a shard's header against
   * its index) passes their length, so that the header is not read twice.
   */
  readonly firstReadBytes?: number;
}

/** How a {@link Container} turns bytes it asked for into an array. */
export interface ToArrayOptions {
  /** Check the array's checksum (and, for ndpack, the padding after it). */
  readonly verify: boolean;
  /** `"auto"`: a view of the bytes where alignment and byte order allow. `"always"`: fresh memory. */
  readonly copy: "auto" | "never" | "always";
  /** Largest decompressed size accepted. */
  readonly maxDecodedBytes: number;
}

/**
 * An uncompressed array's stored bytes, and how to check them in pieces: the CRC-32 runs over
 * `before` then `payload`, and {@link RawPayload.check} compares it, given the bytes of `after`.
 */
export interface RawPayload {
  /** Bytes before the payload that its checksum covers (a .npz member's .npy header), if any. */
  readonly before: ByteRange | undefined;
  /** The array's bytes, in its storage order and byte order. */
  readonly payload: ByteRange;
  /** Bytes after the payload that the check needs (an ndpack record's CRC and padding), if any. */
  readonly after: ByteRange | undefined;
  /** Whether there is anything to check (a checksum). */
  readonly checked: boolean;
  /** Throws CHECKSUM (or BAD_PADDING) unless `crc` (CRC-32 of `before` and `payload`) matches. */
  check(crc: number, after: Uint8Array): void;
}

/** A deflated .npz member: its compressed bytes, inflated as a stream by readers that chunk. */
export interface DeflatedMember {
  /** The member's compressed bytes. */
  readonly compressed: ByteRange;
  /** Its uncompressed size: the .npy header, then the array's bytes. */
  readonly size: number;
  /** Where the array's bytes start in the uncompressed content. */
  readonly arrayStart: number;
  /** Throws CHECKSUM unless `crc` is the member's CRC-32 (of its whole uncompressed content). */
  check(crc: number): void;
}

/** Array names in file order and each name's position. */
export interface NameIndex {
  /** The names, in file order (frozen). */
  readonly names: readonly string[];
  /** The position of `name`, or `undefined`. */
  indexOf(name: string): number | undefined;
}

/** A file's layout, read from its header: the arrays, and how to read each. */
export interface Container {
  /** The file's format. */
  readonly format: FormatName;
  /** The format's version: ndpack's, the .npy version (of the first member for .npz), `0.0` for safetensors (which has none). */
  readonly version: { readonly major: number; readonly minor: number };
  /** ndpack's payload alignment; 1 for other formats. */
  readonly alignment: number;
  /** `"crc32"` when arrays carry a CRC-32 (ndpack with checksums, .npz members), else `"none"`. */
  readonly checksum: Checksum;
  /** The user's metadata (`__metadata__` of safetensors, `__ndpack__.json` of .npz, `{}` for .npy). */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Each array, in the order the format's whole-buffer reader returns them. */
  readonly arrays: readonly ArrayInfo[];
  /**
   * Optional: the arrays' names (in {@link Container.arrays}' order, frozen) and their positions,
   * for a format that holds them already (ndpack's layout), so that opening a file makes no object
   * per array: the reader then asks for `arrays` only when an array's info is wanted. Without it
   * the reader lists the names of `arrays`.
   */
  readonly names?: NameIndex;
  /** Exact length of the file. */
  readonly fileLength: number;
  /** .npz members that are neither arrays nor `__ndpack__.json`. */
  readonly ignored: readonly string[];
  /** The bytes to read for array `index`: exactly its stored bytes, and, when verifying, what its check needs (one range). */
  arrayRange(index: number, verify: boolean): ByteRange;
  /** Array `index` from the bytes of {@link Container.arrayRange}, checked when `verify`. */
  toArray(index: number, bytes: Uint8Array, options: ToArrayOptions): NdArray;
  /** How to read array `index` in pieces; `undefined` when it is compressed. */
  rawPayload(index: number): RawPayload | undefined;
  /**
   * Optional: array `index`'s stored bytes, compressed or not, and their check: what verifying
   * reads, without decompressing (FORMAT.md §9 step 22). Formats whose checksum covers the decoded
   * bytes (a deflated .npz member) have none for such arrays; verifying then reads them as `readChunks` does.
   */
  storedRecord?(index: number): RawPayload | undefined;
  /** For a deflated .npz member: how to inflate it as a stream; otherwise `undefined`. */
  deflatedMember(index: number): DeflatedMember | undefined;
}

/**
 * The reading part of a row of the format table: what `openSource` needs of a format. A
 * {@link FileFormat} is one; a reader that never writes (the sharded set's) lists rows of this
 * type alone, so that a bundle which only reads carries no writer. How a row reads is internal.
 */
export interface FormatReader {
  /** The format's name. */
  readonly name: FormatName;
  /** How messages name it. */
  readonly label: string;
  /** File name extensions, lower case, with the dot; the first is the one written. */
  readonly extensions: readonly string[];
  /**
   * True when `head` (the file's first bytes; the file is `size` bytes long) looks like this format. It only looks; the reader checks.
   * @internal
   */
  sniff(head: Uint8Array, size: number): boolean;
  /**
   * The header reader: asks for byte ranges of a file `size` bytes long (announcing some ahead) and returns its layout.
   * @internal
   */
  readContainer(size: number, options: ContainerOptions): PrefetchingSteps<Container>;
  /**
   * Optional: the header reader of a stream, whose length is known only when it ends, for a format
   * whose arrays follow its header in file order (.npy, .safetensors), so that a stream hands each
   * out as its bytes arrive. The same reader as {@link FormatReader.readContainer}, run without the
   * size: it asks only for the bytes right after those it has, up to the end of the header; the
   * container's arrays, in {@link Container.arrays}' order, each start where the one before ends
   * (the first, at the end of the header); its `fileLength` is the length the header implies,
   * which the driver checks the stream's end against. .npz has none (its directory is at its end):
   * `decodeStream` gathers such a stream and reads it from memory. ndpack has none either:
   * `decodeStream` reads its records with the reader that message streams share (`stream.ts`).
   * @internal
   */
  readStream?(options: ContainerOptions): RangeSteps<Container>;
}

/**
 * One row of the format table: everything ndpack knows about a format. Rows come from `FORMATS`
 * of `ndpack/interop` (or `open` of `ndpack/node`, which has them all); how a row reads and writes
 * is internal.
 */
export interface FileFormat extends FormatReader {
  /**
   * The whole-buffer writer: the arrays checked, then {@link FileFormat.planWrite} run in memory
   * (for ndpack, `encode`).
   * @internal
   */
  write(arrays: ArraysInput, options?: Readonly<Record<string, unknown>>): Uint8Array;
  /**
   * The writer without I/O: checks the arrays (all but their bytes) and the options, and returns
   * the steps that write the file (`formats/write.ts`), which the memory driver (`writeToBytes`)
   * and the file driver (`writeToFile` of `ndpack/node`: the CLI's `convert`, `pack` and `extract`
   * for every format) both run. `write` runs it in memory for .npy, .npz and .safetensors. ndpack's
   * `write` is `encode`, which does not: its own plan (`planEncoding`, the same checks and layout)
   * writes into one buffer with each payload copied and checksummed in one pass, in steps that stay
   * in the CPU cache, its CRCs taken on one thread while another maps the output's pages
   * (`encode.ts`), and checks and lays out the arrays once, where the plan declares them (through
   * `planEncoding`) and then writes the header again. The plan run by the memory driver, which
   * gathers pieces, then copies them and checksums apart from the copy, measured 1.2x encode's time
   * for one 256 MiB array and 3.2x for 10,000 arrays of 400 bytes (same process, alternating, a
   * full GC before each of 7 samples). `save` and `encodeStream` stream `encode`'s plan
   * (`planSegments`), and stay on it: the declarations' second header would cost them as it does here.
   * @internal
   */
  readonly planWrite: (arrays: readonly ArrayPlan[], options?: Readonly<Record<string, unknown>>) => WriteSteps;
}
