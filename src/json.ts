/**
 * The header's JSON dialect: a strict parser and a deterministic serializer.
 *
 * `JSON.parse` is not used for headers because it silently accepts what ndpack must reject
 * (duplicate keys, integers that lose precision, lone surrogates, a leading BOM) and reports no
 * field path. `JSON.stringify` is not used for writing because it silently drops or mangles what
 * ndpack must reject (undefined, NaN, class instances, sparse arrays) and prints `-0` as `0`.
 *
 * @module
 */

import { NdpackError, shown } from "./errors.js";
import { DEFAULT_LIMITS } from "./format.js";

/** One step of a path into the header: an object key or an array index. */
type PathSegment = string | number;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Renders `prefix` plus `segments` as `arrays[3].shape[0]`, quoting keys that are not identifiers. */
export function formatPath(prefix: string, segments: readonly PathSegment[]): string {
  let out = prefix;
  for (const segment of segments) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (!IDENTIFIER.test(segment)) out += `[${shown(segment)}]`;
    else out += out === "" ? segment : `.${segment}`;
  }
  return out;
}

/** Shortens input quoted in a message, so a 1 MB bad number does not become a 1 MB message. */
function excerpt(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

const OBJECT_PROTOTYPE = Object.prototype;

/** Sets an own enumerable property, so that a key such as `__proto__` stays data and never changes a prototype. */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * `slice` (a slice of a longer text) as a string of its own. V8 makes a slice of 13 code units or
 * more a view that keeps all of its text alive as long as the slice lives (one array name kept by a
 * caller would pin a header text of up to 100 MiB); slicing a concatenation copies.
 */
export function ownString(slice: string): string {
  return slice.length < 13 ? slice : ` ${slice}`.slice(1);
}

/** Code units per `String.fromCharCode` call, well below engines' argument-count limits. */
const SCRATCH_CHUNK = 8192;

/**
 * Decoded code units of the string being read, when it has escapes, a chunk at a time (and room
 * for a surrogate pair more): shared by every parse (parsing is synchronous) and made at the first
 * escape, so that a header's string costs this much memory besides its text however long it is.
 */
let scratch: Uint16Array | undefined;

// `String.prototype.isWellFormed` exists on every supported runtime (Node >= 20) but is only typed
// from lib ES2024.
const isWellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean })
  .isWellFormed;

// The parse in progress. Parsing is synchronous and calls no code but this module's (no reviver,
// no getter or setter: see `assign`), so one parse runs at a time, and its state lives here rather
// than in a parser object made per call: V8 discards the hidden class of objects none of which
// survives a full garbage collection, and with it the optimized code of every method that used it,
// so the first parse after each such collection ran in the interpreter while the parser's methods
// compiled again. After `gc()` (the median of 41 calls), opening a set's index of 1,024 arrays took
// 3.3-4.2 ms that way and takes 1.5-1.7 ms; `decode` and `get` of 256 arrays whose header is not in
// the canonical layout, 1.0-1.5 ms and 0.60-0.65 ms. `beginParse` sets the state, `endParse` lets
// go of what the caller gave.

/** The text being parsed. */
let source = "";
/** Index in {@link source} of the next character to read. */
let position = 0;
/** Path of the value being parsed; read only when an error is raised. */
const valuePath: PathSegment[] = [];
/** True inside the top-level {@link freeNumbersKey} value, where any JSON number is allowed. */
let freeNumbers = false;
/** JSON values parsed so far, the top-level object included. */
let nodeCount = 1;
/** The deepest nesting allowed, the top-level object being 1. */
let depthLimit = 0;
/** The top-level key whose value may hold any JSON number; `null`: none. */
let freeNumbersKey: string | null = null;
/** The most JSON values the header may hold (FORMAT.md §7's maxHeaderNodes). */
let nodeLimit = 0;
/** No keys: {@link topKeys} between two parses, so that it holds no caller's keys. */
const NO_KEYS: string[] = [];
/** The top-level object's keys, in the order of the text (`Object.keys` lists integer-like keys, `"12"`, first). */
let topKeys = NO_KEYS;
/** Each object's keys in the order of the text, for {@link parseHeaderJsonInOrder}; `undefined`: not recorded. */
let keyOrders: WeakMap<object, string[]> | undefined;

