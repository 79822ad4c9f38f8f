/**
 * Crash safety of `save`: a child process saves new versions of an 8 MiB file over the same path,
 * again and again, and is killed with SIGKILL at a random moment; then the path must hold one
 * complete version, byte for byte: the one before the interrupted save, or the one it was saving.
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { decode, encode } from "../src/index.js";
import { save } from "../src/node/index.js";
import { buildChildScript, expectBytes, runChild, tempDir, type Child } from "./helpers/node-files.js";
import { versionArrays } from "./helpers/node-versions.js";

const KILLS = 24;
/**
 * Rounds at most: past KILLS, rounds go on while fewer than KILLS / 6 kills met a save's temporary
 * file. How many do depends on the machine: the first ~10 ms of each save (the arrays made, their
 * CRCs) leave none, and about 40% of kills met one on two busy cores (7 of 24 in some runs).
 */
const MAX_ROUNDS = 4 * KILLS;
/** Kills land uniformly in this many milliseconds after the child starts its first save (a save takes about 20–60 ms here). */
const WINDOW_MS = 150;

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

const fileOf = (version: number) => encode(versionArrays(version), { metadata: { version } });

let script: Awaited<ReturnType<typeof buildChildScript>>;
beforeAll(async () => {
  script = await buildChildScript();
});
afterAll(() => script.remove());

test(`SIGKILL at ${KILLS} (or more) random moments during save: the path holds the complete old or new file, byte for byte`, async () => {
  const folder = tempDir("ndpack-crash-");
  const seed = Number(process.env.NDPACK_CRASH_SEED ?? Date.now()) >>> 0; // NDPACK_CRASH_SEED replays a failing schedule
  const next = random(seed);
  try {
    const path = folder.file("data.ndp");
    await save(path, versionArrays(0), { metadata: { version: 0 } });
    let onDisk = 0;
    let midSave = 0;
    // Each child is started one round ahead, so that its start-up overlaps the previous round.
    const start = (round: number) => runChild(script.path, ["save-loop", path, String((round + 1) * 1000)]);
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

      const bytes = readFileSync(path);
      const version = decode(bytes, { verify: true }).metadata.version as number;
      expect([before, saving], `round ${round} (seed ${seed})`).toContain(version);
      expectBytes(bytes, fileOf(version), `round ${round}: version ${version} (seed ${seed})`);
      onDisk = version;

      // A kill during a save leaves that save's temporary file behind, never anything else.
      const leftovers = readdirSync(folder.path).filter((name) => name !== "data.ndp");
      for (const name of leftovers) {
        expect(name).toMatch(/^\.data\.ndp\.[0-9a-f]{12}\.tmp$/);
        rmSync(join(folder.path, name));
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
