/**
 * HTTP headers as the caller gives them (a review of this stop's change): each request reads them
 * afresh, so a token refreshed in the object reaches the reads after it, as before headers were
 * checked at open; a record, pairs and a Headers object all reach the server. A source's read
 * checks its signal.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { encode } from "../src/index.js";
import { httpSource, openUrl } from "../src/http.js";

const file = encode({ a: new Float32Array(70_000).fill(1.5), b: new Int32Array(8).fill(3) });
const seen: (string | undefined)[] = [];
const server = createServer((request, response) => {
  seen.push(request.headers.authorization);
  const match = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? "")!;
  const start = Number(match[1]);
  const end = Math.min(Number(match[2]), file.length - 1);
  response.writeHead(206, { "content-range": `bytes ${start}-${end}/${file.length}`, "content-length": end - start + 1, etag: '"v1"' }).end(file.subarray(start, end + 1));
});
let url = "";
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/f.ndp`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

test.each([
  ["a record", () => ({ authorization: "Bearer old" }) as Record<string, string>, (h: Record<string, string>) => (h.authorization = "Bearer new")],
  ["a Headers object", () => new Headers({ authorization: "Bearer old" }), (h: Headers) => h.set("authorization", "Bearer new")],
] as const)("headers given as %s: a token changed after open reaches the next request", async (_kind, make, refresh) => {
  const headers = make();
  await using reader = await openUrl(url, { headers: headers as never, retries: 0 });
  seen.length = 0;
  await reader.read("b");
  refresh(headers as never);
  await reader.read("a");
  expect(seen).toEqual(["Bearer old", "Bearer new"]);
});

test("pairs reach every request, and a source's own reads too", async () => {
  const source = await httpSource(url, { headers: [["authorization", "Bearer pairs"]], retries: 0 });
  seen.length = 0;
  await source.read(70_000, 100);
  expect(seen).toEqual(["Bearer pairs"]);
  // A signal that is not one: INVALID_ARGUMENT, not a TypeError from inside the request.
  await expect(source.read(0, 10, { signal: 5 as never })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", field: "signal" });
  await source.close?.();
});

test("a URL with a user name or password: INVALID_ARGUMENT at once, no request (fetch refuses such URLs, so retries were sent in vain), and no error repeats the password", async () => {
  const { open } = await import("../src/node/index.js");
  let requests = 0;
  const counted: typeof fetch = (...args) => {
    requests++;
    return fetch(...args);
  };
  const withUser = (path: string, user: string) => url.replace("/f.ndp", path).replace("http://", `http://${user}@`);
  for (const target of [withUser("/f.ndp?token=abc", "alice:s3cret"), withUser("/f.ndp", "alice"), withUser("/model.ndp.index.json", "alice:s3cret")]) {
    for (const run of [() => openUrl(target, { fetch: counted }), () => open(target, { fetch: counted } as never), () => httpSource(target, { fetch: counted })]) {
      let caught: unknown;
      try {
        await run();
      } catch (error) {
        caught = error;
      }
      expect(caught, target).toMatchObject({ code: "INVALID_ARGUMENT", field: "url" });
      const text = JSON.stringify({ ...(caught as object), message: (caught as Error).message });
      expect(text).not.toMatch(/alice|s3cret|token/);
      expect((caught as Error).message).toContain(url.replace("/f.ndp", target.includes("index") ? "/model.ndp.index.json" : "/f.ndp"));
    }
  }
  expect(requests).toBe(0);
});
