// numpy-parser ships no type declarations.
declare module "numpy-parser" {
  export function fromArrayBuffer(buffer: ArrayBuffer): { data: ArrayLike<number>; shape: number[] };
}
