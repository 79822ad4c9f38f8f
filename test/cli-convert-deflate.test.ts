/**
 * `ndpack convert` of an np.savez_compressed .npz to .ndp (issue 14): by default each deflated
 * member's own DEFLATE stream is kept (cli/deflate-reuse.ts), from a restart point on; with
 * `--codec deflate` the arrays are compressed again, in pieces on every core (node/deflate.ts).
 * Both give the input's arrays, in payloads that zlib, pako and Python's reference read; a damaged
 * member fails with the same error either way, and the output path is left as it was.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { inflateWithPako } from "../src/codecs.js";
import { findRestartPoint } from "../src/cli/deflate-reuse.js";
import { crc32 } from "../src/crc32.js";
import { decode } from "../src/index.js";
import { fromNpz } from "../src/interop/index.js";
import { writeNpyHeader } from "../src/interop/npy.js";
import { DTYPES } from "../src/dtypes.js";
import { errorLineOf, requireBuiltCli, runCli, tempDir } from "./helpers/cli-run.js";

const tmp = tempDir("convert-deflate");

/** Written by numpy: wave (12 MiB float32: its stream is kept), labels (4 MiB int32), small (5 float64: no restart point), be (big-endian float32: compressed again). */
const NUMPY_SCRIPT = `
import sys, numpy as np
i = np.arange(3 * 2**20)
wave = (np.sin(i * 1e-4) + 0.5 * np.sin(i * 3.7e-3) + 1e-3 * ((i * 7919) % 1000)).astype(np.float32)
labels = ((i[: 2**20] * 2654435761) % 10).astype(np.int32)
np.savez_compressed(sys.argv[1], wave=wave, labels=labels, small=np.arange(5, dtype=np.float64), be=wave[:100000].astype(">f4"))
`;

/** The member `name`.npy of a zip: where its compressed data starts and ends, and where its CRC-32 fields are. */
function zipMember(zip: Uint8Array, name: string): { dataStart: number; dataEnd: number; crcFields: number[] } {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const want = `${name}.npy`;
  for (let at = zip.length - 22; at >= 0; at--) {
    if (view.getUint32(at, true) !== 0x02014b50) continue;
    const nameLength = view.getUint16(at + 28, true);
    if (new TextDecoder().decode(zip.subarray(at + 46, at + 46 + nameLength)) !== want) continue;
    const local = view.getUint32(at + 42, true);
    const dataStart = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    return { dataStart, dataEnd: dataStart + view.getUint32(at + 20, true), crcFields: [at + 16, local + 14] };
  }
  throw new Error(`no member ${want}`);
}

/** The stored payload of array `name` of an ndpack file. */
function payloadOf(file: Uint8Array, name: string): Uint8Array {
  const info = decode(file).info(name);
  return file.subarray(info.offset, info.offset + info.byteLength);
}

let input: Uint8Array;

beforeAll(async () => {
  await requireBuiltCli();
  const result = spawnSync("python3", ["-c", NUMPY_SCRIPT, tmp.path("in.npz")], { encoding: "utf8" });
  expect(result.status, result.stderr).toBe(0);
  // A Uint8Array, whose slice() copies (a Buffer's is a view): the damage tests change copies.
  input = new Uint8Array(readFileSync(tmp.path("in.npz")));
});

afterAll(() => tmp.remove());

async function convert(...args: string[]) {
  const result = await runCli(["convert", ...args]);
  expect([result.code, result.stderr]).toEqual([0, ""]);
}

/** Checks that the .ndp file at `path` holds the input's arrays, each payload one DEFLATE stream that zlib and pako inflate to it. */
function expectInputArrays(path: string): Uint8Array {
  const file = readFileSync(path);
  const npz = fromNpz(input).arrays;
  const ndp = decode(file);
  expect([...ndp.names].sort()).toEqual([...npz.keys()].sort());
  for (const [name, array] of npz) {
    const got = ndp.get(name);
    const expected = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
    expect([got.dtype, [...got.shape], got.byteOrder], name).toEqual([array.dtype, [...array.shape], "little"]);
    expect(Buffer.compare(new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength), expected), name).toBe(0);
    const info = ndp.info(name);
    expect(info.codec).toBe("deflate");
    const payload = payloadOf(file, name);
    // Stored little-endian (the output's byte order; "be" is swapped on the way), as this machine holds them.
    expect(Buffer.compare(inflateRawSync(payload), expected), `${name}: zlib`).toBe(0);
    expect(Buffer.compare(inflateWithPako(payload, info.nbytes, name), expected), `${name}: pako`).toBe(0);
    // The CRC after the payload is the CRC-32 of the stored (compressed) bytes (FORMAT.md §5).
    expect(new DataView(file.buffer, file.byteOffset).getUint32(info.offset + info.byteLength, true), `${name}: CRC`).toBe(crc32(payload));
  }
  return file;
}

