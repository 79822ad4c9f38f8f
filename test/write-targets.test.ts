/**
 * Where ndpack writes (issue 18): every writer (`save`, `createWriter` on a path, and each CLI
 * writer: convert to every format, pack, extract) follows one policy, modelled on GNU tar's and
 * curl's handling of links and special files. The final path may be a regular file or absent; a
 * symbolic link there is refused (NOT_REGULAR_FILE) unless `followSymlinks` / `--follow-symlinks`
 * is given, and `extract` never follows one; devices, FIFOs, sockets and directories are refused
 * (NOT_REGULAR_FILE); set-id and sticky bits are never carried over; a new file's mode is what
 * `fs.writeFile` gives under the umask.
 *
 * Each situation is built in a fresh temporary folder. The tests run as root on the CI machine (to
 * make character devices with mknod and files of other owners with chown); elsewhere the device
 * becomes a link to /dev/null and the other owner is this user. As root no link ever points at the
 * real /dev/null: a writer that followed it would replace the machine's /dev/null (today's code
 * did, before this policy), so root's devices are null devices made with mknod in the temporary
 * folder.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decode, isNdpackError } from "../src/index.js";
import { fromNpy, fromNpz, fromSafetensors } from "../src/interop/index.js";
import { createWriter, save } from "../src/node/index.js";
import { errorLineOf, requireBuiltCli, runCli } from "./helpers/cli-run.js";
import { tempDir } from "./helpers/node-files.js";

const root = tempDir("ndpack-targets-");
afterAll(() => root.remove());
const isRoot = process.getuid?.() === 0;
let source = "";

beforeAll(async () => {
  await requireBuiltCli();
  source = root.file("source.ndp");
  await save(source, { x: new Int8Array([1, 2, 3]) });
});

/** What a writer did: its error code, or `undefined` when it wrote the file. */
type Outcome = string | undefined;

/** A writer of the path `<dir>/x<extension>`. */
interface Writer {
  readonly name: string;
  readonly extension: string;
  /** Whether it has a way to follow a link (extract has none). */
  readonly canFollow: boolean;
  write(path: string, follow: boolean): Promise<Outcome>;
}

async function codeOf(run: () => Promise<unknown>): Promise<Outcome> {
  try {
    await run();
    return undefined;
  } catch (error) {
    if (!isNdpackError(error)) throw error;
    return error.code;
  }
}

/** The code the CLI printed, checking that a refusal exits with 2 and success with 0. */
async function cliCode(args: string[]): Promise<Outcome> {
  const result = await runCli(args);
  if (result.code === 0) return undefined;
  const code = /\(([A-Z_]+)\)$/.exec(errorLineOf(result))?.[1];
  expect(result.code, result.stderr).toBe(code === "IO_ERROR" ? 1 : 2);
  return code;
}

const follow = (yes: boolean) => (yes ? ["--follow-symlinks"] : []);

const WRITERS: readonly Writer[] = [
  { name: "save", extension: ".ndp", canFollow: true, write: (path, yes) => codeOf(() => save(path, { x: new Int8Array([1, 2, 3]) }, { followSymlinks: yes })) },
  {
    name: "createWriter",
    extension: ".ndp",
    canFollow: true,
    write: (path, yes) =>
      codeOf(async () => {
        const writer = await createWriter(path, [{ name: "x", dtype: "int8", shape: [3] }], { followSymlinks: yes });
        await writer.write("x", new Int8Array([1, 2, 3]));
        await writer.close();
      }),
  },
  {
    name: "createWriter (compressed)",
    extension: ".ndp",
    canFollow: true,
    write: (path, yes) =>
      codeOf(async () => {
        const writer = await createWriter(path, [{ name: "x", dtype: "int8", shape: [3], codec: "deflate" }], { followSymlinks: yes });
        await writer.write("x", new Int8Array([1, 2, 3]));
        await writer.close();
      }),
  },
  { name: "ndpack convert to .ndp", extension: ".ndp", canFollow: true, write: (path, yes) => cliCode(["convert", source, path, ...follow(yes)]) },
  { name: "ndpack convert to .npy", extension: ".npy", canFollow: true, write: (path, yes) => cliCode(["convert", source, path, ...follow(yes)]) },
  { name: "ndpack convert to .npz", extension: ".npz", canFollow: true, write: (path, yes) => cliCode(["convert", source, path, ...follow(yes)]) },
  { name: "ndpack convert to .safetensors", extension: ".safetensors", canFollow: true, write: (path, yes) => cliCode(["convert", source, path, ...follow(yes)]) },
  { name: "ndpack pack", extension: ".ndp", canFollow: true, write: (path, yes) => cliCode(["pack", path, source, ...follow(yes)]) },
  // extract writes DIR/<array name>.npy: the array is named "x".
  { name: "ndpack extract", extension: ".npy", canFollow: false, write: (path) => cliCode(["extract", source, "x", "-o", dirname(path)]) },
];

