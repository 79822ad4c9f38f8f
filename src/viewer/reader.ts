/**
 * The viewer's access to a file: the part of the core's lazy reader (`openSource`, issue "one
 * reader for every place bytes live") that the page uses, and, until that reader is on this
 * branch, a stand-in built from the core's header readers. The page depends only on
 * {@link ViewerReader}; once `openSource` and `openUrl` are merged, {@link openViewerSource} and
 * {@link openViewerUrl} become one-line calls to them and the stand-in goes.
 *
 * Either way the header is read alone (a few KiB), and an array's bytes only when it is looked at.
 *
 * @module
 */
import type { ArrayInfo, NdArray } from "../decode.js";
import { checkPayloadCrc, materialize } from "../decode.js";
import { detectFormat } from "../interop/convert.js";
import { viewOrCopy } from "../interop/common.js";
import { readNpyHeader, readNpzHeader, readSafetensorsHeader, type ForeignArrayInfo } from "../interop/headers.js";
import { checkFileLength, readHeader, readPreamble, resolveLimits, type EntryLayout } from "../header.js";
import { NdpackError } from "../errors.js";
import { PREAMBLE_SIZE, type Checksum } from "../format.js";

/** A random-access source of bytes (the core's `ByteSource`). */
export interface ViewerSource {
  readonly size: number;
  read(offset: number, length: number, options?: { readonly signal?: AbortSignal }): Promise<Uint8Array>;
  close?(): Promise<void>;
}

/** What the page reads from a file: the lazy reader's interface, as far as the page uses it. */
export interface ViewerReader {
  readonly format: "ndpack" | "npy" | "npz" | "safetensors";
  readonly names: readonly string[];
  readonly metadata: Readonly<Record<string, unknown>>;
  /** The checksum of the file's arrays: ndpack's CRC-32 or none; .npz members' CRC-32; none for .npy and .safetensors. */
  readonly checksum: Checksum;
  info(name: string): ArrayInfo;
  /** The whole array, its checksum verified (CHECKSUM when damaged). */
  read(name: string): Promise<NdArray>;
  /** Rows `start` to `end` of an uncompressed C-order array, one read, not verified. */
  readRows(name: string, start: number, end: number): Promise<NdArray>;
  readonly bytesRead: number;
  close(): Promise<void>;
}

/** Most bytes the page reads to display one array: 16 MiB, a fraction of a second on a fast link and small for a tab's memory. */
export const SAMPLE_BUDGET = 16 * 1024 * 1024;

/** First read: enough for most headers in one request. */
const FIRST_READ = 64 * 1024;

/**
 * Counts what the page reads, serves the header readers from the file's first bytes (read once),
 * and reads exactly (a short read of a known range is a truncated file).
 */
class Counted {
  bytesRead = 0;
  head: Uint8Array = new Uint8Array(0);
  constructor(readonly source: ViewerSource) {}
  get size(): number {
    return this.source.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    const end = Math.min(offset + length, this.source.size);
    if (end <= this.head.length) return this.head.subarray(offset, Math.max(offset, end));
    const bytes = await this.source.read(offset, length);
    this.bytesRead += bytes.length;
    return bytes;
  }
  async exactly(offset: number, length: number, what: string): Promise<Uint8Array> {
    const bytes = await this.read(offset, length);
    if (bytes.length < length) throw new NdpackError("TRUNCATED", `${what}: the file ends ${length - bytes.length} bytes early`, { offset, expected: length, actual: bytes.length });
    return bytes;
  }
}

/** Opens a file lazily from `source`; `name` (a file name or URL) is used for messages and .npy's array name. */
export async function openViewerSource(source: ViewerSource, name = "array"): Promise<ViewerReader> {
  const counted = new Counted(source);
  const head = await counted.read(0, Math.min(source.size, FIRST_READ));
  counted.head = head;
  const format = detectFormat(head) ?? (/\.safetensors$/i.test(name) ? "safetensors" : undefined);
  if (format === undefined) throw new NdpackError("BAD_MAGIC", `${name}: not an ndpack, .npy, .npz or .safetensors file`);
  if (format === "ndpack") return openNdpack(counted, head);
  const arrayName = name.replace(/^.*[\\/]/, "").replace(/\.npy$/i, "") || "array";
  const header =
    format === "npy" ? await readNpyHeader(counted, { name: arrayName }) : format === "npz" ? await readNpzHeader(counted) : await readSafetensorsHeader(counted);
  counted.head = new Uint8Array(0);
  return foreignReader(counted, format, header.metadata, header.arrays);
}

