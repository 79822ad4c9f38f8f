/**
 * The CLI's writers at their edges (the built CLI, in child processes): bool bytes other than 0 and
 * 1 in the input, a path holding `=` given to `pack`, and a signal while a command writes.
 */
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decode } from "../src/index.js";
import { fromNpy, fromNpz } from "../src/interop/index.js";
import { save, saveSet } from "../src/node/index.js";
import { CLI, errorLineOf, REPO, requireBuiltCli, runCli, tempDir } from "./helpers/cli-run.js";
import { noise } from "./helpers/common.js";

const tmp = tempDir("write-edges");
beforeAll(requireBuiltCli);
afterAll(() => tmp.remove());

const BOOL_INPUT = join(REPO, "fixtures/valid/bool-other-byte-values.ndp");

describe("a bool array holding bytes other than 0 and 1 converts to one holding 0 and 1 (FORMAT.md §3: writers store only those)", () => {
  const input = () => decode(readFileSync(BOOL_INPUT));
  test.each(["ndp", "npy", "npz"] as const)("to .%s", async (extension) => {
    const name = input().names[0]!;
    const stored = input().get(name).data as Uint8Array;
    expect([...stored].some((b) => b > 1)).toBe(true); // the fixture's point
    const out = tmp.path(`bool.${extension}`);
    const result = await runCli(["convert", BOOL_INPUT, out]);
    expect([result.code, result.stderr]).toEqual([0, ""]);
    const bytes = readFileSync(out);
    const written = extension === "ndp" ? decode(bytes, { verify: true }).get(name).data : extension === "npy" ? fromNpy(bytes).data : fromNpz(bytes).arrays.get(name)!.data;
    expect([...(written as Uint8Array)]).toEqual([...stored].map((b) => (b === 0 ? 0 : 1)));
  });
});

test("pack takes a path that exists as FILE even when it holds '=' (lr=0.1.npy), and NAME=FILE still splits at '='", async () => {
  await save(tmp.path("lr=0.1.ndp"), { lr: Float32Array.of(0.1) });
  const result = await runCli(["pack", tmp.path("packed-eq.ndp"), tmp.path("lr=0.1.ndp"), `rate=${tmp.path("lr=0.1.ndp")}`]);
  expect([result.code, result.stderr]).toEqual([0, ""]);
  expect(decode(readFileSync(tmp.path("packed-eq.ndp"))).names).toEqual(["lr", "rate"]);
});

test("convert of a .npz with members that are not .npy files warns which are not copied, and copies the arrays", async () => {
  const zip = tmp.path("with-readme.npz");
  const made = spawnSync("python3", ["-c", "import io, sys, zipfile, numpy as np\nb = io.BytesIO(); np.save(b, np.arange(3, dtype='<f4'))\nwith zipfile.ZipFile(sys.argv[1], 'w') as z:\n    z.writestr('a.npy', b.getvalue()); z.writestr('README.txt', 'hi'); z.writestr('raw.bin', b'x')", zip], { encoding: "utf8" });
  expect(made.status, made.stderr).toBe(0);
  const result = await runCli(["convert", zip, tmp.path("with-readme.ndp")]);
  expect(result.code).toBe(0);
  expect(result.stderr.trim()).toBe(`ndpack convert: warning: ${zip}: 2 members are not .npy and not copied: README.txt, raw.bin`);
  expect(decode(readFileSync(tmp.path("with-readme.ndp"))).names).toEqual(["a"]);
});

