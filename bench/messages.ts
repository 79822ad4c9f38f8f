/**
 * Issue 17: message streams over loopback TCP. The producer (the case's process) sends a run's
 * messages to a consumer in a process of its own (bench/messages-consumer.mjs), which reads each
 * message, touches every array, and answers with one byte after the run's last message: a run is
 * timed from the first byte sent to that answer, so it includes decoding on the other side. Issue
 * 14's conditions: warm-up, then 7 timed runs with a full GC before each (medians); the first run in
 * a fresh process (both ends) is a row of its own.
 *
 * - M1, 1 MiB messages (one float32 array of 262,144 elements): ndpack's createMessageWriter to
 *   connectMessages (and to decodeMessages on a net.Socket), against a raw socket writing the same
 *   bytes (encoded beforehand) to a consumer that only counts them; for reference, the same raw
 *   bytes gathered into, or read straight into, one buffer per message.
 * - M2, small messages (10 float32 arrays of 64): ndpack, msgpackr (moreTypes: typed arrays kept,
 *   UnpackrStream on the other side) and an Arrow IPC stream (one RecordBatchStreamWriter, one
 *   record batch of 10 columns per message; the schema is sent once), and the raw socket.
 *
 * @module
 */
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadNdpack, loadNdpackStreams, median, type BenchConfig, type Case, type JsCase } from "./harness.js";

const DIR = dirname(fileURLToPath(import.meta.url));
const SCENARIO = "messages";
export const BIG_STEP = "1 MiB messages over TCP";
export const SMALL_STEP = "small messages (10 x 64 float32) over TCP";
/** The same runs as the first call in a fresh process: both ends' code not yet compiled. */
const FIRST = " (first run in a fresh process)";

/** Issue 14's conditions: a full GC before each of 7 timed runs, one run per sample. */
const TIMED = { runs: 7, gcEachCall: true } as const;
/** One timed run, no warm-up. */
const COLD = { runs: 1, warmup: 0, gcEachCall: true } as const;

const BIG_ELEMENTS = (1 << 20) / 4;
const SMALL_ARRAYS = 10;
const SMALL_ELEMENTS = 64;

interface Connection {
  readonly socket: Socket;
  readonly consumer: ChildProcess;
  /** Resolves when the consumer has answered for one more run. */
  answer(): Promise<void>;
  /** The consumer's CPU time (user + system, µs) at each of its answers so far. */
  consumerCpu(): Promise<number[]>;
}

/** A consumer process reading with `lib`, connected to this process over 127.0.0.1, answering every `count` messages (raw: bytes). */
async function connectConsumer(lib: string, count: number, config: BenchConfig): Promise<Connection> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  const consumer = fork(join(DIR, "messages-consumer.mjs"), [lib, String(port), String(count), config.buildDir], { execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const [socket] = (await once(server, "connection")) as [Socket];
  server.close();
  socket.setNoDelay(true);
  let answers = 0;
  let waiting: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    answers += chunk.length;
    if (waiting !== undefined && answers > 0) {
      answers--;
      const resolve = waiting;
      waiting = undefined;
      resolve();
    }
  });
  return {
    socket,
    consumer,
    consumerCpu: async () => {
      consumer.send("cpu");
      const [times] = (await once(consumer, "message")) as [number[]];
      return times;
    },
    answer: () =>
      new Promise<void>((resolve) => {
        if (answers > 0) {
          answers--;
          resolve();
        } else waiting = resolve;
      }),
  };
}

async function disconnect(connection: Connection): Promise<void> {
  connection.socket.end();
  if (connection.consumer.exitCode === null) await once(connection.consumer, "exit");
}

/** A write that waits while the socket's buffer is full, as any producer must. */
async function write(socket: Socket, bytes: Uint8Array): Promise<void> {
  if (!socket.write(bytes)) await once(socket, "drain");
}

function ramp(length: number, seed: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => seed + i / 7);
}

function smallArrays(): Record<string, Float32Array> {
  const arrays: Record<string, Float32Array> = {};
  for (let j = 0; j < SMALL_ARRAYS; j++) arrays[`a${j}`] = ramp(SMALL_ELEMENTS, j);
  return arrays;
}

interface StreamState {
  connection: Connection;
  send: () => Promise<void>;
  /** This process's CPU time (user + system, µs) spent in each run. */
  readonly producerCpu: number[];
  readonly answersPerRun: number;
}

/** The CPU time of the last `runs` runs (the timed ones), median, in ms. */
function medianCpuMs(perRun: readonly number[], runs: number): number {
  return median(perRun.slice(-runs)) / 1000;
}

