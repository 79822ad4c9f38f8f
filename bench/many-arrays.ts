/**
 * Issue 16: a file of 1,000,000 empty arrays (a 100 MB header; ten times the default maxArrays,
 * read with `{ maxArrays: 1e6, maxHeaderNodes: 1e7, maxHeaderBytes: 2^27 }`): time and peak memory
 * of `open`, `open` + `verify`, and `inspect`'s work (open and list every array's info), against
 * `JSON.parse` of the same header text. And the CLI's `inspect` and `verify` of a file at the
 * default maxArrays (100,000 arrays), as a user runs them (a fresh process each).
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { loadNdpackNode, MiB, type BenchConfig, type Case, type JsCase, type NdpackNode } from "./harness.js";

export const MANY = {
  scenario: "M",
  million: "1,000,000 empty arrays (limits raised), warm",
  cli: "ndpack CLI on 100,000 empty arrays (the default maxArrays), fresh process",
};

const LIMITS = { maxArrays: 1_000_000, maxHeaderNodes: 10_000_000, maxHeaderBytes: 128 * MiB };

/** A valid .ndp of `count` empty uint8 arrays, checksum none, alignment 8; header built by hand. */
function manyArraysFile(path: string, count: number): void {
  if (existsSync(path)) return;
  const entries = new Array<string>(count);
  for (let i = 0; i < count; i++) entries[i] = `{"name":"${i.toString(36)}","dtype":"uint8","shape":[0],"order":"C","byteOrder":"little","offset":0,"byteLength":0}`;
  const text = Buffer.from(`{"alignment":8,"checksum":"none","dataLength":0,"metadata":{},"arrays":[${entries.join(",")}]}`);
  const header = Buffer.concat([text, Buffer.alloc((8 - ((20 + text.length) % 8)) % 8, 0x20)]);
  const preamble = Buffer.alloc(20);
  Buffer.from([0x89, 0x4e, 0x44, 0x50, 0x0d, 0x0a, 0x1a, 0x0a]).copy(preamble);
  preamble.writeUInt16LE(1, 8);
  preamble.writeUInt32LE(header.length, 12);
  preamble.writeUInt32LE(crc32(header, crc32(preamble.subarray(8, 16))), 16);
  writeFileSync(path, Buffer.concat([preamble, header]));
}

interface ManyState {
  node: NdpackNode;
  path: string;
}

export function manyArraysCases(config: BenchConfig): Case[] {
  const million = join(config.tmpDir, "many-1000000.ndp");
  const hundredThousand = join(config.tmpDir, "many-100000.ndp");
  const prepare = {
    key: "many-arrays",
    run: async (c: BenchConfig) => {
      mkdirSync(c.tmpDir, { recursive: true });
      manyArraysFile(million, 1_000_000);
      manyArraysFile(hundredThousand, 100_000);
    },
  };
  const note = "M: one sample is one call; a full GC before each. Peak RSS is the case's process (its setup included).";
  const base = { kind: "js", scenario: MANY.scenario, step: MANY.million, bytes: 0, note, prepare, runs: config.quick ? 2 : 5, warmup: 1 } as const;
  const setup = async (c: BenchConfig): Promise<ManyState> => ({ node: await loadNdpackNode(c), path: million });
  const cli = join(config.buildDir, "cli", "main.js");
  const runCli = (command: string) => () => {
    const result = spawnSync(process.execPath, [cli, command, hundredThousand], { stdio: ["ignore", "ignore", "pipe"] });
    if (result.status !== 0) throw new Error(`ndpack ${command} failed: ${result.stderr}`);
    return result.status;
  };
  const cases: JsCase<ManyState>[] = [
    { ...base, lib: "JSON.parse of the header text (baseline)", role: "baseline", setup, run: async (s) => (JSON.parse((await readFile(s.path)).subarray(20).toString("utf8")) as { arrays: unknown[] }).arrays.length },
    { ...base, lib: "ndpack open + close", role: "ndpack", setup, run: async (s) => {
      const reader = await s.node.open(s.path, LIMITS);
      await reader.close();
      return reader.names.length;
    } },
    { ...base, lib: "ndpack open + verify + close", role: "ndpack", setup, run: async (s) => {
      const reader = await s.node.open(s.path, LIMITS);
      const report = await reader.verify();
      await reader.close();
      if (!report.ok) throw new Error("verify failed");
      return report.arrays.length;
    } },
    { ...base, lib: "ndpack open + info of every array (inspect's work) + close", role: "ndpack", setup, run: async (s) => {
      const reader = await s.node.open(s.path, LIMITS);
      let total = 0;
      for (const name of reader.names) total += reader.info(name).shape.length;
      await reader.close();
      return total;
    } },
    { ...base, step: MANY.cli, lib: "ndpack inspect (child process; its time only, the RSS shown is the parent's)", role: "ndpack", setup, run: runCli("inspect") },
    { ...base, step: MANY.cli, lib: "ndpack verify (child process; its time only, the RSS shown is the parent's)", role: "ndpack", setup, run: runCli("verify") },
  ];
  return cases;
}
