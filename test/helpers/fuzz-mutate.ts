/**
 * The fuzz campaign's mutator: case `index` of campaign `seed` is a pure function of the two (and
 * of the seed files), so any case can be rebuilt from the numbers printed with it.
 *
 * Two kinds of mutation:
 * - raw: bytes flipped, set, inserted, deleted, truncated, appended or copied, with the header CRC
 *   left as it is (so damage to the header stops at HEADER_CHECKSUM, as it should);
 * - structured: the seed is taken apart (header JSON as a tree, each payload), the tree and the
 *   payloads are edited, and the file is put back together with the header length and CRC
 *   RECOMPUTED, so the edits reach the checks behind the CRC: the JSON text, the structure, the
 *   entries, the layout, the codecs.
 */
import { deflateRawSync } from "node:zlib";
import { concatBytes } from "../../src/bytes.js";
import { crc32 } from "../../src/crc32.js";
import { decode, type DecodeOptions } from "../../src/decode.js";
import { DTYPE_NAMES, DTYPES, isDtype } from "../../src/dtypes.js";
import { alignUp, MAGIC, PREAMBLE, PREAMBLE_SIZE } from "../../src/format.js";
import type { Seed } from "./fuzz-seeds.js";

// ---------------------------------------------------------------------------------------------
// Randomness

