/**
 * Message streams (FORMAT.md §11, "Message streams"): many ndpack files, one after another, over one
 * connection. A stream of messages is the concatenation of complete ndpack files, with no bytes of
 * its own: each file's header says where it ends, so the next one starts there.
 *
 * {@link decodeMessages} reads message after message from one byte stream (a Node socket, a Web
 * `ReadableStream`, any async iterable of chunks) with the machinery of `decodeStream`: one reader
 * of chunks shared by every message, §9 steps 1–21 per message, each array handed out as soon as
 * its bytes and its CRC have arrived. {@link createMessageWriter} sends messages one after another
 * to a Node writable (a socket) or a Web `WritableStream`, waiting whenever the target asks it to
 * (back-pressure), so a slow reader never makes the writer buffer more than about one chunk.
 * Browser-safe: a Node stream is recognized by its methods, no `node:` module is imported.
 *
 * @example
 * ```ts
 * import { createMessageWriter, decodeMessages } from "ndpack/streams";
 *
 * // Producer (a Node socket or a Web WritableStream).
 * const writer = createMessageWriter(socket);
 * for (const frame of frames) await writer.send({ image: frame }, { metadata: { t: Date.now() } });
 * await writer.close();
 *
 * // Consumer.
 * for await (const message of decodeMessages(socket)) {
 *   console.log(message.index, message.header.metadata);
 *   for await (const array of message) show(array.name, array.data, array.shape);
 * }
 * ```
 *
 * @module
 */
import type { NdArray } from "./decode.js";
import { ENCODE_OPTIONS, planEncoding, SMALL_PIECE, writePlan, type ArraysInput, type EncodeOptions } from "./encode.js";
import { booleanOption, checkOptionNames, isNdpackError, NdpackError, overLimit, shown, type ErrorDetails } from "./errors.js";
import { resolveLimits, type FileLayout } from "./header.js";
import { checkChunkBytes, ChunkReader, readRecords, readStreamLayout, streamChunks, streamHeader, STREAM_READ_OPTIONS, type ByteStream, type DecodeStreamOptions, type StreamHeader } from "./stream.js";

/**
 * Options of {@link decodeMessages}: those of `decodeStream` (the limits of FORMAT.md §7 and
 * `verify`), applied to each message, but the foreign formats' (a message is an ndpack file, FORMAT.md §11).
 */
export interface DecodeMessagesOptions extends Omit<DecodeStreamOptions, "formats" | "voidDtype" | "npyName" | "maxGatherBytes"> {
  /**
   * Largest message accepted, in bytes (preamble to last CRC), checked as soon as its header has
   * been read, before any payload byte is (default: no limit beyond §7's). A message above it is
   * handed out with its header, and reading any of its arrays fails with LIMIT_EXCEEDED,
   * `recoverable`: its length is known, so the reader skips it when asked for the next message. A
   * server reading from untrusted peers sets it to bound what one message makes it allocate.
   */
  readonly maxMessageBytes?: number;
}

/**
 * One message of a message stream: its header, read before the message is handed out, and its
 * arrays, each handed out (by `for await`) as soon as its bytes and its CRC have arrived.
 * Reading the next message skips whatever of this one was not read; breaking out of the loop over
 * its arrays does not end the stream.
 */
export interface NdpackMessage extends AsyncIterableIterator<NdArray> {
  /** Position of the message in the stream: 0 for the first. */
  readonly index: number;
  /** Stream offset of the message's first byte. */
  readonly offset: number;
  /** The message's preamble and header (its `byteLength` is the message's length). */
  readonly header: StreamHeader;
  /** Reads the message's remaining arrays and returns them in order. */
  readAll(): Promise<NdArray[]>;
}

/**
 * The messages of a stream, in order; iterate it with `for await`. Breaking out of the loop (or an
 * error escaping it) cancels the source.
 */
export interface NdpackMessageReader extends AsyncIterableIterator<NdpackMessage> {
  /** Bytes of the stream consumed so far. */
  readonly bytesRead: number;
  /** Stops reading and cancels the source. */
  cancel(reason?: unknown): Promise<void>;
}

