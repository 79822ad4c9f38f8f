// pako's zlib port, used directly by codecs.ts and compress.ts (its `Inflate` and `Deflate` classes
// are more than the library needs, and CommonJS modules a bundler keeps whole): the part of it the
// library calls. @types/pako covers only the package root.
declare module "pako/lib/zlib/zstream.js" {
  export default class ZStream {
    input: Uint8Array | null;
    next_in: number;
    avail_in: number;
    output: Uint8Array | null;
    next_out: number;
    avail_out: number;
    msg: string | undefined;
    /** zlib.h's data_type after inflate: unused bits of the last input byte, +64 inside the final block, +128 at a block boundary. */
    data_type: number;
    total_out: number;
  }
}
declare module "pako/lib/zlib/inflate.js" {
  import type ZStream from "pako/lib/zlib/zstream.js";
  export function inflateInit2(strm: ZStream, windowBits: number): number;
  export function inflate(strm: ZStream, flush: number): number;
  export function inflateEnd(strm: ZStream): number;
}
declare module "pako/lib/zlib/deflate.js" {
  import type ZStream from "pako/lib/zlib/zstream.js";
  export function deflateInit2(strm: ZStream, level: number, method: number, windowBits: number, memLevel: number, strategy: number, legacyHash: boolean): number;
  export function deflate(strm: ZStream, flush: number): number;
  export function deflateEnd(strm: ZStream): number;
}
