/**
 * Temporary file names (src/node/io.ts temporaryName): `.<name>.<random>.tmp`, never longer than
 * the final name once that is over 64 bytes, so that a name the file system accepts (255 bytes on
 * Linux) always has a temporary name it accepts; and an atomic save to such a name works.
 */
import { readdirSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { temporaryName } from "../src/node/io.js";
import { load, save } from "../src/node/index.js";
import { tempDir } from "./helpers/cli-run.js";

const bytes = (text: string) => Buffer.byteLength(text);

describe("temporaryName", () => {
  test("short names are kept whole: .<name>.<12 hex>.tmp", () => {
    expect(temporaryName("data.ndp")).toMatch(/^\.data\.ndp\.[0-9a-f]{12}\.tmp$/);
    expect(temporaryName("data.ndp")).not.toBe(temporaryName("data.ndp"));
  });
  test("names of every length up to 255 bytes, ASCII and multi-byte: never longer than max(name, 64 bytes), cut between characters", () => {
    for (const unit of ["a", "é", "漢", "😀"]) {
      for (let count = 1; count * bytes(unit) <= 255; count++) {
        const name = unit.repeat(count);
        const temporary = temporaryName(name);
        expect(bytes(temporary), `${count} × ${unit}`).toBeLessThanOrEqual(Math.max(bytes(name), 64));
        expect(temporary.isWellFormed()).toBe(true);
        const prefix = temporary.slice(1, -".123456789abc.tmp".length);
        expect(name.startsWith(prefix)).toBe(true);
      }
    }
  });
  test("save to a 255-byte file name: the temporary file fits, and the file is written", async () => {
    const dir = tempDir("long-name");
    try {
      const path = dir.path(`${"x".repeat(251)}.ndp`);
      await save(path, { x: Float32Array.of(1, 2) });
      expect((await load(path)).get("x", "float32").data).toEqual(Float32Array.of(1, 2));
      expect(readdirSync(dir.dir)).toEqual([`${"x".repeat(251)}.ndp`]);
    } finally {
      dir.remove();
    }
  });
});
