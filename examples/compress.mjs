// Recipe: compress. Per file or per array: "deflate", or "shuffle+deflate", which groups the
// bytes of numbers by position first and usually compresses numeric data much better.
import assert from "node:assert/strict";

import { decode, encode } from "ndpack";

const smooth = Float32Array.from({ length: 1 << 18 }, (_, i) => Math.sin(i / 1000));
const plain = encode({ smooth });
const deflated = encode({ smooth }, { codec: "deflate" });
const shuffled = encode({ smooth }, { codec: "shuffle+deflate", compressionLevel: 9 });
const mixed = encode({ smooth: { data: smooth, codec: "shuffle+deflate" }, ids: new Int32Array([1, 2, 3]) });
console.log(plain.length, deflated.length, shuffled.length, mixed.length);

const back = decode(shuffled).get("smooth");  // decompressed into fresh memory (copied: true)

// Checks (not in the README).
assert.ok(shuffled.length < deflated.length && deflated.length < plain.length);
assert.equal(back.copied, true);
assert.deepEqual(back.data, smooth);
assert.equal(decode(mixed).info("ids").codec, "none");
console.log("compress: ok");
