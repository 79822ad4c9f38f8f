/**
 * The set index of FORMAT.md §12 without I/O (src/set.ts): every vector of fixtures/sets/ parsed,
 * each bad index refused with its code before any shard is touched, the per-shard checks run on
 * the shards' bytes, the writer's packing, names and index text, and the vectors' freshness.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, test } from "vitest";
import { decode } from "../src/index.js";
import { fromSafetensors } from "../src/interop/safetensors.js";
import {
  checkShardHeader,
  checkShardName,
  checkShardNames,
  checkShardSize,
  checkStem,
  parseSetIndex,
  planShards,
  shardFileName,
  shardHeaderEnd,
  shardPrefixLength,
  writeSetIndex,
  type SetIndex,
  type SetShard,
} from "../src/set.js";
import { codeOf, expectCode, failure } from "./helpers/common.js";
import { openSet } from "../src/set-reader.js";
import { ROOT } from "./helpers/node-files.js";
import { runPython } from "./helpers/python-env.js";
import { SET_VECTORS as vectors, SETS } from "./helpers/set-files.js";

const indexBytes = (kind: "valid" | "invalid", c: { name: string; index: string }) => new Uint8Array(readFileSync(join(SETS, kind, c.name, c.index)));
const utf8 = (text: string) => new TextEncoder().encode(text);

/**
 * Opens `shard` from the bytes of its file as a reader must (§12.3 steps 2 to 5) and returns the
 * names it holds. The shard reader proper is tested in set-read tests; this checks the core's steps.
 */
function openShardBytes(index: SetIndex, shard: SetShard, bytes: Uint8Array): string[] {
  checkShardSize(shard, bytes.length);
  if (index.checked) checkShardHeader(shard, bytes.subarray(0, shardHeaderEnd(shard, bytes.subarray(0, shardPrefixLength(shard)), bytes.length)));
  const names = shard.format === "ndpack" ? decode(bytes, { verify: true }).names : [...fromSafetensors(bytes).arrays.keys()];
  checkShardNames(index, shard, names);
  return [...names];
}

describe("valid sets (fixtures/sets/valid)", () => {
  test.each(vectors.valid.map((c) => [c.name, c] as const))("%s", (_, c) => {
    const index = parseSetIndex(indexBytes("valid", c));
    expect(index.names).toEqual(c.arrays.map((a) => a.name));
    expect(index.metadata).toEqual(c.metadata);
    for (const a of c.arrays) expect(index.shardOf.get(a.name)?.name).toBe(a.shard);
    // Hugging Face's indexes (hf-*) lack the ndpack object; every other valid set's index has it.
    expect(index.checked).toBe(!c.name.startsWith("hf-"));
    if (index.checked) expect(index.totalSize).toBe(c.arrays.reduce((sum, a) => sum + a.nbytes, 0));
    for (const shard of index.shards) {
      const bytes = new Uint8Array(readFileSync(join(SETS, "valid", c.name, shard.name)));
      expect(openShardBytes(index, shard, bytes).sort()).toEqual([...shard.arrays].sort());
    }
  });
});

test("an index given as anything but its bytes (a path, an ArrayBuffer) is INVALID_ARGUMENT, not an index of bad UTF-8", async () => {
  for (const wrong of ["model.ndp.index.json", new ArrayBuffer(2), undefined]) {
    expectCode(() => parseSetIndex(wrong as never), "INVALID_ARGUMENT");
    await expect(openSet(wrong as never, () => Promise.reject(new Error("no shard")))).rejects.toMatchObject({ code: "INVALID_ARGUMENT", field: "indexBytes" });
  }
});

