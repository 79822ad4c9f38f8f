/**
 * Scaling: decode time as one array's payload grows from 1 KiB to 1 GiB (it must stay flat:
 * decode reads the header only), and as the number of arrays grows from 1 to 100,000 (it must grow
 * linearly, with a small constant per array).
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
  const input: Record<string, { data: Float32Array; shape: number[] }> = {};
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `layer.${i}.weight`;
    names.push(name);
    input[name] = { data: new Float32Array(64).fill(i), shape: [8, 8] };
  }
  return { nd, bytes: nd.encode(input), names, options: { maxHeaderNodes: 2_000_000 } };
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
function retainedPerArray(s: State, get: boolean): number {
  const copies = Math.max(1, Math.ceil(10_000 / s.names.length));
  const kept: unknown[] = [];
  collectGarbage();
  const before = memoryInUse();
  for (let i = 0; i < copies; i++) {
    const file = s.nd.decode(s.bytes, s.options);
    if (get) for (const name of s.names) file.get(name);
    kept.push(file);
  }
  collectGarbage();
  const after = memoryInUse();
  if (kept.length !== copies) throw new Error("lost a decoded file");
  return Math.round((after - before) / (copies * s.names.length));
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
        extra: (s) => ({ arrays: count, heapPerArray: retainedPerArray(s, get) }),
      });
    }
  }
  return cases;
}
