/**
 * R1 (issue 10): one 4 MiB array of S4's 1 GiB ndpack file, served by a real nginx on loopback
 * (Debian's package, started by each case's setup with test/helpers/nginx.ts), against a bare
 * `fetch` of the same bytes with the same `Range` header: warm, with a full GC before every call
 * (each its own sample), and as the first call in a fresh process. Bytes transferred are counted
 * in nginx's access log (`$body_bytes_sent`) around one more call.
 *
 * @module
 */
import { startNginx, bytesSent, type Nginx } from "../test/helpers/nginx.js";
import { s4Layout, writeS4File } from "./files.js";
import { loadNdpackHttp, loadNdpackNode, MiB, touch, type BenchConfig, type Case, type JsCase } from "./harness.js";

type NdpackHttp = Awaited<ReturnType<typeof loadNdpackHttp>>;

export const R1 = {
  step: "one 4 MiB array of a 1 GiB .ndp over HTTP (loopback nginx; warm, full GC before each call)",
  cold: "one 4 MiB array of a 1 GiB .ndp over HTTP (loopback nginx; first call in a fresh process)",
  fetch: "bare fetch with the same Range header",
  twoFetches: "two bare fetches: the first 64 KiB, then the same range",
  openUrl: "ndpack openUrl + read + close",
  source: "ndpack httpSource + read of the same range + close",
};

interface R1State {
  ndpack: NdpackHttp;
  nginx: Nginx;
  url: string;
  middle: string;
  /** The bytes a verifying read of `middle` asks for: its payload, CRC and padding up to the next record. */
  start: number;
  length: number;
  /** Header + padding: the bytes before the data section. */
  dataStart: number;
  reader?: Awaited<ReturnType<NdpackHttp["openUrl"]>>;
}

async function r1Setup(config: BenchConfig, openNow: boolean): Promise<R1State> {
  const ndpack = await loadNdpackHttp(config);
  const { path, middle, names } = s4Layout(config);
  const local = await (await loadNdpackNode(config)).open(path);
  const start = local.info(middle).offset;
  const end = local.info(names[names.indexOf(middle) + 1]!).offset;
  const dataStart = local.info(names[0]!).offset;
  await local.close();
  const nginx = await startNginx(config.tmpDir);
  const url = `${nginx.origin}/files/${path.slice(config.tmpDir.length + 1)}`;
  const state: R1State = { ndpack, nginx, url, middle, start, length: end - start, dataStart };
  if (openNow) state.reader = await ndpack.openUrl(url);
  return state;
}

async function bareFetch(s: R1State): Promise<Uint8Array> {
  const response = await fetch(s.url, { headers: { range: `bytes=${s.start}-${s.start + s.length - 1}` } });
  if (response.status !== 206) throw new Error(`HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * The floor of any reader that learns where an array is from the file's header: one request of the
 * first 64 KiB (what `openUrl` asks for), then one of the range, both read into memory.
 */
async function twoBareFetches(s: R1State): Promise<Uint8Array> {
  const first = await fetch(s.url, { headers: { range: `bytes=0-${64 * 1024 - 1}` } });
  if (first.status !== 206) throw new Error(`HTTP ${first.status}`);
  touch([new Uint8Array(await first.arrayBuffer())]);
  return bareFetch(s);
}

async function openAndRead(s: R1State, verify = true) {
  const reader = await s.ndpack.openUrl(s.url);
  try {
    return await reader.read(s.middle, { verify });
  } finally {
    await reader.close();
  }
}

async function sourceOpenAndRead(s: R1State) {
  const source = await s.ndpack.httpSource(s.url);
  try {
    return await source.read(s.start, s.length);
  } finally {
    await source.close();
  }
}

export function remoteCases(config: BenchConfig): Case[] {
  const prepare = { key: "s4-file", run: writeS4File };
  const note = `R1: S4's ${config.quick ? "64 MiB file of 16" : "1 GiB file of 256"} float32 arrays of 4 MiB on nginx (127.0.0.1, sendfile, keep-alive), started in each case's setup; ndpack reads verify the CRC (the default), so the bare fetch asks for the same bytes: payload + CRC + padding; the two bare fetches (a peer) are the floor of any reader that reads the header first. Warm rows: a full GC before every call, one call per sample. First-call rows: one call in a fresh process.`;
  const base = { kind: "js", scenario: "R1", step: R1.step, bytes: 4 * MiB, prepare, note } as const;
  const teardown = async (s: R1State) => {
    await s.reader?.close();
    await s.nginx.stop();
  };
  const cases: JsCase<R1State>[] = [
    {
      ...base,
      lib: R1.fetch,
      role: "baseline",
      setup: (c) => r1Setup(c, false),
      run: async (s) => touch([await bareFetch(s)]),
      async extra(s) {
        const { entries } = await s.nginx.requests(() => bareFetch(s));
        return { bytesRead: bytesSent(entries), requests: entries.length };
      },
      teardown,
    },
    {
      ...base,
      lib: R1.twoFetches,
      role: "peer",
      setup: (c) => r1Setup(c, false),
      run: async (s) => touch([await twoBareFetches(s)]),
      teardown,
    },
    {
      ...base,
      lib: R1.openUrl,
      role: "ndpack",
      setup: (c) => r1Setup(c, false),
      run: async (s) => touch([(await openAndRead(s)).data]),
      async extra(s) {
        const { entries } = await s.nginx.requests(() => openAndRead(s));
        return { bytesRead: bytesSent(entries), requests: entries.length, allowedBytes: s.dataStart + 4 * MiB + 64 * 1024 };
      },
      teardown,
    },
    {
      ...base,
      lib: "ndpack openUrl + read (verify: false) + close",
      role: "ndpack",
      setup: (c) => r1Setup(c, false),
      run: async (s) => touch([(await openAndRead(s, false)).data]),
      teardown,
    },
    {
      ...base,
      lib: "ndpack read on an open reader",
      role: "ndpack",
      setup: (c) => r1Setup(c, true),
      run: async (s) => touch([(await s.reader!.read(s.middle)).data]),
      async extra(s) {
        const { entries } = await s.nginx.requests(() => s.reader!.read(s.middle));
        return { bytesRead: bytesSent(entries), requests: entries.length };
      },
      teardown,
    },
    {
      ...base,
      lib: R1.source,
      role: "ndpack",
      setup: (c) => r1Setup(c, false),
      run: async (s) => touch([await sourceOpenAndRead(s)]),
      teardown,
    },
  ];
  const cold = { step: R1.cold, runs: 1, warmup: 0 } as const;
  for (const c of cases.filter((c) => c.lib === R1.fetch || c.lib === R1.twoFetches || c.lib === R1.openUrl)) cases.push({ ...c, ...cold, extra: undefined });
  return cases;
}
