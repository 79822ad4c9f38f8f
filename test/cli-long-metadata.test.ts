/**
 * Metadata too long to show (issue 16): `inspect` and `diff` print long strings and keys cut, with
 * their length, instead of hundreds of megabytes (a header may hold a 99 MiB string); `--json`
 * prints every character, written piece by piece, and is exactly `JSON.stringify` of the report.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { save } from "../src/node/index.js";
import { requireBuiltCli, runCli, tempDir } from "./helpers/cli-run.js";

const tmp = tempDir("long-metadata");

// 4.5 million UTF-16 units with a surrogate pair (an emoji) every 5: printJson's 4th slice would
// end inside one (4 * 2^20 = 4 mod 5); escapes and controls (a quote, a backslash, LF, ESC, U+202E);
// and a key of 1000 characters.
const long = "abc😀".repeat(900_000) + '"\\\n\u001b\u202e';
const longKey = "k".repeat(1000);
const metadata = { short: "kept", long, nested: { [longKey]: [1, -0, 2.5, "x".repeat(250)], list: [] as unknown[], empty: {} } };

beforeAll(async () => {
  await requireBuiltCli();
  await save(tmp.path("long.ndp"), { a: Float32Array.of(1) }, { metadata });
  await save(tmp.path("reordered.ndp"), { a: Float32Array.of(1) }, { metadata: { nested: metadata.nested, long, short: "kept" } });
  await save(tmp.path("other.ndp"), { a: Float32Array.of(1) }, { metadata: { ...metadata, long: `${long}!` } });
});

afterAll(() => tmp.remove());

describe("inspect of metadata with long strings and keys", () => {
  test("text: each string or key past 200 characters cut, with how many characters follow", async () => {
    const result = await runCli(["inspect", tmp.path("long.ndp")]);
    expect(result.code).toBe(0);
    expect(result.stdout.length).toBeLessThan(5000);
    expect(result.stdout).toContain(`"long": ${JSON.stringify(long.slice(0, 200) + "…")} (+${long.length - 200} characters)`);
    expect(result.stdout).toContain(`${JSON.stringify("k".repeat(200) + "…")} (+800 characters): [`);
    expect(result.stdout).toContain(`${JSON.stringify("x".repeat(200) + "…")} (+50 characters)`);
    expect(result.stdout).toContain('"short": "kept"');
  });

  test("--json: every character, exactly JSON.stringify(report, null, 2)", async () => {
    const result = await runCli(["inspect", tmp.path("long.ndp"), "--json"]);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { metadata: unknown };
    expect(report.metadata).toEqual({ ...metadata, nested: { ...metadata.nested, [longKey]: [1, 0, 2.5, "x".repeat(250)] } });
    // The same text as one JSON.stringify, with the controls JSON leaves raw (U+202E) escaped.
    expect(result.stdout).toBe(`${JSON.stringify(report, null, 2).replace(/\u202e/g, "\\u202e")}\n`);
  });
});

describe("diff of metadata with long strings", () => {
  test("the same metadata in another key order: no difference", async () => {
    const result = await runCli(["diff", tmp.path("long.ndp"), tmp.path("reordered.ndp")]);
    expect(result.stdout).toMatch(/^no differences/);
    expect(result.code).toBe(0);
  });

  test("a long string that differs in its last character: a difference, shown cut", async () => {
    const result = await runCli(["diff", tmp.path("long.ndp"), tmp.path("other.ndp")]);
    expect(result.code).toBe(1);
    expect(result.stdout.length).toBeLessThan(5000);
    expect(result.stdout).toContain(`metadata differs: {"short":"kept","long":${JSON.stringify(long.slice(0, 200) + "…")} (+${long.length - 200} characters)`);
    const json = await runCli(["diff", tmp.path("long.ndp"), tmp.path("other.ndp"), "--json"]);
    expect(json.code).toBe(1);
    expect((JSON.parse(json.stdout) as { metadata: { b: { long: string } } }).metadata.b.long).toBe(`${long}!`);
  });
});
