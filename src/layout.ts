/**
 * Where payloads go (FORMAT.md §4): the writer places records with {@link nextRecordOffset}, and
 * the reader checks each entry against the same function, so the two cannot drift apart. A read
 * header becomes a {@link FileLayout}: every array's facts in a few flat lists, not an object
 * graph per array, so that a file of 100,000 arrays costs its reader little memory and no
 * garbage-collection time.
 *
 * @module
 */
import { DTYPES, type DtypeInfo } from "./dtypes.js";
import { NdpackError } from "./errors.js";
import { alignUp, CHECKSUM_SIZE, CODECS, MAX_SAFE_SIZE, PREAMBLE_SIZE, type ByteOrder, type Codec, type Order } from "./format.js";
import { ownString } from "./json.js";
import type { Header } from "./schema.js";

/** §4: start of the data section, for a header of `headerLength` bytes. */
export function dataSectionStart(headerLength: number, alignment: number): number {
  return alignUp(PREAMBLE_SIZE + headerLength, alignment);
}

/** §4: offset of the record that follows a record ending at `previousEnd` (0 for the first record). */
export function nextRecordOffset(previousEnd: number, alignment: number): number {
  return alignUp(previousEnd, alignment);
}

/** The reader's side of §4 for one entry (§9 steps 15 to 18); returns the record's end. */
export function checkRecordPlacement(
  entry: { name: string; offset: number; byteLength: number },
  index: number,
  previousEnd: number,
  layout: { alignment: number; checksumSize: number; dataLength: number },
): number {
  const field = `arrays[${index}].offset`;
  const { offset } = entry;
  const expected = nextRecordOffset(previousEnd, layout.alignment);
  const details = { array: entry.name, field, actual: offset, expected };
  if (offset % layout.alignment !== 0) {
    throw new NdpackError("MISALIGNED", `array "${entry.name}": offset ${offset} is not a multiple of the alignment ${layout.alignment}`, details);
  }
  if (offset < previousEnd) {
    throw new NdpackError("OVERLAP", `array "${entry.name}": offset ${offset} overlaps the previous record, which ends at ${previousEnd}`, details);
  }
  if (offset > expected) {
    throw new NdpackError("GAP", `array "${entry.name}": offset ${offset} leaves unaccounted bytes; the record must start at ${expected}`, details);
  }
  const end = offset + entry.byteLength + layout.checksumSize;
  if (end > layout.dataLength) {
    throw new NdpackError("OUT_OF_BOUNDS", `array "${entry.name}": its record ends at ${end}, past the data section's length ${layout.dataLength}`, { ...details, field: `arrays[${index}].byteLength`, expected: layout.dataLength, actual: end });
  }
  return end;
}

/**
 * Element count of `shape[from, to)`, or `undefined` when the product of its non-zero dimensions
 * times `itemSize` exceeds 2^53-1 (§9 step 13: a zero dimension does not excuse the others).
 */
export function elementCount(shape: ArrayLike<number>, itemSize: number, from = 0, to = shape.length): number | undefined {
  let product = 1;
  let zero = false;
  for (let i = from; i < to; i++) {
    const dim = shape[i]!;
    if (dim === 0) {
      zero = true;
      continue;
    }
    product *= dim;
    if (product * itemSize > MAX_SAFE_SIZE) return undefined;
  }
  return zero ? 0 : product;
}

/** One array as the header describes it, with the sizes a reader derives from it. */
export interface EntryLayout {
  /** Position in the header's `arrays` list. */
  readonly index: number;
  readonly name: string;
  readonly dtype: DtypeInfo;
  readonly shape: readonly number[];
  readonly order: Order;
  readonly byteOrder: ByteOrder;
  readonly codec: Codec;
  /** Absolute file offset of the stored payload. */
  readonly start: number;
  /** Stored payload length (compressed length when there is a codec). */
  readonly byteLength: number;
  /** Number of elements (product of the shape). */
  readonly count: number;
  /** Decoded size: count x item size. */
  readonly nbytes: number;
}

/** The header's fields other than its arrays. */
export type HeaderFields = Omit<Header, "arrays">;

/** The dtypes by their number in {@link FileLayout}'s packed kinds. */
const DTYPE_LIST: readonly DtypeInfo[] = Object.values(DTYPES);

// A kind packs an array's dtype number (bits 0-4), order F (bit 5), big-endian (bit 6) and codec number (bits 7-8).
const F_ORDER = 32;
const BIG_ENDIAN = 64;
const CODEC_SHIFT = 7;

/** The packed kind of an array (see {@link FileLayout}). */
export function entryKind(dtype: DtypeInfo, order: Order, byteOrder: ByteOrder, codec: Codec): number {
  return DTYPE_LIST.indexOf(dtype) | (order === "F" ? F_ORDER : 0) | (byteOrder === "big" ? BIG_ENDIAN : 0) | (CODECS.indexOf(codec) << CODEC_SHIFT);
}

