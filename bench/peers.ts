/**
 * What users would pick instead of ndpack, on the data sets of S1–S3 (core.ts): npyjs and
 * numpy-parser reading .npy bytes written by numpy, Apache Arrow IPC, cbor-x and msgpackr with
 * typed arrays, and, for reference, Python's numpy and safetensors timing their own loops in a
 * subprocess (bench/peers.py).
 *
 * Every peer is given the arrays in the form it takes best and is asked for the same result:
 * encode gives bytes holding every array (with its shape where the format has a place for it);
 * decode gives one typed array per array, each touched (first and last element).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { datasetById, makeArrays, nbytesOf, writeSpec, type Dataset, type MadeArray } from "./core.js";
import { runPython, touch, Unsupported, unsupported, type BenchConfig, type Case, type JsCase, type PythonCase } from "./harness.js";

type Step = "encode" | "decode";

/** One peer: how it turns the arrays into bytes and back. `decodeInput` prepares (untimed) what its decoder takes. */
interface Peer<Encoded, DecodeInput = Encoded> {
  readonly lib: string;
  readonly note?: string;
  /** True when its decoder reads its own encoding of the arrays (checked byte for byte after timing). */
  readonly roundTrip?: boolean;
  /** Why it cannot handle a data set, if it cannot. */
  unsupported?(ds: Dataset): string | undefined;
  load(): Promise<PeerImpl<Encoded, DecodeInput>>;
}

interface PeerImpl<Encoded, DecodeInput> {
  /** Undefined for read-only libraries. */
  encode?(arrays: readonly MadeArray[]): Encoded;
  /** Builds the decoder's input (untimed). */
  decodeInput(ds: Dataset, arrays: readonly MadeArray[], config: BenchConfig): DecodeInput | Promise<DecodeInput>;
  /** Every array's data as a typed array. */
  decode(input: DecodeInput): ArrayLike<unknown>[];
}

/** .npy files as numpy writes them (one per array), split into one ArrayBuffer each, as the npy readers take them. */
async function npyFromNumpy(ds: Dataset, config: BenchConfig): Promise<ArrayBuffer[]> {
  const spec = writeSpec(ds, config);
  const out = join(config.tmpDir, `${ds.id}${config.quick ? ".quick" : ""}.npy-concat`);
  const result = await runPython(["npy", "--spec", spec, "--out", out]);
  const lengths = result.lengths as number[];
  const all = readFileSync(out);
  const buffers: ArrayBuffer[] = [];
  let at = 0;
  for (const length of lengths) {
    const own = new Uint8Array(length);
    own.set(all.subarray(at, at + length));
    buffers.push(own.buffer);
    at += length;
  }
  return buffers;
}

const npyjs: Peer<ArrayBuffer[]> = {
  lib: "npyjs",
  note: "npyjs: one .npy per array (no container); decode reads .npy bytes written by numpy, each in its own ArrayBuffer (float16 kept as bits).",
  async load() {
    const { dump, parse } = await import("npyjs");
    const npyDtype = (a: MadeArray) => (a.desc.dtype === "bool" ? "b1" : a.desc.dtype === "float16" ? "f2" : undefined);
    return {
      encode: (arrays) =>
        arrays.map((a) => {
          const dtype = npyDtype(a);
          return dump(a.data, [...a.desc.shape], dtype === undefined ? undefined : { dtype });
        }),
      decodeInput: (ds, _arrays, config) => npyFromNumpy(ds, config),
      decode: (buffers) => buffers.map((b) => parse(b, { convertFloat16: false }).data as unknown as ArrayLike<unknown>),
    };
  },
};

const numpyParser: Peer<never, ArrayBuffer[]> = {
  lib: "numpy-parser",
  note: "numpy-parser: read-only; .npy bytes written by numpy, one ArrayBuffer each.",
  unsupported: (ds) => (ds.arrays.some((a) => a.dtype === "int64" || a.dtype === "float16" || a.dtype === "bool") ? "numpy-parser reads no int64, float16 or bool .npy (it throws)" : undefined),
  async load() {
    const { fromArrayBuffer } = (await import("numpy-parser")) as unknown as { fromArrayBuffer(b: ArrayBuffer): { data: ArrayLike<unknown>; shape: number[] } };
    return {
      decodeInput: (ds, _arrays, config) => npyFromNumpy(ds, config),
      decode: (buffers) => buffers.map((b) => fromArrayBuffer(b).data),
    };
  },
};

