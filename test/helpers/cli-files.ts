/**
 * Files for the command-line tests that are too large to write: valid .ndp, .npy, .npz and
 * .safetensors files holding one huge array of zeros, made as sparse files (the header bytes, then
 * `truncate` to the full length: the payload reads as zeros without occupying the disk). Headers
 * are built here byte by byte, from the specs, so that they do not depend on the code under test.
 */
import { closeSync, openSync, ftruncateSync, writeSync } from "node:fs";
import { crc32 } from "node:zlib";

const encoder = new TextEncoder();

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** Writes `head` at the start of a new file and extends the file with zeros to `length` bytes. */
function writeSparse(path: string, head: Uint8Array, length: number, tail?: { at: number; bytes: Uint8Array }): void {
  const fd = openSync(path, "w");
  try {
    writeSync(fd, head, 0, head.length, 0);
    ftruncateSync(fd, length);
    if (tail) writeSync(fd, tail.bytes, 0, tail.bytes.length, tail.at);
  } finally {
    closeSync(fd);
  }
}

/** An ndpack file (FORMAT.md §1–4): a float32 array "small" [2, 2] (1, 2, 3, 4), then uint8 "zeros" of `bytes` bytes; checksum none. */
export function sparseNdp(path: string, bytes: number): void {
  const alignment = 64;
  const smallOffset = 0;
  const zerosOffset = alignUp(16, alignment);
  const dataLength = zerosOffset + bytes;
  const header = encoder.encode(
    JSON.stringify({
      alignment,
      checksum: "none",
      dataLength,
      metadata: { made: "sparse" },
      arrays: [
        { name: "small", dtype: "float32", shape: [2, 2], order: "C", byteOrder: "little", offset: smallOffset, byteLength: 16 },
        { name: "zeros", dtype: "uint8", shape: [bytes], order: "C", byteOrder: "little", offset: zerosOffset, byteLength: bytes },
      ],
    }),
  );
  const dataStart = alignUp(20 + header.length, alignment);
  const head = new Uint8Array(dataStart + 16);
  head.set([0x89, 0x4e, 0x44, 0x50, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(head.buffer);
  view.setUint16(8, 1, true);
  view.setUint16(10, 0, true);
  view.setUint32(12, header.length, true);
  head.set(header, 20);
  const covered = new Uint8Array(8 + header.length);
  covered.set(head.subarray(8, 16));
  covered.set(header, 8);
  view.setUint32(16, crc32(covered), true);
  head.set(new Uint8Array(Float32Array.of(1, 2, 3, 4).buffer), dataStart + smallOffset);
  writeSparse(path, head, dataStart + dataLength);
}

/** A .safetensors file with one U8 tensor "zeros" of `bytes` bytes. */
export function sparseSafetensors(path: string, bytes: number): void {
  let text = JSON.stringify({ __metadata__: { made: "sparse" }, zeros: { dtype: "U8", shape: [bytes], data_offsets: [0, bytes] } });
  text += " ".repeat((8 - (text.length % 8)) % 8);
  const head = new Uint8Array(8 + text.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(text.length), true);
  head.set(encoder.encode(text), 8);
  writeSparse(path, head, head.length + bytes);
}

/** The .npy header (version 1.0) of a uint8 array of `bytes` elements, padded as numpy pads it. */
function npyHeader(bytes: number): Uint8Array {
  const dict = `{'descr': '|u1', 'fortran_order': False, 'shape': (${bytes},), }`;
  const total = alignUp(10 + dict.length + 1, 64);
  const head = new Uint8Array(total).fill(0x20);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(head.buffer).setUint16(8, total - 10, true);
  head.set(encoder.encode(dict), 10);
  head[total - 1] = 0x0a;
  return head;
}

/** A .npy file of a uint8 array of `bytes` zeros. */
export function sparseNpy(path: string, bytes: number): void {
  const head = npyHeader(bytes);
  writeSparse(path, head, head.length + bytes);
}

/** The CRC-32 register operator of one zero byte, as 32 columns over GF(2). */
function zeroByteOperator(): Uint32Array {
  const columns = new Uint32Array(32);
  for (let i = 0; i < 32; i++) {
    let r = (1 << i) >>> 0;
    for (let k = 0; k < 8; k++) r = r & 1 ? (r >>> 1) ^ 0xedb88320 : r >>> 1;
    columns[i] = r >>> 0;
  }
  return columns;
}

function apply(operator: Uint32Array, vector: number): number {
  let out = 0;
  for (let i = 0; vector !== 0; i++, vector >>>= 1) if (vector & 1) out ^= operator[i]!;
  return out >>> 0;
}

/** The CRC-32 of some bytes followed by `count` zero bytes, from the CRC of the bytes alone (as zlib's crc32_combine). */
export function crc32AppendZeros(crc: number, count: number): number {
  let operator = zeroByteOperator();
  let register = (crc ^ 0xffffffff) >>> 0;
  for (let n = count; n > 0; n = Math.floor(n / 2)) {
    if (n % 2 === 1) register = apply(operator, register);
    const squared = new Uint32Array(32);
    for (let i = 0; i < 32; i++) squared[i] = apply(operator, operator[i]!);
    operator = squared;
  }
  return (register ^ 0xffffffff) >>> 0;
}

/** A .npz file (stored, ZIP64) with one member "zeros.npy": a uint8 array of `bytes` zeros. */
export function sparseNpz(path: string, bytes: number): void {
  const name = encoder.encode("zeros.npy");
  const content = npyHeader(bytes);
  const size = content.length + bytes;
  const crc = crc32AppendZeros(crc32(content), bytes);
  const zip64 = size >= 0xffffffff;
  // Local header, with a ZIP64 extra field holding the sizes when they need 8 bytes.
  const extra = zip64 ? 20 : 0;
  const local = new Uint8Array(30 + name.length + extra);
  const lv = new DataView(local.buffer);
  lv.setUint32(0, 0x04034b50, true);
  lv.setUint16(4, zip64 ? 45 : 20, true);
  lv.setUint16(12, (1 << 5) | 1, true);
  lv.setUint32(14, crc, true);
  lv.setUint32(18, zip64 ? 0xffffffff : size, true);
  lv.setUint32(22, zip64 ? 0xffffffff : size, true);
  lv.setUint16(26, name.length, true);
  lv.setUint16(28, extra, true);
  local.set(name, 30);
  if (zip64) {
    lv.setUint16(30 + name.length, 0x0001, true);
    lv.setUint16(32 + name.length, 16, true);
    lv.setBigUint64(34 + name.length, BigInt(size), true);
    lv.setBigUint64(42 + name.length, BigInt(size), true);
  }
  const head = new Uint8Array(local.length + content.length);
  head.set(local);
  head.set(content, local.length);
  // Central record, then (with ZIP64) the ZIP64 end record and its locator, then the end record.
  const cdOffset = local.length + size;
  const central = new Uint8Array(46 + name.length + (zip64 ? 20 : 0));
  const cv = new DataView(central.buffer);
  cv.setUint32(0, 0x02014b50, true);
  cv.setUint16(4, (3 << 8) | 45, true);
  cv.setUint16(6, zip64 ? 45 : 20, true);
  cv.setUint16(14, (1 << 5) | 1, true);
  cv.setUint32(16, crc, true);
  cv.setUint32(20, zip64 ? 0xffffffff : size, true);
  cv.setUint32(24, zip64 ? 0xffffffff : size, true);
  cv.setUint16(28, name.length, true);
  cv.setUint16(30, zip64 ? 20 : 0, true);
  cv.setUint32(38, (0o100644 << 16) >>> 0, true);
  central.set(name, 46);
  if (zip64) {
    cv.setUint16(46 + name.length, 0x0001, true);
    cv.setUint16(48 + name.length, 16, true);
    cv.setBigUint64(50 + name.length, BigInt(size), true);
    cv.setBigUint64(58 + name.length, BigInt(size), true);
  }
  const endRecords = new Uint8Array((zip64 ? 56 + 20 : 0) + 22);
  const ev = new DataView(endRecords.buffer);
  let at = 0;
  if (zip64) {
    const zip64At = cdOffset + central.length;
    ev.setUint32(0, 0x06064b50, true);
    ev.setBigUint64(4, 44n, true);
    ev.setUint16(12, (3 << 8) | 45, true);
    ev.setUint16(14, 45, true);
    ev.setBigUint64(24, 1n, true);
    ev.setBigUint64(32, 1n, true);
    ev.setBigUint64(40, BigInt(central.length), true);
    ev.setBigUint64(48, BigInt(cdOffset), true);
    ev.setUint32(56, 0x07064b50, true);
    ev.setBigUint64(64, BigInt(zip64At), true);
    ev.setUint32(72, 1, true);
    at = 76;
  }
  ev.setUint32(at, 0x06054b50, true);
  ev.setUint16(at + 8, 1, true);
  ev.setUint16(at + 10, 1, true);
  ev.setUint32(at + 12, central.length, true);
  ev.setUint32(at + 16, zip64 ? 0xffffffff : cdOffset, true);
  const tail = new Uint8Array(central.length + endRecords.length);
  tail.set(central);
  tail.set(endRecords, central.length);
  writeSparse(path, head, cdOffset + tail.length, { at: cdOffset, bytes: tail });
}

/**
 * Overwrites the payload of array `name` in the ndpack file at `path` (uncompressed, with
 * CRC-32 checksums) with `payload`, of the same length, and writes its new CRC: for bytes a reader
 * accepts but no writer stores, such as bool bytes other than 0 and 1 (FORMAT.md §3). `offset` and
 * `byteLength` are the array's, as `info` gives them; the CRC follows the payload (FORMAT.md §4).
 */
export function patchPayload(path: string, at: { readonly offset: number; readonly byteLength: number }, payload: Uint8Array): void {
  if (payload.length !== at.byteLength) throw new Error(`payload is ${payload.length} bytes, the array's is ${at.byteLength}`);
  const crc = new Uint8Array(4);
  new DataView(crc.buffer).setUint32(0, crc32(payload), true);
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, payload, 0, payload.length, at.offset);
    writeSync(fd, crc, 0, 4, at.offset + at.byteLength);
  } finally {
    closeSync(fd);
  }
}
