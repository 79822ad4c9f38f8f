/**
 * Every command that reads values checks CRCs: one flipped payload bit in an ndpack file (or a
 * .npz member) makes `show`, `convert`, `extract` and `diff` fail with CHECKSUM (exit 2), and
 * nothing is written. Before the one reader, `show`, `convert`, `extract` and `diff` printed or
 * wrote the damaged values.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decode, encode } from "../src/index.js";
import { fromNpz, toNpz } from "../src/interop/index.js";
import { errorLineOf, requireBuiltCli, runCli, tempDir } from "./helpers/cli-run.js";

const tmp = tempDir("checksum");
afterAll(() => tmp.remove());

beforeAll(async () => {
  await requireBuiltCli();
  const good = encode({ a: Float32Array.from({ length: 100 }, (_, i) => i), b: Int16Array.of(1, 2) });
  const bad = good.slice();
  bad[decode(good).info("a").offset + 41]! ^= 0x04;
  writeFileSync(tmp.path("good.ndp"), good);
  writeFileSync(tmp.path("bad.ndp"), bad);
  const npz = toNpz({ a: Float32Array.from({ length: 100 }, (_, i) => i) });
  const info = fromNpz(npz).arrays.get("a")!;
  const badNpz = npz.slice();
  badNpz[info.offset + 41]! ^= 0x04;
  writeFileSync(tmp.path("bad.npz"), badNpz);
});

describe("a flipped payload bit is CHECKSUM for every command that reads values", () => {
  test.each([
    ["show", () => ["show", tmp.path("bad.ndp"), "a"]],
    ["show (.npz)", () => ["show", tmp.path("bad.npz"), "a"]],
    ["convert", () => ["convert", tmp.path("bad.ndp"), tmp.path("out.safetensors")]],
    ["convert (.npz)", () => ["convert", tmp.path("bad.npz"), tmp.path("out2.ndp")]],
    ["extract", () => ["extract", tmp.path("bad.ndp"), "a", "-o", tmp.path("extracted")]],
    ["diff", () => ["diff", tmp.path("good.ndp"), tmp.path("bad.ndp")]],
  ])("%s", async (_name, args) => {
    const result = await runCli(args());
    expect(result.code).toBe(2);
    expect(errorLineOf(result)).toMatch(/\(CHECKSUM\)$/);
    expect(result.stdout).not.toMatch(/41/); // no damaged value printed
  });

  test("nothing is written by a failed convert or extract", () => {
    expect(existsSync(tmp.path("out.safetensors"))).toBe(false);
    expect(existsSync(tmp.path("out2.ndp"))).toBe(false);
    expect(existsSync(tmp.path("extracted")) ? readdirSync(tmp.path("extracted")).filter((f) => !f.startsWith(".")) : []).toEqual([]);
  });

  test("the intact file converts (the check passes)", async () => {
    const result = await runCli(["convert", tmp.path("good.ndp"), tmp.path("good.npz")]);
    expect(result.code).toBe(0);
    expect(fromNpz(readFileSync(tmp.path("good.npz"))).arrays.get("a")!.data[41]).toBe(41);
  });
});
