/**
 * `ndpack pack` and `ndpack extract`, run as child processes of the built bin: arrays out of a
 * file as .npy files that numpy reads, and back in; `NAME=FILE` and bare `FILE` inputs of every
 * format, metadata, file names for awkward array names, and the errors.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decode } from "../src/index.js";
import { fromNpy, fromNpz, fromSafetensors, toNpz, toSafetensors } from "../src/interop/index.js";
import { save } from "../src/node/index.js";
import { CLI, errorLineOf, requireBuiltCli, runCli, tempDir } from "./helpers/cli-run.js";
import { runInteropPython, type WireArray } from "./helpers/interop-python.js";

const tmp = tempDir("pack");
const hex = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");

const arrays = new Map<string, { data: ArrayBufferView; shape: number[]; dtype?: "bool"; order?: "C" | "F" }>([
  ["layer/0.weight", { data: Float32Array.from({ length: 6 }, (_, i) => i - 2.5), shape: [2, 3] }],
  [".hidden", { data: Int16Array.of(-1, 2), shape: [2] }],
  ["a:b*c?", { data: Uint8Array.of(1, 0, 1), shape: [3], dtype: "bool" }],
  ["fortran", { data: Float64Array.from({ length: 6 }, (_, i) => i), shape: [3, 2], order: "F" }],
]);

beforeAll(async () => {
  await requireBuiltCli();
  await save(tmp.path("model.ndp"), arrays, { metadata: { source: "test" } });
});

afterAll(() => tmp.remove());

describe("extract writes arrays as .npy files", () => {
  test("every array, with file names safe for any array name; numpy reads them", async () => {
    const result = await runCli(["extract", tmp.path("model.ndp"), "-o", tmp.path("out")]);
    expect([result.code, result.stderr]).toEqual([0, ""]);
    const files = ["layer%2F0.weight.npy", "%2Ehidden.npy", "a%3Ab%2Ac%3F.npy", "fortran.npy"];
    expect(result.stdout).toBe(files.map((f) => tmp.path(`out/${f}`)).join("\n") + "\n");
    expect(readdirSync(tmp.path("out")).sort()).toEqual([...files].sort());
    const wires: WireArray[] = [...arrays.values()].map((a, i) => ({ name: files[i]!.slice(0, -4), dtype: a.dtype ?? (a.data instanceof Float32Array ? "float32" : a.data instanceof Int16Array ? "int16" : "float64"), shape: a.shape, order: a.order ?? "C", byteOrder: "little", hex: hex(a.data) }));
    for (const [i, wire] of wires.entries()) expect(hex(fromNpy(readFileSync(tmp.path(`out/${files[i]}`))).data), wire.name).toBe(wire.hex);
    const report = runInteropPython(tmp.path("out"), wires.map((w, i) => ({ file: files[i]!, format: "npy", arrays: [w] })), []);
    expect(report.mismatches).toEqual([]);
    expect(report.checked).toBe(4);
  });

  test("named arrays only, --big-endian, into a new directory", async () => {
    const result = await runCli(["extract", tmp.path("model.ndp"), "fortran", "--big-endian", "--output", tmp.path("new/dir")]);
    expect(result.code).toBe(0);
    expect(readdirSync(tmp.path("new/dir"))).toEqual(["fortran.npy"]);
    const array = fromNpy(readFileSync(tmp.path("new/dir/fortran.npy")));
    expect([array.byteOrder, array.order, Array.from(array.data as Float64Array)]).toEqual(["big", "F", [0, 1, 2, 3, 4, 5]]);
    const missing = await runCli(["extract", tmp.path("model.ndp"), "nope", "-o", tmp.path("none")]);
    expect(missing.code).toBe(2);
    expect(errorLineOf(missing)).toBe(`ndpack extract: no array named "nope" in ${tmp.path("model.ndp")} (it holds 4 arrays: "layer/0.weight", ".hidden", "a:b*c?", "fortran") (NOT_FOUND)`);
    expect(existsSync(tmp.path("none"))).toBe(false);
  });
});

describe("names that are legal in .npz and .safetensors", () => {
  test("an empty name converts between .npz and .safetensors; to .ndp it is INVALID_ARGUMENT saying how to name it", async () => {
    writeFileSync(tmp.path("empty-name.npz"), toNpz({ "": Float32Array.of(1, 2), b: Int8Array.of(3) }));
    const npz = await runCli(["convert", tmp.path("empty-name.npz"), tmp.path("empty-name.safetensors")]);
    expect([npz.code, npz.stderr]).toEqual([0, ""]);
    expect([...fromSafetensors(readFileSync(tmp.path("empty-name.safetensors"))).arrays.keys()].sort()).toEqual(["", "b"]);
    const back = await runCli(["convert", tmp.path("empty-name.safetensors"), tmp.path("back.npz")]);
    expect(back.code).toBe(0);
    expect(fromNpz(readFileSync(tmp.path("back.npz"))).arrays.get("")!.data).toEqual(Float32Array.of(1, 2));
    const ndp = await runCli(["convert", tmp.path("empty-name.npz"), tmp.path("empty-name.ndp")]);
    expect(ndp.code).toBe(2);
    expect(errorLineOf(ndp)).toBe(
      `ndpack convert: ${tmp.path("empty-name.npz")} holds an array with an empty name, which an ndpack file cannot hold: convert to .npz or .safetensors, or name it (ndpack extract ${tmp.path("empty-name.npz")} "" -o DIR, then ndpack pack ${tmp.path("empty-name.ndp")} NAME=DIR/.npy ...) (INVALID_ARGUMENT)`,
    );
    expect(existsSync(tmp.path("empty-name.ndp"))).toBe(false);
  });

  test("a 250-character name extracts (its temporary file name is no longer than its file name); one whose file name would pass 255 bytes is written under a cut name with a hash, and the mapping is printed", async () => {
    const long = "n".repeat(250);
    writeFileSync(tmp.path("long-name.npz"), toNpz({ [long]: Float32Array.of(1, 2) }));
    const result = await runCli(["extract", tmp.path("long-name.npz"), "-o", tmp.path("long")]);
    expect([result.code, result.stderr]).toEqual([0, ""]);
    expect(readdirSync(tmp.path("long"))).toEqual([`${long}.npy`]);
    expect(fromNpy(readFileSync(tmp.path(`long/${long}.npy`))).data).toEqual(Float32Array.of(1, 2));
    const longer = "m".repeat(252);
    writeFileSync(tmp.path("longer-name.npz"), toNpz({ [longer]: Float32Array.of(1) }));
    const cut = await runCli(["extract", tmp.path("longer-name.npz"), "-o", tmp.path("longer")]);
    expect(cut.code, cut.stderr).toBe(0);
    const [written] = readdirSync(tmp.path("longer"));
    expect(written).toMatch(new RegExp(`^m{200}%~[0-9a-f]{16}\\.npy$`));
    expect(cut.stderr).toBe(`ndpack extract: the name of array ${longer} is too long for a file name: written as ${join(tmp.path("longer"), written!)}\n`);
    expect(fromNpy(readFileSync(join(tmp.path("longer"), written!))).data).toEqual(Float32Array.of(1));
  });
});

describe(".npz member names", () => {
  test("pack and convert to .npz refuse, with INVALID_ARGUMENT and no file, an array whose member an unzip tool could write outside its folder", async () => {
    const slip = await runCli(["pack", tmp.path("slip.npz"), `a/../../b=${tmp.path("out/fortran.npy")}`]);
    expect(slip.code).toBe(2);
    expect(errorLineOf(slip)).toBe(`ndpack pack: ${tmp.path("slip.npz")}: array "a/../../b": its .npz member name is unsafe for numpy or unzip tools (INVALID_ARGUMENT)`);
    writeFileSync(tmp.path("absolute.safetensors"), toSafetensors({ ok: Float32Array.of(1), "/etc/x": Float32Array.of(2) }));
    const absolute = await runCli(["convert", tmp.path("absolute.safetensors"), tmp.path("absolute.npz")]);
    expect(absolute.code).toBe(2);
    expect(errorLineOf(absolute)).toBe(`ndpack convert: ${tmp.path("absolute.npz")}: array "/etc/x": its .npz member name is unsafe for numpy or unzip tools (INVALID_ARGUMENT)`);
    expect([existsSync(tmp.path("slip.npz")), existsSync(tmp.path("absolute.npz"))]).toEqual([false, false]);
    // The other formats hold such names, and extract writes them inside its folder.
    expect((await runCli(["convert", tmp.path("absolute.safetensors"), tmp.path("absolute.ndp")])).code).toBe(0);
    const out = await runCli(["extract", tmp.path("absolute.ndp"), "-o", tmp.path("absolute")]);
    expect([out.code, readdirSync(tmp.path("absolute")).sort()]).toEqual([0, ["%2Fetc%2Fx.npy", "ok.npy"]]);
  });
});

describe("extract of many arrays", () => {
  test("fsyncs each file before its rename and the directory once, at the end (strace)", async () => {
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`a${i}`, Int32Array.of(i)]));
    await save(tmp.path("many.ndp"), many);
    const log = tmp.path("strace.log");
    const run = spawnSync("strace", ["-f", "-y", "-e", "trace=fsync,fdatasync,rename", "-o", log, process.execPath, CLI, "extract", tmp.path("many.ndp"), "-o", tmp.path("many")], { encoding: "utf8" });
    expect(run.error, "strace must be installed (.ci/run installs it)").toBeUndefined();
    expect(run.status, run.stderr).toBe(0);
    // Several files are written at once: strace splits calls that overlap ("<unfinished ...>", then "resumed>").
    const lines = readFileSync(log, "utf8").split("\n");
    const syncs = lines.filter((line) => /\bf(data)?sync\(/.test(line));
    expect(syncs.filter((line) => line.includes(`<${tmp.path("many")}>`))).toHaveLength(1);
    const synced = syncs.map((line) => /<([^<>]*\.tmp)>/.exec(line)?.[1]).filter((path) => path !== undefined);
    expect(new Set(synced).size).toBe(40);
    expect(syncs).toHaveLength(41);
    // Each temporary file's rename comes after its fsync; the directory's fsync after every rename.
    const renames = lines.flatMap((line, at) => (/\brename\("([^"]*\.tmp)"/.exec(line) ? [{ path: /\brename\("([^"]*\.tmp)"/.exec(line)![1]!, at }] : []));
    expect(renames).toHaveLength(40);
    const syncedAt = (path: string) => lines.findIndex((line) => /\bf(data)?sync\(/.test(line) && line.includes(`<${path}>`));
    for (const { path, at } of renames) expect(syncedAt(path)).toBeLessThan(at);
    expect(lines.findIndex((line) => /\bf(data)?sync\(/.test(line) && line.includes(`<${tmp.path("many")}>`))).toBeGreaterThan(Math.max(...renames.map((r) => r.at)));
    expect(readdirSync(tmp.path("many"))).toHaveLength(40);
  });

  test("a damaged array in the middle (CHECKSUM, exit 2): the arrays before it are extracted, with their values; nothing of it or after it, no temporary file", async () => {
    const many = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`a${i}`, Int32Array.of(i, 100 + i)]));
    await save(tmp.path("damaged-many.ndp"), many);
    const bytes = readFileSync(tmp.path("damaged-many.ndp"));
    const { offset } = decode(bytes).info("a12");
    bytes[offset + 1]! ^= 0x40;
    writeFileSync(tmp.path("damaged-many.ndp"), bytes);
    const result = await runCli(["extract", tmp.path("damaged-many.ndp"), "-o", tmp.path("damaged-many")]);
    expect(result.code).toBe(2);
    expect(errorLineOf(result)).toMatch(/"a12".* \(CHECKSUM\)$/);
    const written = Array.from({ length: 12 }, (_, i) => `a${i}.npy`);
    expect(readdirSync(tmp.path("damaged-many")).sort()).toEqual([...written].sort());
    expect(result.stdout.trim().split("\n")).toEqual(written.map((name) => join(tmp.path("damaged-many"), name)));
    for (const [i, name] of written.entries()) expect([...(fromNpy(readFileSync(join(tmp.path("damaged-many"), name))).data as Int32Array)]).toEqual([i, 100 + i]);
  });
});

describe("pack assembles arrays from files", () => {
  test("NAME=FILE and FILE inputs of every format, with --metadata; extract then pack gives the same arrays back", async () => {
    await save(tmp.path("two.ndp"), { x: Float32Array.of(1, 2), y: Uint8Array.of(3) });
    expect((await runCli(["convert", tmp.path("two.ndp"), tmp.path("two.safetensors")])).code).toBe(0);
    expect((await runCli(["convert", tmp.path("two.ndp"), tmp.path("two.npz")])).code).toBe(0);
    const result = await runCli([
      "pack",
      tmp.path("packed.ndp"),
      `weights=${tmp.path("out/layer%2F0.weight.npy")}`,
      `f=${tmp.path("out/fortran.npy")}`,
      tmp.path("two.safetensors"),
      `z=${tmp.path("out/%2Ehidden.npy")}`,
      "--metadata",
      '{"step": 3}',
    ]);
    expect([result.code, result.stderr, result.stdout]).toEqual([0, "", ""]);
    const packed = decode(readFileSync(tmp.path("packed.ndp")));
    expect(packed.names).toEqual(["weights", "f", "x", "y", "z"]);
    expect(packed.metadata).toEqual({ step: 3 });
    expect(Array.from(packed.get("weights").data as Float32Array)).toEqual([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]);
    expect([packed.info("f").order, [...packed.info("f").shape]]).toEqual(["F", [3, 2]]);

    // The round trip: every extracted .npy file back under its array name, compressed ("a:b*c?" is no .npz member: its "a:" is a drive).
    const inputs = [...arrays.keys()].map((name, i) => `${name}=${tmp.path(`out/${["layer%2F0.weight", "%2Ehidden", "a%3Ab%2Ac%3F", "fortran"][i]}.npy`)}`);
    const again = await runCli(["pack", tmp.path("again.ndp"), ...inputs, "--compress", "--metadata", '{"source": "test"}']);
    expect(again.code).toBe(0);
    const diff = await runCli(["diff", tmp.path("model.ndp"), tmp.path("again.ndp")]);
    expect([diff.code, diff.stdout]).toEqual([0, "no differences: 4 arrays equal\n"]);
  });

  test("errors: a repeated name, NAME=FILE of a file with several arrays, bad metadata, a missing input", async () => {
    const twice = await runCli(["pack", tmp.path("x.ndp"), `a=${tmp.path("out/fortran.npy")}`, `a=${tmp.path("out/%2Ehidden.npy")}`]);
    expect(twice.code).toBe(2);
    expect(errorLineOf(twice)).toMatch(/^ndpack pack: .*x\.ndp: .*"a".*\(DUPLICATE_NAME\)$/);
    const several = await runCli(["pack", tmp.path("x.ndp"), `a=${tmp.path("model.ndp")}`]);
    expect(several.code).toBe(2);
    expect(errorLineOf(several)).toContain("holds 4 arrays, and NAME=FILE takes a file with one");
    const metadata = await runCli(["pack", tmp.path("x.ndp"), tmp.path("model.ndp"), "--metadata", "[1]"]);
    expect(metadata.code).toBe(2);
    expect(errorLineOf(metadata)).toBe("ndpack pack: --metadata must be a JSON object, such as '{\"step\": 100}' (INVALID_ARGUMENT)");
    const missing = await runCli(["pack", tmp.path("x.ndp"), `a=${tmp.path("missing.npy")}`]);
    expect(missing.code).toBe(1);
    expect(errorLineOf(missing)).toMatch(/\(IO_ERROR\)$/);
    const noName = await runCli(["pack", tmp.path("x.ndp"), `=${tmp.path("model.ndp")}`]);
    expect(noName.code).toBe(2);
    expect(existsSync(tmp.path("x.ndp"))).toBe(false);
  });
});
