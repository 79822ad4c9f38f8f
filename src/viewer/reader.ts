/**
 * The viewer's access to a file: the core's lazy reader (`openSource`) over a dropped file
 * (`blobSource`) or a URL. The header is read alone (a few KiB), and an array's bytes only when it
 * is looked at.
 *
 * @module
 */
import { NdpackError } from "../errors.js";
import type { ByteSource } from "../io/source.js";
import { FORMATS } from "../formats/index.js";
import { openSource, type NdpackReader } from "../reader.js";

/** Most bytes the page reads to display one array: 16 MiB, a fraction of a second on a fast link and small for a tab's memory. */
export const SAMPLE_BUDGET = 16 * 1024 * 1024;

/**
 * Opens a file lazily from `source`. `name` (a file name or URL path) names it in messages, tells
 * its format when its first bytes do not, and names a .npy file's one array (after the file).
 */
export function openViewerSource(source: ByteSource, name: string): Promise<NdpackReader> {
  const npyName = name.replace(/^.*[\\/]/, "").replace(/\.npy$/i, "") || "array";
  return openSource(source, { name, npyName, formats: FORMATS });
}

// TEMPORARY, until helper B's HTTP source (src/io/http.ts, `openUrl`) is on main: then
// openViewerUrl becomes `openUrl(url)` and everything below goes. Until then, a minimal fetch +
// Range source, for the URLs `ndpack view` proxies (same origin, Range always answered with 206).

/** Thrown when a server answers a `Range` request with the whole file (status 200) or not at all. */
function noRange(url: string, status: number): NdpackError {
  return new NdpackError("IO_ERROR", `${url}: the server does not support Range requests (status ${status} to a request for bytes 0-0); the viewer reads files in pieces and needs them`, { path: url });
}

/** Opens the file at `url` lazily: the first request asks for byte 0 and learns the size from `Content-Range`. */
export async function openViewerUrl(url: string): Promise<NdpackReader> {
  // no-store: the HTTP cache would otherwise revalidate and re-request ranges it holds in part.
  const probe = await fetch(url, { headers: { Range: "bytes=0-0" }, cache: "no-store" });
  if (probe.status !== 206) {
    await probe.body?.cancel();
    throw noRange(url, probe.status);
  }
  await probe.arrayBuffer();
  const size = Number(/\/(\d+)$/.exec(probe.headers.get("Content-Range") ?? "")?.[1]);
  if (!Number.isSafeInteger(size)) throw new NdpackError("IO_ERROR", `${url}: no file size in the server's Content-Range`, { path: url });
  const source: ByteSource = {
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
