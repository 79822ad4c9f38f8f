/**
 * FORMAT.md §9 steps 7–19 for a header in the canonical layout of §8, the one ndpack's writers
 * write: matched in one pass over the text, straight into a {@link FileLayout}, with no JSON value
 * built for the header's fixed parts and no object per array.
 *
 * It never decides that a header is wrong. It returns `undefined` for anything else (another key
 * order, white space, an escape in a name, a file of a newer minor version) and for every
 * header that breaks a rule, and header.ts then reads that header with the strict parser, which
 * says what is wrong. So the codes of §9 have one author, and this reader only has to accept
 * nothing that the strict one refuses and read the same layout: test/canonical-header.test.ts
 * compares the two on generated and mutated headers.
 *
 * @module
 */
import { DTYPES, type DtypeInfo } from "./dtypes.js";
import { alignUp, BYTE_ORDERS, CHECKSUMS, CODECS, FORMAT_VERSION, MAX_ALIGNMENT, MIN_ALIGNMENT, ORDERS, type Codec, type ReadLimits } from "./format.js";
import { parseMetadataJson } from "./json.js";
import { Cursor } from "./header-cursor.js";
import { elementCount, entryKind, FileLayout } from "./layout.js";

/** The preamble fields this reader needs (a structural subset of header.ts's Preamble). */
interface PreambleFields {
  readonly major: number;
  readonly minor: number;
  readonly headerLength: number;
}

/** Nesting of the header's deepest fixed part: the top object (1), `arrays` (2), an entry (3), its `shape` (4). */
const ENTRY_SHAPE_DEPTH = 4;

/**
 * JSON values of an entry other than its dimensions, as the strict parser counts them towards
 * `maxHeaderNodes`: the object and its seven values (eight with `codec`).
 */
const ENTRY_VALUES = 8;

/**
 * The layout of a header in the canonical layout of §8 that passes every check of §9 steps 7–19
 * (step 6, the header CRC, and the UTF-8 decoding of step 7 done by the caller); `undefined` for
 * any other text, which the strict reader must then read.
 */
export function readCanonicalHeader(text: string, preamble: PreambleFields, limits: ReadLimits): FileLayout | undefined {
  if (preamble.minor > FORMAT_VERSION.minor || limits.maxDepth < ENTRY_SHAPE_DEPTH) return undefined;
  cursor.text = text;
  cursor.pos = 0;
  try {
    return readWith(cursor, preamble, limits);
  } finally {
    cursor.text = "";
  }
}

/**
 * The one cursor, reused: V8 discards the hidden class of objects none of which survives a full
 * garbage collection, and with it the optimized code of the functions that used it, so a cursor
 * made per call sent the first decode after every such collection back to the interpreter.
 */
const cursor = new Cursor();

