/**
 * ndpack over a real HTTP connection on loopback: request and response bodies produced by
 * encodeStream / createWriter and consumed by decodeStream as they arrive.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { encode, isNdpackError, type NdArray } from "../src/index.js";
import { decodeStream, encodeStream } from "../src/streams.js";
import { createWriter } from "../src/node/index.js";
import { expectBytes, values } from "./helpers/node-files.js";

const ROWS = 512;
const COLS = 1024;

/** The arrays the client sends: about 6 MiB, values the server can recompute. */
function clientArrays() {
  const image = new Float32Array(ROWS * COLS);
  for (let i = 0; i < image.length; i++) image[i] = (i % 977) / 8;
  return {
    image: { data: image, shape: [ROWS, COLS] },
    ids: BigInt64Array.from({ length: 1000 }, (_, i) => BigInt(i) * 1_000_000_007n),
    flags: { data: Uint8Array.from({ length: 333 }, (_, i) => i % 2), dtype: "bool" as const },
  };
}

/** What the server checks: every array equals what the client was supposed to send. */
function check(arrays: readonly NdArray[]): { ok: boolean; sums: Float64Array } {
  const expected = clientArrays();
  const image = arrays.find((a) => a.name === "image");
  const ids = arrays.find((a) => a.name === "ids");
  const flags = arrays.find((a) => a.name === "flags");
  const ok =
    image !== undefined &&
    Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength).equals(Buffer.from(expected.image.data.buffer)) &&
    ids !== undefined &&
    (ids.data as BigInt64Array).every((v, i) => v === expected.ids[i]) &&
    flags !== undefined &&
    flags.dtype === "bool" &&
    (flags.data as Uint8Array).every((v, i) => v === expected.flags.data[i]);
  const sums = new Float64Array(arrays.map((a) => (a.dtype === "int64" ? 0 : Array.from(a.data as ArrayLike<number>).reduce((s, v) => s + v, 0))));
  return { ok, sums };
}

/** Reads the request's arrays as they arrive, then answers with arrays of its own (streamed with encodeStream, or written row by row with createWriter). */
async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const arrays: NdArray[] = [];
  const incoming = decodeStream(request);
  try {
    const header = await incoming.header();
    if (header.names.join() !== "image,ids,flags") throw new Error(`unexpected arrays ${header.names.join()}`);
    for await (const array of incoming) arrays.push(array);
  } catch (error) {
    response.writeHead(400, { "content-type": "text/plain" }).end(isNdpackError(error) ? error.code : String(error));
    return;
  }
  const { ok, sums } = check(arrays);
  response.writeHead(200, { "content-type": "application/x-ndpack" });
  if (request.url === "/rows") {
    // Row by row, from the request's own image, negated.
    const image = arrays[0]!.data as Float32Array;
    const writer = await createWriter(response, [
      { name: "negated", dtype: "float32", shape: [ROWS, COLS] },
      { name: "ok", dtype: "bool", shape: [] },
    ]);
    const row = new Float32Array(COLS);
    for (let r = 0; r < ROWS; r++) {
      for (let c = 0; c < COLS; c++) row[c] = -image[r * COLS + c]!;
      await writer.write("negated", row);
    }
    await writer.write("ok", Uint8Array.of(ok ? 1 : 0));
    await writer.close();
  } else {
    Readable.fromWeb(encodeStream({ sums, ok: { data: Uint8Array.of(ok ? 1 : 0), dtype: "bool" } }, { metadata: { received: arrays.map((a) => a.name) } }) as never).pipe(response);
  }
}

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => response.destroy(error as Error));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function collect(stream: ReturnType<typeof decodeStream>): Promise<Map<string, NdArray>> {
  const out = new Map<string, NdArray>();
  for await (const array of stream) out.set(array.name, array);
  return out;
}

describe("over node:http on loopback", () => {
  test("fetch POSTs arrays from encodeStream; the server decodes, checks and answers with encodeStream", async () => {
    const response = await fetch(`${base}/sums`, {
      method: "POST",
      body: encodeStream(clientArrays(), { chunkBytes: 64 * 1024 }),
      duplex: "half",
      headers: { "content-type": "application/x-ndpack" },
    } as RequestInit);
    expect(response.status).toBe(200);
    const answer = decodeStream(response.body!);
    expect((await answer.header()).metadata).toEqual({ received: ["image", "ids", "flags"] });
    const arrays = await collect(answer);
    expect(values(arrays.get("ok")!.data)).toEqual([1]);
    const expectedImageSum = clientArrays().image.data.reduce((s, v) => s + v, 0);
    expect(values(arrays.get("sums")!.data)).toEqual([expectedImageSum, 0, 166]);
  });

  test("http.request sends rows with createWriter; the server answers row by row with createWriter", async () => {
    const { image } = clientArrays();
    const answer = await new Promise<Map<string, NdArray>>((resolve, reject) => {
      const req = request(`${base}/rows`, { method: "POST", headers: { "content-type": "application/x-ndpack" } }, (res) => {
        expect(res.statusCode).toBe(200);
        collect(decodeStream(res)).then(resolve, reject);
      });
      req.on("error", reject);
      (async () => {
        const arrays = clientArrays();
        const writer = await createWriter(req, [
          { name: "image", dtype: "float32", shape: [ROWS, COLS] },
          { name: "ids", dtype: "int64", shape: [1000] },
          { name: "flags", dtype: "bool", shape: [333] },
        ]);
        for (let r = 0; r < ROWS; r++) await writer.write("image", image.data.subarray(r * COLS, (r + 1) * COLS));
        await writer.write("ids", arrays.ids);
        await writer.write("flags", arrays.flags.data);
        await writer.close();
      })().catch(reject);
    });
    expect(values(answer.get("ok")!.data)).toEqual([1]);
    const negated = answer.get("negated")!;
    expect(negated.shape).toEqual([ROWS, COLS]);
    expectBytes(negated.data, image.data.map((v) => -v));
  });

  test("a damaged body is refused by the server with the code decodeStream reports", async () => {
    const bytes = encode(clientArrays());
    bytes[bytes.length - 100]! ^= 1; // inside the last payload
    const response = await fetch(`${base}/sums`, { method: "POST", body: bytes as unknown as BodyInit });
    expect(response.status).toBe(400);
    expect(await response.text()).toBe("CHECKSUM");
    const truncated = await fetch(`${base}/sums`, { method: "POST", body: encode(clientArrays()).subarray(0, 5000) as unknown as BodyInit });
    expect(await truncated.text()).toBe("TRUNCATED");
  });
});
