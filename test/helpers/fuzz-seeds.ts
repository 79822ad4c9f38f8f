/**
 * Seeds of the fuzz campaign: files made here with `encode` (every dtype family, every codec,
 * checksum on and off, both byte orders, metadata with awkward values), plus every `.ndp` file under
 * `fixtures/` except `fixtures/fuzz-found/`, read at run time so that new fixtures become seeds
 * without a code change.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { encode } from "../../src/encode.js";

/** One starting file of the campaign. */
export interface Seed {
  /** `gen:<label>` for a generated seed, the path under the repository for a fixture. */
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** Deterministic bytes (xorshift32), so the generated seeds are the same on every run. */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state >>> 24;
  }
  return out;
}

/** A smooth ramp, which deflate compresses well (so the encoder keeps the codec). */
function ramp<T extends Float32Array | Float64Array | Int16Array | Int32Array | Uint16Array>(make: new (n: number) => T, n: number): T {
  const out = new make(n);
  for (let i = 0; i < n; i++) out[i] = i % 17;
  return out;
}

/** The generated seeds: small (under 8 KiB each, most under 2 KiB) so mutations stay cheap. */
export function generatedSeeds(): Seed[] {
  const seeds: Seed[] = [];
  const add = (name: string, bytes: Uint8Array) => seeds.push({ name: `gen:${name}`, bytes });

  add(
    "mixed-crc32",
    encode(
      {
        weights: { data: ramp(Float32Array, 6), shape: [2, 3] },
        ids: new BigInt64Array([1n, -2n, 3n]),
        image: { data: new Uint8Array(512).fill(7), shape: [8, 8, 8], codec: "deflate" },
      },
      { metadata: { model: "fuzz", epoch: 3, nested: { list: [1, 2.5, -0, null, true, "x"] } } },
    ),
  );
  add(
    "big-endian-none",
    encode(
      {
        a: { data: ramp(Float64Array, 12), shape: [3, 4], order: "F" },
        b: { data: ramp(Int16Array, 256), shape: [16, 16], codec: "shuffle+deflate" },
        c: { data: new Float32Array([1, -1, 0.5, 2]), dtype: "complex64", shape: [2] },
      },
      { byteOrder: "big", checksum: "none", metadata: { big: 1e21, tiny: 5e-324, text: "é\u0000\"\\" } },
    ),
  );
  add("empty", encode({}, { metadata: {} }));
  add("metadata-only", encode({}, { metadata: { a: { b: { c: [[[]]] } }, "__proto__x": 1, constructor: "k" } }));
  add(
    "small-dtypes",
    encode({
      flag: { data: Uint8Array.of(0, 1, 1), dtype: "bool" },
      scalar: { data: new Int32Array([42]), shape: [] },
      none: { data: new Float32Array(0), shape: [3, 0, 2] },
      half: { data: new Uint16Array([0x3c00, 0xc000]), dtype: "float16" },
      brain: { data: new Uint16Array([0x3f80]), dtype: "bfloat16" },
      e4m3: { data: Uint8Array.of(0x38, 0x7f), dtype: "float8_e4m3fn" },
      e5m2: { data: Uint8Array.of(0x3c), dtype: "float8_e5m2" },
      u64: new BigUint64Array([2n ** 64n - 1n]),
      i8: Int8Array.of(-128, 127),
      u32: Uint32Array.of(0xffffffff),
    }),
  );
  add(
    "odd-names-align8",
    // A list of pairs: in an object literal `__proto__` would set the prototype instead.
    encode(
      [
        ["__proto__", new Uint8Array(3)],
        ["constructor", new Uint8Array(5)],
        ["a/b", new Int16Array(3)],
        ["layer.0.weight", new Float32Array(3)],
        ["🎉", new Uint8Array(1)],
      ],
      { alignment: 8 },
    ),
  );
  add(
    "page-aligned",
    encode({ x: new Uint8Array(100).fill(1), y: new Float64Array([Math.PI]) }, { alignment: 4096, metadata: { page: true } }),
  );
  add(
    "compressed-2MiB",
    // Decodes to more than the campaign's 1 MiB maxDecodedBytes, from a few kilobytes.
    encode({ zeros: { data: new Float32Array(512 * 1024), shape: [512, 1024], codec: "shuffle+deflate" }, tail: Uint8Array.of(1) }),
  );
  add(
    "complex128-big-deflate",
    encode(
      { z: { data: ramp(Float64Array, 64), dtype: "complex128", shape: [4, 8], codec: "deflate" }, n: { data: noise(40, 7), codec: "deflate" } },
      { byteOrder: "big", compressionLevel: 9, metadata: { n: -12.5e-7, s: "\ud83d\ude00" } },
    ),
  );
  add("uint16-crc-none-deflate", encode({ u: { data: ramp(Uint16Array, 300), codec: "deflate" }, i: ramp(Int32Array, 5) }, { checksum: "none", alignment: 16 }));
  return seeds;
}

const FIXTURES = fileURLToPath(new URL("../../fixtures", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Inputs the fuzzer saved: replayed one by one by `test/fuzz-regressions.test.ts`, and left out of
 * the seeds so that saving one does not renumber every case of a campaign.
 */
export const FUZZ_FOUND = join(FIXTURES, "fuzz-found");

/** Every `*.ndp` file under `fixtures/` (any depth, but not {@link FUZZ_FOUND}), sorted by path; none when the directory is missing. */
export function fixtureSeeds(directory = FIXTURES): Seed[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      const stat = statSync(path);
      if (stat.isDirectory()) {
        if (path !== FUZZ_FOUND) walk(path);
      }
      else if (stat.isFile() && name.endsWith(".ndp")) found.push(path);
    }
  };
  walk(directory);
  return found.sort().map((path) => ({ name: relative(ROOT, path), bytes: new Uint8Array(readFileSync(path)) }));
}

/** Generated seeds first, then fixtures: the list a campaign's case indices refer to. */
export function allSeeds(): Seed[] {
  return [...generatedSeeds(), ...fixtureSeeds()];
}
