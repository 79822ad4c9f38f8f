/**
 * The README never rots: every recipe's code block is copied exactly from its file in examples/
 * (marked `<!-- example: examples/<file> -->` above the block), every example runs (as a child
 * process, importing the package by its name, from a fresh directory), `npm run demo`'s script
 * runs and passes its own checks, and the command line the README documents is the one the built
 * bin has. The Python recipe and the demo fail (never skip) without python3 and numpy; the
 * remote recipes (examples/remote-*.mjs) read files served by a real nginx, and fail without it.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { requireBuiltCli, REPO, runCli, tempDir } from "./helpers/cli-run.js";
import { encode } from "../src/index.js";
import { toSafetensors } from "../src/interop/index.js";
import { startNginx, type Nginx } from "./helpers/nginx.js";
import { PYTHON, requirePython } from "./helpers/python-env.js";

const README = readFileSync(join(REPO, "README.md"), "utf8");
const EXAMPLES = join(REPO, "examples");

/** The recipe blocks of the README: the file each names and the code under it. */
function recipeBlocks(): { file: string; code: string }[] {
  const blocks: { file: string; code: string }[] = [];
  const marker = /<!-- example: (examples\/[\w.-]+) -->\n```(?:js|ts|python)\n([\s\S]*?)\n```/g;
  for (const match of README.matchAll(marker)) blocks.push({ file: match[1]!, code: match[2]! });
  return blocks;
}

/** Runs a script with node (or, for a .py file, Python) from `cwd`, with `args` and `env` added; resolves with its exit code and output. */
function runNode(script: string, cwd: string, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const runner = script.endsWith(".py") ? PYTHON : process.execPath;
    const child = spawn(runner, [script, ...args], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  await requireBuiltCli();
  if (!existsSync(join(REPO, "dist/index.js"))) throw new Error("dist/ is missing: the examples import the built package (npm run build)");
  requirePython();
});

describe("README recipes are copied from examples/", () => {
  const blocks = recipeBlocks();

  test("every recipe block is literally in its example file", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(9);
    for (const { file, code } of blocks) {
      expect(existsSync(join(REPO, file)), file).toBe(true);
      expect(readFileSync(join(REPO, file), "utf8"), `the README's block for ${file} is not in the file`).toContain(code);
    }
  });

  test("every example but the demo is a recipe of the README, and imports the package by its name", () => {
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith(".mjs"));
    const shown = new Set(blocks.map((b) => b.file));
    for (const file of files) {
      if (file !== "demo.mjs") expect(shown.has(`examples/${file}`), `${file} has no block in the README`).toBe(true);
      const source = readFileSync(join(EXAMPLES, file), "utf8");
      expect(source, file).toMatch(/from "ndpack(\/node|\/interop|\/streams|\/sets|\/http)?"/);
      expect(source, file).not.toMatch(/from "\.\.\/(dist|src)\//);
    }
    for (const file of readdirSync(EXAMPLES).filter((f) => f.endsWith(".py"))) expect(shown.has(`examples/${file}`), `${file} has no block in the README`).toBe(true);
  });
});

describe("every example runs", () => {
  // stream-frames.py is the producer that stream-frames.mjs starts.
  const runnable = readdirSync(EXAMPLES).filter((f) => (f.endsWith(".mjs") && f !== "demo.mjs" && !f.endsWith("-worker.mjs") && !f.startsWith("remote-")) || (f.endsWith(".py") && f !== "stream-frames.py"));
  test.concurrent.each(runnable)("%s", async (file) => {
    const dir = tempDir("example");
    try {
      // The example's own temporary directory goes under TMPDIR, removed with `dir`.
      mkdirSync(dir.path("cwd"));
      mkdirSync(dir.path("tmp"));
      const result = await runNode(join(EXAMPLES, file), dir.path("cwd"), [], { TMPDIR: dir.path("tmp") });
      expect(result.stderr, file).toBe("");
      expect(result.code, `${file}:\n${result.stdout}`).toBe(0);
      expect(result.stdout).toContain(`${file.replace(/\.(mjs|py)$/, "")}: ok`);
      // Outputs go to a temporary directory, never to where the example is run from.
      expect(readdirSync(dir.path("cwd")), file).toEqual([]);
    } finally {
      dir.remove();
    }
  });

  test("npm run demo's script: the whole story, every check passing", async () => {
    const result = await runNode(join(EXAMPLES, "demo.mjs"), REPO);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain("$ ndpack inspect demo.ndp");
    expect(result.stdout).toMatch(/read \d+ bytes of the file's \d+/);
    expect(result.stdout).toContain("$ ndpack verify demo.ndp");
    expect(result.stdout).toContain("read the file from Python");
    expect(result.stdout).not.toContain("FAIL");
    expect(result.stdout.trimEnd().endsWith("every check passed")).toBe(true);
    expect(JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).scripts.demo).toBe("npm run build && node examples/demo.mjs");
  });

  test("npm run demo's script without numpy: fails with one line naming what to install, no stack", async () => {
    // A numpy that cannot be imported, first on Python's path: what a python3 without numpy does.
    const dir = tempDir("no-numpy");
    try {
      mkdirSync(dir.path("numpy"));
      writeFileSync(dir.path("numpy/__init__.py"), 'raise ModuleNotFoundError("No module named \'numpy\'", name="numpy")\n');
      const result = await runNode(join(EXAMPLES, "demo.mjs"), REPO, [], { PYTHONPATH: dir.dir });
      expect(result.code, result.stdout + result.stderr).toBe(1);
      expect(result.stdout).toContain("ok   ndpack verify exits 0");
      expect(result.stdout.split("\n").filter((l) => l.startsWith("FAIL"))).toEqual([
        "FAIL this step needs python3 with numpy (numpy cannot be imported): python3 -m pip install numpy",
      ]);
      expect(result.stderr).toBe("");
      expect(result.stdout.trimEnd().endsWith("1 check(s) failed")).toBe(true);
    } finally {
      dir.remove();
    }
  });
});

