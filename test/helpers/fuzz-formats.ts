/**
 * The fuzz campaign of every input ndpack reads besides an .ndp file (`npm run fuzz:formats`, that
 * is `scripts/fuzz.ts --formats`): .npy, .npz and .safetensors files, set indexes (FORMAT.md §12.2),
 * whole sets (§12: an index and its shard files) and message streams (§11).
 *
 * Seeds are written by ndpack's own writers (`toNpy`, `toNpz`, `toSafetensors`, `writeSetIndex`,
 * `encode`), plus an index as huggingface_hub writes one and the sets of `fixtures/sets/valid`. Mutations are the .ndp campaign's raw
 * byte edits (`rawEdit` of `fuzz-mutate.ts`) and edits that know each format: the .npy header's
 * dict text, its version and length; a zip's local and central headers, ZIP64 records and members
 * (rebuilt with `planZipWrite`, so that the CRCs and sizes are right and the edits reach the
 * readers' later checks); the safetensors header length and JSON; the index JSON; message
 * boundaries, and one message mutated by the .ndp campaign's own `makeCase`.
 *
 * Every case is read through every path its format has, and each must end in a value or an
 * `NdpackError`, each call within the allocation bound of the .ndp campaign (`allocationBound`); the
 * paths that read the same bytes must agree (accept with the same arrays, or both refuse: the pairs
 * of codes two of them refuse with are counted, README says why they differ):
 * - .npy, .npz, .safetensors: the in-memory reader (`fromNpy`...), the lazy reader (`openSource`
 *   over memory, with `FORMATS`: names, info, read, readChunks and readMany of every array, verify)
 *   and `decodeStream` over chunks of a size chosen per case;
 * - a set index: `parseSetIndex`; a whole set: `openSetFile` over its files in a temporary folder;
 * - a message stream: `decodeMessages` over chunks of two sizes.
 * The installed Python package reads a sample of the cases (`compareFormatsWithPython`).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { getHeapStatistics } from "node:v8";
import { concatBytes } from "../../src/bytes.js";
import { crc32 } from "../../src/crc32.js";
import type { NdArray } from "../../src/decode.js";
import { encode } from "../../src/encode.js";
import type { Dtype } from "../../src/dtypes.js";
import { NdpackError } from "../../src/errors.js";
import { LIMIT_OPTIONS } from "../../src/format.js";
import { FORMATS, sniffFormat } from "../../src/formats/index.js";
import { writeToBytes } from "../../src/formats/write.js";
import { fromNpy, toNpy } from "../../src/interop/npy.js";
import { fromNpz, toNpz } from "../../src/interop/npz.js";
import { fromSafetensors, toSafetensors } from "../../src/interop/safetensors.js";
import { planZipWrite, type ZipMemberPlan } from "../../src/interop/zip.js";
import { bytesSource } from "../../src/io/bytes.js";
import { decodeMessages } from "../../src/messages.js";
import { openSource } from "../../src/reader.js";
import { parseSetIndex, shardFormatOf, shardHeaderEnd, shardPrefixLength, writeSetIndex, type WrittenShard } from "../../src/set.js";
import { openSetFile } from "../../src/node/set-open.js";
import { decodeStream } from "../../src/stream.js";
import { allocationBound, CASE_TIME_LIMIT_MS, caseTimeLimit, emptyStats, tallyCase, type CampaignConfig, type CampaignStats } from "./fuzz-run.js";
import {
  caseRng, cloneTree, editText, havoc, INTERESTING_NUMBERS, JObject, makeCase, METADATA_VALUES, nest, NUMBER_LITERALS, ODD_NAMES, ODD_STRINGS, ODD_VALUES,
  rawEdit, Raw, RAW_STRINGS, slotsOf, toTree, treeText, UNKNOWN_KEYS, utf8, type JValue, type Rng,
} from "./fuzz-mutate.js";
import { outcomeDifferences, pythonLimits, type Outcome } from "./fuzz-python.js";
import { caseInput } from "./message-cases.js";

/** The inputs of this campaign: a set is its index and shard files ({@link packSet}). */
export type FormatKind = "npy" | "npz" | "safetensors" | "index" | "messages" | "set";

/** The file name ending of each kind: what a saved input is called, and what tells `--replay` its kind. */
export const KIND_EXTENSIONS: Readonly<Record<FormatKind, string>> = { npy: ".npy", npz: ".npz", safetensors: ".safetensors", index: ".index.json", messages: ".ndpmsg", set: ".ndpset" };

/** A set's files, index first, as one input: per file a u16 name length, the UTF-8 name, a u32 length, the bytes. */
export function packSet(files: readonly (readonly [string, Uint8Array])[]): Uint8Array {
  return concatBytes(files.flatMap(([name, bytes]) => {
    const nameBytes = utf8.encode(name);
    const lengths = new DataView(new ArrayBuffer(6));
    lengths.setUint16(0, nameBytes.length, true);
    lengths.setUint32(2, bytes.length, true);
    const head = new Uint8Array(lengths.buffer);
    return [head.subarray(0, 2), nameBytes, head.subarray(2), bytes];
  }));
}

/** The files of {@link packSet}'s output. */
export function unpackSet(input: Uint8Array): [string, Uint8Array][] {
  const files: [string, Uint8Array][] = [];
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  for (let at = 0; at + 2 <= input.length; ) {
    const nameEnd = at + 2 + view.getUint16(at, true);
    const length = view.getUint32(nameEnd, true);
    files.push([new TextDecoder().decode(input.subarray(at + 2, nameEnd)), input.subarray(nameEnd + 4, nameEnd + 4 + length)]);
    at = nameEnd + 4 + length;
  }
  return files;
}

/** The kind of a saved input, from its name; `undefined` for an .ndp file (the .ndp campaign's). */
export function kindOfPath(path: string): FormatKind | undefined {
  return (Object.keys(KIND_EXTENSIONS) as FormatKind[]).find((kind) => path.endsWith(KIND_EXTENSIONS[kind]));
}

/** The story beside a saved input (`<hash>.json`: what went wrong, the options, how to reproduce it). */
export function storyPathOf(path: string): string {
  const kind = kindOfPath(path);
  return `${path.slice(0, path.length - (kind === undefined ? ".ndp" : KIND_EXTENSIONS[kind]).length)}.json`;
}

