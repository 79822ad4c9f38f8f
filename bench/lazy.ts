/**
 * Issue 10 (one lazy reader for every format) and issue 12 (reads verify by default): one 4 MiB
 * array read through `open` from a 1 GiB .ndp, .safetensors and stored .npz file (the S4 arrays),
 * warm and as the first call in a fresh process, with a full GC before every timed call, against
 * an fs.promises open + read + close of the same bytes; and `load`/`read` with `verify: false`
 * against the default. Files live in the run's temporary directory, in the page cache.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { open as openFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { loadFastCrc32 } from "../src/runtime.js";
import { s4Layout, writeS4File } from "./files.js";
import { loadNdpackNode, MiB, touch, type BenchConfig, type Case, type JsCase, type NdpackNode } from "./harness.js";

const ARRAY_BYTES = 4 * MiB;

export const LAZY = {
  scenario: "L",
  ndpWarm: "one 4 MiB array of a 1 GiB .ndp (warm, full GC before each call)",
  ndpCold: "one 4 MiB array of a 1 GiB .ndp (first call in a fresh process)",
  safetensors: "one 4 MiB array of a 1 GiB .safetensors (warm, full GC before each call)",
  npz: "one 4 MiB array of a 1 GiB stored .npz (warm, full GC before each call)",
  load: "load of the whole 1 GiB .ndp",
};

/** The S4 file converted by the package's own command line (memory-bounded) to `extension`. */
function convertedPath(config: BenchConfig, extension: string): string {
  return s4Layout(config).path.replace(/\.ndp$/, extension);
}

async function writeConverted(config: BenchConfig, extension: string): Promise<void> {
  await writeS4File(config);
  const target = convertedPath(config, extension);
  if (existsSync(target)) return;
  const cli = join(config.buildDir, "cli", "main.js");
  const result = spawnSync(process.execPath, [cli, "convert", s4Layout(config).path, target], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`converting to ${extension} failed: ${result.stderr}`);
}

/** Where an array's bytes are in a file, read with plain fs (no ndpack code runs: first calls stay cold). */
async function ndpackRange(path: string, name: string): Promise<{ offset: number; length: number }> {
  const handle = await openFile(path, "r");
  try {
    const preamble = new Uint8Array(20);
    await handle.read(preamble, 0, 20, 0);
    const headerLength = new DataView(preamble.buffer).getUint32(12, true);
    const text = new Uint8Array(headerLength);
    await handle.read(text, 0, headerLength, 20);
    const header = JSON.parse(new TextDecoder().decode(text)) as { alignment: number; arrays: { name: string; offset: number; byteLength: number }[] };
    const dataStart = Math.ceil((20 + headerLength) / header.alignment) * header.alignment;
    const entry = header.arrays.find((a) => a.name === name)!;
    return { offset: dataStart + entry.offset, length: entry.byteLength };
  } finally {
    await handle.close();
  }
}

interface LazyState {
  node: NdpackNode;
  path: string;
  name: string;
  offset: number;
  length: number;
  reader?: Awaited<ReturnType<NdpackNode["open"]>>;
}

async function rawRead(s: LazyState): Promise<number> {
  const handle = await openFile(s.path, "r");
  try {
    const target = new Uint8Array(s.length);
    let done = 0;
    while (done < s.length) {
      const { bytesRead } = await handle.read(target, done, s.length - done, s.offset + done);
      if (bytesRead === 0) throw new Error("short read");
      done += bytesRead;
    }
    return touch([new Float32Array(target.buffer)]);
  } finally {
    await handle.close();
  }
}

/**
 * Peers of the raw baseline that say where ndpack's time goes: the same read into memory that is
 * not zeroed first (as `fs.readFile` allocates, and as ndpack's file reads do: zeroed memory of a
 * few MiB comes fresh from the OS and the read pays a page fault per page), and that read followed
 * by the fastest CRC-32 of the bytes Node has (the one ndpack uses once loaded), the least any read
 * that verifies a checksum can cost.
 */
async function rawReadUnzeroed(s: LazyState, crc: boolean): Promise<number> {
  const handle = await openFile(s.path, "r");
  try {
    const unzeroed = Buffer.allocUnsafeSlow(s.length);
    const target = new Uint8Array(unzeroed.buffer, unzeroed.byteOffset, s.length);
    let done = 0;
    while (done < s.length) {
      const { bytesRead } = await handle.read(target, done, s.length - done, s.offset + done);
      if (bytesRead === 0) throw new Error("short read");
      done += bytesRead;
    }
    return touch([new Float32Array(target.buffer)]) + (crc ? fastCrc32(target, 0) : 0);
  } finally {
    await handle.close();
  }
}

async function lazyRead(s: LazyState, verify?: boolean): Promise<number> {
  const reader = await s.node.open(s.path);
  try {
    return touch([(await reader.read(s.name, verify === undefined ? {} : { verify })).data]);
  } finally {
    await reader.close();
  }
}

const UNZEROED = "raw, into memory not zeroed first (Buffer.allocUnsafeSlow, as fs.readFile)";
const UNZEROED_CRC = "raw, not zeroed, + @node-rs/crc32 of the bytes (the floor of a verified read)";

const fastCrc32 = loadFastCrc32() ?? ((): never => {
  throw new Error("@node-rs/crc32 is not installed");
})();