/** sfc32: small, fast, and good enough to drive a fuzzer; seeded per case. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(a: number, b: number, c: number, d: number) {
    this.#a = a >>> 0;
    this.#b = b >>> 0;
    this.#c = c >>> 0;
    this.#d = d >>> 0;
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(list: readonly T[]): T {
    return list[this.below(list.length)]!;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

/** splitmix32 step, to spread a campaign seed and a case index over the generator's state. */
function mix(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** The generator of case `index` of campaign `seed`. */
export function caseRng(seed: number, index: number): Rng {
  const a = mix(seed);
  const b = mix(a ^ index);
  const c = mix(b ^ Math.floor(index / 0x1_0000_0000));
  return new Rng(a, b, c, mix(c));
}

// ---------------------------------------------------------------------------------------------
// Header JSON as an editable tree that can also hold what JSON.parse would refuse or merge:
// verbatim text (odd number literals, lone-surrogate escapes) and repeated keys.

/** Text written into the header as it is. */
export class Raw {
  constructor(readonly text: string) {}
}

/** An object as a list of members, so keys may repeat and keep their order. */
export class JObject {
  constructor(public members: [string, JValue][]) {}

  get(key: string): JValue | undefined {
    return this.members.find(([k]) => k === key)?.[1];
  }

  set(key: string, value: JValue): void {
    const member = this.members.find(([k]) => k === key);
    if (member) member[1] = value;
    else this.members.push([key, value]);
  }
}

export type JValue = null | boolean | number | string | Raw | JValue[] | JObject;

/** The tree of a value JSON.parse returned (own keys only: `__proto__` included). */
export function toTree(value: unknown): JValue {
  if (Array.isArray(value)) return value.map(toTree);
  if (value !== null && typeof value === "object") return new JObject(Object.keys(value).map((k) => [k, toTree((value as Record<string, unknown>)[k])]));
  return value as JValue;
}

export function cloneTree(value: JValue): JValue {
  if (Array.isArray(value)) return value.map(cloneTree);
  if (value instanceof JObject) return new JObject(value.members.map(([k, v]) => [k, cloneTree(v)]));
  return value;
}

/** Compact JSON text of a tree; strings go through JSON.stringify, which escapes lone surrogates. */
export function treeText(value: JValue): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(treeText).join(",")}]`;
  if (value instanceof JObject) return `{${value.members.map(([k, v]) => `${JSON.stringify(k)}:${treeText(v)}`).join(",")}}`;
  return JSON.stringify(value);
}

/** A place in the tree holding a value, with a way to replace it. */
export interface Slot {
  readonly path: string;
  readonly value: JValue;
  set(value: JValue): void;
}

export function slotsOf(root: JValue, path: string, out: Slot[] = []): Slot[] {
  if (Array.isArray(root)) {
    root.forEach((value, i) => {
      const at = `${path}[${i}]`;
      out.push({ path: at, value, set: (v) => (root[i] = v) });
      slotsOf(value, at, out);
    });
  } else if (root instanceof JObject) {
    for (const member of root.members) {
      const at = `${path}.${member[0]}`;
      out.push({ path: at, value: member[1], set: (v) => (member[1] = v) });
      slotsOf(member[1], at, out);
    }
  }
  return out;
}

const isNumberish = (v: JValue) => typeof v === "number" || (v instanceof Raw && /^-?[0-9.]/.test(v.text));

// ---------------------------------------------------------------------------------------------
// A seed taken apart

interface Parsed {
  readonly minor: number;
  readonly header: JObject;
  readonly alignment: number;
  readonly checksumSize: number;
  readonly payloads: readonly Uint8Array[];
}

const parsedCache = new WeakMap<Uint8Array, Parsed | null>();

/** The parts of a seed that decodes (default limits); `undefined` for a seed that does not. */
function parseSeed(bytes: Uint8Array): Parsed | undefined {
  let parsed = parsedCache.get(bytes);
  if (parsed === undefined) {
    parsed = null;
    try {
      const file = decode(bytes);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const headerLength = view.getUint32(PREAMBLE.headerLength, true);
      const text = new TextDecoder().decode(bytes.subarray(PREAMBLE_SIZE, PREAMBLE_SIZE + headerLength));
      const header = toTree(JSON.parse(text)) as JObject;
      const payloads = file.names.map((name) => {
        const info = file.info(name);
        return bytes.slice(info.offset, info.offset + info.byteLength);
      });
      parsed = { minor: view.getUint16(PREAMBLE.minor, true), header, alignment: file.alignment, checksumSize: file.checksum === "crc32" ? 4 : 0, payloads };
    } catch {
      // Not a valid file: only raw mutations apply.
    }
    parsedCache.set(bytes, parsed);
  }
  return parsed ?? undefined;
}

/** A file being rebuilt: the header tree, each record's entry and stored payload, the preamble. */
interface Draft {
  major: number;
  minor: number;
  header: JObject;
  records: { entry: JValue; payload: Uint8Array }[];
  /** Set by {@link relayout}: where the records go in the data section. */
  layout: { alignment: number; checksumSize: number; offsets: number[]; dataLength: number };
}

function draftOf(parsed: Parsed): Draft {
  const header = cloneTree(parsed.header) as JObject;
  const entries = header.get("arrays") as JValue[];
  return {
    major: 1,
    minor: parsed.minor,
    header,
    records: entries.map((entry, i) => ({ entry, payload: parsed.payloads[i]! })),
    layout: { alignment: parsed.alignment, checksumSize: parsed.checksumSize, offsets: [], dataLength: 0 },
  };
}

function isPowerOfTwoAlignment(v: JValue | undefined): v is number {
  return typeof v === "number" && v >= 8 && v <= 65536 && (v & (v - 1)) === 0;
}

/** Places the records as FORMAT.md §4 says and writes offsets, byte lengths and dataLength into the header. */
function relayout(draft: Draft): void {
  const alignmentValue = draft.header.get("alignment");
  const alignment = isPowerOfTwoAlignment(alignmentValue) ? alignmentValue : draft.layout.alignment;
  const checksumSize = draft.header.get("checksum") === "none" ? 0 : 4;
  const offsets: number[] = [];
  let end = 0;
  for (const record of draft.records) {
    const offset = alignUp(end, alignment);
    offsets.push(offset);
    end = offset + record.payload.length + checksumSize;
    if (record.entry instanceof JObject) {
      record.entry.set("offset", offset);
      record.entry.set("byteLength", record.payload.length);
    }
  }
  draft.header.set("arrays", draft.records.map((r) => r.entry));
  draft.header.set("dataLength", end);
  draft.layout = { alignment, checksumSize, offsets, dataLength: end };
}

/** Preamble, header, zero padding to D and the data section as laid out by {@link relayout}. */
function assemble(draft: Draft, headerBytes: Uint8Array, claimedLength = headerBytes.length): Uint8Array {
  const alignmentValue = draft.header.get("alignment");
  const alignment = isPowerOfTwoAlignment(alignmentValue) ? alignmentValue : draft.layout.alignment;
  const dataStart = alignUp(PREAMBLE_SIZE + headerBytes.length, alignment);
  const { offsets, dataLength, checksumSize } = draft.layout;
  const out = new Uint8Array(dataStart + dataLength);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint16(PREAMBLE.major, draft.major, true);
  view.setUint16(PREAMBLE.minor, draft.minor, true);
  view.setUint32(PREAMBLE.headerLength, claimedLength, true);
  out.set(headerBytes, PREAMBLE_SIZE);
  draft.records.forEach((record, i) => {
    const at = dataStart + offsets[i]!;
    out.set(record.payload, at);
    if (checksumSize > 0) view.setUint32(at + record.payload.length, crc32(record.payload), true);
  });
  fixHeaderCrc(out);
  return out;
}

/** Writes the header CRC the preamble's (possibly false) length calls for, when those bytes exist. */
export function fixHeaderCrc(out: Uint8Array): void {
  if (out.length < PREAMBLE_SIZE) return;
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const length = view.getUint32(PREAMBLE.headerLength, true);
  if (PREAMBLE_SIZE + length > out.length) return;
  const crc = crc32(out.subarray(PREAMBLE_SIZE, PREAMBLE_SIZE + length), crc32(out.subarray(PREAMBLE.major, PREAMBLE.headerCrc)));
  view.setUint32(PREAMBLE.headerCrc, crc, true);
}

// ---------------------------------------------------------------------------------------------
// Values that hostile headers are made of

export const NUMBER_LITERALS = [
  "-1", "-0", "0.0", "0.5", "1.0", "64.0", "1e3", "1E3", "1e+2", "6.4e1", "1e-7", "1e400", "-1e400",
  "9007199254740991", "9007199254740992", "9007199254740993", "18446744073709551616", "18446744073709551615",
  "4294967296", "4294967295", "2147483648", "1" + "0".repeat(400), "00", "01", "-", "+1", ".5", "1.", "1e",
  "0x40", "Infinity", "NaN", "-Infinity", "1_000", "٣",
];
export const INTERESTING_NUMBERS = [0, 1, 2, 3, 7, 8, 63, 64, 65, 255, 256, 4096, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 52];
export const ODD_VALUES: readonly JValue[] = [null, true, false, "", "0", "64", [], [0], new JObject([]), new Raw("{}"), 1.5];
export const ODD_STRINGS = [
  "", " ", "\u0000", "none", "None", "NONE", "crc32", "CRC32", "crc32c", "deflate", "Deflate", "zstd", "shuffle", "shuffle+deflate ",
  "C", "c", "F", "f", "little", "Little", "big", "BIG", "native", "float32", "Float32", "FLOAT32", "float", "f4", "<f4", "float128",
  "complex256", "int4", "bool ", "__proto__", "constructor", "toString",
];
export const RAW_STRINGS = ['"\\ud800"', '"\\udc00x"', '"a\\ud83d"', '"\\u0066loat32"', '"\\u0000"', '"\\/"', '"\\uD83D\\uDE00"', '"\\ud800\\u0041"'];
export const ODD_NAMES = ["", "__proto__", "constructor", "hasOwnProperty", "prototype", "\u0000", "é", "e\u0301", "🎉", "a".repeat(4097), "é".repeat(2049), "x".repeat(300)];
export const UNKNOWN_KEYS = ["extra", "Alignment", "ALIGNMENT", "__proto__", "constructor", "toString", "", "arrays ", "codec", "version"];
const SHAPES: JValue[] = [
  [2 ** 32, 2 ** 32, 16], [2 ** 53 - 1, 2], [2 ** 26, 2 ** 26, 4], [4294967296, 4294967296], [2 ** 53 - 1], [3037000500, 3037000500],
  [0, 2 ** 53 - 1, 2 ** 53 - 1], new Array(65).fill(1), new Array(1000).fill(1), [], [0], [1, 1, 1], [2 ** 20, 2 ** 20],
  [new Raw("-1")], [new Raw("1.5")], [new Raw("1e2")], [new Raw("18446744073709551616")], "3", [[2]], new JObject([["0", 2]]),
];
export const METADATA_VALUES: readonly JValue[] = [
  new Raw("9007199254740993"), new Raw("-9007199254740993"), new Raw("9007199254740991"), new Raw("1e400"), new Raw("-0"), new Raw("1E+2"),
  new Raw("0.1e-7"), new Raw("123456789012345678901234567890.5"), new Raw("1e21"), new Raw('"\\ud800"'), new Raw('"\\udfff\\ud800"'),
  "\u0000\u001f", new JObject([["__proto__", new JObject([["polluted", "yes"]])]]), new JObject([["constructor", new JObject([["prototype", new JObject([["polluted", 1]])]])]]),
];

// ---------------------------------------------------------------------------------------------
// Compression bombs and broken deflate streams

let hugeBomb: Uint8Array | undefined;
/** 32 MiB of zeros, deflated (about 32 KiB): far more than any array of the campaign declares. */
function getHugeBomb(): Uint8Array {
  hugeBomb ??= new Uint8Array(deflateRawSync(new Uint8Array(32 * 1024 * 1024), { level: 9 }));
  return hugeBomb;
}

const deflate = (bytes: Uint8Array) => new Uint8Array(deflateRawSync(bytes));

function entryNbytes(entry: JObject): number | undefined {
  const dtype = entry.get("dtype");
  const shape = entry.get("shape");
  if (typeof dtype !== "string" || !isDtype(dtype) || !Array.isArray(shape) || !shape.every((d) => typeof d === "number")) return undefined;
  const n = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPES[dtype].itemSize;
  return Number.isSafeInteger(n) ? n : undefined;
}

// ---------------------------------------------------------------------------------------------
// Structured edits. Each returns a label for the statistics.

type Edit = (draft: Draft, rng: Rng) => string;

const entryObjects = (draft: Draft) => draft.records.map((r) => r.entry).filter((e): e is JObject => e instanceof JObject);

/** A new array entry with a payload that matches it: a valid record unless its name repeats. */
function newRecord(rng: Rng, name: string): { entry: JObject; payload: Uint8Array } {
  const dtype = rng.pick(DTYPE_NAMES);
  const shape = Array.from({ length: rng.below(4) }, () => rng.below(6));
  const nbytes = shape.reduce((a, b) => a * b, 1) * DTYPES[dtype].itemSize;
  const raw = rng.chance(0.5) ? rng.bytes(nbytes) : new Uint8Array(nbytes).fill(rng.below(256));
  const itemSize = DTYPES[dtype].itemSize;
  const members: [string, JValue][] = [
    ["name", name],
    ["dtype", dtype],
    ["shape", shape],
    ["order", rng.pick(["C", "F"])],
    ["byteOrder", itemSize === 1 ? "little" : rng.pick(["little", "big"])],
  ];
  let payload = raw;
  if (rng.chance(0.3)) {
    members.push(["codec", "deflate"]);
    payload = deflate(raw);
  }
  members.push(["offset", 0], ["byteLength", payload.length]);
  return { entry: new JObject(members), payload };
}

/** Edits that change payloads or the list of entries; the layout is recomputed after them. */
const SEMANTIC_EDITS: readonly (readonly [string, Edit])[] = [
  [
    "bomb",
    (draft, rng) => {
      const entries = entryObjects(draft);
      if (entries.length === 0) draft.records.push(newRecord(rng, "bomb"));
      const record = rng.pick(draft.records.filter((r) => r.entry instanceof JObject));
      const entry = record.entry as JObject;
      let nbytes = entryNbytes(entry);
      if (nbytes === undefined || nbytes > 65536) {
        entry.set("dtype", "uint8");
        entry.set("shape", [4096]);
        nbytes = 4096;
      }
      entry.set("codec", rng.pick(["deflate", "shuffle+deflate"]));
      const kind = rng.pick(["over", "huge", "huge-at-limit", "short", "garbage", "empty", "trailing", "truncated", "stored-lie", "exact"]);
      switch (kind) {
        case "over":
          record.payload = deflate(rng.bytes(nbytes + rng.between(1, 4096)));
          break;
        case "huge":
          record.payload = getHugeBomb();
          break;
        case "huge-at-limit":
          // Exactly the campaign's 1 MiB limit, or one byte over it (LIMIT_EXCEEDED before inflating).
          entry.set("dtype", "uint8");
          entry.set("shape", [1024, rng.pick([1024, 1025])]);
          record.payload = getHugeBomb();
          break;
        case "short":
          record.payload = deflate(new Uint8Array(Math.max(0, nbytes - rng.between(1, 16))));
          break;
        case "garbage":
          record.payload = rng.bytes(rng.between(1, 64));
          break;
        case "empty":
          record.payload = new Uint8Array(0);
          break;
        case "trailing": {
          const stream = deflate(new Uint8Array(nbytes));
          const out = new Uint8Array(stream.length + rng.between(1, 16));
          out.set(stream);
          out.set(rng.bytes(out.length - stream.length), stream.length);
          record.payload = out;
          break;
        }
        case "truncated": {
          const stream = deflate(rng.bytes(nbytes));
          record.payload = stream.subarray(0, rng.below(stream.length));
          break;
        }
        case "stored-lie": {
          // A stored block whose LEN and NLEN disagree, or whose LEN overruns the input.
          const len = rng.pick([nbytes, 0xffff, nbytes + 1]);
          const nlen = rng.chance(0.5) ? ~len & 0xffff : rng.below(0x10000);
          record.payload = Uint8Array.of(0x01, len & 0xff, len >> 8, nlen & 0xff, nlen >> 8, ...rng.bytes(rng.below(8)));
          break;
        }
        default:
          record.payload = deflate(rng.bytes(nbytes));
      }
      return `bomb-${kind}`;
    },
  ],
  [
    "add-entry",
    (draft, rng) => {
      const names = entryObjects(draft).map((e) => e.get("name"));
      const name = rng.chance(0.3) && names.length > 0 && typeof names[0] === "string" ? rng.pick(names as string[]) : `n${rng.below(1000)}`;
      draft.records.splice(rng.below(draft.records.length + 1), 0, newRecord(rng, name));
      return "add-entry";
    },
  ],
  [
    "remove-entry",
    (draft, rng) => {
      if (draft.records.length > 0) draft.records.splice(rng.below(draft.records.length), 1);
      return "remove-entry";
    },
  ],
  [
    "duplicate-entry",
    (draft, rng) => {
      if (draft.records.length === 0) draft.records.push(newRecord(rng, "dup"));
      const record = rng.pick(draft.records);
      draft.records.splice(rng.below(draft.records.length + 1), 0, { entry: cloneTree(record.entry), payload: record.payload });
      return "duplicate-entry";
    },
  ],
  [
    "reorder-entries",
    (draft, rng) => {
      for (let i = draft.records.length - 1; i > 0; i--) {
        const j = rng.below(i + 1);
        [draft.records[i], draft.records[j]] = [draft.records[j]!, draft.records[i]!];
      }
      return "reorder-entries";
    },
  ],
  [
    "many-entries",
    (draft, rng) => {
      // Each record takes at least `alignment` bytes: keep the file within a few MiB.
      const n = Math.min(rng.pick([2, 3, 5, 20, 200, 1000]), Math.floor((4 * 1024 * 1024) / draft.layout.alignment));
      for (let i = 0; i < n; i++) {
        const bytes = rng.below(3);
        draft.records.push({ entry: new JObject([["name", `m${i}`], ["dtype", "uint8"], ["shape", [bytes]], ["order", "C"], ["byteOrder", "little"], ["offset", 0], ["byteLength", bytes]]), payload: new Uint8Array(bytes) });
      }
      return "many-entries";
    },
  ],
  [
    "reshape",
    (draft, rng) => {
      const entries = entryObjects(draft);
      if (entries.length === 0) return "reshape-none";
      const entry = rng.pick(entries);
      const shape = entry.get("shape");
      if (!Array.isArray(shape)) return "reshape-none";
      const dims = [...shape];
      const kind = rng.pick(["reverse", "add-one", "flatten-uint8", "other-dtype-same-size", "drop-ones"]);
      if (kind === "reverse") entry.set("shape", dims.reverse());
      else if (kind === "add-one") entry.set("shape", [...dims.slice(0, rng.below(dims.length + 1)), 1, ...dims.slice(rng.below(dims.length + 1))].slice(0, dims.length + 1));
      else if (kind === "drop-ones") entry.set("shape", dims.filter((d) => d !== 1));
      else if (kind === "flatten-uint8") {
        const nbytes = entryNbytes(entry);
        if (nbytes !== undefined) {
          entry.set("dtype", "uint8");
          entry.set("shape", [nbytes]);
          entry.set("byteOrder", "little");
        }
      } else {
        const dtype = entry.get("dtype");
        if (typeof dtype === "string" && isDtype(dtype)) {
          const size = DTYPES[dtype].itemSize;
          entry.set("dtype", rng.pick(DTYPE_NAMES.filter((d) => DTYPES[d].itemSize === size)));
        }
      }
      return `reshape-${kind}`;
    },
  ],
  [
    "big-header",
    (draft, rng) => {
      // Just over the campaign's 1 MiB maxHeaderBytes, or just under.
      const size = 1024 * 1024 + rng.pick([-4096, 1, 4096]);
      let metadata = draft.header.get("metadata");
      if (!(metadata instanceof JObject)) draft.header.set("metadata", (metadata = new JObject([])));
      metadata.members.push(["pad", "x".repeat(size)]);
      return "big-header";
    },
  ],
];

function pickSlot(draft: Draft, rng: Rng, filter: (slot: Slot) => boolean): Slot | undefined {
  const slots = slotsOf(draft.header, "").filter(filter);
  return slots.length === 0 ? undefined : rng.pick(slots);
}

function pickEntryField(draft: Draft, rng: Rng, key: string): { entry: JObject; value: JValue | undefined } | undefined {
  const entries = entryObjects(draft);
  if (entries.length === 0) return undefined;
  const entry = rng.pick(entries);
  return { entry, value: entry.get(key) };
}

function randomObject(draft: Draft, rng: Rng): JObject {
  const objects = [draft.header, ...slotsOf(draft.header, "").map((s) => s.value).filter((v): v is JObject => v instanceof JObject)];
  return rng.pick(objects);
}

export function nest(depth: number, rng: Rng): Raw {
  if (rng.chance(0.5)) return new Raw("[".repeat(depth) + "]".repeat(depth));
  return new Raw('{"a":'.repeat(depth - 1) + "{}" + "}".repeat(depth - 1));
}

/** Edits of header fields after the layout is fixed: the header then lies about the bytes. */
const FIELD_EDITS: readonly (readonly [string, Edit])[] = [
  [
    "number-literal",
    (draft, rng) => {
      const slot = pickSlot(draft, rng, (s) => isNumberish(s.value));
      slot?.set(new Raw(rng.pick(NUMBER_LITERALS)));
      return "number-literal";
    },
  ],
  [
    "number-value",
    (draft, rng) => {
      const slot = pickSlot(draft, rng, (s) => typeof s.value === "number");
      if (!slot) return "number-value";
      const v = slot.value as number;
      const alignment = draft.layout.alignment;
      slot.set(rng.pick([v + 1, v - 1, v + alignment, v - alignment, v * 2, Math.floor(v / 2), v + 4, v - 4, rng.pick(INTERESTING_NUMBERS)]));
      return "number-value";
    },
  ],
  [
    "type-change",
    (draft, rng) => {
      pickSlot(draft, rng, () => true)?.set(cloneTree(rng.pick(ODD_VALUES)));
      return "type-change";
    },
  ],
  [
    "swap-values",
    (draft, rng) => {
      const entries = entryObjects(draft);
      if (entries.length >= 2 && rng.chance(0.5)) {
        // The same field of two entries (shape, dtype, name, offset...).
        const a = rng.pick(entries);
        const b = rng.pick(entries);
        const key = rng.pick(a.members)[0];
        const va = a.get(key);
        const vb = b.get(key);
        if (va !== undefined && vb !== undefined) {
          a.set(key, vb);
          b.set(key, va);
        }
        return "swap-across-entries";
      }
      const object = rng.chance(0.5) && entries.length > 0 ? rng.pick(entries) : draft.header;
      if (object.members.length >= 2) {
        const i = rng.below(object.members.length);
        const j = rng.below(object.members.length);
        const vi = object.members[i]![1];
        object.members[i]![1] = object.members[j]![1];
        object.members[j]![1] = vi;
      }
      return "swap-within-object";
    },
  ],
  [
    "keys",
    (draft, rng) => {
      const object = randomObject(draft, rng);
      const kind = rng.pick(["delete", "unknown", "duplicate-same", "duplicate-other", "rename-case", "proto", "reorder"]);
      const i = rng.below(object.members.length);
      const member = object.members[i];
      switch (kind) {
        case "delete":
          if (member) object.members.splice(i, 1);
          break;
        case "unknown":
          object.members.splice(rng.below(object.members.length + 1), 0, [rng.pick(UNKNOWN_KEYS), cloneTree(rng.pick(ODD_VALUES))]);
          break;
        case "duplicate-same":
          if (member) object.members.splice(rng.below(object.members.length + 1), 0, [member[0], cloneTree(member[1])]);
          break;
        case "duplicate-other":
          if (member) object.members.splice(rng.below(object.members.length + 1), 0, [member[0], cloneTree(rng.pick(ODD_VALUES))]);
          break;
        case "rename-case":
          if (member) member[0] = rng.chance(0.5) ? member[0].toUpperCase() : member[0] + " ";
          break;
        case "proto":
          object.members.splice(rng.below(object.members.length + 1), 0, [rng.pick(["__proto__", "constructor", "prototype"]), new JObject([["polluted", "yes"]])]);
          break;
        default:
          object.members.reverse();
      }
      return `keys-${kind}`;
    },
  ],
  [
    "enum-string",
    (draft, rng) => {
      const key = rng.pick(["dtype", "codec", "order", "byteOrder", "checksum"]);
      const value: JValue = rng.chance(0.15) ? new Raw(rng.pick(RAW_STRINGS)) : rng.chance(0.3) ? rng.pick(DTYPE_NAMES) : rng.pick(ODD_STRINGS);
      if (key === "checksum") draft.header.set("checksum", value);
      else pickEntryField(draft, rng, key)?.entry.set(key, value);
      return `enum-${key}`;
    },
  ],
  [
    "name",
    (draft, rng) => {
      const target = pickEntryField(draft, rng, "name");
      if (!target) return "name-none";
      const names = entryObjects(draft).map((e) => e.get("name")).filter((n): n is string => typeof n === "string");
      const value: JValue = rng.chance(0.2) ? new Raw(rng.pick(RAW_STRINGS)) : rng.chance(0.3) && names.length > 0 ? rng.pick(names) : rng.pick(ODD_NAMES);
      target.entry.set("name", value);
      return "name";
    },
  ],
  [
    "shape",
    (draft, rng) => {
      pickEntryField(draft, rng, "shape")?.entry.set("shape", cloneTree(rng.pick(SHAPES)));
      return "shape";
    },
  ],
  [
    "metadata",
    (draft, rng) => {
      const kind = rng.pick(["deep", "value", "not-object", "many-keys"]);
      let metadata = draft.header.get("metadata");
      if (!(metadata instanceof JObject)) draft.header.set("metadata", (metadata = new JObject([])));
      if (kind === "deep") metadata.members.push(["deep", nest(rng.pick([2, 60, 62, 63, 64, 65, 100, 1000, 100_000]), rng)]);
      else if (kind === "value") metadata.members.splice(rng.below(metadata.members.length + 1), 0, [rng.pick(["v", "__proto__", "\ud800", "constructor"]), cloneTree(rng.pick(METADATA_VALUES))]);
      else if (kind === "not-object") draft.header.set("metadata", cloneTree(rng.pick([null, [], "x", 1, [new JObject([])]] as JValue[])));
      else for (let i = 0; i < 500; i++) metadata.members.push([`k${i}`, i]);
      return `metadata-${kind}`;
    },
  ],
  [
    "alignment",
    (draft, rng) => {
      draft.header.set("alignment", rng.pick<JValue>([0, 1, 2, 4, 7, 8, 12, 16, 32, 63, 64, 128, 4096, 32768, 65536, 131072, 2 ** 31, 2 ** 53 - 1, new Raw("64.0"), new Raw("6.4e1"), "64", new Raw("-64")]));
      return "alignment";
    },
  ],
  [
    "layout",
    (draft, rng) => {
      const entries = entryObjects(draft);
      const kind = rng.pick(["offset", "byteLength", "dataLength", "offset-previous"]);
      const alignment = draft.layout.alignment;
      if (kind === "dataLength" || entries.length === 0) {
        const v = draft.layout.dataLength;
        draft.header.set("dataLength", rng.pick([v + 1, v - 1, v + alignment, v - 4, v + 4, 0, 2 ** 53 - 1]));
        return "layout-dataLength";
      }
      const index = rng.below(entries.length);
      const entry = entries[index]!;
      const v = entry.get(kind === "byteLength" ? "byteLength" : "offset");
      if (typeof v !== "number") return `layout-${kind}`;
      if (kind === "offset-previous") {
        const previous = entries[index - 1]?.get("offset");
        entry.set("offset", typeof previous === "number" ? previous : 0);
      } else if (kind === "offset") entry.set("offset", rng.pick([v + 1, v + 8, v - 8, v + alignment, v - alignment, 2 ** 53 - 1, 2 ** 53 - alignment]));
      else entry.set("byteLength", rng.pick([v + 1, v - 1, 0, v + 4, 2 ** 53 - 1, 2 ** 32]));
      return `layout-${kind}`;
    },
  ],
  [
    "arrays",
    (draft, rng) => {
      draft.header.set("arrays", cloneTree(rng.pick<JValue>([new JObject([]), null, [[]], [1], [null], "[]", [new JObject([])]])));
      return "arrays";
    },
  ],
];

export const utf8 = new TextEncoder();

/** Edits of the header's text (as UTF-8 bytes): what the JSON parser sees. */
export function editText(text: string, rng: Rng): { bytes: Uint8Array; label: string } {
  const quotes: number[] = [];
  for (let i = 0; i < text.length && quotes.length < 4096; i++) if (text.charCodeAt(i) === 0x22) quotes.push(i);
  const insideString = () => (quotes.length === 0 ? rng.below(text.length + 1) : rng.pick(quotes) + 1);
  const at = rng.below(text.length + 1);
  const insert = (pos: number, piece: string) => text.slice(0, pos) + piece + text.slice(pos);
  const kind = rng.pick([
    "bom", "leading-ws", "trailing-spaces", "trailing-other", "inner-ws", "control-char", "escaped-surrogate", "bad-escape",
    "cut", "delete-char", "insert-char", "invalid-utf8", "json5", "replace-all", "byte-havoc",
  ]);
  let out = text;
  switch (kind) {
    case "bom":
      return { bytes: concatBytes([Uint8Array.of(0xef, 0xbb, 0xbf), utf8.encode(text)]), label: "text-bom" };
    case "leading-ws":
      out = rng.pick([" ", "\n", "\t", "\r\n", "\u00a0", "\ufeff"]) + text;
      break;
    case "trailing-spaces":
      out = text + " ".repeat(rng.between(1, 64));
      break;
    case "trailing-other":
      out = text + rng.pick(["\u0000", "\u0000\u0000\u0000\u0000", "\n", "\t", " \u0000", "{}", "x", ",", " }"]);
      break;
    case "inner-ws": {
      const commas: number[] = [];
      for (let i = 0; i < text.length; i++) if (text[i] === "," || text[i] === ":") commas.push(i + 1);
      out = insert(commas.length > 0 ? rng.pick(commas) : 1, rng.pick([" ", "\n", "\t\r\n ", "  "]));
      break;
    }
    case "control-char":
      out = insert(insideString(), String.fromCharCode(rng.pick([0, 1, 9, 10, 13, 0x1f, 0x7f])));
      break;
    case "escaped-surrogate":
      out = insert(insideString(), rng.pick(["\\ud800", "\\udc00", "\\ud800\\u0041", "\\udbff\\udbff", "\\uDFFF"]));
      break;
    case "bad-escape":
      out = insert(insideString(), rng.pick(["\\x41", "\\u12G4", "\\", "\\U0041", "\\u00", "\\'", "\\a"]));
      break;
    case "cut":
      out = text.slice(0, rng.below(text.length));
      break;
    case "delete-char":
      out = text.slice(0, at) + text.slice(at + 1);
      break;
    case "insert-char":
      out = insert(at, rng.pick(["{", "}", "[", "]", '"', ",", ":", "0", "-", "e", "\\", "'", "/", "n"]));
      break;
    case "invalid-utf8": {
      const pos = insideString();
      const prefix = utf8.encode(text.slice(0, pos));
      const bad = rng.pick([[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xc3]]);
      return { bytes: concatBytes([prefix, Uint8Array.from(bad), utf8.encode(text.slice(pos))]), label: "text-invalid-utf8" };
    }
    case "json5":
      out = rng.pick([
        () => insert(1, "/* c */"),
        () => text.replace(/}$/, ",}"),
        () => text.replace(/"/g, "'"),
        () => text.replace(/\d+/, "NaN"),
        () => text.replace(/:(\d+)/, ":0x$1"),
        () => text.replace(/"(\w+)":/, "$1:"),
        () => text.replace(/\]/, ",]"),
      ])();
      break;
    case "replace-all":
      out = rng.pick(["", "{}", "[]", "null", " {}", '{"alignment":64}', "{" + "[".repeat(50), '"x"', "{\"a\":1}{}"]);
      break;
    default:
      return { bytes: havoc(utf8.encode(text), rng), label: "text-byte-havoc" };
  }
  return { bytes: utf8.encode(out), label: `text-${kind}` };
}

/** One to four byte flips, sets, inserts or deletes. */
export function havoc(input: Uint8Array, rng: Rng): Uint8Array {
  const bytes = Array.from(input);
  for (let n = rng.between(1, 4); n > 0; n--) {
    const pos = rng.below(bytes.length + 1);
    const op = rng.below(4);
    if (op === 0 && pos < bytes.length) bytes[pos]! ^= 1 << rng.below(8);
    else if (op === 1 && pos < bytes.length) bytes[pos] = rng.below(256);
    else if (op === 2) bytes.splice(pos, 0, rng.below(256));
    else bytes.splice(pos, 1);
  }
  return Uint8Array.from(bytes);
}

/**
 * For seeds that do not decode (and so cannot be taken apart): byte havoc inside the header, with
 * the header length and CRC recomputed, the rest of the file kept. `undefined` when the preamble
 * does not delimit a header.
 */
function headerHavoc(bytes: Uint8Array, rng: Rng): Uint8Array | undefined {
  if (bytes.length < PREAMBLE_SIZE) return undefined;
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(PREAMBLE.headerLength, true);
  if (PREAMBLE_SIZE + length > bytes.length || length > 1024 * 1024) return undefined;
  const header = havoc(bytes.subarray(PREAMBLE_SIZE, PREAMBLE_SIZE + length), rng);
  const out = concatBytes([bytes.subarray(0, PREAMBLE_SIZE), header, bytes.subarray(PREAMBLE_SIZE + length)]);
  new DataView(out.buffer).setUint32(PREAMBLE.headerLength, header.length, true);
  fixHeaderCrc(out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Raw edits: the header CRC is left as it is.

export function rawEdit(bytes: Uint8Array, rng: Rng): { bytes: Uint8Array; label: string } {
  const n = bytes.length;
  const at = rng.below(n + 1);
  const kind = rng.pick(["flip", "flip", "flip", "set", "insert", "delete", "truncate", "append", "u32", "copy", "preamble"]);
  switch (kind) {
    case "flip":
    case "set": {
      if (n === 0) return { bytes: Uint8Array.of(rng.below(256)), label: "raw-insert" };
      const out = bytes.slice();
      const pos = rng.below(n);
      out[pos] = kind === "flip" ? out[pos]! ^ (1 << rng.below(8)) : rng.pick([0, 1, 0x20, 0x7f, 0x80, 0xff, rng.below(256)]);
      return { bytes: out, label: `raw-${kind}` };
    }
    case "insert":
      return { bytes: concatBytes([bytes.subarray(0, at), rng.chance(0.5) ? new Uint8Array(rng.between(1, 8)) : rng.bytes(rng.between(1, 8)), bytes.subarray(at)]), label: "raw-insert" };
    case "delete":
      return { bytes: concatBytes([bytes.subarray(0, at), bytes.subarray(Math.min(n, at + rng.between(1, 8)))]), label: "raw-delete" };
    case "truncate": {
      const cuts = [0, 1, 7, 8, 19, 20, 21, n - 1, n - 4, rng.below(n), rng.below(n)];
      return { bytes: bytes.slice(0, Math.max(0, Math.min(n, rng.pick(cuts)))), label: "raw-truncate" };
    }
    case "append":
      return { bytes: concatBytes([bytes, rng.pick([() => new Uint8Array(rng.between(1, 64)), () => rng.bytes(rng.between(1, 64)), () => bytes.slice(0, 64)])()]), label: "raw-append" };
    case "u32": {
      if (n < 4) return { bytes, label: "raw-u32" };
      const out = bytes.slice();
      const pos = rng.below(n - 3);
      new DataView(out.buffer).setUint32(pos, rng.pick([0, 1, 0x7fffffff, 0x80000000, 0xffffffff, n, n - 20, rng.u32()]), true);
      return { bytes: out, label: "raw-u32" };
    }
    case "copy": {
      if (n < 2) return { bytes, label: "raw-copy" };
      const from = rng.below(n);
      const length = rng.between(1, Math.min(64, n - from));
      const out = bytes.slice();
      out.set(bytes.subarray(from, from + length), rng.below(n - length + 1));
      return { bytes: out, label: "raw-copy" };
    }
    default: {
      // A preamble field: the versions, the header length or the header CRC.
      if (n < PREAMBLE_SIZE) return { bytes, label: "raw-preamble" };
      const out = bytes.slice();
      const view = new DataView(out.buffer);
      const field = rng.pick([PREAMBLE.major, PREAMBLE.minor, PREAMBLE.headerLength, PREAMBLE.headerCrc]);
      if (field === PREAMBLE.headerLength) view.setUint32(field, rng.pick([0, 1, n, n - 19, 0xffffffff, 100 * 1024 * 1024 + 1, view.getUint32(field, true) + rng.between(-8, 8)]) >>> 0, true);
      else if (field === PREAMBLE.headerCrc) view.setUint32(field, rng.u32(), true);
      else view.setUint16(field, rng.pick([0, 1, 2, 0xffff]), true);
      return { bytes: out, label: "raw-preamble" };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Cases

/** What a case runs: its input, the options it decodes with, and how it was made. */
export interface FuzzCase {
  readonly index: number;
  readonly seedName: string;
  readonly input: Uint8Array;
  readonly options: DecodeOptions;
  /** The mutations applied, in order (labels, for statistics and failure reports). */
  readonly mutations: readonly string[];
}

/** The campaign's limits: small, so that an allocation beyond them stands out (see the runner). */
export const CAMPAIGN_LIMITS = { maxHeaderBytes: 1024 * 1024, maxDecodedBytes: 1024 * 1024 } as const;

function caseOptions(rng: Rng): DecodeOptions {
  const copy = rng.pick(["auto", "auto", "auto", "auto", "auto", "auto", "never", "always"] as const);
  if (!rng.chance(0.15)) return { ...CAMPAIGN_LIMITS, copy };
  // Tight limits, so that every limit of §7 is reached from small seeds too.
  return { ...CAMPAIGN_LIMITS, copy, maxDepth: rng.between(2, 6), maxArrays: rng.between(1, 4), maxDims: rng.between(1, 3), maxNameBytes: rng.between(1, 12), maxDecodedBytes: rng.pick([1, 64, 1024, CAMPAIGN_LIMITS.maxDecodedBytes]) };
}

function structuredCase(parsed: Parsed, rng: Rng, mutations: string[]): Uint8Array {
  const draft = draftOf(parsed);
  // At least one edit; most cases get one or two, so each one reaches the check it aims at.
  const wanted = { semantic: rng.chance(0.35), fields: rng.chance(0.3) ? 0 : rng.pick([1, 1, 1, 2, 3]), text: rng.chance(0.2), preamble: rng.chance(0.08) };
  if (!wanted.semantic && wanted.fields === 0 && !wanted.text && !wanted.preamble) wanted.fields = 1;
  if (wanted.semantic) {
    const [, edit] = rng.chance(0.02) ? SEMANTIC_EDITS.find(([name]) => name === "big-header")! : rng.pick(SEMANTIC_EDITS.filter(([name]) => name !== "big-header"));
    mutations.push(edit(draft, rng));
  }
  relayout(draft);
  for (let i = 0; i < wanted.fields; i++) mutations.push(rng.pick(FIELD_EDITS)[1](draft, rng));
  let headerBytes: Uint8Array;
  const text = treeText(draft.header);
  if (wanted.text) {
    const edited = editText(text, rng);
    headerBytes = edited.bytes;
    mutations.push(edited.label);
  } else headerBytes = utf8.encode(text);
  let claimedLength = headerBytes.length;
  if (wanted.preamble) {
    const kind = rng.pick(["minor", "major", "length"]);
    if (kind === "minor") draft.minor = rng.pick([1, 2, 0xffff]);
    else if (kind === "major") draft.major = rng.pick([0, 2, 0xffff]);
    else claimedLength = Math.max(0, headerBytes.length + rng.pick([-2, -1, 1, 2, 8, 64]));
    mutations.push(`preamble-${kind}`);
  }
  return assemble(draft, headerBytes, claimedLength);
}

const decodableCache = new WeakMap<readonly Seed[], readonly Seed[]>();

/** The seeds that decode, which structured edits can take apart. */
function decodableSeeds(seeds: readonly Seed[]): readonly Seed[] {
  let decodable = decodableCache.get(seeds);
  if (decodable === undefined) decodableCache.set(seeds, (decodable = seeds.filter((s) => parseSeed(s.bytes) !== undefined)));
  return decodable;
}

/**
 * Case `index` of the campaign seeded with `seed`, over `seeds`: even cases take every seed in
 * turn, odd cases the seeds that decode (so that the many invalid fixtures, which only raw edits
 * can change, do not crowd out structured edits).
 */
export function makeCase(seeds: readonly Seed[], seed: number, index: number): FuzzCase {
  const rng = caseRng(seed, index);
  const decodable = decodableSeeds(seeds);
  const source = index % 2 === 1 && decodable.length > 0 ? decodable[Math.floor(index / 2) % decodable.length]! : seeds[index % seeds.length]!;
  const options = caseOptions(rng);
  const mutations: string[] = [];
  const parsed = parseSeed(source.bytes);
  let input: Uint8Array;
  const mode = rng.below(100);
  const havocked = parsed === undefined && mode < 40 ? headerHavoc(source.bytes, rng) : undefined;
  if (parsed !== undefined && mode < 62) {
    input = structuredCase(parsed, rng, mutations);
    // Now and then, raw damage on top of a structured edit.
    if (rng.chance(0.1)) {
      const raw = rawEdit(input, rng);
      input = raw.bytes;
      mutations.push(raw.label);
    }
  } else if (havocked !== undefined) {
    input = havocked;
    mutations.push("header-havoc");
  } else {
    input = source.bytes;
    for (let n = rng.pick([1, 1, 1, 2, 3, 8]); n > 0; n--) {
      const raw = rawEdit(input, rng);
      input = raw.bytes;
      mutations.push(raw.label);
    }
    if (input === source.bytes) input = input.slice();
  }
  // Now and then, the same bytes where readers meet them in practice: a view at an odd offset of a
  // larger buffer (a Node Buffer from the pool), or shared memory.
  const placement = rng.below(100);
  if (placement < 8) {
    const offset = rng.between(1, 7);
    const backing = new Uint8Array(offset + input.length + 8).fill(0xa5);
    backing.set(input, offset);
    input = backing.subarray(offset, offset + input.length);
    mutations.push(`place-offset-${offset}`);
  } else if (placement < 12) {
    const shared = new Uint8Array(new SharedArrayBuffer(input.length));
    shared.set(input);
    input = shared;
    mutations.push("place-shared");
  }
  return { index, seedName: source.name, input, options, mutations };
}