/**
 * Arrow IPC (stream format). Arrow tables hold columns of equal length, so S1 is one column and S2
 * one table of 10,000 columns of 64 rows; S3's arrays have different lengths, so each is its own
 * one-column table and IPC message. Shapes are not stored (Arrow has no place for them but
 * metadata). bool is stored as uint8 (Arrow's bool is bit-packed) and float16 as its uint16 bits.
 */
const arrow: Peer<Uint8Array[]> = {
  lib: "apache-arrow IPC",
  roundTrip: true,
  note: "apache-arrow: tableFromArrays + tableToIPC, tableFromIPC; columns of equal length per table (S3: one table per array); shapes not stored.",
  async load() {
    const { tableFromArrays, tableToIPC, tableFromIPC } = await import("apache-arrow");
    const sameLength = (arrays: readonly MadeArray[]) => arrays.every((a) => a.data.length === arrays[0]!.data.length);
    const encode = (arrays: readonly MadeArray[]): Uint8Array[] => {
      if (sameLength(arrays)) {
        const columns: Record<string, MadeArray["data"]> = {};
        for (const a of arrays) columns[a.desc.name] = a.data;
        return [tableToIPC(tableFromArrays(columns as Record<string, Float32Array>), "stream")];
      }
      return arrays.map((a) => tableToIPC(tableFromArrays({ [a.desc.name]: a.data } as Record<string, Float32Array>), "stream"));
    };
    return {
      encode,
      decodeInput: (_ds, arrays) => encode(arrays),
      decode(messages) {
        const out: ArrayLike<unknown>[] = [];
        for (const message of messages) {
          const table = tableFromIPC(message);
          for (let i = 0; i < table.numCols; i++) {
            const column = table.getChildAt(i)!;
            // One record batch per message here, so one chunk per column; its values may run past its length (IPC buffers are padded to 8 bytes).
            const data = column.data[0]!;
            out.push((data.values as MadeArray["data"]).subarray(data.offset, data.offset + data.length) as ArrayLike<unknown>);
          }
        }
        return out;
      },
    };
  },
};

interface Tagged {
  shape: readonly number[];
  dtype: string;
  data: MadeArray["data"];
}

/** `{ name: { shape, dtype, data } }`: the plain-object container cbor-x and msgpackr users write. */
function asObject(arrays: readonly MadeArray[]): Record<string, Tagged> {
  const out: Record<string, Tagged> = {};
  for (const a of arrays) out[a.desc.name] = { shape: a.desc.shape, dtype: a.desc.dtype, data: a.data };
  return out;
}

function fromObject(decoded: Record<string, Tagged>): ArrayLike<unknown>[] {
  const out: ArrayLike<unknown>[] = [];
  for (const key in decoded) out.push(decoded[key]!.data as ArrayLike<unknown>);
  return out;
}

const cbor: Peer<Uint8Array> = {
  lib: "cbor-x",
  roundTrip: true,
  note: "cbor-x: { name: { shape, dtype, data } } with typed arrays as RFC 8746 tags (views when aligned, else copies).",
  async load() {
    const { encode, decode } = await import("cbor-x");
    return {
      encode: (arrays) => encode(asObject(arrays)),
      decodeInput: (_ds, arrays) => encode(asObject(arrays)),
      decode: (bytes) => fromObject(decode(bytes) as Record<string, Tagged>),
    };
  },
};

/**
 * msgpackr needs `moreTypes: true` for typed arrays: without it (the default `pack`), a typed array
 * other than Uint8Array is written with `Uint8Array.prototype.set`, which converts each element to
 * one byte and leaves the rest of the bin as whatever the buffer held: the data is silently lost
 * (msgpackr 1.12.1, pack.js writeBuffer). With it, each typed array is an ext record with its type,
 * copied into fresh memory on decode.
 */
function msgpackPeer(lib: string, records: boolean, note: string): Peer<Uint8Array> {
  return {
    lib,
    note,
    roundTrip: true,
    async load() {
      const { Packr } = await import("msgpackr");
      const packr = new Packr({ moreTypes: true, useRecords: records });
      return {
        encode: (arrays) => packr.pack(asObject(arrays)),
        decodeInput: (_ds, arrays) => packr.pack(asObject(arrays)),
        decode: (bytes) => fromObject(packr.unpack(bytes) as Record<string, Tagged>),
      };
    },
  };
}

