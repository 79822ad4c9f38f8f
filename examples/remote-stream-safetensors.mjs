// Recipe: read every tensor of a .safetensors checkpoint while it downloads: one plain GET (no
// Range requests, so any server, a pipe or a socket will do), each tensor handed out as soon as
// its bytes have arrived. Run: node remote-stream-safetensors.mjs URL
import assert from "node:assert/strict";

import { FORMATS } from "ndpack/interop"; // .safetensors, .npz, .npy (the core alone reads ndpack)
import { decodeStream } from "ndpack/streams";

const url = process.argv[2]; // e.g. https://huggingface.co/.../model.safetensors

const response = await fetch(url);
const tensors = decodeStream(response.body, { formats: FORMATS }); // told from the first bytes
const { format, names } = await tensors.header();                   // once the header is in
console.log(`${format}: ${names.join(", ")}`);
const weights = new Map();
for await (const tensor of tensors) { // in the order of the data in the file, each as it arrives
  console.log(tensor.name, tensor.dtype, tensor.shape);
  weights.set(tensor.name, tensor);   // or hand it on (to the GPU) and let it go
}
console.log(`read ${tensors.bytesRead} bytes`);

// Checks (not in the README).
assert.equal(format, "safetensors");
assert.deepEqual([...weights.keys()].sort(), ["h.0.ln_1.bias", "h.0.ln_1.weight", "wte.weight"]);
assert.deepEqual(weights.get("wte.weight").shape, [10_000, 768]);
assert.ok(weights.get("h.0.ln_1.weight").data.every((x) => x === 1));
assert.ok(weights.get("h.0.ln_1.bias").data.every((x) => x === 0));
assert.equal(tensors.bytesRead, Number(response.headers.get("content-length")));
console.log("remote-stream-safetensors: ok");
