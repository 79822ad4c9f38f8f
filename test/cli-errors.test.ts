/**
 * How the built `ndpack` bin fails: one line on standard error naming the file and the problem,
 * with the NdpackError code; exit 2 for bad input and usage, 1 for other failures; a stack trace
 * only with --debug. And `--help` on every command.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { toNpy, toNpz, toSafetensors } from "../src/interop/index.js";
import { save } from "../src/node/index.js";
import { errorLineOf, REPO, requireBuiltCli, runCli, tempDir } from "./helpers/cli-run.js";

const tmp = tempDir("errors");
const COMMANDS = ["inspect", "show", "verify", "convert", "extract", "pack", "diff"];

beforeAll(async () => {
  await requireBuiltCli();
  await save(tmp.path("good.ndp"), { x: Float32Array.of(1, 2, 3) });
  writeFileSync(tmp.path("good.npy"), toNpy(Float32Array.of(1, 2)));
  writeFileSync(tmp.path("bf16.npy"), toNpy({ data: Uint16Array.of(0x3f80), dtype: "bfloat16" }));
  writeFileSync(tmp.path("good.npz"), toNpz({ x: Float32Array.of(1, 2) }));
  writeFileSync(tmp.path("good.safetensors"), toSafetensors({ x: Float32Array.of(1, 2) }));
  // One name among others past the 4096 bytes an .ndp name may have: .npz holds it, .ndp cannot.
  writeFileSync(tmp.path("long-name.npz"), toNpz({ a: Float32Array.of(1), [`w${"x".repeat(4999)}`]: Float32Array.of(2) }));
  mkdirSync(tmp.path("a-directory.ndp"));
  execFileSync("mkfifo", [tmp.path("a-fifo.ndp")]);
  writeFileSync(tmp.path("notes.txt"), "not an array file\n");
});

afterAll(() => tmp.remove());

/** A copy of a file with some bytes changed. */
function damaged(file: string, edit: (bytes: Buffer) => Buffer | void, to: string): string {
  const bytes = readFileSync(tmp.path(file));
  writeFileSync(tmp.path(to), edit(bytes) ?? bytes);
  return tmp.path(to);
}

