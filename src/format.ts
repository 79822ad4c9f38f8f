/**
 * FORMAT.md in constants. Each name points at the section that defines it; nothing here is
 * decided by code alone.
 *
 * @module
 */

/** §1: `\x89 N D P \r \n \x1a \n`, PNG-style, so that 7-bit channels and newline conversions are caught. */
export const MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x89, 0x4e, 0x44, 0x50, 0x0d, 0x0a, 0x1a, 0x0a);

/** §1: magic (8) + major (2) + minor (2) + header length (4) + header CRC (4). */
export const PREAMBLE_SIZE = 20;

/** §1: byte offsets of the preamble's fields. */
export const PREAMBLE = { major: 8, minor: 10, headerLength: 12, headerCrc: 16 } as const;

/** §1, §2.3: the version this library reads fully and writes. */
export const FORMAT_VERSION = {
  /** Major version: files of another major version are refused (UNSUPPORTED_VERSION). */
  major: 1,
  /** Minor version: files of a newer minor version are read, their unknown keys ignored. */
  minor: 0,
} as const;

/** §2.2: alignment must be a power of two in this range; writers default to 64 (a cache line, and enough for every dtype). */
export const MIN_ALIGNMENT = 8;
export const MAX_ALIGNMENT = 65536;
export const DEFAULT_ALIGNMENT = 64;

/** §4, §6: bytes of the CRC-32 that follows each payload when `checksum` is `"crc32"`. */
export const CHECKSUM_SIZE = { crc32: 4, none: 0 } as const;

/** §6: the checksum algorithms a header may name. */
export const CHECKSUMS = ["crc32", "none"] as const;
/** How payloads are protected; see FORMAT.md §6. */
export type Checksum = (typeof CHECKSUMS)[number];

/** §5: the codecs an entry may name. */
export const CODECS = ["none", "deflate", "shuffle+deflate"] as const;
/** How a payload is stored; see FORMAT.md §5. */
export type Codec = (typeof CODECS)[number];

/** §2.2: memory orders and byte orders. */
export const ORDERS = ["C", "F"] as const;
/** Row-major (`"C"`) or column-major (`"F"`). */
export type Order = (typeof ORDERS)[number];
export const BYTE_ORDERS = ["little", "big"] as const;
/** The order of the bytes of each stored number. */
export type ByteOrder = (typeof BYTE_ORDERS)[number];

/** §2.1: the largest integer a header may hold (2^53-1): beyond it JSON numbers lose precision in JavaScript. */
export const MAX_SAFE_SIZE = Number.MAX_SAFE_INTEGER;

/**
 * §7: resource limits a reader enforces before spending anything. Each is an option of `decode`
 * and `open`; the defaults below are the ones FORMAT.md states.
 */
export interface ReadLimits {
  /** Largest header length H accepted (a hostile file could claim 4 GiB). */
  maxHeaderBytes: number;
  /**
   * Most JSON values in the header (objects, arrays, strings, numbers, literals; keys not counted),
   * metadata included: bytes alone do not bound what a header costs once parsed.
   */
  maxHeaderNodes: number;
  /** Deepest JSON nesting in the header, metadata included (bounds the parser's recursion); at most 1000. */
  maxDepth: number;
  /** Most array entries. */
  maxArrays: number;
  /** Most dimensions per array (numpy's own limit is 64). */
  maxDims: number;
  /** Longest array name in UTF-8 bytes. */
  maxNameBytes: number;
  /** Largest decoded size of one compressed array: bounds what a compression bomb can make us allocate. */
  maxDecodedBytes: number;
}

/** The names of the {@link ReadLimits} options, for the option-name check of every reader. */
export const LIMIT_OPTIONS = { maxHeaderBytes: true, maxHeaderNodes: true, maxDepth: true, maxArrays: true, maxDims: true, maxNameBytes: true, maxDecodedBytes: true } as const satisfies Record<keyof ReadLimits, true>;

/**
 * §7: the default limits, calibrated so that any header within them is parsed in well under 2 s
 * and 512 MiB (measured by `npm run fuzz` and bench scenario M): a header costs about three times
 * its bytes (the bytes, their text, the strings cut from it) plus up to ~110 bytes per JSON value
 * (an array entry with its layout; an empty object costs ~90).
 */
export const DEFAULT_LIMITS: Readonly<ReadLimits> = Object.freeze({
  maxHeaderBytes: 100 * 1024 * 1024,
  maxHeaderNodes: 1_000_000,
  maxDepth: 64,
  maxArrays: 100_000,
  maxDims: 64,
  maxNameBytes: 4096,
  maxDecodedBytes: 1024 * 1024 * 1024,
});

/** §7: `maxDepth` may not be raised past this, so a recursive parser can never exhaust the stack. */
export const MAX_DEPTH_CEILING = 1000;

/** `alignUp(x, a)` of FORMAT.md: the smallest multiple of `alignment` (a power of two) that is >= `value`. */
export function alignUp(value: number, alignment: number): number {
  const rest = value % alignment;
  return rest === 0 ? value : value + (alignment - rest);
}