/** An error of message `messageIndex` as the stream reports it: its code and details, with the message's index and whether the reader can go on. */
function annotate(error: unknown, messageIndex: number, recoverable: boolean): NdpackError {
  if (isNdpackError(error)) {
    const details: ErrorDetails = {
      messageIndex,
      recoverable,
      ...(error.array === undefined ? {} : { array: error.array }),
      ...(error.field === undefined ? {} : { field: error.field }),
      ...(error.offset === undefined ? {} : { offset: error.offset }),
      ...(error.expected === undefined ? {} : { expected: error.expected }),
      ...(error.actual === undefined ? {} : { actual: error.actual }),
      ...(error.limit === undefined ? {} : { limit: error.limit }),
      ...(error.path === undefined ? {} : { path: error.path }),
      cause: error.cause ?? error,
    };
    return new NdpackError(error.code, `message ${messageIndex}: ${error.message}`, details);
  }
  // The source's failures are IO_ERROR already (stream.ts): this is anything else that escaped.
  const text = error instanceof Error ? error.message : String(error);
  return new NdpackError("IO_ERROR", `message ${messageIndex}: the stream failed: ${text}`, { messageIndex, recoverable: false, cause: error });
}

class Message implements NdpackMessage {
  readonly index: number;
  readonly offset: number;
  /** The message's length in bytes, from its header. */
  readonly byteLength: number;
  readonly #layout: FileLayout;
  #header: StreamHeader | undefined;
  readonly #records: AsyncGenerator<NdArray, void, undefined>;
  readonly #fail: (error: unknown) => NdpackError;

  constructor(index: number, offset: number, layout: FileLayout, records: AsyncGenerator<NdArray, void, undefined>, fail: (error: unknown) => NdpackError) {
    this.index = index;
    this.offset = offset;
    this.byteLength = layout.fileLength;
    this.#layout = layout;
    this.#records = records;
    this.#fail = fail;
  }

  /** Built when first asked for: a reader that only wants the arrays does not pay for it. */
  get header(): StreamHeader {
    this.#header ??= streamHeader(this.#layout);
    return this.#header;
  }

  async next(): Promise<IteratorResult<NdArray, undefined>> {
    try {
      const step = await this.#records.next();
      return step.done === true ? { done: true, value: undefined } : step;
    } catch (error) {
      throw this.#fail(error);
    }
  }

  /** Stops handing out this message's arrays; the stream goes on with the next message. */
  async return(): Promise<IteratorResult<NdArray, undefined>> {
    await this.#records.return(undefined);
    return { done: true, value: undefined };
  }

