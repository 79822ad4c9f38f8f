/**
 * `ndpack view` and its page, in real Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core) against the built CLI's server (dist/: `npm test` builds it first), on files
 * generated here. Fails, never skips, when Chromium is missing (`.ci/run` installs it).
 *
 * Screenshots go to $NDPACK_SCREENSHOTS, or ndpack-viewer-screenshots/ in the OS temp dir.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bfloat16ToFloat32, decode, encode, float32ToBfloat16 } from "../src/index.js";
import { toNpz, toSafetensors } from "../src/interop/index.js";
import { saveSet } from "../src/node/index.js";
import { colorOf } from "../src/viewer/colors.js";
import { SAMPLE_BUDGET } from "../src/viewer/reader.js";
import { planRowSample, type RowSample } from "../src/viewer/sample.js";
import { fileBytesSent, fileRequests, heatmapCell, hoverText, launchViewerBrowser, openPage as openAt, selectArray, startView, stopViews, writeSparse, type View } from "./helpers/viewer-page.js";

const SHOTS = process.env.NDPACK_SCREENSHOTS ?? join(tmpdir(), "ndpack-viewer-screenshots");

let dir: string;
let context: BrowserContext;

const openPage = (url: string, state?: string) => openAt(context, url, state);

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, name), fullPage: true });
}

// ---------------------------------------------------------------------------------------------
// Files

const IMAGE = { rows: 48, cols: 64 };
const imageValue = (r: number, c: number) => r * 100 + c;
const VOLUME = [4, 20, 30] as const;
const volumeValue = (a: number, r: number, c: number) => a * 10000 + r * 100 + c;

function gridFile(): Uint8Array {
  const image = Float32Array.from({ length: IMAGE.rows * IMAGE.cols }, (_, i) => imageValue(Math.floor(i / IMAGE.cols), i % IMAGE.cols));
  const volume = Float64Array.from({ length: VOLUME[0] * VOLUME[1] * VOLUME[2] }, (_, i) => volumeValue(Math.floor(i / 600), Math.floor(i / 30) % 20, i % 30));
  const signal = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i / 40) * 10);
  const z = Float32Array.from({ length: 2 * 16 * 16 }, (_, i) => (i % 2 === 0 ? 3 : 4) * (1 + Math.floor(i / 2)));
  const wave = Float32Array.from({ length: 200 * 300 }, (_, i) => {
    const [r, c] = [Math.floor(i / 300), i % 300];
    return Math.sin(r / 15) * Math.cos(c / 20) + 1.5 * Math.exp(-((r - 100) ** 2 + (c - 150) ** 2) / 800);
  });
  const bf = float32ToBfloat16(Float32Array.from({ length: 32 * 32 }, (_, i) => i / 8 - 50));
  return encode(
    {
      image: { data: image, shape: [IMAGE.rows, IMAGE.cols] },
      volume: { data: volume, shape: [...VOLUME] },
      wave: { data: wave, shape: [200, 300] },
      signal,
      z: { data: z, shape: [16, 16], dtype: "complex64" },
      bf: { data: bf, shape: [32, 32], dtype: "bfloat16" },
      labels: new BigInt64Array([1n, 2n, 3n]),
    },
    { metadata: { source: "viewer test", step: 3 } },
  );
}

function checkpointFile(): Uint8Array {
  const tensors: Record<string, { data: Uint16Array; shape: number[]; dtype: "bfloat16" }> = {};
  for (let layer = 0; layer < 24; layer++) {
    for (const [part, shape] of [["self_attn.q_proj", [64, 64]], ["self_attn.k_proj", [16, 64]], ["self_attn.v_proj", [16, 64]], ["mlp.up_proj", [128, 64]], ["mlp.down_proj", [64, 128]]] as const) {
      const count = shape[0] * shape[1];
      tensors[`model.layers.${layer}.${part}.weight`] = { data: float32ToBfloat16(Float32Array.from({ length: count }, (_, i) => Math.sin(i + layer) * 0.05)), shape: [...shape], dtype: "bfloat16" };
    }
  }
  return toSafetensors(tensors, { metadata: { format: "pt", model: "tiny test checkpoint" } });
}

/** A 1 GiB ndpack file written sparse: a header, then a hole for a [16384, 16384] float32 array. */
function writeSparseGiB(path: string): { headerBytes: number } {
  return writeSparse(path, [{ name: "big", dtype: "float32", shape: [16384, 16384], order: "C", byteLength: 16384 * 16384 * 4 }], { alignment: 4096, metadata: { note: "sparse" } });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ndpack-viewer-"));
  const grid = gridFile();
  writeFileSync(join(dir, "grid.ndp"), grid);
  const damaged = grid.slice();
  const image = decode(grid).info("image");
  damaged[image.offset + 100]! ^= 0x10;
  writeFileSync(join(dir, "damaged.ndp"), damaged);
  writeFileSync(join(dir, "truncated.ndp"), grid.subarray(0, grid.length - 10));
  writeFileSync(join(dir, "checkpoint.safetensors"), checkpointFile());
  context = await launchViewerBrowser(dir);
}, 120_000);

