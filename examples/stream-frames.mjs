// Recipe: stream frames from Python to Node over TCP. One ndpack message per frame, one after
// another over one connection (FORMAT.md §11); the producer is examples/stream-frames.py.
import assert from "node:assert/strict";

import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeMessages } from "ndpack/streams";

const frames = [];
const server = createServer(async (socket) => {
  for await (const message of decodeMessages(socket)) {        // each message as its header arrives
    const arrays = {};
    for await (const array of message) arrays[array.name] = array; // each array once its CRC is checked
    frames.push({ frame: message.header.metadata.frame, image: arrays.image, mean: arrays.mean.data[0] });
  }
  server.close();
});
server.listen(0, "127.0.0.1");
await once(server, "listening");

const spec = join(dirname(fileURLToPath(import.meta.resolve("ndpack/package.json"))), "spec", "python");
const producer = spawn("python3", [fileURLToPath(new URL("stream-frames.py", import.meta.url)), String(server.address().port)], {
  stdio: "inherit",
  env: { ...process.env, PYTHONPATH: spec }, // the ndpack package from this repository
});
await once(server, "close");
console.log(frames.map(({ frame, image, mean }) => `${frame}: ${image.shape.join("x")} ${image.dtype}, mean ${mean}`).join("\n"));

// Checks (not in the README).
const [code] = await once(producer, "exit");
assert.equal(code, 0);
assert.equal(frames.length, 10);
for (const [t, { frame, image, mean }] of frames.entries()) {
  assert.equal(frame, t);
  assert.deepEqual(image.shape, [48, 64, 3]);
  assert.ok(image.data.every((v) => v === t * 10));
  assert.equal(mean, t * 10);
}
console.log("stream-frames: ok");
