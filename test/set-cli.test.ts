/**
 * The command line on sharded sets (the built CLI, as users run it): inspect lists shards and
 * arrays, verify reports each shard and array, show/extract/diff read sets as files, convert turns
 * a Hugging Face checkpoint (written by the safetensors Python package) into an ndpack set and back
 * with byte-identical tensors, pack --max-shard-size writes sets; every broken set of
 * fixtures/sets/ exits 2 with one line naming its code.
 */
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { toSafetensors } from "../src/interop/index.js";
import { errorLineOf, requireBuiltCli, runCli, tempDir } from "./helpers/cli-run.js";
import { ROOT } from "./helpers/node-files.js";
import { runPython } from "./helpers/python-env.js";

const SETS = join(ROOT, "fixtures", "sets");
interface Vector {
  name: string;
  index: string;
  code?: string;
  when?: "index" | "read";
  array?: string;
  arrays?: { name: string; shard: string; sha256: string }[];
}
const vectors = JSON.parse(readFileSync(join(SETS, "index.json"), "utf8")) as { valid: Vector[]; invalid: Vector[] };
const tmp = tempDir("sets");
const SCRIPT = "test/helpers/hf-sets.py";
type Tensors = Record<string, { dtype: string; shape: number[]; sha256: string }>;
let checkpoint: { metadata: Record<string, unknown>; tensors: Tensors };

beforeAll(async () => {
  await requireBuiltCli();
  checkpoint = JSON.parse(runPython(SCRIPT, ["write", tmp.path("hf"), "40000"]));
});
afterAll(() => tmp.remove());

describe("inspect and verify", () => {
  test.each(vectors.valid.map((c) => [c.name, c] as const))("%s: inspect lists every shard and array; verify passes", async (_, c) => {
    const index = join(SETS, "valid", c.name, c.index);
    const inspect = await runCli(["inspect", "--json", index]);
    expect(inspect.code, inspect.stderr).toBe(0);
    const report = JSON.parse(inspect.stdout);
    expect(report.arrays.map((a: { name: string; shard: string }) => [a.name, a.shard])).toEqual(c.arrays!.map((a) => [a.name, a.shard]));
    expect(report.shards.map((s: { name: string }) => s.name)).toEqual([...new Set(c.arrays!.map((a) => a.shard))]);
    const text = await runCli(["inspect", index]);
    expect(text.stdout).toMatch(new RegExp(`set of ${report.shards.length} shards?`));
    const verify = await runCli(["verify", "--json", index]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, format: "set" });
  });

  test.each(vectors.invalid.map((c) => [c.name, c.code!, c] as const))("%s: verify (and inspect, which reads headers, for a broken shard) exits 2 with one line (%s)", async (_, code, c) => {
    const index = join(SETS, "invalid", c.name, c.index);
    // A broken index fails inspect and verify alike, in the one index reader they share: verify
    // alone runs for it (one process fewer for each of about fifty vectors). A broken shard fails
    // inspect at its headers, and verify (in JSON, whose error line is the same) at its bytes;
    // inspect reads headers only, so a damaged payload is for verify alone to find.
    const runs = c.when === "index" ? [["verify"]] : code === "CHECKSUM" ? [["verify", "--json"]] : [["inspect"], ["verify", "--json"]];
    for (const args of runs) {
      const result = await runCli([...args, index]);
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(2);
      expect(errorLineOf(result)).toMatch(new RegExp(`^ndpack ${args[0]}: .*\\(${code}\\)$`));
      if (args[1] !== "--json") continue;
      // verify names the broken shard and goes on with the others.
      const verify = JSON.parse(result.stdout);
      const broken = verify.shards.filter((s: { ok: boolean }) => !s.ok);
      expect(broken.length).toBeGreaterThan(0);
      expect(broken.some((s: { code?: string; arrays: { code?: string }[] }) => s.code === code || s.arrays.some((a) => a.code === code))).toBe(true);
      expect(verify.arrays.length).toBeGreaterThan(0);
    }
  });
});

