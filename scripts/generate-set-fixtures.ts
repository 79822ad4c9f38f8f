/**
 * Writes the sharded-set vectors of FORMAT.md §12 into `fixtures/sets/` (emptied first):
 *
 *   tsx scripts/generate-set-fixtures.ts [--out DIR]
 *
 * - `valid/<case>/`: an index and its shards; `index.json` lists what each set holds (names in
 *   index order, dtype, shape, memory order, shard, SHA-256 of the little-endian bytes in the
 *   array's stored order) and its metadata.
 * - `invalid/<case>/`: a set that is broken in exactly one way; `index.json` gives the error code
 *   and when it must be reported: `"index"` (when the index is read, before any shard is opened)
 *   or `"read"` (when `array` is read; the set's other shards may still be read).
 *
 * Deterministic (fixed generation tags, seeded data). `.ndp` shards are built by the independent
 * builder of `test/helpers/fixture-builder.ts`; `.safetensors` shards by `toSafetensors`; the
 * indexes of ndpack sets by `writeSetIndex` (FORMAT.md §12.4), those of Hugging Face sets as
 * Python's `json.dump(index, indent=2, sort_keys=True)` writes them (as `transformers` does).
 * Expectations are computed from the inputs, never by reading the files back.
 */
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { toSafetensors } from "../src/interop/safetensors.js";
import { writeSetIndex, type WrittenShard } from "../src/set.js";
import * as B from "../test/helpers/fixture-builder.js";

/** One array: its elements as little-endian bytes in its stored order (`order`, "C" when absent). */
interface ArrayDef {
  readonly name: string;
  readonly dtype: "float32" | "bfloat16" | "int64" | "uint8";
  readonly shape: readonly number[];
  readonly order?: "C" | "F";
  readonly le: Uint8Array;
}

/** Deterministic pseudo-random bytes (mulberry32). */
function seededBytes(length: number, seed: number): Uint8Array {
  let state = seed >>> 0;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

let seed = 1;
function array(name: string, dtype: ArrayDef["dtype"], shape: readonly number[], order: "C" | "F" = "C"): ArrayDef {
  const count = shape.reduce((a, b) => a * b, 1);
  const le = seededBytes(count * B.DTYPE_SIZES[dtype]!.itemSize, seed++);
  // float32 and bfloat16 elements with a finite exponent, so that every reader compares them as bytes and as numbers alike.
  if (dtype === "float32") for (let i = 3; i < le.length; i += 4) le[i] = le[i]! & 0x3f;
  if (dtype === "bfloat16") for (let i = 1; i < le.length; i += 2) le[i] = le[i]! & 0x3f;
  return { name, dtype, shape, ...(order === "F" ? { order } : {}), le };
}

const SAFETENSORS_DTYPE = { float32: "F32", bfloat16: "BF16", int64: "I64", uint8: "U8" } as const;

/** A shard: its file name, its arrays, and (for .ndp) the file's metadata. */
interface ShardDef {
  readonly name: string;
  readonly arrays: readonly ArrayDef[];
  readonly metadata?: Record<string, unknown>;
}

function shardBytes(shard: ShardDef): Uint8Array {
  if (shard.name.endsWith(".safetensors")) {
    // Typed arrays in this machine's byte order, which the generator requires to be little-endian.
    if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) throw new Error("generate the fixtures on a little-endian machine");
    const views = { float32: Float32Array, bfloat16: Uint16Array, int64: BigInt64Array, uint8: Uint8Array } as const;
    if (shard.arrays.some((a) => a.order === "F")) throw new Error(".safetensors holds C-order tensors only");
    const arrays = shard.arrays.map((a) => [a.name, { data: new views[a.dtype](a.le.slice().buffer), dtype: a.dtype, shape: [...a.shape] }] as const);
    return toSafetensors(arrays, { metadata: shard.metadata ?? { format: "pt" } });
  }
  return B.canonicalFile({ alignment: 64, metadata: shard.metadata ?? {}, arrays: shard.arrays.map((a) => ({ name: a.name, dtype: a.dtype, shape: a.shape, order: a.order ?? "C", stored: a.le })) });
}

/** CRC-32 of a shard's bytes up to its header's end (FORMAT.md §12.2), computed here from the format's own fields. */
function headerCrc(name: string, bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = name.endsWith(".safetensors") ? 8 + Number(view.getBigUint64(0, true)) : 20 + view.getUint32(12, true);
  return B.crc32(bytes.subarray(0, end));
}

function written(shard: ShardDef, bytes: Uint8Array): WrittenShard {
  return { name: shard.name, size: bytes.length, headerCrc32: headerCrc(shard.name, bytes), arrays: shard.arrays.map((a) => a.name), nbytes: shard.arrays.map((a) => a.le.length) };
}

/** The index object of an ndpack set, before any edit. */
function ndpackIndexObject(shards: readonly ShardDef[], files: readonly Uint8Array[], metadata: Record<string, unknown> = {}): Record<string, any> {
  return JSON.parse(writeSetIndex(shards.map((s, i) => written(s, files[i]!)), metadata));
}

/** Python's `json.dump(index, indent=2, sort_keys=True)` plus the newline transformers adds (ASCII names only). */
function pythonIndexText(index: Record<string, unknown>): string {
  const sorted = (value: unknown): unknown =>
    value !== null && typeof value === "object" && !Array.isArray(value) ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted((value as Record<string, unknown>)[k])])) : value;
  return `${JSON.stringify(sorted(index), null, 2)}\n`;
}

interface Case {
  readonly name: string;
  readonly description: string;
  readonly indexName: string;
  readonly indexText: string | Uint8Array;
  readonly shards: readonly ShardDef[];
  /** Shard files to leave out (a missing shard). */
  readonly omit?: readonly string[];
  /** Shard file bytes to write instead of the built ones. */
  readonly replace?: Readonly<Record<string, Uint8Array>>;
}

const valid: (Case & { readonly metadata: Record<string, unknown>; readonly order: readonly string[] })[] = [];
const invalid: (Case & { readonly code: string; readonly when: "index" | "read"; readonly array?: string })[] = [];

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

// -- valid sets -------------------------------------------------------------------------------

const GEN = "5f3a09c1";
const EMBED = array("embed.weight", "float32", [8, 16]);
const W0 = array("layers.0.weight", "bfloat16", [16, 16]);
const B0 = array("layers.0.bias", "float32", [16]);
const STEPS = array("steps", "int64", [3]);
const TWO: ShardDef[] = [
  { name: `model-${GEN}-00001-of-00002.ndp`, arrays: [EMBED] },
  { name: `model-${GEN}-00002-of-00002.ndp`, arrays: [W0, B0] },
];
const TWO_FILES = TWO.map(shardBytes);
const ndpackSet = (name: string, description: string, shards: ShardDef[], metadata: Record<string, unknown>) => {
  const files = shards.map(shardBytes);
  valid.push({ name, description, indexName: "model.ndp.index.json", indexText: writeSetIndex(shards.map((s, i) => written(s, files[i]!)), metadata), shards, metadata, order: shards.flatMap((s) => s.arrays.map((a) => a.name)) });
};
ndpackSet("ndpack-two-shards", "An ndpack set as ndpack writes it: two .ndp shards (float32, bfloat16), user metadata. FORMAT.md §12.2's example.", TWO, { step: 1200 });
ndpackSet("ndpack-one-shard", "One .ndp shard holding an int64 and a uint8 array; no user metadata.", [{ name: `data-00c0ffee-00001-of-00001.ndp`, arrays: [STEPS, array("mask", "uint8", [5])] }], {});
ndpackSet("ndpack-empty", "A set of no arrays: no shard at all.", [], { note: "empty" });
ndpackSet(
  "ndpack-mixed-formats",
  "One .ndp and one .safetensors shard in one ndpack index.",
  [
    { name: `mixed-0000beef-00001-of-00002.ndp`, arrays: [array("a", "float32", [3, 2])] },
    { name: `mixed-0000beef-00002-of-00002.safetensors`, arrays: [array("b", "bfloat16", [4])] },
  ],
  {},
);
ndpackSet(
  "ndpack-odd-names",
  "Shard names with a space, #, %, + and non-ASCII letters (URLs must percent-encode them); array names with dots, slashes and non-ASCII.",
  [
    { name: "part #1 (50%)+.ndp", arrays: [array("a/b.c", "uint8", [2])] },
    { name: "données-é.ndp", arrays: [array("ü", "float32", [1])] },
  ],
  { "clé": "valeur" },
);

