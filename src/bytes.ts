/**
 * Byte-level helpers shared by the encoder and the decoder: byte views of typed arrays, byte-order
 * swaps, and fresh memory aligned for every dtype. Nothing here mutates memory it did not allocate,
 * except the explicit `target` of a copy.
 *
 * @module
 */

/** A Uint8Array over exactly the bytes of `view` (honouring its byteOffset and byteLength). */
export function bytesOf(view: ArrayBufferView): Uint8Array {
  return view instanceof Uint8Array && view.constructor === Uint8Array ? view : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * True when `buffer` was detached (transferred to a worker, structuredClone's `transfer`): its
 * arrays read as empty, but copying from one or viewing it throws a TypeError.
 */
export function isDetached(buffer: ArrayBufferLike): boolean {
  if (buffer.byteLength !== 0) return false;
  // A view of a detached buffer is a TypeError in every runtime (ECMAScript's
  // InitializeTypedArrayFromArrayBuffer); ArrayBuffer.prototype.detached is missing before Node 22.
  try {
    new Uint8Array(buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * Copies `source` into `target` at `at`, reversing the bytes of every `wordSize`-byte word: the
 * conversion between little- and big-endian storage. `source.length` is a multiple of `wordSize`.
 */
export function copySwapped(source: Uint8Array, target: Uint8Array, at: number, wordSize: number): void {
  const n = source.length;
  switch (wordSize) {
    case 2:
      for (let i = 0; i < n; i += 2) {
        target[at + i] = source[i + 1]!;
        target[at + i + 1] = source[i]!;
      }
      return;
    case 4:
      for (let i = 0; i < n; i += 4) {
        target[at + i] = source[i + 3]!;
        target[at + i + 1] = source[i + 2]!;
        target[at + i + 2] = source[i + 1]!;
        target[at + i + 3] = source[i]!;
      }
      return;
    case 8:
      for (let i = 0; i < n; i += 8) {
        for (let j = 0; j < 8; j++) target[at + i + j] = source[i + 7 - j]!;
      }
      return;
    default:
      target.set(source, at);
  }
}

/** Reverses the bytes of every `wordSize`-byte word of memory the caller owns (fresh decoder output only). */
export function swapInPlace(bytes: Uint8Array, wordSize: number): void {
  for (let i = 0; i < bytes.length; i += wordSize) {
    for (let lo = i, hi = i + wordSize - 1; lo < hi; lo++, hi--) {
      const t = bytes[lo]!;
      bytes[lo] = bytes[hi]!;
      bytes[hi] = t;
    }
  }
}

/** True when `a` and `b` hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The bytes of `pieces` one after another: `pieces[0]` itself when it is the only one, else fresh memory. */
export function concatBytes(pieces: readonly Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(pieces.reduce((total, piece) => total + piece.length, 0));
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/** Fresh memory of `byteLength` bytes; an ArrayBuffer starts at an address aligned for every typed array. */
export function freshBytes(byteLength: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(byteLength));
}

// `ignoreBOM: true` keeps a byte order mark in the text instead of the decoder silently dropping
// it: ndpack's header parser then rejects it, and other formats' names keep it as it was written.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Strict UTF-8 decoding (no BOM stripping); `undefined` for invalid bytes. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    // TextDecoder refuses views of shared memory in browsers.
    return utf8Decoder.decode(bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice());
  } catch {
    return undefined;
  }
}

/** UTF-8 encoding. (Marked pure: a bundle that never encodes drops it.) */
export const utf8Encoder = /* @__PURE__ */ new TextEncoder();

/** UTF-8 length of a well-formed string, without encoding it. */
export function utf8Length(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      length += 2; // a surrogate pair: 2 units, 4 bytes
      i++;
    } else if (unit >= 0x800) length += 2;
    else if (unit >= 0x80) length += 1;
  }
  return length;
}

/** A byte as two lowercase hex digits, for error messages (`0x${hexByte(b)}`). */
export function hexByte(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}