/** Starts a parse of `text` (see the state above); `orders`: where {@link parseHeaderJsonInOrder} wants the keys' order. */
function beginParse(text: string, maxDepth: number, freeKey: string | null, maxNodes: number, orders?: WeakMap<object, string[]>): void {
  source = text;
  position = 0;
  valuePath.length = 0;
  freeNumbers = false;
  nodeCount = 1;
  depthLimit = maxDepth;
  freeNumbersKey = freeKey;
  nodeLimit = maxNodes;
  topKeys = [];
  keyOrders = orders;
}

/** Lets go of the caller's text and results, which the module would otherwise keep until the next parse. */
function endParse(): void {
  source = "";
  topKeys = NO_KEYS;
  keyOrders = undefined;
}

/**
 * The one value at `start`, parsed as the value of the top-level {@link freeNumbersKey} (depth
 * 2, any number allowed), with `nodesBefore` values already counted: what the strict parse of a
 * whole header does there.
 */
function parseFreeValueAt(start: number, nodesBefore: number): { value: unknown; end: number; nodes: number } {
  position = start;
  nodeCount = nodesBefore;
  freeNumbers = true;
  const value = parseValue(2);
  return { value, end: position, nodes: nodeCount };
}

/** The header object of {@link source}, which must be all of it (but spaces after it). */
function parse(): unknown {
  const text = source;
  if (text.charCodeAt(0) !== 0x7b) {
    throw invalid(
      text.length === 0 ? "Header is empty" : "Header must start with '{' (no whitespace or BOM)",
      0,
    );
  }
  const value = parseObject(1);
  for (let pos = position; pos < text.length; pos++) {
    if (text.charCodeAt(pos) !== 0x20) {
      throw invalid("Only spaces may follow the header object", pos);
    }
  }
  return value;
}

function currentField(): string | undefined {
  return valuePath.length === 0 ? undefined : formatPath("", valuePath);
}

function invalid(message: string, offset: number): NdpackError {
  const field = currentField();
  return new NdpackError(
    "HEADER_INVALID",
    `Invalid header JSON at character ${offset}${field === undefined ? "" : ` (${field})`}: ${message}`,
    { offset, field },
  );
}

/** The error for the character at `pos` not being what the grammar allows there. */
function unexpected(pos: number, expected: string): NdpackError {
  if (pos >= source.length) return invalid(`Unexpected end of text, expected ${expected}`, pos);
  const found = shown(source.charAt(pos));
  return invalid(`Unexpected character ${found}, expected ${expected}`, pos);
}

function skipWhitespace(): void {
  const text = source;
  let pos = position;
  for (;;) {
    const c = text.charCodeAt(pos);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    pos++;
  }
  position = pos;
}

function checkDepth(depth: number): void {
  if (depth > depthLimit) {
    const field = currentField();
    throw new NdpackError(
      "LIMIT_EXCEEDED",
      `Header nesting exceeds maxDepth (${depthLimit})${field === undefined ? "" : ` at ${field}`}`,
      { offset: position, field, limit: "maxDepth", expected: depthLimit },
    );
  }
}

function tooManyNodes(): NdpackError {
  const field = currentField();
  return new NdpackError(
    "LIMIT_EXCEEDED",
    `Header holds more than ${nodeLimit} JSON values${field === undefined ? "" : ` (at ${field})`}; raise the maxHeaderNodes option to read it`,
    { offset: position, field, limit: "maxHeaderNodes", expected: nodeLimit },
  );
}

