/**
 * The public surface of the core entry point (`src/index.ts`): an explicit, sorted list of its
 * exports, so that adding, removing or renaming one is a deliberate change to this file, and a
 * check that every exported value carries a TSDoc comment (STYLE.md rule 8).
 *
 * Exports are read with the TypeScript compiler from the source, not from `dist/`, so the test
 * never runs against a stale build.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import * as ndpack from "../src/index.js";
import * as http from "../src/http.js";
import * as nodeEntry from "../src/node/index.js";
import * as sets from "../src/sets.js";
import * as source from "../src/source.js";
import * as streams from "../src/streams.js";
import { exportsOf } from "./helpers/exports.js";

const INDEX = fileURLToPath(new URL("../src/index.ts", import.meta.url));

const exported = exportsOf(INDEX);

describe("public API of src/streams.ts (ndpack/streams: one file or many messages over a stream, FORMAT.md §9 and §11)", () => {
  // An entry point of its own: the core's browser bundle stays within its size budget (issue 13).
  const streamExports = exportsOf(fileURLToPath(new URL("../src/streams.ts", import.meta.url)));

  test("exports exactly these names, each with TSDoc, and nothing else at run time", () => {
    expect(streamExports.map((e) => `${e.kind} ${e.name}`)).toEqual([
      "type ByteStream",
      "type DecodeMessagesOptions",
      "type DecodeStreamOptions",
      "type EncodeStreamOptions",
      "type MessageTarget",
      "type MessageWriterOptions",
      "type NdpackMessage",
      "type NdpackMessageReader",
      "type NdpackMessageWriter",
      "type NdpackStreamReader",
      "type NodeWritableLike",
      "type StreamHeader",
      "value createMessageWriter",
      "value decodeMessages",
      "value decodeStream",
      "value encodeStream",
    ]);
    expect(streamExports.filter((e) => !e.documented).map((e) => e.name)).toEqual([]);
    expect(Object.keys(streams).sort()).toEqual(["createMessageWriter", "decodeMessages", "decodeStream", "encodeStream"]);
  });
});

describe("public API of src/sets.ts (ndpack/sets: sharded sets, FORMAT.md §12)", () => {
  // An entry point of its own: the set reader carries the .safetensors shard reader, which kept the
  // core's browser bundle over its size budget (issue 13).
  const setExports = exportsOf(fileURLToPath(new URL("../src/sets.ts", import.meta.url)));

  test("exports exactly these names, each with TSDoc, and nothing else at run time", () => {
    expect(setExports.map((e) => `${e.kind} ${e.name}`)).toEqual([
      "type OpenSetOptions",
      "type OpenSetUrlOptions",
      "type OpenedShard",
      "type SetIndex",
      "type SetIndexLimits",
      "type SetReader",
      "type SetShard",
      "type SetVerifyReport",
      "type ShardFormat",
      "type ShardOpener",
      "type ShardVerification",
      "value openSet",
      "value openSetAt",
      "value openSetUrl",
      "value parseSetIndex",
      "value shardUrl",
    ]);
    expect(setExports.filter((e) => !e.documented).map((e) => e.name)).toEqual([]);
    expect(Object.keys(sets).sort()).toEqual(["openSet", "openSetAt", "openSetUrl", "parseSetIndex", "shardUrl"]);
  });

  test("ndpack/node re-exports every value of the core, of ndpack/source, ndpack/http, ndpack/sets and ndpack/streams", () => {
    const nodeValues = Object.keys(nodeEntry);
    for (const name of [...Object.keys(ndpack), ...Object.keys(source), ...Object.keys(http), ...Object.keys(sets), ...Object.keys(streams)]) expect(nodeValues, name).toContain(name);
  });
});

describe("public API of src/source.ts (ndpack/source: the lazy reader over byte sources)", () => {
  // An entry point of its own, as transports are (STYLE.md rule 6), which keeps the core's browser
  // bundle within its size budget (issue 13).
  const sourceExports = exportsOf(fileURLToPath(new URL("../src/source.ts", import.meta.url)));

  test("exports exactly these names, each with TSDoc, and nothing else at run time", () => {
    expect(sourceExports.map((e) => `${e.kind} ${e.name}`)).toEqual([
      "type ByteSource",
      "value COALESCE_GAP_BYTES",
      "type CheckedBytes",
      "type CheckedTail",
      "type FileFormat",
      "type FormatName",
      "type FormatReader",
      "type NdpackReader",
      "type OpenSourceOptions",
      "type ReadChunksOptions",
      "type ReadManyArraysOptions",
      "type ReadManyOptions",
      "type ReadOptions",
      "type ReadRequestOptions",
      "value blobSource",
      "value bytesSource",
      "value openSource",
    ]);
    expect(sourceExports.filter((e) => !e.documented).map((e) => e.name)).toEqual([]);
    expect(Object.keys(source).sort()).toEqual(["COALESCE_GAP_BYTES", "blobSource", "bytesSource", "openSource"]);
  });
});

describe("public API of src/http.ts (ndpack/http: files on HTTP(S) servers, read with Range requests)", () => {
  // An entry point of its own, as transports are (STYLE.md rule 6), which keeps the core's browser
  // bundle within its size budget (issue 13).
  const httpExports = exportsOf(fileURLToPath(new URL("../src/http.ts", import.meta.url)));

  test("exports exactly these names, each with TSDoc, and nothing else at run time", () => {
    expect(httpExports.map((e) => `${e.kind} ${e.name}`)).toEqual(["type HttpHeaders", "type HttpSource", "type HttpSourceOptions", "type OpenUrlOptions", "value httpSource", "value openUrl"]);
    expect(httpExports.filter((e) => !e.documented).map((e) => e.name)).toEqual([]);
    expect(Object.keys(http).sort()).toEqual(["httpSource", "openUrl"]);
  });
});

describe("public API of src/index.ts", () => {
  test("exports exactly these names (sorted; a change here is an API change)", () => {
    expect(exported.map((e) => `${e.kind} ${e.name}`)).toEqual([
      "type ArrayInfo",
      "type ArrayInput",
      "type ArraySpec",
      "type ArrayVerification",
      "type ArraysInput",
      "type ByteOrder",
      "type Checksum",
      "type Codec",
      "value DEFAULT_LIMITS",
      "value DTYPES",
      "value DTYPE_NAMES",
      "type DecodeInput",
      "type DecodeOptions",
      "type DecodedArray",
      "type Dtype",
      "type DtypeData",
      "type DtypeInfo",
      "value ERROR_CODES",
      "type EncodeOptions",
      "type ErrorCode",
      "type ErrorDetails",
      "value FORMAT_VERSION",
      "type Float16ArrayIfDeclared",
      "type NdArray",
      "type NdArrayOf",
      "type NdpackContents",
      "value NdpackError",
      "type NdpackFile",
      "type Order",
      "type ReadLimits",
      "type TypedArray",
      "type VerifyReport",
      "value bfloat16ToFloat32",
      "value decode",
      "value encode",
      "value encodeInto",
      "value encodedSize",
      "value float16ToFloat32",
      "value float32ToBfloat16",
      "value float32ToFloat16",
      "value float32ToFloat8E4M3FN",
      "value float32ToFloat8E5M2",
      "value float8E4M3FNToFloat32",
      "value float8E5M2ToFloat32",
      "value isNdpackError",
      "value verify",
    ]);
  });

  test("the module's run-time exports are exactly the value exports", () => {
    const runtime = Object.keys(ndpack).sort();
    expect(runtime).toEqual(exported.filter((e) => e.kind === "value").map((e) => e.name));
  });

  test("every exported value has a TSDoc comment", () => {
    const undocumented = exported.filter((e) => e.kind === "value" && !e.documented).map((e) => e.name);
    expect(undocumented).toEqual([]);
  });

  test("every exported type has a TSDoc comment too", () => {
    const undocumented = exported.filter((e) => e.kind === "type" && !e.documented).map((e) => e.name);
    expect(undocumented).toEqual([]);
  });

  test("the documentation check finds an export without TSDoc (it can fail)", () => {
    const dir = mkdtempSync(join(tmpdir(), "ndpack-api-"));
    try {
      writeFileSync(
        join(dir, "lib.ts"),
        [
          "/** Documented. */",
          "export const documented = 1;",
          "// A line comment is not TSDoc.",
          "export function lineComment(): void {}",
          "/* A block comment is not TSDoc. */",
          "export class BlockComment {}",
          "/** */",
          "export const emptyDoc = 2;",
          "export const bare = 3;",
          "/** A type. */",
          "export type Documented = number;",
          "export interface Bare { x: number }",
        ].join("\n"),
      );
      writeFileSync(join(dir, "index.ts"), 'export { documented, lineComment, BlockComment, emptyDoc, bare } from "./lib.js";\nexport type { Documented, Bare } from "./lib.js";\n');
      expect(exportsOf(join(dir, "index.ts"))).toEqual([
        { name: "Bare", kind: "type", documented: false },
        { name: "BlockComment", kind: "value", documented: false },
        { name: "Documented", kind: "type", documented: true },
        { name: "bare", kind: "value", documented: false },
        { name: "documented", kind: "value", documented: true },
        { name: "emptyDoc", kind: "value", documented: false },
        { name: "lineComment", kind: "value", documented: false },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
