// Recipe: read one array, some rows and a few small arrays of a remote .ndp file, each with one
// HTTP Range request, CRC checked. Run: node remote-ndpack.mjs URL
import assert from "node:assert/strict";

import { open } from "ndpack/node";

const url = process.argv[2]; // any HTTP(S) server that answers Range requests: nginx, S3, a CDN

// open() takes URLs as well as paths; openUrl (from "ndpack/http") is the same in browsers.
const headers = process.env.TOKEN ? { authorization: `Bearer ${process.env.TOKEN}` } : {};
const file = await open(url, { headers, retries: 3, timeout: 30_000 });
const frame = await file.readRows("frames", 10, 11);                 // frame 10 alone: one request of 256 KiB
const { timestamps, labels } = Object.fromEntries(await file.readMany(["timestamps", "labels"])); // neighbours: one request
console.log(frame.shape, timestamps.data[30], labels.data[3]);
console.log(`read ${file.bytesRead} of ${file.byteLength} bytes in ${file.readCount} requests`);
await file.close();

// Checks (not in the README).
assert.deepEqual(frame.shape, [1, 256, 256]);
assert.equal(frame.data[0], 10);
assert.equal(timestamps.data[30], 1);
assert.equal(labels.data[3], 3);
assert.equal(file.readCount, 3);
assert.ok(file.bytesRead < 64 * 1024 + 256 * 1024 + 4096);
console.log("remote-ndpack: ok");