/** `depth` is the depth a container starting here has; the top-level object is 1. */
function parseValue(depth: number): unknown {
  // Bytes do not bound what a header costs once parsed: `[0,0,...]` is one value per two bytes,
  // `[{},{},...]` an object per three (about 90 bytes of memory each).
  if (++nodeCount > nodeLimit) throw tooManyNodes();
  const text = source;
  const pos = position;
  const c = text.charCodeAt(pos);
  if (c === 0x22) return parseString();
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return parseNumber();
  if (c === 0x7b) return parseObject(depth);
  if (c === 0x5b) return parseArray(depth);
  if (c === 0x74 && text.startsWith("true", pos)) {
    position = pos + 4;
    return true;
  }
  if (c === 0x66 && text.startsWith("false", pos)) {
    position = pos + 5;
    return false;
  }
  if (c === 0x6e && text.startsWith("null", pos)) {
    position = pos + 4;
    return null;
  }
  throw unexpected(pos, "a JSON value");
}

/** Sets `object[key]`, as a parsed member, and records the key's place when {@link keyOrders} asks. */
function assign(object: Record<string, unknown>, key: string, value: unknown): void {
  // Plain assignment would run the `__proto__` setter (changing the prototype) or throw on a
  // frozen Object.prototype, so keys Object.prototype knows become own data properties.
  if (key in OBJECT_PROTOTYPE) setOwn(object, key, value);
  else object[key] = value;
  if (keyOrders === undefined) return;
  const keys = keyOrders.get(object);
  if (keys === undefined) keyOrders.set(object, [key]);
  else keys.push(key);
}

function parseObject(depth: number): Record<string, unknown> {
  checkDepth(depth);
  const text = source;
  const path = valuePath;
  const object: Record<string, unknown> = {};
  position++;
  skipWhitespace();
  if (text.charCodeAt(position) === 0x7d) {
    position++;
    return object;
  }
  for (;;) {
    const keyStart = position;
    if (text.charCodeAt(keyStart) !== 0x22) throw unexpected(keyStart, "a string key");
    const key = parseString();
    path.push(key);
    if (Object.hasOwn(object, key)) {
      const field = formatPath("", path);
      throw new NdpackError("DUPLICATE_KEY", `Duplicate key ${shown(key)} at ${field}`, {
        offset: keyStart,
        field,
        actual: key,
      });
    }
    skipWhitespace();
    if (text.charCodeAt(position) !== 0x3a) throw unexpected(position, "':'");
    position++;
    skipWhitespace();
    let value: unknown;
    if (depth === 1 && key === freeNumbersKey) {
      freeNumbers = true;
      value = parseValue(depth + 1);
      freeNumbers = false;
    } else {
      value = parseValue(depth + 1);
    }
    assign(object, key, value);
    if (depth === 1) topKeys.push(key);
    path.pop();
    if (!nextMember(0x7d, "',' or '}'")) return object;
  }
}

function parseArray(depth: number): unknown[] {
  checkDepth(depth);
  const text = source;
  const path = valuePath;
  const array: unknown[] = [];
  position++;
  skipWhitespace();
  if (text.charCodeAt(position) === 0x5d) {
    position++;
    return array;
  }
  for (let index = 0; ; index++) {
    path.push(index);
    array.push(parseValue(depth + 1));
    path.pop();
    if (!nextMember(0x5d, "',' or ']'")) return array;
  }
}

/** After a member of an object or array: true past a ',' (another member follows), false past `close`; anything else is unexpected. */
function nextMember(close: number, expected: string): boolean {
  skipWhitespace();
  const c = source.charCodeAt(position);
  if (c === 0x2c) {
    position++;
    skipWhitespace();
    return true;
  }
  if (c !== close) throw unexpected(position, expected);
  position++;
  return false;
}

/** Reads four hex digits at `at`; -1 when they are not all hex digits. */
function hex4(at: number): number {
  const text = source;
  let value = 0;
  for (let i = at; i < at + 4; i++) {
    const c = text.charCodeAt(i);
    let digit: number;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else {
      const lower = c | 0x20;
      if (lower < 0x61 || lower > 0x66) return -1;
      digit = lower - 0x57;
    }
    value = (value << 4) | digit;
  }
  return value;
}