/** How a case's producer sends: the consumer's answer period, and a sender of one message over the socket. */
interface Producer {
  /** The consumer answers after this many messages (the raw consumer: this many bytes). */
  readonly answerEvery: number;
  /** Answers the consumer gives per run (default 1). */
  readonly answersPerRun?: number;
  open(socket: Socket): (() => Promise<void>) | Promise<() => Promise<void>>;
}

/** A case that sends `count` messages per run and waits for the consumer's answer. */
function streamCase(step: string, lib: string, role: JsCase["role"], consumerLib: string, count: number, payloadBytes: number, note: string, producer: (config: BenchConfig) => Promise<Producer>): JsCase<StreamState> {
  return {
    ...(step.endsWith(FIRST) ? COLD : TIMED),
    kind: "js",
    scenario: SCENARIO,
    step,
    lib,
    role,
    bytes: count * payloadBytes,
    note,
    async setup(config) {
      const { answerEvery, answersPerRun = 1, open } = await producer(config);
      const connection = await connectConsumer(consumerLib, answerEvery, config);
      const sendOne = await open(connection.socket);
      const producerCpu: number[] = [];
      return {
        connection,
        producerCpu,
        answersPerRun,
        send: async () => {
          const start = process.cpuUsage();
          for (let i = 0; i < count; i++) await sendOne();
          for (let a = 0; a < answersPerRun; a++) await connection.answer();
          const { user, system } = process.cpuUsage(start);
          producerCpu.push(user + system);
        },
      };
    },
    run: (state) => state.send(),
    async extra(state) {
      // The consumer's CPU per run: between its answers that end consecutive runs.
      const runs = step.endsWith(FIRST) ? COLD.runs : TIMED.runs;
      const ends = (await state.connection.consumerCpu()).filter((_, i) => (i + 1) % state.answersPerRun === 0);
      const consumerCpu = ends.slice(1).map((end, i) => end - ends[i]!);
      return {
        producerCpuMs: medianCpuMs(state.producerCpu, runs),
        // The first run's consumer CPU includes its start (no answer before it): left out when warm.
        ...(consumerCpu.length >= runs ? { consumerCpuMs: medianCpuMs(consumerCpu, runs) } : {}),
      };
    },
    teardown: (state) => disconnect(state.connection),
  };
}

/** The raw-socket baseline: ndpack's bytes for `arrays`, encoded beforehand, written `count` times per run. */
function rawCase(step: string, count: number, payloadBytes: number, arrays: Record<string, Float32Array>): JsCase<StreamState> {
  const note = "raw socket: the same messages' bytes, encoded beforehand, written with back-pressure to a consumer that only counts them.";
  return streamCase(step, "raw socket (the same bytes)", "baseline", "raw", count, payloadBytes, note, async (config) => {
    const bytes = (await loadNdpack(config)).encode(arrays);
    return { answerEvery: bytes.length * count, open: (socket) => () => write(socket, bytes) };
  });
}

