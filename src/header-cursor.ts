/**
 * The cursor of the one-pass readers of compact JSON headers (canonical-header.ts for ndpack's,
 * interop/compact-safetensors-header.ts for .safetensors'): each reads the one shape its writers
 * write and gives up, returning `undefined`, at the first character of any other, leaving the text
 * to its strict parser. Each reader keeps one cursor for the life of the process (see
 * canonical-header.ts on why a cursor made per call is slow after a full GC).
 *
 * @module
 */
import { hashStep, NAME_HASH_SEED } from "./layout.js";

/** A cursor over a header's text. Each read returns a failure value (`false`, -1, `undefined`) where the text has another shape. */
export class Cursor {
  text = "";
  pos = 0;
  /** The hash of the last string read by {@link plainString} (layout.ts's hashStep over its units). */
  hash = 0;

  /** Steps over `literal` if the text has it here. */
  skip(literal: string): boolean {
    const end = this.pos + literal.length;
    // Several times faster in V8 than startsWith (which compares a character at a time).
    if (this.text.slice(this.pos, end) !== literal) return false;
    this.pos = end;
    return true;
  }

  /** Steps over the character `code` if the text has it here. */
  skipChar(code: number): boolean {
    if (this.text.charCodeAt(this.pos) !== code) return false;
    this.pos++;
    return true;
  }

  /** A non-negative safe integer with no sign, fraction, exponent or leading zero; -1 otherwise. */
  integer(): number {
    const text = this.text;
    const start = this.pos;
    let pos = start;
    let c = text.charCodeAt(pos);
    let value = 0;
    while (c >= 0x30 && c <= 0x39) {
      value = value * 10 + (c - 0x30);
      c = text.charCodeAt(++pos);
    }
    const digits = pos - start;
    if (digits === 0 || (digits > 1 && text.charCodeAt(start) === 0x30) || value > Number.MAX_SAFE_INTEGER) return -1;
    this.pos = pos;
    return value;
  }

  /**
   * The characters up to the next `"`, which it steps over, if none needs an escape in JSON; else
   * undefined. A slice of the text: a view into it when 13 characters or longer (see json.ts
   * `ownString`), for the caller to copy if the string is to outlive the text.
   */
  plainString(): string | undefined {
    const text = this.text;
    const start = this.pos;
    let pos = start;
    let hash = NAME_HASH_SEED;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x22) break;
      // Past the end c is NaN, which fails the first test. A surrogate pair is left to the strict parser.
      if (!(c >= 0x20) || c === 0x5c || (c & 0xf800) === 0xd800) return undefined;
      hash = hashStep(hash, c);
      pos++;
    }
    this.pos = pos + 1;
    this.hash = hash;
    return text.slice(start, pos);
  }

  /** The one of `words` written here between quotes (the opening one already read), stepping over the closing one. */
  word<T extends string>(words: readonly T[]): T | undefined {
    const start = this.pos;
    for (const word of words) {
      if (this.skip(word) && this.skipChar(0x22)) return word;
      this.pos = start;
    }
    return undefined;
  }
}
