/**
 * Damaged data does not come back silently (issue 12), for the entry points of the core and of
 * ndpack/interop: one flipped payload bit gives CHECKSUM by default wherever the payload is read
 * anyway (decodeStream, fromNdpack), and the old behaviour (the damaged values) only with
 * `verify: false`. `decode(bytes).get(name)` reads no payload byte, so it checks only when asked
 * (`verify: true`). `load`, `open().read` and the CLI have their own tests.
 */
import { describe, expect, test } from "vitest";
import { decode, encode, type NdArray } from "../src/index.js";
import { decodeStream } from "../src/streams.js";
import { fromNdpack, fromNpy } from "../src/interop/index.js";
import { failure, failureAsync } from "./helpers/common.js";

const values = Float32Array.from({ length: 64 }, (_, i) => i / 4);
const good = encode({ before: new Uint8Array([1, 2, 3]), x: { data: values, shape: [8, 8] } });

/** `good` with one bit of x's payload flipped. */
function damaged(): { bytes: Uint8Array; flipped: number } {
  const bytes = good.slice();
  const offset = decode(bytes).info("x").offset + 17;
  bytes[offset]! ^= 0x10;
  return { bytes, flipped: offset };
}

async function collect(stream: AsyncIterable<NdArray>): Promise<NdArray[]> {
  const arrays: NdArray[] = [];
  for await (const array of stream) arrays.push(array);
  return arrays;
}

describe("decode(bytes).get(name)", () => {
  test("with verify: true, a flipped payload bit is CHECKSUM, naming the array", () => {
    const error = failure(() => decode(damaged().bytes, { verify: true }), "CHECKSUM");
    expect(error.array).toBe("x");
  });
  test("by default, get stays O(1): no payload byte is read, and the damaged values come back (documented)", () => {
    const x = decode(damaged().bytes).get("x", "float32");
    expect(x.copied).toBe(false);
    expect(x.data).not.toEqual(values);
    expect(x.data.filter((v, i) => v !== values[i])).toHaveLength(1);
  });
  test("the undamaged file passes verify: true with the same values", () => {
    expect(decode(good, { verify: true }).get("x", "float32").data).toEqual(values);
  });
});

describe("decodeStream", () => {
  test("by default a flipped payload bit is CHECKSUM, after the arrays before it", async () => {
    const stream = decodeStream(new Blob([damaged().bytes as Uint8Array<ArrayBuffer>]).stream());
    const seen: string[] = [];
    const error = await failureAsync(async () => {
      for await (const array of stream) seen.push(array.name);
    }, "CHECKSUM");
    expect(error.array).toBe("x");
    expect(seen).toEqual(["before"]);
  });
  test("verify: false hands out the damaged values, as before", async () => {
    const arrays = await collect(decodeStream(new Blob([damaged().bytes as Uint8Array<ArrayBuffer>]).stream(), { verify: false }));
    const x = arrays.find((a) => a.name === "x")!;
    expect(x.dtype === "float32" && x.data.filter((v, i) => v !== values[i]).length).toBe(1);
  });
});

describe("fromNdpack (ndpack/interop)", () => {
  test("by default a flipped payload bit is CHECKSUM: every payload is read to be converted", () => {
    expect(failure(() => fromNdpack(damaged().bytes, "npz"), "CHECKSUM").array).toBe("x");
    failure(() => fromNdpack(damaged().bytes, "npy", { name: "x" }), "CHECKSUM");
  });
  test("verify: false converts the damaged values, as before", () => {
    const npy = fromNpy(fromNdpack(damaged().bytes, "npy", { name: "x", verify: false }));
    expect(npy.dtype === "float32" && npy.data.filter((v, i) => v !== values[i]).length).toBe(1);
  });
});
