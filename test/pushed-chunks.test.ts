// createWriter's hand-over (src/node/pushed-chunks.ts): a push resolves only once the runner is done
// with its bytes (it asked for the next piece), whether the runner asked before or after the push;
// pieces are whole words; a failure stops both sides.
import { describe, expect, test } from "vitest";
import { NdpackError } from "../src/index.js";
import { PushedChunks } from "../src/node/pushed-chunks.js";

/** Lets every pending promise callback run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A push, and whether it has resolved. */
function tracked(chunks: PushedChunks, bytes: Uint8Array) {
  const state = { done: false, promise: undefined as unknown as Promise<void> };
  state.promise = chunks.push(bytes).then(() => {
    state.done = true;
  });
  return state;
}

describe("PushedChunks", () => {
  test("a piece pushed before the runner asks is held until the runner asks for the next one", async () => {
    let asked = 0;
    const chunks = new PushedChunks(1, async () => {
      asked++;
    });
    const first = tracked(chunks, Uint8Array.of(1, 2, 3));
    await settle();
    expect(first.done).toBe(false);
    expect(await chunks.next()).toEqual({ done: false, value: Uint8Array.of(1, 2, 3) });
    expect(asked).toBe(1);
    await settle();
    expect(first.done).toBe(false); // the runner holds it
    const next = chunks.next();
    await first.promise; // asking for the next piece released it
    const second = tracked(chunks, Uint8Array.of(4));
    expect(await next).toEqual({ done: false, value: Uint8Array.of(4) });
    await settle();
    expect(second.done).toBe(false);
    const end = chunks.next();
    await second.promise;
    chunks.end();
    expect(await end).toEqual({ done: true, value: undefined });
    expect(asked).toBe(1);
  });

  test("a piece pushed while the runner waits is held the same way", async () => {
    const chunks = new PushedChunks(1, async () => undefined);
    const asking = chunks.next();
    await settle();
    const pushed = tracked(chunks, Uint8Array.of(9));
    expect(await asking).toEqual({ done: false, value: Uint8Array.of(9) });
    await settle();
    expect(pushed.done).toBe(false);
    chunks.end();
    expect(await chunks.next()).toEqual({ done: true, value: undefined });
    await pushed.promise;
  });

  test("pieces are whole words: a word split between pushes is carried over in a copy", async () => {
    const chunks = new PushedChunks(4, async () => undefined);
    const pieces: number[][] = [];
    const reading = (async () => {
      for await (const piece of chunks) pieces.push([...piece]);
    })();
    const buffer = new Uint8Array(6);
    for (const part of [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10, 11, 12]]) {
      buffer.set(part);
      await chunks.push(buffer.subarray(0, part.length));
      buffer.fill(0xee); // reused once the push resolved
    }
    chunks.end();
    await reading;
    expect(pieces).toEqual([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]);
  });

  test("fail() rejects the push waiting for the runner, the runner waiting for a push, and every later push", async () => {
    const reason = new NdpackError("CLOSED", "the writer was aborted");
    const held = new PushedChunks(1, async () => undefined);
    const push = held.push(Uint8Array.of(1));
    await held.next();
    held.fail(reason);
    await expect(push).rejects.toBe(reason);
    await expect(held.push(Uint8Array.of(2))).rejects.toBe(reason);
    await expect(held.next()).rejects.toBe(reason);

    const waiting = new PushedChunks(1, async () => undefined);
    const asking = waiting.next();
    await settle();
    waiting.fail(reason);
    await expect(asking).rejects.toBe(reason);

    const offered = new PushedChunks(1, async () => undefined);
    const early = offered.push(Uint8Array.of(3));
    offered.fail(reason);
    await expect(early).rejects.toBe(reason);
  });
});