/** FNV-1a step: the hash of a name, one UTF-16 unit at a time, starting from {@link NAME_HASH_SEED}. */
export function hashStep(hash: number, unit: number): number {
  return Math.imul(hash ^ unit, 0x01000193);
}

/** The FNV-1a offset basis. */
export const NAME_HASH_SEED = 0x811c9dc5 | 0;

/** The FNV-1a hash of `name`, over its UTF-16 units: the name table's (see {@link FileLayout}). */
function hashName(name: string): number {
  let hash = NAME_HASH_SEED;
  for (let i = 0; i < name.length; i++) hash = hashStep(hash, name.charCodeAt(i));
  return hash;
}

/**
 * Everything a reader knows after reading the header (§9 steps 1–19): enough to find and check any
 * payload. The arrays' facts are kept in typed arrays, one slot per array, and their names in an
 * open-addressing table of positions: a file of 100,000 arrays is a few flat buffers, not 100,000
 * objects for the garbage collector to trace. An {@link EntryLayout} object is made only when one
 * is asked for.
 *
 * The table's hash (FNV-1a) is one anyone can compute, so a hostile header can name 100,000 arrays
 * that share a slot, and each lookup would then walk every name before it: minutes for a 4 MB
 * header. So a name finds its place within 64 slots of its own, or goes to an overflow `Map` (the
 * engine's hash, seeded per process): any header costs at most 64 comparisons per name. Real files
 * need far fewer in a table at most half full (26 at most for 100,000 names of common patterns).
 */
export class FileLayout {
  // The fields set by the constructor are `declare`d: a class field is otherwise defined as
  // undefined before the constructor sets it, which costs each new layout a change of every such
  // field's representation in V8 (and the bundle its name once more).
  /** Format version of the file. */
  declare readonly version: { readonly major: number; readonly minor: number };
  /** The header's fields other than its arrays. */
  declare readonly header: HeaderFields;
  /** Length of the header in bytes. */
  declare readonly headerLength: number;
  /**
   * Array names in file order, as the header's reader added them: views into the header text
   * where it sliced them, so that reading a header makes no copy of a name; {@link names} gives
   * copies, made when first asked for (and frozen).
   */
  private keys: string[] = [];
  /** Absolute offset of the data section (D). */
  declare readonly dataStart: number;
  /** Bytes of checksum after each payload (0 or 4). */
  declare readonly checksumSize: number;
  /** Exact length of the whole file. */
  declare readonly fileLength: number;
  /** Every array's dimensions one after the other (the first `dimCount` slots); array i's end at shapeEnds[i]. */
  declare dims: Float64Array;
  dimCount = 0;
  /** Absolute payload offsets, stored lengths, decoded sizes, packed kinds and shape ends, by position. */
  declare private readonly starts: Float64Array;
  declare private readonly byteLengths: Float64Array;
  declare private readonly nbytes: Float64Array;
  declare private readonly kinds: Uint16Array;
  declare private readonly shapeEnds: Uint32Array;
  /** Position + 1 of the name hashed to each slot, 0 where none (linear probing, at most half full). */
  declare private readonly slots: Uint32Array;
  /** Positions of the names that found no slot within 64 of their own. */
  #overflow: Map<string, number> | undefined;
  private all: EntryLayout[] | undefined;
  private lastFound = -1;

  /** `capacity`: the most arrays that can be added. */
  constructor(version: { readonly major: number; readonly minor: number }, header: HeaderFields, headerLength: number, capacity: number) {
    this.version = version;
    this.header = header;
    this.headerLength = headerLength;
    this.dataStart = dataSectionStart(headerLength, header.alignment);
    this.checksumSize = CHECKSUM_SIZE[header.checksum];
    this.fileLength = this.dataStart + header.dataLength;
    capacity = Math.max(capacity, 1);
    const slotCount = 2 ** Math.ceil(Math.log2(capacity * 2));
    // The tables share one ArrayBuffer: memory of its own for each cost seven allocations (3.7 µs
    // for 13 arrays, half of decoding a small file), one costs 1 µs. Tables of up to 64 bytes
    // (8 arrays) live on V8's heap for less than that one.
    const block = capacity > 8 ? new ArrayBuffer(46 * capacity + 4 * slotCount) : undefined;
    let at = 0;
    const table = <T extends ArrayBufferView>(type: { new (length: number): T; new (buffer: ArrayBuffer, offset: number, length: number): T }, length: number): T => {
      const view = block ? new type(block, at, length) : new type(length);
      at += view.byteLength;
      return view;
    };
    this.starts = table(Float64Array, capacity);
    this.byteLengths = table(Float64Array, capacity);
    this.nbytes = table(Float64Array, capacity);
    this.dims = table(Float64Array, capacity * 2);
    this.shapeEnds = table(Uint32Array, capacity);
    this.slots = table(Uint32Array, slotCount);
    this.kinds = table(Uint16Array, capacity);
  }

  get size(): number {
    return this.keys.length;
  }

