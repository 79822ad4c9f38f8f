/**
 * blobSource (src/io/blob.ts) and the viewer's reader over it (openSource, through src/viewer/reader.ts), in Node
 * (whose Blob is the browsers'): positioned reads, and every format's arrays read lazily with the
 * values the whole-buffer readers give.
 */
import { describe, expect, test } from "vitest";
import { decode, encode } from "../src/index.js";
import { blobSource } from "../src/source.js";
import { toNpy, toNpz, toSafetensors } from "../src/interop/index.js";
import { openViewerSource } from "../src/viewer/reader.js";
import { codeOf } from "./helpers/common.js";
import { withoutNativeZlib } from "./helpers/engines.js";

const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);

describe("blobSource", () => {
  test("reads exactly the bytes asked for, fewer at the end, none past it", async () => {
    const source = blobSource(new Blob([bytes]));
    expect(source.size).toBe(1000);
    expect(await source.read(10, 5)).toEqual(bytes.subarray(10, 15));
    expect(await source.read(990, 50)).toEqual(bytes.subarray(990));
    expect((await source.read(1000, 10)).length).toBe(0);
  });

  test("INVALID_ARGUMENT for a negative or fractional offset or length", async () => {
    const source = blobSource(new Blob([bytes]));
    for (const [offset, length] of [[-1, 4], [0, -4], [0.5, 4]] as const) {
      await expect(source.read(offset, length)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
  });
});

describe("the viewer's reader over a Blob", () => {
  const grid = Float32Array.from({ length: 12 }, (_, i) => i * 1.5);
  const arrays = { grid: { data: grid, shape: [3, 4] }, ids: new Int32Array([7, 8, 9]) };

  test.each([
    ["ndpack", encode(arrays, { metadata: { a: 1 } }), "f.ndp"],
    ["npz", toNpz(arrays), "f.npz"],
    ["safetensors", toSafetensors(arrays), "f.safetensors"],
  ] as const)("%s: names, infos, whole arrays and rows", async (format, file, name) => {
    const reader = await openViewerSource(blobSource(new Blob([file as Uint8Array<ArrayBuffer>])), name);
    expect(reader.format).toBe(format);
    expect(reader.names).toEqual(["grid", "ids"]);
    expect(reader.info("grid")).toMatchObject({ dtype: "float32", shape: [3, 4] });
    expect([...(await reader.read("grid")).data]).toEqual([...grid]);
    const rows = await reader.readRows("grid", 1, 3);
    expect(rows.shape).toEqual([2, 4]);
    expect([...rows.data]).toEqual([...grid.subarray(4)]);
    expect([...(await reader.read("ids")).data]).toEqual([7, 8, 9]);
    // The header from the first read, then each array read once (the rows again); a .npz member
    // read whole is read with its 128-byte .npy header, which its CRC-32 covers. "ids" follows the
    // rows' short read, so it is read with what follows it, to the end of this small file (the
    // read ahead of arrays read in order: test/reader.test.ts).
    const npyHeader = format === "npz" ? 128 : 0;
    const idsStart = reader.info("ids").offset - npyHeader;
    expect(reader.bytesRead).toBeLessThanOrEqual(file.length + 2 * grid.byteLength + 8 + npyHeader + (file.length - idsStart));
  });

  const engines = [
    ["zlib", <T>(fn: () => T) => fn()],
    ["pako, as in browsers", withoutNativeZlib],
  ] as const;

  test.each(engines)("a deflated .npz (np.savez_compressed): whole arrays and chunks, inflated with %s", async (_, engine) => {
    await engine(async () => {
      const reader = await openViewerSource(blobSource(new Blob([toNpz(arrays, { compress: true }) as Uint8Array<ArrayBuffer>])), "f.npz");
      expect(reader.info("grid")).toMatchObject({ dtype: "float32", shape: [3, 4], codec: "deflate" });
      expect([...(await reader.read("grid")).data]).toEqual([...grid]);
      expect([...(await reader.read("ids")).data]).toEqual([7, 8, 9]);
      const chunks: Uint8Array[] = [];
      for await (const chunk of reader.readChunks("grid", { chunkBytes: 16 })) chunks.push(chunk.slice());
      expect(chunks.map((c) => c.length)).toEqual([16, 16, 16]);
      expect([...new Float32Array(Uint8Array.from(chunks.flatMap((c) => [...c])).buffer)]).toEqual([...grid]);
    });
  });

  test.each(engines)("CODEC_ERROR for a deflated .npz member whose stream is damaged, read whole or in chunks (%s)", async (_, engine) => {
    // Values that do not compress, so the damage is far past the bytes inflated for the .npy header.
    let state = 1;
    const noise = Uint32Array.from({ length: 16384 }, () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0));
    const file = toNpz({ noise }, { compress: true }).slice();
    const { offset, byteLength } = (await openViewerSource(blobSource(new Blob([file as Uint8Array<ArrayBuffer>])), "f.npz")).info("noise");
    file.fill(0xff, offset + byteLength - 4096, offset + byteLength);
    await engine(async () => {
      const reader = await openViewerSource(blobSource(new Blob([file as Uint8Array<ArrayBuffer>])), "f.npz");
      await expect(reader.read("noise")).rejects.toMatchObject({ code: "CODEC_ERROR" });
      await expect((async () => {
        for await (const chunk of reader.readChunks("noise", { chunkBytes: 4096 })) void chunk;
      })()).rejects.toMatchObject({ code: "CODEC_ERROR" });
    });
  });

  test(".npy: the array is named after the file", async () => {
    const reader = await openViewerSource(blobSource(new Blob([toNpy({ data: grid, shape: [3, 4] }) as Uint8Array<ArrayBuffer>])), "dir/weights.npy");
    expect(reader.names).toEqual(["weights"]);
    expect([...(await reader.read("weights")).data]).toEqual([...grid]);
  });

  test("CHECKSUM for a damaged ndpack payload; BAD_MAGIC for another kind of file; NOT_FOUND", async () => {
    const file = encode(arrays);
    const damaged = file.slice();
    damaged[decode(file).info("ids").offset]! ^= 1;
    const reader = await openViewerSource(blobSource(new Blob([damaged as Uint8Array<ArrayBuffer>])), "f.ndp");
    await expect(reader.read("ids")).rejects.toMatchObject({ code: "CHECKSUM" });
    expect([...(await reader.read("grid")).data]).toEqual([...grid]);
    expect(codeOf(() => reader.info("nope"))).toBe("NOT_FOUND");
    await expect(openViewerSource(blobSource(new Blob([bytes])), "x.bin")).rejects.toMatchObject({ code: "BAD_MAGIC" });
  });
});
