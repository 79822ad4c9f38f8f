/**
 * A writer that rewrites a file in place, for the concurrency tests: `node rewriter.mjs TARGET A B
 * PAUSE_MS` overwrites TARGET with the bytes of A, then of B, then of A..., each time front to back
 * in 64 KiB positioned writes (never truncating, never renaming: the size stays, the inode stays),
 * resting up to PAUSE_MS (at random) between versions so that some reads meet no write, until
 * killed (SIGKILL; the loop never yields). It prints `ready` once it has started. What a careless
 * program (or a second process writing without the atomic path) does to a file someone is reading.
 */
import { openSync, readFileSync, writeSync } from "node:fs";

const [target, first, second, pause] = process.argv.slice(2);
const pauseMs = Number(pause ?? 0);
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const versions = [readFileSync(first), readFileSync(second)];
if (versions[0].length !== versions[1].length) throw new Error("the two versions must have the same size");
const fd = openSync(target, "r+");
const PIECE = 64 * 1024;
let rounds = 0;
process.stdout.write("ready\n");
for (;;) {
  const bytes = versions[rounds++ % 2];
  for (let at = 0; at < bytes.length; at += PIECE) writeSync(fd, bytes, at, Math.min(PIECE, bytes.length - at), at);
  if (pauseMs > 0) Atomics.wait(sleeper, 0, 0, Math.random() * pauseMs);
}
