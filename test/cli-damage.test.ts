/**
 * Damaged inputs on the command line (issue 18): `convert`, `extract` and `pack` of an .ndp whose
 * payload CRC or padding is damaged (or an .npz member whose CRC-32 is) fail with the input's
 * error (exit 2) and write nothing, instead of laundering the damage into a fresh file with valid
 * checksums; `--salvage` copies the bytes as they are, with a warning naming each damaged array.
 * And the command line and the library apply one rule to the same bytes: an .npz member with bytes
 * after its DEFLATE stream, a safetensors tensor named `metadata` with `shape: [2.0]`.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fromNpy, fromNpz, toNpz } from "../src/interop/index.js";
import { decode, isNdpackError } from "../src/index.js";
import { open, save } from "../src/node/index.js";
import { errorLineOf, requireBuiltCli, runCli, tempDir } from "./helpers/cli-run.js";

const tmp = tempDir("damage");
afterAll(() => tmp.remove());

const plain = Float32Array.from({ length: 64 }, (_, i) => i + 0.5);
const packed = Float64Array.from({ length: 512 }, (_, i) => i % 7);

/** Offsets of the arrays of a saved file: payload start, length, and where its CRC is. */
async function layoutOf(path: string): Promise<Record<string, { offset: number; byteLength: number }>> {
  await using reader = await open(path);
  return Object.fromEntries(reader.names.map((name) => [name, reader.info(name)]));
}

/** Each kind of damage, made on a copy of a good file; `array` is the array it touches. */
const DAMAGES = {
  "payload byte (CHECKSUM)": { code: "CHECKSUM", array: "plain", damage: (bytes: Uint8Array, at: { offset: number; byteLength: number }) => (bytes[at.offset + 5]! ^= 0x40) },
  "padding byte (BAD_PADDING)": { code: "BAD_PADDING", array: "plain", damage: (bytes: Uint8Array, at: { offset: number; byteLength: number }) => (bytes[at.offset + at.byteLength + 4 + 3] = 0x01) },
  "stored CRC of a compressed array (CHECKSUM)": { code: "CHECKSUM", array: "packed", damage: (bytes: Uint8Array, at: { offset: number; byteLength: number }) => (bytes[at.offset + at.byteLength]! ^= 0xff) },
} as const;

let good = "";
const damaged: Record<string, string> = {};
let damagedNpz = "";

beforeAll(async () => {
  await requireBuiltCli();
  good = tmp.path("good.ndp");
  // plain is 256 bytes: with alignment 64, its CRC is followed by 60 bytes of padding.
  await save(good, { plain, packed: { data: packed, codec: "deflate" } }, { alignment: 64 });
  const layout = await layoutOf(good);
  for (const [label, { array, damage }] of Object.entries(DAMAGES)) {
    const bytes = readFileSync(good);
    damage(bytes, layout[array]!);
    damaged[label] = tmp.path(`damaged-${Object.keys(damaged).length}.ndp`);
    writeFileSync(damaged[label]!, bytes);
  }
  // An .npz whose stored member has one bit flipped in its data: its CRC-32 fails.
  const npz = toNpz({ plain });
  const at = fromNpz(npz).arrays.get("plain")!.offset;
  npz[at + 1]! ^= 0x10;
  damagedNpz = tmp.path("damaged.npz");
  writeFileSync(damagedNpz, npz);
});

/** The commands that copy arrays, writing into `out` (a fresh folder); `written` is the file they write for the damaged `array`. */
const COMMANDS = [
  { name: "convert to .ndp", args: (input: string, out: string) => ["convert", input, `${out}/x.ndp`], written: () => "x.ndp" },
  { name: "convert to .npz", args: (input: string, out: string) => ["convert", input, `${out}/x.npz`], written: () => "x.npz" },
  { name: "convert to .safetensors", args: (input: string, out: string) => ["convert", input, `${out}/x.safetensors`], written: () => "x.safetensors" },
  { name: "extract of the array", args: (input: string, out: string, array: string) => ["extract", input, array, "-o", out], written: (array: string) => `${array}.npy` },
  { name: "extract of every array", args: (input: string, out: string) => ["extract", input, "-o", out], written: (array: string) => `${array}.npy` },
  { name: "pack", args: (input: string, out: string) => ["pack", `${out}/x.ndp`, input], written: () => "x.ndp" },
] as const;

let folders = 0;
function freshFolder(): string {
  const folder = tmp.path(`out-${folders++}`);
  mkdirSync(folder);
  return folder;
}

describe.each(Object.entries(DAMAGES))("an .ndp with a damaged %s", (label, { code, array }) => {
  test.each(COMMANDS.map((c) => [c.name, c] as const))("%s fails with the input's error (exit 2) and writes nothing", async (_, command) => {
    const out = freshFolder();
    const result = await runCli([...command.args(damaged[label]!, out, array), "--no-progress"]);
    expect(result.code, result.stderr).toBe(2);
    expect(errorLineOf(result)).toMatch(new RegExp(`${array}.*\\(${code}\\)$`));
    expect(readdirSync(out).filter((f) => f.endsWith(command.written(array)) || f.endsWith(".tmp"))).toEqual([]);
  });

  test.each(COMMANDS.map((c) => [c.name, c] as const))("%s --salvage copies the bytes as they are, with a warning naming the array", async (_, command) => {
    const out = freshFolder();
    const args = command.args(damaged[label]!, out, array);
    const result = await runCli([...args, "--salvage", "--no-progress"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`warning: .*${array}.*\\(${code}\\); copied as it is \\(--salvage\\)`));
    expect(readdirSync(out)).toContain(command.written(array));
  });
});

