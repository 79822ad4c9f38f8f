/**
 * Sharded sets (issue 11): one array read from a 16-shard, 4 GiB set against the same array read
 * from one .ndp file of the same arrays (time, and bytes read: index + one shard header + the array
 * + one page at most); `saveSet` of 1 GiB in 16 shards against `save` of the same arrays to one
 * file. Files live in the run's temporary directory (page cache).
 *
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { bytesReadSoFar, fillRandom, GiB, loadNdpackNode, MiB, touch, Unsupported, type BenchConfig, type Case, type JsCase, type NdpackNode } from "./harness.js";

/** The set API of `ndpack/node`, or Unsupported while it is not there. */
async function setApi(config: BenchConfig, ...names: (keyof NdpackNode)[]): Promise<NdpackNode> {
  const api = await loadNdpackNode(config);
  for (const name of names) if (typeof (api as Record<string, unknown>)[name] !== "function") throw new Unsupported(`waiting: ndpack/node does not export ${String(name)} yet`);
  return api;
}

const ARRAY_BYTES = 4 * MiB;
const SHARDS = 16;

function layout(config: BenchConfig) {
  const total = config.quick ? 256 * MiB : 4 * GiB;
  const count = total / ARRAY_BYTES;
  const names = Array.from({ length: count }, (_, i) => `layers.${String(i).padStart(4, "0")}.weight`);
  return {
    total,
    names,
    // An array in the middle of a middle shard.
    middle: names[Math.floor(count / 2) + Math.floor(count / SHARDS / 2)]!,
    folder: join(config.tmpDir, `sets-${SHARDS}x${total / SHARDS / MiB}MiB`),
    single: join(config.tmpDir, `sets-single-${total / MiB}MiB.ndp`),
  };
}

/** The arrays of the read cases: every one views the same 4 MiB block, so that writing them takes little memory. */
function arraysOf(names: readonly string[], seed: number): Record<string, { data: Float32Array; shape: number[] }> {
  const block = new Float32Array(ARRAY_BYTES / 4);
  fillRandom(new Uint8Array(block.buffer), seed);
  return Object.fromEntries(names.map((name) => [name, { data: block, shape: [1024, 1024] }]));
}

async function writeReadFiles(config: BenchConfig): Promise<void> {
  const { total, names, folder, single } = layout(config);
  const node = await setApi(config, "saveSet", "save");
  const arrays = arraysOf(names, 11);
  if (!existsSync(join(folder, "model.ndp.index.json"))) await node.saveSet(folder, arrays, { maxShardBytes: total / SHARDS, fsync: false });
  if (!existsSync(single)) await node.save(single, arrays, { fsync: false });
}

/** Bytes read by one call of `fn` (/proc/self/io rchar; the least of three calls, less what reading rchar costs). */
async function bytesReadBy(fn: () => Promise<unknown>): Promise<number> {
  let least = Infinity;
  for (let i = 0; i < 3; i++) {
    const idle = -bytesReadSoFar() + bytesReadSoFar();
    const before = bytesReadSoFar();
    await fn();
    least = Math.min(least, bytesReadSoFar() - before - idle);
  }
  return least;
}

interface ReadState {
  node: NdpackNode;
  path: string;
  middle: string;
}

/** Opens the file or set, reads the array, closes; returns the reader's own count of bytes read. */
async function readOnce(s: ReadState): Promise<number> {
  const reader = await s.node.open(s.path);
  try {
    touch([(await reader.read(s.middle)).data]);
    return reader.bytesRead;
  } finally {
    await reader.close();
  }
}

export const SETS = {
  read: "read one 4 MiB array (16-shard set vs one file)",
  single: "one .ndp: open + read + close",
  set: "set: open index + read + close",
  save: "save 1 GiB of arrays (16 shards vs one file)",
  saveOne: "save to one file",
  saveSet: "saveSet, 16 shards",
  id: (step: string, lib: string) => `sets/${step}/${lib}`,
};

