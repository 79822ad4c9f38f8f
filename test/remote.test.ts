/**
 * Reading big remote files (256 MiB each, in the four formats) from a real nginx on loopback: what
 * each read costs is counted in nginx's access log (requests, Range headers, `$body_bytes_sent`),
 * and every byte read remotely equals the local file's.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { crc32 } from "../src/crc32.js";
import { encode } from "../src/index.js";
import { FORMATS, toSafetensors } from "../src/interop/index.js";
import { zipDirectorySteps } from "../src/interop/zip.js";
import { httpSource } from "../src/io/http.js";
import { coalesceRanges, COALESCE_GAP_BYTES } from "../src/io/source.js";
import { runOnSource } from "../src/io/steps.js";
import { FileSource } from "../src/node/file-source.js";
import { open } from "../src/node/index.js";
import { openUrl as openUrlOf, type OpenUrlOptions } from "../src/remote.js";
import { requireBuiltCli, runCli } from "./helpers/cli-run.js";
import { bytesSent, startNginx, type Nginx } from "./helpers/nginx.js";
import { BIG_FILES, NAMES, writeBigFiles, type Format } from "./helpers/remote-files.js";

/** The core's openUrl given every format (by default it reads ndpack alone). */
const openUrl = (url: string | URL, options: OpenUrlOptions = {}) => openUrlOf(url, { formats: FORMATS, ...options });

/** 65 536 rows of 4 KiB: `big` is 256 MiB. */
const ROWS = 65_536;
const KEPT = 64 * 1024;

let dir: string;
let nginx: Nginx;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ndpack-remote-"));
  await writeBigFiles(dir, ROWS);
  // Headers longer than the first request: 3000 arrays of one element.
  const many = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`layers.${i}.attention.query.weight`, Float32Array.of(i)]));
  writeFileSync(join(dir, "long-header.ndp"), encode(many));
  writeFileSync(join(dir, "long-header.safetensors"), toSafetensors(many));
  nginx = await startNginx(dir);
}, 180_000);

