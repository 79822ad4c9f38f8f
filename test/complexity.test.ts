/**
 * Inputs whose cost once grew faster than their size (the complexity audit): each test builds the
 * input as bytes and names the outcome it must have. No clock is read (STYLE.md rule 11): a
 * quadratic path is caught either by a count that must not grow with the input (reads of a byte
 * source, or of its bytes' length), or by the test's timeout at a size where the quadratic path
 * takes minutes and the linear one a second or two.
 */
import { crc32 } from "node:zlib";
import { describe, expect, test } from "vitest";
import { decode, encode, isNdpackError } from "../src/index.js";
import { FORMATS, toNpz } from "../src/interop/index.js";
import { bytesSource, openSource } from "../src/source.js";
import { decodeMessages, decodeStream } from "../src/streams.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The FNV-1a prime, offset basis and step the layout's name table (src/layout.ts) hashes names with. */
const FNV_PRIME = 0x01000193;
const FNV_BASIS = 0x811c9dc5 | 0;
const fnvStep = (hash: number, unit: number) => Math.imul(hash ^ unit, FNV_PRIME);

/**
 * `count` distinct names whose FNV-1a hashes agree in their low 20 bits: every one of them lands
 * in the same slot of any table of up to 2^20 slots. The low bits of `(h ^ u) * prime` depend only
 * on the low bits of `h ^ u`, so the last code unit `u` of each name picks them (names whose bits
 * 16-19 then miss are skipped, one in 16 fits).
 */
function collidingNames(count: number): string[] {
  const mask = (1 << 20) - 1;
  let inverse = 1; // of the prime, modulo 2^32 (Newton's iteration)
  for (let i = 0; i < 5; i++) inverse = Math.imul(inverse, 2 - Math.imul(FNV_PRIME, inverse));
  const wanted = Math.imul(0x12345, inverse) & mask; // what the low bits of h ^ u must be
  const names: string[] = [];
  for (let i = 0; names.length < count; i++) {
    const prefix = `n${i}_`;
    let hash = FNV_BASIS;
    for (let k = 0; k < prefix.length; k++) hash = fnvStep(hash, prefix.charCodeAt(k));
    const unit = (hash ^ wanted) & 0xffff;
    // Bits 16-19 must agree too; the unit must be a character a header writes as it is.
    if (((hash ^ wanted) & mask) >>> 16 !== 0 || unit < 0xa0 || (unit >= 0xd800 && unit <= 0xdfff)) continue;
    names.push(prefix + String.fromCharCode(unit));
  }
  return names;
}

