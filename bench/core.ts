/**
 * S1 (one big array), S2 (many small arrays), S3 (mixed dtypes): the data sets every in-memory
 * scenario uses, ndpack's own cases, and the physical baselines (a copy into memory that exists, a
 * fresh buffer then the copy, a typed-array view). The peers of the same steps are in peers.ts.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  fillRandom,
  loadNdpack,
  randomFloat32,
  touch,
  type BenchConfig,
  type Case,
  type JsCase,
  type Ndpack,
} from "./harness.js";

/** The dtypes the data sets use. */
export type BenchDtype = "int8" | "uint8" | "uint16" | "int32" | "float32" | "float64" | "int64" | "bool" | "float16";

export interface ArrayDesc {
  readonly name: string;
  readonly dtype: BenchDtype;
  readonly shape: readonly number[];
}

export interface Dataset {
  readonly id: "S1" | "S2" | "S3";
  readonly title: string;
  readonly arrays: readonly ArrayDesc[];
  /** Sum of the arrays' bytes. */
  readonly bytes: number;
}

export const ITEM_SIZE: Record<BenchDtype, number> = { int8: 1, uint8: 1, bool: 1, uint16: 2, float16: 2, int32: 4, float32: 4, float64: 8, int64: 8 };

type AnyTypedArray = Int8Array | Uint8Array | Uint16Array | Int32Array | Float32Array | Float64Array | BigInt64Array;

/** The JavaScript array each dtype is handed to libraries as (float16 and bool as their raw bits, as ndpack returns them on Node 20). */
const VIEW: Record<BenchDtype, new (length: number) => AnyTypedArray> = {
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  uint16: Uint16Array,
  float16: Uint16Array,
  int32: Int32Array,
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
};

export function countOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function nbytesOf(a: ArrayDesc): number {
  return countOf(a.shape) * ITEM_SIZE[a.dtype];
}

function datasetOf(id: Dataset["id"], title: string, arrays: ArrayDesc[]): Dataset {
  return { id, title, arrays, bytes: arrays.reduce((s, a) => s + nbytesOf(a), 0) };
}

/** S1: one float32 array of 64M elements (256 MiB), [8192, 8192]; 16 MiB in quick mode. */
export function s1Dataset(config: BenchConfig): Dataset {
  const side = config.quick ? 2048 : 8192;
  return datasetOf("S1", `one float32 array [${side}, ${side}]`, [{ name: "x", dtype: "float32", shape: [side, side] }]);
}

/** S2: 10,000 float32 arrays of shape [8, 8] named `layer.{i}.weight`. */
export function s2Dataset(_config: BenchConfig, count = 10_000): Dataset {
  const arrays: ArrayDesc[] = [];
  for (let i = 0; i < count; i++) arrays.push({ name: `layer.${i}.weight`, dtype: "float32", shape: [8, 8] });
  return datasetOf("S2", `${count} float32 arrays [8, 8]`, arrays);
}

/** S3: int8, uint16, int32, float64, int64, bool and float16 arrays of varied shapes, ~64 MiB (~8 MiB quick). */
export function s3Dataset(config: BenchConfig): Dataset {
  const k = config.quick ? 8 : 1;
  const arrays: ArrayDesc[] = [
    { name: "tokens", dtype: "int8", shape: [2048 / k, 2048] },
    { name: "image", dtype: "uint16", shape: [3, 1024 / k, 1024] },
    { name: "labels", dtype: "int32", shape: [Math.round(3001 / k), 1777] },
    { name: "coords", dtype: "float64", shape: [1000 / k, 1000, 2] },
    { name: "ids", dtype: "int64", shape: [Math.round(1048577 / k)] },
    { name: "mask", dtype: "bool", shape: [4096 / k, 1024] },
    { name: "weights", dtype: "float16", shape: [11, 512 / k, 512] },
    { name: "step", dtype: "int32", shape: [] },
    { name: "empty", dtype: "float64", shape: [0, 7] },
    { name: "small.int8", dtype: "int8", shape: [3] },
    { name: "small.uint16", dtype: "uint16", shape: [17, 3] },
    { name: "row.float16", dtype: "float16", shape: [1, 333] },
    { name: "row.bool", dtype: "bool", shape: [5, 1] },
  ];
  return datasetOf("S3", "13 arrays of int8, uint16, int32, float64, int64, bool, float16", arrays);
}

export function datasetById(id: Dataset["id"], config: BenchConfig): Dataset {
  return id === "S1" ? s1Dataset(config) : id === "S2" ? s2Dataset(config) : s3Dataset(config);
}

