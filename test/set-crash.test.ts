/**
 * Crash safety of `saveSet` (FORMAT.md §12.4): a child process saves new versions of an 8 MiB set
 * of five shards over the same folder, again and again, and is killed with SIGKILL at a random
 * moment; then the folder's index must name one complete set, byte for byte: the one before the
 * interrupted save, or the one it was saving. What else a kill leaves (temporary files, shards no
 * index names) is listed and removed before the next round.
 */
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { saveSet } from "../src/node/index.js";
import { buildChildScript, expectBytes, runChild, tempDir, type Child } from "./helpers/node-files.js";
import { SET_SHARD_BYTES, setVersionArrays } from "./helpers/node-versions.js";
import { dataBytes, loadSet } from "./helpers/set-files.js";

const KILLS = 24;
/**
 * Rounds at most: past KILLS, rounds go on while fewer than KILLS / 6 kills interrupted a save (left
 * files behind). How many do depends on the machine: about 60% of kills on two busy cores.
 */
const MAX_ROUNDS = 4 * KILLS;
/** Kills land uniformly in this many milliseconds after the child starts its first save (a set save takes about 30–150 ms here). */
const WINDOW_MS = 300;

/** A small seeded generator, so that a failing schedule can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

/**
 * The names a kill may leave behind: temporary files of shards and of the index, shards (of any
 * generation), the index's lock, and the file of a writer killed while it broke the lock of the one
 * killed before it (the next writer waits 10 s before it takes that for stale: removed here).
 */
const LEFTOVER = /^(\.model-[0-9a-f]{8}-\d{5}-of-\d{5}\.ndp\.[0-9a-f]{12}\.tmp|\.model\.ndp\.index\.json\.[0-9a-f]{12}\.tmp|model-[0-9a-f]{8}-\d{5}-of-\d{5}\.ndp|model\.ndp\.index\.json\.lock(\.break)?)$/;
/** Left in place: the next round's saves must find its holder gone and remove it. */
const LOCK = "model.ndp.index.json.lock";

let script: Awaited<ReturnType<typeof buildChildScript>>;
beforeAll(async () => {
  script = await buildChildScript();
});
afterAll(() => script.remove());

test(`SIGKILL at ${KILLS} (or more) random moments during saveSet: the index names the complete old or new set, byte for byte`, async () => {
  const folder = tempDir("ndpack-set-crash-");
  const seed = Number(process.env.NDPACK_CRASH_SEED ?? Date.now()) >>> 0; // NDPACK_CRASH_SEED replays a failing schedule
  const next = random(seed);
  const indexPath = join(folder.path, "model.ndp.index.json");
  try {
    await saveSet(folder.path, setVersionArrays(0), { maxShardBytes: SET_SHARD_BYTES, metadata: { version: 0 } });
    let onDisk = 0;
    let midSave = 0;
    const start = (round: number) => runChild(script.path, ["save-set-loop", folder.path, String((round + 1) * 1000)]);
    const another = (round: number) => round < KILLS || (midSave < KILLS / 6 && round < MAX_ROUNDS);
    let warm: Child | undefined = start(0);
    for (let round = 0; another(round); round++) {
      const child = warm!;
      await child.waitFor(/^ready$/);
      warm = another(round + 1) ? start(round + 1) : undefined;
      child.send("go\n");
      await child.waitFor(/^saving \d+$/);
      await new Promise((resolve) => setTimeout(resolve, next() * WINDOW_MS));
      process.kill(child.pid, "SIGKILL");
      const { signal } = await child.exited;
      expect(signal, `round ${round} (seed ${seed})`).toBe("SIGKILL");

      const lines = child.stdout().trim().split("\n");
      const saved = lines.filter((line) => line.startsWith("saved ")).map((line) => Number(line.slice(6)));
      const saving = Number(lines.filter((line) => line.startsWith("saving ")).pop()!.slice(7));
      const before = saved.length > 0 ? saved[saved.length - 1]! : onDisk;

      const set = loadSet(indexPath);
      const version = set.index.metadata.version as number;
      expect([before, saving], `round ${round} (seed ${seed})`).toContain(version);
      expect(set.index.shards).toHaveLength(5);
      for (const [name, input] of setVersionArrays(version) as [string, ArrayBufferView][]) {
        expectBytes(dataBytes(set.arrays.get(name)!), dataBytes({ data: input }), `round ${round}: version ${version}, ${name} (seed ${seed})`);
      }
      onDisk = version;

      const named = new Set(["model.ndp.index.json", ...set.index.shards.map((shard) => shard.name)]);
      const leftovers = readdirSync(folder.path).filter((name) => !named.has(name));
      for (const name of leftovers) {
        expect(name, `round ${round} (seed ${seed})`).toMatch(LEFTOVER);
        if (name !== LOCK) rmSync(join(folder.path, name));
      }
      if (leftovers.length > 0) midSave++;
    }
    // The child started for a round that did not come: this round's kill was the last one needed.
    if (warm !== undefined) {
      process.kill(warm.pid, "SIGKILL");
      await warm.exited;
    }
    // The schedule must have hit saves in progress, or the test proves nothing.
    expect(midSave, `kills that interrupted a save in progress (seed ${seed})`).toBeGreaterThanOrEqual(KILLS / 6);
  } finally {
    folder.remove();
  }
}, 240_000);
