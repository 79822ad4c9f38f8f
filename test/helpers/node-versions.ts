/** The data of the crash-safety test, shared by the test and its child process (no vitest import here). */
import type { ArraysInput } from "../../src/index.js";

/** The arrays saved as "version" `version` by the crash test: 8 MiB, different for every version. */
export function versionArrays(version: number): ArraysInput {
  const data = new Uint32Array(2 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761 + version) >>> 0;
  return { data, version: new Float64Array([version]) };
}

/** The arrays saved as "version" `version` by the set crash test: the same 8 MiB in four arrays, with maxShardBytes 2 MiB five shards. */
export function setVersionArrays(version: number): ArraysInput {
  const { data, version: scalar } = versionArrays(version) as { data: Uint32Array; version: Float64Array };
  const quarter = data.length / 4;
  const parts: [string, ArrayBufferView][] = [0, 1, 2, 3].map((i) => [`part.${i}`, data.subarray(i * quarter, (i + 1) * quarter)]);
  return [...parts, ["version", scalar]];
}

/** maxShardBytes of the set crash test. */
export const SET_SHARD_BYTES = 2 << 20;