/** One array's values: deterministic, valid for its dtype (bools are 0/1, float16s finite). */
export function makeData(a: ArrayDesc, seed: number): AnyTypedArray {
  const count = countOf(a.shape);
  if (a.dtype === "float32") return randomFloat32(count, seed);
  const data = new VIEW[a.dtype](count);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (a.dtype === "float64") {
    const f = data as Float64Array;
    const r = randomFloat32(count, seed);
    for (let i = 0; i < count; i++) f[i] = r[i]! * 1000;
    return f;
  }
  fillRandom(bytes, seed);
  if (a.dtype === "bool") for (let i = 0; i < bytes.length; i++) bytes[i]! &= 1;
  if (a.dtype === "float16") {
    const h = data as Uint16Array;
    for (let i = 0; i < h.length; i++) h[i]! &= 0xbfff; // exponent at most 15: finite values
  }
  return data;
}

export interface MadeArray {
  readonly desc: ArrayDesc;
  readonly data: AnyTypedArray;
}

export function makeArrays(ds: Dataset): MadeArray[] {
  return ds.arrays.map((desc, i) => ({ desc, data: makeData(desc, i + 1) }));
}

/** The arrays as ndpack's encoder takes them: a plain object of `{ data, shape, dtype }`. */
export function ndpackInput(arrays: readonly MadeArray[]): Record<string, { data: AnyTypedArray; shape: readonly number[]; dtype: BenchDtype }> {
  const out: Record<string, { data: AnyTypedArray; shape: readonly number[]; dtype: BenchDtype }> = {};
  for (const { desc, data } of arrays) out[desc.name] = { data, shape: desc.shape, dtype: desc.dtype };
  return out;
}

