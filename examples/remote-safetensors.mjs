// Recipe: read one tensor of a remote .safetensors file (a Hugging Face mirror, an object store, a
// CDN) without downloading the rest. Run: node remote-safetensors.mjs URL TENSOR
import assert from "node:assert/strict";

import { openUrl } from "ndpack/http";
import { FORMATS } from "ndpack/interop"; // .safetensors, .npz, .npy (the core alone reads ndpack)

const [url, name] = process.argv.slice(2); // e.g. https://huggingface.co/.../model.safetensors h.0.ln_1.weight

const model = await openUrl(url, { formats: FORMATS });  // one Range request of 64 KiB: the header (one more if it is longer)
const tensor = await model.read(name); // one Range request of exactly the tensor's bytes
console.log(name, tensor.dtype, tensor.shape, `(${model.names.length} tensors)`);
console.log(`read ${model.bytesRead} of ${model.byteLength} bytes in ${model.readCount} requests`);
await model.close();

// Checks (not in the README).
assert.equal(model.format, "safetensors");
assert.equal(model.readCount, 2);
assert.ok(model.bytesRead <= 64 * 1024 + tensor.byteLength);
assert.ok(model.bytesRead < model.byteLength / 10);
console.log("remote-safetensors: ok");
