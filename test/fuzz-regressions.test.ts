/**
 * What the fuzz campaign found, pinned: every input it saved under `fixtures/fuzz-found/` is run
 * again through the case runner, and each bug is a test named after the code it expects, with its
 * input as a byte literal.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { inflateRawSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { decompressPayload, inflateWithPako } from "../src/codecs.js";
import { decode } from "../src/decode.js";
import { encode } from "../src/encode.js";
import { codeOf } from "./helpers/common.js";
import { nativeZlib } from "../src/runtime.js";
import { buildFile } from "./helpers/fixture-builder.js";
import { runCase } from "./helpers/fuzz-run.js";
import { FUZZ_FOUND } from "./helpers/fuzz-seeds.js";
import { DEFAULT_FORMAT_OPTIONS, kindOfPath, MAX_CHUNKS, packSet, runFormatCase, storyPathOf, type FormatCaseOptions } from "./helpers/fuzz-formats.js";
import { FORMATS } from "../src/formats/index.js";
import { toNpz } from "../src/interop/npz.js";
import { bytesSource } from "../src/io/bytes.js";
import { openSource } from "../src/reader.js";


const saved = existsSync(FUZZ_FOUND) ? readdirSync(FUZZ_FOUND).sort() : [];
const found = saved.filter((name) => name.endsWith(".ndp"));
const foundFormats = saved.filter((name) => kindOfPath(name) !== undefined);

describe("inputs saved by `npm run fuzz` (fixtures/fuzz-found/)", () => {
  if (found.length === 0) test("none saved yet", () => expect(found).toEqual([]));
  else test.each(found)("%s passes every invariant of the case runner", (name) => {
    const input = new Uint8Array(readFileSync(join(FUZZ_FOUND, name)));
    const story = join(FUZZ_FOUND, name.replace(/\.ndp$/, ".json"));
    const options = existsSync(story) ? ((JSON.parse(readFileSync(story, "utf8")) as { options?: object }).options ?? {}) : {};
    expect(runCase(input, options).problems).toEqual([]);
  });
});

describe("inputs saved by `npm run fuzz:formats` (fixtures/fuzz-found/, by extension)", () => {
  if (foundFormats.length === 0) test("none saved yet", () => expect(foundFormats).toEqual([]));
  else test.each(foundFormats)("%s passes every invariant of the formats' case runner, whole and in the smallest chunks", async (name) => {
    const input = new Uint8Array(readFileSync(join(FUZZ_FOUND, name)));
    const story = storyPathOf(join(FUZZ_FOUND, name));
    const options = existsSync(story) ? (JSON.parse(readFileSync(story, "utf8")) as { options: FormatCaseOptions }).options : DEFAULT_FORMAT_OPTIONS;
    for (const chunkBytes of [Math.max(1, input.length), Math.max(1, Math.ceil(input.length / MAX_CHUNKS))]) expect((await runFormatCase(kindOfPath(name)!, input, chunkBytes, options)).problems).toEqual([]);
  });
});

/**
 * `npm run fuzz:formats` found that verifying a .npz file of deflated members cost 8 MiB of
 * ArrayBuffers a member (25 MiB for a 555-byte file of three): `readChunks`, which `verify` inflates
 * each deflated member through, allocated a whole chunk (8 MiB by default) before the first byte,
 * whatever the member's size. A chunk is now never longer than what is left of the array.
 */
describe("the lazy reader's chunks of a deflated .npz member are no longer than the array", () => {
  const npz = toNpz({ w: Float32Array.of(1, 2, 3), flag: { data: Uint8Array.of(1, 0), dtype: "bool" } }, { compress: true });

  test("readChunks of a 12-byte deflated member yields one chunk of 12 bytes in memory of 12 bytes", async () => {
    const reader = await openSource(bytesSource(npz), { formats: FORMATS });
    const chunks: Uint8Array[] = [];
    for await (const chunk of reader.readChunks("w")) chunks.push(chunk);
    expect(chunks.map((c) => [c.byteLength, c.buffer.byteLength])).toEqual([[12, 12]]);
    expect([...new Float32Array(chunks[0]!.buffer)]).toEqual([1, 2, 3]);
  });

  test("readChunks in chunks of 8 bytes: 8 bytes, then the last 4 in memory of 4", async () => {
    const reader = await openSource(bytesSource(npz), { formats: FORMATS });
    const chunks: Uint8Array[] = [];
    for await (const chunk of reader.readChunks("w", { chunkBytes: 8 })) chunks.push(chunk);
    expect(chunks.map((c) => [c.byteLength, c.buffer.byteLength])).toEqual([[8, 8], [4, 4]]);
  });
});

/**
 * `npm run fuzz:formats` found that verifying a local file cost 4 MiB of ArrayBuffers however small
 * the file (a set of two 300-byte shards: 8 MiB; a set keeps up to 64 shard files open, 256 MiB):
 * the file source's CRC-32 memory, four 1 MiB pieces, was allocated whole for any range. It is now
 * no longer than the range checked.
 */