describe("a deflated .npz to .ndp", () => {
  test("by default a large member's own DEFLATE stream is kept, from a restart point on; small and big-endian ones are compressed again", async () => {
    await convert(tmp.path("in.npz"), tmp.path("kept.ndp"));
    const file = expectInputArrays(tmp.path("kept.ndp"));
    // (labels, 20 times smaller compressed, may have no restart point in its first 4 MiB: then it is compressed again.)
    for (const name of ["wave"]) {
      const member = zipMember(input, name);
      const payload = payloadOf(file, name);
      // All but the start of the payload is the member's compressed bytes, copied.
      const tail = input.subarray(member.dataEnd - (1 << 20), member.dataEnd);
      expect(Buffer.compare(payload.subarray(payload.length - tail.length), tail), name).toBe(0);
      expect(payload.length).toBeLessThan(member.dataEnd - member.dataStart + 1024);
    }
    for (const name of ["small", "be"]) {
      const member = zipMember(input, name);
      const payload = payloadOf(file, name);
      const tail = input.subarray(Math.max(member.dataStart, member.dataEnd - 64), member.dataEnd);
      expect(Buffer.compare(payload.subarray(payload.length - tail.length), tail), name).not.toBe(0);
    }
  });

  test("--codec deflate compresses every array again (pieces on every core); the same arrays", async () => {
    await convert(tmp.path("in.npz"), tmp.path("again.ndp"), "--codec", "deflate");
    const file = expectInputArrays(tmp.path("again.ndp"));
    const member = zipMember(input, "wave");
    const tail = input.subarray(member.dataEnd - 64, member.dataEnd);
    const payload = payloadOf(file, "wave");
    expect(Buffer.compare(payload.subarray(payload.length - 64), tail)).not.toBe(0);
  });

  test("Python's reference implementation reads every array of both outputs as numpy wrote it", () => {
    const script = `
import sys, numpy as np, ndpack
z = np.load(sys.argv[1])
for path in sys.argv[2:]:
    f = ndpack.load(path)
    for name in z.files:
        a = np.asarray(f[name])
        b = z[name]
        assert a.dtype.str[1:] == b.dtype.str[1:] and a.shape == b.shape and np.array_equal(a, b), (path, name)
print("ok")
`;
    const result = spawnSync("python3", ["-c", script, tmp.path("in.npz"), tmp.path("kept.ndp"), tmp.path("again.ndp")], { encoding: "utf8" });
    expect([result.status, result.stdout.trim(), result.stderr]).toEqual([0, "ok", ""]);
  });
});

describe("damaged members: the same error whether the stream is kept or compressed again; the output is left as it was", () => {
  async function failures(damaged: Uint8Array): Promise<string[]> {
    writeFileSync(tmp.path("damaged.npz"), damaged);
    const lines: string[] = [];
    for (const flags of [[], ["--codec", "deflate"]]) {
      writeFileSync(tmp.path("kept-output.ndp"), "previous contents");
      const result = await runCli(["convert", tmp.path("damaged.npz"), tmp.path("kept-output.ndp"), ...flags]);
      expect(result.code).toBe(2);
      expect(readFileSync(tmp.path("kept-output.ndp"), "utf8")).toBe("previous contents");
      lines.push(errorLineOf(result));
    }
    expect(lines[0]).toBe(lines[1]);
    return lines;
  }

  test("a member whose CRC-32 fields are wrong: CHECKSUM", async () => {
    const damaged = input.slice();
    for (const at of zipMember(input, "wave").crcFields) damaged[at]! ^= 0x01;
    const [line] = await failures(damaged);
    expect(line).toMatch(/member "wave\.npy": CRC-32 mismatch.*\(CHECKSUM\)$/);
  });

  test("a byte flipped in the copied part of the stream: CODEC_ERROR (here the damaged codes decode to too many bytes)", async () => {
    const damaged = input.slice();
    const member = zipMember(input, "wave");
    damaged[member.dataStart + Math.floor((member.dataEnd - member.dataStart) * 0.75)]! ^= 0xff;
    const [line] = await failures(damaged);
    expect(line).toMatch(/: array "wave": the deflate stream decodes to more than the 12583040 bytes its shape declares \(CODEC_ERROR\)$/);
  });

  test("the last 16 bytes of a member's stream zeroed: CODEC_ERROR (here they decode to too many bytes)", async () => {
    const member = zipMember(input, "labels");
    const damaged = input.slice();
    damaged.fill(0, member.dataEnd - 16, member.dataEnd);
    const [line] = await failures(damaged);
    expect(line).toMatch(/: array "labels": the deflate stream decodes to more than the 4194432 bytes its shape declares \(CODEC_ERROR\)$/);
  });
});

