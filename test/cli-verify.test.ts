/**
 * `ndpack verify`, run as a child process of the built bin: structure and every checksum, array by
 * array, exit 0 only when all hold and 2 for a damaged file; .npz member CRCs (numpy-written files);
 * .npy and .safetensors files, which have no checksums. Also: verify and convert of a 256 MiB
 * array keep their memory bounded (peak RSS of the child), as they read in chunks.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decode, verify } from "../src/index.js";
import { fromNpz } from "../src/interop/index.js";
import { save } from "../src/node/index.js";
import { errorLineOf, requireBuiltCli, runCli, runCliCountingReads, tempDir } from "./helpers/cli-run.js";
import { runInteropPython } from "./helpers/interop-python.js";

const tmp = tempDir("verify");
const hex = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");

const arrays = {
  first: Float32Array.from({ length: 1000 }, (_, i) => i),
  second: new Int32Array([1, 2, 3]),
  third: { data: Float64Array.from({ length: 5000 }, (_, i) => i / 3), codec: "shuffle+deflate" as const },
};

/** A copy of `path` with the byte at `at` flipped, at `to`. */
function flipped(path: string, at: number, to: string): string {
  const bytes = readFileSync(path);
  bytes[at]! ^= 0xff;
  writeFileSync(to, bytes);
  return to;
}

beforeAll(async () => {
  await requireBuiltCli();
  await save(tmp.path("good.ndp"), arrays);
  await save(tmp.path("unchecked.ndp"), arrays, { checksum: "none" });
  const grid = Float64Array.from({ length: 600 }, (_, i) => Math.cos(i));
  const long = Float64Array.from({ length: 20000 }, (_, i) => Math.cos(i));
  runInteropPython(tmp.dir, [], [
    { file: "stored.npz", format: "npz", arrays: [{ name: "grid", dtype: "float64", shape: [20, 30], order: "C", byteOrder: "little", hex: hex(grid) }, { name: "ids", dtype: "int64", shape: [2], order: "C", byteOrder: "little", hex: hex(BigInt64Array.of(1n, 2n)) }] },
    { file: "deflated.npz", format: "npz_compressed", arrays: [{ name: "grid", dtype: "float64", shape: [20000], order: "C", byteOrder: "little", hex: hex(long) }] },
    { file: "plain.npy", format: "npy", arrays: [{ name: "x", dtype: "uint8", shape: [3], order: "C", byteOrder: "little", hex: "010203" }] },
    { file: "plain.safetensors", format: "safetensors", arrays: [{ name: "x", dtype: "float32", shape: [1], order: "C", byteOrder: "little", hex: hex(Float32Array.of(1)) }] },
  ]);
});

afterAll(() => tmp.remove());

