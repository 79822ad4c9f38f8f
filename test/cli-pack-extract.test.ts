/**
 * `ndpack pack` and `ndpack extract`, run as child processes of the built bin: arrays out of a
 * file as .npy files that numpy reads, and back in; `NAME=FILE` and bare `FILE` inputs of every
 * format, metadata, file names for awkward array names, and the errors.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decode } from "../src/index.js";
import { fromNpy, fromNpz, fromSafetensors, toNpy, toNpz, toSafetensors } from "../src/interop/index.js";
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

describe("names as file names, and back", () => {
  const hash = (name: string) => createHash("sha256").update(name, "utf8").digest("hex").slice(0, 16);

  test("names that differ only in case or Unicode normalization get files that differ on any file system (the later array's marked with its hash, and said); Windows device names are escaped; a name given twice is written once", async () => {
    const names = ["A", "a", "\u00e9", "e\u0301", "\u212A", "k", "stra\u00dfe", "STRASSE", "CON", "aux.0.weight", "nul .x", "COM1", "console", "COM0", "lpt\u00b9.x"];
    await save(tmp.path("cases.ndp"), new Map(names.map((name, i) => [name, Int32Array.of(i)])));
    const result = await runCli(["extract", tmp.path("cases.ndp"), "-o", tmp.path("cases")]);
    expect(result.code, result.stderr).toBe(0);
    const files = ["A.npy", `a%~${hash("a")}.npy`, "\u00e9.npy", `e\u0301%~${hash("e\u0301")}.npy`, "\u212A.npy", `k%~${hash("k")}.npy`, "stra\u00dfe.npy", `STRASSE%~${hash("STRASSE")}.npy`, "%43ON.npy", "%61ux.0.weight.npy", "%6Eul .x.npy", "%43OM1.npy", "console.npy", "COM0.npy", "%6Cpt\u00b9.x.npy"];
    expect(result.stdout).toBe(files.map((file) => `${join(tmp.path("cases"), file)}\n`).join(""));
    expect(readdirSync(tmp.path("cases")).sort()).toEqual([...files].sort());
    for (const [i, file] of files.entries()) expect([...(fromNpy(readFileSync(join(tmp.path("cases"), file))).data as Int32Array)], file).toEqual([i]);
    const said = (first: string, second: number) => `ndpack extract: arrays ${first} and ${names[second]} differ only in case or Unicode normalization, which file systems of macOS and Windows ignore: the second is written as ${join(tmp.path("cases"), files[second]!)}\n`;
    expect(result.stderr).toBe(said("A", 1) + said("\u00e9", 3) + said("\u212A", 5) + said("stra\u00dfe", 7));

    // Pack gives each file the name extract wrote it for (marked ones by their hash): the same arrays back.
    const back = await runCli(["pack", tmp.path("cases-back.ndp"), ...files.map((file) => join(tmp.path("cases"), file))]);
    expect([back.code, back.stderr]).toEqual([0, ""]);
    const packed = decode(readFileSync(tmp.path("cases-back.ndp")));
    expect(packed.names).toEqual(names);
    for (const [i, name] of names.entries()) expect([...(packed.get(name).data as Int32Array)], name).toEqual([i]);

    const twice = await runCli(["extract", tmp.path("cases.ndp"), "a", "A", "a", "-o", tmp.path("twice")]);
    expect([twice.code, twice.stdout]).toEqual([0, `${join(tmp.path("twice"), "a.npy")}\n${join(tmp.path("twice"), `A%~${hash("A")}.npy`)}\n`]);
    expect(readdirSync(tmp.path("twice")).sort()).toEqual([`A%~${hash("A")}.npy`, "a.npy"]);
  });

  test("a .npy file is named after the file unless its name is one extract writes: escapes only as extract writes them, a marked name only with its name's hash", async () => {
    const one = toNpy(Float32Array.of(1));
    const cases: [string, string][] = [
      ["layer%2F0.weight", "layer/0.weight"],
      ["%2E%2E%2Fx", "%2E%2E%2Fx"], // extract writes ../x as %2E.%2Fx
      ["%2E.%2Fx", "../x"],
      ["a%2fb", "a%2fb"], // a lower-case escape
      ["a%20b", "a%20b"], // a space is not escaped
      ["100%", "100%"],
      ["%C3%A9", "%C3%A9"], // é is not escaped
      ["%C2%85", "\u0085"],
      [`x%~${hash("x")}`, "x"],
      [`x%~${hash("y")}`, `x%~${hash("y")}`],
      [`${"n".repeat(200)}%~${hash("n".repeat(300))}`, `${"n".repeat(200)}%~${hash("n".repeat(300))}`], // cut: the rest of the name is gone
      ["%43ON", "CON"],
      ["aux", "aux"], // a device name extract would have escaped: the file's name as it is
    ];
    mkdirSync(tmp.path("named"));
    const inputs = cases.map(([file]) => {
      writeFileSync(tmp.path(`named/${file}.npy`), one);
      return tmp.path(`named/${file}.npy`);
    });
    const result = await runCli(["pack", tmp.path("named.safetensors"), ...inputs]);
    expect([result.code, result.stderr]).toEqual([0, ""]);
    expect([...fromSafetensors(readFileSync(tmp.path("named.safetensors"))).arrays.keys()].sort()).toEqual(cases.map(([, name]) => name).sort());
    const inspect = await runCli(["inspect", inputs[0]!, "--json"]);
    expect((JSON.parse(inspect.stdout) as { arrays: { name: string }[] }).arrays.map((a) => a.name)).toEqual(["layer/0.weight"]);
  });

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

    // The round trip: every extracted .npy file back under its array name (the one extract wrote it for), compressed.
    const inputs = ["layer%2F0.weight", "%2Ehidden", "a%3Ab%2Ac%3F", "fortran"].map((file) => tmp.path(`out/${file}.npy`));
    const again = await runCli(["pack", tmp.path("again.ndp"), ...inputs, "--compress", "--metadata", '{"source": "test"}']);
    expect([again.code, again.stderr]).toEqual([0, ""]);
    expect(decode(readFileSync(tmp.path("again.ndp"))).names).toEqual([...arrays.keys()]);
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