let folders = 0;
/** A fresh folder with an "outside" folder next to it, and the writer's path in it. */
function situation(writer: Writer) {
  const base = root.file(`case-${folders++}`);
  const dir = join(base, "dir");
  const outside = join(base, "outside");
  mkdirSync(dir, { recursive: true });
  mkdirSync(outside);
  return { dir, outside, path: join(dir, `x${writer.extension}`) };
}

/** A file outside the folder, set-user-id (4755), that a link at the path points to. */
function victim(outside: string): string {
  const file = join(outside, "victim");
  writeFileSync(file, "victim");
  chmodSync(file, 0o4755);
  return file;
}

/** A null character device at `path`: made with mknod as root, else a link to /dev/null (which this user cannot replace). */
function nullDevice(path: string): void {
  if (isRoot) execFileSync("mknod", [path, "c", "1", "3"]);
  else symlinkSync("/dev/null", path);
}

/** True when `path` holds what the writer wrote: the array x = [1, 2, 3] of int8, in the writer's format. */
function holdsArray(path: string, writer: Writer): boolean {
  const bytes = readFileSync(path);
  switch (writer.extension) {
    case ".ndp":
      return Array.from(decode(bytes).get("x").data as Int8Array).join() === "1,2,3";
    case ".npz":
      return Array.from(fromNpz(bytes).arrays.get("x")!.data as Int8Array).join() === "1,2,3";
    case ".safetensors":
      return Array.from(fromSafetensors(bytes).arrays.get("x")!.data as Int8Array).join() === "1,2,3";
    default:
      return Array.from(fromNpy(bytes).data as Int8Array).join() === "1,2,3";
  }
}