describe("verifying a small local file costs memory of its size, not four 1 MiB pieces", () => {
  const shards = ["tiny-00c0ffee-00001-of-00002.ndp", "tiny-00c0ffee-00002-of-00002.ndp"].map((name, i) => {
    const bytes = encode({ [`a${i}`]: Uint8Array.of(1, 2, 3), [`b${i}`]: Float32Array.of(i) });
    return { name, bytes, arrays: [`a${i}`, `b${i}`] };
  });
  // As huggingface_hub writes an index, without `ndpack`: with it, a shard this small is read whole
  // by the check of its header against the index, and verified from that memory, not by the file.
  const index = JSON.stringify({ metadata: { total_size: 14 }, weight_map: Object.fromEntries(shards.flatMap((s) => s.arrays.map((a) => [a, s.name]))) }, null, 2);
  const set = packSet([["tiny.ndp.index.json", new TextEncoder().encode(index)], ...shards.map((s) => [s.name, s.bytes] as const)]);

  test("a set of two small shards: every array read and verified (no code) within the case runner's bound for maxDecodedBytes 64", async () => {
    const report = await runFormatCase("set", set, set.length, { limits: { maxDecodedBytes: 64 }, copy: "auto" });
    expect(report.outcomeForPython).toEqual({ load: null, arrays: ["a0", "b0", "a1", "b1"].map((name) => ({ name, read: null, verify: null })) });
    expect(report.problems).toEqual([]);
  });
});

/**
 * The campaign found that a header string with an escape cost about four times its length in
 * ArrayBuffers (a 1 MiB metadata string with one inserted character: 4 MiB): the parser decoded it
 * into a buffer that doubled as it filled, two bytes a code unit. It now decodes a chunk at a time
 * into one fixed buffer, so such a string costs its text and 16 KiB however long it is.
 */
describe("a header string with an escape costs a fixed buffer besides its text", () => {
  const pad = "\n" + "x".repeat(4 << 20);
  const file = encode({ x: Float32Array.of(1) }, { metadata: { pad } });
  const bounded = { maxDecodedBytes: 64 };

  test("a valid file whose metadata holds 4 MiB after an escape: decoded within the case runner's memory bound", () => {
    expect(decode(file).metadata.pad).toBe(pad);
    expect(runCase(file, bounded).problems).toEqual([]);
  });

  test("HEADER_INVALID for a bad escape after 4 MiB of a string, within the same bound", () => {
    const broken = buildFile({ header: `{"alignment":8,"checksum":"none","dataLength":0,"metadata":{"pad":${JSON.stringify(pad).slice(0, -1)}\\q"},"arrays":[]}` });
    expect(codeOf(() => decode(broken))).toBe("HEADER_INVALID");
    expect(runCase(broken, bounded).problems).toEqual([]);
  });
});

/**
 * The campaign found that fflate, then the inflater of runtimes without native zlib (browsers), did
 * not check a dynamic block's code lengths as zlib does, so a browser decoded a stream that Node
 * and ndpack.py refuse: two readers disagreeing about one file (§9). The pure-JS path is now pako, a
 * port of zlib; these tests pin that both paths refuse the stream the campaign found.
 */
describe("the browser inflater refuses the invalid deflate streams zlib refuses", () => {
  // A 300-element uint16 array whose stream repeats a code length before any was given (code 16
  // first): zlib says "invalid bit length repeat"; fflate decoded 600 bytes. Found by the campaign
  // (a bit flip in the payload of a checksum "none" file).
  const BIT_LENGTH_REPEAT = Buffer.from("edca3701c0200000b074b2877fb568e0e70d97dbe3f5f90551921555d30dd31147ec8b05", "hex");
  // The same, as a whole file (checksum "none", so nothing but the codec can notice the damage).
  const FILE = Buffer.from(
    "iU5EUA0KGgoBAAAAxQAAAIoZun97ImFsaWdubWVudCI6NjQsImNoZWNrc3VtIjoibm9uZSIsImRhdGFMZW5ndGgiOjM2LCJtZXRhZGF0YSI6e30sImFycmF5cyI6W3sibmFtZSI6InUiLCJkdHlwZSI6InVpbnQxNiIsInNoYXBlIjpbMzAwXSwib3JkZXIiOiJDIiwiYnl0ZU9yZGVyIjoibGl0dGxlIiwiY29kZWMiOiJkZWZsYXRlIiwib2Zmc2V0IjowLCJieXRlTGVuZ3RoIjozNn1dfQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAO3KNwHAIAAAsHSyh3+1aODnDZfb4/X5BVGSFVXTDdMRR+yLBQ==",
    "base64",
  );
  test("zlib rejects the stream (the reference behaviour, and ndpack.py's)", () => {
    expect(() => inflateRawSync(BIT_LENGTH_REPEAT)).toThrow("invalid bit length repeat");
    expect(codeOf(() => decompressPayload(BIT_LENGTH_REPEAT, "deflate", 600, 2, "u"))).toBe("CODEC_ERROR");
    expect(codeOf(() => decode(FILE).get("u"))).toBe("CODEC_ERROR");
  });

  test("CODEC_ERROR from the pure-JS path for a stream that repeats a code length before the first (invalid bit length repeat)", () => {
    expect(codeOf(() => inflateWithPako(BIT_LENGTH_REPEAT, 600, "u"))).toBe("CODEC_ERROR");
  });

  test("CODEC_ERROR from get() where native zlib is missing, as where it is present", () => {
    const native = nativeZlib.inflateRawSync;
    delete nativeZlib.inflateRawSync;
    try {
      expect(codeOf(() => decode(FILE).get("u"))).toBe("CODEC_ERROR");
    } finally {
      nativeZlib.inflateRawSync = native;
    }
  });
});