/** One starting input of the campaign. */
export interface FormatSeed {
  readonly kind: FormatKind;
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** The limits every case is read with: small, so that an allocation beyond them stands out. */
export const FORMAT_LIMITS = { maxDecodedBytes: 1024 * 1024 } as const;

/** What a case reads its input with, besides the bytes. */
export interface FormatCaseOptions {
  /**
   * FORMAT.md §7's limits and the formats' own (`maxIndexBytes` of an index, `maxMessageBytes` of a
   * stream), by their TypeScript names; each reader takes those it has ({@link READER_LIMITS}).
   */
  readonly limits: Readonly<Record<string, number>>;
  /** `copy` of the in-memory readers ("never" is left out: it refuses what the lazy reader returns). */
  readonly copy: "auto" | "always";
  /** `voidDtype` of the .npy and .npz readers. */
  readonly voidDtype?: Dtype;
}

/** The options of a case made without a generator: the campaign's limits alone. */
export const DEFAULT_FORMAT_OPTIONS: FormatCaseOptions = { limits: FORMAT_LIMITS, copy: "auto" };

/** The limits each reader takes (the others it refuses as unknown options, or they are another reader's). */
const READER_LIMITS = {
  fromNpy: ["maxHeaderBytes", "maxDims"],
  fromNpz: ["maxArrays", "maxDecodedBytes", "maxHeaderBytes", "maxDims"],
  fromSafetensors: ["maxHeaderBytes", "maxDims", "maxDepth", "maxHeaderNodes"],
  openSource: Object.keys(LIMIT_OPTIONS),
  openSetFile: [...Object.keys(LIMIT_OPTIONS), "maxIndexBytes"],
  parseSetIndex: ["maxIndexBytes", "maxDepth", "maxArrays", "maxHeaderNodes", "maxNameBytes"],
  decodeMessages: [...Object.keys(LIMIT_OPTIONS), "maxMessageBytes"],
} as const;

/** The limits of `options` that `reader` takes. */
function limitsFor(reader: keyof typeof READER_LIMITS, options: FormatCaseOptions): Record<string, number> {
  const names: readonly string[] = READER_LIMITS[reader];
  return Object.fromEntries(Object.entries(options.limits).filter(([name]) => names.includes(name)));
}

/** A case's options: the campaign's limits, and now and then tight ones, so that every limit is reached from small seeds. */
function formatCaseOptions(rng: Rng, kind: FormatKind): FormatCaseOptions {
  const limits: Record<string, number> = { ...FORMAT_LIMITS };
  if (rng.chance(0.2)) {
    const tight: [string, () => number][] = [
      ["maxHeaderBytes", () => rng.pick([16, 64, 118, 128, 200, 1024])],
      ["maxDims", () => rng.between(1, 3)],
      ["maxArrays", () => rng.between(1, 4)],
      ["maxDepth", () => rng.between(1, 4)],
      ["maxHeaderNodes", () => rng.pick([1, 5, 10, 30, 100])],
      ["maxNameBytes", () => rng.between(1, 12)],
      ["maxDecodedBytes", () => rng.pick([1, 64, 1024])],
      ["maxIndexBytes", () => rng.pick([10, 100, 1000])],
      ["maxMessageBytes", () => rng.pick([64, 256, 1024, 4096])],
    ];
    for (const [name, value] of tight) if (rng.chance(0.4)) limits[name] = value();
  }
  const copy = rng.chance(0.2) ? "always" : "auto";
  const voidDtype = (kind === "npy" || kind === "npz") && rng.chance(0.25) ? rng.pick<Dtype>(["bfloat16", "float8_e4m3fn", "float8_e5m2", "float16", "uint8"]) : undefined;
  return { limits, copy, ...(voidDtype === undefined ? {} : { voidDtype }) };
}

const ramp = (n: number, scale = 1) => Float32Array.from({ length: n }, (_, i) => (i % 13) * scale);

/** The seeds, in a fixed order (a case's index picks its seed). */
export function formatSeeds(): FormatSeed[] {
  const seeds: FormatSeed[] = [];
  const add = (kind: FormatKind, name: string, bytes: Uint8Array | string) => seeds.push({ kind, name: `${kind}:${name}`, bytes: typeof bytes === "string" ? utf8.encode(bytes) : bytes });

  add("npy", "float32-2x3", toNpy({ data: ramp(6), shape: [2, 3] }));
  add("npy", "int16-F-big", toNpy({ data: Int16Array.from({ length: 12 }, (_, i) => i - 6), shape: [3, 4], order: "F" }, { byteOrder: "big" }));
  add("npy", "bool", toNpy({ data: Uint8Array.of(0, 1, 1, 0), dtype: "bool" }));
  add("npy", "scalar-uint64", toNpy({ data: BigUint64Array.of(2n ** 64n - 1n), shape: [] }));
  add("npy", "zero-size", toNpy({ data: new Float64Array(0), shape: [3, 0] }));
  add("npy", "complex64-big", toNpy({ data: Float32Array.of(1, -1, 0.5, 2), dtype: "complex64", shape: [2] }, { byteOrder: "big" }));
  add("npy", "float16", toNpy({ data: Uint16Array.of(0x3c00, 0xc000), dtype: "float16" }));
  add("npy", "bfloat16-void", toNpy({ data: Uint16Array.of(0x3f80), dtype: "bfloat16" }));
  add("npy", "v2-float64", toNpy({ data: Float64Array.of(Math.PI, -0), shape: [1, 2] }, { version: 2 }));
  add("npy", "v3-int8", toNpy(Int8Array.of(-128, 127), { version: 3 }));

  const mixed = { w: { data: ramp(12, 0.5), shape: [3, 4] }, ids: BigInt64Array.of(1n, -2n), flag: { data: Uint8Array.of(1, 0), dtype: "bool" as const } };
  add("npz", "stored", toNpz(mixed));
  add("npz", "deflated", toNpz(mixed, { compress: true }));
  add("npz", "metadata", toNpz({ a: Int32Array.of(1, 2, 3) }, { metadata: { step: 3, nested: { x: [1, null] } } }));
  add("npz", "bfloat16-member", toNpz({ b: { data: Uint16Array.of(0x3f80, 0x4000), dtype: "bfloat16" }, e: { data: Uint8Array.of(0x38), dtype: "float8_e4m3fn" } }, { compress: true }));
  add("npz", "zip64", toNpz({ z: { data: Float64Array.of(1, 2, 3, 4), shape: [2, 2], order: "F" }, u: Uint16Array.of(7) }, { forceZip64: true }));
  add("npz", "zip64-deflated", toNpz({ z: ramp(64) }, { forceZip64: true, compress: true }));
  add("npz", "empty", toNpz({}));
  add("npz", "many", toNpz(Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`layer.${i}`, Uint8Array.of(i)]))));

  add("safetensors", "mixed", toSafetensors({ w: { data: ramp(6), shape: [2, 3] }, b: Int8Array.of(1, -1), h: { data: Uint16Array.of(0x3c00), dtype: "float16" } }));
  add("safetensors", "metadata", toSafetensors({ x: Float64Array.of(1) }, { metadata: { format: "pt", step: 3, list: [1, "a"] } }));
  add("safetensors", "dtypes", toSafetensors({ bf: { data: Uint16Array.of(1, 2), dtype: "bfloat16" }, e5: { data: Uint8Array.of(0x3c), dtype: "float8_e5m2" }, c: { data: Float32Array.of(1, 2), dtype: "complex64", shape: [1] }, u: BigUint64Array.of(5n), t: { data: Uint8Array.of(1), dtype: "bool" } }));
  add("safetensors", "zero-size", toSafetensors({ none: { data: new Float32Array(0), shape: [0, 4] }, one: Uint8Array.of(9) }));
  add("safetensors", "empty", toSafetensors({}));

  const shard = (name: string, arrays: string[], size = 4096): WrittenShard => ({ name, size, headerCrc32: crc32(utf8.encode(name)), arrays, nbytes: arrays.map(() => 16) });
  add("index", "ndpack-two-shards", writeSetIndex([shard("model-a1b2c3d4-00001-of-00002.ndp", ["w", "b"]), shard("model-a1b2c3d4-00002-of-00002.ndp", ["head.weight"])], { epoch: 3 }));
  add("index", "safetensors", writeSetIndex([shard("model-00001-of-00001.safetensors", ["x", "y", "z"])]));
  add("index", "huggingface-hub", `${JSON.stringify({ metadata: { total_size: 1234 }, weight_map: { "lm_head.weight": "model-00002-of-00002.safetensors", "embed.weight": "model-00001-of-00002.safetensors" } }, null, 2)}\n`);
  add("index", "no-metadata", JSON.stringify({ weight_map: { a: "x.safetensors" } }));

  // The sharded-set vectors, each folder's index first.
  const sets = fileURLToPath(new URL("../../fixtures/sets/valid", import.meta.url));
  for (const folder of readdirSync(sets).sort()) {
    const names = readdirSync(join(sets, folder)).sort((a, b) => Number(b.endsWith(".index.json")) - Number(a.endsWith(".index.json")) || (a < b ? -1 : 1));
    add("set", folder, packSet(names.map((name) => [name, new Uint8Array(readFileSync(join(sets, folder, name)))])));
  }

  const message = (i: number) => encode(caseInput(i), { metadata: { i } });
  add("messages", "one", message(1));
  add("messages", "three", concatBytes([message(0), message(2), message(3)]));
  add("messages", "deflate-and-none", concatBytes([encode({ d: { data: ramp(300), codec: "deflate" } }), encode({ n: Int16Array.of(1, 2) }, { checksum: "none", byteOrder: "big" })]));
  add("messages", "empty-stream", new Uint8Array(0));
  return seeds;
}

// ---------------------------------------------------------------------------------------------
// Mutations that know the formats

const NPY_DESCRS = ["'<f4'", "'>f4'", "'|b1'", "'<V2'", "'|V1'", "'<f1'", "'O'", "'<U3'", "'S4'", "'<i8'", "'=f8'", "'f8'", "'<c16'", "'>c8'", "'<f2'", "'<f16'", "'<i0'", "'<M8[s]'", "[('a', '<f4')]", "'<f4 '", "\"<f4\"", "'\\x3cf4'", "''", "1", "None"];
const NPY_SHAPES = ["()", "(0,)", "(3,)", "(2, 3)", "(2,3,)", "(-1,)", "(1.5,)", "(2**40,)", "(4294967296, 4294967296)", "(9007199254740993,)", `(${"1,".repeat(70)})`, "(3L,)", "(True,)", "[2, 3]", "(2 3)", "(,)", "(0x10,)", "(1_000,)", "(000,)", "(+1,)"];
const NPY_ORDERS = ["False", "True", "0", "1", "None", "false", "'C'"];

/** The .npy header's version, and its dict text (from the magic's end to the data). */
function npyParts(bytes: Uint8Array): { major: number; text: string; dataStart: number } | undefined {
  if (bytes.length < 10) return undefined;
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  const length = major === 1 ? view.getUint16(8, true) : bytes.length >= 12 ? view.getUint32(8, true) : -1;
  const dataStart = 8 + lengthBytes + length;
  if (length < 0 || dataStart > bytes.length) return undefined;
  return { major, text: new TextDecoder("latin1").decode(bytes.subarray(8 + lengthBytes, dataStart)), dataStart };
}

