/**
 * The Node file driver of the one reader: files that are not regular files are refused before any
 * read (a FIFO must not hang), and a file rewritten in place by another process while it is read
 * gives the old bytes, the new bytes or a typed error (FILE_CHANGED, CHECKSUM), never a mixture.
 * Small arrays read one after another are read ahead, a few reads in all.
 *
 * The concurrent-writer campaign runs NDPACK_CHANGE_TRIALS trials (default 200; `npm run
 * stress:file-changed` runs 5000).
 */
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { open as openHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { codeOfAsync } from "./helpers/common.js";
import { processReads } from "./helpers/node-files.js";
import { encode, NdpackError } from "../src/index.js";
import { load, open } from "../src/node/index.js";

const dir = mkdtempSync(join(tmpdir(), "ndpack-file-source-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("files that are not regular files are refused before any read", () => {
  test("a FIFO (with no writer: a blocking open or read would hang): INVALID_ARGUMENT from open and load", async () => {
    const fifo = join(dir, "pipe.ndp");
    execFileSync("mkfifo", [fifo]);
    expect(await codeOfAsync(() => open(fifo))).toBe("INVALID_ARGUMENT");
    expect(await codeOfAsync(() => load(fifo))).toBe("INVALID_ARGUMENT");
  });

  test("a directory and a character device: INVALID_ARGUMENT, naming what they are", async () => {
    for (const [path, kind] of [[dir, "a directory"], ["/dev/null", "a device"]] as const) {
      let message = "";
      expect(await codeOfAsync(() => open(path).catch((error: Error) => ((message = error.message), Promise.reject(error))))).toBe("INVALID_ARGUMENT");
      expect(message).toContain(kind);
    }
  });

  test("a FileHandle opened by the caller is read, and left open when the reader closes", async () => {
    const path = join(dir, "handle.ndp");
    writeFileSync(path, encode({ a: Int32Array.of(4, 5) }));
    const handle = await openHandle(path, "r");
    try {
      const reader = await open(handle);
      expect(Array.from((await reader.read("a")).data as Int32Array)).toEqual([4, 5]);
      await reader.close();
      expect((await handle.stat()).size).toBeGreaterThan(0); // still open
    } finally {
      await handle.close();
    }
  });
});

const TRIALS = Number(process.env.NDPACK_CHANGE_TRIALS ?? 200);

/** A child process that rewrites `path` in place, alternating between two contents, in 64 KiB writes, until killed. */
function startRewriter(path: string, a: Uint8Array, b: Uint8Array) {
  const script = `
    const fs = require("node:fs");
    const [path, aPath, bPath] = process.argv.slice(1);
    const contents = [fs.readFileSync(aPath), fs.readFileSync(bPath)];
    const fd = fs.openSync(path, "r+");
    process.stdout.write("ready\\n");
    for (let round = 0; ; round++) {
      const bytes = contents[round % 2];
      for (let at = 0; at < bytes.length; at += 65536) fs.writeSync(fd, bytes, at, Math.min(65536, bytes.length - at), at);
    }`;
  const aPath = join(dir, "a.bin");
  const bPath = join(dir, "b.bin");
  writeFileSync(aPath, a);
  writeFileSync(bPath, b);
  const child = spawn(process.execPath, ["-e", script, path, aPath, bPath], { stdio: ["ignore", "pipe", "inherit"] });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`the rewriter exited with ${code}`)));
  });
  return { ready, stop: () => child.kill("SIGKILL") };
}


describe("small arrays read in order", () => {
  const arrays = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`a${i}`, Float32Array.from({ length: 64 }, (_, j) => i * 64 + j)]));
  const path = join(dir, "small-arrays.ndp");
  writeFileSync(path, encode(arrays));

  test("2,000 arrays of 256 B read one after another take a few reads, not one each, and give their values", async () => {
    await using reader = await open(path);
    const before = processReads();
    for (let i = 0; i < 2000; i++) {
      const { data } = await reader.read(`a${i}`);
      expect([data[0], data[63]]).toEqual([i * 64, i * 64 + 63]);
    }
    // 2,000 records of 320 B are 625 KiB: three reads ahead of 256 KiB, and the first array's own.
    expect(processReads().calls - before.calls).toBeLessThan(100);
  });

  test("one array, or arrays far apart, read only their own bytes", async () => {
    await using reader = await open(path);
    const before = processReads();
    for (const i of [10, 1000, 1999]) expect((await reader.read(`a${i}`)).data[0]).toBe(i * 64);
    // Three reads of 260 B (and this process's own reading of /proc).
    expect(processReads().bytes - before.bytes).toBeLessThan(3 * 260 + 16 * 1024);
  });

  test("a file changed after a read ahead: the arrays served from it are as at open, the next read of the file is FILE_CHANGED", async () => {
    const copy = join(dir, "small-arrays-changed.ndp");
    writeFileSync(copy, readFileSync(path));
    await using reader = await open(copy);
    await reader.read("a0");
    await reader.read("a1");
    const handle = await openHandle(copy, "r+");
    // Array a2's first value, and a byte of the header: the file is no longer the one opened.
    await handle.write(new Uint8Array(4).fill(0xff), 0, 4, reader.info("a2").offset);
    await handle.write(Uint8Array.of(0), 0, 1, 5000);
    await handle.close();
    expect((await reader.read("a2")).data[0]).toBe(2 * 64);
    expect(await codeOfAsync(() => reader.read("a1999"))).toBe("FILE_CHANGED");
  });
});

describe("a file rewritten in place while it is read", () => {
  test(`${TRIALS} trials: every read gives the old values, the new values, or FILE_CHANGED/CHECKSUM; never a mixture`, async () => {
    const count = 256 * 1024; // 1 MiB of float32: many of the writer's 64 KiB writes per read
    const old = encode({ x: new Float32Array(count).fill(1) });
    const fresh = encode({ x: new Float32Array(count).fill(2) });
    expect(fresh.length).toBe(old.length);
    const path = join(dir, "rewritten.ndp");
    writeFileSync(path, old);
    const rewriter = startRewriter(path, old, fresh);
    const outcomes = new Map<string, number>();
    try {
      await rewriter.ready;
      for (let trial = 0; trial < TRIALS; trial++) {
        let outcome: string;
        try {
          await using reader = await open(path);
          const { data } = await reader.read("x");
          const first = data[0] as number;
          const mixed = (data as Float32Array).some((value) => value !== first);
          expect(mixed, `trial ${trial}: a read mixed old and new values`).toBe(false);
          outcome = `values ${first}`;
        } catch (error) {
          if (!(error instanceof NdpackError)) throw error;
          expect(["FILE_CHANGED", "CHECKSUM"], `trial ${trial}: ${error.message}`).toContain(error.code);
          outcome = error.code;
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    } finally {
      rewriter.stop();
    }
    console.log(`file rewritten while read, ${TRIALS} trials:`, Object.fromEntries(outcomes));
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(TRIALS);
    // The campaign saw the writer at work: some reads were refused.
    expect((outcomes.get("FILE_CHANGED") ?? 0) + (outcomes.get("CHECKSUM") ?? 0)).toBeGreaterThan(0);
  }, 300_000);
});
