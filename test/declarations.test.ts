/**
 * The built declarations (dist/*.d.ts, what a user's compiler sees, from the packed package
 * installed in an ES module project: test/helpers/packed.ts) under every module resolution, from
 * ES module and CommonJS files, with and without Float16Array in the lib, and in a browser
 * program (no @types/node): a consumer narrows `data` on `dtype`, uses the typed accessor, and
 * must check `dtype` before treating `data` as one typed array. TypeScript
 * 5.7 (the oldest the README names) was checked by hand the same way; 5.6 rejects the generic typed
 * arrays of the declarations.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { REPO, requireBuiltCli } from "./helpers/cli-run.js";
import { exportsOf, sharedSourceFilesHost, undocumentedDeclarations } from "./helpers/exports.js";
import { installPacked, type PackedInstall } from "./helpers/packed.js";

let pkg: PackedInstall;

const CONSUMER = `
import { decode, encode, type NdArray, type NdArrayOf } from "ndpack";
import { open } from "ndpack/node";
import { fromNpy, toNpz } from "ndpack/interop";
const file = decode(encode({ w: new Float32Array([1, 2]) }));
const w: NdArray = file.get("w");
if (w.dtype === "float32") {
  const f: Float32Array = w.data;
  console.log(f.reduce((a, b) => a + b, 0));
}
if (w.dtype === "int64") console.log(w.data.reduce((a, b) => a + b, 0n));
const typed: NdArrayOf<"float32"> = file.get("w", "float32");
console.log(typed.data.reduce((a, b) => a + b, 0), toNpz({}).length, typeof open);
const npy = fromNpy(new Uint8Array());
if (npy.dtype === "uint8") { const u: Uint8Array = npy.data; console.log(u); }
// @ts-expect-error data is any typed array until dtype is checked
const bad: Float32Array = w.data;
// @ts-expect-error "<f4" is not a dtype name
file.get("w", "<f4");
console.log(bad);
// With Node's types (or lib esnext), a reader is AsyncDisposable: \`await using\` closes it.
async function disposal(): Promise<void> {
  await using reader = await open("a.ndp");
  const disposable: AsyncDisposable = reader;
  console.log(reader.names, disposable);
}
void disposal;
`;

const FLOAT16_ESNEXT = `
import { decode } from "ndpack";
const h = decode(new Uint8Array()).get("h", "float16");
const either: Float16Array | Uint16Array = h.data;
// @ts-expect-error with Float16Array in the lib, data may be one
const bits: Uint16Array = h.data;
console.log(either, bits);
`;

const FLOAT16_ES2022 = `
import { decode } from "ndpack";
const h = decode(new Uint8Array()).get("h", "float16");
const bits: Uint16Array = h.data;
console.log(bits);
`;

/** A Node program: no DOM library in its lib (the declarations named DOM's HeadersInit, which it lacks). */
const NODE_ONLY = `
import { open } from "ndpack/node";
import { openUrl, type HttpHeaders } from "ndpack/http";
import { openSetUrl } from "ndpack/sets";
const headers: HttpHeaders = { authorization: "Bearer x" };
const fromPairs: HttpHeaders = [["x-api-key", "k"]];
console.log(typeof open, openUrl("https://example.com/a.ndp", { headers }), openSetUrl("https://example.com/s.index.json", { headers: fromPairs }), openUrl("https://example.com/b.ndp", { headers: new Headers() }));
`;

/**
 * A web page's program: every entry point but ndpack/node, compiled without @types/node (a page has
 * no Node globals; the declarations named AsyncDisposable, which only @types/node or lib
 * esnext.disposable declares).
 */
const BROWSER = `
import { decode, encode, isNdpackError, type EncodeOptions } from "ndpack";
import { openSource, bytesSource, blobSource } from "ndpack/source";
import { openUrl, httpSource } from "ndpack/http";
import { openSetUrl } from "ndpack/sets";
import { decodeStream, decodeMessages } from "ndpack/streams";
import { fromNpy, FORMATS } from "ndpack/interop";
const options: EncodeOptions = { checksum: "crc32" };
const x: Float32Array = decode(encode({ x: new Float32Array([1]) }, options)).get("x", "float32").data;
async function page(): Promise<void> {
  const reader = await openUrl("https://example.com/a.ndp", { formats: FORMATS });
  const y = await reader.read("y", "int32");
  const z: Int32Array = y.data;
  await reader.close();
  const local = await openSource(bytesSource(new Uint8Array()));
  await local.close();
  console.log(x, z, isNdpackError, blobSource, httpSource, openSetUrl, decodeStream, decodeMessages, fromNpy);
}
void page();
`;

