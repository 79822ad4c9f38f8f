/**
 * The consuming end of a message stream (FORMAT.md §11) over a TCP connection that Node opens:
 * {@link connectMessages}. The socket is made with Node's `onread` option, which has the operating
 * system write each read into memory the reader names: a large payload is read straight into the
 * array handed out (its CRC computed on each piece as it lands, still in the CPU's cache), where
 * reading a socket's `data` chunks copies every byte once more. `onread` exists only for sockets
 * that Node creates with `net.connect` (not for those a server accepts), so this is a function of
 * its own; `decodeMessages` reads any socket.
 *
 * @module
 */
import { connect, type NetConnectOpts, type Socket } from "node:net";
import { NdpackError } from "../errors.js";
import { decodeMessages, type DecodeMessagesOptions, type NdpackMessageReader } from "../messages.js";
import type { LandingSource } from "../stream.js";

/** Bytes of each read that lands outside a payload (headers, small arrays), as Node reads a socket by default. */
const READ_BYTES = 64 * 1024;

/** Reads stop while this many of them wait to be read (the reader is slower than the peer): the socket's own back-pressure. */
const QUEUED_READS = 4;

/** A connection and the messages that arrive on it; see {@link connectMessages}. */
export interface MessageConnection {
  /** The connection: write to it (answers to the peer), end or destroy it. It emits no 'data': its bytes go to `messages`. */
  readonly socket: Socket;
  /** The messages that arrive on `socket`, read as with `decodeMessages`. */
  readonly messages: NdpackMessageReader;
}

/**
 * The socket's bytes for the {@link ChunkReader}: queued reads, handed out as chunks, and
 * {@link LandingSource.fill}, which names the target of the socket's next reads. The socket picks
 * the memory of a read when the read before it ends (`onread.buffer`), so the first read after a
 * `fill` lands in a chunk of its own and is copied; every read after it lands in the target.
 */
class SocketLanding implements LandingSource {
  socket!: Socket;
  /**
   * Read memory whose bytes have all been taken, for the next reads: a read takes READ_BYTES
   * whatever it gets (often a few KiB), so fresh memory per read would zero and collect far more
   * than the bytes that arrive.
   */
  readonly #spare: Uint8Array[] = [];
  /** The chunk `next` handed out last: the reader asks for the next one only once it has taken all of it. */
  #handedOut: Uint8Array | undefined;
  /** Reads that arrived and have not been handed out. */
  readonly #queue: Uint8Array[] = [];
  /** The memory of the socket's next read. */
  #armed: Uint8Array = new Uint8Array(0);
  /** True when `#armed` is the rest of `#target`. */
  #armedInTarget = false;
  /** The target of the `fill` in progress, how much of it is filled, and its `landed`. */
  #target: Uint8Array | undefined;
  #filled = 0;
  #landed: ((piece: Uint8Array) => void) | undefined;
  #ended = false;
  #failure: unknown;
  /** Wakes the `next` or `fill` waiting for bytes. */
  #wake: (() => void) | undefined;
  #paused = false;

  /** `onread.buffer`: where the next read lands (called once the read before it has been handed to `callback`). */
  readonly buffer = (): Uint8Array => {
    const target = this.#target;
    this.#armedInTarget = target !== undefined && this.#filled < target.length;
    this.#armed = this.#armedInTarget ? target!.subarray(this.#filled) : (this.#spare.pop() ?? new Uint8Array(READ_BYTES));
    return this.#armed;
  };

