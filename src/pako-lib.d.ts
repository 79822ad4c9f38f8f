// pako's zlib port, used directly by codecs.ts (its `Inflate` class is more than the library needs,
// and a CommonJS module a bundler keeps whole): the part of it the library calls. @types/pako
// covers only the package root.
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
