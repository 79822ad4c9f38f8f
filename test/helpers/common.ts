/** Helpers every kind of test uses. */
import { expect } from "vitest";
import { NdpackError } from "../../src/errors.js";

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function noise(length: number, seed = 0x9e3779b9): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

/** The NdpackError code `run` throws (failing the test on any other exception), or `undefined` when it returns. */
export function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(NdpackError);
    return (error as NdpackError).code;
  }
  return undefined;
}

/** {@link codeOf} for async work: the NdpackError code `run` rejects with, or `undefined` when it resolves. */
export async function codeOfAsync(run: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(NdpackError);
    return (error as NdpackError).code;
  }
  return undefined;
}

/** Runs `run`, requires an NdpackError with `code` (anything else thrown fails the test), returns it. */
export function failure(run: () => unknown, code: string): NdpackError {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) expect.fail(`expected ${code}, but nothing was thrown`);
  if (!(thrown instanceof NdpackError)) throw thrown;
  expect(thrown.code, thrown.message).toBe(code);
  return thrown;
}

/** {@link failure} for async work: awaits `run`, requires an NdpackError with `code`, returns it. */
export async function failureAsync(run: () => Promise<unknown>, code: string): Promise<NdpackError> {
  let thrown: unknown;
  try {
    await run();
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) expect.fail(`expected ${code}, but nothing was thrown`);
  if (!(thrown instanceof NdpackError)) throw thrown;
  expect(thrown.code, thrown.message).toBe(code);
  return thrown;
}

/** Requires `run` to throw an NdpackError with `code` (and a message matching `message`, when given). */
export function expectCode(run: () => unknown, code: string, message?: RegExp): void {
  const error = failure(run, code);
  if (message) expect(error.message).toMatch(message);
}
