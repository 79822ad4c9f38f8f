/** The data of the crash-safety test, shared by the test and its child process (no vitest import here). */
import type { ArraysInput } from "../../src/index.js";

/** The arrays saved as "version" `version` by the crash test: 8 MiB, different for every version. */
export function versionArrays(version: number): ArraysInput {
  const data = new Uint32Array(2 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761 + version) >>> 0;
  return { data, version: new Float64Array([version]) };
}