/** An ndpack file of alignment 8 without checksums whose header is `text` (padded with spaces) and whose arrays are all empty. */
function emptyArraysFile(text: string): Uint8Array {
  const raw = encoder.encode(text);
  const headerLength = raw.length + ((8 - ((20 + raw.length) % 8)) % 8);
  const out = new Uint8Array(20 + headerLength).fill(0x20, 20);
  out.set([0x89, 0x4e, 0x44, 0x50, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(out.buffer);
  view.setUint16(8, 1, true);
  view.setUint32(12, headerLength, true);
  out.set(raw, 20);
  view.setUint32(16, crc32(out.subarray(20), crc32(out.subarray(8, 16))), true);
  return out;
}

/** The header text of an ndpack file. */
function headerText(file: Uint8Array): string {
  return decoder.decode(file.subarray(20, 20 + new DataView(file.buffer, file.byteOffset).getUint32(12, true))).trimEnd();
}

describe("names that share a slot of the layout's name table", () => {
  test("100,000 names of one FNV-1a slot: the canonical and the strict reader read them, and a repeated one is DUPLICATE_NAME", () => {
    const names = collidingNames(100_000);
    // Each lookup of the table walked every name before it: about 5 * 10^9 comparisons per reader.
    const file = encode(Object.fromEntries(names.map((name) => [name, new Uint8Array(0)])), { alignment: 8, checksum: "none" });
    const canonical = decode(file);
    expect(canonical.names).toHaveLength(names.length);
    expect(canonical.has(names[names.length - 1]!)).toBe(true);
    expect(canonical.has(`${names[0]}?`)).toBe(false);
    expect(canonical.get(names[54_321]!).name).toBe(names[54_321]);

    // A name with an escape first: the canonical reader gives up at once and the strict one reads every entry.
    const text = headerText(file);
    const escaped = text.replace(`"name":${JSON.stringify(names[0])}`, '"name":"q\\"q"');
    const strict = decode(emptyArraysFile(escaped));
    expect(strict.names[0]).toBe('q"q');
    expect(strict.names.slice(1)).toEqual(names.slice(1));

    // The last name repeated: the table, past its probe bound, still finds it.
    const last = JSON.stringify(names[names.length - 1]);
    const repeated = escaped.replace(`"name":${last}`, `"name":${JSON.stringify(names[77_777])}`);
    let code: string | undefined;
    try {
      decode(emptyArraysFile(repeated));
    } catch (error) {
      code = isNdpackError(error) ? error.code : String(error);
    }
    expect(code).toBe("DUPLICATE_NAME");
  }, 60_000);
});

describe(".npz files of many members", () => {
  test("160,000 bfloat16 members: the dtypes of __ndpack__.json are checked by name", async () => {
    // Each dtype listed was looked for among all the arrays: about 10^10 comparisons.
    const count = 160_000;
    const arrays = new Map<string, { data: Uint16Array; dtype: "bfloat16"; shape: number[] }>();
    for (let i = 0; i < count; i++) arrays.set(`w${i}`, { data: new Uint16Array([i]), dtype: "bfloat16", shape: [1] });
    const bytes = toNpz(arrays); // and __ndpack__.json, which lists every dtype: one member more
    const reader = await openSource(bytesSource(bytes), { formats: FORMATS, maxArrays: count + 1 });
    expect(reader.names).toHaveLength(count);
    expect(reader.info(`w${count - 1}`).dtype).toBe("bfloat16");
  }, 120_000);

  test("ZIP64 members, whose local headers are not read ahead: each header read looks at a bounded number of kept reads", async () => {
    // A source whose bytes count the reads of their length: the lazy reader reads a kept read's
    // length each time it looks at it. Looking at every kept read on each miss (up to 4096 of them)
    // made the count per member grow with the file; it must not.
    let lengthReads = 0;
    class CountedBytes extends Uint8Array {
      override get length(): number {
        lengthReads++;
        return super.length;
      }
    }
    const perMember = async (count: number): Promise<number> => {
      const arrays = new Map<string, Float32Array>();
      for (let i = 0; i < count; i++) arrays.set(`a${i}`, new Float32Array(1));
      const bytes = toNpz(arrays, { forceZip64: true });
      const source = {
        size: bytes.length,
        read: async (offset: number, length: number) => {
          const out = new CountedBytes(Math.max(0, Math.min(length, bytes.length - offset)));
          out.set(bytes.subarray(offset, offset + out.byteLength));
          return out;
        },
      };
      lengthReads = 0;
      const reader = await openSource(source, { formats: FORMATS });
      expect(reader.names).toHaveLength(count);
      return lengthReads / count;
    };
    const small = await perMember(20_000);
    const large = await perMember(80_000); // a 27 MB file: more reads than the 16 MiB kept can hold
    expect(large).toBeLessThan(1.5 * small);
  }, 60_000);
});

describe("streams that claim more than they send", () => {
  test("a preamble that claims a 100 MiB header and sends nothing more: memory for what arrives, then TRUNCATED", async () => {
    // The header's memory was allocated at the length the preamble claims, before a byte of it came.
    const preamble = emptyArraysFile("{}").subarray(0, 20);
    new DataView(preamble.buffer, preamble.byteOffset).setUint32(12, 100 * 1024 * 1024, true);
    for (const read of [(source: AsyncIterable<Uint8Array>) => decodeStream(source).header(), (source: AsyncIterable<Uint8Array>) => decodeMessages(source).next()]) {
      let release!: () => void;
      const stalled = new Promise<void>((resolve) => (release = resolve));
      let waiting!: () => void;
      const reached = new Promise<void>((resolve) => (waiting = resolve));
      const source = (async function* () {
        yield preamble.slice();
        yield new Uint8Array(1000).fill(0x20);
        waiting();
        await stalled; // the peer stalls: what the reader holds meanwhile is what it allocated
      })();
      const before = process.memoryUsage().arrayBuffers;
      const result = read(source).then(
        () => "read",
        (error: unknown) => (isNdpackError(error) ? error.code : String(error)),
      );
      await reached;
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
      release();
      expect(await result).toBe("TRUNCATED");
    }
  });
});

describe("readMany", () => {
  test("one array of 4 MiB listed 5,000 times: read, checked and copied once", async () => {
    // Each listing was an array of its own: copied out of the shared read and its CRC computed
    // again, 20 GB of work (168 s) for one array.
    const bytes = encode({ big: new Float32Array(1 << 20).fill(2), small: new Float32Array(4).fill(3) });
    const reader = await openSource({ size: bytes.length, read: async (offset: number, length: number) => bytes.slice(offset, offset + length) });
    const arrays = await reader.readMany([...Array<string>(5000).fill("big"), "small", "big"]);
    expect([...arrays.keys()]).toEqual(["big", "small"]);
    expect(arrays.get("big")!.data[123]).toBe(2);
    expect(reader.readCount).toBe(2); // the header, then one read of both arrays
  }, 60_000);
});
