/**
 * Runs ndpack/node operations in a child process, for the tests that need another user (EACCES
 * as root), a resource limit (`ulimit -f`) or a SIGKILL. The tests run it bundled (see
 * `buildChildScript` in node-files.ts); by hand: `node --import tsx test/helpers/node-child.ts ...`.
 *
 *   <operation> <path> [arg]
 *
 * - `save <path> <bytes>`, `writer <path> <bytes>`, `writer-shuffle <path> <bytes>` (a float32 array
 *   written with shuffle+deflate), `load <path>`, `open <path>`: runs the
 *   operation once and prints `{"ok":true}` or `{"ok":false,"code":...,"causeCode":...,"path":...}`.
 * - `abort-read <path> <times>`: `times` times, opens the file, starts reading its array `big` with
 *   a signal, aborts it while its pieces are read and closes the reader; prints `{"ok":true,"codes":[...]}`, the
 *   code each read ended with.
 * - `read-set <index>`: opens a set, reads all its arrays at once (`readMany`), then verifies it;
 *   prints `{"ok":true,"arrays":<count>,"sum":<sum of every element>,"verified":<verify's ok>}`.
 * - `save-loop <path> <first version>`: prints `ready`, waits for a line on stdin, then saves
 *   {@link versionArrays} of versions first, first+1, ... over `path` forever, printing
 *   `saving <v>` before and `saved <v>` after each save, until killed.
 * - `save-set-loop <folder> <first version>`: the same with `saveSet` of {@link setVersionArrays}.
 */
import { createWriter, isNdpackError, load, open, save, saveSet, type SetReader } from "../../src/node/index.js";
import { SET_SHARD_BYTES, setVersionArrays, versionArrays } from "./node-versions.js";

function pattern(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + 7) & 0xff || 1;
  return bytes;
}

async function once(operation: string, path: string, arg: number): Promise<object | void> {
  switch (operation) {
    case "read-set": {
      await using set = (await open(path)) as SetReader;
      const arrays = await set.readMany(set.names);
      let sum = 0;
      for (const array of arrays.values()) for (const value of array.data as Float32Array) sum += value;
      return { arrays: arrays.size, sum, verified: (await set.verify()).ok };
    }
    case "abort-read": {
      const codes: (string | undefined)[] = [];
      for (let i = 0; i < arg; i++) {
        const reader = await open(path);
        const controller = new AbortController();
        const reading = reader.read("big", { signal: controller.signal }); // its pieces' reads begin within the call
        controller.abort();
        codes.push(await reading.then(() => undefined, (error: { code?: string }) => error.code));
        await reader.close();
      }
      return { codes };
    }
    case "save":
      return save(path, { data: pattern(arg) });
    case "load":
      await load(path);
      return;
    case "open":
      return (await open(path)).close();
    case "writer": {
      const writer = await createWriter(path, [{ name: "data", dtype: "uint8", shape: [arg] }]);
      const chunk = pattern(65536);
      for (let at = 0; at < arg; at += chunk.length) await writer.write("data", chunk.subarray(0, Math.min(chunk.length, arg - at)));
      return writer.close();
    }
    case "writer-shuffle": {
      // shuffle+deflate: the array goes through a scratch file first (node/shuffle-spool.ts).
      const writer = await createWriter(path, [{ name: "data", dtype: "float32", shape: [arg / 4], codec: "shuffle+deflate" }]);
      const chunk = pattern(65536);
      for (let at = 0; at < arg; at += chunk.length) await writer.write("data", chunk.subarray(0, Math.min(chunk.length, arg - at)));
      return writer.close();
    }
    default:
      throw new Error(`unknown operation ${operation}`);
  }
}

const [operation = "", path = "", arg = "0"] = process.argv.slice(2);
if (operation === "save-loop" || operation === "save-set-loop") {
  process.stdout.write("ready\n");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  for (let version = Number(arg); ; version++) {
    process.stdout.write(`saving ${version}\n`);
    if (operation === "save-loop") await save(path, versionArrays(version), { metadata: { version } });
    else await saveSet(path, setVersionArrays(version), { maxShardBytes: SET_SHARD_BYTES, metadata: { version } });
    process.stdout.write(`saved ${version}\n`);
  }
} else {
  try {
    const result = await once(operation, path, Number(arg));
    process.stdout.write(JSON.stringify({ ok: true, ...result }) + "\n");
  } catch (error) {
    if (!isNdpackError(error)) throw error;
    const cause = error.cause as { code?: string } | undefined;
    process.stdout.write(JSON.stringify({ ok: false, code: error.code, causeCode: cause?.code, path: error.path, message: error.message }) + "\n");
  }
}