/** The header of the shard holding `name` (its data section start: preamble, header and padding). */
async function shardHeaderBytes(node: NdpackNode, indexPath: string, name: string): Promise<number> {
  const set = await node.open(indexPath);
  try {
    await set.read(name);
    const shard = (set as unknown as { index: { shardOf: Map<string, { name: string }> } }).index.shardOf.get(name)!;
    const reader = await node.open(join(indexPath, "..", shard.name));
    try {
      return reader.info(reader.names[0]!).offset;
    } finally {
      await reader.close();
    }
  } finally {
    await set.close();
  }
}

function readCases(config: BenchConfig): Case[] {
  const prepare = { key: "sets-read-files", run: writeReadFiles };
  const { folder, single, middle, total } = layout(config);
  const note = `sets: ${total / GiB >= 1 ? `${total / GiB} GiB` : `${total / MiB} MiB`} of float32 arrays of 4 MiB, as ${SHARDS} shards with one index, and as one .ndp file; page cache. Bytes read: /proc/self/io rchar around one call; allowed: index + the shard's header + the array (with its CRC) + 4 KiB.`;
  const base = { kind: "js", scenario: "sets", step: SETS.read, bytes: ARRAY_BYTES, prepare, note } as const;
  const cases: JsCase<ReadState>[] = [
    {
      ...base,
      lib: SETS.single,
      role: "baseline",
      setup: async (c) => ({ node: await setApi(c, "open"), path: single, middle }),
      run: (s) => readOnce(s),
      extra: async (s) => ({ bytesRead: await bytesReadBy(() => readOnce(s)) }),
    },
    {
      ...base,
      lib: SETS.set,
      role: "ndpack",
      setup: async (c) => ({ node: await setApi(c, "open", "saveSet"), path: join(folder, "model.ndp.index.json"), middle }),
      run: (s) => readOnce(s),
      async extra(s) {
        let own = 0;
        const bytesRead = await bytesReadBy(async () => {
          own = await readOnce(s);
        });
        const indexBytes = statSync(s.path).size;
        const header = await shardHeaderBytes(s.node, s.path, s.middle);
        return { bytesRead, readerBytesRead: own, indexBytes, shardHeaderBytes: header, allowedBytes: indexBytes + header + ARRAY_BYTES + 4 + 4096 };
      },
    },
  ];
  return cases;
}

interface SaveState {
  node: NdpackNode;
  arrays: Record<string, { data: Float32Array; shape: number[] }>;
  target: string;
}

function saveCases(config: BenchConfig): Case[] {
  const total = config.quick ? 128 * MiB : 1 * GiB;
  const count = 64;
  const setup = async (c: BenchConfig, target: string): Promise<SaveState> => {
    const node = await setApi(c, "save", "saveSet");
    const arrays: SaveState["arrays"] = {};
    for (let i = 0; i < count; i++) {
      const data = new Float32Array(total / count / 4);
      fillRandom(new Uint8Array(data.buffer), 100 + i);
      arrays[`w${String(i).padStart(2, "0")}`] = { data, shape: [data.length] };
    }
    return { node, arrays, target: join(c.tmpDir, target) };
  };
  const base = {
    kind: "js",
    scenario: "sets",
    step: SETS.save,
    bytes: total,
    runs: Math.min(config.runs, 5),
    note: `sets save: ${total / MiB} MiB as ${count} random float32 arrays; saveSet with maxShardBytes ${total / SHARDS / MiB} MiB (${SHARDS} shards, each fsynced and renamed, then the index); save with its default fsync too.`,
  } as const;
  const cases: JsCase<SaveState>[] = [
    { ...base, lib: SETS.saveOne, role: "baseline", setup: (c) => setup(c, "sets-save-one.ndp"), run: (s) => s.node.save(s.target, s.arrays), teardown: (s) => rm(s.target, { force: true }) },
    {
      ...base,
      lib: SETS.saveSet,
      role: "ndpack",
      setup: (c) => setup(c, "sets-save-set"),
      run: (s) => s.node.saveSet(s.target, s.arrays, { maxShardBytes: total / SHARDS }),
      async check(s) {
        const files = await readdir(s.target);
        if (files.length !== SHARDS + 1) throw new Error(`saveSet left ${files.length} files, expected ${SHARDS} shards and the index`);
      },
      teardown: (s) => rm(s.target, { recursive: true, force: true }),
    },
  ];
  return cases;
}

export function setCases(config: BenchConfig): Case[] {
  return [...readCases(config), ...saveCases(config)];
}