const HF: ShardDef[] = [
  { name: "model-00001-of-00003.safetensors", arrays: [array("model.embed_tokens.weight", "bfloat16", [32, 8]), array("model.norm.weight", "float32", [8])] },
  { name: "model-00002-of-00003.safetensors", arrays: [array("model.layers.0.mlp.weight", "bfloat16", [8, 24]), array("model.layers.0.input_layernorm.weight", "float32", [8])] },
  { name: "model-00003-of-00003.safetensors", arrays: [array("lm_head.weight", "bfloat16", [32, 8])] },
];
const hfWeightMap = (shards: readonly ShardDef[]) => Object.fromEntries(shards.flatMap((s) => s.arrays.map((a) => [a.name, s.name])));
const hfTotal = (shards: readonly ShardDef[]) => shards.reduce((sum, s) => sum + s.arrays.reduce((t, a) => t + a.le.length, 0), 0);
valid.push({
  name: "hf-safetensors",
  description: "A Hugging Face sharded checkpoint: three .safetensors shards (bfloat16, float32) with __metadata__ {format: pt}, index model.safetensors.index.json as transformers writes it (sorted keys, indent 2, no ndpack object).",
  indexName: "model.safetensors.index.json",
  indexText: pythonIndexText({ metadata: { total_size: hfTotal(HF) }, weight_map: hfWeightMap(HF) }),
  shards: HF,
  metadata: {},
  order: Object.keys(hfWeightMap(HF)).sort(),
});
const HF_SMALL: ShardDef[] = [{ name: "pytorch-00001-of-00001.safetensors", arrays: [array("w", "float32", [2, 2])] }];
valid.push({
  name: "hf-no-metadata",
  description: "A Hugging Face index without metadata, with an unknown top-level key (ignored), CRLF line ends and leading white space.",
  indexName: "w.index.json",
  indexText: `\r\n  ${JSON.stringify({ weight_map: hfWeightMap(HF_SMALL), generator: "by hand" }, null, 1).replace(/\n/g, "\r\n")}\r\n`,
  shards: HF_SMALL,
  metadata: {},
  order: ["w"],
});

// -- invalid sets: the index ------------------------------------------------------------------

const indexCase = (name: string, code: string, description: string, indexText: string | Uint8Array, shards: readonly ShardDef[] = TWO) =>
  invalid.push({ name, code, when: "index", description, indexName: "model.ndp.index.json", indexText, shards });
const edited = (edit: (index: Record<string, any>) => void, shards: readonly ShardDef[] = TWO, files: readonly Uint8Array[] = TWO_FILES) => {
  const index = ndpackIndexObject(shards, files);
  edit(index);
  return `${JSON.stringify(index, null, 2)}\n`;
};
const renamed = (from: string, to: string) =>
  edited((index) => {
    for (const key of Object.keys(index.weight_map)) if (index.weight_map[key] === from) index.weight_map[key] = to;
    index.ndpack.shards = Object.fromEntries(Object.entries(index.ndpack.shards).map(([k, v]) => [k === from ? to : k, v]));
  });
const FIRST = TWO[0]!.name;

indexCase("index-not-json", "SET_INVALID", "The index is not JSON (cut short).", writeSetIndex([]).slice(0, 20));
indexCase("index-not-object", "SET_INVALID", "The index is a JSON array.", "[]\n");
indexCase("index-not-utf8", "SET_INVALID", "The index holds a byte that is not UTF-8.", Uint8Array.of(...new TextEncoder().encode('{"weight_map":{"'), 0xff, ...new TextEncoder().encode('":"a.ndp"}}')));
indexCase("index-duplicate-key", "SET_INVALID", "weight_map names one array twice, mapped to two shards (an array in two shards, said by the index).", `{"weight_map":{"a":"${FIRST}","a":"${TWO[1]!.name}"}}`);
indexCase("weight-map-missing", "SET_INVALID", "No weight_map.", '{"metadata":{"total_size":0}}');
indexCase("weight-map-not-object", "SET_INVALID", "weight_map is a list.", '{"weight_map":["a"]}');
indexCase("weight-map-not-string", "SET_INVALID", "An array mapped to a number instead of a shard name.", '{"weight_map":{"a":1}}');
indexCase("array-name-empty", "SET_INVALID", "An empty array name.", edited((i) => (i.weight_map[""] = FIRST)));
indexCase("metadata-not-object", "SET_INVALID", "metadata is a string.", edited((i) => (i.metadata = "x")));
indexCase("shard-parent-folder", "SET_INVALID", "A shard named ../x (path traversal).", renamed(FIRST, "../model.ndp"));
indexCase("shard-absolute", "SET_INVALID", "A shard named by an absolute path.", renamed(FIRST, "/etc/model.ndp"));
indexCase("shard-subfolder", "SET_INVALID", "A shard in a subfolder: shard names are plain file names.", renamed(FIRST, "sub/model.ndp"));
indexCase("shard-backslash", "SET_INVALID", "A shard named ..\\x (path traversal on Windows).", renamed(FIRST, "..\\model.ndp"));
indexCase("shard-drive", "SET_INVALID", "A shard named C:x (a Windows drive-relative path).", renamed(FIRST, "C:model.ndp"));
indexCase("shard-dot-dot", "SET_INVALID", "A shard named ..", renamed(FIRST, ".."));
indexCase("shard-control-character", "SET_INVALID", "A shard name holding U+0000.", renamed(FIRST, "model\u0000.ndp"));
indexCase("shard-empty-name", "SET_INVALID", "A shard named by the empty string.", renamed(FIRST, ""));
// Names Windows keeps for devices or forbids (§12.1, specification 1.2.0); only the index names them, so no such file is in the repository.
for (const [suffix, shard, why] of [
  ["device", "CON.ndp", "the console"],
  ["device-lower-case-two-dots", "nul.0.ndp", "the null device: the part before the first dot counts, in either case"],
  ["device-space-before-dot", "Com1 .ndp", "the first serial port: spaces before the dot are dropped"],
  ["device-superscript-digit", "LPT\u00b9.ndp", "a printer port: Windows takes ¹ ² ³ for digits"],
  ["device-conout", "CONOUT$.ndp", "the console's output"],
  ["character-question-mark", "model?.ndp", "? is a wildcard"],
  ["character-asterisk", "model*.ndp", "* is a wildcard"],
  ["character-less-than", "model<1.ndp", "< is a wildcard"],
  ["character-greater-than", "model>1.ndp", "> is a wildcard"],
  ["character-pipe", "model|1.ndp", "| is forbidden"],
  ["character-quote", 'model"1.ndp', '" is a wildcard'],
] as const) {
  indexCase(`shard-windows-${suffix}`, "SET_INVALID", `A shard named ${JSON.stringify(shard)}: on Windows ${why} (FORMAT.md §12.1 refuses it on every system, so that a set reads everywhere or nowhere). A reader that checks only for paths and controls opens it.`, renamed(FIRST, shard));
}
indexCase("shard-unknown-extension", "SET_INVALID", "A shard that is neither .ndp nor .safetensors.", renamed(FIRST, "pytorch_model-00001-of-00002.bin"));
indexCase("shard-upper-case-extension", "SET_INVALID", "A shard named with the extension .NDP: extensions are compared as written (FORMAT.md §12.1), so it names no format.", renamed(FIRST, FIRST.replace(/\.ndp$/, ".NDP")));
indexCase("index-byte-order-mark", "SET_INVALID", "The index of ndpack-two-shards preceded by a UTF-8 byte order mark (EF BB BF): only white space may surround the object (FORMAT.md §12.2).", Uint8Array.of(0xef, 0xbb, 0xbf, ...new TextEncoder().encode(edited(() => {}))));
invalid.push({
  name: "index-unknown-key-fraction",
  code: "SET_INVALID",
  when: "index",
  description: "The index of hf-safetensors with one more top-level key, holding 0.5: unknown keys are ignored once the index has passed the rules of FORMAT.md §12.2, whose number rule (outside metadata, a non-negative integer) applies to them too. Hugging Face's tools write metadata and weight_map only.",
  indexName: "model.safetensors.index.json",
  indexText: pythonIndexText({ metadata: { total_size: hfTotal(HF) }, weight_map: hfWeightMap(HF), dropout: 0.5 }),
  shards: HF,
});
indexCase(
  "index-metadata-key-nested-fraction",
  "SET_INVALID",
  "The index of ndpack-two-shards with a key metadata inside ndpack, holding 0.5: numbers are free only in the value of the index's top-level metadata (FORMAT.md §12.2, as section 2.1 says of a header). A reader that frees them under any key named metadata accepts the index.",
  edited((i) => (i.ndpack.metadata = { scale: 0.5 })),
);
indexCase("shard-unsafe-in-ndpack-only", "SET_INVALID", "ndpack.shards lists ../x, which weight_map does not use.", edited((i) => (i.ndpack.shards["../x.ndp"] = { size: 1, header_crc32: 0 })));
indexCase("shard-not-in-index", "SET_INVALID", "ndpack.shards lists a shard (present in the folder) that no array of weight_map maps to.", edited((i) => {
  i.ndpack.shards[FIRST.replace("00001", "00003")] = i.ndpack.shards[FIRST];
}));
indexCase("shard-not-listed", "SET_INVALID", "weight_map maps arrays to a shard that ndpack.shards does not list.", edited((i) => delete i.ndpack.shards[FIRST]));
indexCase("ndpack-version-2", "UNSUPPORTED_VERSION", "ndpack.version is 2.", edited((i) => (i.ndpack.version = 2)));
indexCase("ndpack-version-missing", "SET_INVALID", "ndpack has no version.", edited((i) => delete i.ndpack.version));
indexCase("ndpack-shards-missing", "SET_INVALID", "ndpack has no shards object.", edited((i) => delete i.ndpack.shards));
indexCase("ndpack-crc-too-large", "SET_INVALID", "A header_crc32 of 2^32.", edited((i) => (i.ndpack.shards[FIRST].header_crc32 = 2 ** 32)));
indexCase("ndpack-size-negative", "SET_INVALID", "A negative shard size.", edited((i) => (i.ndpack.shards[FIRST].size = -1)));
indexCase("ndpack-size-fraction", "SET_INVALID", "A shard size with a fraction.", edited((i) => (i.ndpack.shards[FIRST].size = 0.5)));
// The limits of FORMAT.md §7 that an index of a few kilobytes, or 2 MB of zeros, can exceed (maxIndexBytes and maxArrays need more).
indexCase(
  "index-name-4097-bytes",
  "LIMIT_EXCEEDED",
  "weight_map maps an array whose name is 2048 letters é and one a: 4097 UTF-8 bytes, one more than the default maxNameBytes (4096), in 2049 UTF-16 code units. A reader that does not apply maxNameBytes to the index, or counts code units, accepts the index.",
  edited((i) => (i.weight_map[`${"é".repeat(2048)}a`] = FIRST)),
);
indexCase(
  "index-depth-65",
  "LIMIT_EXCEEDED",
  "The index's metadata holds objects nested to depth 65 (the index object is depth 1), one more than the default maxDepth (64): the limits of FORMAT.md §7 apply to the index, its metadata included. A reader that parses the index with no depth limit accepts it.",
  edited((i) => (i.metadata = { total_size: i.metadata.total_size, d: JSON.parse(`${'{"d":'.repeat(62)}{}${"}".repeat(62)}`) })),
);
{
  // The index object, metadata and the list are 3 values: the zeros take the count to 1,000,000, and -01 is the 1,000,001st.
  const zeros = 1_000_000 - 3;
  indexCase(
    "index-header-nodes",
    "LIMIT_EXCEEDED",
    `An index whose metadata holds a list of ${zeros} zeros and then -01: with the index object, metadata and the list, -01 is the 1,000,001st JSON value, one over the default maxHeaderNodes. A value counts before its first character is looked at (as in a header), so it is LIMIT_EXCEEDED, not the SET_INVALID of a malformed number, which a reader that parses the index without the limit, or checks a value before counting it, reports.`,
    `{"metadata":{"l":[${"0,".repeat(zeros)}-01]},"weight_map":{}}`,
  );
}

