/**
 * Reading a set the long way, for the writer and crash tests: the index parsed, every shard loaded
 * whole and checked against it as FORMAT.md §12.3 says (size, header CRC, CRCs of the payloads,
 * names). No vitest import: the crash test's child process uses it too.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decode, type NdArray } from "../../src/index.js";
import { checkShardHeader, checkShardNames, checkShardSize, parseSetIndex, shardHeaderEnd, shardPrefixLength, type SetIndex } from "../../src/set.js";

/** The sharded-set vectors (fixtures/sets, written by scripts/generate-set-fixtures.ts). */
export const SETS = fileURLToPath(new URL("../../fixtures/sets", import.meta.url));

/** A valid set vector: its index file and what reading it must give. */
export interface ValidSetCase {
  name: string;
  index: string;
  metadata: Record<string, unknown>;
  arrays: { name: string; dtype: string; shape: number[]; order: "C" | "F"; shard: string; nbytes: number; sha256: string }[];
}

/** An invalid set vector: the code it must give, and whether opening the index or reading `array` gives it. */
export interface InvalidSetCase {
  name: string;
  index: string;
  code: string;
  when: "index" | "read";
  array?: string;
}

/** fixtures/sets/index.json. */
export const SET_VECTORS = JSON.parse(readFileSync(join(SETS, "index.json"), "utf8")) as { valid: ValidSetCase[]; invalid: InvalidSetCase[] };


/** A whole set in memory: its index, and its arrays in index order (each a decoded, verified array). */
export interface LoadedSet {
  readonly index: SetIndex;
  readonly arrays: ReadonlyMap<string, NdArray>;
  /** Shard file name of each array. */
  readonly shardOf: ReadonlyMap<string, string>;
}

/** Loads the set whose index is at `indexPath`, checking everything; throws the first NdpackError. */
export function loadSet(indexPath: string): LoadedSet {
  const index = parseSetIndex(new Uint8Array(readFileSync(indexPath)));
  const arrays = new Map<string, NdArray>();
  for (const shard of index.shards) {
    const bytes = new Uint8Array(readFileSync(join(dirname(indexPath), shard.name)));
    checkShardSize(shard, bytes.length);
    checkShardHeader(shard, bytes.subarray(0, shardHeaderEnd(shard, bytes.subarray(0, shardPrefixLength(shard)), bytes.length)));
    const file = decode(bytes, { verify: true });
    checkShardNames(index, shard, file.names);
    for (const name of file.names) arrays.set(name, file.get(name));
  }
  const ordered = new Map(index.names.map((name) => [name, arrays.get(name)!]));
  return { index, arrays: ordered, shardOf: new Map(index.names.map((name) => [name, index.shardOf.get(name)!.name])) };
}

/** The bytes of an array's data. */
export function dataBytes(array: { data: ArrayBufferView }): Uint8Array {
  return new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
}