describe("invalid sets (fixtures/sets/invalid)", () => {
  const atIndex = vectors.invalid.filter((c) => c.when === "index");
  const atRead = vectors.invalid.filter((c) => c.when === "read");

  test.each(atIndex.map((c) => [c.name, c.code, c] as const))("%s: %s when the index is read", (_, code, c) => {
    expectCode(() => parseSetIndex(indexBytes("invalid", c)), code);
  });

  test.each(atRead.map((c) => [c.name, c.code, c] as const))("%s: %s when its shard is opened", (_, code, c) => {
    const index = parseSetIndex(indexBytes("invalid", c));
    const shard = index.shardOf.get(c.array!)!;
    const path = join(SETS, "invalid", c.name, shard.name);
    if (code === "IO_ERROR") {
      expect(existsSync(path)).toBe(false);
      return;
    }
    expectCode(() => openShardBytes(index, shard, new Uint8Array(readFileSync(path))), code);
    // The set's other shards are sound (each case breaks one shard): reading them is no partial answer.
    for (const other of index.shards.filter((s) => s !== shard && !s.arrays.some((name) => shard.arrays.includes(name)))) {
      if (c.name === "name-in-two-shards") continue;
      expect(() => openShardBytes(index, other, new Uint8Array(readFileSync(join(SETS, "invalid", c.name, other.name))))).not.toThrow();
    }
  });

  test("name-in-two-shards: the shard holding only its own arrays reads; the other is SET_INVALID", () => {
    const c = vectors.invalid.find((v) => v.name === "name-in-two-shards")!;
    const index = parseSetIndex(indexBytes("invalid", c));
    const [first, second] = index.shards;
    const bytesOf = (shard: SetShard) => new Uint8Array(readFileSync(join(SETS, "invalid", c.name, shard.name)));
    expect(openShardBytes(index, second!, bytesOf(second!)).sort()).toEqual(["b", "c"]);
    expect(failure(() => openShardBytes(index, first!, bytesOf(first!)), "SET_INVALID").message).toMatch(/two shards/);
  });

  test("the vectors name every check: each SET_INVALID rule of §12.3 has a case", () => {
    expect(new Set(vectors.invalid.map((c) => c.code))).toEqual(
      new Set(["SET_INVALID", "LIMIT_EXCEEDED", "UNSUPPORTED_VERSION", "IO_ERROR", "FILE_CHANGED", "HEADER_TOO_LARGE", "CHECKSUM", "TRUNCATED", "TRAILING_BYTES", "HEADER_INVALID", "UNKNOWN_DTYPE", "OVERLAP", "GAP", "BAD_SHAPE", "SIZE_MISMATCH", "DUPLICATE_NAME", "BAD_NUMBER", "DUPLICATE_KEY"]),
    );
  });
});

describe("hostile indexes", () => {
  test("2,000 mutated indexes (bytes flipped, cut, repeated): a SetIndex or an NdpackError of the index's codes, nothing else", () => {
    const seeds = vectors.valid.map((c) => indexBytes("valid", c));
    let state = 0x2545f491;
    const next = (n: number) => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    const codes = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const seed = seeds[next(seeds.length)]!;
      let bytes = seed.slice();
      const kind = next(3);
      if (kind === 0) for (let k = 0; k <= next(4); k++) bytes[next(bytes.length)] = next(256);
      else if (kind === 1) bytes = bytes.slice(0, next(bytes.length));
      else {
        const at = next(bytes.length);
        const piece = bytes.slice(at, at + next(40));
        bytes = new Uint8Array([...bytes.slice(0, at), ...piece, ...bytes.slice(at)]);
      }
      const code = codeOf(() => parseSetIndex(bytes)) ?? "ok";
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    expect([...codes.keys()].filter((code) => !["ok", "SET_INVALID", "LIMIT_EXCEEDED", "UNSUPPORTED_VERSION"].includes(code))).toEqual([]);
    // The mutations reach both outcomes.
    expect(codes.get("SET_INVALID")).toBeGreaterThan(100);
    expect(codes.get("ok")).toBeGreaterThan(10);
  });
});