function parseString(): string {
  const text = source;
  const start = position + 1;
  let pos = start;
  for (;;) {
    const c = text.charCodeAt(pos);
    if (c === 0x22) {
      position = pos + 1;
      return ownString(text.slice(start, pos));
    }
    // Past the end `c` is NaN, which fails `c >= 0x20` and falls to checkRawCharacter.
    if (c >= 0x20 && c !== 0x5c && (c & 0xf800) !== 0xd800) pos++;
    else if (c === 0x5c) return parseEscapedString(start, pos);
    else pos += checkRawCharacter(c, pos);
  }
}

/**
 * Finishes a string from its first backslash on. The decoded code units go to the reusable
 * {@link scratch}, made into a string each time it fills: building the result from one small
 * string per escape is an order of magnitude slower when escapes are dense.
 */
function parseEscapedString(start: number, firstEscape: number): string {
  const text = source;
  const buffer = (scratch ??= new Uint16Array(SCRATCH_CHUNK + 2));
  let out = "";
  let length = 0;
  let pos = start;
  for (;;) {
    if (length >= SCRATCH_CHUNK) {
      out += String.fromCharCode.apply(null, buffer.subarray(0, length) as unknown as number[]);
      length = 0;
    }
    const c = text.charCodeAt(pos);
    if (pos < firstEscape) {
      buffer[length++] = c;
      pos++;
    } else if (c === 0x22) break;
    else if (c >= 0x20 && c !== 0x5c && (c & 0xf800) !== 0xd800) {
      buffer[length++] = c;
      pos++;
    } else if (c === 0x5c) {
      const codePoint = parseEscape(pos);
      if (codePoint > 0xffff) {
        buffer[length++] = 0xd800 + ((codePoint - 0x10000) >> 10);
        buffer[length++] = 0xdc00 + (codePoint & 0x3ff);
        pos += 12;
      } else {
        buffer[length++] = codePoint;
        pos += text.charCodeAt(pos + 1) === 0x75 ? 6 : 2;
      }
    } else {
      const size = checkRawCharacter(c, pos);
      for (let i = 0; i < size; i++) buffer[length++] = text.charCodeAt(pos++);
    }
  }
  position = pos + 1;
  return out + String.fromCharCode.apply(null, buffer.subarray(0, length) as unknown as number[]);
}

/**
 * Checks a raw character that may not appear unescaped by itself (`c` is NaN past the end):
 * throws unless it starts a surrogate pair, whose length it returns.
 */
function checkRawCharacter(c: number, pos: number): number {
  if (pos >= source.length) throw invalid("Unterminated string", pos);
  if (c < 0x20) {
    throw invalid(`Raw control character U+${c.toString(16).padStart(4, "0")} in string`, pos);
  }
  if (c > 0xdbff || (source.charCodeAt(pos + 1) & 0xfc00) !== 0xdc00) {
    throw invalid("Lone surrogate in string", pos);
  }
  return 2;
}

/**
 * Decodes the escape whose backslash is at `pos` to a code point; one above 0xFFFF came from a
 * `\u` surrogate pair.
 */
function parseEscape(pos: number): number {
  const text = source;
  const c = text.charCodeAt(pos + 1);
  switch (c) {
    case 0x22:
    case 0x5c:
    case 0x2f:
      return c;
    case 0x62:
      return 0x08;
    case 0x66:
      return 0x0c;
    case 0x6e:
      return 0x0a;
    case 0x72:
      return 0x0d;
    case 0x74:
      return 0x09;
    case 0x75: {
      const unit = hex4(pos + 2);
      if (unit < 0) throw invalid("Invalid \\u escape, expected four hex digits", pos);
      if ((unit & 0xf800) !== 0xd800) return unit;
      if (unit <= 0xdbff && text.charCodeAt(pos + 6) === 0x5c && text.charCodeAt(pos + 7) === 0x75) {
        const low = hex4(pos + 8);
        if (low < 0) throw invalid("Invalid \\u escape, expected four hex digits", pos + 6);
        if ((low & 0xfc00) === 0xdc00) return 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
      }
      throw invalid("\\u escape produces a lone surrogate", pos);
    }
    default:
      if (pos + 1 >= text.length) throw invalid("Unterminated string", pos + 1);
      throw invalid(`Invalid escape ${shown(text.slice(pos, pos + 2))}`, pos);
  }
}