/** A .npy file from its parts, the header length field written for `headerBytes` (or `claimed`). */
function npyFile(major: number, minor: number, headerBytes: Uint8Array, data: Uint8Array, claimed = headerBytes.length): Uint8Array {
  const lengthBytes = major === 1 ? 2 : 4;
  const out = new Uint8Array(8 + lengthBytes + headerBytes.length + data.length);
  out.set([0x93, ...utf8.encode("NUMPY"), major, minor]);
  const view = new DataView(out.buffer);
  if (lengthBytes === 2) view.setUint16(8, claimed & 0xffff, true);
  else view.setUint32(8, claimed >>> 0, true);
  out.set(headerBytes, 8 + lengthBytes);
  out.set(data, 8 + lengthBytes + headerBytes.length);
  return out;
}

/** Edits of a .npy file's header: its dict text, its version, its length field. */
function mutateNpy(bytes: Uint8Array, rng: Rng, mutations: string[]): Uint8Array {
  const parts = npyParts(bytes);
  if (parts === undefined) return mutateRaw(bytes, rng, mutations);
  let { text, major } = parts;
  let minor = bytes[7]!;
  let data = bytes.subarray(parts.dataStart);
  const kind = rng.pick(["descr", "descr", "shape", "shape", "order", "key", "text", "version", "length", "data", "pad"]);
  mutations.push(`npy-${kind}`);
  const replaceValue = (key: string, values: readonly string[]) => {
    const re = key === "shape" ? /'shape':\s*(\([^)]*\)|\[[^\]]*\])/ : new RegExp(`'${key}':\\s*('[^']*'|[A-Za-z0-9]+)`);
    text = text.replace(re, `'${key}': ${rng.pick(values)}`);
  };
  switch (kind) {
    case "descr":
      replaceValue("descr", NPY_DESCRS);
      break;
    case "shape":
      replaceValue("shape", NPY_SHAPES);
      break;
    case "order":
      replaceValue("fortran_order", NPY_ORDERS);
      break;
    case "key": {
      const which = rng.pick(["drop-descr", "drop-shape", "drop-order", "extra", "duplicate", "rename", "nested"]);
      if (which === "drop-descr") text = text.replace(/'descr':\s*'[^']*',\s*/, "");
      else if (which === "drop-shape") text = text.replace(/,?\s*'shape':\s*\([^)]*\),?/, "");
      else if (which === "drop-order") text = text.replace(/'fortran_order':\s*\w+,\s*/, "");
      else if (which === "extra") text = text.replace("{", `{'${rng.pick(["extra", "descr ", "Descr", "shape"])}': ${rng.pick(["1", "'x'", "()", "None"])}, `);
      else if (which === "duplicate") text = text.replace(/('descr':\s*'[^']*',)/, "$1 $1");
      else if (which === "rename") text = text.replace("'shape'", rng.pick(["\"shape\"", "'shap'", "shape"]));
      else text = text.replace("{", "{'a': {'b': [(1, 2)]}, ");
      mutations.push(`npy-key-${which}`);
      break;
    }
    case "text": {
      const edited = rng.pick([
        () => text.replace(/\s+$/, ""),
        () => text.replace("\n", ""),
        () => text.replace("{", "{ "),
        () => text.replace(/}/, ",}"),
        () => text.replace(/}/, "} junk"),
        () => text + "\u00e9",
        () => text.replace(/'/g, '"'),
        () => text.slice(0, rng.below(text.length)),
        () => new TextDecoder("latin1").decode(havoc(utf8.encode(text), rng)),
      ])();
      text = edited;
      break;
    }
    case "version":
      [major, minor] = rng.pick([[1, 0], [2, 0], [3, 0], [0, 0], [4, 0], [1, 1], [255, 255]]);
      break;
    case "length": {
      const headerBytes = latin1(text);
      const claimed = rng.pick([0, 1, headerBytes.length - 1, headerBytes.length + 1, headerBytes.length + 64, 10000, 10001, 0xffff, 0xffffffff, 100 * 1024 * 1024]);
      return npyFile(major, minor, headerBytes, data, claimed);
    }
    case "data":
      data = rng.pick([() => data.subarray(0, rng.below(data.length + 1)), () => concatBytes([data, rng.bytes(rng.between(1, 16))]), () => new Uint8Array(0)])();
      break;
    default:
      // The header grows past numpy's 10000-byte cap, or past version 1.0's u16 length.
      text = text.replace(/\n$/, " ".repeat(rng.pick([9990, 65536, 100])) + "\n");
  }
  return npyFile(major, minor, latin1(text), data);
}