export function messageCases(config: BenchConfig): Case[] {
  const bigCount = config.quick ? 8 : 32;
  const smallCount = config.quick ? 500 : 2000;
  const bigPayload = BIG_ELEMENTS * 4;
  const smallPayload = SMALL_ARRAYS * SMALL_ELEMENTS * 4;
  const cases: Case[] = [];

  // M1: 1 MiB messages.
  const big = { m: ramp(BIG_ELEMENTS, 1) };
  const bigCases = (step: string) => [
    rawCase(step, bigCount, bigPayload, big),
    streamCase(step, "raw socket, each message gathered", "baseline", "raw-gather", bigCount, bigPayload, "raw socket, each message gathered: the same bytes, copied on the other side into one buffer per message, as any consumer that wants a message's bytes in one piece does (reference; the target is against the row above).", async (config) => {
      const bytes = (await loadNdpack(config)).encode(big);
      return { answerEvery: bytes.length, answersPerRun: bigCount, open: (socket) => () => write(socket, bytes) };
    }),
    streamCase(step, "raw socket, each message landed in a buffer of its own", "baseline", "raw-land", bigCount, bigPayload, "raw socket, each message landed: the same bytes, read by the operating system straight into one buffer per message (Node's onread, memory not zeroed first), as connectMessages reads payloads: the least a consumer that keeps each message's bytes spends (reference).", async (config) => {
      const bytes = (await loadNdpack(config)).encode(big);
      return { answerEvery: bytes.length, answersPerRun: bigCount, open: (socket) => () => write(socket, bytes) };
    }),
    streamCase(step, "ndpack", "ndpack", "ndpack", bigCount, bigPayload, "ndpack: createMessageWriter(socket).send per message; connectMessages on the other side (CRC-32 checked on each piece as it lands; the socket reads each payload straight into its array, Node's onread).", async (config) => {
      const { createMessageWriter } = await loadNdpackStreams(config);
      return { answerEvery: bigCount, open: (socket) => { const writer = createMessageWriter(socket); return () => writer.send(big); } };
    }),
    streamCase(step, "ndpack, decodeMessages(socket)", "ndpack", "ndpack-socket", bigCount, bigPayload, "ndpack, decodeMessages(socket): the same messages read from a socket made by net.connect (its 'data' chunks, each payload copied out of them), as a server's accepted socket must be read.", async (config) => {
      const { createMessageWriter } = await loadNdpackStreams(config);
      return { answerEvery: bigCount, open: (socket) => { const writer = createMessageWriter(socket); return () => writer.send(big); } };
    }),
    streamCase(step, "ndpack (checksum: none)", "ndpack", "ndpack", bigCount, bigPayload, "ndpack (checksum: none): the same messages without CRC-32s (send's checksum option), so neither side computes one: what the framing itself costs.", async (config) => {
      const { createMessageWriter } = await loadNdpackStreams(config);
      return { answerEvery: bigCount, open: (socket) => { const writer = createMessageWriter(socket); return () => writer.send(big, { checksum: "none" }); } };
    }),
  ];

  // M2: small messages.
  const small = smallArrays();
  const smallCases = (step: string) => [
    rawCase(step, smallCount, smallPayload, small),
    streamCase(step, "ndpack", "ndpack", "ndpack", smallCount, smallPayload, "ndpack: createMessageWriter(socket).send per message (shapes, dtypes and a CRC per array); connectMessages on the other side.", async (config) => {
      const { createMessageWriter } = await loadNdpackStreams(config);
      return { answerEvery: smallCount, open: (socket) => { const writer = createMessageWriter(socket); return () => writer.send(small); } };
    }),
    streamCase(step, "ndpack, decodeMessages(socket)", "ndpack", "ndpack-socket", smallCount, smallPayload, "ndpack, decodeMessages(socket): the same, read from the 'data' chunks of a socket made by net.connect.", async (config) => {
      const { createMessageWriter } = await loadNdpackStreams(config);
      return { answerEvery: smallCount, open: (socket) => { const writer = createMessageWriter(socket); return () => writer.send(small); } };
    }),
    streamCase(step, "msgpackr (moreTypes)", "peer", "msgpackr", smallCount, smallPayload, "msgpackr: packr.pack({ name: { shape, dtype, data } }) per message with moreTypes: true (typed arrays kept), written with back-pressure; UnpackrStream on the other side.", async () => {
      const { Packr } = await import("msgpackr");
      const packr = new Packr({ moreTypes: true });
      const object: Record<string, { shape: number[]; dtype: string; data: Float32Array }> = {};
      for (const [name, data] of Object.entries(small)) object[name] = { shape: [SMALL_ELEMENTS], dtype: "float32", data };
      return { answerEvery: smallCount, open: (socket) => () => write(socket, packr.pack(object)) };
    }),
    streamCase(step, "apache-arrow IPC stream", "peer", "arrow", smallCount, smallPayload, "apache-arrow: one RecordBatchStreamWriter piped to the socket (schema once), one record batch of 10 float32 columns of 64 rows per message; RecordBatchReader on the other side. No shapes (Arrow has no place for them).", async () => {
      const { RecordBatchStreamWriter, tableFromArrays } = await import("apache-arrow");
      const batch = tableFromArrays(small).batches[0]!;
      return {
        answerEvery: smallCount,
        open: (socket) => {
          const writer = new RecordBatchStreamWriter({ autoDestroy: false });
          writer.toNodeStream().pipe(socket);
          let written = 0;
          return async () => {
            writer.write(batch);
            // Let the pipe move the bytes (and feel the socket's back-pressure) every 100 batches.
            if (++written % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
          };
        },
      };
    }),
  ];
  // Every row warm; the first run in a fresh process for the baseline, ndpack (with CRCs) and the peers.
  const cold = (c: JsCase<StreamState>) => c.lib === "raw socket (the same bytes)" || c.lib === "ndpack" || c.role === "peer";
  cases.push(...bigCases(BIG_STEP), ...smallCases(SMALL_STEP), ...bigCases(BIG_STEP + FIRST).filter(cold), ...smallCases(SMALL_STEP + FIRST).filter(cold));
  return cases;
}