describe("shard names (§12.1)", () => {
  test.each([
    ["../x.ndp"], ["/abs/x.ndp"], ["sub/x.ndp"], ["..\\x.ndp"], ["C:x.ndp"], ["x.ndp:stream"], ["."], [".."], [""], ["x\u0000.ndp"], ["x\n.ndp"], ["x\u001f.ndp"], ["x.bin"], [".ndp"], ["x.NDP"],
    // What Windows forbids or keeps for a device (specification 1.2.0).
    ["part #1 (50%)?.ndp"], ["x*.ndp"], ["x<.ndp"], ["x>.ndp"], ["x|.ndp"], ['x".ndp'], ["CON.ndp"], ["con.safetensors"], ["nul.0.ndp"], ["Aux .ndp"], ["PRN.ndp"], ["com9.ndp"], ["LPT\u00b3.ndp"], ["conin$.ndp"], ["CONOUT$.ndp"],
  ])("%j is SET_INVALID", (name) => {
    expect(failure(() => checkShardName(name, "weight_map"), "SET_INVALID").field).toBe("weight_map");
  });

  test.each([["a.ndp", "ndpack"], ["model-00001-of-00002.safetensors", "safetensors"], ["part #1 (50%)+.ndp", "ndpack"], ["COM10.ndp", "ndpack"], ["console.ndp", "ndpack"], ["nul-1.ndp", "ndpack"], ["CONIN.ndp", "ndpack"], ["COM0.ndp", "ndpack"], ["lpt0.safetensors", "safetensors"], ["xcon.ndp", "ndpack"], ["données.ndp", "ndpack"], ["..x.ndp", "ndpack"], ["x\u007f.ndp", "ndpack"]])("%j is a %s shard", (name, format) => {
    expect(checkShardName(name, "weight_map")).toBe(format);
  });
});

test("the Python reference refuses exactly the shard names TypeScript refuses (§12.1)", () => {
  // Every device name in three cases, with the forms Windows reads as the device and near misses;
  // every printable ASCII character and a few others inside a name.
  const devices = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$", ...["COM", "LPT"].flatMap((p) => [..."0123456789\u00b9\u00b2\u00b3\u2074"].map((d) => p + d))];
  const stems = devices.flatMap((d) => [d, d.toLowerCase(), d[0] + d.slice(1).toLowerCase()]).flatMap((d) => [d, `${d} `, `${d}  `, `${d}.x`, `${d} .x`, `${d}x`, `x${d}`, ` ${d}`, `${d}\u00a0`, `${d}-1`]);
  const characters = Array.from({ length: 0x80 }, (_, c) => String.fromCharCode(c)).concat(["\u00a0", "\u0131", "\u017f", "\u212a", "\ufeff", "\u{1f600}"]);
  const names = [...stems.flatMap((stem) => [`${stem}.ndp`, `${stem}.safetensors`]), ...characters.map((c) => `a${c}b.ndp`), "CONı.ndp", "conıN$.ndp", "ſ.ndp"];
  const typescript = names.map((name) => codeOf(() => checkShardName(name, "weight_map")) ?? "ok");
  const script = "import json, sys\nfrom ndpack._sets import check_shard_name\nout = []\nfor n in json.load(sys.stdin):\n    try:\n        check_shard_name(n); out.append('ok')\n    except Exception as e:\n        out.append(getattr(e, 'code', repr(e)))\nprint(json.dumps(out))";
  const python = JSON.parse(runPython("-c", [script], JSON.stringify(names))) as string[];
  expect(python.map((verdict, i) => [names[i], verdict])).toEqual(typescript.map((verdict, i) => [names[i], verdict]));
  // Both outcomes are reached.
  expect(typescript.filter((v) => v === "SET_INVALID").length).toBeGreaterThan(300);
  expect(typescript.filter((v) => v === "ok").length).toBeGreaterThan(300);
});

