/**
 * The package as a user gets it from a clone (README, "Quickstart": `npm pack`, which builds first,
 * then `npm install ndpack-0.1.0.tgz`): the tarball `npm pack` writes from the built dist/,
 * unpacked into a fresh project's node_modules/ndpack as npm lays it down, with the `ndpack` bin
 * linked and its one dependency (commander) linked from the clone's node_modules, so that nothing
 * here reaches a registry. What is not in the tarball is not there: a file `files` leaves out, a
 * declaration chunk the build forgot, fails the test that needs it.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, tempDir } from "./cli-run.js";

/** A project with the packed package installed. */
export interface PackedInstall {
  /** The project's directory. */
  readonly dir: string;
  /** `file` in the project's directory. */
  readonly path: (file: string) => string;
  /** The installed package's directory (node_modules/ndpack). */
  readonly root: string;
  /** The paths in the tarball, as `npm pack` lists them (relative to the package's root). */
  readonly files: readonly string[];
  /** The package's package.json. */
  readonly manifest: PackageManifest;
  /** Deletes the project. */
  readonly remove: () => void;
}

/** The parts of package.json these tests read. */
export interface PackageManifest {
  readonly name: string;
  readonly exports: Record<string, unknown>;
  readonly bin: Record<string, string>;
  readonly typesVersions: Record<string, Record<string, string[]>>;
  readonly scripts?: Record<string, string>;
}

/**
 * Packs the clone (dist/ must be built: `npm test` builds first) and installs the tarball into a new
 * project whose package.json is `{ "name": "consumer", "private": true, ...manifest }` (give
 * `type: "module"` for an ES module project).
 */
export function installPacked(prefix: string, manifest: Record<string, unknown> = {}): PackedInstall {
  if (!existsSync(join(REPO, "dist/index.js"))) throw new Error("dist/ is missing: build the package first (npm run build; npm test does it)");
  const project = tempDir(`packed-${prefix}`);
  const [packed] = JSON.parse(execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", project.dir], { cwd: REPO, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })) as [{ filename: string; files: { path: string }[] }];
  const root = project.path("node_modules/ndpack");
  mkdirSync(root, { recursive: true });
  execFileSync("tar", ["-xzf", project.path(packed.filename), "-C", root, "--strip-components=1"]);
  symlinkSync(join(REPO, "node_modules/commander"), project.path("node_modules/commander"), "dir");
  writeFileSync(project.path("package.json"), JSON.stringify({ name: "consumer", private: true, ...manifest }));
  const installed = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as PackageManifest;
  // What npm does for each bin: a link in node_modules/.bin to the file, made executable.
  mkdirSync(project.path("node_modules/.bin"));
  for (const [name, file] of Object.entries(installed.bin)) {
    chmodSync(join(root, file), 0o755);
    symlinkSync(join("..", "ndpack", file), project.path(`node_modules/.bin/${name}`));
  }
  return { dir: project.dir, path: project.path, root, files: packed.files.map((f) => f.path), manifest: installed, remove: project.remove };
}
