/**
 * The checksum proof of issue 4: every single-bit flip of a small checksummed file is detected by
 * `decode` + `verify`, each with the code FORMAT.md §9 gives for the part of the file it hits;
 * every truncation is TRUNCATED; every extension is TRAILING_BYTES. For the same arrays without
 * checksums, the flips a reader cannot see (inside payloads) are counted and reported, and no flip
 * anywhere makes the reader throw anything but an NdpackError.
 */
import { describe, expect, test } from "vitest";
import { decode, verify } from "../src/decode.js";
import { encode } from "../src/encode.js";
import { NdpackError, type ErrorCode } from "../src/errors.js";
import { DEFAULT_LIMITS, PREAMBLE, PREAMBLE_SIZE, type Checksum } from "../src/format.js";
import { stepOf } from "./helpers/fuzz-spec.js";

/** About 2 KiB: two raw arrays and one compressed one (shuffle+deflate), with metadata. */
function fixture(checksum: Checksum): Uint8Array {
  return encode(
    {
      weights: { data: Float32Array.from({ length: 256 }, (_, i) => Math.sin(i)), shape: [16, 16] },
      ids: Int32Array.from({ length: 100 }, (_, i) => i * i),
      counts: { data: Uint16Array.from({ length: 600 }, (_, i) => (i * 7) % 50), shape: [20, 30], codec: "shuffle+deflate" },
    },
    { checksum, metadata: { source: "bitflip", step: 3 } },
  );
}

/** A named byte range of the file, and the code a flip inside it must give (undefined: computed per bit). */
interface Region {
  readonly name: string;
  readonly from: number;
  readonly to: number;
  readonly code?: ErrorCode;
  /** For flips found by verify: the array whose record the region belongs to. */
  readonly array?: string;
  /** Whether a reader without payload checksums can miss a flip here. */
  readonly payload?: boolean;
}

function regionsOf(bytes: Uint8Array): Region[] {
  const file = decode(bytes);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(PREAMBLE.headerLength, true);
  const crc = file.checksum === "crc32" ? 4 : 0;
  const regions: Region[] = [
    { name: "magic", from: 0, to: 8, code: "BAD_MAGIC" },
    { name: "major version", from: 8, to: 10, code: "UNSUPPORTED_VERSION" },
    { name: "minor version", from: 10, to: 12, code: "HEADER_CHECKSUM" },
    { name: "header length", from: 12, to: 16 },
    { name: "header CRC", from: 16, to: 20, code: "HEADER_CHECKSUM" },
    { name: "header", from: PREAMBLE_SIZE, to: PREAMBLE_SIZE + headerLength, code: "HEADER_CHECKSUM" },
  ];
  const infos = file.names.map((name) => file.info(name));
  regions.push({ name: "header padding", from: PREAMBLE_SIZE + headerLength, to: infos[0]!.offset, code: "BAD_PADDING" });
  infos.forEach((info, i) => {
    const end = info.offset + info.byteLength;
    const next = infos[i + 1]?.offset ?? bytes.length;
    regions.push({ name: `payload ${info.name}${info.codec === "none" ? "" : ` (${info.codec})`}`, from: info.offset, to: end, code: "CHECKSUM", array: info.name, payload: true });
    if (crc > 0) regions.push({ name: `CRC ${info.name}`, from: end, to: end + crc, code: "CHECKSUM", array: info.name });
    regions.push({ name: `padding after ${info.name}`, from: end + crc, to: next, code: "BAD_PADDING", array: info.name });
  });
  // The regions tile the file exactly.
  regions.reduce((at, r) => (expect(r.from, r.name).toBe(at), r.to), 0);
  expect(regions[regions.length - 1]!.to).toBe(bytes.length);
  return regions.filter((r) => r.to > r.from);
}

/** Where a damaged input is caught: by decode, by verify (naming an array), by reading an array, or not at all. */
interface Detection {
  readonly by: "decode" | "verify" | "read" | "none";
  readonly code?: ErrorCode;
  readonly array?: string;
  /** Arrays verify reported as damaged. */
  readonly damaged?: readonly string[];
}

function ndpackCode(run: () => unknown): ErrorCode | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (!(error instanceof NdpackError)) throw new Error(`not an NdpackError: ${String(error)}`, { cause: error });
    return error.code;
  }
}

function detect(bytes: Uint8Array): Detection {
  let file;
  try {
    file = decode(bytes);
  } catch (error) {
    if (!(error instanceof NdpackError)) throw new Error(`decode threw a non-NdpackError: ${String(error)}`, { cause: error });
    const report = verify(bytes);
    expect(report.error?.code).toBe(error.code);
    return { by: "decode", code: error.code };
  }
  const report = verify(bytes);
  expect(report.error).toBeUndefined();
  const damaged = report.arrays.filter((a) => !a.ok);
  const reads = file.names.map((name) => ({ name, code: ndpackCode(() => file.get(name)) }));
  if (damaged.length > 0) return { by: "verify", code: damaged[0]!.error!.code, array: damaged[0]!.name, damaged: damaged.map((a) => a.name) };
  const failed = reads.find((r) => r.code !== undefined);
  if (failed) return { by: "read", code: failed.code!, array: failed.name };
  return { by: "none" };
}

/** The code §9 gives for a file whose header length field is damaged (as `bytes`' is, during a flip). */
function damagedHeaderLengthCode(bytes: Uint8Array): ErrorCode {
  const flipped = new DataView(bytes.buffer, bytes.byteOffset).getUint32(PREAMBLE.headerLength, true);
  if (flipped > DEFAULT_LIMITS.maxHeaderBytes) return "HEADER_TOO_LARGE";
  if (PREAMBLE_SIZE + flipped > bytes.length) return "TRUNCATED";
  return "HEADER_CHECKSUM";
}

