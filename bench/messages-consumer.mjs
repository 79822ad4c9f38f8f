// The consuming end of the message-stream benchmark (bench/messages.ts), in a process of its own:
// connects to the producer on 127.0.0.1:PORT, reads messages with LIB, touches every array, and
// after every COUNT messages (raw: COUNT bytes; raw-gather and raw-land: after each message of COUNT
// bytes) writes one byte back, which ends the producer's timed run; asked over IPC, it sends its CPU
// time at each answer.
//
//   node bench/messages-consumer.mjs LIB PORT COUNT BUILD_DIR
import { connect } from "node:net";
import { once } from "node:events";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [lib, port, countText, buildDir] = process.argv.slice(2);
const count = Number(countText);
// ndpack connects with connectMessages, whose socket reads large payloads straight into the arrays
// (Node's `onread`); every other reader (and ndpack-socket: decodeMessages on the socket's chunks)
// reads a socket made by net.connect.
const connection =
  lib === "ndpack"
    ? (await import(pathToFileURL(join(buildDir, "node", "index.js")).href)).connectMessages({ port: Number(port), host: "127.0.0.1", noDelay: true })
    : undefined;
// raw-land: the raw socket's bytes, each message read by the operating system straight into a
// buffer of its own (Node's `onread`, as connectMessages reads payloads; memory not zeroed first, as
// ndpack's payloads): the least a consumer that keeps each message's bytes can spend.
let message = lib === "raw-land" ? Buffer.allocUnsafeSlow(count) : undefined;
let filled = 0;
const landing = {
  buffer: () => message.subarray(filled),
  callback: (length) => {
    filled += length;
    if (filled === count) {
      touch(message);
      answer();
      message = Buffer.allocUnsafeSlow(count);
      filled = 0;
    }
  },
};
const socket = connection?.socket ?? (lib === "raw-land" ? connect({ port: Number(port), host: "127.0.0.1", onread: landing }) : connect(Number(port), "127.0.0.1"));
socket.setNoDelay(true);
await once(socket, "connect");

let received = 0;
let touched = 0;
const ACK = Uint8Array.of(1);
// This process's CPU time (user + system, µs) at every answer: the producer asks for them (IPC
// message "cpu") to report each end's CPU per run, which a loaded machine disturbs less than time.
const cpuAtAnswers = [];
process.on("message", (m) => {
  if (m === "cpu") process.send(cpuAtAnswers);
});
const answer = () => {
  const { user, system } = process.cpuUsage();
  cpuAtAnswers.push(user + system);
  socket.write(ACK);
};
const done = () => {
  if (++received % count === 0) answer();
};
const touch = (view) => {
  if (view.length > 0 && view[0] !== undefined && view[view.length - 1] !== undefined) touched++;
};

if (lib === "raw") {
  // The same bytes, counted and dropped: what the socket alone costs.
  let bytes = 0;
  for await (const chunk of socket) {
    bytes += chunk.length;
    while (bytes >= count) {
      bytes -= count;
      answer();
    }
  }
} else if (lib === "raw-land") {
  // Flowing, so that the end of the connection is reported; the bytes go to `landing`.
  socket.resume();
  await once(socket, "end");
} else if (lib === "raw-gather") {
  // The same bytes, gathered into one buffer per message (COUNT is the message's length): what any
  // consumer that needs each message's bytes in one piece pays.
  let message = new Uint8Array(count);
  let filled = 0;
  for await (const chunk of socket) {
    for (let at = 0; at < chunk.length; ) {
      const n = Math.min(chunk.length - at, count - filled);
      message.set(chunk.subarray(at, at + n), filled);
      at += n;
      filled += n;
      if (filled === count) {
        touch(message);
        message = new Uint8Array(count);
        filled = 0;
        answer();
      }
    }
  }
} else if (lib === "ndpack" || lib === "ndpack-socket") {
  const { decodeMessages } = await import(pathToFileURL(join(buildDir, "streams", "index.js")).href);
  for await (const message of connection?.messages ?? decodeMessages(socket)) {
    for await (const array of message) touch(array.data);
    done();
  }
} else if (lib === "msgpackr") {
  const { UnpackrStream } = await import("msgpackr");
  const unpackr = new UnpackrStream({ moreTypes: true });
  socket.pipe(unpackr);
  for await (const message of unpackr) {
    for (const key in message) touch(message[key].data);
    done();
  }
} else if (lib === "arrow") {
  const { RecordBatchReader } = await import("apache-arrow");
  const reader = await RecordBatchReader.from(socket);
  for await (const batch of reader) {
    for (let i = 0; i < batch.numCols; i++) touch(batch.getChildAt(i).data[0].values);
    done();
  }
} else {
  throw new Error(`unknown lib ${lib}`);
}
process.exit(touched >= 0 ? 0 : 1);
