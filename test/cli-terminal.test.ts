/**
 * Output that cannot take over a terminal (issue 18): array names, metadata, file names and
 * messages that hold terminal controls (ESC and OSC sequences, CR, LF, VT, FF, DEL, C1 controls,
 * bidirectional overrides) reach standard output and standard error escaped, as `\u001b`, `\r`,
 * `\u202e`..., in every command; `--json` output stays exact JSON. The bytes the built command line
 * writes are checked (run `npx tsup` first; `npm test` does).
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { save } from "../src/node/index.js";
import { requireBuiltCli, runCli, tempDir, type CliResult } from "./helpers/cli-run.js";

const tmp = tempDir("terminal");
afterAll(() => tmp.remove());

/** One hostile name per kind of control, with the escape it must be shown as. */
const HOSTILE = {
  osc: { name: "\u001b]0;pwned\u0007title", shown: "\\u001b]0;pwned\\u0007title" },
  csi: { name: "\u001b[2K\u001b[1Gerased", shown: "\\u001b[2K\\u001b[1Gerased" },
  cr: { name: "x\rok    all checks passed", shown: "x\\rok    all checks passed" },
  lf: { name: "y\nok    forged line", shown: "y\\nok    forged line" },
  vtff: { name: "v\u000bf\u000c", shown: "v\\u000bf\\f" },
  del: { name: "del\u007f", shown: "del\\u007f" },
  c1: { name: "c1\u009b31mred", shown: "c1\\u009b31mred" },
  bidi: { name: "invoice\u202etxt.exe", shown: "invoice\\u202etxt.exe" },
  isolate: { name: "\u2066iso\u2069\u200e\u200f", shown: "\\u2066iso\\u2069\\u200e\\u200f" },
} as const;
const NAMES: readonly string[] = Object.values(HOSTILE).map((h) => h.name);
const METADATA = { title: "\u001b]0;meta\u0007", bidi: "a\u202eb", line: "c\rd\u0085e" };

/** Every character a terminal acts on, but the line feeds that end lines. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** Fails when a stream of `result` holds a terminal control; returns both streams. */
function expectSafe(result: CliResult): CliResult {
  for (const [stream, text] of [["stdout", result.stdout], ["stderr", result.stderr]] as const) {
    const found = CONTROL.exec(text);
    expect(found, `${stream} holds U+${found?.[0].charCodeAt(0).toString(16).padStart(4, "0")}: ${JSON.stringify(text)}`).toBeNull();
  }
  return result;
}

let file = "";
let damaged = "";
let other = "";
beforeAll(async () => {
  await requireBuiltCli();
  file = tmp.path("hostile.ndp");
  await save(file, Object.fromEntries(NAMES.map((name, i) => [name, new Int8Array([i, i + 1])])), { metadata: METADATA });
  // The same file with one payload byte flipped: verify reports the damaged array by name.
  damaged = tmp.path("damaged.ndp");
  const bytes = readFileSync(file);
  bytes[bytes.length - 1]! ^= 0xff;
  writeFileSync(damaged, bytes);
  other = tmp.path("other.ndp");
  await save(other, { [HOSTILE.osc.name]: new Int8Array([0, 1]), "plain\u001b[8m": new Int8Array(1) }, { metadata: { title: "\u001b[41m" } });
});

