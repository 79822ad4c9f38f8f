/**
 * Reading big remote files (256 MiB each, in the four formats) from a real nginx on loopback: what
 * each read costs is counted in nginx's access log (requests, Range headers, `$body_bytes_sent`),
 * and every byte read remotely equals the local file's.
 */
import { openSync, readSync, closeSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { httpSource } from "../src/io/http.js";
import { bytesSent, startNginx, type Nginx } from "./helpers/nginx.js";
import { BIG_FILES, writeBigFiles } from "./helpers/remote-files.js";

/** 65 536 rows of 4 KiB: `big` is 256 MiB. */
const ROWS = 65_536;
const KEPT = 64 * 1024;

let dir: string;
let nginx: Nginx;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ndpack-remote-"));
  await writeBigFiles(dir, ROWS);
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

  test("a read across the end of the first 64 KiB (a long header) asks only for the bytes after them: 2 requests in all", async () => {
    const { result, entries } = await nginx.requests(async () => {
      const source = await httpSource(`${nginx.origin}/files/${name}`);
      return source.read(20, 200_000);
    });
    expect(entries.map((e) => e.range)).toEqual([`bytes=0-${KEPT - 1}`, `bytes=${KEPT}-${200_019}`]);
    expect(bytesSent(entries)).toBe(200_020);
    expect(sameBytes(result, localBytes(name, 20, 200_000))).toBe(true);
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
