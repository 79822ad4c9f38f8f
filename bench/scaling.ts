/**
 * Scaling: decode time as one array's payload grows from 1 KiB to 1 GiB (it must stay flat:
 * decode reads the header only), and as the number of arrays grows from 1 to 100,000 (it must grow
 * linearly, with a small constant per array).
 *
 * @module
 */
import { GiB, loadNdpack, MiB, touch, type BenchConfig, type Case, type JsCase, type Ndpack } from "./harness.js";

interface State {
  nd: Ndpack;
  bytes: Uint8Array;
  names: string[];
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
  return { nd, bytes: nd.encode(input), names };
}

function decodeAll(s: State): number {
  const file = s.nd.decode(s.bytes);
  const views = [];
  for (const name of s.names) views.push(file.get(name).data);
  return touch(views);
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
        note: "decode() only parses and checks the header; get() all also makes every view and touches it. `per array` is the median divided by the count.",
        setup: (c) => manyArrays(c, count),
        run: get ? decodeAll : (s) => s.nd.decode(s.bytes).size,
        extra: () => ({ arrays: count }),
      });
    }
  }
  return cases;
}
