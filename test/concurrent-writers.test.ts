/**
 * Readers that notice writers (issue 18). A child process rewrites a file in place, front to back
 * in 64 KiB writes, alternating between two versions of the same size and header (the size and the
 * inode never change; only the payload, its CRC and the times do), while this process reads it:
 * through the public API (`open(path).read(name)`) and through the built command line (`ndpack
 * convert`). Every read must give the old bytes, the new bytes, or a typed error (FILE_CHANGED,
 * CHECKSUM...), never a mixture of both versions.
 *
 * Trials: 300 API reads and 30 conversions in `npm test`; `npm run concurrency` runs 5,000 and 300
 * (NDPACK_CONCURRENCY_TRIALS, NDPACK_CONCURRENCY_CLI_TRIALS set them).
 *
 * File times move in clock ticks (a few ms), so a rewrite within one tick keeps size, mtime, ctime
 * and inode: only the payload's CRC can tell, which is why reads must verify it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { decode, isNdpackError } from "../src/index.js";
import { open, save } from "../src/node/index.js";
import { requireBuiltCli, runCli, tempDir } from "./helpers/cli-run.js";
import { noise } from "./helpers/common.js";

const TRIALS = Number(process.env.NDPACK_CONCURRENCY_TRIALS ?? 300);
const CLI_TRIALS = Number(process.env.NDPACK_CONCURRENCY_CLI_TRIALS ?? 30);
const REWRITER = fileURLToPath(new URL("./helpers/rewriter.mjs", import.meta.url));
/** 1 MiB: sixteen of the writer's pieces, so a read can meet it halfway. */
const SIZE = 1 << 20;
/**
 * How long the writer rests between versions, at most (ms, at random). The API's reads run against
 * a writer that never rests (most reads meet a write, within one clock tick of file times) and then
 * against one that rests (most reads meet none); a whole command, against one that rests longer.
 */
const PAUSES_MS = { api: [0, 2], cli: 4 };

const tmp = tempDir("concurrency");
afterAll(() => tmp.remove());

const versions = [noise(SIZE, 1), noise(SIZE, 2)] as const;
const paths = { old: tmp.path("old.ndp"), new: tmp.path("new.ndp") };

beforeAll(async () => {
  await requireBuiltCli();
  await save(paths.old, { x: versions[0] });
  await save(paths.new, { x: versions[1] });
  expect(readFileSync(paths.old).length).toBe(readFileSync(paths.new).length);
});

/** What trials returned: each version, each error code, and mixtures (what must never happen). */
interface Tally {
  old: number;
  new: number;
  mixed: number;
  errors: Record<string, number>;
}

function tally(): Tally {
  return { old: 0, new: 0, mixed: 0, errors: {} };
}

function count(result: Tally, bytes: Uint8Array): void {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.equals(versions[0])) result.old++;
  else if (view.equals(versions[1])) result.new++;
  else result.mixed++;
}

let writer: ChildProcess | undefined;

/** Starts the rewriter on a fresh copy of the old version; resolves with the file's path once it writes. */
async function startRewriter(name: string, pauseMs: number): Promise<string> {
  const target = tmp.path(name);
  copyFileSync(paths.old, target);
  const child = spawn(process.execPath, [REWRITER, target, paths.new, paths.old, String(pauseMs)], { stdio: ["ignore", "pipe", "inherit"] });
  writer = child;
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`the rewriter exited with ${code}`)));
  });
  return target;
}

/** Kills the rewriter this file started (by its own handle, never by name). */
function stopRewriter(): void {
  writer?.kill("SIGKILL");
  writer = undefined;
}

afterEach(stopRewriter);

describe("a file rewritten in place while it is read", () => {
  test(`open(path).read(name): old bytes, new bytes or a typed error, never a mixture (${TRIALS} trials)`, async () => {
    const result = tally();
    for (const [phase, pause] of PAUSES_MS.api.entries()) {
      const target = await startRewriter(`api-${phase}.ndp`, pause);
      for (let trial = 0; trial < TRIALS / PAUSES_MS.api.length; trial++) {
        try {
          await using reader = await open(target);
          const array = await reader.read("x");
          count(result, new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength));
        } catch (error) {
          if (!isNdpackError(error)) throw error;
          result.errors[error.code] = (result.errors[error.code] ?? 0) + 1;
        }
      }
      stopRewriter();
    }
    console.log(`open().read() under a rewriter: ${JSON.stringify(result)}`);
    expect(result.mixed, JSON.stringify(result)).toBe(0);
  });

  test(`ndpack convert: the old array, the new one, or a typed error and no output, never a mixture (${CLI_TRIALS} trials)`, async () => {
    const target = await startRewriter("cli.ndp", PAUSES_MS.cli);
    const result = tally();
    for (let trial = 0; trial < CLI_TRIALS; trial++) {
      const out = tmp.path(`converted-${trial}.ndp`);
      const run = await runCli(["convert", target, out]);
      if (run.code === 0) {
        count(result, decode(readFileSync(out)).get("x").data as Uint8Array);
        rmSync(out);
        continue;
      }
      const code = /\(([A-Z_]+)\)\n$/.exec(run.stderr)?.[1];
      expect(code, run.stderr).toBeDefined();
      result.errors[code!] = (result.errors[code!] ?? 0) + 1;
    }
    console.log(`ndpack convert under a rewriter: ${JSON.stringify(result)}`);
    expect(result.mixed, JSON.stringify(result)).toBe(0);
  });
});