// -- invalid sets: a shard, found when it is opened -------------------------------------------

const readCase = (c: Omit<Case, "indexName" | "indexText"> & { code: string; array: string; indexText?: string; indexName?: string }) =>
  invalid.push({ indexName: "model.ndp.index.json", indexText: c.indexText ?? writeSetIndex(c.shards.map((s) => written(s, shardBytes(s)))), when: "read", ...c });

readCase({ name: "missing-shard", code: "IO_ERROR", array: EMBED.name, description: "The first shard's file is missing (ENOENT; over HTTP, HTTP_ERROR 404). The other shard's arrays still read.", shards: TWO, omit: [FIRST] });
readCase({
  name: "hf-missing-shard",
  code: "IO_ERROR",
  array: "lm_head.weight",
  indexName: "model.safetensors.index.json",
  indexText: pythonIndexText({ metadata: { total_size: hfTotal(HF) }, weight_map: hfWeightMap(HF) }),
  description: "A Hugging Face checkpoint whose third shard is missing.",
  shards: HF,
  omit: [HF[2]!.name],
});
{
  // Shard 1 holds "a" and "b"; the index maps "b" to shard 2, which holds it too.
  const a = array("a", "float32", [2]);
  const b = array("b", "float32", [2]);
  const c = array("c", "float32", [2]);
  const shards: ShardDef[] = [
    { name: "two-00000001-00001-of-00002.ndp", arrays: [a, b] },
    { name: "two-00000001-00002-of-00002.ndp", arrays: [b, c] },
  ];
  const files = shards.map(shardBytes);
  const index = ndpackIndexObject(shards, files);
  // writeSetIndex mapped "b" to shard 2 (its later listing); the index must still list shard 1's arrays as its own.
  readCase({ name: "name-in-two-shards", code: "SET_INVALID", array: "a", indexText: `${JSON.stringify(index, null, 2)}\n`, description: "Shard 1 holds a and b; the index maps b to shard 2, which holds b too (an array in two shards). Reading a (shard 1) fails; reading c (shard 2 only) works.", shards });
}
{
  const x = array("x", "float32", [2]);
  const shards: ShardDef[] = [{ name: "gone-00000002-00001-of-00001.ndp", arrays: [x] }];
  const index = ndpackIndexObject(shards, shards.map(shardBytes));
  index.weight_map = { x: shards[0]!.name, ghost: shards[0]!.name };
  readCase({ name: "name-not-in-shard", code: "SET_INVALID", array: "x", indexText: `${JSON.stringify(index, null, 2)}\n`, description: "The index maps ghost to a shard that does not hold it: reading any array of that shard fails with SET_INVALID (not NOT_FOUND).", shards });
}
{
  const shards: ShardDef[] = [{ name: "extra-00000003-00001-of-00001.ndp", arrays: [array("x", "float32", [2]), array("unlisted", "uint8", [3])] }];
  const index = ndpackIndexObject(shards, shards.map(shardBytes));
  delete index.weight_map.unlisted;
  readCase({ name: "array-not-in-index", code: "SET_INVALID", array: "x", indexText: `${JSON.stringify(index, null, 2)}\n`, description: "A shard holds an array that the index does not list.", shards });
}
{
  const shards: ShardDef[] = [{ name: "model-00001-of-00001.safetensors", arrays: [array("w", "float32", [2]), array("extra", "float32", [2])] }];
  readCase({
    name: "hf-name-not-in-shard",
    code: "SET_INVALID",
    array: "w",
    indexName: "model.safetensors.index.json",
    indexText: pythonIndexText({ metadata: { total_size: 16 }, weight_map: { w: shards[0]!.name, extra: shards[0]!.name, missing: shards[0]!.name } }),
    description: "A Hugging Face index maps an array to a shard that does not hold it (no ndpack object: found when the shard is opened).",
    shards,
  });
}
{
  const grown = B.concat(TWO_FILES[0]!, new Uint8Array(1));
  readCase({ name: "shard-size-changed", code: "FILE_CHANGED", array: EMBED.name, description: "The first shard is one byte longer than the index says (checked before the shard is read).", shards: TWO, replace: { [FIRST]: grown } });
}
{
  // Same size, another header: a shard swapped for another version of itself.
  const other = shardBytes({ ...TWO[0]!, metadata: { v: 2 } });
  const original = shardBytes({ ...TWO[0]!, metadata: { v: 1 } });
  const shards: ShardDef[] = [{ ...TWO[0]!, metadata: { v: 1 } }, TWO[1]!];
  if (other.length !== original.length) throw new Error("the swapped shard must keep the size");
  readCase({ name: "shard-swapped", code: "FILE_CHANGED", array: EMBED.name, description: "The first shard was replaced by a file of the same size with another header: the header CRC differs.", shards, replace: { [FIRST]: other } });
}
{
  const file = TWO_FILES[0]!.slice();
  new DataView(file.buffer).setUint32(12, 0xfffffff0, true);
  readCase({ name: "shard-header-too-large", code: "HEADER_TOO_LARGE", array: EMBED.name, description: "The first shard's preamble claims a 4 GiB header (the index's size matches the file): refused before reading it.", shards: TWO, replace: { [FIRST]: file }, indexText: edited((i) => (i.ndpack.shards[FIRST].size = file.length)) });
}
{
  const file = TWO_FILES[0]!.slice();
  new DataView(file.buffer).setUint32(12, file.length, true);
  readCase({ name: "shard-header-past-end", code: "FILE_CHANGED", array: EMBED.name, description: "The first shard's preamble claims a header that ends past the shard's end.", shards: TWO, replace: { [FIRST]: file } });
}
{
  const file = TWO_FILES[0]!.slice();
  file[file.length - 10]! ^= 0x01;
  readCase({ name: "shard-payload-damaged", code: "CHECKSUM", array: EMBED.name, description: "A bit flipped in the first shard's payload (the header is intact, so the shard matches the index): its CRC fails when read.", shards: TWO, replace: { [FIRST]: file } });
}
{
  // Shorter than the field that says where the header ends, with the size the index gives (FORMAT.md §12.3 step 3).
  const file = TWO_FILES[0]!.slice(0, 10);
  readCase({
    name: "shard-shorter-than-preamble",
    code: "FILE_CHANGED",
    array: EMBED.name,
    description: "The first shard is the first 10 bytes of a .ndp file (its magic and version), and the index gives that size and their CRC-32: too short to say where its header ends, so it is not the shard the index describes (FILE_CHANGED, step 3), not a TRUNCATED file (step 4).",
    shards: TWO,
    replace: { [FIRST]: file },
    indexText: edited((i) => (i.ndpack.shards[FIRST] = { size: file.length, header_crc32: B.crc32(file) })),
  });
}
{
  const shards: ShardDef[] = [{ name: "model-00001-of-00001.safetensors", arrays: [array("w", "float32", [2])] }];
  const file = shardBytes(shards[0]!).slice(0, 4);
  const index = ndpackIndexObject(shards, shards.map(shardBytes));
  index.ndpack.shards[shards[0]!.name] = { size: file.length, header_crc32: B.crc32(file) };
  readCase({
    name: "shard-shorter-than-length-field",
    code: "FILE_CHANGED",
    array: "w",
    indexName: "model.safetensors.index.json",
    indexText: `${JSON.stringify(index, null, 2)}\n`,
    description: "A .safetensors shard of 4 bytes, half its 8-byte header length field, whose size and CRC-32 the index gives: FILE_CHANGED (step 3), not TRUNCATED (step 4).",
    shards,
    replace: { [shards[0]!.name]: file },
  });
}

