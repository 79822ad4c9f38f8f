/**
 * Files (`ndpack/node`): S4 (lazy read of one array from a 1 GiB file), S5 (save and load of the
 * S1 and S2 data) and issue 3's big files (save of 2 GiB of arrays; createWriter of an 8 GiB file
 * in 64 MiB chunks). Baselines are Node's own file calls on the same bytes. Files live in the run's
 * temporary directory, so reads are served from a warm page cache (the bench never drops the
 * machine's caches).
 *
 * @module
 */
import { existsSync } from "node:fs";
import { open as openFile, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeArrays, ndpackInput, s1Dataset, s2Dataset, type Dataset } from "./core.js";
import {
  bytesReadSoFar,
  fillRandom,
  GiB,
  loadNdpack,
  loadNdpackNode,
  MiB,
  touch,
  Unsupported,
  type BenchConfig,
  type Case,
  type JsCase,
  type NdpackNode,
  type PythonCase,
} from "./harness.js";

/** The file API of `ndpack/node`, or Unsupported while src/node does not export it yet. */
async function fileApi(config: BenchConfig, ...names: (keyof NdpackNode)[]): Promise<NdpackNode> {
  const api = await loadNdpackNode(config);
  for (const name of names) {
    if (typeof (api as Record<string, unknown>)[name] !== "function") throw new Unsupported(`waiting: ndpack/node does not export ${String(name)} yet`);
  }
  return api;
}

// ---------------------------------------------------------------------------------------------
// S4: one array from the middle of a 1 GiB file

const S4_ARRAY_BYTES = 4 * MiB;

export function s4Layout(config: BenchConfig) {
  const count = config.quick ? 16 : 256;
  const names = Array.from({ length: count }, (_, i) => `a.${String(i).padStart(3, "0")}`);
  return { count, names, middle: names[count / 2]!, path: join(config.tmpDir, `s4-${count}x4MiB.ndp`) };
}

/** Writes the S4 file: `count` float32 arrays [1024, 1024]; every array views one 4 MiB block (memory stays small when save writes from the arrays). */
export async function writeS4File(config: BenchConfig): Promise<void> {
  const { names, path } = s4Layout(config);
  if (existsSync(path)) return;
  const block = new Float32Array(S4_ARRAY_BYTES / 4);
  fillRandom(new Uint8Array(block.buffer), 4);
  const arrays: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const name of names) arrays[name] = { data: block, shape: [1024, 1024] };
  const node = await loadNdpackNode(config);
  if (typeof node.save === "function") await node.save(path, arrays, { fsync: false });
  else await writeFile(path, (await loadNdpack(config)).encode(arrays));
}

interface S4State {
  node: NdpackNode;
  path: string;
  middle: string;
  /** Absolute offset and length of the middle array's payload. */
  start: number;
  length: number;
  /** Header + padding: the bytes before the data section. */
  dataStart: number;
  handle?: Awaited<ReturnType<typeof openFile>>;
  reader?: Awaited<ReturnType<NdpackNode["open"]>>;
}

async function s4Setup(config: BenchConfig, openNow: "handle" | "reader" | "none"): Promise<S4State> {
  const node = await fileApi(config, "open");
  const { path, middle } = s4Layout(config);
  const reader = await node.open(path);
  const info = reader.info(middle);
  // The data section starts at the first array's offset.
  const dataStart = reader.info(reader.names[0]!).offset;
  await reader.close();
  const state: S4State = { node, path, middle, start: info.offset, length: info.byteLength, dataStart };
  if (openNow === "handle") state.handle = await openFile(path, "r");
  if (openNow === "reader") state.reader = await node.open(path);
  return state;
}

async function rawPositionedRead(s: S4State, handle: Awaited<ReturnType<typeof openFile>>): Promise<Float32Array> {
  const target = new Uint8Array(s.length);
  let done = 0;
  while (done < s.length) {
    const { bytesRead } = await handle.read(target, done, s.length - done, s.start + done);
    if (bytesRead === 0) throw new Error("short read");
    done += bytesRead;
  }
  return new Float32Array(target.buffer);
}

/**
 * Bytes read by one call of `fn`, from /proc/self/io (independent of the library's own count), less
 * what reading /proc/self/io itself counts. rchar counts every read of the process, so the least of
 * three calls is taken: another read that happens to fall inside one call (a pipe, a lazily loaded
 * file) is not the library's.
 */
export async function bytesReadBy(fn: () => Promise<unknown>): Promise<number> {
  let least = Infinity;
  for (let i = 0; i < 3; i++) {
    const idle = -bytesReadSoFar() + bytesReadSoFar();
    const before = bytesReadSoFar();
    await fn();
    least = Math.min(least, bytesReadSoFar() - before - idle);
  }
  return least;
}