  /** Array names in file order (frozen), each a string of its own: none keeps the header text alive. */
  get names(): readonly string[] {
    // The copies serve lookups from then on, and the header text the keys were sliced from can go.
    if (!Object.isFrozen(this.keys)) this.keys = Object.freeze(this.keys.map(ownString)) as string[];
    return this.keys;
  }

  /**
   * The slot of `name` (whose hash is `hash`) in the name table: where it is, or the empty one
   * where it would go; -1 when the 64 slots from its own are all another's (the
   * name is then in the overflow `Map`, or nowhere).
   */
  private slotOf(name: string, hash: number): number {
    const { slots, keys } = this;
    const mask = slots.length - 1;
    let slot = hash & mask;
    for (let probes = 64; probes > 0; probes--) {
      const held = slots[slot]!;
      if (held === 0 || keys[held - 1] === name) return slot;
      slot = (slot + 1) & mask;
    }
    return -1;
  }

  /** The position of the array named `name`, or undefined. */
  indexOf(name: string): number | undefined {
    if (typeof name !== "string") return undefined;
    // Arrays are mostly asked for in file order: the one after the last found costs one comparison.
    const next = this.lastFound + 1;
    if (this.keys[next] === name) return (this.lastFound = next);
    const slot = this.slotOf(name, hashName(name));
    const index = slot < 0 ? (this.#overflow?.get(name) ?? -1) : this.slots[slot]! - 1;
    return index < 0 ? undefined : (this.lastFound = index);
  }

  /** Appends a dimension of the array about to be added. */
  pushDim(dim: number): void {
    if (this.dimCount === this.dims.length) {
      const bigger = new Float64Array(this.dims.length * 2);
      bigger.set(this.dims);
      this.dims = bigger;
    }
    this.dims[this.dimCount++] = dim;
  }

  /**
   * Adds the next array, whose dimensions were just pushed with {@link pushDim}, once the reader
   * has checked it (§9 steps 9–19). Returns false, adding nothing, when an array of that name
   * exists or `capacity` arrays do. `offset` is relative to the data section. `hash`: the name's,
   * where the reader computed it while scanning the name (the canonical reader: a second pass over
   * every name cost S2's decode + get about 4%: bench/README.md).
   */
  add(name: string, kind: number, offset: number, byteLength: number, nbytes: number, hash = hashName(name)): boolean {
    const slot = this.slotOf(name, hash);
    const index = this.keys.length;
    if (index === this.starts.length || (slot < 0 ? (this.#overflow ??= new Map()).has(name) : this.slots[slot] !== 0)) return false;
    if (slot < 0) this.#overflow!.set(name, index);
    // The table has twice as many slots as the capacity: it never fills.
    else this.slots[slot] = index + 1;
    this.keys.push(name);
    this.starts[index] = this.dataStart + offset;
    this.byteLengths[index] = byteLength;
    this.nbytes[index] = nbytes;
    this.kinds[index] = kind;
    this.shapeEnds[index] = this.dimCount;
    return true;
  }

  /** The dtype of array `index`. */
  dtype(index: number): DtypeInfo {
    return DTYPE_LIST[this.kinds[index]! & 31]!;
  }

  /**
   * Array `index`'s layout, made on demand. `name`: its name where the caller holds it already (a
   * lookup by name), which spares a copy of the header's.
   */
  entry(index: number, name?: string): EntryLayout {
    const cached = this.all?.[index];
    if (cached !== undefined) return cached;
    const kind = this.kinds[index]!;
    const dtype = DTYPE_LIST[kind & 31]!;
    const nbytes = this.nbytes[index]!;
    const from = index === 0 ? 0 : this.shapeEnds[index - 1]!;
    // Of the exact length: an array grown by push keeps room for 16 dimensions, ~130 bytes more
    // for every array a decoded file keeps.
    const shape: number[] = new Array(this.shapeEnds[index]! - from);
    for (let i = 0; i < shape.length; i++) shape[i] = this.dims[from + i]!;
    return {
      index,
      name: name ?? ownString(this.keys[index]!),
      dtype,
      shape,
      order: kind & F_ORDER ? "F" : "C",
      byteOrder: kind & BIG_ENDIAN ? "big" : "little",
      codec: CODECS[kind >> CODEC_SHIFT]!,
      start: this.starts[index]!,
      byteLength: this.byteLengths[index]!,
      count: nbytes / dtype.itemSize,
      nbytes,
    };
  }

  /** Every array's layout, in file order (made on first use). */
  get entries(): readonly EntryLayout[] {
    if (this.all === undefined) {
      const all: EntryLayout[] = [];
      for (let i = 0; i < this.size; i++) all.push(this.entry(i));
      this.all = all;
    }
    return this.all;
  }

  /** Where the record of array `index` ends: where the next one starts, or the end of the file. */
  recordEnd(index: number): number {
    return index + 1 < this.size ? this.starts[index + 1]! : this.fileLength;
  }
}