function parseNumber(): number {
  const text = source;
  const start = position;
  let pos = start;
  let c = text.charCodeAt(pos);
  const negative = c === 0x2d;
  if (negative) c = text.charCodeAt(++pos);
  // Exact while the literal is <= 2^53; beyond, it stays > 2^53 - 1, which is all that is checked.
  let magnitude = 0;
  if (c === 0x30) {
    c = text.charCodeAt(++pos);
    if (c >= 0x30 && c <= 0x39) throw invalid("Leading zeros are not allowed", start);
  } else if (c >= 0x31 && c <= 0x39) {
    do {
      magnitude = magnitude * 10 + (c - 0x30);
      c = text.charCodeAt(++pos);
    } while (c >= 0x30 && c <= 0x39);
  } else {
    throw unexpected(pos, "a digit");
  }
  let integer = true;
  if (c === 0x2e) {
    integer = false;
    c = text.charCodeAt(++pos);
    if (!(c >= 0x30 && c <= 0x39)) throw unexpected(pos, "a digit after '.'");
    do c = text.charCodeAt(++pos);
    while (c >= 0x30 && c <= 0x39);
  }
  if (c === 0x65 || c === 0x45) {
    integer = false;
    c = text.charCodeAt(++pos);
    if (c === 0x2b || c === 0x2d) c = text.charCodeAt(++pos);
    if (!(c >= 0x30 && c <= 0x39)) throw unexpected(pos, "a digit in the exponent");
    do c = text.charCodeAt(++pos);
    while (c >= 0x30 && c <= 0x39);
  }
  position = pos;
  if (!freeNumbers && (negative || !integer)) {
    throw badNumber(start, pos, "must be a non-negative integer");
  }
  if (!integer) {
    const value = Number(text.slice(start, pos));
    // 1e400 would silently become Infinity, which no writer can write back.
    if (!Number.isFinite(value)) throw badNumber(start, pos, "overflows to infinity");
    return value;
  }
  if (magnitude > Number.MAX_SAFE_INTEGER) {
    throw badNumber(start, pos, "exceeds 2^53 - 1 and would lose precision");
  }
  return negative ? -magnitude : magnitude;
}

function badNumber(start: number, end: number, problem: string): NdpackError {
  const field = currentField();
  const literal = excerpt(source.slice(start, end));
  return new NdpackError(
    "BAD_NUMBER",
    `Number ${literal}${field === undefined ? "" : ` at ${field}`} ${problem}`,
    { offset: start, field },
  );
}

/**
 * Parses header text with the strictness ndpack's format requires, which `JSON.parse` cannot give.
 *
 * Duplicate keys, lone surrogates and a BOM are rejected rather than silently resolved, so two
 * readers can never disagree about what a header says. Outside the top-level `metadata` value, a
 * number must be a non-negative safe integer literal, so sizes and offsets are exact; inside
 * `metadata` any JSON number is allowed except an integer literal that a double cannot hold
 * exactly. A key `__proto__` becomes an own property, so no input can change a prototype.
 * Nesting is bounded by `maxDepth` so hostile input cannot overflow the stack, and the number of
 * values by `maxNodes`, so that it cannot exhaust memory or time while staying within its bytes.
 *
 * @param text - The whole header: an object starting at index 0, optionally followed by spaces.
 * @param options - `maxDepth`: the deepest nesting allowed, counting the top-level object as 1.
 *   `freeNumbersKey`: the top-level key whose value may hold any number (default `"metadata"`,
 *   ndpack's); `null` for formats with no such key (safetensors, whose `__metadata__` holds strings
 *   only), so that even a tensor named `metadata` has integer-literal sizes (`2.0` is refused).
 *   `maxNodes`: the most JSON values (objects, arrays, strings, numbers, literals; keys not
 *   counted), the top-level object included; default FORMAT.md §7's `maxHeaderNodes`.
 * @returns The header object (typed `unknown`: validating its shape is the caller's job).
 * @throws NdpackError with code HEADER_INVALID, DUPLICATE_KEY, BAD_NUMBER or LIMIT_EXCEEDED,
 *   carrying `offset` (a character index into `text`) and, inside the object, `field`.
 */