async function openNdpack(source: Counted, head: Uint8Array): Promise<ViewerReader> {
  const limits = resolveLimits();
  const preamble = readPreamble(head.subarray(0, PREAMBLE_SIZE), source.size, limits);
  const headerEnd = PREAMBLE_SIZE + preamble.headerLength;
  const bytes = headerEnd <= head.length ? head : await source.exactly(0, headerEnd, "header");
  const layout = readHeader(bytes, preamble, limits);
  checkFileLength(layout, source.size);
  // Array reads go to the source: an array read is one request, whatever the first read held.
  source.head = new Uint8Array(0);
  const entry = (name: string): EntryLayout => {
    const found = layout.byName.get(name);
    if (!found) throw new NdpackError("NOT_FOUND", `no array named ${JSON.stringify(name)}`, { array: name });
    return found;
  };
  return {
    format: "ndpack",
    names: layout.entries.map((e) => e.name),
    metadata: layout.header.metadata,
    checksum: layout.header.checksum,
    info: (name) => ({ ...foreignInfo(entry(name)) }),
    async read(name) {
      const e = entry(name);
      const stored = await source.exactly(e.start, e.byteLength + layout.checksumSize, `array "${name}"`);
      if (layout.checksumSize > 0) {
        const crc = new DataView(stored.buffer, stored.byteOffset + e.byteLength, 4).getUint32(0, true);
        checkPayloadCrc(e, stored.subarray(0, e.byteLength), crc, e.start + e.byteLength);
      }
      return materialize(e, stored, e.start, "auto", limits);
    },
    readRows: (name, start, end) => rows(source, foreignInfo(entry(name)), start, end),
    get bytesRead() {
      return source.bytesRead;
    },
    close: async () => source.source.close?.(),
  };
}

function foreignInfo(e: EntryLayout): ArrayInfo {
  return { name: e.name, dtype: e.dtype.name, shape: e.shape, order: e.order, byteOrder: e.byteOrder, codec: e.codec, offset: e.start, byteLength: e.byteLength, nbytes: e.nbytes };
}

function foreignReader(source: Counted, format: "npy" | "npz" | "safetensors", metadata: Readonly<Record<string, unknown>>, arrays: readonly ForeignArrayInfo[]): ViewerReader {
  const byName = new Map(arrays.map((a) => [a.name, a]));
  const info = (name: string): ForeignArrayInfo => {
    const found = byName.get(name);
    if (!found) throw new NdpackError("NOT_FOUND", `no array named ${JSON.stringify(name)}`, { array: name });
    return found;
  };
  return {
    format,
    names: arrays.map((a) => a.name),
    metadata,
    checksum: format === "npz" ? "crc32" : "none",
    info,
    async read(name) {
      const a = info(name);
      if (a.codec !== "none") throw new NdpackError("INVALID_ARGUMENT", `array "${name}": deflated .npz members are not read by the viewer yet`, { array: name });
      return rows(source, a, 0, a.shape[0] ?? 1);
    },
    readRows: (name, start, end) => rows(source, info(name), start, end),
    get bytesRead() {
      return source.bytesRead;
    },
    close: async () => source.source.close?.(),
  };
}

/** Rows `start` to `end` along the first axis (the whole array for a 0-d one), in one read. */
async function rows(source: Counted, a: ArrayInfo, start: number, end: number): Promise<NdArray> {
  if (a.codec !== "none") throw new NdpackError("INVALID_ARGUMENT", `array "${a.name}" is compressed: its rows cannot be read alone`, { array: a.name });
  const whole = a.shape.length === 0 || (start === 0 && end === a.shape[0]);
  if (!whole && a.order === "F" && a.shape.length > 1) throw new NdpackError("INVALID_ARGUMENT", `array "${a.name}" is in F order: its rows are not contiguous`, { array: a.name });
  const rowBytes = a.shape.length === 0 ? a.nbytes : a.shape[0] === 0 ? 0 : a.nbytes / a.shape[0]!;
  const offset = a.offset + (whole ? 0 : start * rowBytes);
  const length = whole ? a.nbytes : (end - start) * rowBytes;
  const payload = await source.exactly(offset, length, `array "${a.name}"`);
  const shape = whole ? a.shape : [end - start, ...a.shape.slice(1)];
  return viewOrCopy({ name: a.name, dtype: a.dtype, shape, order: a.order, byteOrder: a.byteOrder, payload, fresh: true, stored: { codec: "none", offset, byteLength: length } }, "auto");
}

/** Thrown when a server answers a `Range` request with the whole file (status 200) or not at all. */
function noRange(url: string, status: number): NdpackError {
  return new NdpackError("IO_ERROR", `${url}: the server does not support Range requests (status ${status} to a request for bytes 0-0); the viewer reads files in pieces and needs them`, { path: url });
}

/**
 * A source over an HTTP(S) URL read with `Range` requests (a stand-in for the core's `openUrl`):
 * the first request asks for byte 0 and learns the size from `Content-Range`.
 */
export async function openViewerUrl(url: string): Promise<ViewerReader> {
  // no-store: the HTTP cache would otherwise revalidate and re-request ranges it holds in part.
  const probe = await fetch(url, { headers: { Range: "bytes=0-0" }, cache: "no-store" });
  if (probe.status !== 206) {
    await probe.body?.cancel();
    throw noRange(url, probe.status);
  }
  await probe.arrayBuffer();
  const size = Number(/\/(\d+)$/.exec(probe.headers.get("Content-Range") ?? "")?.[1]);
  if (!Number.isSafeInteger(size)) throw new NdpackError("IO_ERROR", `${url}: no file size in the server's Content-Range`, { path: url });
  const source: ViewerSource = {
    size,
    async read(offset, length, options) {
      const end = Math.min(size, offset + length);
      if (end <= offset) return new Uint8Array(0);
      const response = await fetch(url, { headers: { Range: `bytes=${offset}-${end - 1}` }, cache: "no-store", ...(options?.signal ? { signal: options.signal } : {}) });
      if (response.status !== 206) {
        await response.body?.cancel();
        throw noRange(url, response.status);
      }
      return new Uint8Array(await response.arrayBuffer());
    },
  };
  return openViewerSource(source, decodeURIComponent(new URL(url, globalThis.location?.href).pathname));
}