describe("a Hugging Face checkpoint through the CLI", () => {
  test("convert to an ndpack set and back: every tensor byte-identical for the safetensors package; diff finds no difference", async () => {
    const hf = tmp.path("hf/model.safetensors.index.json");
    const ndp = tmp.path("nd/model.ndp.index.json");
    const back = tmp.path("back/model.safetensors.index.json");
    const toNdpack = await runCli(["convert", hf, ndp, "--max-shard-size", "60KB"]);
    expect(toNdpack.code, toNdpack.stderr).toBe(0);
    // 157,576 bytes of tensors, at most 60,000 per shard.
    expect(readdirSync(tmp.path("nd")).filter((f) => f.endsWith(".ndp")).length).toBeGreaterThanOrEqual(3);
    const toHf = await runCli(["convert", ndp, back, "--max-shard-size", "40000"]);
    expect(toHf.code, toHf.stderr).toBe(0);
    const read = JSON.parse(runPython(SCRIPT, ["read", back])) as { tensors: Tensors };
    const strip = (tensors: Tensors) => Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape, sha256: t.sha256 }]));
    expect(strip(read.tensors)).toEqual(strip(checkpoint.tensors));
    for (const [a, b] of [[hf, ndp], [ndp, back], [hf, back]]) {
      const diff = await runCli(["diff", a!, b!]);
      expect(diff.code, diff.stdout + diff.stderr).toBe(0);
    }
    expect((await runCli(["verify", ndp])).code).toBe(0);
  });

  test("show and extract read one array of a set", async () => {
    const hf = tmp.path("hf/model.safetensors.index.json");
    const show = await runCli(["show", "--json", hf, "step"]);
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({ name: "step", dtype: "int64" });
    const extract = await runCli(["extract", hf, "lm_head.weight", "-o", tmp.path("extracted")]);
    expect(extract.code, extract.stderr).toBe(0);
    expect(existsSync(tmp.path("extracted/lm_head.weight.npy"))).toBe(true);
    const missing = await runCli(["show", hf, "nope"]);
    expect(missing.code).toBe(2);
    expect(errorLineOf(missing)).toMatch(/\(NOT_FOUND\)$/);
  });

  test("a shard deleted: inspect, show and verify exit 2 naming it (IO_ERROR)", async () => {
    cpSync(tmp.path("hf"), tmp.path("hf-broken"), { recursive: true });
    rmSync(tmp.path("hf-broken/model-00003-of-00005.safetensors"));
    const index = tmp.path("hf-broken/model.safetensors.index.json");
    for (const args of [["inspect", index], ["verify", index], ["show", index, "model.layers.1.mlp.up_proj.weight"]]) {
      const result = await runCli(args);
      expect(result.code, result.stderr).toBe(2);
      expect(errorLineOf(result)).toMatch(/model-00003-of-00005\.safetensors.*ENOENT.*\(IO_ERROR\)$/);
    }
  });
});

describe("pack --max-shard-size", () => {
  test("arrays of several files into a set; the option on a single-file output is a usage error", async () => {
    const hf = tmp.path("hf/model.safetensors.index.json");
    const one = tmp.path("one.ndp");
    expect((await runCli(["convert", hf, one])).code).toBe(0);
    expect((await runCli(["extract", hf, "step", "-o", tmp.path("npy")])).code).toBe(0);
    const out = tmp.path("packed/all.ndp.index.json");
    const pack = await runCli(["pack", out, one, `extra=${tmp.path("npy/step.npy")}`, "--max-shard-size", "30KiB", "--metadata", '{"run":7}']);
    expect(pack.code, pack.stderr).toBe(0);
    const inspect = JSON.parse((await runCli(["inspect", "--json", out])).stdout);
    expect(inspect.metadata).toEqual({ run: 7 });
    expect(inspect.arrays.map((a: { name: string }) => a.name)).toEqual([...Object.keys(checkpoint.tensors).sort(), "extra"]);
    // 30 KiB of array bytes at most per shard, an array larger than that alone.
    for (const shard of inspect.shards) {
      const bytes = inspect.arrays.filter((a: { shard: string }) => a.shard === shard.name).map((a: { nbytes: number }) => a.nbytes);
      expect(bytes.length === 1 || bytes.reduce((x: number, y: number) => x + y, 0) <= 30 * 1024).toBe(true);
    }
    const bad = await runCli(["pack", tmp.path("x.ndp"), one, "--max-shard-size", "1MB"]);
    expect(bad.code).toBe(2);
    expect(errorLineOf(bad)).toMatch(/--max-shard-size writes a set.*\(INVALID_ARGUMENT\)$/);
    const size = await runCli(["convert", hf, tmp.path("y/m.ndp.index.json"), "--max-shard-size", "5 parsecs"]);
    expect(size.code).toBe(2);
    expect(errorLineOf(size)).toMatch(/\(INVALID_ARGUMENT\)$/);
  });
});

describe("names a set's index cannot hold", () => {
  test("an empty name (INVALID_ARGUMENT) and one past 4096 bytes (LIMIT_EXCEEDED) are refused before any file is written, though a .safetensors file holds them", async () => {
    for (const [name, code, message] of [
      ["", "INVALID_ARGUMENT", "a set's index cannot hold an array with an empty name (FORMAT.md §12.2), as a .safetensors file can: name it, or write one file"],
      ["n".repeat(4097), "LIMIT_EXCEEDED", `array name is longer than the 4096 UTF-8 bytes readers accept by default (array "${"n".repeat(200)}…" (+3897 characters))`],
    ] as const) {
      const input = tmp.path(`named-${name.length}.safetensors`);
      writeFileSync(input, toSafetensors({ a: Float32Array.of(1), [name]: Float32Array.of(2) }));
      const out = tmp.path(`named-${name.length}/m.safetensors.index.json`);
      const result = await runCli(["convert", input, out, "--max-shard-size", "4"]);
      expect(result.code).toBe(2);
      expect(errorLineOf(result)).toBe(`ndpack convert: ${out}: ${message} (${code})`);
      expect(existsSync(tmp.path(`named-${name.length}`))).toBe(false);
    }
  });
});