export function parseHeaderJson(text: string, options: { maxDepth: number; maxNodes?: number; freeNumbersKey?: string | null }): unknown {
  return parseHeaderJsonKeys(text, options).value;
}

/** {@link parseHeaderJson} that also gives the top-level object's keys in the order of the text: a .safetensors header's (FORMAT.md §12.3 step 4.3). */
export function parseHeaderJsonKeys(text: string, options: { maxDepth: number; maxNodes?: number; freeNumbersKey?: string | null }): { value: unknown; keys: string[] } {
  beginParse(text, options.maxDepth, options.freeNumbersKey === undefined ? "metadata" : options.freeNumbersKey, options.maxNodes ?? DEFAULT_LIMITS.maxHeaderNodes);
  try {
    return { value: parse(), keys: topKeys };
  } finally {
    endParse();
  }
}

/**
 * {@link parseHeaderJson} that also gives each non-empty object's keys in the order of the text,
 * which `Object.keys` does not (JavaScript lists integer-like keys, `"12"`, first): a set index's
 * array order (FORMAT.md §12.2).
 */
export function parseHeaderJsonInOrder(text: string, options: { maxDepth: number; maxNodes: number }): { value: unknown; keyOrders: WeakMap<object, string[]> } {
  const orders = new WeakMap<object, string[]>();
  beginParse(text, options.maxDepth, "metadata", options.maxNodes, orders);
  try {
    return { value: parse(), keyOrders: orders };
  } finally {
    endParse();
  }
}

/**
 * The value of the header's `metadata` key, starting at `start` in `text`, exactly as
 * {@link parseHeaderJson} parses it inside the whole header when `nodesBefore` values precede it:
 * for a reader that has matched the rest of the header itself. Returns the value, the index after
 * it and the number of values counted so far; throws what parseHeaderJson throws there.
 */
export function parseMetadataJson(text: string, start: number, options: { maxDepth: number; maxNodes: number; nodesBefore: number }): { value: unknown; end: number; nodes: number } {
  beginParse(text, options.maxDepth, "metadata", options.maxNodes);
  try {
    return parseFreeValueAt(start, options.nodesBefore);
  } finally {
    endParse();
  }
}

/** Formats a finite number so that {@link parseHeaderJson} reads back the identical double. */
function formatNumber(value: number): string {
  if (value === 0) return Object.is(value, -0) ? "-0" : "0";
  // String(2 ** 60) is "1152921504606846976", an integer literal the parser must refuse.
  if (Number.isInteger(value) && !Number.isSafeInteger(value)) return value.toExponential();
  return String(value);
}

class Serializer {
  private readonly path: PathSegment[] = [];
  /** Containers currently being written, to tell a cycle from mere sharing. */
  private readonly active = new Set<object>();

  constructor(
    private readonly maxDepth: number,
    private readonly prefix: string,
  ) {}

  private reject(problem: string): NdpackError {
    const field = formatPath(this.prefix, this.path);
    return new NdpackError(
      "INVALID_ARGUMENT",
      `Cannot write ${field === "" ? "value" : field} as JSON: ${problem}`,
      { field },
    );
  }