describe.each(WRITERS.map((w) => [w.name, w] as const))("%s", (_, writer) => {
  test("a symlink at the path to a set-user-id file outside the folder: NOT_REGULAR_FILE, the target untouched", async () => {
    const { path, outside } = situation(writer);
    const target = victim(outside);
    symlinkSync(target, path);
    expect(await writer.write(path, false)).toBe("NOT_REGULAR_FILE");
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    expect(readFileSync(target, "utf8")).toBe("victim");
    expect(statSync(target).mode & 0o7777).toBe(0o4755);
    // Refused before anything is created: no temporary file is left in either folder.
    expect([...readdirSync(dirname(path)), ...readdirSync(outside)].filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  if (writer.canFollow) test("with followSymlinks the linked regular file is replaced, without its set-user-id bit", async () => {
    const { path, outside } = situation(writer);
    const target = victim(outside);
    symlinkSync(target, path);
    expect(await writer.write(path, true)).toBeUndefined();
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    expect(holdsArray(target, writer)).toBe(true);
    expect(statSync(target).mode & 0o7777).toBe(0o755);
  });

  test("a symlink to a character device: NOT_REGULAR_FILE, even when following links", async () => {
    const { path, outside } = situation(writer);
    const device = join(outside, "null");
    nullDevice(device);
    symlinkSync(device, path);
    expect(await writer.write(path, false)).toBe("NOT_REGULAR_FILE");
    if (writer.canFollow) expect(await writer.write(path, true)).toBe("NOT_REGULAR_FILE");
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    expect(statSync(device).isCharacterDevice()).toBe(true);
  });

  test("a character device: NOT_REGULAR_FILE, the node kept", async () => {
    const { path } = situation(writer);
    nullDevice(path);
    expect(await writer.write(path, true)).toBe("NOT_REGULAR_FILE");
    expect(statSync(path).isCharacterDevice()).toBe(true);
  });

  test("a FIFO: NOT_REGULAR_FILE, the FIFO kept", async () => {
    const { path } = situation(writer);
    execFileSync("mkfifo", [path]);
    expect(await writer.write(path, true)).toBe("NOT_REGULAR_FILE");
    expect(lstatSync(path).isFIFO()).toBe(true);
  });

  test("a socket: NOT_REGULAR_FILE, the socket kept", async () => {
    const { path } = situation(writer);
    execFileSync("python3", ["-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", path]);
    expect(await writer.write(path, true)).toBe("NOT_REGULAR_FILE");
    expect(lstatSync(path).isSocket()).toBe(true);
  });

  test("a directory: NOT_REGULAR_FILE, the directory kept", async () => {
    const { path } = situation(writer);
    mkdirSync(path);
    writeFileSync(join(path, "inside"), "kept");
    expect(await writer.write(path, true)).toBe("NOT_REGULAR_FILE");
    expect(readFileSync(join(path, "inside"), "utf8")).toBe("kept");
  });

  test("a 6755 file of another owner is replaced by a 0755 file: set-id and sticky bits are not carried over", async () => {
    const { path } = situation(writer);
    writeFileSync(path, "old");
    if (isRoot) chownSync(path, 4321, 4321);
    chmodSync(path, 0o7755);
    expect(await writer.write(path, false)).toBeUndefined();
    expect(holdsArray(path, writer)).toBe(true);
    const info = lstatSync(path);
    expect(info.isFile()).toBe(true);
    expect(info.mode & 0o7777).toBe(0o755);
    expect(info.uid).toBe(process.getuid!());
  });

  test("a new file gets the mode fs.writeFile gives under the umask; a 0640 file keeps 0640", async () => {
    const { path, dir } = situation(writer);
    const umask = process.umask();
    expect(await writer.write(path, false)).toBeUndefined();
    writeFileSync(join(dir, "reference"), "");
    expect(statSync(path).mode & 0o7777).toBe(statSync(join(dir, "reference")).mode & 0o7777);
    expect(statSync(path).mode & 0o7777).toBe(0o666 & ~umask);
    chmodSync(path, 0o640);
    expect(await writer.write(path, false)).toBeUndefined();
    expect(statSync(path).mode & 0o7777).toBe(0o640);
  });
});

test("a dangling symlink is NOT_REGULAR_FILE, with or without followSymlinks; nothing is created where it points", async () => {
  const { path, outside } = situation(WRITERS[0]!);
  const missing = join(outside, "missing");
  symlinkSync(missing, path);
  expect(await codeOf(() => save(path, { x: new Int8Array(1) }))).toBe("NOT_REGULAR_FILE");
  expect(await codeOf(() => save(path, { x: new Int8Array(1) }, { followSymlinks: true }))).toBe("NOT_REGULAR_FILE");
  expect(readdirSync(outside)).toEqual([]);
});

test("a link planted after createWriter checked the path is replaced by the rename, never written through", async () => {
  const { path, outside } = situation(WRITERS[1]!);
  const target = victim(outside);
  const writer = await createWriter(path, [{ name: "x", dtype: "int8", shape: [3] }]);
  symlinkSync(target, path);
  await writer.write("x", new Int8Array([1, 2, 3]));
  await writer.close();
  expect(lstatSync(path).isFile()).toBe(true);
  expect(Array.from(decode(readFileSync(path)).get("x").data as Int8Array)).toEqual([1, 2, 3]);
  expect(readFileSync(target, "utf8")).toBe("victim");
  expect(statSync(target).mode & 0o7777).toBe(0o4755);
});

test("followSymlinks must be a boolean (INVALID_ARGUMENT)", async () => {
  expect(await codeOf(() => save(root.file("bad.ndp"), { x: new Int8Array(1) }, { followSymlinks: "yes" as never }))).toBe("INVALID_ARGUMENT");
});