test("--salvage copies the damaged values themselves (here: one flipped bit of a float32)", async () => {
  const out = freshFolder();
  const result = await runCli(["extract", damaged["payload byte (CHECKSUM)"]!, "plain", "-o", out, "--salvage"]);
  expect(result.code).toBe(0);
  const values = fromNpy(readFileSync(`${out}/plain.npy`)).data as Float32Array;
  expect(values[0]).toBe(plain[0]);
  expect(values[1]).not.toBe(plain[1]);
});

test("a good file copies without warnings; --salvage changes nothing then", async () => {
  const out = freshFolder();
  const a = await runCli(["extract", good, "-o", out]);
  const b = await runCli(["convert", good, `${out}/x.ndp`, "--salvage"]);
  expect([a.code, a.stderr, b.code, b.stderr]).toEqual([0, "", 0, ""]);
  expect(Array.from(decode(readFileSync(`${out}/x.ndp`)).get("packed").data as Float64Array)).toEqual(Array.from(packed));
});

test("an .npz member whose CRC-32 fails: convert exits 2 (CHECKSUM), --salvage copies it", async () => {
  const out = freshFolder();
  const failed = await runCli(["convert", damagedNpz, tmp.path("from-npz.ndp")]);
  expect(failed.code).toBe(2);
  expect(errorLineOf(failed)).toMatch(/\(CHECKSUM\)$/);
  const salvaged = await runCli(["extract", damagedNpz, "-o", out, "--salvage"]);
  expect(salvaged.code).toBe(0);
  expect(salvaged.stderr).toMatch(/warning: .*\(CHECKSUM\); copied as it is/);
});

describe("one rule for the library and the command line", () => {
  /** `npz` with `extra` bytes after the DEFLATE stream of its first (only) member, inside the member's compressed size. */
  function withBytesAfterDeflate(npz: Uint8Array, extra: Uint8Array): Uint8Array {
    const view = new DataView(npz.buffer, npz.byteOffset, npz.byteLength);
    const nameLength = view.getUint16(26, true);
    const extraLength = view.getUint16(28, true);
    const compressedSize = view.getUint32(18, true);
    const end = 30 + nameLength + extraLength + compressedSize;
    const out = new Uint8Array(npz.length + extra.length);
    out.set(npz.subarray(0, end));
    out.set(extra, end);
    out.set(npz.subarray(end), end + extra.length);
    const patched = new DataView(out.buffer);
    const endRecord = out.length - 22;
    const centralDirectory = patched.getUint32(endRecord + 16, true) + extra.length;
    patched.setUint32(endRecord + 16, centralDirectory, true);
    patched.setUint32(18, compressedSize + extra.length, true);
    patched.setUint32(centralDirectory + 20, compressedSize + extra.length, true);
    return out;
  }

  test("an .npz member with bytes after its DEFLATE stream: fromNpz, verify, convert and show all say CODEC_ERROR", async () => {
    const npz = withBytesAfterDeflate(toNpz({ x: packed }, { compress: true }), Uint8Array.of(1, 2, 3));
    const path = tmp.path("trailing.npz");
    writeFileSync(path, npz);
    let code: string | undefined;
    try {
      fromNpz(npz);
    } catch (error) {
      code = isNdpackError(error) ? error.code : String(error);
    }
    expect(code).toBe("CODEC_ERROR");
    // The same member without the extra bytes is valid for both.
    expect(fromNpz(toNpz({ x: packed }, { compress: true })).arrays.size).toBe(1);
    for (const args of [["verify", path], ["convert", path, tmp.path("trailing.ndp")], ["show", path, "x"], ["convert", path, tmp.path("trailing2.ndp"), "--salvage"]]) {
      const result = await runCli(args);
      expect(result.code, `${args.join(" ")}: ${result.stdout}${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(/\(CODEC_ERROR\)\n$/);
      expect(result.stdout).not.toMatch(/valid/);
    }
  });

  test("a safetensors tensor named metadata with shape [2.0]: BAD_NUMBER in the library and the command line", async () => {
    const header = new TextEncoder().encode('{"metadata":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}}');
    const bytes = new Uint8Array(8 + header.length + 2);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(header, 8);
    const path = tmp.path("float-shape.safetensors");
    writeFileSync(path, bytes);
    for (const args of [["inspect", path], ["verify", path], ["convert", path, tmp.path("float-shape.ndp")]]) {
      const result = await runCli(args);
      expect(result.code).toBe(2);
      expect(errorLineOf(result)).toMatch(/\(BAD_NUMBER\)$/);
    }
  });
});