const msgpack = msgpackPeer(
  "msgpackr (moreTypes)",
  false,
  "msgpackr: a Packr with moreTypes: true, so typed arrays keep their type (its default pack silently corrupts any typed array but Uint8Array: it writes each element as one byte); decode copies each.",
);
const msgpackRecords = msgpackPeer("msgpackr (moreTypes, records)", true, "msgpackr (moreTypes, records): also its record extension, which writes the repeated { shape, dtype, data } structure once.");

const JS_PEERS: readonly Peer<unknown, unknown>[] = [npyjs, numpyParser, arrow, cbor, msgpack, msgpackRecords] as Peer<unknown, unknown>[];

interface PeerState {
  impl: PeerImpl<unknown, unknown>;
  arrays: MadeArray[];
  input: unknown;
}

function jsPeerCase(peer: Peer<unknown, unknown>, ds: Dataset, step: Step): JsCase<PeerState> {
  const why = peer.unsupported?.(ds);
  if (why !== undefined) return unsupported(ds.id, step, peer.lib, "peer", why) as unknown as JsCase<PeerState>;
  return {
    kind: "js",
    scenario: ds.id,
    step,
    lib: peer.lib,
    role: "peer",
    bytes: ds.bytes,
    ...(peer.note === undefined ? {} : { note: peer.note }),
    async setup(config) {
      const impl = await peer.load();
      if (step === "encode" && !impl.encode) throw new Unsupported(`${peer.lib} cannot write`);
      const arrays = makeArrays(ds);
      const input = step === "decode" ? await impl.decodeInput(ds, arrays, config) : undefined;
      return { impl, arrays, input };
    },
    run: step === "encode" ? (s) => s.impl.encode!(s.arrays) : (s) => touch(s.impl.decode(s.input)),
    check(s, result) {
      if (step === "decode") {
        const expected = ds.arrays.filter((a) => nbytesOf(a) > 0).length;
        if (result !== expected) throw new Error(`${peer.lib} touched ${String(result)} of ${expected} arrays`);
        if (peer.roundTrip) {
          // The peer decodes its own encoding of s.arrays: every byte must come back.
          const decoded = s.impl.decode(s.input) as unknown as ArrayBufferView[];
          s.arrays.forEach((a, i) => {
            const got = decoded[i]!;
            if (Buffer.compare(Buffer.from(got.buffer, got.byteOffset, got.byteLength), Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)) !== 0) {
              throw new Error(`${peer.lib} returned different bytes for ${a.desc.name}`);
            }
          });
        }
      } else if (result === undefined) throw new Error("no output");
    },
  };
}

/** Python's own loop over one operation, for reference (bench/peers.py). */
function pythonCase(ds: Dataset, step: Step, lib: string, op: string, note: string, config: BenchConfig): PythonCase {
  const spec = join(config.tmpDir, `${ds.id}${config.quick ? ".quick" : ""}.spec.json`);
  return {
    kind: "python",
    scenario: ds.id,
    step,
    lib,
    role: "python",
    bytes: ds.bytes,
    note,
    args: ["--op", op, "--spec", spec],
    prepare: () => void writeSpec(ds, config),
  };
}

function pythonCases(ds: Dataset, config: BenchConfig): PythonCase[] {
  const cases: PythonCase[] = [];
  for (const step of ["encode", "decode"] as const) {
    if (ds.id === "S1") cases.push(pythonCase(ds, step, "numpy np.save/np.load (py)", `npy-${step}`, "numpy .npy (py): np.save into / np.load from io.BytesIO (np.load copies the payload).", config));
    cases.push(pythonCase(ds, step, "numpy np.savez/np.load (py)", `npz-${step}`, "numpy .npz (py): np.savez into io.BytesIO (a stored zip); decode reads every member (a copy each).", config));
    cases.push(pythonCase(ds, step, "safetensors (py)", `safetensors-${step}`, "safetensors (py): safetensors.numpy.save to bytes / load from bytes (load copies every tensor).", config));
  }
  return cases;
}

/** The peers' cases for S1–S3. */
export function peerCases(config: BenchConfig): Case[] {
  const cases: Case[] = [];
  for (const id of ["S1", "S2", "S3"] as const) {
    const ds = datasetById(id, config);
    for (const step of ["encode", "decode"] as const) {
      for (const peer of JS_PEERS) if (step === "encode" ? peer !== numpyParser : true) cases.push(jsPeerCase(peer, ds, step));
    }
    cases.push(...pythonCases(ds, config));
  }
  return cases;
}