export function bytesOfView(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Writes the data set's description where bench/peers.py reads it; returns the path. */
export function writeSpec(ds: Dataset, config: BenchConfig): string {
  const path = join(config.tmpDir, `${ds.id}${config.quick ? ".quick" : ""}.spec.json`);
  writeFileSync(path, JSON.stringify(ds.arrays));
  return path;
}

// ---------------------------------------------------------------------------------------------
// Cases

interface EncodeState {
  nd: Ndpack;
  input: ReturnType<typeof ndpackInput>;
  arrays: MadeArray[];
  target: Uint8Array;
}

interface DecodeState {
  nd: Ndpack;
  bytes: Uint8Array;
  names: string[];
}

async function encodeSetup(ds: Dataset, config: BenchConfig, checksum: "crc32" | "none"): Promise<EncodeState> {
  const nd = await loadNdpack(config);
  const arrays = makeArrays(ds);
  const input = ndpackInput(arrays);
  const target = new Uint8Array(nd.encodedSize(input, { checksum }));
  target.fill(1); // memory that exists: every page is already mapped
  return { nd, input, arrays, target };
}

async function decodeSetup(ds: Dataset, config: BenchConfig): Promise<DecodeState> {
  const nd = await loadNdpack(config);
  const bytes = nd.encode(ndpackInput(makeArrays(ds)));
  return { nd, bytes, names: ds.arrays.map((a) => a.name) };
}

function ndpackEncodeCases(ds: Dataset, step: "encode" | "encodeInto"): JsCase<EncodeState>[] {
  return (["crc32", "none"] as const).map((checksum) => ({
    kind: "js",
    scenario: ds.id,
    step,
    lib: checksum === "crc32" ? "ndpack" : "ndpack (checksum: none)",
    role: "ndpack",
    bytes: ds.bytes,
    ...(checksum === "crc32" ? { note: "ndpack's default writes a CRC-32 of every payload (native zlib.crc32); the peers compute none." } : {}),
    setup: (config) => encodeSetup(ds, config, checksum),
    run: step === "encode" ? (s) => s.nd.encode(s.input, { checksum }) : (s) => s.nd.encodeInto(s.target, s.input, { checksum }),
    check(s, result) {
      const bytes = step === "encode" ? (result as Uint8Array) : s.target;
      const file = s.nd.decode(bytes.subarray(0, s.nd.encodedSize(s.input, { checksum })), { verify: checksum === "crc32" });
      if (file.size !== ds.arrays.length) throw new Error("wrong number of arrays");
    },
  }));
}

function ndpackDecodeCases(ds: Dataset): JsCase<DecodeState>[] {
  return [
    {
      kind: "js",
      scenario: ds.id,
      step: "decode",
      lib: "ndpack",
      role: "ndpack",
      bytes: ds.bytes,
      note: "ndpack decode: parse and check the header, then get() every array (a zero-copy view) and read its first and last element.",
      setup: (config) => decodeSetup(ds, config),
      run(s) {
        const file = s.nd.decode(s.bytes);
        const views = [];
        for (const name of s.names) views.push(file.get(name).data);
        return touch(views);
      },
      check(_s, result) {
        if (result !== ds.arrays.filter((a) => countOf(a.shape) > 0).length) throw new Error(`touched ${String(result)} arrays`);
      },
    },
    {
      kind: "js",
      scenario: ds.id,
      step: "decode",
      lib: "ndpack (verify: true)",
      role: "ndpack",
      bytes: ds.bytes,
      note: "verify: true also checks every payload's CRC-32 (reads every byte): not zero-copy-cheap, for comparison.",
      setup: (config) => decodeSetup(ds, config),
      run(s) {
        const file = s.nd.decode(s.bytes, { verify: true });
        const views = [];
        for (const name of s.names) views.push(file.get(name).data);
        return touch(views);
      },
    },
  ];
}

interface CopyState {
  sources: Uint8Array[];
  total: number;
  target: Uint8Array;
  offsets: number[];
}

function copySetup(ds: Dataset): CopyState {
  const sources = makeArrays(ds).map((a) => bytesOfView(a.data));
  const offsets: number[] = [];
  let at = 0;
  for (const s of sources) {
    offsets.push(at);
    at += (s.length + 63) & ~63;
  }
  const target = new Uint8Array(at);
  target.fill(1);
  return { sources, total: at, target, offsets };
}

/** memcpy into memory that exists: `TypedArray.set` of every array's bytes into one preallocated buffer. */
function memcpyCase(ds: Dataset, step: string): JsCase<CopyState> {
  return {
    kind: "js",
    scenario: ds.id,
    step,
    lib: "memcpy (TypedArray.set into existing memory)",
    role: "baseline",
    bytes: ds.bytes,
    setup: () => copySetup(ds),
    run(s) {
      const { sources, offsets, target } = s;
      for (let i = 0; i < sources.length; i++) target.set(sources[i]!, offsets[i]!);
      return target;
    },
  };
}

/** A fresh buffer of the total size, then the copy: what any encoder that returns new memory has to do. */
function allocCopyCase(ds: Dataset, step: string): JsCase<CopyState> {
  return {
    kind: "js",
    scenario: ds.id,
    step,
    lib: "allocate-then-copy",
    role: "baseline",
    bytes: ds.bytes,
    setup: () => copySetup(ds),
    run(s) {
      const { sources, offsets } = s;
      const out = new Uint8Array(s.total);
      for (let i = 0; i < sources.length; i++) out.set(sources[i]!, offsets[i]!);
      return out;
    },
  };
}

/** The least any zero-copy reader does: one typed-array view per array, each touched. */
function viewCase(ds: Dataset): JsCase<{ buffer: ArrayBuffer; offsets: number[]; counts: number[] }> {
  return {
    kind: "js",
    scenario: ds.id,
    step: "decode",
    lib: "typed-array views (no header)",
    role: "baseline",
    bytes: ds.bytes,
    setup() {
      const s = copySetup(ds);
      return { buffer: s.target.buffer as ArrayBuffer, offsets: s.offsets, counts: s.sources.map((b) => b.length >> 2) };
    },
    run(s) {
      const views = [];
      for (let i = 0; i < s.offsets.length; i++) views.push(new Float32Array(s.buffer, s.offsets[i], s.counts[i]));
      return touch(views);
    },
  };
}

/** ndpack's cases and the baselines of S1–S3. */
export function coreCases(config: BenchConfig): Case[] {
  const s1 = s1Dataset(config);
  const s2 = s2Dataset(config);
  const s3 = s3Dataset(config);
  return [
    memcpyCase(s1, "encodeInto"),
    ...ndpackEncodeCases(s1, "encodeInto"),
    allocCopyCase(s1, "encode"),
    ...ndpackEncodeCases(s1, "encode"),
    viewCase(s1),
    ...ndpackDecodeCases(s1),

    memcpyCase(s2, "encodeInto"),
    ...ndpackEncodeCases(s2, "encodeInto"),
    allocCopyCase(s2, "encode"),
    ...ndpackEncodeCases(s2, "encode"),
    viewCase(s2),
    ...ndpackDecodeCases(s2),

    memcpyCase(s3, "encodeInto"),
    ...ndpackEncodeCases(s3, "encodeInto"),
    allocCopyCase(s3, "encode"),
    ...ndpackEncodeCases(s3, "encode"),
    ...ndpackDecodeCases(s3),
  ];
}
