/**
 * The conformance vectors (spec/conformance.md) read by the stream reader, `decodeStream`, which
 * cannot know a file's length in advance: in chunks of 1 byte (files up to 64 KiB), 7 bytes, and
 * whole. A valid file gives decode's arrays, byte for byte. An invalid one gives the vector's code,
 * with FORMAT.md §9's second latitude: a file cut short in its data section after non-zero padding
 * behind its header is BAD_PADDING for a stream reader, which runs check 21 before it reads the
 * data section, where a reader of known length reports TRUNCATED (check 20). An array that fails
 * when read (steps 22 and 23) fails the stream when it comes out, the first such array in file
 * order, since the stream verifies and decodes each array as it hands it out.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { decode, NdpackError, type NdArray } from "../src/index.js";
import { decodeStream } from "../src/streams.js";

const FIXTURES = fileURLToPath(new URL("../fixtures", import.meta.url));
const index = JSON.parse(readFileSync(join(FIXTURES, "index.json"), "utf8")) as { valid: { name: string }[]; invalid: { name: string }[] };

interface ExpectedInvalid {
  code: string;
  step: number;
  array?: string;
  when?: "read";
  others?: Record<string, string>;
}

async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/** The chunk sizes each file is read in: bytes one at a time only where that stays quick. */
const sizesFor = (bytes: Uint8Array) => [...(bytes.length <= 65_536 ? [1] : []), 7, Math.max(1, bytes.length)];

async function drain(bytes: Uint8Array, size: number): Promise<{ arrays: NdArray[]; error: NdpackError | undefined }> {
  const arrays: NdArray[] = [];
  try {
    for await (const array of decodeStream(chunks(bytes, size))) arrays.push(array);
  } catch (error) {
    if (!(error instanceof NdpackError)) throw error;
    return { arrays, error };
  }
  return { arrays, error: undefined };
}

const bytesOf = (array: NdArray) => new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);

/** What a reader of unknown length reports for `bytes`, whose vector is `expected` (see the top of this file). */
function streamCode(bytes: Uint8Array, expected: ExpectedInvalid): string {
  if (expected.when === "read") {
    const failing = { ...expected.others, [expected.array!]: expected.code };
    return failing[decode(bytes, { verify: false }).names.find((name) => name in failing)!]!;
  }
  if (expected.code === "TRUNCATED" && expected.step === 20) {
    const headerEnd = 20 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
    const { alignment } = JSON.parse(new TextDecoder().decode(bytes.subarray(20, headerEnd))) as { alignment: number };
    const dataStart = Math.ceil(headerEnd / alignment) * alignment;
    if (bytes.length >= dataStart && bytes.subarray(headerEnd, dataStart).some((byte) => byte !== 0)) return "BAD_PADDING";
  }
  return expected.code;
}

describe("the conformance vectors read as a stream of unknown length", () => {
  test.each(index.valid.map((c) => c.name))("valid/%s: decode's arrays, in every chunking", async (name) => {
    const bytes = new Uint8Array(readFileSync(join(FIXTURES, "valid", `${name}.ndp`)));
    const file = decode(bytes);
    for (const size of sizesFor(bytes)) {
      const { arrays, error } = await drain(bytes, size);
      expect(error, `chunks of ${size}`).toBeUndefined();
      expect(arrays.map((a) => a.name), `chunks of ${size}`).toEqual(file.names);
      for (const array of arrays) expect(bytesOf(array), `${array.name}, chunks of ${size}`).toEqual(bytesOf(file.get(array.name)));
    }
  });

  test.each(index.invalid.map((c) => c.name))("invalid/%s: the vector's code, or the latitude's, in every chunking", async (name) => {
    const bytes = new Uint8Array(readFileSync(join(FIXTURES, "invalid", `${name}.ndp`)));
    const expected = JSON.parse(readFileSync(join(FIXTURES, "invalid", `${name}.json`), "utf8")) as ExpectedInvalid;
    const code = streamCode(bytes, expected);
    for (const size of sizesFor(bytes)) expect((await drain(bytes, size)).error?.code, `chunks of ${size}`).toBe(code);
  });

  test("the latitude is taken by the vector that needs it: length-before-padding is TRUNCATED for decode, BAD_PADDING for the stream", async () => {
    const bytes = new Uint8Array(readFileSync(join(FIXTURES, "invalid", "length-before-padding.ndp")));
    expect(() => decode(bytes)).toThrow(expect.objectContaining({ code: "TRUNCATED" }));
    expect((await drain(bytes, 7)).error?.code).toBe("BAD_PADDING");
  });
});