/** A .safetensors file of this header text (padded with spaces as the reference writer pads it) and data. */
function rawSafetensors(header: string, data: Uint8Array): Uint8Array {
  const text = header.padEnd(B.alignUp(8 + header.length, 8) - 8, " ");
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(new TextEncoder().encode(text), 8);
  out.set(data, 8 + text.length);
  return out;
}

/** A set of one .safetensors shard whose bytes are `file` (holding `arrays`), with an ndpack index that matches it. */
function safetensorsCase(name: string, code: string, description: string, arrays: readonly ArrayDef[], file: Uint8Array): void {
  const shards: ShardDef[] = [{ name: "model-00001-of-00001.safetensors", arrays }];
  readCase({ name, code, array: arrays[0]!.name, indexName: "model.safetensors.index.json", indexText: writeSetIndex([written(shards[0]!, file)]), description, shards, replace: { [shards[0]!.name]: file } });
}
{
  const a = array("a", "float32", [4]);
  const b = array("b", "float32", [4]);
  safetensorsCase(
    "safetensors-overlap",
    "OVERLAP",
    'A .safetensors shard (matching the index) whose tensors overlap: "a" at data_offsets [0, 16], "b" at [8, 24], 24 bytes of data. FORMAT.md §12.3 step 4 (the reference loader\'s validate): OVERLAP.',
    [a, b],
    rawSafetensors('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}', seededBytes(24, 77)),
  );
}
{
  const w = array("w", "float32", [4]);
  const entry = '"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}';
  safetensorsCase(
    "safetensors-duplicate-name",
    "DUPLICATE_NAME",
    'A .safetensors shard (matching the index) whose header names the tensor "w" twice, with the same entry: a JSON parser that keeps one of them reads a valid file; FORMAT.md §12.3 step 4 refuses it (DUPLICATE_NAME).',
    [w],
    rawSafetensors(`{${entry},${entry}}`, w.le),
  );
}

// -- more valid sets, made after the cases above so that the seeded bytes of those stay as they were

{
  // Two F-order arrays in an .ndp shard with metadata of its own.
  const shards: ShardDef[] = [{ name: `model-0f0f0f0f-00001-of-00001.ndp`, arrays: [array("f", "float32", [3, 5], "F"), array("cube", "uint8", [2, 3, 4], "F"), array("c", "int64", [2, 2])], metadata: { step: 1, shard: "its own" } }];
  const files = shards.map(shardBytes);
  valid.push({
    name: "ndpack-fortran-order",
    description: 'An .ndp shard holding two Fortran-order arrays (float32 [3, 5], uint8 [2, 3, 4]) and a C-order one, with metadata of its own, {"step": 1, "shard": "its own"}. A set reader hands out each array as the shard stores it, in its stored order with its order, never transposed (FORMAT.md §12.3): the SHA-256 is of the stored bytes. The set\'s metadata is the index\'s, {"step": 2}: a shard\'s own is not part of it.',
    indexName: "model.ndp.index.json",
    indexText: writeSetIndex(shards.map((s, i) => written(s, files[i]!)), { step: 2 }),
    shards,
    metadata: { step: 2 },
    order: shards.flatMap((s) => s.arrays.map((a) => a.name)),
  });
}
{
  const shards: ShardDef[] = [{ name: "model-00001-of-00001.safetensors", arrays: [array("w", "float32", [2])] }];
  valid.push({
    name: "hf-metadata-numbers",
    description: 'A Hugging Face index whose metadata holds fractions, negative numbers and exponents ({"lr": 2.5e-4, "shift": -3, "betas": [0.9, -0.999], "eps": -1E-8}), which the number rule of FORMAT.md §12.2 allows inside metadata, and a total_size that is a string and not the arrays\' size ("1200"): readers do not rely on it, and hand out the metadata without it. A reader that applies the integer rule inside metadata, or reads total_size as a size, fails the set.',
    indexName: "model.safetensors.index.json",
    indexText: `{\n  "metadata": {"total_size": "1200", "lr": 2.5e-4, "shift": -3, "betas": [0.9, -0.999], "eps": -1E-8},\n  "weight_map": {"w": "${shards[0]!.name}"}\n}\n`,
    shards,
    metadata: { lr: 2.5e-4, shift: -3, betas: [0.9, -0.999], eps: -1e-8 },
    order: ["w"],
  });
}

// -- more invalid sets: a .safetensors shard's own checks