export const S4 = {
  step: "read one 4 MiB array from the middle",
  raw: "S4/read one 4 MiB array from the middle/raw: open + positioned read + close",
  ndpack: "S4/read one 4 MiB array from the middle/ndpack open + read + close",
};

function s4Cases(config: BenchConfig): Case[] {
  const prepare = { key: "s4-file", run: writeS4File };
  const step = S4.step;
  const note = `S4: a ${config.quick ? "64 MiB file of 16" : "1 GiB file of 256"} float32 arrays of 4 MiB, in the page cache (written just before). Bytes read: /proc/self/io rchar around one call.`;
  const base = { kind: "js", scenario: "S4", step, bytes: S4_ARRAY_BYTES, prepare, note } as const;
  const cases: JsCase<S4State>[] = [
    {
      ...base,
      lib: "raw: open + positioned read + close",
      role: "baseline",
      setup: (c) => s4Setup(c, "none"),
      async run(s) {
        const handle = await openFile(s.path, "r");
        try {
          return touch([await rawPositionedRead(s, handle)]);
        } finally {
          await handle.close();
        }
      },
      async extra(s) {
        const bytesRead = await bytesReadBy(async () => {
          const handle = await openFile(s.path, "r");
          touch([await rawPositionedRead(s, handle)]);
          await handle.close();
        });
        return { bytesRead };
      },
    },
    {
      ...base,
      lib: "raw: positioned read on an open handle",
      role: "baseline",
      setup: (c) => s4Setup(c, "handle"),
      run: async (s) => touch([await rawPositionedRead(s, s.handle!)]),
      teardown: (s) => s.handle!.close(),
    },
    {
      ...base,
      lib: "ndpack open + read + close",
      role: "ndpack",
      setup: (c) => s4Setup(c, "none"),
      async run(s) {
        const reader = await s.node.open(s.path);
        try {
          return touch([(await reader.read(s.middle)).data]);
        } finally {
          await reader.close();
        }
      },
      async extra(s) {
        let own = 0;
        const bytesRead = await bytesReadBy(async () => {
          const reader = await s.node.open(s.path);
          touch([(await reader.read(s.middle)).data]);
          own = reader.bytesRead;
          await reader.close();
        });
        return { bytesRead, readerBytesRead: own, allowedBytes: s.dataStart + s.length + 4096 };
      },
    },
    {
      ...base,
      lib: "ndpack read on an open reader",
      role: "ndpack",
      setup: (c) => s4Setup(c, "reader"),
      run: async (s) => touch([(await s.reader!.read(s.middle)).data]),
      teardown: (s) => s.reader!.close(),
    },
    {
      ...base,
      lib: "ndpack open + read (verify: true) + close",
      role: "ndpack",
      setup: (c) => s4Setup(c, "none"),
      async run(s) {
        const reader = await s.node.open(s.path);
        try {
          return touch([(await reader.read(s.middle, { verify: true })).data]);
        } finally {
          await reader.close();
        }
      },
    },
  ];
  const { middle } = s4Layout(config);
  const py: PythonCase[] = [
    {
      kind: "python",
      scenario: "S4",
      step,
      lib: "safetensors safe_open + get_tensor (py)",
      role: "python",
      bytes: S4_ARRAY_BYTES,
      note: "safetensors (py): safe_open + get_tensor of the same array from a .safetensors file of the same arrays (mmap).",
      args: ["--op", "lazy-safetensors", "--file", join(config.tmpDir, "s4.safetensors"), "--name", middle],
      async prepare(c) {
        const { spawnSync } = await import("node:child_process");
        const { count } = s4Layout(c);
        const code = `import numpy as np\nfrom safetensors.numpy import save_file\nb = np.random.default_rng(4).random((1024, 1024), dtype=np.float32)\nsave_file({f"a.{i:03d}": b for i in range(${count})}, ${JSON.stringify(join(c.tmpDir, "s4.safetensors"))})\n`;
        if (!existsSync(join(c.tmpDir, "s4.safetensors"))) spawnSync("python3", ["-c", code], { stdio: "inherit" });
      },
    },
  ];
  return [...cases, ...py];
}

// ---------------------------------------------------------------------------------------------
// S5: save and load of S1 and S2 data

export const S5 = {
  writeFile: "fs.writeFile",
  writeFileSync: "fs.writeFile + fsync",
  save: "ndpack save",
  saveNoSync: "ndpack save (fsync: false)",
  readFile: "fs.readFile",
  load: "ndpack load",
  id: (step: string, lib: string) => `S5/${step}/${lib}`,
};

interface S5State {
  node: NdpackNode;
  input: ReturnType<typeof ndpackInput>;
  bytes: Uint8Array;
  names: string[];
  path: string;
}