export function lazyCases(config: BenchConfig): Case[] {
  const { middle, path } = s4Layout(config);
  const prepareNdp = { key: "s4-file", run: writeS4File };
  const size = config.quick ? "64 MiB" : "1 GiB";
  const note = `L: the S4 file (${size} of float32 arrays of 4 MiB) and its conversions by \`ndpack convert\`, in the page cache. Warm rows: a full GC before every timed call, one call per sample. First-call rows: one call in a fresh process (one sample).`;
  const base = { kind: "js", scenario: LAZY.scenario, bytes: ARRAY_BYTES, note } as const;
  // Offsets from plain fs for .ndp, from the reader (after its own first call) for the others.
  const ndpState = async (c: BenchConfig): Promise<LazyState> => ({ node: await loadNdpackNode(c), path, name: middle, ...(await ndpackRange(path, middle)) });
  const foreignState = (extension: string) => async (c: BenchConfig): Promise<LazyState> => {
    const node = await loadNdpackNode(c);
    const file = convertedPath(c, extension);
    const reader = await node.open(file);
    const info = reader.info(middle);
    await reader.close();
    return { node, path: file, name: middle, offset: info.offset, length: info.byteLength };
  };
  const cold = { runs: 1, warmup: 0 } as const;
  const cases: JsCase<LazyState>[] = [
    { ...base, step: LAZY.ndpWarm, prepare: prepareNdp, lib: "raw: fs.promises open + read + close", role: "baseline", setup: ndpState, run: rawRead },
    { ...base, step: LAZY.ndpWarm, prepare: prepareNdp, lib: UNZEROED, role: "peer", setup: ndpState, run: (s) => rawReadUnzeroed(s, false) },
    { ...base, step: LAZY.ndpWarm, prepare: prepareNdp, lib: UNZEROED_CRC, role: "peer", setup: ndpState, run: (s) => rawReadUnzeroed(s, true) },
    { ...base, step: LAZY.ndpWarm, prepare: prepareNdp, lib: "ndpack open + read + close (CRC checked)", role: "ndpack", setup: ndpState, run: (s) => lazyRead(s) },
    { ...base, step: LAZY.ndpWarm, prepare: prepareNdp, lib: "ndpack open + read (verify: false) + close", role: "ndpack", setup: ndpState, run: (s) => lazyRead(s, false) },
    {
      ...base,
      step: LAZY.ndpWarm,
      prepare: prepareNdp,
      lib: "ndpack read on an open reader (CRC checked)",
      role: "ndpack",
      setup: async (c) => {
        const s = await ndpState(c);
        s.reader = await s.node.open(s.path);
        return s;
      },
      run: async (s) => touch([(await s.reader!.read(s.name)).data]),
      teardown: (s) => s.reader!.close(),
    },
    { ...base, ...cold, step: LAZY.ndpCold, prepare: prepareNdp, lib: "raw: fs.promises open + read + close", role: "baseline", setup: ndpState, run: rawRead },
    { ...base, ...cold, step: LAZY.ndpCold, prepare: prepareNdp, lib: UNZEROED, role: "peer", setup: ndpState, run: (s) => rawReadUnzeroed(s, false) },
    { ...base, ...cold, step: LAZY.ndpCold, prepare: prepareNdp, lib: UNZEROED_CRC, role: "peer", setup: ndpState, run: (s) => rawReadUnzeroed(s, true) },
    { ...base, ...cold, step: LAZY.ndpCold, prepare: prepareNdp, lib: "ndpack open + read + close (CRC checked)", role: "ndpack", setup: ndpState, run: (s) => lazyRead(s) },
    { ...base, ...cold, step: LAZY.ndpCold, prepare: prepareNdp, lib: "ndpack open + read (verify: false) + close", role: "ndpack", setup: ndpState, run: (s) => lazyRead(s, false) },
  ];
  for (const [step, extension] of [[LAZY.safetensors, ".safetensors"], [LAZY.npz, ".npz"]] as const) {
    const prepare = { key: `s4${extension}`, run: (c: BenchConfig) => writeConverted(c, extension) };
    const setup = foreignState(extension);
    cases.push(
      { ...base, step, prepare, lib: "raw: fs.promises open + read + close", role: "baseline", setup, run: rawRead },
      { ...base, step, prepare, lib: `ndpack open + read + close${extension === ".npz" ? " (member CRC checked)" : ""}`, role: "ndpack", setup, run: (s) => lazyRead(s) },
    );
    if (extension === ".npz") cases.push({ ...base, step, prepare, lib: "ndpack open + read (verify: false) + close", role: "ndpack", setup, run: (s) => lazyRead(s, false) });
  }
  const loadBase = { kind: "js", scenario: LAZY.scenario, step: LAZY.load, bytes: config.quick ? 64 * MiB : 1024 * MiB, note, prepare: prepareNdp, runs: config.quick ? 3 : 5, warmup: 1 } as const;
  const loadState = async (c: BenchConfig) => ({ node: await loadNdpackNode(c), path });
  cases.push(
    { ...loadBase, lib: "raw: fs.promises readFile", role: "baseline", setup: loadState, run: async (s: { path: string }) => (await readFile(s.path)).length } as JsCase<{ node: NdpackNode; path: string }> as never,
    { ...loadBase, lib: "ndpack load (CRCs checked)", role: "ndpack", setup: loadState, run: async (s: { node: NdpackNode; path: string }) => (await s.node.load(s.path)).size } as never,
    { ...loadBase, lib: "ndpack load (verify: false)", role: "ndpack", setup: loadState, run: async (s: { node: NdpackNode; path: string }) => (await s.node.load(s.path, { verify: false })).size } as never,
  );
  return cases;
}