/** A tensor entry of a .safetensors header, as JSON text. */
const tensorText = (name: string, dtype: string, shape: readonly number[], begin: number, end: number) => `"${name}":{"dtype":"${dtype}","shape":[${shape.join(",")}],"data_offsets":[${begin},${end}]}`;
{
  // FORMAT.md §12.3 step 4, one rule per case, each shard matching its ndpack index (size and header CRC): steps 2 and 3 pass, step 4 fails.
  const w = array("w", "float32", [4]);
  const st = (name: string, code: string, description: string, header: string, data: Uint8Array, arrays: readonly ArrayDef[] = [w]) => safetensorsCase(name, code, description, arrays, rawSafetensors(header, data));
  const a = array("a", "float32", [1]);
  const b = array("b", "int64", [1]);
  st("safetensors-gap", "GAP", 'Tensor "a" (F32 [1]) at data_offsets [0, 4], "b" (I64 [1]) at [8, 16]: 4 bytes between them, as ndpack\'s records may leave up to their alignment (FORMAT.md §9 step 17). .safetensors tensors follow each other with none (§12.3 step 4.4): a reader that allows padding accepts the shard.', `{${tensorText("a", "F32", [1], 0, 4)},${tensorText("b", "I64", [1], 8, 16)}}`, seededBytes(16, 101), [a, b]);
  st("safetensors-size-zero-dimension", "SIZE_MISMATCH", 'Tensor "w" of shape [3, 0] (F32) spanning 12 bytes: a zero dimension makes its size 0 (§12.3 step 4.4); 12 is the product that BAD_SHAPE bounds (its non-zero dimensions times the item size). A reader that takes that product for the size accepts the shard.', `{${tensorText("w", "F32", [3, 0], 0, 12)}}`, seededBytes(12, 102));
  st("safetensors-bad-shape", "BAD_SHAPE", 'Tensor "w" of shape [4294967296, 1073741824] (F32), 2^64 bytes, at data_offsets [0, 0]: above 2^53-1, BAD_SHAPE (§12.3 step 4.4), checked before the size. A reader that multiplies in 64-bit unsigned integers gets 0, the span of its offsets, and accepts the shard; one that skips the bound says SIZE_MISMATCH.', `{${tensorText("w", "F32", [4294967296, 1073741824], 0, 0)}}`, new Uint8Array(0));
  st("safetensors-unknown-dtype", "UNKNOWN_DTYPE", 'Tensor "w" of dtype F8_E8M0 (torch\'s float8_e8m0fnu), a safetensors dtype that ndpack lacks (Appendix C, §12.3 step 4.3).', `{${tensorText("w", "F8_E8M0", [4], 0, 4)}}`, seededBytes(4, 103));
  st("safetensors-truncated", "TRUNCATED", 'Tensor "w" (F32 [4]) at data_offsets [0, 16], and 12 bytes of data. The index\'s size and header CRC are the shard\'s, so steps 2 and 3 pass: the index describing the shard does not excuse it (§12.3 step 4.5). A reader that trusts ndpack.size for the shard\'s length reads past its end.', `{${tensorText("w", "F32", [4], 0, 16)}}`, seededBytes(12, 104));
  st("safetensors-trailing-bytes", "TRAILING_BYTES", 'Tensor "w" (F32 [4]) at data_offsets [0, 16], and 17 bytes of data: the last tensor must end where the shard does (§12.3 step 4.5), even though the index gives the shard\'s size.', `{${tensorText("w", "F32", [4], 0, 16)}}`, seededBytes(17, 105));
  st("safetensors-metadata-not-strings", "HEADER_INVALID", '__metadata__ {"format": "pt", "step": 1200}: its values must be strings (§12.3 step 4.3). A reader that takes __metadata__ for ndpack metadata, any JSON, accepts the shard.', `{"__metadata__":{"format":"pt","step":1200},${tensorText("w", "F32", [4], 0, 16)}}`, seededBytes(16, 106));
  st("safetensors-ndpack-json-not-list", "HEADER_INVALID", '__metadata__ {"step": "1200", "__ndpack_json__": "\\"step\\""}: __ndpack_json__ holds a JSON string naming a key, not a JSON list of keys (§12.3 step 4.6, Appendix C). A reader that ignores __ndpack_json__ in a shard, whose metadata is not the set\'s, accepts the shard.', `{"__metadata__":{"step":"1200","__ndpack_json__":"\\"step\\""},${tensorText("w", "F32", [4], 0, 16)}}`, seededBytes(16, 107));
  st("safetensors-ndpack-json-bad-value", "HEADER_INVALID", '__metadata__ {"step": "12 00", "__ndpack_json__": "[\\"step\\"]"}: the value listed is two JSON values, not one (§12.3 step 4.6). A reader that decodes the longest JSON prefix (Python\'s raw_decode) reads 12.', `{"__metadata__":{"step":"12 00","__ndpack_json__":"[\\"step\\"]"},${tensorText("w", "F32", [4], 0, 16)}}`, seededBytes(16, 108));
  const c = array("c", "uint8", [4]);
  const d = array("d", "uint8", [2]);
  st("safetensors-ends-before-begins", "HEADER_INVALID", 'Tensor "c" (U8 [4]) at data_offsets [0, 4], "d" (U8 [2]) at [4, 2]: "d" begins where "c" ends and ends before it begins (§12.3 step 4.4: HEADER_INVALID, checked before the size). A reader that subtracts the offsets says SIZE_MISMATCH; one that sorts the tensors by their end says GAP.', `{${tensorText("c", "U8", [4], 0, 4)},${tensorText("d", "U8", [2], 4, 2)}}`, seededBytes(4, 109), [c, d]);
  st("safetensors-limit-dims", "LIMIT_EXCEEDED", 'Tensor "w" (U8) of 65 dimensions of 1, one more than the default maxDims (64): the limits of FORMAT.md §7 apply to a .safetensors shard (§12.3 step 4.3), whose own format has none.', `{${tensorText("w", "U8", Array(65).fill(1), 0, 1)}}`, seededBytes(1, 110));
  st("safetensors-duplicate-metadata", "DUPLICATE_NAME", 'The header holds the top-level key __metadata__ twice, with the same value: every repeated top-level key is DUPLICATE_NAME (§12.3 step 4.2), __metadata__ included, not the DUPLICATE_KEY of a repeated key elsewhere.', `{"__metadata__":{"format":"pt"},${tensorText("w", "F32", [4], 0, 16)},"__metadata__":{"format":"pt"}}`, seededBytes(16, 111));
  const e = array("e", "float32", [1]);
  const f = array("f", "uint8", [4]);
  st("safetensors-order-dtype-before-next-tensor", "UNKNOWN_DTYPE", 'Tensor "e" (first in the header) has dtype F8_E8M0, which ndpack lacks; tensor "f" has no shape. Each top-level key passes all its checks, structure then dtype and dimensions, before the next key is looked at (§12.3 step 4.3): UNKNOWN_DTYPE. A reader that checks every key\'s structure first says HEADER_INVALID.', `{${tensorText("e", "F8_E8M0", [4], 0, 4)},"f":{"dtype":"U8","data_offsets":[4,8]}}`, seededBytes(8, 112), [e, f]);
  st("safetensors-order-length-before-metadata", "TRAILING_BYTES", '__metadata__\'s __ndpack_json__ holds "\\"step\\"" (not a list, HEADER_INVALID at step 4.6) and the shard has one byte after its last tensor (TRAILING_BYTES at step 4.5): the length comes first. A reader that decodes __metadata__ when it reads it (step 4.3) says HEADER_INVALID.', `{"__metadata__":{"step":"1200","__ndpack_json__":"\\"step\\""},${tensorText("w", "F32", [4], 0, 16)}}`, seededBytes(17, 113));
}
{
  // Without ndpack validators (a Hugging Face index), step 3 does not run: a short shard is step 4's TRUNCATED, not FILE_CHANGED.
  const shards: ShardDef[] = [{ name: "model-00001-of-00001.safetensors", arrays: [array("w", "float32", [2])] }];
  const hfCase = (name: string, description: string, file: Uint8Array) =>
    readCase({ name, code: "TRUNCATED", array: "w", indexName: "model.safetensors.index.json", indexText: pythonIndexText({ metadata: { total_size: 8 }, weight_map: { w: shards[0]!.name } }), description, shards, replace: { [shards[0]!.name]: file } });
  const whole = shardBytes(shards[0]!);
  hfCase("hf-shard-shorter-than-length-field", "A Hugging Face index (no ndpack object) and a .safetensors shard of 4 bytes, half its header length field: TRUNCATED (§12.3 step 4.1), where shard-shorter-than-length-field, whose index gives that size, is FILE_CHANGED (step 3).", whole.slice(0, 4));
  hfCase("hf-shard-header-past-end", "A Hugging Face index (no ndpack object) and a .safetensors shard cut 4 bytes before its header ends: TRUNCATED (§12.3 step 4.1), where an index with ndpack makes it FILE_CHANGED (step 3, shard-header-past-end).", whole.slice(0, 8 + Number(new DataView(whole.buffer).getBigUint64(0, true)) - 4));
}

