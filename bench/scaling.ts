/**
 * Scaling: decode time as one array's payload grows from 1 KiB to 1 GiB (it must stay flat:
 * decode reads the header only), and as the number of arrays grows from 1 to 100,000 (it must grow
 * linearly, with a small constant per array). The same array counts decoded by cbor-x and msgpackr
 * (the containers of bench/peers.ts: `{ name: { shape, dtype, data } }`), to show what keeping
 * 100,000 results alive costs any JavaScript decoder, not only ndpack.
 *
 * @module
 */
import { collectGarbage, GiB, loadNdpack, MiB, touch, type BenchConfig, type Case, type JsCase, type Ndpack } from "./harness.js";

interface State {
  nd: Ndpack;
  bytes: Uint8Array;
  names: string[];
  /** Limits for decode: 100,000 arrays of shape [8, 8] are 1,000,006 JSON values, past the default maxHeaderNodes (FORMAT.md §7). */
  options?: { maxHeaderNodes: number };
}

export const SIZE_STEP = "decode vs payload size (one array)";
export const COUNT_STEP = "decode vs array count ([8, 8] float32 each)";
export const COUNT_PEER_STEP = "peers: decode vs array count ([8, 8] float32 each, every result kept)";

function sizeLabel(bytes: number): string {
  return bytes >= GiB ? `${bytes / GiB} GiB` : bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / 1024} KiB`;
}

/** One float32 array of `bytes` bytes, encoded (untimed); the payload is zero (its pages need not be touched to write it). */
async function oneArray(config: BenchConfig, bytes: number): Promise<State> {
  const nd = await loadNdpack(config);
  const source = new Float32Array(bytes / 4);
  const input = { x: source };
  const file = new Uint8Array(nd.encodedSize(input));
  nd.encodeInto(file, input);
  return { nd, bytes: file, names: ["x"] };
}

async function manyArrays(config: BenchConfig, count: number): Promise<State> {
  const nd = await loadNdpack(config);
  const { names, input } = countArrays(count);
  return { nd, bytes: nd.encode(input), names, options: { maxHeaderNodes: 2_000_000 } };
}

interface PeerState {
  bytes: Uint8Array;
  count: number;
  decode(bytes: Uint8Array): Record<string, { shape: readonly number[]; dtype: string; data: Float32Array }>;
}

/** cbor-x or msgpackr (moreTypes) over the same arrays as {@link manyArrays}, as bench/peers.ts uses them. */
async function peerArrays(lib: "cbor-x" | "msgpackr", count: number): Promise<PeerState> {
  const container: Record<string, { shape: number[]; dtype: string; data: Float32Array }> = {};
  for (const [name, { data, shape }] of Object.entries(countArrays(count).input)) container[name] = { shape, dtype: "float32", data };
  if (lib === "cbor-x") {
    const { encode, decode } = await import("cbor-x");
    return { bytes: encode(container), count, decode };
  }
  const { Packr } = await import("msgpackr");
  const packr = new Packr({ moreTypes: true });
  return { bytes: packr.pack(container), count, decode: (bytes) => packr.unpack(bytes) };
}

function peerDecodeAll(s: PeerState): number {
  const decoded = s.decode(s.bytes);
  const views = [];
  for (const name in decoded) views.push(decoded[name]!.data);
  if (views.length !== s.count) throw new Error(`decoded ${views.length} arrays, not ${s.count}`);
  return touch(views);
}

/** The names and arrays of the array-count step: `count` float32 [8, 8] arrays named `layer.{i}.weight`. */
function countArrays(count: number): { names: string[]; input: Record<string, { data: Float32Array; shape: number[] }> } {
  const input: Record<string, { data: Float32Array; shape: number[] }> = {};
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `layer.${i}.weight`;
    names.push(name);
    input[name] = { data: new Float32Array(64).fill(i), shape: [8, 8] };
  }
  return { names, input };
}

function decodeAll(s: State): number {
  const file = s.nd.decode(s.bytes, s.options);
  const views = [];
  for (const name of s.names) views.push(file.get(name).data);
  return touch(views);
}

/** Bytes of JavaScript heap and of memory outside it (typed arrays' buffers) in use. */
function memoryInUse(): number {
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}

/**
 * Memory that decoded files keep while they are alive, per array: decodes enough copies of the
 * file to hold at least 10,000 arrays (one copy of a file of 1 array would measure noise), with
 * `get` of every array or not, and compares the memory in use after a full GC before and after.
 * The input bytes exist before and are not counted.
 */
function retainedPerArray(count: number, decodeOne: () => unknown): number {
  const copies = Math.max(1, Math.ceil(10_000 / count));
  const kept: unknown[] = [];
  collectGarbage();
  const before = memoryInUse();
  for (let i = 0; i < copies; i++) kept.push(decodeOne());
  collectGarbage();
  const after = memoryInUse();
  if (kept.length !== copies) throw new Error("lost a decoded file");
  return Math.round((after - before) / (copies * count));
}

function ndpackRetained(s: State, get: boolean): number {
  return retainedPerArray(s.names.length, () => {
    const file = s.nd.decode(s.bytes, s.options);
    if (get) for (const name of s.names) file.get(name);
    return file;
  });
}

export function scalingCases(config: BenchConfig): Case[] {
  const sizes = config.quick ? [1024, 32 * 1024, MiB, 32 * MiB] : [1024, 32 * 1024, MiB, 32 * MiB, GiB];
  const counts = config.quick ? [1, 10, 100, 1000, 10_000] : [1, 10, 100, 1000, 10_000, 100_000];
  const cases: JsCase<State>[] = [];
  for (const bytes of sizes) {
    cases.push({
      kind: "js",
      scenario: "scaling",
      step: SIZE_STEP,
      lib: sizeLabel(bytes),
      role: "ndpack",
      bytes,
      note: "decode() + get() + touch of one float32 array; decode parses the header only, so the time must not depend on the payload.",
      setup: (c) => oneArray(c, bytes),
      run: decodeAll,
    });
  }
  for (const count of counts) {
    for (const get of [false, true]) {
      cases.push({
        kind: "js",
        scenario: "scaling",
        step: COUNT_STEP,
        lib: `${count.toLocaleString("en-US")} ${count === 1 ? "array" : "arrays"}${get ? ", get() all" : ", decode() only"}`,
        role: "ndpack",
        bytes: count * 256,
        note: "decode() only parses and checks the header; get() all also makes every view and touches it. `per array` is the median divided by the count; `heap per array` is the memory (JS heap + typed-array buffers) that decoded files keep while alive, per array (decoded file kept after a full GC, with get() of every array for the get() rows; enough copies to hold 10,000 arrays).",
        setup: (c) => manyArrays(c, count),
        run: get ? decodeAll : (s) => s.nd.decode(s.bytes, s.options).size,
        extra: (s) => ({ arrays: count, heapPerArray: ndpackRetained(s, get) }),
      });
    }
  }
  const peerCases: JsCase<PeerState>[] = [];
  for (const lib of ["cbor-x", "msgpackr"] as const) {
    for (const count of counts) {
      peerCases.push({
        kind: "js",
        scenario: "scaling",
        step: COUNT_PEER_STEP,
        lib: `${lib}, ${count.toLocaleString("en-US")} ${count === 1 ? "array" : "arrays"}`,
        role: "peer",
        bytes: count * 256,
        note:
          "cbor-x and msgpackr (moreTypes) decode `{ name: { shape, dtype, data } }` of the same arrays, as in S2; every array's data is touched. Their decode returns every result at once (ndpack's equivalent is the `get() all` rows); msgpackr copies each payload (its 256 bytes count in its heap per array), cbor-x views aligned ones. `heap per array`: the decoded objects kept after a full GC, as for ndpack.",
        setup: (c) => peerArrays(lib, count),
        run: peerDecodeAll,
        extra: (s) => ({ arrays: count, heapPerArray: retainedPerArray(count, () => s.decode(s.bytes)) }),
      });
    }
  }
  return [...cases, ...peerCases];
}
