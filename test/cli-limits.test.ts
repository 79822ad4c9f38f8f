/**
 * The read limits on the command line (FORMAT.md §7, style rule 4): every command that reads files
 * takes `--max-header-bytes`, `--max-header-nodes`, `--max-depth`, `--max-arrays`, `--max-dims`,
 * `--max-name-bytes`, `--max-decoded-bytes` and `--max-index-bytes`; a refusal names the flag that
 * raises the limit, and the flag then reads the file.
 */
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { toNpz } from "../src/interop/index.js";
import { save } from "../src/node/index.js";
import { errorLineOf, requireBuiltCli, runCli, tempDir } from "./helpers/cli-run.js";

const tmp = tempDir("limits");

/** A .npy file (version 1.0) whose header dict is `dict`, padded with `padding` spaces, holding `data`. */
function npy(dict: string, data: Uint8Array, padding = 0): Uint8Array {
  let header = `${dict}${" ".repeat(padding)}`;
  header += " ".repeat((64 - ((10 + header.length + 1) % 64)) % 64) + "\n";
  const out = new Uint8Array(10 + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  out.set(data, 10 + header.length);
  return out;
}

beforeAll(async () => {
  await requireBuiltCli();
  // Three arrays, one of them compressed (4000 bytes decoded), and metadata 4 levels deep with 6 more values.
  await save(tmp.path("three.ndp"), { a: Float32Array.of(1), b: Float32Array.of(2), c: { data: new Float32Array(1000), codec: "deflate" } }, { metadata: { deep: [[[[1]]]], many: [1, 2, 3, 4, 5, 6] } });
  // The same 4000 bytes as a deflated .npz member, which the command line inflates as a stream.
  writeFileSync(tmp.path("deflated.npz"), toNpz({ c: new Float32Array(1000) }, { compress: true }));
  // Past two defaults: a .npy header of 20,000 bytes (default 10,000), and 65 dimensions (default 64).
  writeFileSync(tmp.path("long-header.npy"), npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(Float32Array.of(7).buffer), 20_000));
  writeFileSync(tmp.path("dims65.npy"), npy(`{'descr': '<f4', 'fortran_order': False, 'shape': (${"1, ".repeat(65)}), }`, new Uint8Array(Float32Array.of(7).buffer)));
});

afterAll(() => tmp.remove());

/** Each reading command's arguments for one input file. */
const COMMANDS: Record<string, (file: string) => string[]> = {
  inspect: (file) => ["inspect", file],
  show: (file) => ["show", file, "a"],
  verify: (file) => ["verify", file],
  convert: (file) => ["convert", file, tmp.path("out.npz")],
  extract: (file) => ["extract", file, "-o", tmp.path("extracted")],
  pack: (file) => ["pack", tmp.path("packed.ndp"), file],
  diff: (file) => ["diff", file, file],
};

describe("every reading command takes the read limits, and a refusal names the flag that raises it", () => {
  test.concurrent.each(Object.keys(COMMANDS))("%s --max-arrays 2 of a file of 3 arrays: LIMIT_EXCEEDED naming --max-arrays (exit 2); --max-arrays 3 reads it", async (command) => {
    const refused = await runCli([...COMMANDS[command]!(tmp.path("three.ndp")), "--max-arrays", "2"]);
    expect(refused.code).toBe(2);
    expect(errorLineOf(refused)).toMatch(/three\.ndp: header lists 3 arrays, more than the limit of 2; raise --max-arrays to read it \(LIMIT_EXCEEDED\)$/);
    const read = await runCli([...COMMANDS[command]!(tmp.path("three.ndp")), "--max-arrays", "3"]);
    expect(read.stderr).toBe("");
    expect(read.code).toBe(0);
  });
});