describe("help", () => {
  test.concurrent.each(COMMANDS)("ndpack %s --help", async (command) => {
    const result = await runCli([command, "--help"]);
    expect([result.code, result.stderr]).toEqual([0, ""]);
    expect(result.stdout).toMatch(new RegExp(`^Usage: ndpack ${command} \\[options\\]`));
    expect(result.stdout).toContain("Exit codes:");
  });

  test("ndpack --help, help <command>, --version; ndpack alone is a usage error", async () => {
    const help = await runCli(["--help"]);
    expect(help.code).toBe(0);
    for (const command of COMMANDS) expect(help.stdout).toContain(`  ${command} `);
    expect((await runCli(["help", "convert"])).stdout).toMatch(/^Usage: ndpack convert/);
    const version = await runCli(["--version"]);
    expect([version.code, version.stdout.trim()]).toEqual([0, JSON.parse(readFileSync(`${REPO}/package.json`, "utf8")).version]);
    const bare = await runCli([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("Usage: ndpack");
  });
});

describe("every error is one line with its code; exit 2 for bad input, 1 for other failures", () => {
  const cases: [string, () => string[], number, RegExp][] = [
    ["unknown command", () => ["frobnicate"], 2, /^ndpack: unknown command 'frobnicate' \(INVALID_ARGUMENT\); see 'ndpack --help'$/],
    ["unknown option", () => ["inspect", tmp.path("good.ndp"), "--frob"], 2, /^ndpack inspect: unknown option '--frob' \(INVALID_ARGUMENT\); see 'ndpack inspect --help'$/],
    ["a misspelt command, its suggestion on the same line", () => ["inspcet", tmp.path("good.ndp")], 2, /^ndpack: unknown command 'inspcet' \(Did you mean inspect\?\) \(INVALID_ARGUMENT\); see 'ndpack --help'$/],
    ["a misspelt option, its suggestion on the same line", () => ["inspect", tmp.path("good.ndp"), "--jsn"], 2, /^ndpack inspect: unknown option '--jsn' \(Did you mean --json\?\) \(INVALID_ARGUMENT\); see 'ndpack inspect --help'$/],
    ["missing argument", () => ["show"], 2, /^ndpack show: missing required argument 'file' \(INVALID_ARGUMENT\)/],
    ["raw void items: the message names the flag, not the library option", () => ["show", tmp.path("bf16.npy")], 2, /bf16\.npy: \.npy descr '<V2' is raw 2-byte items .*; pass --void-dtype to say which dtype they hold \(UNKNOWN_DTYPE\)$/],
    ["bad option value", () => ["inspect", tmp.path("good.npy"), "--void-dtype", "int3"], 2, /argument 'int3' is invalid\. Allowed choices are bfloat16, float8_e4m3fn, float8_e5m2\. \(INVALID_ARGUMENT\)/],
    ["missing file", () => ["inspect", tmp.path("missing.ndp")], 1, /^ndpack inspect: cannot open .*missing\.ndp: ENOENT: no such file or directory.* \(IO_ERROR\)$/],
    // The line break in the name is shown escaped, as it is written, not as a space that names another file.
    ["missing file with a line break in its name", () => ["inspect", tmp.path("miss\ning.ndp")], 1, /^ndpack inspect: cannot open [^ ]*miss\\ning\.ndp: ENOENT: no such file or directory, open '[^ ]*miss\\ning\.ndp' \(IO_ERROR\)$/],
    // The library's advice to read pipes with decodeStream means nothing on the command line.
    ["a directory", () => ["inspect", tmp.path("a-directory.ndp")], 2, /^ndpack inspect: .*a-directory\.ndp is not a regular file \(it is a directory\) \(INVALID_ARGUMENT\)$/],
    ["a device", () => ["show", "/dev/null"], 2, /^ndpack show: \/dev\/null is not a regular file \(it is a device\) \(INVALID_ARGUMENT\)$/],
    ["a FIFO", () => ["convert", tmp.path("a-fifo.ndp"), tmp.path("from-fifo.ndp")], 2, /^ndpack convert: .*a-fifo\.ndp is not a regular file \(it is a FIFO\) \(INVALID_ARGUMENT\)$/],
    ["a directory to view", () => ["view", tmp.path("a-directory.ndp"), "--no-open"], 2, /^ndpack view: .*a-directory\.ndp is not a regular file \(INVALID_ARGUMENT\)$/],
    ["not an array file", () => ["verify", tmp.path("notes.txt")], 2, /^ndpack verify: .*notes\.txt is not an ndpack, \.npy, \.npz or \.safetensors file .*\(BAD_MAGIC\)$/],
    ["no such array", () => ["show", tmp.path("good.npz"), "y"], 2, /^ndpack show: no array named "y" in .*good\.npz; did you mean "x"\? \(it holds 1 array: "x"\) \(NOT_FOUND\)$/],
    ["truncated .ndp", () => ["inspect", damaged("good.ndp", (b) => b.subarray(0, 100), "cut.ndp")], 2, /^ndpack inspect: .*cut\.ndp: .* \(TRUNCATED\)$/],
    ["trailing bytes .ndp", () => ["show", damaged("good.ndp", (b) => Buffer.concat([b, Buffer.of(0)]), "long.ndp"), "x"], 2, /long\.ndp: .* \(TRAILING_BYTES\)$/],
    ["damaged .ndp header", () => ["inspect", damaged("good.ndp", (b) => void (b[40]! ^= 1), "crc.ndp")], 2, /crc\.ndp: .* \(HEADER_CHECKSUM\)$/],
    ["damaged .npy header", () => ["inspect", damaged("good.npy", (b) => void b.write("X", 12), "bad.npy")], 2, /bad\.npy: .* \(HEADER_INVALID\)$/],
    ["truncated .npy", () => ["inspect", damaged("good.npy", (b) => b.subarray(0, b.length - 1), "short.npy")], 2, /short\.npy: .* \(TRUNCATED\)$/],
    ["truncated .npz", () => ["inspect", damaged("good.npz", (b) => b.subarray(0, b.length - 5), "cut.npz")], 2, /cut\.npz: zip: .* \(TRUNCATED\)$/],
    ["unknown safetensors dtype", () => ["inspect", damaged("good.safetensors", (b) => void b.write("Q32", b.indexOf("F32")), "dtype.safetensors")], 2, /dtype\.safetensors: safetensors tensor "x" has dtype "Q32".* \(UNKNOWN_DTYPE\)$/],
    // The message cannot quote a 5,000-character name: the line names the array by its start.
    ["an array name too long for .ndp", () => ["convert", tmp.path("long-name.npz"), tmp.path("long-name.ndp")], 2, /long-name\.ndp: array name is longer than the 4096 UTF-8 bytes readers accept by default \(array "wx{199}…" \(\+4800 characters\)\) \(LIMIT_EXCEEDED\)$/],
    ["unwritable output", () => ["convert", tmp.path("good.ndp"), tmp.path("notes.txt/out.ndp")], 1, /^ndpack convert: .*notes\.txt\/out\.ndp.*ENOTDIR.* \(IO_ERROR\)$/],
  ];

  test.concurrent.each(cases)("%s", async (_label, args, code, line) => {
    const result = await runCli(args());
    expect(result.code).toBe(code);
    expect(result.stdout).toBe("");
    expect(errorLineOf(result)).toMatch(line);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  test("--debug adds the stack trace (and its causes)", async () => {
    const plain = await runCli(["inspect", tmp.path("missing.ndp")]);
    const debug = await runCli(["inspect", tmp.path("missing.ndp"), "--debug"]);
    expect(debug.code).toBe(1);
    const lines = debug.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe(plain.stderr.trimEnd());
    expect(debug.stderr).toMatch(/NdpackError: cannot open .*\n\s+at /);
    expect(debug.stderr).toMatch(/caused by:\nError: ENOENT/);
    // Before the command too.
    const before = await runCli(["--debug", "inspect", tmp.path("missing.ndp")]);
    expect(before.stderr.split("\n")[0]).toBe(lines[0]);
    expect(before.stderr).toMatch(/\n\s+at /);
  });

  test("a URL's query (a presigned URL's signature) and credentials are not repeated in the error line; a file:// URL is a path", async () => {
    // Port 9 is one fetch refuses outright: no request is sent.
    const signed = await runCli(["inspect", "http://127.0.0.1:9/nope.ndp?X-Amz-Signature=secret#part"]);
    expect([signed.code, errorLineOf(signed)]).toEqual([1, "ndpack inspect: http://127.0.0.1:9/nope.ndp: the request failed (bad port) (IO_ERROR)"]);
    const withUser = await runCli(["inspect", "http://alice:s3cret@127.0.0.1:9/nope.ndp?X-Amz-Signature=secret"]);
    expect(withUser.code).toBe(2);
    expect(errorLineOf(withUser)).toMatch(/^ndpack inspect: http:\/\/127\.0\.0\.1:9\/nope\.ndp: a URL with a user name or password .*\(INVALID_ARGUMENT\)$/);
    // A password with an @ in it: credentials end at the authority's last @.
    const atInPassword = await runCli(["inspect", "http://alice:p@ss@127.0.0.1:9/nope.ndp"]);
    expect(errorLineOf(atInPassword)).toMatch(/^ndpack inspect: http:\/\/127\.0\.0\.1:9\/nope\.ndp: a URL with/);
    expect(signed.stderr + withUser.stderr + atInPassword.stderr).not.toMatch(/secret|alice|ss@|#part/);
    const fileUrl = await runCli(["inspect", new URL(`file://${tmp.path("good.ndp")}`).href]);
    expect([fileUrl.code, fileUrl.stderr]).toEqual([0, ""]);
    expect(fileUrl.stdout).toContain("1 array");
  });
});