{
  // Readings of FORMAT.md §12.3 step 4 that the vectors above left open, one per case; each shard matches its ndpack index (steps 2 and 3 pass).
  const st = (name: string, code: string, description: string, header: string, data: Uint8Array, arrays: readonly ArrayDef[]) => safetensorsCase(name, code, description, arrays, rawSafetensors(header, data));
  const w = array("w", "float32", [4]);
  const wEntry = tensorText("w", "F32", [4], 0, 16);
  st("safetensors-metadata-fraction", "BAD_NUMBER", '__metadata__ {"format": "pt", "lr": 0.5}: no key of a .safetensors header has relaxed numbers, __metadata__ included (§12.3 step 4.2), so 0.5 is BAD_NUMBER when the header is parsed, before step 4.3 finds a value that is not a string. A reader that frees numbers in __metadata__ as in an .ndp header\'s metadata says HEADER_INVALID.', `{"__metadata__":{"format":"pt","lr":0.5},${wEntry}}`, seededBytes(16, 201), [w]);
  const m = array("metadata", "uint8", [4]);
  st("safetensors-tensor-named-metadata-fraction", "BAD_NUMBER", 'A tensor named "metadata" (U8) whose shape is [4.0]: the relaxed numbers of section 2.1 belong to the top-level key metadata of an .ndp header, and no key of a .safetensors header has them (§12.3 step 4.2). A reader that applies section 2.1\'s number rule as it is reads the shape as [4] and accepts the shard.', '{"metadata":{"dtype":"U8","shape":[4.0],"data_offsets":[0,4]}}', m.le, [m]);
  st("safetensors-metadata-lone-surrogate", "HEADER_INVALID", '__metadata__ {"note": "\\ud800"}: a \\u escape of a lone surrogate, refused by the strict JSON of section 2.1 that a .safetensors header is parsed by (§12.3 step 4.2). A reader that parses the header with a lenient JSON parser (Python\'s json, serde_json\'s) accepts the shard.', `{"__metadata__":{"note":"\\ud800"},${wEntry}}`, seededBytes(16, 202), [w]);
  st("safetensors-tensor-extra-key", "HEADER_INVALID", 'Tensor "w" with a fourth key, "x": 1: a tensor is an object of exactly dtype, shape and data_offsets (§12.3 step 4.3). A reader that ignores unknown keys, as in an .ndp entry, accepts the shard.', '{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16],"x":1}}', seededBytes(16, 203), [w]);
  const s = array("s", "float32", []);
  st("safetensors-tensor-missing-shape", "HEADER_INVALID", 'Tensor "s" (F32) with no shape, at data_offsets [0, 4]: the three keys are required (§12.3 step 4.3). A reader that takes a missing shape for [] (a scalar of 4 bytes, which the offsets span) accepts the shard.', '{"s":{"dtype":"F32","data_offsets":[0,4]}}', s.le, [s]);
  st("safetensors-bad-shape-zero-dimension", "BAD_SHAPE", 'Tensor "w" of shape [0, 4294967296, 4294967296] (F32) at data_offsets [0, 0]: its size is 0, but the product of its non-zero dimensions times its item size, 2^66, is above 2^53-1: BAD_SHAPE (§12.3 step 4.4), as an .ndp entry\'s (section 9 step 13). A reader for which a zero dimension excuses the bound accepts the shard.', `{${tensorText("w", "F32", [0, 4294967296, 4294967296], 0, 0)}}`, new Uint8Array(0), [w]);
  const e = array("e", "uint8", [1]);
  st("safetensors-order-dtype-before-dims", "UNKNOWN_DTYPE", 'Tensor "e" of dtype F8_E8M0 (which ndpack lacks) and 65 dimensions of 1 (one over maxDims): the dtype is checked before the number of dimensions (§12.3 step 4.3). A reader that checks maxDims first says LIMIT_EXCEEDED.', `{${tensorText("e", "F8_E8M0", Array(65).fill(1), 0, 1)}}`, seededBytes(1, 204), [e]);
  const a = array("a", "float32", [1]);
  const b = array("b", "uint8", [1]);
  st("safetensors-order-gap-before-ends-before-begins", "GAP", 'Tensor "a" (F32 [1]) at data_offsets [0, 4], "b" (U8 [1]) at [6, 5]: sorted by begin, "b" comes second and begins after "a" ends, GAP, which §12.3 step 4.4 checks before "b" ending before it begins (HEADER_INVALID). A reader that checks every tensor\'s offsets for end < begin before it sorts them says HEADER_INVALID.', `{${tensorText("a", "F32", [1], 0, 4)},${tensorText("b", "U8", [1], 6, 5)}}`, seededBytes(6, 205), [a, b]);
  st("safetensors-ndpack-json-missing-key", "HEADER_INVALID", '__metadata__ {"format": "pt", "__ndpack_json__": "[\\"nokey\\"]"}: __ndpack_json__ lists a key that __metadata__ lacks; it must list keys of __metadata__ (§12.3 step 4.6). A reader that decodes the keys it finds and skips the others accepts the shard.', `{"__metadata__":{"format":"pt","__ndpack_json__":"[\\"nokey\\"]"},${wEntry}}`, seededBytes(16, 206), [w]);
  st("safetensors-ndpack-json-lists-itself", "HEADER_INVALID", '__metadata__ {"__ndpack_json__": "[\\"__ndpack_json__\\"]"}: __ndpack_json__ lists itself; it must list other keys (§12.3 step 4.6). A reader that checks only that each listed key exists, and that its value is one JSON value, accepts the shard.', `{"__metadata__":{"__ndpack_json__":"[\\"__ndpack_json__\\"]"},${wEntry}}`, seededBytes(16, 207), [w]);
  st("safetensors-ndpack-json-lone-surrogate", "HEADER_INVALID", '__metadata__ {"note": "\\"\\\\ud800\\"", "__ndpack_json__": "[\\"note\\"]"}: the value listed is the JSON text "\\ud800", a string of a lone surrogate, which section 2.1\'s strict JSON refuses; each listed value is parsed by it (§12.3 step 4.6). A reader that decodes listed values with a lenient JSON parser (Python\'s json.loads) accepts the shard.', `{"__metadata__":{"note":"\\"\\\\ud800\\"","__ndpack_json__":"[\\"note\\"]"},${wEntry}}`, seededBytes(16, 208), [w]);
  st("safetensors-ndpack-json-depth-64", "LIMIT_EXCEEDED", `__metadata__ {"deep": "${"[".repeat(64)}${"]".repeat(64)}", "__ndpack_json__": "[\\"deep\\"]"}: the value listed is 64 nested lists. Each listed value is parsed as the value of metadata in the text {"metadata": <value>} (§12.3 step 4.6), so its outermost list is depth 2 and its innermost 65, one over maxDepth. A reader that parses each value as a text of its own (depth 64) accepts the shard.`, `{"__metadata__":{"deep":"${"[".repeat(64)}${"]".repeat(64)}","__ndpack_json__":"[\\"deep\\"]"},${wEntry}}`, seededBytes(16, 209), [w]);
  st("safetensors-ndpack-json-list-order", "LIMIT_EXCEEDED", `__metadata__ {"a": "[", "b": "${"[".repeat(64)}${"]".repeat(64)}", "__ndpack_json__": "[\\"b\\", \\"a\\"]"}: "a" is not JSON (HEADER_INVALID) and "b" is 65 deep once parsed (LIMIT_EXCEEDED, as safetensors-ndpack-json-depth-64). The values are parsed in the list's order (§12.3 step 4.6), "b" first. A reader that parses them in __metadata__'s order says HEADER_INVALID.`, `{"__metadata__":{"a":"[","b":"${"[".repeat(64)}${"]".repeat(64)}","__ndpack_json__":"[\\"b\\",\\"a\\"]"},${wEntry}}`, seededBytes(16, 211), [w]);
  const u = array("u", "uint8", [1]);
  const zero = array("0", "uint8", [1]);
  st("safetensors-order-text-order-integer-name", "UNKNOWN_DTYPE", 'Tensor "u" (first in the header) has dtype F8_E8M0, which ndpack lacks; tensor "0", after it, has no shape. The top-level keys are checked in the order of the header\'s text (§12.3 step 4.3): UNKNOWN_DTYPE. A reader that walks the parsed object\'s keys in the order a JavaScript object lists them (integer-like keys, "0", first) says HEADER_INVALID.', `{${tensorText("u", "F8_E8M0", [1], 0, 1)},"0":{"dtype":"U8","data_offsets":[1,2]}}`, seededBytes(2, 210), [u, zero]);
  // More rules of steps 4.2 to 4.6 that had no vector of their own.
  const utf8 = (text: string) => new TextEncoder().encode(text);
  const rawBytes = (header: Uint8Array, data: Uint8Array) => {
    const out = new Uint8Array(8 + header.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
    out.set(header, 8);
    out.set(data, 8 + header.length);
    return out;
  };
  safetensorsCase("safetensors-header-not-utf8", "HEADER_INVALID", '__metadata__ {"note": <the byte 0xFF>}: the header is not UTF-8 (§12.3 step 4.2, section 9 step 7). A reader that decodes it with replacement characters accepts the shard.', [w], rawBytes(new Uint8Array([...utf8('{"__metadata__":{"note":"'), 0xff, ...utf8(`"},${wEntry}}`)]), seededBytes(16, 212)));
  safetensorsCase("safetensors-header-newline-after-object", "HEADER_INVALID", "The header object followed by a line feed (then spaces to a multiple of 8 bytes): only spaces may follow it (§12.3 step 4.2, as an .ndp header). A reader that allows any JSON white space there accepts the shard.", [w], rawBytes(utf8(`{${wEntry}}\n`.padEnd(B.alignUp(8 + `{${wEntry}}\n`.length, 8) - 8, " ")), seededBytes(16, 213)));
  st("safetensors-header-depth-65", "LIMIT_EXCEEDED", 'Tensor "w" whose shape is 63 nested lists around 4: the header nests 65 deep (the header object 1, the tensor 2, the shape\'s lists 3 to 65), one over maxDepth, which the header\'s parse (§12.3 step 4.2) finds before step 4.3 finds a shape that is not a list of integers. A reader that parses the header with no depth limit says HEADER_INVALID.', `{"w":{"dtype":"F32","shape":${"[".repeat(63)}4${"]".repeat(63)},"data_offsets":[0,16]}}`, seededBytes(16, 214), [w]);
  st("safetensors-tensor-duplicate-key", "DUPLICATE_KEY", 'Tensor "w" whose entry holds dtype twice, with the same value: a key repeated inside a value is DUPLICATE_KEY (§12.3 step 4.2); only a repeated top-level key is DUPLICATE_NAME. A JSON parser that keeps one of them accepts the shard.', '{"w":{"dtype":"F32","dtype":"F32","shape":[4],"data_offsets":[0,16]}}', seededBytes(16, 215), [w]);
  st("safetensors-metadata-not-object", "HEADER_INVALID", '__metadata__ is the list ["pt"]: it is an object of strings, or null (§12.3 step 4.3). A reader that skips __metadata__, a shard\'s metadata not being the set\'s, accepts the shard.', `{"__metadata__":["pt"],${wEntry}}`, seededBytes(16, 216), [w]);
  st("safetensors-tensor-not-object", "HEADER_INVALID", 'Tensor "w" is the list ["F32", [4], [0, 16]] rather than an object (§12.3 step 4.3).', '{"w":["F32",[4],[0,16]]}', seededBytes(16, 217), [w]);
  st("safetensors-data-offsets-three", "HEADER_INVALID", 'Tensor "w" (F32 [4]) whose data_offsets is [0, 16, 16]: a list of two integers (§12.3 step 4.3). A reader that takes the first two accepts the shard.', '{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16,16]}}', seededBytes(16, 218), [w]);
  st("safetensors-shape-true", "HEADER_INVALID", 'Tensor "w" (F32) whose shape is [true, 4]: true is not an integer (section 2.1, §12.3 step 4.3). A reader that reads true as 1 accepts the shard.', '{"w":{"dtype":"F32","shape":[true,4],"data_offsets":[0,16]}}', seededBytes(16, 219), [w]);
  st("safetensors-ndpack-json-not-strings", "HEADER_INVALID", '__metadata__ {"1": "2", "__ndpack_json__": "[1]"}: __ndpack_json__ lists the number 1, not the key "1" (§12.3 step 4.6). A reader that turns the listed values into strings accepts the shard.', `{"__metadata__":{"1":"2","__ndpack_json__":"[1]"},${wEntry}}`, seededBytes(16, 220), [w]);
  safetensorsCase("safetensors-no-tensors-trailing-bytes", "TRAILING_BYTES", 'A .safetensors shard whose header is {} (no tensor) followed by 4 bytes, the index mapping "w" to it: with no tensor, the data section ends where the header does (8 + N, §12.3 step 4.5), so TRAILING_BYTES, before step 5 finds "w" missing (SET_INVALID). A reader that skips step 4.5 for a shard of no tensors says SET_INVALID.', [w], rawSafetensors("{}", seededBytes(4, 221)));
  safetensorsCase("safetensors-header-leading-space", "HEADER_INVALID", "A header that starts with a space before its object: its first byte must be { (§12.3 step 4.2, as an .ndp header; section 2). A reader that allows JSON white space before the object accepts the shard.", [w], rawBytes(utf8(` {${wEntry}}`.padEnd(B.alignUp(8 + ` {${wEntry}}`.length, 8) - 8, " ")), seededBytes(16, 222)));
  st("safetensors-metadata-raw-tab", "HEADER_INVALID", '__metadata__ {"note": "a<TAB>b"} with the tab written raw inside the string: a control character must be escaped (section 2.1, §12.3 step 4.2). A lenient JSON parser (Python\'s json with strict=False) accepts the shard.', `{"__metadata__":{"note":"a\tb"},${wEntry}}`, seededBytes(16, 223), [w]);
  st("safetensors-header-trailing-comma", "HEADER_INVALID", 'A header whose object ends with a comma after its last tensor, {"w": {...},}: not RFC 8259 JSON (§12.3 step 4.2). A lenient parser (JSON5, some serde settings) accepts the shard.', `{${wEntry},}`, seededBytes(16, 226), [w]);
  st("safetensors-tensor-dtype-not-string", "HEADER_INVALID", 'Tensor "w" whose dtype is the number 7 (§12.3 step 4.3: a string), not an unknown dtype name: HEADER_INVALID, not UNKNOWN_DTYPE.', '{"w":{"dtype":7,"shape":[4],"data_offsets":[0,16]}}', seededBytes(16, 224), [w]);
  {
    // The header object, w, "U8", the shape list: 4 values; the ones take the count to 1,000,000, and -01 is the 1,000,001st.
    const ones = 1_000_000 - 4;
    st("safetensors-header-nodes", "LIMIT_EXCEEDED", `Tensor "w" (U8) whose shape lists ${ones} ones and then -01: with the header object, the tensor, its dtype and the shape list, -01 is the 1,000,001st JSON value, one over the default maxHeaderNodes, counted before its first character is looked at (§12.3 step 4.2, section 2.1): LIMIT_EXCEEDED, not the HEADER_INVALID of a malformed number, which a reader that parses the header without the limit, or checks a value before counting it, reports (a 2 MB header).`, `{"w":{"dtype":"U8","shape":[${"1,".repeat(ones)}-01],"data_offsets":[0,1]}}`, seededBytes(1, 225), [array("w", "uint8", [1])]);
  }
}
{
  // Valid: the readings above that a reader may wrongly refuse.
  /** A valid set of one .safetensors shard, `file`, holding `arrays` (in that order), with a Hugging Face index of no metadata. */
  const oneShard = (name: string, description: string, arrays: ShardDef["arrays"], file: Uint8Array) => {
    const shards: ShardDef[] = [{ name: "model-00001-of-00001.safetensors", arrays }];
    valid.push({ name, description, indexName: "model.safetensors.index.json", indexText: writeSetIndex([written(shards[0]!, file)]), shards, replace: { [shards[0]!.name]: file }, metadata: {}, order: arrays.map((a) => a.name) });
  };
  const b = array("b", "float32", [1]);
  const w = array("w", "float32", [1]);
  oneShard("safetensors-header-order-not-data-order", 'A .safetensors shard whose header lists "b" at data_offsets [4, 8] before "w" at [0, 4]: the tensors are checked in the order of their offsets, not the header\'s (FORMAT.md §12.3 step 4.4), so they follow each other from 0. A reader that checks them in header order says GAP.', [b, w], rawSafetensors(`{${tensorText("b", "F32", [1], 4, 8)},${tensorText("w", "F32", [1], 0, 4)}}`, B.concat(w.le, b.le)));
  const v = array("v", "float32", [2]);
  oneShard("safetensors-ndpack-json-forms", 'A .safetensors shard whose __metadata__ is {"format": "pt", "lr": "\\t-2.5E-4 ", "__ndpack_json__": " [\\"lr\\", \\"lr\\"]\\n"}: JSON white space may surround __ndpack_json__\'s list and each value it lists, a key may be listed twice, and a listed value is parsed as a header\'s metadata is, so its numbers are free (FORMAT.md §12.3 step 4.6). A reader that refuses any of these fails the set. (A shard\'s metadata is not the set\'s: the set\'s is {}.)', [v], rawSafetensors(`{"__metadata__":{"format":"pt","lr":"\\t-2.5E-4 ","__ndpack_json__":" [\\"lr\\", \\"lr\\"]\\n"},${tensorText("v", "F32", [2], 0, 8)}}`, v.le));
  const y = array("y", "float32", [1]);
  const z = array("z", "float32", [0]);
  oneShard("safetensors-same-begin-sorted-by-end", 'A .safetensors shard whose header lists "y" (F32 [1]) at data_offsets [0, 4] before "z" (F32 [0], no bytes) at [0, 0]: the tensors are sorted by begin, then end (FORMAT.md §12.3 step 4.4), so "z" comes first and "y" begins where it ends. A reader that sorts by begin alone, keeping the header\'s order for a tie, finds "z" beginning before "y" ends and says OVERLAP.', [y, z], rawSafetensors(`{${tensorText("y", "F32", [1], 0, 4)},${tensorText("z", "F32", [0], 0, 0)}}`, y.le));
  const n = array("n", "float32", [2]);
  oneShard("safetensors-metadata-null", 'A .safetensors shard whose header holds "__metadata__": null: no metadata, as the reference loader reads it (FORMAT.md §12.3 step 4.3). A reader that requires an object accepts only what the reference loader writes, and fails the set.', [n], rawSafetensors(`{"__metadata__":null,${tensorText("n", "F32", [2], 0, 8)}}`, n.le));
}
/** A .safetensors shard of 16 bytes whose length field says N = 100,000,001, one over the default cap, then `{` and spaces. */
function safetensorsOverCap(): Uint8Array {
  const file = new Uint8Array(16).fill(0x20);
  new DataView(file.buffer).setBigUint64(0, 100_000_001n, true);
  file[8] = 0x7b;
  return file;
}
{
  // Without ndpack, step 4.1's cap on N comes before its TRUNCATED.
  const shards: ShardDef[] = [{ name: "model-00001-of-00001.safetensors", arrays: [array("w", "float32", [2])] }];
  const file = safetensorsOverCap();
  readCase({
    name: "hf-shard-header-too-large",
    code: "HEADER_TOO_LARGE",
    array: "w",
    indexName: "model.safetensors.index.json",
    indexText: pythonIndexText({ metadata: { total_size: 8 }, weight_map: { w: shards[0]!.name } }),
    description: "A Hugging Face index (no ndpack object) and a .safetensors shard of 16 bytes whose length field says N = 100,000,001, one over the reader's default cap (the reference loader's): HEADER_TOO_LARGE (§12.3 step 4.1), checked before 8 + N > len (TRUNCATED). A reader with no cap on N, or that checks the length first, says TRUNCATED.",
    shards,
    replace: { [shards[0]!.name]: file },
  });
}
// The index's checks, in §12.3's order (not the text's).
indexCase("index-metadata-duplicate-key", "SET_INVALID", 'The index of ndpack-two-shards whose metadata holds the key "a" twice ({"total_size": 1088, "a": 1, "a": 2}): a repeated key anywhere in the index is SET_INVALID (§12.3), not only in weight_map. A reader that reports section 2.1\'s DUPLICATE_KEY outside weight_map says DUPLICATE_KEY.', writeSetIndex(TWO.map((sh, i) => written(sh, TWO_FILES[i]!)), { a: 1 }).replace('"a":1', '"a":1,"a":2'));
indexCase("ndpack-version-2-no-shards", "UNSUPPORTED_VERSION", 'ndpack is {"version": 2}, with no shards: version is checked before shards (§12.3). A reader that checks shards first says SET_INVALID.', edited((i) => (i.ndpack = { version: 2 })));
indexCase(
  "index-order-shard-name-before-next-array-name",
  "SET_INVALID",
  'weight_map {"a": "../x.ndp", <a name of 4097 UTF-8 bytes>: "b.ndp"}: each entry is checked whole, its name then its shard\'s name, before the next entry (§12.3), so the unsafe shard name of the first entry is SET_INVALID. A reader that checks every array name before any shard name says LIMIT_EXCEEDED (maxNameBytes).',
  `{"weight_map":{"a":"../x.ndp","${"é".repeat(2048)}a":"b.ndp"}}\n`,
);
indexCase("index-order-weight-map-before-ndpack", "SET_INVALID", 'The index {"ndpack": {"version": 2, "shards": {}}, "weight_map": {"a": "x.bin"}}: weight_map\'s entries are checked before ndpack (§12.3), whatever the order of the text, so the shard x.bin (no known extension) is SET_INVALID. A reader that checks ndpack first, or the keys in text order, says UNSUPPORTED_VERSION.', '{"ndpack":{"version":2,"shards":{}},"weight_map":{"a":"x.bin"}}\n');
{
  // Step 2 before step 3: a shard of the wrong size is FILE_CHANGED whatever its header length says.
  const file = B.concat(TWO_FILES[0]!, new Uint8Array(1));
  new DataView(file.buffer).setUint32(12, 0xffffffff, true);
  readCase({ name: "shard-size-changed-header-too-large", code: "FILE_CHANGED", array: EMBED.name, description: "The first shard is one byte longer than the index says, and its preamble claims a header of 2^32-1 bytes: its size is checked first (§12.3 step 2), FILE_CHANGED. A reader that checks the header length first (step 3) says HEADER_TOO_LARGE.", shards: TWO, replace: { [FIRST]: file } });
}
{
  // Step 3 before step 4: the header length of an .ndp shard is read before its magic is checked.
  const file = TWO_FILES[0]!.slice();
  file[0] = 0x00;
  new DataView(file.buffer).setUint32(12, 0xffffffff, true);
  readCase({ name: "shard-bad-magic-header-too-large", code: "HEADER_TOO_LARGE", array: EMBED.name, description: "The first shard (of the size the index gives) has a bad magic and a preamble that claims a header of 2^32-1 bytes: step 3 of §12.3 reads the header length before step 4 (section 9 step 1) checks the magic, so HEADER_TOO_LARGE. A reader that checks the shard's magic first says BAD_MAGIC.", shards: TWO, replace: { [FIRST]: file } });
}

// Made last, so that the seeded bytes of every set above stay as they were.
ndpackSet(
  "ndpack-names-near-windows-devices",
  "Shard names that look like the devices FORMAT.md §12.1 refuses but are plain files on Windows too: COM10 (COM takes one digit), console, nul-1 (the part before the first dot is the name).",
  [
    { name: "COM10.ndp", arrays: [array("a", "uint8", [2])] },
    { name: "console.ndp", arrays: [array("b", "int64", [3])] },
    { name: "nul-1.ndp", arrays: [array("c", "float32", [1])] },
  ],
  {},
);

// Specification 1.2.1: rules of §12.3 that had no vector. Made after the sets above, for their seeded bytes.
{
  // maxHeaderNodes in a value that __ndpack_json__ lists: counted in {"metadata":<value>}, with a count of its own (§12.3 step 4.6).
  const zeros = 1_000_000 - 2; // with the object around the value and the list: 1,000,000 values
  const listed = (tail: string) => `{"__metadata__":{"big":"[${"0,".repeat(zeros - 1)}0${tail}]","__ndpack_json__":"[\\"big\\"]"},${tensorText("w", "F32", [1], 0, 4)}}`;
  const w = array("w", "float32", [1]);
  safetensorsCase(
    "safetensors-ndpack-json-header-nodes",
    "LIMIT_EXCEEDED",
    `__metadata__ {"big": "[<${zeros} zeros>, -01]", "__ndpack_json__": "[\\"big\\"]"}: parsed as the value of metadata in {"metadata": <value>} (§12.3 step 4.6), the object around it and the list count 2, so -01 is the 1,000,001st JSON value, one over the default maxHeaderNodes, counted before its first character is looked at: LIMIT_EXCEEDED, not the HEADER_INVALID of a malformed number. A reader that parses listed values without the limit, or checks a value before counting it, says HEADER_INVALID (a 2 MB header).`,
    [w],
    rawSafetensors(listed(",-01"), w.le),
  );
  const v = array("v", "float32", [1]);
  const shards: ShardDef[] = [{ name: "model-00001-of-00001.safetensors", arrays: [v] }];
  const file = rawSafetensors(listed("").replace(/"w":/, '"v":'), v.le);
  valid.push({
    name: "safetensors-ndpack-json-header-nodes-at-limit",
    description: `A .safetensors shard whose __metadata__ is {"big": "[<${zeros} zeros>]", "__ndpack_json__": "[\\"big\\"]"}: parsed as the value of metadata in {"metadata": <value>}, with the object around it and the list, "big" is 1,000,000 JSON values, exactly the default maxHeaderNodes, in a count of its own (§12.3 step 4.6): the shard's header, the list of __ndpack_json__ and another listed value each count apart. A reader that counts the value alone is one under; one that adds the header's values to its count, or counts the value without the object around it one over, says LIMIT_EXCEEDED (a 2 MB header).`,
    indexName: "model.safetensors.index.json",
    indexText: writeSetIndex([written(shards[0]!, file)]),
    shards,
    replace: { [shards[0]!.name]: file },
    metadata: {},
    order: ["v"],
  });
  const u = array("u", "float32", [4]);
  safetensorsCase(
    "safetensors-number-above-2-53",
    "BAD_NUMBER",
    'Tensor "u" (F32 [4]) at data_offsets [0, 9007199254740992]: every number of a .safetensors header is a non-negative integer of at most 2^53-1 (§12.3 step 4.2), so 2^53 is BAD_NUMBER as it is parsed. A reader that parses it as a float (2^53 exactly) goes on to say GAP or TRUNCATED; one that takes it as a 64-bit integer, as the reference loader does, says TRUNCATED.',
    [u],
    rawSafetensors(`{${tensorText("u", "F32", [4], 0, 9007199254740992)}}`, u.le),
  );
}
{
  // §12.3 step 3 with ndpack: a .safetensors shard's header length is held to the reader's cap before it is compared with the shard's end.
  const w = array("w", "float32", [2]);
  const shards: ShardDef[] = [{ name: "model-00001-of-00001.safetensors", arrays: [w] }];
  const file = safetensorsOverCap();
  readCase({
    name: "shard-safetensors-header-too-large",
    code: "HEADER_TOO_LARGE",
    array: "w",
    indexName: "model.safetensors.index.json",
    indexText: writeSetIndex([{ name: shards[0]!.name, size: file.length, headerCrc32: 0, arrays: ["w"], nbytes: [w.le.length] }]),
    description: "An ndpack index giving the size (16) of a .safetensors shard whose length field says N = 100,000,001, one over the .safetensors reader's default cap: step 3 of §12.3 holds N to the cap (HEADER_TOO_LARGE) before it finds the header ending past the shard's end (FILE_CHANGED), and before any CRC-32 is computed. A reader that compares the header's end with the shard's first, or applies the cap only without ndpack (as in hf-shard-header-too-large), says FILE_CHANGED.",
    shards,
    replace: { [shards[0]!.name]: file },
  });
}

// ---------------------------------------------------------------------------------------------

function writeCase(root: string, c: Case): void {
  const folder = join(root, c.name);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, c.indexName), typeof c.indexText === "string" ? c.indexText : c.indexText);
  for (const shard of c.shards) {
    if (c.omit?.includes(shard.name)) continue;
    writeFileSync(join(folder, shard.name), c.replace?.[shard.name] ?? shardBytes(shard));
  }
  // A shard listed by ndpack.shards but mapped to nothing is still present, so that only the index is wrong.
  if (c.name === "shard-not-in-index") writeFileSync(join(folder, FIRST.replace("00001", "00003")), TWO_FILES[0]!);
}

