/**
 * Two writers replacing one set at once take turns for the last step (FORMAT.md §12.4, "Concurrent
 * writers"): the folder ends with the winner's index and only its shards. The lock file's failure
 * modes: a holder that is gone (removed), one that lives (waited for, then IO_ERROR), a lock without
 * an owner (stale after a while), and the lock removed once the writer is done.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { afterAll, describe, expect, test } from "vitest";
import { open, saveSet, type SetReader } from "../src/node/index.js";
import { withLock } from "../src/node/io.js";
import { failure, tempDir } from "./helpers/node-files.js";

const dir = tempDir("ndpack-set-lock-");
afterAll(() => dir.remove());
let counter = 0;

/** Version `v` of a set: 8 arrays of 4 KiB, every value `v`, 2 per shard. */
const version = (v: number) => Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`a${i}`, { data: new Float32Array(1024).fill(v), shape: [1024] }]));
const SHARD = 8192;

async function expectOnlyIndexedShards(folder: string): Promise<number> {
  await using set = (await open(`${folder}/model.ndp.index.json`)) as SetReader;
  expect(readdirSync(folder).sort()).toEqual(["model.ndp.index.json", ...set.index.shards.map((shard) => shard.name)].sort());
  const values = new Set<number>();
  for (const name of set.names) for (const value of (await set.read(name)).data as Float32Array) values.add(value);
  expect(values.size, "every array of one version").toBe(1);
  return [...values][0]!;
}

