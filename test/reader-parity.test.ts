/**
 * What a differential fuzz of sets and message streams against the Python reference found where
 * the TypeScript readers disagreed with FORMAT.md: a set's array order, the set reader's own
 * option passed to its shards, the lazy reader's verify decompressing, and .safetensors headers
 * read under default limits whatever the caller set.
 */
import { describe, expect, test } from "vitest";
import { encode } from "../src/index.js";
import { FORMATS, fromSafetensors, toSafetensors } from "../src/interop/index.js";
import { openSource, bytesSource } from "../src/source.js";
import { parseSetIndex } from "../src/sets.js";
import { open, saveSet, type SetReader } from "../src/node/index.js";
import { failure, failureAsync } from "./helpers/common.js";
import { tempDir } from "./helpers/node-files.js";
import { damagedDeflate } from "./helpers/row-arrays.js";

const utf8 = (text: string) => new TextEncoder().encode(text);

describe("a set's array order is weight_map's text order (FORMAT.md §12.2), integer-like names included", () => {
  test("names in text order, and the entries checked in that order", () => {
    const index = parseSetIndex(utf8('{"weight_map":{"b":"x.ndp","12":"x.ndp","a":"x.ndp","3":"x.ndp"}}'));
    expect(index.names).toEqual(["b", "12", "a", "3"]);
    // "a" comes first, its shard is not a string: SET_INVALID, before "12" is over maxNameBytes.
    expect(failure(() => parseSetIndex(utf8('{"weight_map":{"a":5,"12":"x.ndp"}}'), { maxNameBytes: 1 }), "SET_INVALID").field).toBe('weight_map["a"]');
  });

  test("a set written with such names reads them back in their order", async () => {
    const dir = tempDir("ndpack-parity-");
    try {
      await saveSet(dir.path, new Map([["b", Uint8Array.of(1)], ["1", Uint8Array.of(2)]]), { fsync: false });
      await using set = (await open(`${dir.path}/model.ndp.index.json`)) as SetReader;
      expect(set.names).toEqual(["b", "1"]);
      expect([...(await set.read("1")).data]).toEqual([2]);
    } finally {
      dir.remove();
    }
  });
});

test("open(index, { maxIndexBytes }): the index's own option is not passed to its shards (every read failed)", async () => {
  const dir = tempDir("ndpack-parity-");
  try {
    await saveSet(dir.path, { a: Uint8Array.of(5) }, { fsync: false });
    await using set = (await open(`${dir.path}/model.ndp.index.json`, { maxIndexBytes: 1 << 20 })) as SetReader;
    expect([...(await set.read("a")).data]).toEqual([5]);
    expect((await set.verify()).ok).toBe(true);
  } finally {
    dir.remove();
  }
});

describe("the lazy reader's verify does not decompress (FORMAT.md §9 step 22): an array can verify and fail step 23", () => {
  test("a damaged deflate stream under a right CRC: verify ok, read CODEC_ERROR", async () => {
    const reader = await openSource(bytesSource(damagedDeflate(true)));
    expect((await reader.verify()).ok).toBe(true);
    await failureAsync(() => reader.read("a"), "CODEC_ERROR");
  });

  test("an array over maxDecodedBytes: verify ok, read LIMIT_EXCEEDED", async () => {
    const reader = await openSource(bytesSource(encode({ a: { data: new Float32Array(256).fill(1.5), codec: "deflate" } })), { maxDecodedBytes: 100 });
    expect((await reader.verify()).ok).toBe(true);
    await failureAsync(() => reader.read("a"), "LIMIT_EXCEEDED");
  });
});

describe(".safetensors headers are read under the caller's maxDepth and maxHeaderNodes (FORMAT.md §12.3 step 4)", () => {
  const file = toSafetensors({ w: new Float32Array(4) }, { metadata: { nested: { deep: [1, [2]] } } });
  test.each([
    ["maxDepth", { maxDepth: 2 }],
    ["maxHeaderNodes", { maxHeaderNodes: 3 }],
  ])("%s below what the header needs: LIMIT_EXCEEDED, from memory and from a source", async (limit, options) => {
    expect(failure(() => fromSafetensors(file, options), "LIMIT_EXCEEDED").limit).toBe(limit);
    expect((await failureAsync(() => openSource(bytesSource(file), { formats: FORMATS, ...options }), "LIMIT_EXCEEDED")).limit).toBe(limit);
    expect((await openSource(bytesSource(file), { formats: FORMATS })).names).toEqual(["w"]);
  });
});