afterAll(async () => {
  await context?.close();
  stopViews();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe("ndpack view serves the file with Range support", () => {
  test("206 for a range, 416 past the end, 200 without Range, an ETag, and 304 for a matching If-None-Match", async () => {
    const view = await startView(join(dir, "grid.ndp"));
    const fileUrl = `${view.origin}${new URL(view.url).searchParams.get("url")}`;
    const bytes = readFileSync(join(dir, "grid.ndp"));
    const ranged = await fetch(fileUrl, { headers: { Range: "bytes=10-19" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe(`bytes 10-19/${bytes.length}`);
    expect(Buffer.from(await ranged.arrayBuffer())).toEqual(bytes.subarray(10, 20));
    const suffix = await fetch(fileUrl, { headers: { Range: "bytes=-5" } });
    expect(suffix.status).toBe(206);
    expect(Buffer.from(await suffix.arrayBuffer())).toEqual(bytes.subarray(bytes.length - 5));
    const past = await fetch(fileUrl, { headers: { Range: `bytes=${bytes.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get("content-range")).toBe(`bytes */${bytes.length}`);
    await past.arrayBuffer();
    const whole = await fetch(fileUrl);
    expect(whole.status).toBe(200);
    const etag = whole.headers.get("etag")!;
    expect(etag).toMatch(/^".+"$/);
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(bytes);
    const cached = await fetch(fileUrl, { headers: { "If-None-Match": etag } });
    expect(cached.status).toBe(304);
    const stale = await fetch(fileUrl, { headers: { Range: "bytes=0-3", "If-Range": '"other"' } });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();
    expect((await fetch(`${view.origin}/etc/passwd`)).status).toBe(404);
    expect((await fetch(fileUrl, { method: "POST" })).status).toBe(405);
  });
});

describe("ndpack view against hostile requests", () => {
  /** A GET to the view server with a Host header of one's choice (fetch sets its own). */
  const get = (origin: string, path: string, host?: string) =>
    new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(origin);
      const request = httpRequest({ hostname, port, path, headers: host === undefined ? {} : { host } }, (response) => {
        response.resume();
        resolve(response.statusCode!);
      });
      request.on("error", reject);
      request.end();
    });

  test("a malformed escape (%ff) is 404 and the server keeps serving; a Host other than 127.0.0.1 or localhost (DNS rebinding) is 421", async () => {
    const view = await startView(join(dir, "grid.ndp"));
    const filePath = new URL(view.url).searchParams.get("url")!;
    expect(await get(view.origin, "/%ff")).toBe(404);
    expect(await get(view.origin, "/file/%E0.ndp")).toBe(404);
    expect(await get(view.origin, filePath)).toBe(200);
    const port = new URL(view.origin).port;
    expect(await get(view.origin, filePath, `attacker.example:${port}`)).toBe(421);
    expect(await get(view.origin, filePath, `localhost:${port}`)).toBe(200);
  });
});

describe("the viewer page, in Chromium", () => {
  let view: View;
  beforeAll(async () => {
    view = await startView(join(dir, "grid.ndp"));
  });

  test("the table lists every array of the file with its dtype, shape and codec; the filter narrows it; the metadata is shown", async () => {
    const page = await openPage(view.url);
    const rows = await page.$$eval("#arrays tbody tr", (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent)));
    const file = decode(readFileSync(join(dir, "grid.ndp")));
    expect(rows.map((r) => r.slice(0, 3))).toEqual(file.names.map((name) => [name, file.info(name).dtype, `[${file.info(name).shape.join(", ")}]`]));
    expect(rows.map((r) => r[4])).toEqual(file.names.map((name) => file.info(name).codec));
    expect(JSON.parse((await page.textContent("#metadata"))!)).toEqual({ source: "viewer test", step: 3 });
    await page.fill("#filter", "VOL");
    expect(await page.$$eval("#arrays tbody tr", (trs) => trs.map((tr) => tr.dataset.name))).toEqual(["volume"]);
    await page.close();
  });

  test("a 2-D float array: heatmap pixels have the scale's colors for their values, the histogram's counts are Node's, hovering shows value and index", async () => {
    const page = await openPage(view.url);
    await selectArray(page, "image");
    const data = await page.$eval("#heatmap", (canvas) => ({ ...(canvas as HTMLCanvasElement).dataset }));
    expect([Number(data.rows), Number(data.cols), Number(data.min), Number(data.max)]).toEqual([IMAGE.rows, IMAGE.cols, 0, imageValue(IMAGE.rows - 1, IMAGE.cols - 1)]);
    const [min, max] = [0, imageValue(IMAGE.rows - 1, IMAGE.cols - 1)];
    for (const [r, c] of [[0, 0], [5, 7], [20, 40], [47, 63], [30, 2]] as const) {
      const { rgb, x, y } = await heatmapCell(page, r, c);
      expect(rgb, `cell ${r},${c}`).toEqual([...colorOf(imageValue(r, c), min, max)]);
      expect(await hoverText(page, x, y)).toBe(`[${r}, ${c}] = ${imageValue(r, c)}`);
    }
    // The histogram, counted here: 64 equal bins over [min, max], the last one closed.
    const expected = new Array<number>(64).fill(0);
    for (let r = 0; r < IMAGE.rows; r++) for (let c = 0; c < IMAGE.cols; c++) expected[Math.min(63, Math.floor(((imageValue(r, c) - min) / (max - min)) * 64))]!++;
    const counts = await page.$eval("#histogram", (canvas) => (canvas as HTMLCanvasElement).dataset.counts!.split(",").map(Number));
    expect(counts).toEqual(expected);
    const stats = await page.$$eval("#stats dd", (dds) => Object.fromEntries(dds.map((dd) => [dd.dataset.stat, dd.textContent])));
    expect(stats).toMatchObject({ elements: String(IMAGE.rows * IMAGE.cols), min: "0", max: String(max), NaN: "0", "±Inf": "0" });
    expect(await page.textContent(`#arrays tr[data-name="image"] td.checksum`)).toBe("ok");
    await screenshot(page, "viewer-2d.png");
    await selectArray(page, "wave");
    const center = await heatmapCell(page, 100, 150);
    const peak = Math.fround(Math.sin(100 / 15) * Math.cos(150 / 20) + 1.5);
    expect(await hoverText(page, center.x, center.y)).toBe(`[100, 150] = ${Number(peak.toPrecision(6))}`);
    await screenshot(page, "viewer-field.png");
    await page.close();
  });

  test("an N-D array: choosing the index of the third axis shows that slice, and hovering names the full index", async () => {
    const page = await openPage(view.url);
    await selectArray(page, "volume");
    await page.$eval("#index-0", (input) => {
      (input as HTMLInputElement).value = "2";
      input.dispatchEvent(new Event("input"));
    });
    const data = await page.$eval("#heatmap", (canvas) => ({ ...(canvas as HTMLCanvasElement).dataset }));
    expect([Number(data.rows), Number(data.cols), Number(data.min), Number(data.max)]).toEqual([20, 30, volumeValue(2, 0, 0), volumeValue(2, 19, 29)]);
    const { rgb, x, y } = await heatmapCell(page, 3, 4);
    expect(rgb).toEqual([...colorOf(volumeValue(2, 3, 4), volumeValue(2, 0, 0), volumeValue(2, 19, 29))]);
    expect(await hoverText(page, x, y)).toBe(`[2, 3, 4] = ${volumeValue(2, 3, 4)}`);
    // Rows along axis 0 and columns along axis 2, at index 5 of axis 1.
    await page.selectOption("#row-axis", "0");
    await page.$eval("#index-1", (input) => {
      (input as HTMLInputElement).value = "5";
      input.dispatchEvent(new Event("input"));
    });
    const turned = await heatmapCell(page, 1, 6);
    expect(await hoverText(page, turned.x, turned.y)).toBe(`[1, 5, 6] = ${volumeValue(1, 5, 6)}`);
    await page.selectOption("#row-axis", "1");
    await page.$eval("#index-0", (input) => {
      (input as HTMLInputElement).value = "2";
      input.dispatchEvent(new Event("input"));
    });
    await screenshot(page, "viewer-nd-slice.png");
    await page.close();
  });

  test("complex as magnitude or phase, bfloat16 as its float values, 1-D as a line plot", async () => {
    const page = await openPage(view.url);
    await selectArray(page, "z");
    let cell = await heatmapCell(page, 0, 1);
    expect(await hoverText(page, cell.x, cell.y)).toBe("[0, 1] = 10"); // |6 + 8i|
    await page.selectOption("#complex-mode", "phase");
    cell = await heatmapCell(page, 0, 1);
    expect(await hoverText(page, cell.x, cell.y)).toBe(`[0, 1] = ${Number(Math.atan2(8, 6).toPrecision(6))}`);
    await selectArray(page, "bf");
    cell = await heatmapCell(page, 2, 3);
    // The value bfloat16 stores for (2 * 32 + 3) / 8 - 50 = -41.625, which it rounds to 8 significant bits.
    const stored = bfloat16ToFloat32(float32ToBfloat16(Float32Array.of((2 * 32 + 3) / 8 - 50)))[0]!;
    expect(stored).not.toBe(-41.625);
    expect(await hoverText(page, cell.x, cell.y)).toBe(`[2, 3] = ${stored}`);
    await selectArray(page, "signal");
    expect(await page.isVisible("#lineplot")).toBe(true);
    expect(await page.$eval("#lineplot", (canvas) => (canvas as HTMLCanvasElement).dataset.count)).toBe("1000");
    await page.close();
  });

  test("ndpack view URL: the remote file is read through the local server with Range requests", async () => {
    const upstream = await startView(join(dir, "grid.ndp"));
    const remote = `${upstream.origin}${new URL(upstream.url).searchParams.get("url")}`;
    const proxy = await startView(remote);
    const page = await openPage(proxy.url);
    expect(await page.$$eval("#arrays tbody tr", (trs) => trs.length)).toBe(decode(readFileSync(join(dir, "grid.ndp"))).names.length);
    await selectArray(page, "image");
    const cell = await heatmapCell(page, 5, 7);
    expect(await hoverText(page, cell.x, cell.y)).toBe(`[5, 7] = ${imageValue(5, 7)}`);
    // Every request reached the upstream server as a Range request.
    // (openUrl's first request, 64 KiB, holds this file's header and "image": one request.)
    const upstreamFileRequests = await fileRequests(upstream, 1);
    expect(upstreamFileRequests.length).toBeGreaterThanOrEqual(1);
    for (const line of upstreamFileRequests) expect(line).toMatch(/ bytes=\d+-\d+ 206 /);
    await page.close();
  });

  test("a page whose ?url= holds a malformed escape shows the error, not a blank page", async () => {
    const page = await openPage(`${view.origin}/?url=/file/bad%E0.ndp`, "error");
    expect(await page.textContent("#file-name")).toMatch(/^bad.+\.ndp$/);
    expect(await page.textContent("#error")).toMatch(/HTTP_ERROR|404/);
    await page.close();
  });

  test("an array with a dimension of 0 ([0, 5], [0, 3, 4]) is shown as empty: no heatmap, 0 elements", async () => {
    writeFileSync(join(dir, "empty.ndp"), encode({ flat: { data: new Float32Array(0), shape: [0, 5] }, deep: { data: new Float64Array(0), shape: [0, 3, 4] } }));
    const emptyView = await startView(join(dir, "empty.ndp"));
    const page = await openPage(emptyView.url);
    for (const name of ["flat", "deep"]) {
      await selectArray(page, name);
      expect(await page.isHidden("#heatmap-row")).toBe(true);
      expect(await page.textContent("#hover")).toBe("an empty array: no values to draw");
      expect(await page.textContent("#stats")).toMatch(/elements0/);
    }
    await page.close();
  });

  test("a sharded set (ndpack view of its index): the table has every array of every shard, and an array is shown", async () => {
    const folder = join(dir, "set");
    const image = Float32Array.from({ length: IMAGE.rows * IMAGE.cols }, (_, i) => imageValue(Math.floor(i / IMAGE.cols), i % IMAGE.cols));
    await saveSet(folder, { image: { data: image, shape: [IMAGE.rows, IMAGE.cols] }, signal: new Float32Array(100), labels: new Int32Array(10) }, { maxShardBytes: 1024 });
    const setView = await startView(join(folder, "model.ndp.index.json"));
    const page = await openPage(setView.url);
    const rows = await page.$$eval("#arrays tbody tr", (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent).slice(0, 3)));
    expect(rows).toEqual([
      ["image", "float32", `[${IMAGE.rows}, ${IMAGE.cols}]`],
      ["signal", "float32", "[100]"],
      ["labels", "int32", "[10]"],
    ]);
    await selectArray(page, "image");
    const cell = await heatmapCell(page, 5, 7);
    expect(await hoverText(page, cell.x, cell.y)).toBe(`[5, 7] = ${imageValue(5, 7)}`);
    await page.close();
  });

  test("the selected array's row is highlighted (aria-current); from the keyboard, arrow keys, Home and End select the row they reach, which keeps the focus, and Enter or Space the row focused", async () => {
    const page = await openPage(view.url);
    const names = decode(readFileSync(join(dir, "grid.ndp"))).names;
    const state = () =>
      page.evaluate(() => ({
        selected: Array.from(document.querySelectorAll<HTMLElement>("#arrays tbody tr.selected"), (tr) => tr.dataset.name),
        current: Array.from(document.querySelectorAll<HTMLElement>('#arrays tbody tr[aria-current="true"]'), (tr) => tr.dataset.name),
        inTabOrder: Array.from(document.querySelectorAll<HTMLElement>('#arrays tbody tr[tabindex="0"]'), (tr) => tr.dataset.name),
        focused: (document.activeElement as HTMLElement | null)?.dataset.name,
        title: document.querySelector("#array-title bdi")?.textContent,
      }));
    const shows = (name: string) => page.waitForFunction((name) => document.body.dataset.state === "shown" && document.querySelector("#array-title bdi")?.textContent === name, name);
    // Nothing selected yet: the first row is the one in the tab order.
    expect(await state()).toMatchObject({ selected: [], current: [], inTabOrder: [names[0]] });
    await selectArray(page, names[2]!);
    expect(await state()).toMatchObject({ selected: [names[2]], current: [names[2]], inTabOrder: [names[2]], title: names[2] });
    await page.focus('#arrays tbody tr[tabindex="0"]');
    await page.keyboard.press("ArrowDown");
    await shows(names[3]!);
    expect(await state()).toEqual({ selected: [names[3]], current: [names[3]], inTabOrder: [names[3]], focused: names[3], title: names[3] });
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("ArrowUp");
    await shows(names[1]!);
    expect((await state()).focused).toBe(names[1]);
    await page.keyboard.press("End");
    await shows(names[names.length - 1]!);
    await page.keyboard.press("ArrowDown"); // past the last row: it stays selected
    await shows(names[names.length - 1]!);
    await page.keyboard.press("Home");
    await shows(names[0]!);
    expect(await state()).toEqual({ selected: [names[0]], current: [names[0]], inTabOrder: [names[0]], focused: names[0], title: names[0] });
    // Enter (or Space) selects the row that has the focus.
    await page.focus(`#arrays tbody tr[data-name="${names[5]}"]`);
    await page.keyboard.press("Enter");
    await shows(names[5]!);
    await page.keyboard.press("ArrowUp");
    await shows(names[4]!);
    await page.focus(`#arrays tbody tr[data-name="${names[6]}"]`);
    await page.keyboard.press(" ");
    await shows(names[6]!);
    expect(await state()).toMatchObject({ selected: [names[6]], focused: names[6] });
    // The filter leaves the selected row out: the first row listed takes the tab order.
    await page.fill("#filter", names[4]!);
    expect(await state()).toMatchObject({ selected: [], inTabOrder: [names[4]] });
    await page.close();
  });

  test("a dropped or chosen file is read from the Blob, without the server", async () => {
    const page = await openPage(`${view.origin}/`, "empty");
    await page.setInputFiles("#file-input", join(dir, "checkpoint.safetensors"));
    await page.waitForSelector('body[data-state="open"]');
    expect(await page.$$eval("#arrays tbody tr", (trs) => trs.length)).toBe(24 * 5);
    await page.close();
  });

  test("the file chooser opens from the keyboard (Enter or Space on the drop zone), and the file chosen is shown", async () => {
    const page = await openPage(`${view.origin}/`, "empty");
    // A listener makes Playwright ask the browser to intercept file choosers, without waiting for
    // the answer: a key pressed before it lands opens a chooser nobody sees (the test timed out
    // in about 1 run of 3 of this file). A round trip after it is ordered after that request.
    page.on("filechooser", () => undefined);
    await page.evaluate(() => 0);
    for (const key of ["Enter", " "]) {
      await page.focus("#drop");
      const [chooser] = await Promise.all([page.waitForEvent("filechooser"), page.keyboard.press(key)]);
      await chooser.setFiles(join(dir, key === "Enter" ? "checkpoint.safetensors" : "grid.ndp"));
      await page.waitForFunction((name) => document.body.dataset.state === "open" && document.getElementById("file-name")?.textContent === name, key === "Enter" ? "checkpoint.safetensors" : "grid.ndp");
    }
    expect(await page.$$eval("#arrays tbody tr", (trs) => trs.map((tr) => tr.dataset.name))).toEqual(decode(readFileSync(join(dir, "grid.ndp"))).names);
    await page.close();
  });
});

describe("a deflated .npz (np.savez_compressed)", () => {
  test("its members are inflated in the page (pako) and shown: heatmap colors and checksum state", async () => {
    const image = Float32Array.from({ length: IMAGE.rows * IMAGE.cols }, (_, i) => imageValue(Math.floor(i / IMAGE.cols), i % IMAGE.cols));
    const path = join(dir, "compressed.npz");
    writeFileSync(path, toNpz({ image: { data: image, shape: [IMAGE.rows, IMAGE.cols] }, ids: new Int32Array([7, 8, 9]) }, { compress: true }));
    const view = await startView(path);
    const page = await openPage(view.url);
    expect(await page.textContent(`#arrays tr[data-name="image"]`)).toContain("deflate");
    await selectArray(page, "image");
    const [min, max] = [0, imageValue(IMAGE.rows - 1, IMAGE.cols - 1)];
    for (const [r, c] of [[0, 0], [20, 40], [47, 63]] as const) {
      const { rgb } = await heatmapCell(page, r, c);
      expect(rgb, `cell ${r},${c}`).toEqual([...colorOf(imageValue(r, c), min, max)]);
    }
    expect(await page.textContent(`#arrays tr[data-name="image"] td.checksum`)).toBe("ok");
    await page.close();
  });
});

describe("errors are shown on the page", () => {
  test("CHECKSUM: a flipped payload bit", async () => {
    const view = await startView(join(dir, "damaged.ndp"));
    const page = await openPage(view.url);
    await selectArray(page, "image", "error");
    expect(await page.getAttribute("#error", "data-code")).toBe("CHECKSUM");
    expect(await page.textContent("#error")).toMatch(/^CHECKSUM: array "image"/);
    expect(await page.textContent(`#arrays tr[data-name="image"] td.checksum`)).toBe("CHECKSUM");
    // The other arrays are intact.
    await selectArray(page, "volume");
    expect(await page.textContent(`#arrays tr[data-name="volume"] td.checksum`)).toBe("ok");
    await page.close();
  });

  test("TRUNCATED: a file cut short", async () => {
    const view = await startView(join(dir, "truncated.ndp"));
    const page = await openPage(view.url, "error");
    expect(await page.getAttribute("#error", "data-code")).toBe("TRUNCATED");
    await page.close();
  });

  test("a server without Range support", async () => {
    const bytes = readFileSync(join(dir, "grid.ndp"));
    // Answers every GET with the whole file (200), as a server without Range support does.
    const server: Server = createServer((request, response) => {
      response.writeHead(request.method === "OPTIONS" ? 204 : 200, { "Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "Range" });
      response.end(request.method === "OPTIONS" ? undefined : bytes);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const view = await startView(join(dir, "grid.ndp"));
      const remote = `http://127.0.0.1:${(server.address() as { port: number }).port}/grid.ndp`;
      const page = await openPage(`${view.origin}/?url=${encodeURIComponent(remote)}`, "error");
      expect(await page.getAttribute("#error", "data-code")).toBe("RANGE_NOT_SUPPORTED");
      expect(await page.textContent("#error")).toMatch(/ignores Range requests/);
      await page.close();
    } finally {
      server.close();
    }
  });
});

describe("a 1 GiB file", () => {
  test("shows its table at once and fetches only the header and the viewed array's bounded sample", async () => {
    const path = join(dir, "big.ndp");
    const { headerBytes } = writeSparseGiB(path);
    const view = await startView(path);
    const page = await openPage(view.url);
    await fileRequests(view, 1);
    const afterOpen = fileBytesSent(view);
    expect(afterOpen).toBeLessThanOrEqual(64 * 1024 + 1);
    expect(await page.$$eval("#arrays tbody tr", (trs) => trs.map((tr) => tr.dataset.name))).toEqual(["big"]);
    await selectArray(page, "big");
    const gib = 16384 * 16384 * 4;
    const plan = planRowSample({ name: "big", dtype: "float32", shape: [16384, 16384], order: "C", byteOrder: "little", codec: "none", offset: headerBytes, byteLength: gib, nbytes: gib }, SAMPLE_BUDGET) as RowSample;
    expect(plan.rows.length).toBe(256);
    expect(await page.textContent("#sample-note")).toMatch(/^showing 256 of 16384 rows, in 64 runs/);
    const requests = await fileRequests(view, 1 + 64);
    const total = fileBytesSent(view);
    // The sample's 256 rows, less the start of the first run, which openUrl's first 64 KiB held.
    expect(total - afterOpen).toBe(256 * 16384 * 4 - (64 * 1024 - headerBytes));
    expect(total).toBeLessThanOrEqual(Math.max(headerBytes, 64 * 1024) + SAMPLE_BUDGET);
    expect(requests).toHaveLength(1 + 64);
    // Hovering names rows by their index in the file: grid row 7 is sample row 7 * step.
    const step = Number(await page.$eval("#heatmap", (canvas) => (canvas as HTMLCanvasElement).dataset.step));
    const cell = await heatmapCell(page, 7, 0);
    expect(await hoverText(page, cell.x, cell.y)).toBe(`[${plan.rows[7 * step]}, 0] = 0`);
    await page.close();
  });
});

describe("screenshots", () => {
  test("a safetensors checkpoint's table", async () => {
    const view = await startView(join(dir, "checkpoint.safetensors"));
    const page = await openPage(view.url);
    await page.fill("#filter", "layers.3");
    await selectArray(page, "model.layers.3.mlp.up_proj.weight");
    expect(await page.$$eval("#arrays tbody tr", (trs) => trs.length)).toBe(5);
    await page.fill("#filter", "");
    await screenshot(page, "viewer-safetensors.png");
    await page.close();
  });
});
