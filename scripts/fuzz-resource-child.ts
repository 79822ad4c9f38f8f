/**
 * One operation of a resource case of scripts/fuzz-resources.ts, in its own process so that its
 * peak RSS is its own: `tsx scripts/fuzz-resource-child.ts FILE OP`. Prints `result: ok`,
 * `result: <NdpackError code>`, or `result: UNTYPED <error>` (a failure of the campaign).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { decode, isNdpackError } from "../src/index.js";
import { fromNdpack } from "../src/interop/index.js";
import { load, open } from "../src/node/index.js";

async function run(file: string, op: string): Promise<string | void> {
  switch (op) {
    case "open-retained": {
      // Heap kept by an open reader, per array (issue 16: ~670 bytes at 10^5 arrays before the
      // reader let go of the parsed header entries); needs node --expose-gc.
      const gc = (globalThis as { gc?: () => void }).gc!;
      gc();
      const before = process.memoryUsage().heapUsed;
      const reader = await open(file, { maxArrays: 1_000_000 });
      gc();
      const perArray = (process.memoryUsage().heapUsed - before) / Math.max(reader.names.length, 1);
      await reader.close();
      return `ok, ${perArray.toFixed(0)} bytes retained per array`;
    }
    case "open":
      await (await open(file)).close();
      return;
    case "verify": {
      const reader = await open(file);
      await reader.verify();
      await reader.close();
      return;
    }
    case "read-all": {
      const reader = await open(file);
      for (const name of reader.names) await reader.read(name);
      await reader.close();
      return;
    }
    case "load":
      await load(file);
      return;
    case "decode":
      decode(readFileSync(file));
      return;
    case "fromNdpack":
      fromNdpack(readFileSync(file), "npz");
      return;
    default:
      throw new Error(`unknown operation ${op}`);
  }
}

const [file, op] = process.argv.slice(2);
run(file!, op!).then(
  (outcome) => console.log(`result: ${outcome ?? "ok"}`),
  (error: unknown) => console.log(`result: ${isNdpackError(error) ? error.code : `UNTYPED ${String(error).split("\n")[0]}`}`),
);