/** A pid that no process has: a child's, once it has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(child.stdout);
}

describe("two writers of one set", () => {
  test.each([1, 2, 3, 4, 5])("saving at once (round %i): one index, only its shards left, its values", async () => {
    const folder = dir.file(`race-${counter++}`);
    await saveSet(folder, version(0), { maxShardBytes: SHARD, fsync: false });
    await Promise.all([saveSet(folder, version(1), { maxShardBytes: SHARD, fsync: false }), saveSet(folder, version(2), { maxShardBytes: SHARD, fsync: false })]);
    expect([1, 2]).toContain(await expectOnlyIndexedShards(folder));
  });

  test("a set writer (createSetWriter) and saveSet at once: the same", async () => {
    const { createSetWriter } = await import("../src/node/index.js");
    const folder = dir.file(`race-${counter++}`);
    await saveSet(folder, version(0), { maxShardBytes: SHARD, fsync: false });
    const entries = Object.keys(version(0)).map((name) => ({ name, dtype: "float32" as const, shape: [1024] }));
    const writer = await createSetWriter(folder, entries, { maxShardBytes: SHARD, fsync: false });
    for (const { name } of entries) await writer.write(name, new Float32Array(1024).fill(3));
    await Promise.all([writer.close(), saveSet(folder, version(4), { maxShardBytes: SHARD, fsync: false })]);
    expect([3, 4]).toContain(await expectOnlyIndexedShards(folder));
  });
});

describe("the lock file <index>.lock", () => {
  test("removed once the set is saved", async () => {
    const folder = dir.file(`lock-${counter++}`);
    await saveSet(folder, version(1), { fsync: false });
    expect(existsSync(`${folder}/model.ndp.index.json.lock`)).toBe(false);
  });

  test("left by a process of this host that no longer runs: removed, the save goes on", async () => {
    const folder = dir.file(`lock-${counter++}`);
    await saveSet(folder, version(0), { fsync: false });
    writeFileSync(`${folder}/model.ndp.index.json.lock`, `${deadPid()}@${hostname()}`);
    await saveSet(folder, version(1), { maxShardBytes: SHARD, fsync: false });
    expect(await expectOnlyIndexedShards(folder)).toBe(1);
  });

  test("left by a dead process of this host, its owner ending with a newline (a writer in another language): removed at once", async () => {
    const path = dir.file(`newline-${counter++}`);
    writeFileSync(`${path}.lock`, `${deadPid()}@${hostname()}\n`);
    // Within 1 s: an owner not recognized is waited for 10 s (as unowned), past this wait.
    expect(await withLock(path, async () => "ran", 1000)).toBe("ran");
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  test("without an owner (its writer died before filling it): stale once old, waited for while new", async () => {
    const path = dir.file(`unowned-${counter++}`);
    writeFileSync(`${path}.lock`, "");
    await failure(() => withLock(path, async () => "ran", 50), "IO_ERROR");
    const old = (statSync(`${path}.lock`).mtimeMs - 60_000) / 1000;
    utimesSync(`${path}.lock`, old, old);
    expect(await withLock(path, async () => "ran", 50)).toBe("ran");
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  test("stale, with the break file of a breaker that died: waited for while the break file is new, broken once it is over 10 s old", async () => {
    const path = dir.file(`died-breaking-${counter++}`);
    writeFileSync(`${path}.lock`, `${deadPid()}@${hostname()}`);
    writeFileSync(`${path}.lock.break`, `${deadPid()}@${hostname()}`);
    await failure(() => withLock(path, async () => "ran", 50), "IO_ERROR");
    expect(existsSync(`${path}.lock`)).toBe(true);
    const old = (statSync(`${path}.lock.break`).mtimeMs - 60_000) / 1000;
    utimesSync(`${path}.lock.break`, old, old);
    expect(await withLock(path, async () => "ran", 1000)).toBe("ran");
    expect(existsSync(`${path}.lock`)).toBe(false);
    expect(existsSync(`${path}.lock.break`)).toBe(false);
  });

  test("held by a running process: waited for until released", async () => {
    const path = dir.file(`held-${counter++}`);
    const order: string[] = [];
    let release!: () => void;
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const first = withLock(path, async () => {
      order.push("first in");
      entered();
      await new Promise<void>((resolve) => (release = resolve));
      order.push("first out");
    });
    await inside;
    const second = withLock(path, async () => order.push("second"));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(order).toEqual(["first in"]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(["first in", "first out", "second"]);
  });

  test("held by a running process for longer than the wait: IO_ERROR naming the lock and its holder; the lock is kept", async () => {
    const path = dir.file(`held-${counter++}`);
    writeFileSync(`${path}.lock`, `${process.pid}@${hostname()}`);
    const error = await failure(() => withLock(path, async () => "ran", 50), "IO_ERROR");
    expect(error.path).toBe(`${path}.lock`);
    expect(error.message).toContain(`${process.pid}@${hostname()}`);
    expect(existsSync(`${path}.lock`)).toBe(true);
  });

  test("held by a process of another host: not removed (its pid means nothing here)", async () => {
    const path = dir.file(`held-${counter++}`);
    writeFileSync(`${path}.lock`, `${deadPid()}@another-host.invalid`);
    await failure(() => withLock(path, async () => "ran", 50), "IO_ERROR");
    expect(existsSync(`${path}.lock`)).toBe(true);
  });

  test("stale, found by six waiters at once: one breaks it, and they still take turns (no two inside at once)", async () => {
    const path = dir.file(`stale-race-${counter++}`);
    writeFileSync(`${path}.lock`, `${deadPid()}@${hostname()}`);
    let inside = 0;
    let most = 0;
    let done = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        withLock(path, async () => {
          most = Math.max(most, ++inside);
          await new Promise((resolve) => setTimeout(resolve, 5));
          inside--;
          done++;
        }),
      ),
    );
    expect([done, most]).toEqual([6, 1]);
    expect(existsSync(`${path}.lock`)).toBe(false);
    expect(existsSync(`${path}.lock.break`)).toBe(false);
  });

  test("that cannot be read (a directory), old: waited for, then IO_ERROR, not a loop that never ends", async () => {
    const path = dir.file(`unreadable-${counter++}`);
    mkdirSync(`${path}.lock`);
    const old = (statSync(`${path}.lock`).mtimeMs - 60_000) / 1000;
    utimesSync(`${path}.lock`, old, old);
    const error = await failure(() => withLock(path, async () => "ran", 50), "IO_ERROR");
    expect(error.message).toContain("unreadable");
  });

  test("removed when the critical step throws", async () => {
    const path = dir.file(`throws-${counter++}`);
    await expect(withLock(path, async () => { throw new Error("boom"); })).rejects.toThrow("boom");
    expect(existsSync(`${path}.lock`)).toBe(false);
  });
});

describe("a TypeScript and a Python writer of one set at once (the same lock file)", () => {
  test("20 saves by Python while TypeScript saves: one index, only its shards left, every array of one save", async () => {
    const { spawn } = await import("node:child_process");
    const { PYTHON, REPO, requirePython } = await import("./helpers/python-env.js");
    requirePython();
    const folder = dir.file(`python-${counter++}`);
    await saveSet(folder, version(-1), { maxShardBytes: SHARD, fsync: false });
    const python = spawn(PYTHON, ["test/helpers/ndpack-sets.py", "save-loop", `${folder}/model.ndp.index.json`, "20"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    python.stdout.on("data", (chunk: Buffer) => (out += chunk));
    python.stderr.on("data", (chunk: Buffer) => (err += chunk));
    let running = true;
    const exited = new Promise<number | null>((resolve) => python.on("exit", resolve)).finally(() => (running = false));
    // Saves until Python has finished its 20 (at least 20), so that the two overlap whatever Python's start-up takes.
    let round = 100;
    while (running || round < 120) await saveSet(folder, version(round++), { maxShardBytes: SHARD, fsync: false });
    expect(await exited, err).toBe(0);
    expect(out.trim()).toBe("done");
    const value = await expectOnlyIndexedShards(folder);
    // The last save of either writer: TypeScript's, or Python's last (19.5).
    expect([round - 1, 19.5]).toContain(value);
  }, 120_000);
});
