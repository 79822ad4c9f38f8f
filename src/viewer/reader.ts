/**
 * The viewer's access to a file: the core's lazy reader over a dropped file (`openSource` of a
 * `blobSource`) or a URL (`openUrl`), given every format. The header is read alone (a few KiB),
 * and an array's bytes only when it is looked at.
 *
 * @module
 */
import { NdpackError, shown } from "../errors.js";
import { decodedOr, parseUrl } from "../io/http.js";
import type { ByteSource } from "../io/source.js";
import { FORMATS } from "../formats/index.js";
import { openSource, type NdpackReader } from "../reader.js";
import { openUrl } from "../remote.js";
import { SET_INDEX_SUFFIX } from "../set.js";
import { openSetUrl } from "../sets.js";

/** Most bytes the page reads to display one array: 16 MiB, a fraction of a second on a fast link and small for a tab's memory. */
export const SAMPLE_BUDGET = 16 * 1024 * 1024;

/**
 * Opens a file lazily from `source`. `name` (a file name or URL path) names it in messages, tells
 * its format when its first bytes do not, and names a .npy file's one array (after the file).
 * `signal` cancels the opening (ABORTED).
 */
export function openViewerSource(source: ByteSource, name: string, signal?: AbortSignal): Promise<NdpackReader> {
  return openSource(source, { name, npyName: npyNameOf(name), formats: FORMATS, signal });
}

/** A .npy file's array is named after the file. */
function npyNameOf(name: string): string {
  return name.replace(/^.*[\\/]/, "").replace(/\.npy$/i, "") || "array";
}

/**
 * Opens the file at `url` (absolute, or relative to the page: the file `ndpack view` serves) with
 * the core's HTTP reader, `Range` requests of the header and then of the arrays looked at; a
 * set's index (`.index.json`) with the set reader of `ndpack/sets`, which reaches its shards so.
 * `signal` cancels the opening (ABORTED). Anything but an http(s) URL (`javascript:`, `file:`,
 * `data:`, a malformed URL) is INVALID_ARGUMENT, before any request.
 */
export async function openViewerUrl(url: string, signal?: AbortSignal): Promise<NdpackReader> {
  const absolute = parseUrl(url);
  if (absolute.protocol !== "http:" && absolute.protocol !== "https:") {
    // The URL itself stays out of the message: a data: URL may be megabytes long.
    throw new NdpackError("INVALID_ARGUMENT", `the viewer opens http: and https: URLs (or a file dropped or chosen), not a ${shown(absolute.protocol)} URL`, { field: "url" });
  }
  if (absolute.pathname.endsWith(SET_INDEX_SUFFIX)) {
    // The table shows every array's dtype and shape, which are in the shards' headers.
    const set = await openSetUrl(absolute, { formats: FORMATS, signal });
    try {
      await set.openShards(undefined, { signal });
    } catch (error) {
      await set.close();
      throw error;
    }
    return set;
  }
  return openUrl(absolute, { formats: FORMATS, npyName: npyNameOf(decodedOr(absolute.pathname)), signal });
}