/** Latin-1 bytes of `text` (the .npy header's encoding before version 3.0; others byte for byte). */
function latin1(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

/** A member of a zip as this mutator sees it: its name and stored content (a .npy file, or the ndpack member's JSON). */
interface ZipMemberDraft {
  name: string;
  method: "stored" | "deflate";
  content: Uint8Array;
}

/** The members of a zip that `fromNpz` reads; `undefined` when it does not. */
function npzMembers(bytes: Uint8Array): { members: ZipMemberDraft[]; zip64: boolean } | undefined {
  try {
    const contents = fromNpz(bytes, { voidDtype: "bfloat16" });
    const members: ZipMemberDraft[] = [];
    for (const [name, array] of contents.arrays) members.push({ name: `${name}.npy`, method: "stored", content: toNpy(array) });
    if (Object.keys(contents.metadata).length > 0) members.push({ name: "__ndpack__.json", method: "stored", content: utf8.encode(JSON.stringify({ metadata: contents.metadata, dtypes: {} })) });
    // Zip64 when the seed has an end-of-central-directory locator for ZIP64.
    return { members, zip64: findSignature(bytes, 0x07064b50).length > 0 };
  } catch {
    return undefined;
  }
}

/** A zip of `members`, as ndpack's writer lays one out. */
function zipOf(members: readonly ZipMemberDraft[], zip64: boolean): Uint8Array {
  const plans: ZipMemberPlan[] = members.map((m) => ({ name: m.name, method: m.method, content: m.content, ...(m.method === "stored" ? { align: 64 } : {}) }));
  return writeToBytes(planZipWrite(plans, { level: 6, forceZip64: zip64 }), []);
}

/** Offsets of a little-endian u32 signature in `bytes`. */
function findSignature(bytes: Uint8Array, signature: number): number[] {
  const out: number[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i + 4 <= bytes.length; i++) if (view.getUint32(i, true) === signature) out.push(i);
  return out;
}

/** The fields of each zip record (offset from the signature, width), as APPNOTE 4.3 lays them out. */
const ZIP_FIELDS: Readonly<Record<number, readonly (readonly [string, number, 2 | 4 | 8])[]>> = {
  // Local file header.
  [0x04034b50]: [["version", 4, 2], ["flags", 6, 2], ["method", 8, 2], ["crc", 14, 4], ["compressedSize", 18, 4], ["size", 22, 4], ["nameLength", 26, 2], ["extraLength", 28, 2]],
  // Central directory file header.
  [0x02014b50]: [["versionNeeded", 6, 2], ["flags", 8, 2], ["method", 10, 2], ["crc", 16, 4], ["compressedSize", 20, 4], ["size", 24, 4], ["nameLength", 28, 2], ["extraLength", 30, 2], ["commentLength", 32, 2], ["disk", 34, 2], ["localOffset", 42, 4]],
  // End of central directory.
  [0x06054b50]: [["disk", 4, 2], ["cdDisk", 6, 2], ["entriesHere", 8, 2], ["entries", 10, 2], ["cdSize", 12, 4], ["cdOffset", 16, 4], ["commentLength", 20, 2]],
  // ZIP64 end of central directory.
  [0x06064b50]: [["recordSize", 4, 8], ["disk", 16, 4], ["entriesHere", 24, 8], ["entries", 32, 8], ["cdSize", 40, 8], ["cdOffset", 48, 8]],
  // ZIP64 end of central directory locator.
  [0x07064b50]: [["disk", 4, 4], ["eocd64Offset", 8, 8], ["disks", 16, 4]],
  // ZIP64 extended information extra field (its header ID, then its size and values).
  [0x0001]: [["extraSize", 2, 2], ["value0", 4, 8], ["value1", 12, 8], ["value2", 20, 8]],
};

/** Edits of a zip: one field of one record, a member's content or name, or the list of members (rebuilt). */
function mutateNpz(bytes: Uint8Array, rng: Rng, mutations: string[]): Uint8Array {
  const parsed = rng.chance(0.45) ? npzMembers(bytes) : undefined;
  if (parsed !== undefined && parsed.members.length > 0) {
    const { members } = parsed;
    const member = rng.pick(members);
    const kind = rng.pick(["npy", "npy", "name", "method", "drop", "duplicate", "ndpack-json", "zip64"]);
    mutations.push(`npz-member-${kind}`);
    if (kind === "npy") member.content = member.name.endsWith(".npy") ? mutateNpy(member.content, rng, mutations) : havoc(member.content, rng);
    else if (kind === "name") member.name = rng.pick(["", "a", "a.npy", "x.NPY", "/abs.npy", "../up.npy", "a\\b.npy", "w\u0000a.npy", "é.npy", "__ndpack__.json", "a.npy/", `${"n".repeat(300)}.npy`, members[0]!.name]);
    else if (kind === "method") member.method = member.method === "stored" ? "deflate" : "stored";
    else if (kind === "drop") members.splice(members.indexOf(member), 1);
    else if (kind === "duplicate") members.push({ ...member });
    else if (kind === "ndpack-json") {
      const json = rng.pick(['{"metadata": {}, "dtypes": {"a": "bfloat16"}}', '{"dtypes": {"w": "float8_e5m2"}}', '{"metadata": [], "dtypes": {}}', "{}", "[]", "{", '{"metadata": {}, "dtypes": {"nope": "int4"}}', '{"metadata": {"a": 1}, "dtypes": {}, "extra": 1}', '{"metadata": {}, "dtypes": {"w": "float32"}}']);
      const existing = members.find((m) => m.name === "__ndpack__.json");
      if (existing) existing.content = utf8.encode(json);
      else members.push({ name: "__ndpack__.json", method: rng.pick(["stored", "deflate"] as const), content: utf8.encode(json) });
    } else parsed.zip64 = !parsed.zip64;
    return zipOf(members, parsed.zip64);
  }
  // A field of a record, set to a value readers must not trust.
  const records = Object.keys(ZIP_FIELDS).flatMap((signature) => findSignature(bytes, Number(signature) === 0x0001 ? 0x00000001 : Number(signature)).map((at) => ({ at, signature: Number(signature) })));
  const real = records.filter((r) => r.signature !== 0x0001 || zip64ExtraAt(bytes, r.at));
  if (real.length === 0) return mutateRaw(bytes, rng, mutations);
  const record = rng.pick(real);
  const [field, offset, width] = rng.pick(ZIP_FIELDS[record.signature]!);
  const at = record.at + offset;
  if (at + width > bytes.length) return mutateRaw(bytes, rng, mutations);
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const current = width === 2 ? view.getUint16(at, true) : width === 4 ? view.getUint32(at, true) : Number(view.getBigUint64(at, true));
  const max = width === 2 ? 0xffff : width === 4 ? 0xffffffff : 2 ** 64 - 1;
  const value = rng.pick([0, 1, current + 1, current - 1, current + 64, current * 2, max, max - 1, 0xffffffff, 2 ** 31, 2 ** 53 - 1, 2 ** 53, bytes.length, rng.below(bytes.length), rng.u32()]);
  const clamped = Math.max(0, Math.min(max, value));
  if (width === 2) view.setUint16(at, clamped, true);
  else if (width === 4) view.setUint32(at, clamped >>> 0, true);
  else view.setBigUint64(at, clamped >= 2 ** 64 ? 2n ** 64n - 1n : BigInt(Math.floor(clamped)), true);
  mutations.push(`zip-${record.signature.toString(16)}-${field}`);
  return out;
}

/** Whether the bytes at `at` look like a ZIP64 extra field (ID 1, size 8, 16 or 24). */
function zip64ExtraAt(bytes: Uint8Array, at: number): boolean {
  if (at + 4 > bytes.length || bytes[at] !== 1 || bytes[at + 1] !== 0) return false;
  const size = bytes[at + 2]! | (bytes[at + 3]! << 8);
  return size === 8 || size === 16 || size === 24;
}

/** Edits of any value, key or text of a JSON document held as a tree (returns the edit's label). */
export function editJsonTree(root: JValue, rng: Rng): string {
  const slots = slotsOf(root, "");
  const objects = [root, ...slots.map((s) => s.value)].filter((v): v is JObject => v instanceof JObject);
  const kind = rng.pick(["value", "value", "number", "string", "keys", "keys", "deep", "many"]);
  const slot = slots.length > 0 ? rng.pick(slots) : undefined;
  switch (kind) {
    case "value":
      slot?.set(cloneTree(rng.pick([...ODD_VALUES, ...METADATA_VALUES])));
      break;
    case "number":
      slot?.set(rng.chance(0.5) ? rng.pick(INTERESTING_NUMBERS) : new Raw(rng.pick(NUMBER_LITERALS)));
      break;
    case "string":
      slot?.set(rng.chance(0.3) ? new Raw(rng.pick(RAW_STRINGS)) : rng.pick([...ODD_STRINGS, ...ODD_NAMES]));
      break;
    case "keys": {
      const object = objects.length > 0 ? rng.pick(objects) : undefined;
      if (!object) break;
      const i = rng.below(object.members.length);
      const member = object.members[i];
      const which = rng.pick(["delete", "unknown", "duplicate", "rename", "empty-key", "odd-key"]);
      if (which === "delete" && member) object.members.splice(i, 1);
      else if (which === "unknown") object.members.splice(rng.below(object.members.length + 1), 0, [rng.pick(UNKNOWN_KEYS), cloneTree(rng.pick(ODD_VALUES))]);
      else if (which === "duplicate" && member) object.members.splice(rng.below(object.members.length + 1), 0, [member[0], cloneTree(rng.chance(0.5) ? member[1] : rng.pick(ODD_VALUES))]);
      else if (which === "rename" && member) member[0] = rng.chance(0.5) ? member[0].toUpperCase() : `${member[0]} `;
      else if (which === "empty-key" && member) member[0] = "";
      else if (member) member[0] = rng.pick(ODD_NAMES);
      return `json-keys-${which}`;
    }
    case "deep":
      slot?.set(nest(rng.pick([2, 63, 64, 65, 200, 100_000]), rng));
      break;
    default: {
      const object = objects.length > 0 ? rng.pick(objects) : undefined;
      for (let i = 0; object && i < rng.pick([10, 500, 5000]); i++) object.members.push([`k${i}`, i]);
    }
  }
  return `json-${kind}`;
}

/** Parses JSON text into an editable tree; `undefined` when it is not JSON. */
function treeOf(text: string): JValue | undefined {
  try {
    return toTree(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** Edits of a .safetensors file: its header length (a u64) and its header JSON. */
function mutateSafetensors(bytes: Uint8Array, rng: Rng, mutations: string[]): Uint8Array {
  if (bytes.length < 8) return mutateRaw(bytes, rng, mutations);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = Number(view.getBigUint64(0, true));
  const end = 8 + length;
  if (end > bytes.length) return mutateRaw(bytes, rng, mutations);
  const data = bytes.subarray(end);
  const text = new TextDecoder().decode(bytes.subarray(8, end));
  let header: Uint8Array;
  const kind = rng.pick(["json", "json", "json", "offsets", "text", "length", "data"]);
  mutations.push(`safetensors-${kind}`);
  const tree = treeOf(text);
  if ((kind === "json" || kind === "offsets") && tree instanceof JObject) {
    if (kind === "json") mutations.push(editJsonTree(tree, rng));
    else {
      const tensors = tree.members.filter(([k, v]) => k !== "__metadata__" && v instanceof JObject).map(([, v]) => v as JObject);
      const tensor = tensors.length > 0 ? rng.pick(tensors) : undefined;
      const offsets = tensor?.get("data_offsets");
      if (Array.isArray(offsets) && typeof offsets[0] === "number" && typeof offsets[1] === "number") {
        const [begin, stop] = offsets as [number, number];
        tensor!.set("data_offsets", rng.pick<JValue>([[begin, stop + 1], [begin + 1, stop], [stop, begin], [0, stop], [begin, 2 ** 53 - 1], [begin, 2 ** 53], [begin], [begin, stop, 0], [new Raw("0.0"), stop], [-1, stop]]));
      }
    }
    header = utf8.encode(treeText(tree));
  } else if (kind === "text") {
    const edited = editText(text, rng);
    header = edited.bytes;
    mutations.push(edited.label);
  } else header = bytes.subarray(8, end);
  let claimed = BigInt(header.length);
  let tail = data;
  if (kind === "length") claimed = rng.pick([0n, 1n, 2n, claimed - 1n, claimed + 1n, claimed + 8n, 100_000_000n, 100_000_001n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]);
  if (kind === "data") tail = rng.pick([() => data.subarray(0, rng.below(data.length + 1)), () => concatBytes([data, rng.bytes(rng.between(1, 16))])])();
  const out = new Uint8Array(8 + header.length + tail.length);
  new DataView(out.buffer).setBigUint64(0, claimed < 0n ? 0n : claimed, true);
  out.set(header, 8);
  out.set(tail, 8 + header.length);
  return out;
}

/** Edits of a set index's JSON: a value, a key, the text. */
function mutateIndex(bytes: Uint8Array, rng: Rng, mutations: string[]): Uint8Array {
  const text = new TextDecoder().decode(bytes);
  const tree = treeOf(text);
  if (tree === undefined || rng.chance(0.25)) {
    const edited = editText(text, rng);
    mutations.push(`index-${edited.label}`);
    return edited.bytes;
  }
  const kind = rng.pick(["tree", "tree", "shard-name", "ndpack"]);
  if (kind === "tree") mutations.push(`index-${editJsonTree(tree, rng)}`);
  else if (kind === "shard-name") {
    const map = tree instanceof JObject ? tree.get("weight_map") : undefined;
    if (map instanceof JObject && map.members.length > 0) rng.pick(map.members)[1] = rng.pick(["", "x.ndp", "x.NDP", "x.bin", "../x.ndp", "/x.ndp", "a\\b.ndp", "C:x.ndp", "a/b.safetensors", ".ndp", "x.ndp\u0000", "x.ndp ", "é.ndp", "x.index.json"]);
    mutations.push("index-shard-name");
  } else {
    const ndpack = tree instanceof JObject ? tree.get("ndpack") : undefined;
    if (ndpack instanceof JObject) {
      const field = rng.pick(["version", "shards", "size", "header_crc32"]);
      const shards = ndpack.get("shards");
      const record = shards instanceof JObject && shards.members.length > 0 ? (rng.pick(shards.members)[1] as JValue) : undefined;
      const value = rng.chance(0.5) ? rng.pick(INTERESTING_NUMBERS) : cloneTree(rng.pick(ODD_VALUES));
      if (field === "version" || field === "shards") ndpack.set(field, rng.chance(0.5) ? rng.pick([0, 2, 1.0, new Raw("1.0"), new Raw("1e0")] as JValue[]) : value);
      else if (record instanceof JObject) record.set(field, rng.chance(0.3) ? new Raw(rng.pick(["-1", "4294967296", "1e3", "9007199254740993"])) : value);
    }
    mutations.push("index-ndpack");
  }
  const indent = /^\{\n/.test(text) ? 2 : 0;
  const out = treeText(tree);
  return utf8.encode(indent > 0 ? `${out}\n` : out);
}

/** Where each message of a valid stream starts (and the stream's end): `undefined` when decoding fails. */
function messageBoundaries(bytes: Uint8Array): number[] | undefined {
  const out = [0];
  try {
    let at = 0;
    while (at < bytes.length) {
      const view = new DataView(bytes.buffer, bytes.byteOffset + at, bytes.length - at);
      // The message's end, from its header: D + dataLength (FORMAT.md §11).
      const headerLength = view.getUint32(12, true);
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(at + 20, at + 20 + headerLength))) as { alignment: number; dataLength: number };
      const dataStart = Math.ceil((20 + headerLength) / header.alignment) * header.alignment;
      at += dataStart + header.dataLength;
      out.push(at);
    }
    return at === bytes.length ? out : undefined;
  } catch {
    return undefined;
  }
}

/** Edits of a message stream: cuts at and near boundaries, one message mutated as an .ndp file, messages reordered or repeated. */
function mutateMessages(bytes: Uint8Array, rng: Rng, mutations: string[], seed: number, index: number): Uint8Array {
  const bounds = messageBoundaries(bytes);
  if (bounds === undefined || bounds.length < 2) return mutateRaw(bytes, rng, mutations);
  const messages = bounds.slice(1).map((end, i) => bytes.subarray(bounds[i]!, end));
  const kind = rng.pick(["cut", "cut", "one-message", "one-message", "repeat", "drop", "garbage-between"]);
  mutations.push(`messages-${kind}`);
  if (kind === "cut") {
    // Every boundary, and the bytes that say where a message ends: its preamble, header and data section.
    const i = rng.below(messages.length);
    const start = bounds[i]!;
    const message = messages[i]!;
    const headerLength = message.length >= 16 ? new DataView(message.buffer, message.byteOffset).getUint32(12, true) : 0;
    const cut = rng.pick([start, start + 1, start + 8, start + 19, start + 20, start + 20 + headerLength, start + 21 + headerLength, bounds[i + 1]! - 1, bounds[i + 1]! - 4, start + rng.below(message.length)]);
    return bytes.slice(0, Math.min(cut, bytes.length));
  }
  if (kind === "one-message") {
    const i = rng.below(messages.length);
    const mutated = makeCase([{ name: "message", bytes: messages[i]! }], seed, index);
    mutations.push(...mutated.mutations);
    messages[i] = mutated.input;
  } else if (kind === "repeat") messages.splice(rng.below(messages.length + 1), 0, rng.pick(messages));
  else if (kind === "drop") messages.splice(rng.below(messages.length), 1);
  else messages.splice(rng.between(1, messages.length), 0, rng.pick([new Uint8Array(rng.between(1, 8)), rng.bytes(rng.between(1, 32)), Uint8Array.of(0x89)]));
  return concatBytes(messages);
}

/**
 * Edits of a set: its index, one shard (as its format's campaign edits it), the files present; a
 * shard edit is followed half the time by the index's `ndpack.shards` record made to match it
 * again, so that it reaches the shard's own checks rather than stopping at FILE_CHANGED.
 */
function mutateSet(input: Uint8Array, rng: Rng, mutations: string[], seed: number, index: number): Uint8Array {
  const files = unpackSet(input);
  if (files.length === 0) return mutateRaw(input, rng, mutations);
  const kind = files.length === 1 ? "index" : rng.pick(["index", "shard", "shard", "shard", "drop", "rename", "resize"]);
  mutations.push(`set-${kind}`);
  const shardAt = rng.between(1, Math.max(1, files.length - 1));
  const shard = files[shardAt];
  if (kind === "index" || shard === undefined) files[0]![1] = mutateIndex(files[0]![1], rng, mutations);
  else if (kind === "drop") files.splice(shardAt, 1);
  else if (kind === "rename") shard[0] = rng.pick([`${shard[0]}.bak`, shard[0].toUpperCase(), files[rng.between(1, files.length - 1)]![0]]);
  else if (kind === "resize") shard[1] = rng.chance(0.5) ? shard[1].subarray(0, rng.below(shard[1].length)) : concatBytes([shard[1], rng.bytes(rng.between(1, 8))]);
  else {
    if (shard[0].endsWith(".safetensors")) shard[1] = mutateSafetensors(shard[1], rng, mutations);
    else {
      const mutated = makeCase([{ name: shard[0], bytes: shard[1] }], seed, index);
      mutations.push(...mutated.mutations);
      shard[1] = mutated.input;
    }
    if (rng.chance(0.5)) files[0]![1] = matchShardRecord(files[0]![1], shard[0], shard[1]);
  }
  return packSet(files);
}

/** The index with `ndpack.shards[name]` giving the size and header CRC-32 of `bytes` (unchanged when it has no such record, or the header's end cannot be told). */
function matchShardRecord(indexBytes: Uint8Array, name: string, bytes: Uint8Array): Uint8Array {
  const tree = treeOf(new TextDecoder().decode(indexBytes));
  const shards = tree instanceof JObject ? (tree.get("ndpack") instanceof JObject ? (tree.get("ndpack") as JObject).get("shards") : undefined) : undefined;
  const record = shards instanceof JObject ? shards.get(name) : undefined;
  const format = shardFormatOf(name);
  if (!(record instanceof JObject) || format === undefined) return indexBytes;
  let end: number;
  try {
    end = shardHeaderEnd({ name, format }, bytes.subarray(0, shardPrefixLength({ format })), bytes.length);
  } catch {
    return indexBytes;
  }
  if (end > bytes.length) return indexBytes;
  record.set("size", bytes.length);
  record.set("header_crc32", crc32(bytes.subarray(0, end)));
  return utf8.encode(treeText(tree!));
}

function mutateRaw(bytes: Uint8Array, rng: Rng, mutations: string[]): Uint8Array {
  let out = bytes;
  for (let n = rng.pick([1, 1, 2, 3]); n > 0; n--) {
    const edit = rawEdit(out, rng);
    out = edit.bytes;
    mutations.push(edit.label);
  }
  return out === bytes ? bytes.slice() : out;
}

/** Raw edits of one file of a set (raw edits of the packed set would only break its framing). */
function rawEditOneFile(input: Uint8Array, rng: Rng, mutations: string[]): Uint8Array {
  const files = unpackSet(input);
  if (files.length === 0) return input.slice();
  const file = rng.pick(files);
  file[1] = mutateRaw(file[1], rng, mutations);
  return packSet(files);
}

/** One case of the campaign: its input, its kind, and how it was made. */
export interface FormatCase {
  readonly index: number;
  readonly kind: FormatKind;
  readonly seedName: string;
  readonly input: Uint8Array;
  /** Bytes per chunk of the streaming readers. */
  readonly chunkBytes: number;
  readonly options: FormatCaseOptions;
  readonly mutations: readonly string[];
}

/**
 * Most chunks a case's input is cut into: each costs a few microseconds of async iteration
 * whatever the reader does with it, so a 600 KB header byte by byte would fail the time limit for
 * the harness's sake.
 */
export const MAX_CHUNKS = 4096;

/** The chunk size of a case's streaming readers (a pure function of the case's generator). */
function chunkBytesFor(rng: Rng, length: number): number {
  return Math.max(rng.pick([1, 3, 7, 64, 4096, length]), Math.ceil(length / MAX_CHUNKS), 1);
}

/** Case `index` of the campaign seeded with `seed`: the seeds are taken in turn. */
export function makeFormatCase(seeds: readonly FormatSeed[], seed: number, index: number): FormatCase {
  const rng = caseRng(seed, index);
  const source = seeds[index % seeds.length]!;
  const mutations: string[] = [];
  let input: Uint8Array;
  if (rng.chance(0.3)) input = source.kind === "set" ? rawEditOneFile(source.bytes, rng, mutations) : mutateRaw(source.bytes, rng, mutations);
  else if (source.kind === "npy") input = mutateNpy(source.bytes, rng, mutations);
  else if (source.kind === "npz") input = mutateNpz(source.bytes, rng, mutations);
  else if (source.kind === "safetensors") input = mutateSafetensors(source.bytes, rng, mutations);
  else if (source.kind === "index") input = mutateIndex(source.bytes, rng, mutations);
  else if (source.kind === "set") input = mutateSet(source.bytes, rng, mutations, seed, index);
  else input = mutateMessages(source.bytes, rng, mutations, seed, index);
  // Now and then raw damage on top of a format-aware edit.
  if (!mutations[0]!.startsWith("raw-") && rng.chance(0.1)) input = source.kind === "set" ? rawEditOneFile(input, rng, mutations) : mutateRaw(input, rng, mutations);
  return { index, kind: source.kind, seedName: source.name, input, chunkBytes: chunkBytesFor(rng, input.length), options: formatCaseOptions(rng, source.kind), mutations };
}

// ---------------------------------------------------------------------------------------------
// Running a case

/** Runs one step of a reader and records what it allocated, against `allowed` (by default the case's bound). */
type Measure = <T>(what: string, fn: () => T | Promise<T>, allowed?: number) => Promise<T>;

/** What one case did. */
export interface FormatCaseReport {
  /** The outcome every reader agreed on: `"valid"` or the code of the first refusal. */
  readonly outcome: string;
  readonly problems: readonly string[];
  /** The largest growth of external memory over one reader's run, in bytes. */
  readonly maxAllocation: number;
  /** What the lazy reader (or parseSetIndex, or decodeMessages) made of it, for the Python comparison. */
  readonly outcomeForPython: unknown;
  /** `"<reader> <code> / <reader> <code>"` for two readers that refused with different codes. */
  readonly codePairs: readonly string[];
}

const externalMemory = () => getHeapStatistics().external_memory;

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}\n${error.stack?.split("\n").slice(1, 6).join("\n") ?? ""}`;
  return String(error);
}

/** The stream of `input` in chunks of `chunkBytes` (the last one shorter). */
async function* chunks(input: Uint8Array, chunkBytes: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < input.length; at += chunkBytes) yield input.subarray(at, at + chunkBytes);
}

/** An array in terms two readers can be compared in. */
function arrayKey(array: Pick<NdArray, "dtype" | "shape" | "data">): string {
  const bytes = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  return `${array.dtype}[${array.shape.join(",")}]:${crc32(bytes).toString(16)}:${bytes.length}`;
}

/** What a reader made of the bytes: the arrays it handed out (by name), or the code it refused them with. */
type Verdict = { readonly code: string } | { readonly arrays: ReadonlyMap<string, string> };

function verdictText(verdict: Verdict): string {
  return "code" in verdict ? verdict.code : `${verdict.arrays.size} arrays`;
}

/**
 * Whether two readers agree: both refuse, or both accept with the same arrays. Which code each
 * refuses with may differ: an in-memory reader checks a member's CRC before its .npy header, a
 * lazy one the header at open and the CRC when the member is read; the campaign counts such pairs.
 */
function sameVerdict(a: Verdict, b: Verdict): boolean {
  if ("code" in a || "code" in b) return "code" in a && "code" in b;
  return a.arrays.size === b.arrays.size && [...a.arrays].every(([name, key]) => b.arrays.get(name) === key);
}

/** Runs one case through every reader of its kind and checks the invariants (see the module comment). */
export async function runFormatCase(kind: FormatKind, input: Uint8Array, chunkBytes: number, options: FormatCaseOptions = DEFAULT_FORMAT_OPTIONS): Promise<FormatCaseReport> {
  const problems: string[] = [];
  const bound = allocationBound(input, { maxDecodedBytes: options.limits.maxDecodedBytes ?? FORMAT_LIMITS.maxDecodedBytes });
  // A stream's reader cannot view the bytes of a header: it copies them as they arrive into a
  // buffer that grows from 64 KiB, doubling, to the length the header claims once that is within
  // three times what has arrived (never to it before), and an ndpack header's rest is then joined
  // to its preamble, so a header costs up to about three times its length in ArrayBuffers, most of
  // it garbage at once: a 100 MB header read in 64 KiB chunks peaks at the RSS `decode` peaks at
  // (633 MB against 634 MB). Before the buffer grew to the claimed length at once, a message of a
  // header of 1 MiB and 200 bytes cost 4.8 MB, past this bound
  // (fixtures/fuzz-found/ffc6aa21e77f4884). A set's shard is alike: its header is read for the
  // check against the index in two reads that are joined, then handed to the shard's reader as a
  // copy (a single file's header costs its length once).
  const copiedHeaderBound = bound + 2 * input.length;
  let maxAllocation = 0;

  /** Runs one step of a reader, recording its allocation against `allowed`; what it throws passes through. */
  const measure: Measure = async (what, fn, allowed = bound) => {
    const before = externalMemory();
    try {
      return await fn();
    } finally {
      const grown = externalMemory() - before;
      maxAllocation = Math.max(maxAllocation, grown);
      if (grown > allowed) problems.push(`${what} grew external memory by ${grown} bytes, more than the bound of ${allowed}`);
    }
  };
  /** Runs a reader (measured as one step unless it measures its own, `allowed` Infinity); returns its result, or the NdpackError it threw. */
  const call = async <T>(what: string, fn: () => T | Promise<T>, allowed = bound): Promise<{ value?: T; error?: NdpackError; failed?: true }> => {
    try {
      return { value: await measure(what, fn, allowed) };
    } catch (error) {
      if (error instanceof NdpackError) return { error };
      problems.push(`${what} threw a non-NdpackError: ${describe(error)}`);
      return { failed: true };
    }
  };

  let outcome: string;
  let outcomeForPython: unknown;
  const codePairs: string[] = [];
  if (kind === "index") {
    const parsed = await call("parseSetIndex", () => parseSetIndex(input, limitsFor("parseSetIndex", options)));
    outcome = parsed.error?.code ?? "valid";
    outcomeForPython = parsed.error ? { load: parsed.error.code } : { load: null, names: parsed.value?.names, shards: parsed.value?.shards.map((s) => s.name) };
  } else if (kind === "set") {
    const read = await call("openSetFile", () => readSet(input, options, (what, fn) => measure(what, fn, copiedHeaderBound)), Infinity);
    outcome = read.value === undefined ? "failed" : (read.value.load ?? read.value.arrays.find((a) => a.read !== null)?.read ?? "valid");
    outcomeForPython = read.value;
  } else if (kind === "messages") {
    const whole = await call("decodeMessages", () => readMessages(input, input.length || 1, options), copiedHeaderBound);
    const chunked = await call(`decodeMessages in chunks of ${chunkBytes}`, () => readMessages(input, chunkBytes, options), copiedHeaderBound);
    if (whole.value && chunked.value && JSON.stringify(whole.value) !== JSON.stringify(chunked.value)) problems.push(`decodeMessages gives ${JSON.stringify(whole.value)} from one chunk, ${JSON.stringify(chunked.value)} in chunks of ${chunkBytes}`);
    if (whole.error || chunked.error) problems.push(`decodeMessages threw ${whole.error?.code ?? chunked.error?.code} outside a message`);
    const last = whole.value?.at(-1);
    outcome = whole.value === undefined ? "failed" : last === undefined || last.startsWith("ok:") ? "valid" : last;
    outcomeForPython = whole.value;
  } else {
    const eager = await call(`from${kind}`, () => readEagerly(kind, input, options));
    const lazy = await call("openSource", () => readLazily(kind, input, options, measure), Infinity);
    const streamed = await call(`decodeStream in chunks of ${chunkBytes}`, () => readStream(input, chunkBytes, options), copiedHeaderBound);
    const verdicts: [string, Verdict | undefined][] = [
      [`from${kind}`, eager.error ? { code: eager.error.code } : eager.value],
      ["openSource", lazy.error ? { code: lazy.error.code } : lazy.value?.verdict],
    ];
    // A stream has no name: only bytes that announce the format are the format's to it.
    if (sniffFormat(input)?.name === kind) verdicts.push(["decodeStream", streamed.error ? { code: streamed.error.code } : streamed.value]);
    const [firstName, first] = verdicts[0]!;
    for (const [name, verdict] of verdicts.slice(1)) {
      if (first === undefined || verdict === undefined) continue;
      if (!sameVerdict(first, verdict)) problems.push(`${firstName} gives ${verdictText(first)}, ${name} ${verdictText(verdict)}`);
      else if ("code" in first && "code" in verdict && first.code !== verdict.code) codePairs.push(`${firstName} ${first.code} / ${name} ${verdict.code}`);
    }
    if (lazy.value) problems.push(...lazy.value.problems);
    outcome = first === undefined ? "failed" : "code" in first ? first.code : "valid";
    outcomeForPython = lazy.value?.outcome;
  }
  for (const key in {}) problems.push(`Object.prototype gained the enumerable property ${JSON.stringify(key)}`);
  return { outcome, problems, maxAllocation, outcomeForPython, codePairs };
}

/** The lazy reader's and the stream's options of a case. */
function openOptions(options: FormatCaseOptions) {
  return { ...limitsFor("openSource", options), ...(options.voidDtype === undefined ? {} : { voidDtype: options.voidDtype }) };
}

/**
 * A set's files written to a folder of their own and read by `openSetFile`: every array, then
 * `verify` (whose report must not throw); the outcome has no verify results, which the Python
 * package reports per shard rather than per array.
 */
async function readSet(input: Uint8Array, options: FormatCaseOptions, measure: Measure): Promise<Outcome> {
  const folder = writeSetFiles(input);
  try {
    let reader;
    try {
      reader = await measure("openSetFile", () => openSetFile(join(folder, unpackSet(input)[0]?.[0] ?? "none.index.json"), limitsFor("openSetFile", options)));
    } catch (error) {
      if (error instanceof NdpackError) return { load: error.code, arrays: [] };
      throw error;
    }
    try {
      const arrays: { name: string; read: string | null; verify: null }[] = [];
      for (const name of reader.names) {
        let read: string | null = null;
        try {
          await measure(`read("${name}") of the set`, () => reader.read(name));
        } catch (error) {
          if (!(error instanceof NdpackError)) throw error;
          read = error.code;
        }
        arrays.push({ name, read, verify: null });
      }
      await measure("verify of the set", () => reader.verify());
      return { load: null, arrays };
    } finally {
      await reader.close();
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** Writes a packed set's files into a new temporary folder; returns the folder. Names that are no plain file name are left out. */
function writeSetFiles(input: Uint8Array, parent = tmpdir()): string {
  const folder = mkdtempSync(join(parent, "ndpack-fuzz-set-"));
  for (const [name, bytes] of unpackSet(input)) if (/^[^/\\\u0000]+$/.test(name) && name !== "." && name !== "..") writeFileSync(join(folder, name), bytes);
  return folder;
}

function readEagerly(kind: "npy" | "npz" | "safetensors", input: Uint8Array, options: FormatCaseOptions): Verdict {
  const { copy, voidDtype } = options;
  const void_ = voidDtype === undefined ? {} : { voidDtype };
  if (kind === "npy") return { arrays: new Map([["array", arrayKey(fromNpy(input, { copy, ...void_, ...limitsFor("fromNpy", options) }))]]) };
  const contents = kind === "npz" ? fromNpz(input, { copy, ...void_, ...limitsFor("fromNpz", options) }) : fromSafetensors(input, { copy, ...limitsFor("fromSafetensors", options) });
  return { arrays: new Map([...contents.arrays].map(([name, array]) => [name, arrayKey(array)])) };
}

/**
 * The lazy reader over memory: names, info and read of every array, verify. Its verdict is the
 * first error in name order (open, then each read), else the arrays; its outcome is the Python
 * comparison's (`Outcome` of fuzz-python.ts).
 */
async function readLazily(kind: "npy" | "npz" | "safetensors", input: Uint8Array, options: FormatCaseOptions, measure: Measure): Promise<{ verdict: Verdict; outcome: Outcome; problems: string[] }> {
  const problems: string[] = [];
  let reader;
  try {
    reader = await measure("openSource", () => openSource(bytesSource(input), { formats: FORMATS, name: `case${KIND_EXTENSIONS[kind]}`, ...openOptions(options) }));
  } catch (error) {
    if (error instanceof NdpackError) return { verdict: { code: error.code }, outcome: { load: error.code, arrays: [] }, problems };
    throw error;
  }
  try {
    const arrays = new Map<string, string>();
    const outcome: { name: string; read: string | null; verify: string | null }[] = [];
    let firstCode: string | undefined;
    for (const name of reader.names) {
      const info = reader.info(name);
      let read: string | null = null;
      try {
        const array = await measure(`read("${name}")`, () => reader.read(name));
        arrays.set(name, arrayKey(array));
        if (array.dtype !== info.dtype || array.shape.join() !== info.shape.join()) problems.push(`read("${name}") is ${array.dtype}[${array.shape.join()}], info says ${info.dtype}[${info.shape.join()}]`);
      } catch (error) {
        if (!(error instanceof NdpackError)) throw error;
        read = error.code;
        firstCode ??= error.code;
      }
      outcome.push({ name, read, verify: null });
      // readChunks, joined, is read's array (its bytes in the array's order), or refuses as read does.
      const chunked = await codeOrValue(() =>
        measure(`readChunks("${name}")`, async () => {
          const pieces: Uint8Array[] = [];
          for await (const piece of reader.readChunks(name, { chunkBytes: 8 })) pieces.push(piece.slice());
          return concatBytes(pieces);
        }),
      );
      const readBytes = arrays.get(name)?.split(":").slice(1).join(":");
      const chunkedBytes = chunked instanceof Uint8Array ? `${crc32(chunked).toString(16)}:${chunked.length}` : undefined;
      // A deflated member is inflated as a stream there, in bounded memory: maxDecodedBytes, which bounds what read inflates at once, does not apply.
      const streamedPastLimit = read === "LIMIT_EXCEEDED" && chunked instanceof Uint8Array;
      if (!streamedPastLimit && ((read === null) !== (chunked instanceof Uint8Array) || (read === null && readBytes !== chunkedBytes))) problems.push(`readChunks("${name}") gives ${chunkedBytes ?? chunked}, read ${read ?? readBytes}`);
    }
    // readMany of every name gives read's arrays, or refuses when a read did.
    const many = await codeOrValue(() => measure("readMany", () => reader.readMany(reader.names)));
    if (many instanceof Map) {
      if (firstCode !== undefined) problems.push(`readMany returned although read refused with ${firstCode}`);
      else if ([...many].some(([name, array]) => arrays.get(name) !== arrayKey(array)) || many.size !== arrays.size) problems.push("readMany's arrays differ from read's");
    } else if (firstCode === undefined) problems.push(`readMany refused with ${many} although every read returned`);
    const report = await measure("verify", () => reader.verify());
    report.arrays.forEach((a, i) => {
      const entry = outcome[i];
      if (!entry || entry.name !== a.name) problems.push("verify's arrays differ from the reader's names");
      else entry.verify = a.error?.code ?? null;
      // An array verify finds damaged cannot be read (read verifies by default).
      if (entry && a.error && entry.read === null) problems.push(`verify reports ${a.error.code} for "${a.name}", which read returned`);
    });
    return { verdict: firstCode === undefined ? { arrays } : { code: firstCode }, outcome: { load: null, arrays: outcome }, problems };
  } finally {
    await reader.close();
  }
}

/** `fn`'s value, or the code of the NdpackError it threw. */
async function codeOrValue<T>(fn: () => Promise<T>): Promise<T | string> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof NdpackError) return error.code;
    throw error;
  }
}

async function readStream(input: Uint8Array, chunkBytes: number, options: FormatCaseOptions): Promise<Verdict> {
  const arrays = new Map<string, string>();
  for await (const array of decodeStream(chunks(input, chunkBytes), { formats: FORMATS, ...openOptions(options) })) arrays.set(array.name, arrayKey(array));
  return { arrays };
}

/**
 * Every message of a stream, as `decodeMessages` hands them out: `ok:<arrays>` for a message read
 * whole, its code when reading it failed and the reader could go on, and last the code that ended
 * the stream (none when it ended cleanly).
 */
async function readMessages(input: Uint8Array, chunkBytes: number, options: FormatCaseOptions): Promise<string[]> {
  const out: string[] = [];
  const messages = decodeMessages(chunks(input, chunkBytes), limitsFor("decodeMessages", options));
  try {
    for (;;) {
      const next = await messages.next();
      if (next.done === true) return out;
      try {
        out.push(`ok:${(await next.value.readAll()).map(arrayKey).join(";")}`);
      } catch (error) {
        if (!(error instanceof NdpackError) || error.recoverable !== true) throw error;
        out.push(error.code);
      }
    }
  } catch (error) {
    if (!(error instanceof NdpackError)) throw error;
    out.push(error.code);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// The campaign

/** Options of {@link runFormatCampaign}: those of the .ndp campaign's `runCampaign` that apply here. */
export interface FormatCampaignConfig extends Omit<CampaignConfig, "seeds" | "onCaseDone"> {
  readonly seeds: readonly FormatSeed[];
  readonly onCaseDone?: (fuzzCase: FormatCase, report: FormatCaseReport) => void;
}

async function timeFormatCase(fuzzCase: FormatCase): Promise<{ report: FormatCaseReport; ms: number }> {
  const t0 = performance.now();
  const report = await runFormatCase(fuzzCase.kind, fuzzCase.input, fuzzCase.chunkBytes, fuzzCase.options);
  return { report, ms: performance.now() - t0 };
}

/** Runs cases `start`, `start + 1`, ... until `cases` or `seconds` runs out; outcomes are counted as `<kind>:<code>`. */
export async function runFormatCampaign(config: FormatCampaignConfig): Promise<CampaignStats> {
  const stats = emptyStats();
  const start = config.start ?? 0;
  const deadline = config.seconds === undefined ? Infinity : performance.now() + config.seconds * 1000;
  const limit = config.cases ?? Infinity;
  const every = config.progressEvery ?? 1000;
  const t0 = performance.now();
  for (let i = 0; i < limit && performance.now() < deadline; i++) {
    const index = start + i;
    config.onCaseStart?.(index);
    const fuzzCase = makeFormatCase(config.seeds, config.seed, index);
    const { report, ms } = await timeFormatCase(fuzzCase);
    const timeLimit = caseTimeLimit(config.timeLimitMs ?? CASE_TIME_LIMIT_MS, fuzzCase.input.length);
    // A loaded machine can stall any case; only a case slow three times running is slow.
    let settledMs = ms;
    if (ms > timeLimit) {
      settledMs = Infinity;
      for (let run = 0; run < 3; run++) settledMs = Math.min(settledMs, (await timeFormatCase(fuzzCase)).ms);
    }
    const problems = [...report.problems];
    if (config.timeLimitMs !== undefined && settledMs > timeLimit) problems.push(`took ${settledMs.toFixed(1)} ms at best of 3 runs (limit ${timeLimit.toFixed(0)} ms)`);
    const failure = problems.length > 0 ? { seed: config.seed, index, seedName: fuzzCase.seedName, mutations: fuzzCase.mutations, options: fuzzCase.options, problems, input: fuzzCase.input } : undefined;
    for (const pair of report.codePairs) stats.reached.set(pair, (stats.reached.get(pair) ?? 0) + 1);
    tallyCase(stats, { index, ms, settledMs, outcome: `${fuzzCase.kind}:${report.outcome}`, mutations: fuzzCase.mutations, maxAllocation: report.maxAllocation, failure });
    if (failure) config.onFailure?.(failure);
    config.onCaseDone?.(fuzzCase, report);
    if (config.onProgress && (i + 1) % every === 0) {
      stats.elapsedMs = performance.now() - t0;
      config.onProgress(stats);
    }
  }
  stats.elapsedMs = performance.now() - t0;
  return stats;
}

// ---------------------------------------------------------------------------------------------
// The Python reference

// The installed package (\`pip install spec/python\`, as its tests require), not the source tree.
// Reads a JSON list of [kind, path] from stdin; prints one JSON outcome per case, in the shapes
// `runFormatCase` gives as `outcomeForPython`.
const DRIVER = String.raw`
import io, json, sys
import ndpack
from ndpack import _sets

def code_of(fn):
    try:
        fn()
        return None
    except ndpack.NdpackError as e:
        return e.code
    except Exception as e:
        return "python:" + type(e).__name__ + ":" + str(e)[:200]
def read_lazily(path, options, verify):
    """A file's or a set's outcome: its opening, each array's read, and (files) each array's verify."""
    box = {}
    load = code_of(lambda: box.setdefault("r", ndpack.open(path, raw_bits=True, **options)))
    if load is not None:
        return {"load": load, "arrays": []}
    r = box["r"]
    try:
        arrays = [{"name": n, "read": code_of(lambda: r.read(n)), "verify": None} for n in r.keys()]
        if verify:
            for a, v in zip(arrays, r.verify()):
                a["verify"] = (v["error"] or {}).get("code")
        return {"load": None, "arrays": arrays}
    finally:
        r.close()
def read_index(raw, options):
    try:
        _metadata, weight_map, _shards = _sets.parse_index(raw, **options)
    except ndpack.NdpackError as e:
        return {"load": e.code}
    shards = list(dict.fromkeys(weight_map.values()))
    return {"load": None, "names": list(weight_map), "shards": shards}
def read_stream(raw, options):
    out = []
    reader = ndpack.read_messages(io.BytesIO(raw), raw_bits=True, **options)
    while True:
        try:
            message = next(reader)
        except StopIteration:
            return out
        except ndpack.NdpackError as e:
            out.append(e.code)
            if not getattr(e, "recoverable", False):
                return out
            continue
        except Exception as e:
            out.append("python:" + type(e).__name__ + ":" + str(e)[:200])
            return out
        codes = [code_of(lambda: message.read(n)) for n in message.names]
        bad = [c for c in codes if c is not None]
        out.append(bad[0] if bad else "ok:" + str(len(codes)))
results = []
for kind, path, options in json.load(sys.stdin):
    with open(path, "rb") as fh:
        raw = fh.read()
    if kind == "index":
        results.append(read_index(raw, options))
    elif kind == "set":
        results.append(read_lazily(path, options, verify=False))
    elif kind == "messages":
        results.append(read_stream(raw, options))
    else:
        results.append(read_lazily(path, options, verify=True))
print(json.dumps(results))
`;

/** A case's options in the Python package's spelling, those its reader of the kind takes. */
function pythonOptions(fuzzCase: FormatCase): Record<string, unknown> {
  const reader = fuzzCase.kind === "index" ? "parseSetIndex" : fuzzCase.kind === "messages" ? "decodeMessages" : fuzzCase.kind === "set" ? "openSetFile" : "openSource";
  const voidDtype = fuzzCase.options.voidDtype === undefined ? {} : { void_dtype: fuzzCase.options.voidDtype };
  return { ...pythonLimits(limitsFor(reader, fuzzCase.options)), ...voidDtype };
}

/** The outcome of each case as the Python reference reads it (one process for the batch). */
function pythonFormatOutcomes(cases: readonly FormatCase[], python = process.env.PYTHON ?? "python3"): unknown[] {
  const dir = mkdtempSync(join(tmpdir(), "ndpack-fuzz-formats-"));
  try {
    const list = cases.map((c, i) => {
      let path = join(dir, `${i}${KIND_EXTENSIONS[c.kind]}`);
      if (c.kind === "set") path = join(writeSetFiles(c.input, dir), unpackSet(c.input)[0]?.[0] ?? "none.index.json");
      else writeFileSync(path, c.input);
      return [c.kind, path, pythonOptions(c)];
    });
    const run = spawnSync(python, ["-c", DRIVER], { input: JSON.stringify(list), maxBuffer: 1024 * 1024 * 1024 });
    if (run.error || run.status !== 0) throw new Error(`${python} failed: ${run.error?.message ?? run.stderr.toString()}`);
    return JSON.parse(run.stdout.toString()) as unknown[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * How TypeScript's and Python's outcomes of one input differ (empty when they agree). Messages are
 * compared as counts of arrays (Python's arrays are numpy's), and FORMAT.md §11 lets a reader that
 * reads a message whole report TRUNCATED alone where one that hands out arrays as they arrive
 * reports an array's failure first.
 */
export function formatOutcomeDifferences(kind: FormatKind, ts: unknown, py: unknown): string[] {
  if (kind === "messages") {
    const tsList = (ts as string[]).map((m) => (m.startsWith("ok:") ? `ok:${m === "ok:" ? 0 : m.split(";").length}` : m));
    const pyList = py as string[];
    const same = (a: string[], b: string[]) => a.length === b.length && a.every((m, i) => m === b[i]);
    const truncatedLate = tsList.length === pyList.length + 1 && tsList.at(-1) === "TRUNCATED" && pyList.at(-1) === "TRUNCATED" && same(tsList.slice(0, -2), pyList.slice(0, -1));
    return same(tsList, pyList) || truncatedLate ? [] : [`messages: TypeScript ${JSON.stringify(tsList)}, Python ${JSON.stringify(pyList)}`];
  }
  if (kind === "index") return JSON.stringify(ts) === JSON.stringify(py) ? [] : [`index: TypeScript ${JSON.stringify(ts)}, Python ${JSON.stringify(py)}`];
  if (ts === undefined) return [];
  return outcomeDifferences(ts as Outcome, py as Outcome);
}

/** Compares a batch of cases with the Python reference; returns those the two disagree on. */
export function compareFormatsWithPython(batch: readonly { fuzzCase: FormatCase; outcome: unknown }[]): { fuzzCase: FormatCase; differences: string[] }[] {
  if (batch.length === 0) return [];
  const python = pythonFormatOutcomes(batch.map((b) => b.fuzzCase));
  return batch.map(({ fuzzCase, outcome }, i) => ({ fuzzCase, differences: formatOutcomeDifferences(fuzzCase.kind, outcome, python[i]) })).filter((d) => d.differences.length > 0);
}