beforeAll(async () => {
  await requireBuiltCli();
  pkg = installPacked("declarations", { type: "module" });
  mkdirSync(pkg.path("node_modules/@types"), { recursive: true });
  symlinkSync(join(REPO, "node_modules/@types/node"), pkg.path("node_modules/@types/node"), "dir");
  writeFileSync(pkg.path("consumer.ts"), CONSUMER);
  // A CommonJS file of the same project: under node16 and nodenext, its imports are require()s.
  writeFileSync(pkg.path("consumer.cts"), CONSUMER);
  writeFileSync(pkg.path("float16-esnext.ts"), FLOAT16_ESNEXT);
  writeFileSync(pkg.path("float16-es2022.ts"), FLOAT16_ES2022);
  writeFileSync(pkg.path("node-only.ts"), NODE_ONLY);
  writeFileSync(pkg.path("browser.ts"), BROWSER);
});

afterAll(() => pkg?.remove());

/** One compiler host per module resolution: its programs (other libs, other types) share the files they parse. */
const hosts = new Map<ts.ModuleResolutionKind | undefined, ts.CompilerHost>();

/**
 * The compiler's diagnostics for `files` and for ndpack's declarations (checked as a user's
 * compiler checks them with skipLibCheck off); other libraries' declarations are not checked, to
 * keep this fast.
 */
function diagnostics(files: string[], options: ts.CompilerOptions): string[] {
  const programOptions = { strict: true, noEmit: true, skipLibCheck: false, types: ["node"], target: ts.ScriptTarget.ES2022, ...options };
  if (!hosts.has(options.moduleResolution)) hosts.set(options.moduleResolution, sharedSourceFilesHost(programOptions));
  const program = ts.createProgram(files.map((f) => pkg.path(f)), programOptions, hosts.get(options.moduleResolution));
  const isDeclaration = (file: ts.SourceFile) => file.fileName.startsWith(pkg.root);
  const ours = program.getSourceFiles().filter((file) => isDeclaration(file) || !file.fileName.includes("/node_modules/"));
  expect(ours.filter(isDeclaration).length).toBeGreaterThan(0);
  // A program given no types has no Node globals: nothing of ours may bring them in.
  if (options.types?.length === 0) expect(program.getSourceFiles().filter((file) => file.fileName.includes("/@types/node/")).map((file) => file.fileName)).toEqual([]);
  const found = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics(), ...ours.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)])];
  return found.map((d) => `${d.file?.fileName ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
}

const RESOLUTIONS: [string, ts.CompilerOptions][] = [
  ["node16", { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 }],
  ["nodenext", { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }],
  ["bundler", { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler }],
  ["node10", { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 }],
];

describe(`dist declarations (TypeScript ${ts.version})`, () => {
  test.each(RESOLUTIONS)("moduleResolution %s, lib es2022 and esnext: narrowing, typed get, expected errors", (name, options) => {
    // Under node16 and nodenext the project's .ts files are ES modules (its package.json says so) and .cts files CommonJS.
    const consumers = name === "node16" || name === "nodenext" ? ["consumer.ts", "consumer.cts"] : ["consumer.ts"];
    expect(diagnostics([...consumers, "float16-es2022.ts"], { ...options, lib: ["lib.es2022.d.ts", "lib.dom.d.ts"] })).toEqual([]);
    expect(diagnostics([...consumers, "float16-esnext.ts"], { ...options, lib: ["lib.esnext.d.ts", "lib.dom.d.ts"] })).toEqual([]);
  });

  test.each(RESOLUTIONS)("moduleResolution %s, a browser program (lib es2022 and dom, no @types/node): every browser entry point type-checks", (_name, options) => {
    expect(diagnostics(["browser.ts"], { ...options, types: [], lib: ["lib.es2022.d.ts", "lib.dom.d.ts"] })).toEqual([]);
  });

  test.each(RESOLUTIONS.filter(([name]) => name !== "node10"))("moduleResolution %s, lib es2022 without the DOM library (a Node program): HTTP options type-check", (_name, options) => {
    expect(diagnostics(["node-only.ts"], { ...options, lib: ["lib.es2022.d.ts"] })).toEqual([]);
  });

  test("every export of every entry point, and every public member of the classes, interfaces and object types they export, has TSDoc in the built declarations (ES module and CommonJS)", () => {
    const declarations = Object.values(pkg.manifest.exports).flatMap((entry) => (typeof entry === "string" ? [] : Object.values(entry as Record<string, { types: string }>).map((condition) => join(pkg.root, condition.types))));
    expect(declarations.length).toBe(2 * (Object.keys(pkg.manifest.exports).length - 1));
    expect(undocumentedDeclarations(declarations)).toEqual([]);
  });

  test("the ES module and CommonJS declarations of each entry point export the same names", () => {
    for (const entry of Object.values(pkg.manifest.exports).filter((e): e is Record<"import" | "require", { types: string }> => typeof e !== "string")) {
      const [esm, cjs] = [entry.import.types, entry.require.types].map((types) => exportsOf(join(pkg.root, types)).map((e) => `${e.kind} ${e.name}`));
      expect(esm!.length, entry.import.types).toBeGreaterThan(0);
      expect(cjs, entry.require.types).toEqual(esm);
    }
  }, 120_000);
});
