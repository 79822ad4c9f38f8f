/**
 * A one-pass reader of the .safetensors headers that writers actually produce: the reference's
 * serde_json output (and ndpack's `toSafetensors`), compact JSON whose tensors list their keys in the
 * order `dtype`, `shape`, `data_offsets`, with sizes as plain integers, strings without escapes and
 * spaces after the object.
 * It reads names, dtypes, shapes and offsets straight into the tensors' list, where the general
 * path builds the whole JSON value (`JSON.parse`), proves it strict (re-serializing it, walking
 * every node) and then reads the list out of it: after a full GC that path cost ~1 ms for a header
 * of 256 tensors, most of opening a 1 GiB checkpoint to read one of them.
 *
 * It decides nothing: for any text outside that shape (another key order, whitespace, a repeated
 * name or key, a number beyond 2^53-1, an escape or a character beyond the BMP in a string, names
 * that JavaScript objects reorder) it returns `undefined`, and the strict parser reads the text and gives the verdict.
 * Wherever it returns a list, the strict path returns the same list in the same order
 * (test/compact-safetensors-header.test.ts, on written and mutated headers).
 *
 * @module
 */
import { Cursor } from "../header-cursor.js";
import { ownString, setOwn } from "../json.js";

/** One tensor as the header lists it, before its dtype and shape are checked. */
export interface ListedTensor {
  readonly name: string;
  readonly dtypeName: string;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/** The reserved header key of safetensors' string-to-string metadata. */
const METADATA_KEY = "__metadata__";

const QUOTE = 0x22;
const COLON = 0x3a;

/** This reader's one cursor (see header-cursor.ts). */
const cursor = new Cursor();

/** A string at the cursor that JSON writes without escapes (plainString), or undefined; a copy, not a view of the header. */
function plain(at: Cursor): string | undefined {
  const text = at.skipChar(QUOTE) ? at.plainString() : undefined;
  return text && ownString(text);
}

/** A key not in `seen` and not made of digits only (objects list such keys first, so the strict path would see another order), and its colon. */
function key(at: Cursor, seen: Set<string>): string | undefined {
  const name = plain(at);
  if (name === undefined || seen.has(name) || /^\d+$/.test(name) || !at.skipChar(COLON)) return undefined;
  seen.add(name);
  return name;
}

/**
 * The tensors and the `__metadata__` strings of a compact header `text` (the header's bytes as
 * UTF-8, padding included), in the order the strict path lists them; undefined for any other text,
 * and for one longer than `maxNodes` (the strict path's limit on values, which it then applies).
 */
export function scanCompactSafetensorsHeader(text: string, maxNodes: number): { tensors: ListedTensor[]; metadata: Record<string, string> } | undefined {
  if (text.length > maxNodes) return undefined;
  cursor.text = text;
  cursor.pos = 0;
  const found = scan(cursor);
  // A header can be 100 MB: not held past the call (scan throws nothing).
  cursor.text = "";
  return found;
}

function scan(at: Cursor): { tensors: ListedTensor[]; metadata: Record<string, string> } | undefined {
  const tensors: ListedTensor[] = [];
  const metadata: Record<string, string> = {};
  const names = new Set<string>();
  if (!at.skip("{")) return undefined;
  if (!at.skip("}")) {
    do {
      const name = key(at, names);
      if (name === METADATA_KEY && at.skip("{")) {
        const keys = new Set<string>();
        if (!at.skip("}")) {
          do {
            const entry = key(at, keys);
            const value = plain(at);
            if (entry === undefined || value === undefined) return undefined;
            setOwn(metadata, entry, value);
          } while (at.skip(","));
          if (!at.skip("}")) return undefined;
        }
        continue;
      }
      // (`__metadata__` not followed by an object fails here too.)
      if (name === undefined || !at.skip('{"dtype":')) return undefined;
      const dtypeName = plain(at);
      const shape: number[] = [];
      if (dtypeName === undefined || !at.skip(',"shape":[')) return undefined;
      if (!at.skip("]")) {
        do shape.push(at.integer());
        while (at.skip(","));
        if (!at.skip("]")) return undefined;
      }
      const begin = at.skip(',"data_offsets":[') ? at.integer() : -1;
      const end = at.skip(",") ? at.integer() : -1;
      if (shape.includes(-1) || begin < 0 || end < 0 || !at.skip("]}")) return undefined;
      tensors.push({ name, dtypeName, shape, begin, end });
    } while (at.skip(","));
    if (!at.skip("}")) return undefined;
  }
  for (let i = at.pos; i < at.text.length; i++) if (at.text.charCodeAt(i) !== 0x20) return undefined;
  return { tensors, metadata };
}