function main(): void {
  const args = process.argv.slice(2);
  const root = fileURLToPath(new URL("..", import.meta.url));
  const out = args[0] === "--out" && args[1] !== undefined ? resolve(args[1]) : join(root, "fixtures", "sets");
  if (args.length > 0 && !(args[0] === "--out" && args.length === 2)) throw new Error("usage: generate-set-fixtures.ts [--out DIR]");
  const names = new Set<string>();
  for (const c of [...valid, ...invalid]) {
    if (names.has(c.name)) throw new Error(`duplicate case name ${c.name}`);
    names.add(c.name);
  }
  rmSync(out, { recursive: true, force: true });
  for (const c of valid) writeCase(join(out, "valid"), c);
  for (const c of invalid) writeCase(join(out, "invalid"), c);
  const byName = (c: (typeof valid)[number]) => new Map(c.shards.flatMap((s) => s.arrays.map((a) => [a.name, { array: a, shard: s.name }] as const)));
  const index = {
    description: "ndpack sharded-set vectors (FORMAT.md §12); see spec/conformance.md",
    valid: valid.map((c) => ({
      name: c.name,
      description: c.description,
      index: c.indexName,
      metadata: c.metadata,
      arrays: c.order.map((name) => {
        const { array: a, shard } = byName(c).get(name)!;
        return { name, dtype: a.dtype, shape: a.shape, order: a.order ?? "C", shard, nbytes: a.le.length, sha256: sha256(a.le) };
      }),
    })),
    invalid: invalid.map((c) => ({ name: c.name, description: c.description, index: c.indexName, code: c.code, when: c.when, ...(c.array === undefined ? {} : { array: c.array }) })),
  };
  writeFileSync(join(out, "index.json"), `${JSON.stringify(index, null, 2)}\n`);
  writeFileSync(join(out, ".gitattributes"), "* -text\n*.ndp binary\n*.safetensors binary\n");
  console.log(`wrote ${valid.length} valid and ${invalid.length} invalid sets to ${out}`);
}

main();