function readWith(at: Cursor, preamble: PreambleFields, limits: ReadLimits): FileLayout | undefined {
  const { text } = at;
  if (!at.skip('{"alignment":')) return undefined;
  const alignment = at.integer();
  if (alignment < MIN_ALIGNMENT || alignment > MAX_ALIGNMENT || (alignment & (alignment - 1)) !== 0) return undefined;
  if (!at.skip(',"checksum":"')) return undefined;
  const checksum = at.word(CHECKSUMS);
  if (checksum === undefined || !at.skip(',"dataLength":')) return undefined;
  const dataLength = at.integer();
  if (dataLength < 0 || !at.skip(',"metadata":')) return undefined;
  // Values counted as the strict parser counts them: the top object, then alignment, checksum and
  // dataLength; metadata counts its own.
  let nodes = 4;
  let metadata: Record<string, unknown>;
  if (at.skip("{}")) {
    metadata = {};
    nodes++;
  } else {
    try {
      const parsed = parseMetadataJson(text, at.pos, { maxDepth: limits.maxDepth, maxNodes: limits.maxHeaderNodes, nodesBefore: nodes });
      if (typeof parsed.value !== "object" || parsed.value === null || Array.isArray(parsed.value)) return undefined;
      metadata = parsed.value as Record<string, unknown>;
      nodes = parsed.nodes;
      at.pos = parsed.end;
    } catch {
      return undefined;
    }
  }
  if (!at.skip(',"arrays":[')) return undefined;
  nodes++;
  // No entry is shorter than {"name":"x","dtype":"bool","shape":[],"order":"C","byteOrder":"big","offset":0,"byteLength":0},
  // so the capacity is never reached (and if it were, add would refuse and the strict reader read it).
  const layout = new FileLayout({ major: preamble.major, minor: preamble.minor }, { alignment, checksum, dataLength, metadata }, preamble.headerLength, Math.min(limits.maxArrays, Math.ceil(text.length / 94)));
  const { checksumSize } = layout;
  const maxNameLength = limits.maxNameBytes / 3;
  let previousEnd = 0;
  // Most arrays have the dtype, shape, order, byte order, codec and byteLength of the one before:
  // the text from after the name to `"offset":`, and from after the offset to the next name,
  // repeats the previous entry's, is then compared in one piece, and says what it said there.
  let middle = "";
  let dtype: DtypeInfo | undefined;
  let kind = 0;
  let nbytes = 0;
  let shapeStart = 0;
  let shapeEnd = 0;
  let entryNodes = 0;
  let tail = "";
  let byteLength = 0;
  if (!at.skipChar(0x5d)) {
    if (!at.skip('{"name":"')) return undefined;
    let more = true;
    while (more) {
      if (layout.size === limits.maxArrays) return undefined;
      const name = at.plainString();
      const hash = at.hash;
      // A name of more than maxNameBytes / 3 characters may be within the limit; the strict reader measures it.
      if (name === undefined || name.length === 0 || name.length > maxNameLength) return undefined;
      const middleStart = at.pos;
      if (middle !== "" && at.skip(middle)) {
        const start = layout.dimCount;
        for (let i = shapeStart; i < shapeEnd; i++) layout.pushDim(layout.dims[i]!);
        shapeStart = start;
        shapeEnd = layout.dimCount;
      } else {
        if (!at.skip(',"dtype":"')) return undefined;
        const dtypeName = at.plainString();
        dtype = dtypeName !== undefined && Object.hasOwn(DTYPES, dtypeName) ? DTYPES[dtypeName as keyof typeof DTYPES] : undefined;
        if (dtype === undefined || !at.skip(',"shape":[')) return undefined;
        shapeStart = layout.dimCount;
        if (!at.skipChar(0x5d)) {
          do {
            const dim = at.integer();
            if (dim < 0 || layout.dimCount - shapeStart === limits.maxDims) return undefined;
            layout.pushDim(dim);
          } while (at.skipChar(0x2c));
          if (!at.skipChar(0x5d)) return undefined;
        }
        shapeEnd = layout.dimCount;
        if (!at.skip(',"order":"')) return undefined;
        const order = at.word(ORDERS);
        if (order === undefined || !at.skip(',"byteOrder":"')) return undefined;
        const byteOrder = at.word(BYTE_ORDERS);
        if (byteOrder === undefined) return undefined;
        let codec: Codec | undefined = "none";
        entryNodes = ENTRY_VALUES + shapeEnd - shapeStart;
        if (at.skip(',"codec":"')) {
          codec = at.word(CODECS);
          entryNodes++;
        }
        if (codec === undefined || !at.skip(',"offset":')) return undefined;
        const count = elementCount(layout.dims, dtype.itemSize, shapeStart, shapeEnd);
        if (count === undefined) return undefined;
        nbytes = count * dtype.itemSize;
        // A codec of "none" is the only one whose byteLength must be nbytes: -1 for the others.
        kind = codec === "none" ? entryKind(dtype, order, byteOrder, codec) : -1 - entryKind(dtype, order, byteOrder, codec);
        middle = text.slice(middleStart, at.pos);
      }
      nodes += entryNodes;
      const offset = at.integer();
      if (offset < 0) return undefined;
      // The tail runs on to the next entry's name: `,"byteLength":256},{"name":"`.
      if (tail === "" || !at.skip(tail)) {
        const tailStart = at.pos;
        if (!at.skip(',"byteLength":')) return undefined;
        byteLength = at.integer();
        if (byteLength < 0 || !at.skipChar(0x7d)) return undefined;
        more = at.skip(',{"name":"');
        if (more) tail = text.slice(tailStart, at.pos);
      }
      const end = offset + byteLength + checksumSize;
      // §4: the one offset a record may have is the first aligned one after the previous record.
      if ((kind >= 0 && byteLength !== nbytes) || offset !== alignUp(previousEnd, alignment) || end > dataLength) return undefined;
      previousEnd = end;
      // false: a name seen before (or more arrays than the capacity).
      if (!layout.add(name, kind >= 0 ? kind : -1 - kind, offset, byteLength, nbytes, hash)) return undefined;
    }
    if (!at.skipChar(0x5d)) return undefined;
  }
  if (!at.skipChar(0x7d) || previousEnd !== dataLength || nodes > limits.maxHeaderNodes) return undefined;
  for (let pos = at.pos; pos < text.length; pos++) if (text.charCodeAt(pos) !== 0x20) return undefined;
  return layout;
}
