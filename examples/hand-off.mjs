// Recipe: hand arrays to onnxruntime-web, TensorFlow.js and scijs ndarray. All three take a typed
// array and a shape, which is what ndpack gives: no copy, no glue.
import assert from "node:assert/strict";

import { decode, encode } from "ndpack";

// Stand-ins with the same signatures as the real ones, so that this file runs without them
// (ndpack depends on none of them): ort.Tensor, tf.tensor and ndarray.
class Tensor { constructor(type, data, dims) { Object.assign(this, { type, data, dims }); } }
const tf = { tensor: (values, shape, dtype) => ({ values, shape, dtype }) };
const ndarray = (data, shape) => ({ data, shape, get: (...index) => data[index.reduce((at, i, axis) => at * shape[axis] + i, 0)] });

const bytes = encode({ input: { data: new Float32Array(1 * 3 * 4 * 4).fill(0.5), shape: [1, 3, 4, 4] } });
const { data, shape, dtype } = decode(bytes).get("input");  // Float32Array, [1, 3, 4, 4], "float32"

const onnx = new Tensor(dtype, data, shape);   // onnxruntime-web: new ort.Tensor(dtype, data, shape)
const tensor = tf.tensor(data, shape, dtype);  // TensorFlow.js: tf.tensor(data, shape, dtype)
const nd = ndarray(data, shape);               // scijs: ndarray(data, shape)

// Checks (not in the README).
assert.equal(onnx.data, data);
assert.equal(tensor.values, data);
assert.equal(nd.get(0, 2, 3, 3), 0.5);
assert.equal(data.buffer, bytes.buffer);        // views of the encoded bytes: nothing was copied
console.log("hand-off: ok");
