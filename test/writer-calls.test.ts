// The calls of createWriter and createSetWriter (src/node/writer-calls.ts): in order, the first
// failure aborts once and is what every later call rejects with, CLOSED after close, and no call
// reports a failure before the abort it began (or found begun) is done.
import { describe, expect, test } from "vitest";
import { NdpackError } from "../src/index.js";
import { WriterCalls } from "../src/node/writer-calls.js";

const later = () => new Promise((resolve) => setTimeout(resolve, 5));

describe("WriterCalls", () => {
  test("calls run one after another, in the order they were made", async () => {
    const calls = new WriterCalls("the writer", undefined, async () => undefined);
    const order: string[] = [];
    await Promise.all([
      calls.run(async () => {
        await later();
        order.push("first");
      }),
      calls.run(async () => {
        order.push("second");
      }),
    ]);
    expect(order).toEqual(["first", "second"]);
  });

  test("the first failure aborts once, with the path set; every later call rejects with it", async () => {
    const aborted: unknown[] = [];
    const calls = new WriterCalls("the writer", "/tmp/x.ndp", async (error) => {
      aborted.push(error);
    });
    const failure = new NdpackError("WRITE_SIZE", "too many bytes");
    await expect(calls.run(async () => Promise.reject(failure))).rejects.toBe(failure);
    expect(failure.path).toBe("/tmp/x.ndp");
    await expect(calls.run(async () => "never")).rejects.toBe(failure);
    await expect(calls.close(async () => "never")).rejects.toBe(failure);
    await calls.fail(new Error("another"));
    expect(aborted).toEqual([failure]);
    expect(calls.open).toBe(false);
  });

  test("a call that fails while an abort is under way rejects, with the first failure, only once that abort is done", async () => {
    let release!: () => void;
    let finished = false;
    const calls = new WriterCalls("the writer", undefined, async () => {
      await new Promise<void>((resolve) => (release = resolve));
      finished = true;
    });
    let failInside!: (error: unknown) => void;
    // A write waiting on the runner, when the runner fails in the background.
    const inFlight = calls.run(() => new Promise((_, reject) => (failInside = reject)));
    await later();
    const first = new Error("the runner failed");
    const aborting = calls.fail(first);
    failInside(new Error("the write's consequence of it"));
    let settled = false;
    inFlight.catch(() => (settled = true));
    await later();
    expect(settled).toBe(false);
    release();
    await expect(inFlight).rejects.toBe(first);
    expect(finished).toBe(true);
    await aborting;
  });

  test("after close: CLOSED for every call, and close again gives the same result", async () => {
    const calls = new WriterCalls("the set writer", undefined, async () => undefined);
    const result = await calls.close(async () => ({ shards: 2 }));
    expect(await calls.close(async () => ({ shards: 0 }))).toBe(result);
    const error = await calls.run(async () => "never").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NdpackError);
    expect((error as NdpackError).code).toBe("CLOSED");
    expect((error as NdpackError).message).toBe("the set writer is closed");
    expect(calls.open).toBe(false);
  });
});