describe("every name and metadata string is escaped", () => {
  test("inspect: names quoted with their controls escaped, metadata escaped", async () => {
    const { stdout, code } = expectSafe(await runCli(["inspect", file]));
    expect(code).toBe(0);
    for (const { shown } of Object.values(HOSTILE)) expect(stdout).toContain(`"${shown}"`);
    expect(stdout).toContain("\\u001b]0;meta\\u0007");
    expect(stdout).toContain("a\\u202eb");
    expect(stdout).toContain("c\\rd\\u0085e");
  });

  test("inspect --json stays exact JSON: the names and metadata come back as they are", async () => {
    const { stdout, code } = expectSafe(await runCli(["inspect", file, "--json"]));
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { arrays: { name: string }[]; metadata: unknown };
    expect(report.arrays.map((a) => a.name).sort()).toEqual([...NAMES].sort());
    expect(report.metadata).toEqual(METADATA);
  });

  test.each(Object.entries(HOSTILE))("show (%s): the description line quotes the name", async (_, { name, shown }) => {
    const { stdout, code } = expectSafe(await runCli(["show", file, name]));
    expect(code).toBe(0);
    expect(stdout.split("\n")[0]).toMatch(new RegExp(`^"${shown.replace(/[\\[\]().*+?^$|]/g, "\\$&")}": int8 \\[2\\]`));
  });

  test("show --json keeps the name exact", async () => {
    const { stdout } = expectSafe(await runCli(["show", file, HOSTILE.bidi.name, "--json"]));
    expect((JSON.parse(stdout) as { name: string }).name).toBe(HOSTILE.bidi.name);
  });

  test("verify of a valid file: one 'ok' line per name, none forged", async () => {
    const { stdout, code } = expectSafe(await runCli(["verify", file]));
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(NAMES.length + 1);
    expect(lines.filter((l) => l.startsWith("ok    "))).toHaveLength(NAMES.length);
  });

  test("verify of a damaged file: the FAIL line and the error line on standard error are escaped", async () => {
    const result = expectSafe(await runCli(["verify", damaged]));
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^FAIL  "/m);
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/\(CHECKSUM\)\n$/);
    const verdict = JSON.parse(expectSafe(await runCli(["verify", damaged, "--json"])).stdout) as { arrays: { name: string; ok: boolean }[] };
    expect(verdict.arrays.filter((a) => !a.ok).map((a) => NAMES.includes(a.name))).toEqual([true]);
  });

  test("diff: 'only in' lines and the metadata line are escaped", async () => {
    const { stdout, code } = expectSafe(await runCli(["diff", file, other]));
    expect(code).toBe(1);
    expect(stdout).toContain(`only in ${other}: "plain\\u001b[8m"`);
    expect(stdout).toContain(`only in ${file}: "${HOSTILE.cr.shown}"`);
    expect(stdout).toMatch(/^metadata differs: .*\\u001b\[41m/m);
  });

  test("extract: the printed paths are escaped, and the file names percent-encode every control", async () => {
    const out = tmp.path("out");
    const { stdout, code } = expectSafe(await runCli(["extract", file, "-o", out]));
    expect(code).toBe(0);
    expect(stdout.trimEnd().split("\n")).toHaveLength(NAMES.length);
    const files = readdirSync(out);
    expect(files).toHaveLength(NAMES.length);
    for (const name of files) expect(CONTROL.test(name), name).toBe(false);
    expect(files).toContain("invoice%E2%80%AEtxt.exe.npy");
    expect(files).toContain("c1%C2%9B31mred.npy");
  });
});

describe("error lines on standard error are escaped", () => {
  test("a name given on the command line, echoed by NOT_FOUND", async () => {
    const result = expectSafe(await runCli(["show", file, "no\u001b]0;x\u0007such\r"]));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("no\\u001b]0;x\\u0007such\\r");
    expect(result.stderr).toMatch(/\(NOT_FOUND\)\n$/);
  });

  test("a file name with controls (inspect prints it; a missing one is an IO_ERROR line)", async () => {
    const path = join(tmp.dir, "in\u001b[31m\u202e.ndp");
    await save(path, { a: new Int8Array(1) });
    const shown = expectSafe(await runCli(["inspect", path]));
    expect(shown.stdout).toContain("in\\u001b[31m\\u202e.ndp");
    const missing = expectSafe(await runCli(["inspect", `${path}\u009b.missing`]));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("\\u009b.missing");
  });

  test("a usage error quoting an unknown option", async () => {
    const result = expectSafe(await runCli(["inspect", file, "--\u001b[2Jx"]));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("\\u001b[2Jx");
  });

  test("--debug stack traces too", async () => {
    const result = expectSafe(await runCli(["show", file, "gone\u001b[5m", "--debug"]));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("gone\\u001b[5m");
  });
});
