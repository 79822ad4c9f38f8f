/**
 * What a differential test against numpy and safetensors found: .npz names that numpy reads as
 * another member, conversions refusing bool bytes that numpy and safetensors files may hold, and
 * the lazy .npz reader accepting a metadata member that the eager one refuses.
 */
import { crc32, deflateRawSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { FORMATS, fromNpz, toNdpack, toNpy, toNpz, toSafetensors } from "../src/interop/index.js";
import { decode } from "../src/index.js";
import { openSource, bytesSource } from "../src/source.js";
import { failure, failureAsync } from "./helpers/common.js";

describe("toNpz refuses a name numpy would read as another member (np.load looks a key up as a member name first)", () => {
  test('"a.npy" beside "a" (members a.npy and a.npy.npy): INVALID_ARGUMENT', () => {
    const error = failure(() => toNpz([["a", Float64Array.of(1, 2)], ["a.npy", Float64Array.of(3, 4)]]), "INVALID_ARGUMENT");
    expect(error.array).toBe("a.npy");
  });

  test('"__ndpack__.json" when the metadata member is written: INVALID_ARGUMENT; without metadata it is an ordinary name', () => {
    failure(() => toNpz({ "__ndpack__.json": Float64Array.of(1) }, { metadata: { step: 1 } }), "INVALID_ARGUMENT");
    expect([...fromNpz(toNpz({ "__ndpack__.json": Float64Array.of(1) })).arrays.keys()]).toEqual(["__ndpack__.json"]);
  });
});

test("toNdpack of a .npy or .safetensors bool array holding bytes other than 0 and 1 writes them as 1, as `ndpack convert` does (it was INVALID_ARGUMENT)", () => {
  const bytes = Uint8Array.of(0, 1, 2, 255);
  const npy = toNpy({ data: Uint8Array.of(0, 1, 1, 1), dtype: "bool", shape: [4] });
  // The payload is the file's last 4 bytes: what numpy writes for np.array([0, 1, 2, 255], "u1").view(bool).
  npy.set(bytes, npy.length - 4);
  const safetensors = toSafetensors({ b: { data: Uint8Array.of(0, 1, 1, 1), dtype: "bool", shape: [4] } });
  safetensors.set(bytes, safetensors.length - 4);
  for (const [input, name] of [[npy, "array"], [safetensors, "b"]] as const) {
    expect([...decode(toNdpack(input)).get(name).data]).toEqual([0, 1, 1, 1]);
  }
  // The input is not changed.
  expect([...npy.subarray(npy.length - 4)]).toEqual([...bytes]);
});

test("a .npz whose deflated __ndpack__.json inflates past its declared size: CODEC_ERROR from the lazy reader, as from fromNpz", async () => {
  const enc = new TextEncoder();
  const json = enc.encode('{"metadata":{"step":1},"dtypes":{}}');
  const data = deflateRawSync(Uint8Array.from([...json, 0x20, 0x20])); // two bytes more than declared
  const name = enc.encode("__ndpack__.json");
  const local = new Uint8Array(30 + name.length);
  const lv = new DataView(local.buffer);
  lv.setUint32(0, 0x04034b50, true); lv.setUint16(4, 20, true); lv.setUint16(8, 8, true); lv.setUint32(14, crc32(json), true);
  lv.setUint32(18, data.length, true); lv.setUint32(22, json.length, true); lv.setUint16(26, name.length, true); local.set(name, 30);
  const central = new Uint8Array(46 + name.length);
  const cv = new DataView(central.buffer);
  cv.setUint32(0, 0x02014b50, true); cv.setUint16(4, 20, true); cv.setUint16(6, 20, true); cv.setUint16(10, 8, true); cv.setUint32(16, crc32(json), true);
  cv.setUint32(20, data.length, true); cv.setUint32(24, json.length, true); cv.setUint16(28, name.length, true); central.set(name, 46);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true); ev.setUint16(8, 1, true); ev.setUint16(10, 1, true); ev.setUint32(12, central.length, true); ev.setUint32(16, local.length + data.length, true);
  const file = Uint8Array.from([...local, ...data, ...central, ...end]);
  failure(() => fromNpz(file), "CODEC_ERROR");
  await failureAsync(() => openSource(bytesSource(file), { formats: FORMATS }), "CODEC_ERROR");
});