afterAll(async () => {
  await nginx?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `length` bytes at `offset` of a local file. */
function localBytes(name: string, offset: number, length: number): Uint8Array {
  const fd = openSync(join(dir, name), "r");
  try {
    const bytes = new Uint8Array(length);
    expect(readSync(fd, bytes, 0, length, offset)).toBe(length);
    return bytes;
  } finally {
    closeSync(fd);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

describe("the HTTP source over a 256 MiB file", () => {
  const name = BIG_FILES.ndpack;

  test("one request of 64 KiB learns the size, the ETag and the URL; reads inside it cost no request", async () => {
    const { result, entries } = await nginx.requests(async () => {
      const source = await httpSource(`${nginx.origin}/files/${name}`);
      const reads = [await source.read(0, 20), await source.read(1000, KEPT - 1000)];
      return { source, reads };
    });
    expect(entries).toEqual([expect.objectContaining({ status: 206, range: `bytes=0-${KEPT - 1}`, bytes: KEPT, uri: `/files/${name}` })]);
    const { source, reads } = result;
    expect(source.size).toBe(statSync(join(dir, name)).size);
    expect(source.url).toBe(`${nginx.origin}/files/${name}`);
    expect(source.validator).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(sameBytes(reads[0]!, localBytes(name, 0, 20))).toBe(true);
    expect(sameBytes(reads[1]!, localBytes(name, 1000, KEPT - 1000))).toBe(true);
  });

  test("a 4 MiB read at the end is one request of exactly its range, on the condition of the ETag", async () => {
    const source = await httpSource(`${nginx.origin}/files/${name}`);
    const length = 4 << 20;
    const offset = source.size - length - 12_345;
    const { result, entries } = await nginx.requests(() => source.read(offset, length));
    expect(entries).toEqual([expect.objectContaining({ status: 206, range: `bytes=${offset}-${offset + length - 1}`, bytes: length, ifMatch: source.validator })]);
    expect(sameBytes(result, localBytes(name, offset, length))).toBe(true);
  });

  test("bodies land in memory that is not zeroed first: every byte handed out is the file's, in a buffer of the read's own", async () => {
    const source = await httpSource(`${nginx.origin}/files/${name}`);
    for (const [offset, length] of [[KEPT, 3000], [1 << 20, 70_000], [source.size - (1 << 20), 1 << 20], [12_345_678, 256 * 1024 + 7]] as const) {
      // Freed memory full of 0xAA, where the next allocations are likely to come from.
      for (let i = 0; i < 64; i++) Buffer.allocUnsafeSlow(length + i * 64).fill(0xaa);
      const bytes = await source.read(offset, length);
      expect(sameBytes(bytes, localBytes(name, offset, length))).toBe(true);
      expect(bytes.buffer.byteLength).toBe(length);
    }
  });

  test("a read across the end of the first 64 KiB (a long header) asks only for the bytes after them: 2 requests in all", async () => {
    const { result, entries } = await nginx.requests(async () => {
      const source = await httpSource(`${nginx.origin}/files/${name}`);
      return source.read(20, 200_000);
    });
    expect(entries.map((e) => e.range)).toEqual([`bytes=0-${KEPT - 1}`, `bytes=${KEPT}-${200_019}`]);
    expect(bytesSent(entries)).toBe(200_020);
    expect(sameBytes(result, localBytes(name, 20, 200_000))).toBe(true);
  });

  test("readWithCrc32: the same one request as read, and the CRC-32 of the first bytes asked for, across the kept 64 KiB too", async () => {
    const source = await httpSource(`${nginx.origin}/files/${name}`);
    const length = 4 << 20;
    const offset = source.size - length - 12_345;
    const { result, entries } = await nginx.requests(() => source.readWithCrc32(offset, length, length - 68));
    expect(entries).toEqual([expect.objectContaining({ status: 206, range: `bytes=${offset}-${offset + length - 1}`, bytes: length })]);
    const local = localBytes(name, offset, length);
    expect(sameBytes(result.bytes, local)).toBe(true);
    expect(result.crc).toBe(crc32(local.subarray(0, length - 68)));
    // From the kept first bytes into the rest: only the rest is requested; the CRC covers both.
    const across = await nginx.requests(() => source.readWithCrc32(KEPT - 1000, 300_000, 250_000));
    expect(across.entries.map((e) => e.range)).toEqual([`bytes=${KEPT}-${KEPT - 1000 + 300_000 - 1}`]);
    expect(across.result.crc).toBe(crc32(localBytes(name, KEPT - 1000, 250_000)));
    expect((await source.readWithCrc32(100, 500, 200)).crc).toBe(crc32(localBytes(name, 100, 200)));
  });

  test("a redirect is followed once: later reads go to the final URL, on its ETag", async () => {
    const { result: source, entries } = await nginx.requests(async () => {
      const source = await httpSource(`${nginx.origin}/redirect/${name}`);
      await source.read(KEPT, 100);
      return source;
    });
    expect(source.url).toBe(`${nginx.origin}/files/${name}`);
    expect(entries.map((e) => [e.status, e.uri])).toEqual([
      [302, `/redirect/${name}`],
      [206, `/files/${name}`],
      [206, `/files/${name}`],
    ]);
    expect(entries[2]!.ifMatch).toBe(source.validator);
  });
});

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

describe.each(Object.keys(BIG_FILES) as Format[])("a remote 256 MiB %s file through openUrl", (format) => {
  const name = BIG_FILES[format];
  const url = () => `${nginx.origin}/files/${name}`;
  /** The arrays of the file: .npy holds `big` alone, named "array". */
  const names = format === "npy" ? ["array"] : [...NAMES];
  const big = format === "npy" ? "array" : "big";

  const headerCost = format === "npz" ? "2 requests, then, all at once, one per group of members (local headers within 64 KiB) whose headers lie beyond those (a member's shape is in its own .npy header)" : "one request of 64 KiB";
  test(`the header costs ${headerCost}; names, shapes and dtypes are the local file's`, async () => {
    const { result: reader, entries } = await nginx.requests(() => openUrl(url()));
    const local = await open(join(dir, name));
    try {
      expect(entries[0]!.range).toBe(`bytes=0-${KEPT - 1}`);
      if (format !== "npz") expect(entries).toHaveLength(1);
      else {
        // The zip's directory at the end, then the local headers (+ 1.5 KiB for a stored member's
        // .npy header, 5 KiB for a deflated one's first inflate step) of the members beyond the
        // first 64 KiB, those within 64 KiB of each other in one request.
        const size = reader.byteLength;
        expect(entries[1]!.range).toBe(`bytes=${size - 4096}-${size - 1}`);
        const file = await FileSource.open(join(dir, name));
        const members = await runOnSource(zipDirectorySteps(size, { maxEntries: 100 }), file).finally(() => file.close());
        // numpy's central records have no extra field (its local headers do): 30 + name + 1.5 or 5 KiB.
        const beyond = members.filter((m) => m.localOffset + 30 > KEPT).map((m) => ({ offset: m.localOffset, length: 30 + Buffer.byteLength(m.name) + (m.method === "stored" ? 1536 : 5120) }));
        const expected = coalesceRanges(beyond, COALESCE_GAP_BYTES);
        expect(expected.length).toBeGreaterThan(1);
        expect(entries.slice(2).map((e) => e.range).sort()).toEqual(expected.map((r) => `bytes=${r.offset}-${r.offset + r.length - 1}`).sort());
      }
      expect(reader.format).toBe(format);
      expect(reader.names).toEqual(local.names);
      expect([...reader.names].sort()).toEqual([...names].sort());
      for (const array of reader.names) expect(reader.info(array)).toEqual(local.info(array));
      expect(reader.byteLength).toBe(statSync(join(dir, name)).size);
    } finally {
      await Promise.all([reader.close(), local.close()]);
    }
  });

  test("one array is one request of exactly its bytes (+ its CRC), on the ETag; values equal the local file's", async () => {
    const reader = await openUrl(url());
    const local = await open(join(dir, name));
    try {
      const array = format === "npy" ? "array" : "tail";
      const info = reader.info(array);
      const { result, entries } = await nginx.requests(() => reader.read(array));
      expect(entries).toHaveLength(1);
      const [from, to] = entries[0]!.range.replace("bytes=", "").split("-").map(Number) as [number, number];
      expect(entries[0]!.ifMatch).toMatch(/^".+"$/);
      // Its bytes not already kept from the first request, with at most its .npy header before
      // them (a stored .npz member, read whole to check its CRC) and its CRC and padding after (ndpack).
      const first = Math.max(info.offset, KEPT);
      expect(first - from).toBeGreaterThanOrEqual(0);
      expect(first - from).toBeLessThanOrEqual(256);
      expect(to + 1 - (info.offset + info.byteLength)).toBeGreaterThanOrEqual(0);
      expect(to + 1 - (info.offset + info.byteLength)).toBeLessThanOrEqual(64);
      expect(entries[0]!.bytes).toBe(to + 1 - from);
      expect(sameBytes(bytesOf(result.data), bytesOf((await local.read(array)).data))).toBe(true);
      // .npz header: the zip's last 4 KiB, then per member its local header (30 bytes + a name under 64) and 5 KiB.
      expect(reader.bytesRead).toBeLessThanOrEqual(KEPT + (format === "npz" ? 4096 + (30 + 64 + 5120) * reader.names.length : 0) + info.byteLength + 256);
    } finally {
      await Promise.all([reader.close(), local.close()]);
    }
  });

  test("rows of the 256 MiB array past the first 64 KiB: one request each of exactly their bytes, equal to the local file's", async () => {
    const reader = await openUrl(url());
    const local = await open(join(dir, name));
    try {
      for (const [start, end] of [[64, 72], [ROWS - 8, ROWS], [1000, 1100]] as const) {
        const { result, entries } = await nginx.requests(() => reader.readRows(big, start, end));
        expect(entries).toHaveLength(1);
        expect(entries[0]!.bytes).toBe((end - start) * 4096);
        expect(result.shape).toEqual([end - start, 1024]);
        expect(sameBytes(bytesOf(result.data), bytesOf((await local.readRows(big, start, end)).data))).toBe(true);
      }
    } finally {
      await Promise.all([reader.close(), local.close()]);
    }
  });

});

describe.each(["ndpack", "npz", "safetensors"] as const)("readMany on a remote %s file", (format) => {
  test("three neighbouring arrays are one request; values equal the local file's", async () => {
    const name = BIG_FILES[format];
    const reader = await openUrl(`${nginx.origin}/files/${name}`);
    const local = await open(join(dir, name));
    try {
      const { result, entries } = await nginx.requests(() => reader.readMany(["x", "y", "z"]));
      expect(entries).toHaveLength(1);
      expect(entries[0]!.bytes).toBeLessThan(3 * 80_000 + 3 * 64 * 1024);
      for (const array of ["x", "y", "z"]) expect(sameBytes(bytesOf(result.get(array)!.data), bytesOf((await local.read(array)).data))).toBe(true);
    } finally {
      await Promise.all([reader.close(), local.close()]);
    }
  });
});

describe("small arrays read one after another", () => {
  test.each(["long-header.ndp", "long-header.safetensors"])("%s: 3000 arrays of 4 B in order are 2 requests (the first array's, then 256 KiB ahead), values equal", async (name) => {
    await using reader = await openUrl(`${nginx.origin}/files/${name}`);
    const { result: values, entries } = await nginx.requests(async () => {
      const values: number[] = [];
      for (let i = 0; i < 3000; i++) values.push((await reader.read(`layers.${i}.attention.query.weight`)).data[0] as number);
      return values;
    });
    expect(values).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    const first = reader.info("layers.0.attention.query.weight");
    const dataEnd = statSync(join(dir, name)).size;
    // An ndpack record: the value, its CRC and the padding to the next record (64 B); a safetensors one: the value.
    const record = name.endsWith(".ndp") ? 64 : 4;
    expect(entries.map((e) => e.range)).toEqual([`bytes=${first.offset}-${first.offset + record - 1}`, `bytes=${first.offset + record}-${dataEnd - 1}`]);
    expect(dataEnd - first.offset).toBeLessThan(256 * 1024);
  });
});

describe("long headers, URLs through ndpack/node's open", () => {
  test.each(["long-header.ndp", "long-header.safetensors"])("%s: a header longer than 64 KiB costs exactly 2 requests, the second only for the rest", async (name) => {
    const { result: reader, entries } = await nginx.requests(() => openUrl(`${nginx.origin}/files/${name}`));
    expect(reader.names).toHaveLength(3000);
    expect(entries.map((e) => e.range.replace(/-\d+$/, ""))).toEqual(["bytes=0", `bytes=${KEPT}`]);
    expect(bytesSent(entries)).toBeLessThan(statSync(join(dir, name)).size);
    expect(Array.from((await reader.read("layers.2999.attention.query.weight")).data as Float32Array)).toEqual([2999]);
    await reader.close();
  });

  test("through openUrl: RANGE_NOT_SUPPORTED from a server that ignores Range, HTTP_ERROR 404 for a missing file, ABORTED for an aborted read", async () => {
    const { NdpackError } = await import("../src/errors.js");
    const codeOf = (promise: Promise<unknown>) => promise.then(() => "resolved", (e: unknown) => (e instanceof NdpackError ? `${e.code}${e.status === undefined ? "" : ` ${e.status}`}` : String(e)));
    expect(await codeOf(openUrl(`${nginx.origin}/norange/${BIG_FILES.safetensors}`))).toBe("RANGE_NOT_SUPPORTED 200");
    expect(await codeOf(openUrl(`${nginx.origin}/files/missing.safetensors`))).toBe("HTTP_ERROR 404");
    const reader = await openUrl(`${nginx.origin}/files/${BIG_FILES.safetensors}`);
    const { result, entries } = await nginx.requests(() => codeOf(reader.read("tail", { signal: AbortSignal.abort() })));
    expect(result).toBe("ABORTED");
    expect(entries).toHaveLength(0);
    await reader.close();
  });

  test("open(url) from ndpack/node reads over HTTP, a string or a URL", async () => {
    for (const target of [`${nginx.origin}/files/${BIG_FILES.ndpack}`, new URL(`${nginx.origin}/redirect/${BIG_FILES.ndpack}`)]) {
      const { result, entries } = await nginx.requests(async () => {
        const reader = await open(target);
        try {
          return (await reader.read("head")).data;
        } finally {
          await reader.close();
        }
      });
      expect(entries.every((e) => e.uri.endsWith(BIG_FILES.ndpack))).toBe(true);
      expect((result as Float32Array).length).toBe(1000);
    }
  });
});

describe("the command line reads URLs (open of ndpack/node)", () => {
  test("inspect costs one request, show of one array one more; a missing file is HTTP_ERROR 404 (exit 1)", async () => {
    await requireBuiltCli();
    const inspect = await nginx.requests(() => runCli(["inspect", `${nginx.origin}/files/${BIG_FILES.safetensors}`]));
    expect(inspect.result.code, inspect.result.stderr).toBe(0);
    expect(inspect.result.stdout).toMatch(/safetensors, 6 arrays/);
    expect(inspect.entries).toHaveLength(1);
    const show = await nginx.requests(() => runCli(["show", `${nginx.origin}/files/${BIG_FILES.ndpack}`, "x"]));
    expect(show.result.code, show.result.stderr).toBe(0);
    expect(show.result.stdout).toMatch(/^x: int32 \[20000\]/);
    expect(show.entries).toHaveLength(2);
    const missing = await runCli(["inspect", `${nginx.origin}/files/missing.ndp`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/HTTP 404 Not Found \(HTTP_ERROR\)/);
  });
});