test("SIGINT while convert writes: the process ends on the signal, and neither the output nor a temporary file is left", async () => {
  // Incompressible bytes at the slowest level: the output is still being written when the signal comes.
  await save(tmp.path("big.ndp"), { noise: noise(48 << 20, 5) });
  const folder = tmp.path("interrupted");
  mkdirSync(folder);
  const child = spawn(process.execPath, [CLI, "convert", tmp.path("big.ndp"), join(folder, "out.npz"), "--compress", "--level", "9", "--no-progress"], { stdio: "ignore" });
  const exited = once(child, "exit");
  // Wait for the temporary file to hold bytes (no timing assumption: polled until it does). Not
  // merely to exist: convert registers the file for removal on a signal once its open() returns,
  // so a signal handled between the two (a busy machine) leaves it; its bytes come after.
  const writing = () => readdirSync(folder).some((name) => statSync(join(folder, name)).size > 0);
  while (!writing()) {
    if (child.exitCode !== null) throw new Error(`convert ended (${child.exitCode}) before its temporary file was seen`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  expect(readdirSync(folder)[0]).toMatch(/^\.out\.npz\..*\.tmp$/);
  child.kill("SIGINT");
  const [code, signal] = await exited;
  expect([code, signal]).toEqual([null, "SIGINT"]);
  expect(readdirSync(folder)).toEqual([]);
});

describe("output paths a command may not write are refused as such, whatever their extension says (a consumer audit)", () => {
  test("convert to x.ndp/, a directory or /dev/null: NOT_REGULAR_FILE, exit 2, as with --to (was INVALID_ARGUMENT: no format in the name)", async () => {
    const input = tmp.path("paths-in.ndp");
    await save(input, { a: new Float32Array([1, 2]) }, { fsync: false });
    mkdirSync(tmp.path("paths-dir"), { recursive: true });
    for (const output of [tmp.path("paths-out.ndp/"), tmp.path("paths-dir"), "/dev/null"]) {
      const result = await runCli(["convert", input, output]);
      expect([output, result.code, result.stderr]).toEqual([output, 2, expect.stringMatching(/(ends with a separator|is a (directory|character device)).*\(NOT_REGULAR_FILE\)/)]);
    }
    writeFileSync(tmp.path("paths-a-file"), "x");
    symlinkSync("paths-loop", tmp.path("paths-loop"));
    // No extension and nothing to tell of it (a path through a file, a link loop): the usage error, exit 2, not an internal error.
    for (const output of [tmp.path("paths-no-extension"), tmp.path("paths-a-file/out"), tmp.path("paths-loop")]) {
      const unknown = await runCli(["convert", input, output]);
      expect([output, unknown.code, unknown.stderr]).toEqual([output, 2, expect.stringContaining("cannot tell the format")]);
    }
  });

  test("extract -o a file, or a path through a file: INVALID_ARGUMENT, exit 2 (was IO_ERROR EEXIST, exit 1)", async () => {
    const input = tmp.path("paths-in2.ndp");
    await save(input, { a: new Float32Array([1, 2]) }, { fsync: false });
    writeFileSync(tmp.path("paths-file"), "x");
    for (const output of ["/dev/null", tmp.path("paths-file"), tmp.path("paths-file/sub")]) {
      const result = await runCli(["extract", input, "-o", output]);
      expect([output, result.code, result.stderr]).toEqual([output, 2, expect.stringMatching(/-o .* (is not a directory|cannot be made a directory).*\(INVALID_ARGUMENT\)/)]);
    }
    expect(readFileSync(tmp.path("paths-file"), "utf8")).toBe("x");
  });

  test("a symbolic link as the output: convert and pack name --follow-symlinks, extract (which has no such flag) says it never writes through links", async () => {
    const input = tmp.path("links-in.ndp");
    await save(input, { a: new Float32Array([1, 2]) }, { fsync: false });
    writeFileSync(tmp.path("links-target"), "x");
    symlinkSync("links-target", tmp.path("links-out.ndp"));
    mkdirSync(tmp.path("links-dir"));
    symlinkSync("../links-target", tmp.path("links-dir/a.npy"));
    const refused = (command: string, link: string) => `ndpack ${command}: ${link} is a symbolic link: ndpack does not write through links unless asked (--follow-symlinks) (NOT_REGULAR_FILE)`;
    const convert = await runCli(["convert", input, tmp.path("links-out.ndp")]);
    expect([convert.code, errorLineOf(convert)]).toEqual([2, refused("convert", tmp.path("links-out.ndp"))]);
    const pack = await runCli(["pack", tmp.path("links-out.ndp"), `a=${input}`]);
    expect([pack.code, errorLineOf(pack)]).toEqual([2, refused("pack", tmp.path("links-out.ndp"))]);
    const extract = await runCli(["extract", input, "-o", tmp.path("links-dir")]);
    expect(extract.code).toBe(2);
    expect(errorLineOf(extract)).toMatch(/^ndpack extract: .*links-dir\/a\.npy is a symbolic link: ndpack extract never writes through links \(NOT_REGULAR_FILE\)$/);
    expect(readFileSync(tmp.path("links-target"), "utf8")).toBe("x");
    // The commands errorLine names the flag for are those that have it.
    for (const [command, has] of [["convert", true], ["pack", true], ["extract", false]] as const) expect([command, (await runCli([command, "--help"])).stdout.includes("--follow-symlinks")]).toEqual([command, has]);
  });
});

test("inspect of a URL, or of a set's shards, whose server ignores Range: RANGE_NOT_SUPPORTED, exit 1, with advice the command line can follow (not the library's option)", async () => {
  const folder = tmp.path("no-range-set");
  await saveSet(folder, { a: new Float32Array(50_000).fill(1), b: new Float32Array(50_000).fill(2) }, { maxShardBytes: 250_000, fsync: false });
  const server = createServer((request, response) => {
    const body = readFileSync(join(folder, decodeURIComponent(new URL(request.url!, "http://x").pathname)));
    response.writeHead(200, { "content-length": String(body.length) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const shard = readdirSync(folder).find((name) => name.endsWith(".ndp"))!;
    for (const url of [`${origin}/${shard}`, `${origin}/model.ndp.index.json`]) {
      const result = await runCli(["inspect", url]);
      expect([url, result.code]).toEqual([url, 1]);
      expect(result.stderr).toMatch(/ignores Range requests.*download the file and give its path \(RANGE_NOT_SUPPORTED\)/);
      expect(result.stderr).not.toMatch(/allowFullDownload/);
    }
  } finally {
    server.close();
  }
});
