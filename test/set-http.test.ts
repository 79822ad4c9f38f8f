/**
 * Sharded sets over HTTP from a real nginx on loopback (FORMAT.md §12): opening a set transfers
 * its index only; reading an array, its shard's first request and that array's range; shard names
 * that must be percent-encoded reach their files; a Hugging Face checkpoint written by the
 * safetensors Python package reads byte for byte; a missing shard is HTTP_ERROR 404 naming it;
 * the core's `openUrl` refuses a set's index (INVALID_ARGUMENT) before any request.
 */
import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { NdArray } from "../src/index.js";
import { openUrl } from "../src/remote.js";
import { openSetUrl } from "../src/sets.js";
import { errorLineOf, requireBuiltCli, runCli } from "./helpers/cli-run.js";
import { failure } from "./helpers/node-files.js";
import { bytesSent, startNginx, type Nginx } from "./helpers/nginx.js";
import { runPython } from "./helpers/python-env.js";
import { dataBytes, SET_VECTORS as vectors, SETS } from "./helpers/set-files.js";

const sha256 = (array: NdArray) => createHash("sha256").update(dataBytes(array)).digest("hex");

let dir: string;
let nginx: Nginx;
let hf: { tensors: Record<string, { sha256: string; shard: string }> };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ndpack-set-http-"));
  cpSync(SETS, join(dir, "sets"), { recursive: true });
  hf = JSON.parse(runPython("test/helpers/hf-sets.py", ["write", join(dir, "hf"), "40000"]));
  nginx = await startNginx(dir);
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const url = (path: string) => `${nginx.origin}/files/${path.split("/").map(encodeURIComponent).join("/")}`;

describe("the vectors of fixtures/sets over HTTP", () => {
  test.each(vectors.valid.filter((c) => c.arrays.length > 0).map((c) => [c.name, c] as const))("%s: open transfers the index alone; each array its shard's first request and its range", async (_, c) => {
    const index = url(`sets/valid/${c.name}/${c.index}`);
    const { result: set, entries } = await nginx.requests(() => openSetUrl(index));
    try {
      expect(entries.map((e) => e.uri)).toEqual([new URL(index).pathname]);
      expect(bytesSent(entries)).toBe(statSync(join(dir, "sets", "valid", c.name, c.index)).size);
      for (const a of c.arrays) {
        const { result: array, entries: reads } = await nginx.requests(() => set.read(a.name));
        expect(sha256(array), a.name).toBe(a.sha256);
        // Only this array's shard is asked for: nothing of any other file.
        expect(new Set(reads.map((e) => decodeURIComponent(e.uri.split("/").pop()!)))).toEqual(reads.length === 0 ? new Set() : new Set([a.shard]));
      }
      expect((await set.verify()).ok).toBe(true);
    } finally {
      await set.close();
    }
  });
});

describe("a Hugging Face checkpoint over HTTP", () => {
  test("every tensor, byte for byte with what Python wrote; one array costs the index, its shard's first request, its range", async () => {
    const index = url("hf/model.safetensors.index.json");
    const set = await openSetUrl(index);
    try {
      const { result: head, entries } = await nginx.requests(() => set.read("lm_head.weight"));
      expect(sha256(head)).toBe(hf.tensors["lm_head.weight"]!.sha256);
      const shardSize = statSync(join(dir, "hf", hf.tensors["lm_head.weight"]!.shard)).size;
      // The shard (33 KiB) fits in the first request's 64 KiB: one request, the whole shard.
      expect(entries).toHaveLength(1);
      expect(bytesSent(entries)).toBe(Math.min(shardSize, 64 * 1024));
      for (const [name, expected] of Object.entries(hf.tensors)) expect(sha256(await set.read(name)), name).toBe(expected.sha256);
    } finally {
      await set.close();
    }
  });

  test("a missing shard: HTTP_ERROR 404 with its URL, when one of its arrays is read; the other shards read", async () => {
    cpSync(join(dir, "hf"), join(dir, "hf-missing"), { recursive: true });
    const shard = hf.tensors["lm_head.weight"]!.shard;
    rmSync(join(dir, "hf-missing", shard));
    const set = await openSetUrl(url("hf-missing/model.safetensors.index.json"));
    try {
      const error = await failure(() => set.read("lm_head.weight"), "HTTP_ERROR");
      expect(error.status).toBe(404);
      expect(error.url).toBe(url(`hf-missing/${shard}`));
      const other = Object.entries(hf.tensors).find(([, t]) => t.shard !== shard)!;
      expect(sha256(await set.read(other[0]))).toBe(other[1].sha256);
      const report = await set.verify();
      expect(report.shards.find((s) => s.name === shard)?.error?.code).toBe("HTTP_ERROR");
    } finally {
      await set.close();
    }
  });

  test("an unsafe shard name is SET_INVALID when the index is read: no shard is asked for", async () => {
    const index = url("sets/invalid/shard-parent-folder/model.ndp.index.json");
    const { entries } = await nginx.requests(() => failure(() => openSetUrl(index), "SET_INVALID"));
    expect(entries.map((e) => e.uri)).toEqual([new URL(index).pathname]);
  });

  test("the core's openUrl of a set's index is INVALID_ARGUMENT naming openSetUrl, before any request", async () => {
    const index = url("hf/model.safetensors.index.json");
    const { result: error, entries } = await nginx.requests(() => failure(() => openUrl(`${index}?token=secret`), "INVALID_ARGUMENT"));
    expect(error.message).toContain("openSetUrl of ndpack/sets");
    expect(error.message).not.toContain("secret");
    expect(entries).toEqual([]);
  });
});

describe("the command line on a set over HTTP", () => {
  test("inspect lists the checkpoint's shards and tensors; verify of a set with a missing shard exits 2 with one line (HTTP_ERROR 404)", async () => {
    await requireBuiltCli();
    const inspect = await runCli(["inspect", "--json", url("hf/model.safetensors.index.json")]);
    expect(inspect.code, inspect.stderr).toBe(0);
    const report = JSON.parse(inspect.stdout);
    expect(report.arrays.map((a: { name: string }) => a.name).sort()).toEqual(Object.keys(hf.tensors).sort());
    expect(report.shards).toHaveLength(5);
    cpSync(join(dir, "hf"), join(dir, "hf-cli"), { recursive: true });
    rmSync(join(dir, "hf-cli", hf.tensors["step"]!.shard));
    const verify = await runCli(["verify", url("hf-cli/model.safetensors.index.json")]);
    expect(verify.code, verify.stderr).toBe(2);
    expect(errorLineOf(verify)).toMatch(/\(HTTP_ERROR\)$/);
    expect(verify.stdout).toMatch(new RegExp(`FAIL  shard ${hf.tensors["step"]!.shard.replace(/[.]/g, "\\.")}`));
    // inspect reads every shard's header: the missing one is bad input too.
    const broken = await runCli(["inspect", url("hf-cli/model.safetensors.index.json")]);
    expect(broken.code, broken.stderr).toBe(2);
    expect(errorLineOf(broken)).toMatch(/404.*\(HTTP_ERROR\)$/);
  });
});
