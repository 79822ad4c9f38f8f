/**
 * The hand-over between `createWriter`'s caller, who pushes an array's bytes, and the runner of the
 * plan (`write-steps.ts`), which pulls them as an array's chunks: each push waits until the runner
 * is done with its bytes, which is the writer's back-pressure and lets the caller reuse them.
 *
 * @module
 */
/** The two ends of a promise someone awaits. */
interface Settlers<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** A promise settled from outside. */
export interface Settable<T> extends Settlers<T> {
  readonly promise: Promise<T>;
}

/** A promise settled from outside; a rejection nobody awaits is not reported as unhandled. */
export function settable<T>(): Settable<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * One array's bytes as the caller pushes them, pulled by the runner of the plan one piece at a
 * time, in whole words (a word split between two pushes is carried over in a copy), as the
 * runner's chunks must be. A push resolves once the runner is done with its bytes (it asked for
 * the next piece), so that the caller may reuse them. An async iterator written out rather than
 * an async generator: one promise per piece (createWriter's small writes).
 */
export class PushedChunks implements AsyncIterableIterator<Uint8Array> {
  readonly #carry: Uint8Array;
  #carried = 0;
  /** Called when the runner first asks for a piece. */
  readonly #asked: () => Promise<void>;
  #started = false;
  /** A piece offered before the runner asked for it (`piece: undefined` ends the array). */
  #offered: { readonly piece: Uint8Array | undefined } | undefined;
  /** The runner, waiting for a piece. */
  #waiting: Settlers<Uint8Array | undefined> | undefined;
  /** The caller, waiting for the runner to be done with the piece it offered. */
  #offering: Settlers<void> | undefined;
  #failure: { readonly error: unknown } | undefined;

  constructor(wordSize: number, asked: () => Promise<void>) {
    this.#carry = new Uint8Array(wordSize);
    this.#asked = asked;
  }

  async push(bytes: Uint8Array): Promise<void> {
    const wordSize = this.#carry.length;
    let at = 0;
    if (this.#carried > 0) {
      at = Math.min(wordSize - this.#carried, bytes.length);
      this.#carry.set(bytes.subarray(0, at), this.#carried);
      this.#carried += at;
      if (this.#carried < wordSize) return;
      this.#carried = 0;
      await this.#offer(this.#carry.slice());
    }
    const whole = at + Math.floor((bytes.length - at) / wordSize) * wordSize;
    if (whole > at) await this.#offer(bytes.subarray(at, whole));
    this.#carry.set(bytes.subarray(whole));
    this.#carried = bytes.length - whole;
  }

  /** The array is complete: the runner's next ask ends it. */
  end(): void {
    this.#give(undefined);
  }

  /** Stops both sides: a push waiting for the runner, and the runner waiting for a push, reject with `error`. */
  fail(error: unknown): void {
    this.#failure ??= { error };
    this.#waiting?.reject(error);
    this.#offering?.reject(error);
    this.#waiting = this.#offering = undefined;
  }

  #give(piece: Uint8Array | undefined): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting === undefined) this.#offered = { piece };
    else waiting.resolve(piece);
  }

  #offer(piece: Uint8Array): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure.error);
    return new Promise<void>((resolve, reject) => {
      this.#offering = { resolve, reject };
      this.#give(piece);
    });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Uint8Array, undefined>> {
    if (!this.#started) {
      this.#started = true;
      await this.#asked();
    }
    // Asking for the next piece says the last one is done with.
    this.#offering?.resolve();
    this.#offering = undefined;
    if (this.#failure !== undefined) throw this.#failure.error;
    let piece: Uint8Array | undefined;
    if (this.#offered !== undefined) {
      piece = this.#offered.piece;
      this.#offered = undefined;
    } else {
      piece = await new Promise<Uint8Array | undefined>((resolve, reject) => (this.#waiting = { resolve, reject }));
    }
    return piece === undefined ? { done: true, value: undefined } : { done: false, value: piece };
  }
}