  async readAll(): Promise<NdArray[]> {
    const arrays: NdArray[] = [];
    for (let step = await this.next(); step.done !== true; step = await this.next()) arrays.push(step.value);
    return arrays;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** The arrays of a message above `maxMessageBytes`: none, LIMIT_EXCEEDED at the first read. */
async function* refusedRecords(messageBytes: number, maxMessageBytes: number): AsyncGenerator<NdArray, void, undefined> {
  throw overLimit(`message is ${messageBytes} bytes`, messageBytes, maxMessageBytes, "maxMessageBytes");
}

class MessageReader implements NdpackMessageReader {
  readonly #reader: ChunkReader;
  readonly #limits: ReturnType<typeof resolveLimits>;
  readonly #verify: boolean;
  readonly #maxMessageBytes: number;
  #current: Message | undefined;
  #count = 0;
  /** The error that ended the stream, given again to every later call. */
  #fatal: NdpackError | undefined;
  #done = false;
  /** The last call of `next`: calls made before it has settled wait for it, so that one reads after the other. */
  #pending: Promise<unknown> = Promise.resolve();

  constructor(source: ByteStream, options: DecodeMessagesOptions) {
    this.#limits = resolveLimits(options);
    this.#verify = booleanOption(options.verify, true, "verify");
    const max = options.maxMessageBytes;
    if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) {
      throw new NdpackError("INVALID_ARGUMENT", `maxMessageBytes must be a positive integer, got ${shown(max)}`, { field: "maxMessageBytes" });
    }
    this.#maxMessageBytes = max ?? Number.MAX_SAFE_INTEGER;
    // Last: a bad option must leave the caller's stream unlocked.
    this.#reader = new ChunkReader(source);
  }

  get bytesRead(): number {
    return this.#reader.consumed;
  }

  /**
   * Classifies an error of message `index`: the stream can go on after it unless the source
   * ended inside the message or failed. Anything else ends the stream: the source is cancelled.
   */
  #fail(error: unknown, index: number, headerRead: boolean): NdpackError {
    if (this.#fatal !== undefined) return this.#fatal;
    const ended = !isNdpackError(error) || error.code === "TRUNCATED" || error.code === "IO_ERROR" || error.code === "CLOSED";
    const annotated = annotate(error, index, headerRead && !ended);
    // Once cancelled, the stream is over without an error: later calls end it (done).
    if (!annotated.recoverable && !this.#done) {
      this.#fatal = annotated;
      void this.#reader.release(annotated);
    }
    return annotated;
  }

  next(): Promise<IteratorResult<NdpackMessage, undefined>> {
    const result = this.#pending.then(() => this.#next());
    this.#pending = result.catch(() => undefined);
    return result;
  }

  async #next(): Promise<IteratorResult<NdpackMessage, undefined>> {
    if (this.#fatal !== undefined) throw this.#fatal;
    if (this.#done) return { done: true, value: undefined };
    const reader = this.#reader;
    const previous = this.#current;
    if (previous !== undefined) {
      this.#current = undefined;
      // Whatever the caller left unread of the previous message is skipped, unchecked.
      await previous.return();
      const length = previous.byteLength;
      const remaining = previous.offset + length - reader.consumed;
      let skipped = 0;
      try {
        if (remaining > 0) skipped = await reader.skip(remaining);
      } catch (error) {
        throw this.#fail(error, previous.index, false);
      }
      if (skipped < remaining) {
        throw this.#fail(new NdpackError("TRUNCATED", `input is ${reader.consumed - previous.offset} bytes, but its header describes ${length}`, { expected: length, actual: reader.consumed - previous.offset }), previous.index, true);
      }
    }
    const index = this.#count;
    const offset = reader.consumed;
    let layout: FileLayout;
    try {
      // The stream ends cleanly only here, between two messages.
      if (!reader.hasArrived && (await reader.atEnd())) {
        this.#done = true;
        await reader.release();
        return { done: true, value: undefined };
      }
      layout = await readStreamLayout(reader, this.#limits);
    } catch (error) {
      // Cancelled while waiting for the next message's first byte: the stream ends there.
      if (this.#done && reader.consumed === offset) return { done: true, value: undefined };
      throw this.#fail(error, index, false);
    }
    this.#count++;
    // A message above maxMessageBytes is handed out all the same, its arrays refused: the error is
    // then thrown where the caller reads arrays and can skip the message (an error thrown by this
    // next() would end a `for await` without cancelling the source).
    const records = layout.fileLength > this.#maxMessageBytes ? refusedRecords(layout.fileLength, this.#maxMessageBytes) : readRecords(reader, layout, this.#limits, this.#verify, offset);
    const message = new Message(index, offset, layout, records, (error) => this.#fail(error, index, true));
    this.#current = message;
    return { done: false, value: message };
  }

  async return(): Promise<IteratorResult<NdpackMessage, undefined>> {
    await this.cancel();
    return { done: true, value: undefined };
  }

  async cancel(reason?: unknown): Promise<void> {
    this.#done = true;
    // The source first: a read waiting for it (inside the current message) ends, so the message can stop.
    await this.#reader.release(reason);
    await this.#current?.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * Reads a stream of ndpack messages (FORMAT.md §11) as it arrives: each message is
 * handed out once its header has been read (steps 1–21), and its arrays as their bytes and CRCs
 * arrive (step 22, unless `verify: false`). Messages are read in order: asking for the next one
 * skips what is left of the current one. The limits apply to each message.
 *
 * The stream ends cleanly only between two messages. Errors are `NdpackError`s with the message's
 * `messageIndex` and `recoverable` (their `offset` counts from the message's first byte, which is at
 * `message.offset` in the stream):
 * - `recoverable: true` (a damaged payload, CHECKSUM or BAD_PADDING; CODEC_ERROR; LIMIT_EXCEEDED
 *   for a message or an array above a limit): the message's header was valid, so where it ends is
 *   known; catch the error and go on with the next message. If the error escapes the loop over the
 *   messages, the source is cancelled as usual.
 * - `recoverable: false` (the source ended inside a message, TRUNCATED; a bad header; the source
 *   failed, IO_ERROR): the stream is over, the source is cancelled, and every later call throws
 *   the same error.
 *
 * @example
 * ```ts
 * for await (const message of decodeMessages(socket, { maxMessageBytes: 1 << 30 })) {
 *   try {
 *     const arrays = await message.readAll();
 *     handle(message.header.metadata, arrays);
 *   } catch (error) {
 *     if (isNdpackError(error) && error.recoverable) continue; // damaged: skip this message
 *     throw error;
 *   }
 * }
 * ```
 */
export function decodeMessages(source: ByteStream, options: DecodeMessagesOptions = {}): NdpackMessageReader {
  checkOptionNames(options, { ...STREAM_READ_OPTIONS, maxMessageBytes: true } satisfies Record<keyof DecodeMessagesOptions, true>, "decodeMessages");
  return new MessageReader(source, options);
}

/** The parts of a Node writable stream (a `net.Socket`, `fs.WriteStream`...) that {@link createMessageWriter} uses. */
export interface NodeWritableLike {
  /** Queues `chunk`; false when the stream's buffer is full and it will emit 'drain'. */
  write(chunk: Uint8Array, callback?: (error?: Error | null) => void): boolean;
  /** Ends the stream once everything queued has been written; the callback is given the stream's error if it failed. */
  end(callback?: (error?: Error | null) => void): unknown;
  /** Adds a listener ('error'). */
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Adds a one-time listener ('drain', 'error', 'close'). */
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Removes a listener. */
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Set once the stream has been destroyed. */
  readonly destroyed?: boolean;
  /** Holds writes back until `uncork` (net.Socket: then writes them with one system call). */
  cork?(): void;
  /** Writes what was held back since `cork`. */
  uncork?(): void;
  /** A socket's (net.Socket, tls.TLSSocket): its presence says the stream hands each chunk to the operating system. */
  setNoDelay?: unknown;
}

/** Where {@link createMessageWriter} sends messages: a Web `WritableStream` or a Node writable stream. */
export type MessageTarget = WritableStream<Uint8Array> | NodeWritableLike;

/** Options of {@link createMessageWriter}. */
export interface MessageWriterOptions {
  /**
   * Largest piece of a payload written at a time, in bytes (default 1 MiB), for messages of 256 KiB
   * or more (smaller ones are written in one piece): to a socket, payloads go out as views of the
   * caller's arrays cut to this size; to other targets (a PassThrough, a Web stream), which may
   * keep what they are given, as copies of those pieces. Pieces under 64 KiB (the head, CRCs,
   * padding, small payloads, and a byte-swapped payload's pieces when this size is under 64 KiB)
   * are merged into writes of up to 64 KiB, as `encodeStream` merges them. With back-pressure, the
   * writer holds about this much more than the target's own buffer.
   */
  readonly chunkBytes?: number;
}

/** Sends ndpack messages, one after another, to one target; see {@link createMessageWriter}. */
export interface NdpackMessageWriter {
  /**
   * Encodes `arrays` as one message (the options of `encode`) and writes it. Resolves once the
   * target has taken every byte and has room for more (back-pressure), and once the caller's
   * arrays are no longer referenced, so they may be changed. Calls are queued: messages go out
   * whole and in the order `send` was called.
   */
  send(arrays: ArraysInput, options?: EncodeOptions): Promise<void>;
  /** Waits for queued messages, then ends the target (the stream ends at a message boundary). Called again, gives the first call's result; `send` after it is CLOSED. */
  close(): Promise<void>;
  /** Messages written so far. */
  readonly messagesSent: number;
  /** Bytes written so far. */
  readonly bytesSent: number;
}

/**
 * Messages smaller than this are encoded into one fresh buffer and written in one call: one
 * allocation and one write per message, which is what small messages cost most in. Larger ones go
 * out in chunks that view the caller's arrays, never gathered.
 */
const ONE_WRITE_BYTES = 256 * 1024;

/** What writing to a target takes: queued writes, a wait for room (back-pressure), and an end. */
interface Sink {
  /**
   * Queues `chunk`, which may view the caller's memory; false when the target asks the writer to
   * wait for {@link Sink.ready} before queueing more.
   */
  write(chunk: Uint8Array): boolean;
  /** Resolves when the target has room for more; rejects when it failed or was closed. */
  ready(): Promise<void>;
  /** Resolves once every chunk queued so far has left for good (the caller's memory is no longer read). */
  flushed(): Promise<void>;
  end(): Promise<void>;
  /**
   * False when the target is done with a chunk once it reports it written (a socket: the kernel
   * has copied it). True for others (a PassThrough, a TransformStream), which may keep the chunk
   * itself for their reader: the caller's memory is then copied before it is written.
   */
  readonly keepsChunks: boolean;
}

function targetError(action: string, cause: unknown): NdpackError {
  if (isNdpackError(cause)) return cause;
  return new NdpackError("IO_ERROR", `cannot ${action} the message target: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
}

function isWebWritable(target: MessageTarget): target is WritableStream<Uint8Array> {
  return typeof (target as WritableStream<Uint8Array>).getWriter === "function";
}

function nodeSink(stream: NodeWritableLike): Sink {
  let failure: unknown;
  const remember = (error: unknown) => {
    failure ??= error;
  };
  // Keeps an 'error' event from crashing the process; the error is reported by the next call.
  stream.on("error", remember);
  const check = () => {
    if (failure !== undefined) throw targetError("write to", failure);
    if (stream.destroyed === true) throw new NdpackError("CLOSED", "the message target was closed");
  };
  /** Chunks written and not yet reported written by the stream; `allWritten` is called when it drops to 0. */
  let unwritten = 0;
  let allWritten: (() => void) | undefined;
  const written = (error?: Error | null) => {
    if (error) remember(error);
    if (--unwritten === 0) allWritten?.();
  };
  /** Resolves on `event` (or when `settled()` holds); rejects when the stream fails or closes first. */
  const until = (event: string | undefined, settled: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        if (event !== undefined) stream.off(event, done);
        stream.off("error", failed);
        stream.off("close", closed);
        allWritten = undefined;
      };
      const done = () => {
        if (failure !== undefined) return failed(failure);
        if (!settled()) return;
        cleanup();
        resolve();
      };
      const failed = (error: unknown) => {
        cleanup();
        reject(targetError("write to", error));
      };
      const closed = () => failed(failure ?? new NdpackError("CLOSED", "the message target was closed"));
      if (event !== undefined) stream.once(event, done);
      else allWritten = done;
      stream.once("error", failed);
      stream.once("close", closed);
    });
  // Writes are held back (corked) until the current run of JavaScript has finished (Node's
  // nextTick queue runs once the promise jobs are done): a loop that sends many small messages
  // makes one system call of up to the stream's buffer (16 KiB for a socket) for several of them,
  // instead of one each; a message's head, payload and CRC go out together. Nothing waits longer.
  const later = (globalThis as { process?: { nextTick?: (callback: () => void) => void } }).process?.nextTick;
  const corks = typeof stream.cork === "function" && typeof stream.uncork === "function" && typeof later === "function";
  let corked = false;
  const uncork = () => {
    corked = false;
    stream.uncork!();
  };
  return {
    write(chunk) {
      check();
      if (corks && !corked) {
        corked = true;
        stream.cork!();
        later!(uncork);
      }
      unwritten++;
      return stream.write(chunk, written);
    },
    async ready() {
      check();
      await until("drain", () => true);
    },
    async flushed() {
      check();
      if (unwritten > 0) await until(undefined, () => unwritten === 0);
      check();
    },
    async end() {
      check();
      await new Promise<void>((resolve, reject) => {
        const failed = (error: unknown) => reject(targetError("end", error));
        stream.once("error", failed);
        stream.end((error) => {
          stream.off("error", failed);
          if (error ?? failure) failed(error ?? failure);
          else resolve();
        });
      });
    },
    keepsChunks: typeof stream.setNoDelay !== "function",
  };
}

function webSink(stream: WritableStream<Uint8Array>): Sink {
  const writer = stream.getWriter();
  let last: Promise<void> = Promise.resolve();
  return {
    write(chunk) {
      last = writer.write(chunk).catch((cause: unknown) => {
        throw targetError("write to", cause);
      });
      last.catch(() => undefined);
      // null once the stream has failed: ready() then reports why.
      const room = writer.desiredSize;
      return room !== null && room > 0;
    },
    async ready() {
      try {
        await writer.ready;
      } catch (cause) {
        throw targetError("write to", cause);
      }
    },
    flushed: () => last,
    keepsChunks: true,
    async end() {
      try {
        await writer.close();
      } catch (cause) {
        throw targetError("close", cause);
      }
    },
  };
}

/**
 * Sends ndpack messages, one after another, to a Node writable stream (a `net.Socket`) or a Web
 * `WritableStream`: the writer of a message stream (FORMAT.md §11). Each message is
 * exactly the bytes `encode` gives. Whenever the target's buffer is full (`write` returned false,
 * or the Web writer is not ready), `send` waits for it to drain, so a slow reader slows the writer
 * down instead of making it buffer.
 *
 * Errors: argument errors as `encode` throws them (the message is not sent, the stream is
 * unchanged); IO_ERROR (the OS error as `cause`) or CLOSED when the target fails or is closed.
 *
 * @example
 * ```ts
 * const socket = net.connect(port, "127.0.0.1");
 * const writer = createMessageWriter(socket);
 * await writer.send({ frame: { data: pixels, shape: [480, 640, 3] } }, { metadata: { t: 1 } });
 * await writer.send({}); // an empty message
 * await writer.close();
 * ```
 */
export function createMessageWriter(target: MessageTarget, options: MessageWriterOptions = {}): NdpackMessageWriter {
  checkOptionNames(options, { chunkBytes: true } satisfies Record<keyof MessageWriterOptions, true>, "createMessageWriter");
  const chunkBytes = checkChunkBytes(options.chunkBytes);
  if (target === null || typeof target !== "object") throw new NdpackError("INVALID_ARGUMENT", "target must be a WritableStream or a Node writable stream", { field: "target" });
  let sink: Sink;
  if (isWebWritable(target)) sink = webSink(target);
  else if (typeof target.write === "function" && typeof target.once === "function") sink = nodeSink(target);
  else throw new NdpackError("INVALID_ARGUMENT", "target must be a WritableStream or a Node writable stream", { field: "target" });

  let queue: Promise<unknown> = Promise.resolve();
  /** The one close's result, once asked: called again, close gives it again (as createWriter's does). */
  let closing: Promise<void> | undefined;
  /** Set when a write failed part-way through a message: the stream is no longer at a message boundary. */
  let broken: NdpackError | undefined;
  let messagesSent = 0;
  let bytesSent = 0;

  const writeMessage = async (arrays: ArraysInput, encodeOptions: EncodeOptions | undefined) => {
    if (broken !== undefined) throw broken;
    checkOptionNames(encodeOptions, ENCODE_OPTIONS, "send");
    const plan = planEncoding(arrays, encodeOptions);
    try {
      if (plan.totalLength < ONE_WRITE_BYTES) {
        const bytes = new Uint8Array(plan.totalLength);
        writePlan(plan, bytes, true);
        // Fresh memory: nothing of the caller's is held once it is handed over.
        const room = sink.write(bytes);
        bytesSent += bytes.length;
        if (!room) await sink.ready();
      } else {
        // The chunks go out as streamChunks hands them over (the head, views of the caller's
        // payloads, their CRCs), each after the target has room again. The last chunk, when it is
        // small (the last payload's CRC), goes without waiting: a message of one payload then
        // leaves in one system call (corked), and the target holds at most that much more.
        let full = false;
        const chunks = streamChunks(plan, chunkBytes);
        for (let step = chunks.next(); step.done !== true; ) {
          const chunk = step.value;
          // Asking for the next chunk computes the CRC of a payload before its bytes are queued.
          step = chunks.next();
          if (full && (step.done !== true || chunk.length >= SMALL_PIECE)) await sink.ready();
          full = !sink.write(sink.keepsChunks ? chunk.slice() : chunk);
          bytesSent += chunk.length;
        }
        // Chunks view the caller's arrays: they must have left before send() returns.
        await sink.flushed();
      }
    } catch (error) {
      broken = targetError("write to", error);
      throw broken;
    }
    messagesSent++;
  };

  const enqueue = <T>(run: () => Promise<T>): Promise<T> => {
    const result = queue.then(run);
    queue = result.catch(() => undefined);
    return result;
  };

  return {
    send(arrays, encodeOptions) {
      if (closing !== undefined) return Promise.reject(new NdpackError("CLOSED", "the message writer is closed"));
      return enqueue(() => writeMessage(arrays, encodeOptions));
    },
    close() {
      return (closing ??= enqueue(() => sink.end()));
    },
    get messagesSent() {
      return messagesSent;
    },
    get bytesSent() {
      return bytesSent;
    },
  };
}