/** Flips every bit of `bytes` once (in place, restoring it) and calls `check` with the region hit. */
function eachFlip(bytes: Uint8Array, regions: readonly Region[], check: (region: Region, byte: number, bit: number, found: Detection) => void): void {
  for (const region of regions) {
    for (let byte = region.from; byte < region.to; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        bytes[byte]! ^= 1 << bit;
        try {
          check(region, byte, bit, detect(bytes));
        } finally {
          bytes[byte]! ^= 1 << bit;
        }
      }
    }
  }
}

const tally = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
const show = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ");

describe('single-bit flips of a 2 KiB file with checksum "crc32"', () => {
  const bytes = fixture("crc32");
  const regions = regionsOf(bytes);

  test("the fixture is what the proof needs: 2-4 KiB, checksummed, several arrays, one compressed", () => {
    expect(bytes.length).toBeGreaterThanOrEqual(2048);
    expect(bytes.length).toBeLessThanOrEqual(4096);
    const file = decode(bytes);
    expect(file.checksum).toBe("crc32");
    expect(file.names.length).toBeGreaterThanOrEqual(2);
    expect(file.names.some((n) => file.info(n).codec !== "none")).toBe(true);
    expect(verify(bytes).ok).toBe(true);
  });

  test("every flip is detected (100%) by decode or verify, with the code of the region it hits", () => {
    const byCode = new Map<string, number>();
    const byRegion = new Map<string, number>();
    let flips = 0;
    eachFlip(bytes, regions, (region, byte, bit, found) => {
      flips++;
      const expected = region.code ?? damagedHeaderLengthCode(bytes);
      const where = `bit ${bit} of byte ${byte} (${region.name})`;
      expect(found.by, where).toBe(region.array === undefined ? "decode" : "verify");
      expect(found.code, where).toBe(expected);
      // Step 22 is per array: exactly the array the damaged record belongs to fails.
      if (region.array !== undefined) expect(found.damaged, where).toEqual([region.array]);
      tally(byCode, `${found.by}:${found.code}`);
      tally(byRegion, region.name);
    });
    expect(flips).toBe(bytes.length * 8);
    console.log(`bitflip (crc32): ${flips} flips of a ${bytes.length}-byte file, ${flips} detected (100%): ${show(byCode)}`);
  });

  test("every truncation (lengths 0 to len-1) is TRUNCATED, at the step §9 gives", () => {
    const headerLength = new DataView(bytes.buffer).getUint32(PREAMBLE.headerLength, true);
    const steps = new Map<string, number>();
    for (let length = 0; length < bytes.length; length++) {
      const cut = bytes.slice(0, length);
      let caught: unknown;
      try {
        decode(cut);
      } catch (error) {
        caught = error;
      }
      // A prefix of the file agrees with the magic, so step 1 passes: the length decides.
      expect(caught, `length ${length}`).toBeInstanceOf(NdpackError);
      const error = caught as NdpackError;
      expect(error.code, `length ${length}`).toBe("TRUNCATED");
      const step = stepOf(error, "decode", cut);
      expect(step, `length ${length}`).toBe(length < PREAMBLE_SIZE ? 2 : length < PREAMBLE_SIZE + headerLength ? 5 : 20);
      expect(verify(cut).error?.code).toBe("TRUNCATED");
      tally(steps, `step ${step}`);
    }
    console.log(`bitflip: ${bytes.length} truncations, all TRUNCATED (${show(steps)})`);
  });

  test("every extension (1 to 64 bytes, zero or not) is TRAILING_BYTES", () => {
    for (let extra = 1; extra <= 64; extra++) {
      for (const fill of [0, 0xff]) {
        const longer = new Uint8Array(bytes.length + extra).fill(fill);
        longer.set(bytes);
        expect(ndpackCode(() => decode(longer)), `${extra} bytes of ${fill}`).toBe("TRAILING_BYTES");
      }
    }
  });
});

describe('single-bit flips of the same arrays with checksum "none"', () => {
  const bytes = fixture("none");
  const regions = regionsOf(bytes);

  test("only flips inside payloads can go unseen; the rest are detected with their code, and nothing but NdpackError is thrown", () => {
    const byCode = new Map<string, number>();
    const missed = new Map<string, number>();
    const perRegion = new Map<string, { flips: number; detected: number }>();
    let flips = 0;
    let detected = 0;
    eachFlip(bytes, regions, (region, byte, bit, found) => {
      flips++;
      const counts = perRegion.get(region.name) ?? { flips: 0, detected: 0 };
      counts.flips++;
      perRegion.set(region.name, counts);
      const where = `bit ${bit} of byte ${byte} (${region.name})`;
      if (found.by !== "none") {
        detected++;
        counts.detected++;
        tally(byCode, `${found.by}:${found.code}`);
      } else tally(missed, region.name);
      if (region.payload) {
        // A payload without a CRC: a flip is seen only if the codec cannot decode it.
        if (found.by !== "none") expect([found.by, found.code], where).toEqual(["read", "CODEC_ERROR"]);
      } else {
        expect(found.code, where).toBe(region.code ?? damagedHeaderLengthCode(bytes));
      }
    });
    expect(flips).toBe(bytes.length * 8);
    const fractions = [...perRegion].map(([name, c]) => `${name} ${c.detected}/${c.flips}`).join(", ");
    console.log(
      `bitflip (none): ${flips} flips of a ${bytes.length}-byte file, ${detected} detected (${((100 * detected) / flips).toFixed(1)}%): ${show(byCode)}; missed: ${show(missed)}\n` +
        `bitflip (none): detected per region: ${fractions}`,
    );
  });
});