test("--salvage: a member whose CRC-32 fails is copied, its stream kept, with a warning naming it", async () => {
  const damaged = input.slice();
  for (const at of zipMember(input, "wave").crcFields) damaged[at]! ^= 0x01;
  writeFileSync(tmp.path("salvage.npz"), damaged);
  const result = await runCli(["convert", tmp.path("salvage.npz"), tmp.path("salvaged.ndp"), "--salvage"]);
  expect(result.code).toBe(0);
  expect(errorLineOf(result)).toMatch(/^ndpack convert: warning: .*salvage\.npz: zip: member "wave\.npy": CRC-32 mismatch.*\(CHECKSUM\); copied as it is \(--salvage\)$/);
  expectInputArrays(tmp.path("salvaged.ndp"));
  const member = zipMember(input, "wave");
  const payload = payloadOf(readFileSync(tmp.path("salvaged.ndp")), "wave");
  expect(Buffer.compare(payload.subarray(payload.length - 4096), input.subarray(member.dataEnd - 4096, member.dataEnd))).toBe(0);
});

describe("findRestartPoint", () => {
  const data = Uint8Array.from({ length: 300_000 }, (_, i) => (Math.sin(i / 300) * 50 + (i % 7)) & 0xff);
  const header = writeNpyHeader({ dtype: DTYPES.uint8, shape: [data.length], order: "C" });
  const content = new Uint8Array([...header, ...data]);

  /** `bytes` deflated in pieces of `piece` bytes, each ended with a full flush (byte-aligned block boundaries). */
  function flushed(bytes: Uint8Array, piece: number): Uint8Array {
    const parts: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += piece) {
      const last = at + piece >= bytes.length;
      parts.push(deflateRawSync(bytes.subarray(at, at + piece), last ? {} : { finishFlush: constants.Z_FULL_FLUSH }));
    }
    return new Uint8Array(Buffer.concat(parts));
  }

  test("finds a byte-aligned block boundary 32 KiB or more into the array; the stream spliced there decodes to the array", () => {
    const stored = flushed(content, 50_000);
    const point = findRestartPoint(stored, 1 << 20)!;
    expect(point).toBeDefined();
    expect(point.arrayStart).toBe(header.length);
    expect(point.decoded.length).toBeGreaterThanOrEqual(header.length + 32 * 1024);
    expect(Buffer.compare(point.decoded, content.subarray(0, point.decoded.length))).toBe(0);
    const spliced = Buffer.concat([deflateRawSync(point.decoded.subarray(point.arrayStart), { finishFlush: constants.Z_FULL_FLUSH }), stored.subarray(point.resumeAt)]);
    expect(Buffer.compare(inflateRawSync(spliced), data)).toBe(0);
    expect(Buffer.compare(inflateWithPako(spliced, data.length, "a"), data)).toBe(0);
  });

  test("none in a stream that ends first, in garbage, in what is not a .npy file, or past the room given", () => {
    expect(findRestartPoint(deflateRawSync(content.subarray(0, 20_000)), 1 << 20)).toBeUndefined();
    expect(findRestartPoint(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 1 << 20)).toBeUndefined();
    expect(findRestartPoint(flushed(data, 50_000), 1 << 20)).toBeUndefined();
    expect(findRestartPoint(flushed(content, 50_000), 40_000)).toBeUndefined();
  });
});