describe("each limit, lowered and raised", () => {
  const cases: [string, string[], RegExp][] = [
    ["--max-header-nodes 5: a header of more JSON values", ["inspect", "three.ndp", "--max-header-nodes", "5"], /more than 5 JSON values .*raise --max-header-nodes to read it \(LIMIT_EXCEEDED\)$/],
    ["--max-depth 3: metadata nested deeper", ["inspect", "three.ndp", "--max-depth", "3"], /nesting exceeds --max-depth \(3\).* \(LIMIT_EXCEEDED\)$/],
    ["--max-header-bytes 100: a longer header", ["inspect", "three.ndp", "--max-header-bytes", "100"], /header is \d+ bytes, more than the limit of 100; raise --max-header-bytes to read it \(HEADER_TOO_LARGE\)$/],
    ["--max-name-bytes 0 is no limit (INVALID_ARGUMENT)", ["inspect", "three.ndp", "--max-name-bytes", "0"], /'--max-name-bytes <n>' argument '0' is invalid\. must be a positive integer \(INVALID_ARGUMENT\)/],
    ["--max-decoded-bytes 3KiB: an array decompressing to 4000 bytes", ["show", "three.ndp", "c", "--max-decoded-bytes", "3KiB"], /array "c" decompresses to 4000 bytes, more than the limit of 3072; raise --max-decoded-bytes to read it \(LIMIT_EXCEEDED\)$/],
    [".npy header of 20,000 bytes, past the default 10,000", ["inspect", "long-header.npy"], /long-header\.npy: \.npy header is \d+ bytes, more than the limit of 10000; raise --max-header-bytes to read it \(HEADER_TOO_LARGE\)$/],
    [".npy of 65 dimensions, past the default 64", ["inspect", "dims65.npy"], /dims65\.npy: .*65 dimensions.*--max-dims.* \(LIMIT_EXCEEDED\)$/],
  ];
  test.concurrent.each(cases)("%s", async (_label, args, line) => {
    const result = await runCli(args.map((arg) => (/\.(ndp|npy)$/.test(arg) ? tmp.path(arg) : arg)));
    expect(result.code).toBe(2);
    expect(errorLineOf(result)).toMatch(line);
  });

  const raised: [string, string[]][] = [
    ["--max-decoded-bytes 4KB reads the 4000-byte array", ["show", "three.ndp", "c", "--max-decoded-bytes", "4KB"]],
    // The flag bounds what is decompressed whole; a .npz member is inflated in chunks, never whole (its help says so).
    ["--max-decoded-bytes 1KiB reads a deflated .npz member of 4000 bytes, inflated as a stream", ["show", "deflated.npz", "c", "--max-decoded-bytes", "1KiB"]],
    ["--max-header-bytes 64KiB reads the .npy header of 20,000 bytes", ["inspect", "long-header.npy", "--max-header-bytes", "64KiB"]],
    ["--max-dims 65 reads the array of 65 dimensions", ["show", "dims65.npy", "--max-dims", "65"]],
    ["--max-depth 8 and --max-header-nodes 100 read the metadata", ["inspect", "three.ndp", "--max-depth", "8", "--max-header-nodes", "100"]],
  ];
  test.concurrent.each(raised)("%s", async (_label, args) => {
    const result = await runCli(args.map((arg) => (/\.(ndp|npy|npz)$/.test(arg) ? tmp.path(arg) : arg)));
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  test.concurrent.each([["--max-arrays", "x"], ["--max-arrays", "-1"], ["--max-arrays", "1.5"], ["--max-header-bytes", "5XB"], ["--max-header-bytes", "1.5"], ["--max-decoded-bytes", "1.5B"], ["--max-decoded-bytes", "0"], ["--max-depth", "1001"]])("%s %s: INVALID_ARGUMENT", async (flag, value) => {
    const result = await runCli(["inspect", tmp.path("three.ndp"), flag, value]);
    expect(result.code).toBe(2);
    expect(errorLineOf(result)).toMatch(/is invalid\. must be .* \(INVALID_ARGUMENT\); see 'ndpack inspect --help'$/);
  });
});

describe("the limits bound reading only: a write refused for its nesting names no flag (--max-depth cannot help a write)", () => {
  const deep = `{"a":${"[".repeat(100)}${"]".repeat(100)}}`;
  test.concurrent.each([["out.ndp", 63], ["out.npz", 64], ["out.safetensors", 63]] as const)("pack %s --metadata nested 101 deep, even with --max-depth 1000: LIMIT_EXCEEDED, exit 2", async (output, levels) => {
    for (const raised of [[], ["--max-depth", "1000"]]) {
      const result = await runCli(["pack", tmp.path(`deep-${output}`), tmp.path("three.ndp"), "--metadata", deep, ...raised]);
      expect(result.code).toBe(2);
      expect(errorLineOf(result)).toMatch(new RegExp(`^ndpack pack: .*deep-${output.replace(".", "\\.")}: Nesting exceeds ${levels} levels at metadata\\.a(\\[0\\])+ \\(LIMIT_EXCEEDED\\)$`));
      expect(result.stderr).not.toContain("--max-depth");
    }
  });
});
