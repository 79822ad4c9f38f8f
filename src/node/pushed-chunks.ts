/**
 * The hand-over between `createWriter`'s caller, who pushes an array's bytes, and the runner of the
 * plan (`write-steps.ts`), which pulls them as an array's chunks: each push waits until the runner
 * is done with its bytes, which is the writer's back-pressure and lets the caller reuse them.
 *
 * @module
 */
/** The two ends of a promise someone awaits. */
export interface Settlers<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
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
  /** A piece offered before the runner asked for it (`piece: undefined` ends the array), and its caller. */
  #offered: { readonly piece: Uint8Array | undefined; readonly caller: Settlers<void> | undefined } | undefined;
  /** The runner, waiting for a piece. */
  #waiting: Settlers<Uint8Array | undefined> | undefined;
  /** The caller of the piece the runner holds, waiting until the runner asks for the next one. */
  #held: Settlers<void> | undefined;
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
    this.#give(undefined, undefined);
  }

  /** Stops both sides: a push waiting for the runner, and the runner waiting for a push, reject with `error`. */
  fail(error: unknown): void {
    this.#failure ??= { error };
    for (const waiter of [this.#waiting, this.#held, this.#offered?.caller]) waiter?.reject(error);
    this.#waiting = this.#held = this.#offered = undefined;
  }

  #give(piece: Uint8Array | undefined, caller: Settlers<void> | undefined): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting === undefined) {
      this.#offered = { piece, caller };
    } else {
      this.#held = caller;
      waiting.resolve(piece);
    }
  }

  #offer(piece: Uint8Array): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure.error);
    return new Promise<void>((resolve, reject) => this.#give(piece, { resolve, reject }));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Uint8Array, undefined>> {
    if (!this.#started) {
      this.#started = true;
      await this.#asked();
    }
    // Asking for the next piece says the one held is done with.
    this.#held?.resolve();
    this.#held = undefined;
    if (this.#failure !== undefined) throw this.#failure.error;
    let piece: Uint8Array | undefined;
    const offered = this.#offered;
    if (offered !== undefined) {
      this.#offered = undefined;
      this.#held = offered.caller;
      piece = offered.piece;
    } else {
      piece = await new Promise<Uint8Array | undefined>((resolve, reject) => (this.#waiting = { resolve, reject }));
    }
    return piece === undefined ? { done: true, value: undefined } : { done: false, value: piece };
  }
}