describe("the remote recipes run against a real nginx", () => {
  const served = tempDir("served");
  let nginx: Nginx | undefined;
  /** The command line of each remote recipe: the URL of the file it reads (and the tensor). */
  const argsOf: Record<string, (origin: string) => string[]> = {
    "remote-safetensors.mjs": (origin) => [`${origin}/files/model.safetensors`, "h.0.ln_1.weight"],
    "remote-ndpack.mjs": (origin) => [`${origin}/files/frames.ndp`],
    "remote-stream-safetensors.mjs": (origin) => [`${origin}/files/model.safetensors`],
  };

  beforeAll(async () => {
    writeFileSync(join(served.dir, "model.safetensors"), toSafetensors({ "wte.weight": { data: new Float32Array(10_000 * 768), shape: [10_000, 768] }, "h.0.ln_1.weight": new Float32Array(768).fill(1), "h.0.ln_1.bias": new Float32Array(768) }));
    const frames = new Float32Array(64 * 256 * 256);
    for (let i = 0; i < 64; i++) frames.fill(i, i * 65536, (i + 1) * 65536);
    writeFileSync(join(served.dir, "frames.ndp"), encode({ frames: { data: frames, shape: [64, 256, 256] }, timestamps: Float64Array.from({ length: 64 }, (_, i) => i / 30), labels: Int32Array.from({ length: 64 }, (_, i) => i) }));
    nginx = await startNginx(served.dir);
  });

  afterAll(async () => {
    await nginx?.stop();
    served.remove();
  });

  test("every remote recipe has a file to read", () => {
    expect(readdirSync(EXAMPLES).filter((f) => f.startsWith("remote-")).sort()).toEqual(Object.keys(argsOf).sort());
  });

  test.concurrent.each(Object.keys(argsOf))("%s", async (file) => {
    const dir = tempDir("example");
    try {
      const result = await runNode(join(EXAMPLES, file), dir.dir, argsOf[file]!(nginx!.origin));
      expect(result.stderr, file).toBe("");
      expect(result.code, `${file}:\n${result.stdout}`).toBe(0);
      expect(result.stdout).toContain(`${file.replace(/\.(mjs|py)$/, "")}: ok`);
    } finally {
      dir.remove();
    }
  });
});

describe("the README's command line is the bin's", () => {
  const section = README.slice(README.indexOf("## Command line"), README.indexOf("## API reference"));

  test("every command and every option it names exists, with --help", async () => {
    const commands = [...section.matchAll(/^ndpack (\w+) /gm)].map((m) => m[1]!);
    expect(commands).toEqual(["inspect", "show", "verify", "convert", "extract", "pack", "diff", "view"]);
    const helps = await Promise.all(commands.map((command) => runCli([command, "--help"])));
    const allHelp = helps.map((h) => h.stdout).join("\n");
    for (const help of helps) expect(help.code).toBe(0);
    const options = new Set([...section.matchAll(/(?<![\w-])(--[a-z][a-z-]*)/g)].map((m) => m[1]!));
    expect(options.size).toBeGreaterThan(15);
    for (const option of options) expect(allHelp, option).toContain(option);
    // The exit codes table says what the bin's help says.
    expect(section).toContain("| 2 | bad input");
    expect(allHelp).toContain("2  bad input");
  });
});
