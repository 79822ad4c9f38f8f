/**
 * The built declarations (dist/*.d.ts, what a user's compiler sees) under every module resolution
 * and with and without Float16Array in the lib: a consumer narrows `data` on `dtype`, uses the
 * typed accessor, and must check `dtype` before treating `data` as one typed array. TypeScript
 * 5.7 (the oldest the README names) was checked by hand the same way; 5.6 rejects the generic typed
 * arrays of the declarations.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { REPO, requireBuiltCli, tempDir } from "./helpers/cli-run.js";

const tmp = tempDir("declarations");

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

beforeAll(async () => {
  await requireBuiltCli();
  mkdirSync(tmp.path("node_modules/@types"), { recursive: true });
  // Links, not copies: nothing here ever runs npm, which would prune through them.
  symlinkSync(REPO, tmp.path("node_modules/ndpack"), "dir");
  symlinkSync(join(REPO, "node_modules/@types/node"), tmp.path("node_modules/@types/node"), "dir");
  writeFileSync(tmp.path("consumer.ts"), CONSUMER);
  writeFileSync(tmp.path("float16-esnext.ts"), FLOAT16_ESNEXT);
  writeFileSync(tmp.path("float16-es2022.ts"), FLOAT16_ES2022);
  writeFileSync(tmp.path("node-only.ts"), NODE_ONLY);
});

afterAll(() => tmp.remove());

/**
 * The compiler's diagnostics for `files` and for ndpack's declarations (checked as a user's
 * compiler checks them with skipLibCheck off); other libraries' declarations are not checked, to
 * keep this fast.
 */
function diagnostics(files: string[], options: ts.CompilerOptions): string[] {
  const program = ts.createProgram(files.map((f) => tmp.path(f)), { strict: true, noEmit: true, skipLibCheck: false, types: ["node"], target: ts.ScriptTarget.ES2022, ...options });
  const ours = program.getSourceFiles().filter((file) => file.fileName.startsWith(join(REPO, "dist")) || file.fileName.startsWith(tmp.dir));
  expect(ours.filter((file) => file.fileName.startsWith(join(REPO, "dist"))).length).toBeGreaterThan(0);
  const found = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics(), ...ours.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)])];
  return found.map((d) => `${d.file?.fileName ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
}

const RESOLUTIONS: [string, ts.CompilerOptions][] = [
  ["nodenext", { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }],
  ["bundler", { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler }],
  ["node10", { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 }],
];

describe(`dist declarations (TypeScript ${ts.version})`, () => {
  test.each(RESOLUTIONS)("moduleResolution %s, lib es2022 and esnext: narrowing, typed get, expected errors", (_name, options) => {
    expect(diagnostics(["consumer.ts", "float16-es2022.ts"], { ...options, lib: ["lib.es2022.d.ts", "lib.dom.d.ts"] })).toEqual([]);
    expect(diagnostics(["consumer.ts", "float16-esnext.ts"], { ...options, lib: ["lib.esnext.d.ts", "lib.dom.d.ts"] })).toEqual([]);
  });

  test.each(RESOLUTIONS.filter(([name]) => name !== "node10"))("moduleResolution %s, lib es2022 without the DOM library (a Node program): HTTP options type-check", (_name, options) => {
    expect(diagnostics(["node-only.ts"], { ...options, lib: ["lib.es2022.d.ts"] })).toEqual([]);
  });
});
