/**
 * The calls of a push writer (`createWriter`, `createSetWriter`): they run one after another, in
 * the order they were made, so they may be issued without waiting; the first failure aborts the
 * writer for good, and every call after it rejects with that failure; once closed, calls reject
 * with CLOSED.
 *
 * @module
 */
import { NdpackError, withPath } from "../errors.js";

/** One writer's queue of calls, and whether it is open, closed or failed. */
export class WriterCalls {
  readonly #what: string;
  readonly #path: string | undefined;
  readonly #abort: (error: unknown) => Promise<void>;
  #queue: Promise<unknown> = Promise.resolve();
  #state: "open" | "closed" | "failed" = "open";
  #failure: unknown;
  #aborted: Promise<void> = Promise.resolve();
  #closed: Promise<unknown> | undefined;
  /** The operation running (or the last one run): what an abort waits for before it removes files. */
  #running: Promise<unknown> = Promise.resolve();

  /**
   * `what` names the writer in CLOSED errors ("the writer"); `path`, when given, is set on every
   * error the calls raise that has none; `abort` undoes what the writer did (removes its files,
   * destroys its stream), once, with the first failure.
   */
  constructor(what: string, path: string | undefined, abort: (error: unknown) => Promise<void>) {
    this.#what = what;
    this.#path = path;
    this.#abort = abort;
  }

  /** True once the writer has failed or was aborted (a method: the state changes while an operation awaits). */
  #failed(): boolean {
    return this.#state === "failed";
  }

  /** True until the writer is closed or has failed. */
  get open(): boolean {
    return this.#state === "open";
  }

  /**
   * Runs `operation` after every earlier call; an error aborts the writer, and is what this and
   * every later call reject with. An operation that ends after the writer was aborted meanwhile
   * rejects too (with the abort's reason): what it wrote is being removed.
   */
  run<T>(operation: () => Promise<T>): Promise<T> {
    const run = async () => {
      if (this.#state === "failed") throw this.#failure;
      if (this.#state === "closed") throw new NdpackError("CLOSED", `${this.#what} is closed`, this.#path === undefined ? {} : { path: this.#path });
      try {
        const running = operation();
        this.#running = running;
        const value = await running;
        if (this.#failed()) throw this.#failure;
        return value;
      } catch (error) {
        // After an abort, what fails in flight is its consequence: report the abort's reason.
        await this.fail(error);
        throw withPath(this.#failure, this.#path);
      }
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** Runs `operation` as {@link run} does, and closes the writer once it succeeded; called again after that, gives the same result. */
  close<T>(operation: () => Promise<T>): Promise<T> {
    // Once asked (done or in flight), the one close's result: a second close made before the first ended must not fail it.
    if (this.#closed !== undefined) return this.#closed as Promise<T>;
    const result = this.run(async () => {
      const value = await operation();
      // Closed, even when an abort came while it ran: the file is in place, which the abort then leaves.
      this.#state = "closed";
      return value;
    });
    this.#closed = result;
    return result;
  }

  /** Resolves once the operation running now, if any, has ended (however it ends). */
  settled(): Promise<void> {
    return this.#running.then(
      () => undefined,
      () => undefined,
    );
  }

  /** Aborts the writer with `error` unless it is closed or already failed; resolves once the abort (begun by whichever call failed first) is done. */
  fail(error: unknown): Promise<void> {
    if (this.#state === "open") {
      this.#state = "failed";
      this.#failure = error;
      this.#aborted = this.#abort(error);
    }
    return this.#aborted;
  }
}