describe("parseSetIndex", () => {
  const base = { weight_map: { a: "s.ndp" } };
  const text = (value: unknown) => utf8(JSON.stringify(value));

  test("limits: maxIndexBytes, maxArrays, maxNameBytes, maxDepth are LIMIT_EXCEEDED naming the option", () => {
    const bytes = text(base);
    expect(failure(() => parseSetIndex(bytes, { maxIndexBytes: bytes.length - 1 }), "LIMIT_EXCEEDED").limit).toBe("maxIndexBytes");
    expect(parseSetIndex(bytes, { maxIndexBytes: bytes.length }).names).toEqual(["a"]);
    expect(failure(() => parseSetIndex(text({ weight_map: { a: "s.ndp", b: "s.ndp" } }), { maxArrays: 1 }), "LIMIT_EXCEEDED").limit).toBe("maxArrays");
    expect(failure(() => parseSetIndex(text({ weight_map: { abc: "s.ndp" } }), { maxNameBytes: 2 }), "LIMIT_EXCEEDED").limit).toBe("maxNameBytes");
    expect(failure(() => parseSetIndex(text({ metadata: { a: [[[1]]] }, ...base }), { maxDepth: 4 }), "LIMIT_EXCEEDED").limit).toBe("maxDepth");
    expect(parseSetIndex(text({ metadata: { a: [[1]] }, ...base }), { maxDepth: 4 }).metadata).toEqual({ a: [[1]] });
    expectCode(() => parseSetIndex(text(base), { maxArrays: 0 }), "INVALID_ARGUMENT");
  });

  test("maxHeaderNodes bounds the index's JSON values, as a header's (FORMAT.md §12.2): bytes alone do not bound what a parsed index costs", () => {
    // The index, its metadata, x, three numbers, weight_map and one shard name: 8 values.
    const small = text({ metadata: { x: [0, 0, 0] }, ...base });
    expect(failure(() => parseSetIndex(small, { maxHeaderNodes: 7 }), "LIMIT_EXCEEDED").limit).toBe("maxHeaderNodes");
    expect(parseSetIndex(small, { maxHeaderNodes: 8 }).metadata).toEqual({ x: [0, 0, 0] });
    // By default, a million values in 2 MB of metadata.
    const many = text({ metadata: { x: new Array(1_000_000).fill(0) }, ...base });
    expect(failure(() => parseSetIndex(many), "LIMIT_EXCEEDED").limit).toBe("maxHeaderNodes");
  });

  test("metadata keeps the user's keys (total_size apart), __proto__ as an own key; no prototype is touched", () => {
    const index = parseSetIndex(utf8('{"metadata":{"total_size":4,"__proto__":{"polluted":true},"x":1.5},"weight_map":{"__proto__":"s.ndp","constructor":"s.ndp"}}'));
    expect(index.totalSize).toBe(4);
    expect(Object.keys(index.metadata)).toEqual(["__proto__", "x"]);
    expect(Object.getPrototypeOf(index.metadata)).toBe(Object.prototype);
    expect(index.names).toEqual(["__proto__", "constructor"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("HF details: a fractional total_size is not a size; white space around the object is fine; a BOM is not", () => {
    expect(parseSetIndex(utf8(' \n{"metadata":{"total_size":1000.5},"weight_map":{}}\r\n\t')).totalSize).toBeUndefined();
    expectCode(() => parseSetIndex(utf8('\ufeff{"weight_map":{}}')), "SET_INVALID");
    expectCode(() => parseSetIndex(utf8('{"weight_map":{}} x')), "SET_INVALID");
  });

  test("shards come in the order the index first maps an array to them; an HF index is not `checked`", () => {
    const index = parseSetIndex(text({ weight_map: { z: "b.safetensors", a: "a.safetensors", y: "b.safetensors" } }));
    expect(index.shards.map((s) => [s.name, s.format, s.arrays, s.size, s.headerCrc32])).toEqual([
      ["b.safetensors", "safetensors", ["z", "y"], undefined, undefined],
      ["a.safetensors", "safetensors", ["a"], undefined, undefined],
    ]);
    expect(index.checked).toBe(false);
  });
});

describe("shard checks (§12.3)", () => {
  const shard = (format: "ndpack" | "safetensors", size?: number, headerCrc32?: number): SetShard => ({ name: format === "ndpack" ? "s.ndp" : "s.safetensors", format, size, headerCrc32, arrays: [] });

  test("size: FILE_CHANGED naming the shard; nothing is checked without the ndpack object", () => {
    const error = failure(() => checkShardSize(shard("ndpack", 100), 101), "FILE_CHANGED");
    expect(error.message).toMatch(/shard s\.ndp does not match the index/);
    expect([error.expected, error.actual]).toEqual([100, 101]);
    expect(() => checkShardSize(shard("ndpack"), 5)).not.toThrow();
  });

  test("header end: 20 + H for .ndp, 8 + N for .safetensors; past the end FILE_CHANGED; over the cap HEADER_TOO_LARGE", () => {
    const ndp = new Uint8Array(20);
    new DataView(ndp.buffer).setUint32(12, 100, true);
    expect(shardHeaderEnd(shard("ndpack"), ndp, 120)).toBe(120);
    expectCode(() => shardHeaderEnd(shard("ndpack"), ndp, 119), "FILE_CHANGED");
    expect(failure(() => shardHeaderEnd(shard("ndpack"), ndp, 1000, 99), "HEADER_TOO_LARGE").limit).toBe("maxHeaderBytes");
    const st = new Uint8Array(8);
    new DataView(st.buffer).setBigUint64(0, 2n ** 60n, true);
    expectCode(() => shardHeaderEnd(shard("safetensors"), st, 2 ** 52), "HEADER_TOO_LARGE");
    new DataView(st.buffer).setBigUint64(0, 16n, true);
    expect(shardHeaderEnd(shard("safetensors"), st, 24)).toBe(24);
    expectCode(() => shardHeaderEnd(shard("ndpack"), new Uint8Array(3), 3), "FILE_CHANGED");
  });

  test("header CRC: FILE_CHANGED on a mismatch", () => {
    const head = utf8("header bytes");
    expectCode(() => checkShardHeader(shard("ndpack", 12, 1), head), "FILE_CHANGED");
    expect(() => checkShardHeader(shard("ndpack", 12, 0xd849873d), head)).not.toThrow();
  });

  test("names: each rule is SET_INVALID naming the array", () => {
    const index = parseSetIndex(utf8('{"weight_map":{"a":"s.ndp","b":"s.ndp","c":"t.ndp"}}'));
    const s = index.shards[0]!;
    expect(() => checkShardNames(index, s, ["b", "a"])).not.toThrow();
    expect(failure(() => checkShardNames(index, s, ["a", "b", "x"]), "SET_INVALID").array).toBe("x");
    expect(failure(() => checkShardNames(index, s, ["a", "b", "c"]), "SET_INVALID").message).toMatch(/two shards/);
    expect(failure(() => checkShardNames(index, s, ["a"]), "SET_INVALID").array).toBe("b");
  });
});

describe("writing (§12.4)", () => {
  test("packing: in order, never splitting an array; an oversized array alone", () => {
    expect(planShards([], 10)).toEqual([]);
    expect(planShards([4, 4, 4], 8)).toEqual([[0, 1], [2]]);
    expect(planShards([20, 1, 1], 8)).toEqual([[0], [1, 2]]);
    expect(planShards([1, 20, 1], 8)).toEqual([[0], [1], [2]]);
    expect(planShards([0, 0, 8, 0], 8)).toEqual([[0, 1, 2, 3]]);
    expect(planShards([20, 0, 1], 8)).toEqual([[0, 1], [2]]);
    expect(planShards([3, 3, 3], Infinity)).toEqual([[0, 1, 2]]);
  });

  test("names: stem, generation, five-digit numbers, extension", () => {
    expect(shardFileName("model", "0a1b2c3d", 2, 16, "ndpack")).toBe("model-0a1b2c3d-00002-of-00016.ndp");
    expect(shardFileName("m", "ffffffff", 1, 1, "safetensors")).toBe("m-ffffffff-00001-of-00001.safetensors");
    for (const stem of ["", "a/b", "..\\x", "c:", "x\n"]) expectCode(() => checkStem(stem), "INVALID_ARGUMENT");
    // Names §12.1 refuses in an index, so that a set is never written that a reader refuses: the index `CON.ndp.index.json` is the console on Windows.
    for (const stem of ["CON", "nul", "Com1 ", "LPT¹", "conout$", "aux.v2", "run?", "a*", "a<b", "a>b", "a|b", 'a"b']) expectCode(() => checkStem(stem), "INVALID_ARGUMENT");
    expect(checkStem("model.v2")).toBe("model.v2");
    for (const stem of ["COM10", "console", "nul-1", "lpt"]) expect(checkStem(stem)).toBe(stem);
  });

  test("the index text reads back as written; total_size is the writer's; user metadata JSON cannot hold is refused", () => {
    const shards = [
      { name: "m-00000000-00001-of-00002.ndp", size: 100, headerCrc32: 0xffffffff, arrays: ["a", "b"], nbytes: [8, 0] },
      { name: "m-00000000-00002-of-00002.safetensors", size: 50, headerCrc32: 0, arrays: ["ü \"q\""], nbytes: [2 ** 40] },
    ];
    const index = parseSetIndex(utf8(writeSetIndex(shards, { __proto__: null, step: -0, big: 2 ** 60, note: "x\ny" } as Record<string, unknown>)));
    expect(index.names).toEqual(["a", "b", "ü \"q\""]);
    expect(index.totalSize).toBe(8 + 2 ** 40);
    expect(index.metadata).toEqual({ step: -0, big: 2 ** 60, note: "x\ny" });
    expect(index.shards.map((s) => [s.name, s.size, s.headerCrc32])).toEqual(shards.map((s) => [s.name, s.size, s.headerCrc32]));
    expect(writeSetIndex([])).toBe('{\n  "metadata": {"total_size":0},\n  "weight_map": {},\n  "ndpack": {\n    "version": 1,\n    "shards": {}\n  }\n}\n');
    expect(failure(() => writeSetIndex([], { total_size: 1 }), "INVALID_ARGUMENT").field).toBe("metadata.total_size");
    expect(failure(() => writeSetIndex([], { bad: Number.NaN }), "INVALID_ARGUMENT").field).toBe("metadata.bad");
  });
});

describe("freshness", () => {
  test("FORMAT.md §12.2's example is the index of fixtures/sets/valid/ndpack-two-shards", () => {
    const text = readFileSync(join(ROOT, "FORMAT.md"), "utf8");
    const section = text.slice(text.indexOf("### 12.2 The index"));
    const example = section.slice(section.indexOf("```json\n") + 8, section.indexOf("```\n", section.indexOf("```json\n") + 8));
    expect(example).toBe(readFileSync(join(SETS, "valid", "ndpack-two-shards", "model.ndp.index.json"), "utf8"));
  });

  test("regenerating fixtures/sets gives the committed files", () => {
    const dir = mkdtempSync(join(tmpdir(), "ndpack-set-fixtures-"));
    try {
      const tsx = join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");
      execFileSync(process.execPath, [tsx, join(ROOT, "scripts", "generate-set-fixtures.ts"), "--out", dir], { stdio: "pipe" });
      const listing = (base: string): string[] => {
        const out: string[] = [];
        const walk = (at: string) => {
          for (const entry of readdirSync(at)) statSync(join(at, entry)).isDirectory() ? walk(join(at, entry)) : out.push(relative(base, join(at, entry)));
        };
        walk(base);
        return out.sort();
      };
      const fresh = listing(dir);
      expect(listing(SETS), "run `npm run fixtures:sets` and commit fixtures/sets/").toEqual(fresh);
      const stale = fresh.filter((path) => !readFileSync(join(dir, path)).equals(readFileSync(join(SETS, path))));
      expect(stale, "run `npm run fixtures:sets` and commit fixtures/sets/").toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