  /** `onread.callback`: `length` bytes have landed in `memory`; false stops reading. */
  readonly callback = (length: number, memory: Uint8Array): boolean => {
    const target = this.#target;
    if (target !== undefined && this.#armedInTarget && memory === this.#armed) {
      this.#filled += length;
      this.#landed?.(memory.subarray(0, length));
    } else {
      // A read armed before the `fill`: its bytes go to the target, the rest waits.
      const chunk = target === undefined ? memory.subarray(0, length) : this.#copyToTarget(memory.subarray(0, length));
      if (chunk.length > 0) this.#queue.push(chunk);
      else this.#recycle(memory);
    }
    if (target === undefined || this.#filled === target.length) this.#wakeUp();
    this.#paused = this.#queue.length >= QUEUED_READS;
    return !this.#paused;
  };

  attach(socket: Socket): void {
    this.socket = socket;
    socket.on("end", () => {
      this.#ended = true;
      this.#wakeUp();
    });
    socket.on("error", (error: unknown) => {
      this.#failure ??= error;
      this.#wakeUp();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wakeUp();
    });
    // Flowing, so that the end of the connection is reported ('end'); no 'data' is emitted.
    socket.resume();
  }

  /** Copies what fits of `chunk` into the target of the `fill` in progress, after what is filled; returns the rest of `chunk`. */
  #copyToTarget(chunk: Uint8Array): Uint8Array {
    const target = this.#target!;
    const n = Math.min(chunk.length, target.length - this.#filled);
    const piece = target.subarray(this.#filled, this.#filled + n);
    piece.set(chunk.subarray(0, n));
    this.#filled += n;
    this.#landed?.(piece);
    return chunk.subarray(n);
  }

  /** Keeps the memory of a read whose bytes have all been taken (a chunk is a view of one from its start). */
  #recycle(chunk: Uint8Array): void {
    if (this.#spare.length < QUEUED_READS) this.#spare.push(new Uint8Array(chunk.buffer, 0, READ_BYTES));
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Restarts reading if a full queue had stopped it. */
  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.socket.resume();
  }

  /** Waits for the next read, the end or a failure. */
  #arrival(): Promise<void> {
    this.#resume();
    return new Promise((resolve) => (this.#wake = resolve));
  }

  async next(): Promise<IteratorResult<Uint8Array>> {
    while (this.#queue.length === 0) {
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#ended) return { done: true, value: undefined };
      await this.#arrival();
    }
    if (this.#handedOut !== undefined) this.#recycle(this.#handedOut);
    const chunk = this.#queue.shift()!;
    this.#handedOut = chunk;
    this.#resume();
    return { done: false, value: chunk };
  }

  async fill(target: Uint8Array, landed?: (piece: Uint8Array) => void): Promise<number> {
    this.#target = target;
    this.#filled = 0;
    this.#landed = landed;
    try {
      // Reads already queued come first, copied.
      while (this.#filled < target.length && this.#queue.length > 0) {
        const rest = this.#copyToTarget(this.#queue[0]!);
        if (rest.length === 0) this.#recycle(this.#queue.shift()!);
        else this.#queue[0] = rest;
      }
      if (this.#filled === target.length) return this.#filled;
      while (this.#filled < target.length && this.#failure === undefined && !this.#ended) await this.#arrival();
      if (this.#failure !== undefined) throw this.#failure;
      return this.#filled;
    } finally {
      this.#target = undefined;
      this.#landed = undefined;
    }
  }

  async return(): Promise<IteratorResult<Uint8Array>> {
    this.#ended = true;
    this.socket.destroy();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * Connects to a message producer over TCP (or a Unix socket: `net.connect`'s options) and reads
 * its messages as {@link decodeMessages} does, with the same options, limits and errors. Each
 * large payload is read by the operating system straight into the array handed out, without the
 * copy out of the socket's chunks that reading a socket otherwise takes: about half of what the
 * reading end spends per byte without checksums. The socket is returned too, for answers to the
 * peer; it emits no 'data' events (its bytes go to the messages). Breaking out of the loop over
 * the messages destroys it.
 *
 * @example
 * ```ts
 * import { connectMessages } from "ndpack/node";
 *
 * const { socket, messages } = connectMessages({ host: "127.0.0.1", port: 5555 });
 * for await (const message of messages) {
 *   const arrays = await message.readAll();
 *   socket.write("ok\n");
 * }
 * ```
 */
export function connectMessages(connectOptions: NetConnectOpts, options: DecodeMessagesOptions = {}): MessageConnection {
  const landing = new SocketLanding();
  let socket: Socket;
  try {
    socket = connect({ ...connectOptions, onread: { buffer: landing.buffer, callback: landing.callback } });
  } catch (cause) {
    // Node checks the options (port, host...) before connecting and throws a RangeError or TypeError.
    throw new NdpackError("INVALID_ARGUMENT", `connectMessages: ${(cause as Error).message}`, { field: "connectOptions", cause });
  }
  landing.attach(socket);
  let messages: NdpackMessageReader;
  try {
    messages = decodeMessages(landing, options);
  } catch (error) {
    socket.destroy();
    throw error;
  }
  return { socket, messages };
}