describe("verify checks structure and every checksum", () => {
  test("a valid ndpack file: exit 0, one line per array", async () => {
    const result = await runCli(["verify", tmp.path("good.ndp")]);
    expect([result.code, result.stderr]).toEqual([0, ""]);
    expect(result.stdout).toBe(`ok    first\nok    second\nok    third\n${tmp.path("good.ndp")}: ndpack 1.0, structure and checksums valid, 3 arrays\n`);
    const json = JSON.parse((await runCli(["verify", tmp.path("good.ndp"), "--json"])).stdout);
    expect(json).toEqual({ file: tmp.path("good.ndp"), format: "ndpack", ok: true, checksum: "crc32", arrays: [{ name: "first", ok: true }, { name: "second", ok: true }, { name: "third", ok: true }] });
  });

  test("a damaged payload: exit 2, the array named, the others still checked", async () => {
    const file = decode(readFileSync(tmp.path("good.ndp")));
    const damaged = flipped(tmp.path("good.ndp"), file.info("second").offset + 1, tmp.path("payload.ndp"));
    const result = await runCli(["verify", damaged]);
    expect(result.code).toBe(2);
    expect(result.stdout.split("\n")).toEqual(["ok    first", expect.stringMatching(/^FAIL  second: checksum mismatch, the payload is damaged .*\(CHECKSUM\)$/), "ok    third", `${damaged}: 1 of 3 arrays damaged`, ""]);
    expect(errorLineOf(result)).toMatch(new RegExp(`^ndpack verify: ${damaged}: 1 of 3 arrays failed verification, first "second": checksum mismatch.*\\(CHECKSUM\\)$`));
    const json = JSON.parse((await runCli(["verify", damaged, "--json"])).stdout);
    expect(json.ok).toBe(false);
    expect(json.arrays[1]).toMatchObject({ name: "second", ok: false, code: "CHECKSUM" });
    // What the library's verify says, array by array.
    expect(json.arrays.map((a: { ok: boolean; code?: string }) => [a.ok, a.code])).toEqual(verify(readFileSync(damaged)).arrays.map((a) => [a.ok, a.error?.code]));
    // Compressed payloads are checked as stored, without decompressing (FORMAT.md §9 step 22).
    const third = flipped(tmp.path("good.ndp"), file.info("third").offset + 5, tmp.path("third.ndp"));
    expect((await runCli(["verify", third])).stdout).toMatch(/FAIL  third: .*\(CHECKSUM\)/);
  });

  test("non-zero padding after a record: BAD_PADDING; damaged header: one error line, exit 2", async () => {
    const file = decode(readFileSync(tmp.path("good.ndp")));
    const padding = flipped(tmp.path("good.ndp"), file.info("first").offset + file.info("first").byteLength + 4 + 2, tmp.path("padding.ndp"));
    const result = await runCli(["verify", padding]);
    expect(result.code).toBe(2);
    const [message] = verify(readFileSync(padding)).arrays.filter((a) => !a.ok).map((a) => a.error!.message);
    expect(result.stdout).toContain(`FAIL  first: ${message} (BAD_PADDING)`);
    const header = flipped(tmp.path("good.ndp"), 30, tmp.path("header.ndp"));
    const broken = await runCli(["verify", header]);
    expect(broken.code).toBe(2);
    expect(broken.stdout).toBe("");
    expect(errorLineOf(broken)).toMatch(/^ndpack verify: .*header\.ndp: .*\(HEADER_CHECKSUM\)$/);
    const json = await runCli(["verify", header, "--json"]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: "HEADER_CHECKSUM" }, arrays: [] });
  });

  test("a file without checksums: its structure only, and it says so", async () => {
    const result = await runCli(["verify", tmp.path("unchecked.ndp")]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("structure valid, 3 arrays; it has no checksums");
    for (const file of ["plain.npy", "plain.safetensors"]) {
      const other = await runCli(["verify", tmp.path(file)]);
      expect([other.code, other.stderr]).toEqual([0, ""]);
      expect(other.stdout).toContain("it has no checksums");
    }
  });

  test(".npz files: every member's CRC-32, stored or deflated", async () => {
    for (const file of ["stored.npz", "deflated.npz"]) expect((await runCli(["verify", tmp.path(file)])).code).toBe(0);
    const stored = readFileSync(tmp.path("stored.npz"));
    const grid = fromNpz(stored).arrays.get("grid")!;
    const damaged = flipped(tmp.path("stored.npz"), grid.offset + 100, tmp.path("stored-damaged.npz"));
    const result = await runCli(["verify", damaged]);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^FAIL  grid: zip: member "grid\.npy": CRC-32 mismatch.*\(CHECKSUM\)\nok    ids\n/);
    const deflated = fromNpz(readFileSync(tmp.path("deflated.npz"))).arrays.get("grid")!;
    // Past the first compressed bytes, which hold the member's .npy header (read when the file is opened).
    const inflated = flipped(tmp.path("deflated.npz"), deflated.offset + Math.floor((deflated.byteLength * 3) / 4), tmp.path("deflated-damaged.npz"));
    const bad = await runCli(["verify", inflated]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toMatch(/FAIL  grid: .*\((CHECKSUM|CODEC_ERROR)\)/);
  });
});

describe("memory stays bounded: arrays are read in chunks", () => {
  // Node itself takes some 50 MiB; reading the array whole would take 256 MiB more.
  test("verify, convert and show of a 256 MiB array stay under 200 MiB of resident memory", async () => {
    const big = new Float32Array(64 << 20);
    for (let i = 0; i < big.length; i += 4096) big[i] = i;
    await save(tmp.path("big.ndp"), { big, tail: Int8Array.of(1, 2, 3) });
    const verified = await runCliCountingReads(["verify", tmp.path("big.ndp")], tmp.dir);
    expect(verified.code).toBe(0);
    expect(verified.rchar).toBeGreaterThan(256 << 20);
    expect(verified.maxRssBytes).toBeLessThan(200 << 20);
    const converted = await runCliCountingReads(["convert", tmp.path("big.ndp"), tmp.path("big.npz")], tmp.dir);
    expect(converted.code).toBe(0);
    expect(converted.maxRssBytes).toBeLessThan(200 << 20);
    const shown = await runCliCountingReads(["show", tmp.path("big.npz"), "big", "--json"], tmp.dir);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout).summary).toMatchObject({ count: 64 << 20, min: 0, max: (64 << 20) - 4096 });
    expect(shown.maxRssBytes).toBeLessThan(200 << 20);
  });
});
