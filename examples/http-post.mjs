// Recipe: POST several arrays in one request with fetch, and decode them on a node:http server as
// they arrive. Both sides stream: neither gathers the whole body in memory.
import assert from "node:assert/strict";

import { createServer } from "node:http";
import { isNdpackError } from "ndpack";
import { decodeStream, encodeStream } from "ndpack/streams";

const server = createServer(async (request, response) => {
  try {
    const sums = {};
    for await (const array of decodeStream(request)) {   // each array once its bytes (and CRC) are in
      sums[array.name] = array.data.reduce((a, b) => a + b, 0);
    }
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(sums));
  } catch (error) {
    response.writeHead(400).end(isNdpackError(error) ? error.code : "bad request");
  }
});
await new Promise((resolve) => server.listen(0, resolve));

const response = await fetch(`http://localhost:${server.address().port}/arrays`, {
  method: "POST",
  headers: { "content-type": "application/x-ndpack" },
  body: encodeStream({ x: new Float32Array([1, 2, 3]), y: { data: new Float64Array([0.5, 0.25, 1, 1]), shape: [2, 2] } }),
  duplex: "half",
});
const sums = await response.json();                        // { x: 6, y: 2.75 }
server.close();

// Checks (not in the README).
assert.equal(response.status, 200);
assert.deepEqual(sums, { x: 6, y: 2.75 });
console.log("http-post: ok");