  // Each container returns its text joined from its members' texts: appending every small piece
  // to one growing string builds a rope millions of nodes long, and the GC time for it made this
  // several times slower on a 100,000-array header.
  write(value: unknown, depth: number): string {
    switch (typeof value) {
      case "string":
        if (!isWellFormed.call(value)) throw this.reject("string contains a lone surrogate");
        return JSON.stringify(value);
      case "number":
        if (!Number.isFinite(value)) throw this.reject(`${value} is not a finite number`);
        return formatNumber(value);
      case "boolean":
        return value ? "true" : "false";
      case "object":
        if (value === null) return "null";
        return Array.isArray(value) ? this.writeArray(value, depth) : this.writeObject(value, depth);
      default:
        throw this.reject(`${typeof value} has no JSON form`);
    }
  }

  private enter(container: object, depth: number): void {
    if (this.active.has(container)) throw this.reject("circular reference");
    if (depth > this.maxDepth) {
      const field = formatPath(this.prefix, this.path);
      // Writers have no maxDepth option (it is a read limit, which raising cannot help a write): the
      // message names none, so that the command line suggests no flag.
      throw new NdpackError(
        "LIMIT_EXCEEDED",
        `Nesting exceeds ${this.maxDepth} levels at ${field === "" ? "value" : field}`,
        { field, limit: "maxDepth", expected: this.maxDepth },
      );
    }
    this.active.add(container);
  }

  private writeArray(array: readonly unknown[], depth: number): string {
    this.enter(array, depth);
    const path = this.path;
    const parts = new Array<string>(array.length);
    for (let i = 0; i < array.length; i++) {
      path.push(i);
      if (!Object.hasOwn(array, i)) throw this.reject("sparse array hole");
      parts[i] = this.write(array[i], depth + 1);
      path.pop();
    }
    this.active.delete(array);
    return `[${parts.join(",")}]`;
  }

  private writeObject(object: object, depth: number): string {
    const prototype: unknown = Object.getPrototypeOf(object);
    if (prototype !== OBJECT_PROTOTYPE && prototype !== null) {
      const name = (object as { constructor?: { name?: unknown } }).constructor?.name;
      const kind = typeof name === "string" && name !== "" ? name : "object";
      throw this.reject(`${kind} is not a plain object`);
    }
    for (const symbol of Object.getOwnPropertySymbols(object)) {
      if (OBJECT_PROTOTYPE.propertyIsEnumerable.call(object, symbol)) {
        throw this.reject("object has symbol keys, which JSON cannot hold");
      }
    }
    this.enter(object, depth);
    const path = this.path;
    const record = object as Record<string, unknown>;
    const keys = Object.keys(record);
    const parts = new Array<string>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      path.push(key);
      if (!isWellFormed.call(key)) throw this.reject("key contains a lone surrogate");
      parts[i] = `${JSON.stringify(key)}:${this.write(record[key], depth + 1)}`;
      path.pop();
    }
    this.active.delete(object);
    return `{${parts.join(",")}}`;
  }
}

/**
 * Serializes a header or user metadata to the one compact text {@link parseHeaderJson} reads back
 * exactly.
 *
 * Writing is where bad values must be caught: anything that would not survive the round trip
 * (undefined, functions, NaN, class instances, sparse arrays, symbol keys, lone surrogates,
 * cycles) is refused with the path to it instead of being dropped or altered as `JSON.stringify`
 * would. Output is deterministic (insertion-ordered keys, no whitespace) and matches
 * `JSON.stringify` except for `-0`, written as `-0`, and integers beyond 2^53 - 1, written in
 * exponent form so the parser's precision check does not refuse them.
 *
 * @param value - The value to write.
 * @param options - `maxDepth`: the deepest nesting allowed, counting `value` itself as 1 if it is
 *   an object or array. `path`: where `value` sits, prefixed to error fields (default `metadata`).
 * @throws NdpackError INVALID_ARGUMENT (with `field`) for a value JSON cannot represent exactly,
 *   or LIMIT_EXCEEDED (`limit: "maxDepth"`) when nesting is deeper than `maxDepth`.
 */
export function stringifyJson(value: unknown, options: { maxDepth: number; path?: string }): string {
  return new Serializer(options.maxDepth, options.path ?? "metadata").write(value, 1);
}