async function s5Setup(config: BenchConfig, ds: Dataset, needApi: boolean, kind: string): Promise<S5State> {
  const node = needApi ? await fileApi(config, "save", "load") : await loadNdpackNode(config);
  const input = ndpackInput(makeArrays(ds));
  const bytes = node.encode(input);
  const path = join(config.tmpDir, `s5-${ds.id}-${kind}.ndp`);
  await writeFile(path, bytes);
  return { node, input, bytes, names: ds.arrays.map((a) => a.name), path };
}

async function writeFileSynced(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await openFile(path, "w");
  try {
    let done = 0;
    while (done < bytes.length) done += (await handle.write(bytes, done, Math.min(bytes.length - done, 1 << 30))).bytesWritten;
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function s5Cases(config: BenchConfig): Case[] {
  const cases: Case[] = [];
  for (const ds of [s1Dataset(config), s2Dataset(config)]) {
    const save = `save ${ds.id}`;
    const load = `load ${ds.id}`;
    const base = { kind: "js", scenario: "S5", bytes: ds.bytes } as const;
    const note = "S5: files in the run's temporary directory (page cache; writes return before the disk has them unless fsynced). fs.writeFile/readFile get the same bytes ndpack writes. ndpack save is atomic (temporary file + rename) and, by default, fsyncs the file and its directory.";
    const saveCases: JsCase<S5State>[] = [
      { ...base, step: save, lib: S5.writeFile, role: "baseline", note, setup: (c) => s5Setup(c, ds, false, "raw"), run: (s) => writeFile(s.path, s.bytes) },
      { ...base, step: save, lib: S5.writeFileSync, role: "baseline", setup: (c) => s5Setup(c, ds, false, "rawsync"), run: (s) => writeFileSynced(s.path, s.bytes) },
      { ...base, step: save, lib: S5.save, role: "ndpack", setup: (c) => s5Setup(c, ds, true, "save"), run: (s) => s.node.save(s.path, s.input) },
      { ...base, step: save, lib: S5.saveNoSync, role: "ndpack", setup: (c) => s5Setup(c, ds, true, "savenosync"), run: (s) => s.node.save(s.path, s.input, { fsync: false }) },
    ];
    const loadCases: JsCase<S5State>[] = [
      { ...base, step: load, lib: S5.readFile, role: "baseline", setup: (c) => s5Setup(c, ds, false, "read"), run: async (s) => (await readFile(s.path)).length },
      {
        ...base,
        step: load,
        lib: S5.load,
        role: "ndpack",
        setup: (c) => s5Setup(c, ds, true, "load"),
        async run(s) {
          const file = await s.node.load(s.path);
          const views = [];
          for (const name of s.names) views.push(file.get(name).data);
          return touch(views);
        },
      },
    ];
    cases.push(...saveCases, ...loadCases);
    const spec = join(config.tmpDir, `${ds.id}${config.quick ? ".quick" : ""}.spec.json`);
    const pyFile = (lib: string, op: string, file: string): PythonCase[] =>
      (["save", "load"] as const).map((what) => ({
        kind: "python",
        scenario: "S5",
        step: `${what} ${ds.id}`,
        lib,
        role: "python",
        bytes: ds.bytes,
        note: "Python (py): np.save/np.load, np.savez/np.load (every member), safetensors save_file/load_file, on the same temporary directory.",
        args: ["--op", `${op}-${what}`, "--spec", spec, "--file", join(config.tmpDir, file)],
        prepare: async (c) => void (await import("./core.js")).writeSpec(ds, c),
      }));
    if (ds.id === "S1") cases.push(...pyFile("numpy np.save/np.load (py)", "npyfile", "s5.npy"));
    cases.push(...pyFile("numpy np.savez (py)", "npzfile", `s5-${ds.id}.npz`), ...pyFile("safetensors (py)", "stfile", `s5-${ds.id}.safetensors`));
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Issue 3: save of 2 GiB; createWriter of an 8 GiB file in 64 MiB chunks

export const F3 = {
  save2g: {
    step: "save 2 GiB of arrays",
    writeFile: "F3/save 2 GiB of arrays/fs.writeFile",
    save: "F3/save 2 GiB of arrays/ndpack save",
    saveNoSync: "F3/save 2 GiB of arrays/ndpack save (fsync: false)",
  },
  writer8g: {
    step: "write an 8 GiB file in 64 MiB chunks",
    raw: "F3/write an 8 GiB file in 64 MiB chunks/raw: FileHandle.write of each chunk",
    ndpack: "F3/write an 8 GiB file in 64 MiB chunks/ndpack createWriter",
  },
};

interface BigState {
  node: NdpackNode;
  arrays: Record<string, { data: Float32Array; shape: number[] }>;
  bytes?: Uint8Array;
  path: string;
}

/** 2 GiB as 8 float32 arrays of 256 MiB (random, so no run of zeros becomes a hole). */
async function bigSetup(config: BenchConfig, needApi: boolean, contiguous: boolean, tag: string): Promise<BigState> {
  const node = needApi ? await fileApi(config, "save") : await loadNdpackNode(config);
  const total = config.quick ? 256 * MiB : 2 * GiB;
  const count = 8;
  const arrays: BigState["arrays"] = {};
  const path = join(config.tmpDir, `f3-${tag}.ndp`);
  if (contiguous) {
    // The same bytes as one buffer, for fs.writeFile.
    const bytes = fillRandom(new Uint8Array(total), 9);
    return { node, arrays, bytes, path };
  }
  for (let i = 0; i < count; i++) {
    const data = new Float32Array(total / count / 4);
    fillRandom(new Uint8Array(data.buffer), 9 + i);
    arrays[`w${i}`] = { data, shape: [data.length] };
  }
  return { node, arrays, path };
}

function f3Cases(config: BenchConfig): Case[] {
  const save = F3.save2g.step;
  const bytes = config.quick ? 256 * MiB : 2 * GiB;
  const note = "F3: peak RSS includes the arrays themselves (2 GiB); issue 3 allows 1.1 x their size + 64 MiB. The files go to the temporary directory and are deleted after each case.";
  const runs = Math.min(config.runs, 3);
  const saveCases: JsCase<BigState>[] = [
    {
      kind: "js",
      scenario: "F3",
      step: save,
      lib: "fs.writeFile",
      role: "baseline",
      bytes,
      note,
      runs,
      setup: (c) => bigSetup(c, false, true, "raw"),
      run: (s) => writeFile(s.path, s.bytes!),
      teardown: (s) => rm(s.path, { force: true }),
    },
    { kind: "js", scenario: "F3", step: save, lib: "ndpack save", role: "ndpack", bytes, runs, setup: (c) => bigSetup(c, true, false, "save"), run: (s) => s.node.save(s.path, s.arrays), teardown: (s) => rm(s.path, { force: true }) },
    {
      kind: "js",
      scenario: "F3",
      step: save,
      lib: "ndpack save (fsync: false)",
      role: "ndpack",
      bytes,
      runs,
      setup: (c) => bigSetup(c, true, false, "savenosync"),
      run: (s) => s.node.save(s.path, s.arrays, { fsync: false }),
      teardown: (s) => rm(s.path, { force: true }),
    },
  ];
  const writerBytes = config.quick ? 512 * MiB : 8 * GiB;
  const chunk = 64 * MiB;
  const writerStep = F3.writer8g.step;
  const writerCases: JsCase<{ node?: NdpackNode; chunk: Uint8Array; path: string }>[] = [
    {
      kind: "js",
      scenario: "F3",
      step: writerStep,
      lib: "raw: FileHandle.write of each chunk",
      role: "baseline",
      bytes: writerBytes,
      note: `F3 writer: ${writerBytes / GiB} GiB written as ${writerBytes / chunk} chunks of 64 MiB (one random chunk, reused); no warm-up, ${Math.min(config.runs, 2)} samples. createWriter runs with fsync: false, like the raw writes (its default fsyncs on close).`,
      runs: Math.min(config.runs, 2),
      warmup: 0,
      setup: (c) => ({ chunk: fillRandom(new Uint8Array(chunk), 10), path: join(c.tmpDir, "f3-writer-raw.bin") }),
      async run(s) {
        const handle = await openFile(s.path, "w");
        try {
          for (let at = 0; at < writerBytes; at += chunk) await handle.write(s.chunk, 0, chunk, at);
        } finally {
          await handle.close();
        }
      },
      teardown: (s) => rm(s.path, { force: true }),
    },
    {
      kind: "js",
      scenario: "F3",
      step: writerStep,
      lib: "ndpack createWriter",
      role: "ndpack",
      bytes: writerBytes,
      runs: Math.min(config.runs, 2),
      warmup: 0,
      async setup(c) {
        const node = await fileApi(c, "createWriter");
        return { node, chunk: fillRandom(new Uint8Array(chunk), 10), path: join(c.tmpDir, "f3-writer.ndp") };
      },
      async run(s) {
        // One float32 array of writerBytes, declared up front, its bytes written 64 MiB at a time.
        const writer = await s.node!.createWriter(s.path, [{ name: "big", dtype: "float32", shape: [writerBytes / chunk, chunk / 4] }], { fsync: false });
        for (let at = 0; at < writerBytes; at += chunk) await writer.write("big", s.chunk);
        await writer.close();
      },
      teardown: (s) => rm(s.path, { force: true }),
    },
  ];
  return [...saveCases, ...writerCases];
}

export function fileCases(config: BenchConfig): Case[] {
  return [...s4Cases(config), ...s5Cases(config), ...f3Cases(config)];
}
