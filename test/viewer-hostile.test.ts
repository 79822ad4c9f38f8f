/**
 * The viewer page against hostile and unusual files, in real Chromium (test/helpers/viewer-page.ts):
 * whatever a file holds is shown as text and escaped, never run; every value is shown as it is
 * stored; sizes stay bounded; damage and refusals end in an error with its code; and a file opened
 * or an array selected while another is still being read never shows the other's values or errors.
 * No test may open a dialog or leave an uncaught error in the page (checked after each).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateRawSync } from "node:zlib";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { decode, encode, float32ToBfloat16, float32ToFloat16 } from "../src/index.js";
import { layoutHead } from "../src/encode.js";
import { toNpz, toSafetensors } from "../src/interop/index.js";
import { displayName } from "../src/text.js";
import { SAMPLE_BUDGET } from "../src/viewer/reader.js";
import { errorShown, fileBytesSent, heatmapCell, hoverText, launchViewerBrowser, lineHover, openPage as openAt, selectArray, startView, statsShown, stopViews, writeSparse, type View } from "./helpers/viewer-page.js";

let dir: string;
let context: BrowserContext;
/** Serves the page (and grid.ndp); most files here are chosen in the page, as a person drops one. */
let home: View;
/** Dialogs opened and uncaught page errors, checked empty after each test. */
const dialogs: string[] = [];
const pageErrors: string[] = [];

const openPage = (url: string, state?: string) => openAt(context, url, state);
const path = (name: string) => join(dir, name);

/** Chooses the file at `file` in the page's file input (read from the Blob, as a dropped file) and waits for `state`. */
async function choose(page: Page, file: string, state = "open"): Promise<void> {
  await page.setInputFiles("#file-input", file);
  await page.waitForSelector(`body[data-state="${state}"]`);
}

/** A page of the viewer with no file open. */
const emptyPage = () => openPage(`${home.origin}/`, "empty");

/** Names in the table, as shown. */
const tableNames = (page: Page) => page.$$eval("#arrays tbody td.name", (tds) => tds.map((td) => td.textContent!));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ndpack-viewer-hostile-"));
  writeFileSync(path("grid.ndp"), encode({ image: { data: Float32Array.from({ length: 12 }, (_, i) => i), shape: [3, 4] } }));
  context = await launchViewerBrowser(dir);
  context.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  context.on("weberror", (error) => pageErrors.push(String(error.error())));
  home = await startView(path("grid.ndp"));
}, 120_000);

afterEach(() => {
  expect(dialogs.splice(0), "dialogs opened").toEqual([]);
  expect(pageErrors.splice(0), "uncaught errors in the page").toEqual([]);
});

afterAll(async () => {
  await context?.close();
  stopViews();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe("what a file holds is shown as text, never run", () => {
  const names = ['<img src=x onerror="window.pwned=1;alert(1)">', "</script><script>window.pwned=2;alert(2)</script>", "javascript:alert(3)", '<a href="javascript:alert(4)">link</a>'];
  const metadata = { '<b onmouseover="alert(5)">key</b>': '<img src=x onerror="window.pwned=3">', "</script>": ["<svg onload=alert(6)>"] };
  /** Elements a file's text would have made, were it parsed as HTML (the page itself has none of these). */
  const made = (page: Page) => page.evaluate(() => ({ elements: document.querySelectorAll("body img, body svg, body a, body b, body script:not([src])").length, pwned: (window as { pwned?: number }).pwned }));

  test("array names, metadata and a file name holding HTML and script: the same text in the table, the title and the metadata", async () => {
    const file = path('<img src=x onerror="window.pwned=4">.ndp');
    writeFileSync(file, encode(Object.fromEntries(names.map((name, i) => [name, Float32Array.of(i)])), { metadata }));
    const page = await emptyPage();
    await choose(page, file);
    expect(await page.textContent("#file-name")).toBe('<img src=x onerror="window.pwned=4">.ndp');
    expect(await tableNames(page)).toEqual(names);
    expect(JSON.parse((await page.textContent("#metadata"))!)).toEqual(metadata);
    for (const name of names) {
      await selectArray(page, name);
      expect(await page.textContent("#array-title bdi")).toBe(name);
    }
    expect(await made(page)).toEqual({ elements: 0, pwned: undefined });
    await page.close();
  });

  test("an error quoting a file's dtype string: UNKNOWN_DTYPE, its text as it is", async () => {
    const header = new TextEncoder().encode(JSON.stringify({ a: { dtype: '<img src=x onerror="window.pwned=5">', shape: [1], data_offsets: [0, 4] } }));
    const bytes = new Uint8Array(8 + header.length + 4);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(header, 8);
    writeFileSync(path("dtype.safetensors"), bytes);
    const page = await emptyPage();
    await choose(page, path("dtype.safetensors"), "error");
    const error = await errorShown(page);
    expect(error.code).toBe("UNKNOWN_DTYPE");
    expect(error.text).toContain('has dtype "<img src=x onerror=\\"window.pwned=5\\">"');
    expect(await made(page)).toEqual({ elements: 0, pwned: undefined });
    await page.close();
  });

  test("bidirectional overrides and control characters are shown as escapes: in names (quoted), the title, messages, metadata and the file name", async () => {
    // "a\u202egnp.exe" reads "aexe.png" where the override acts, and reverses the text after it.
    const spoof = "a\u202egnp.exe";
    const names = [spoof, "line\nbreak\ttab\u0000nul", "\u2067isolate", "trailing "];
    const file = path("x\u202egnp.ndp");
    const bytes = encode(Object.fromEntries(names.map((name, i) => [name, Float32Array.of(i)])), { metadata: { "\u202ekey": "value\u200f", long: `\u202e${"x".repeat(300)}` } });
    // The spoofed array damaged: its CHECKSUM message quotes its name.
    bytes[decode(bytes).info(spoof).offset]! ^= 1;
    writeFileSync(file, bytes);
    const page = await emptyPage();
    await choose(page, file);
    expect(await tableNames(page)).toEqual(names.map(displayName));
    expect((await tableNames(page))[0]).toBe('"a\\u202egnp.exe"');
    expect(await page.textContent("#file-name")).toBe("x\\u202egnp.ndp");
    const metadataText = (await page.textContent("#metadata"))!;
    expect(metadataText).toContain('"\\u202ekey": "value\\u200f"');
    expect(metadataText).toContain('"long": "\\u202exxx');
    await selectArray(page, "line\nbreak\ttab\u0000nul");
    expect(await page.textContent("#array-title bdi")).toBe('"line\\nbreak\\ttab\\u0000nul"');
    expect(await page.textContent("#array-title")).toMatch(/ {2}float32 \[1\], C order, little-endian$/);
    await selectArray(page, spoof, "error");
    expect(await errorShown(page)).toEqual({ code: "CHECKSUM", text: expect.stringContaining('array "a\\u202egnp.exe"') });
    // Not one such character is left anywhere in the page's text (line feeds only in the metadata's lines).
    const text = await page.evaluate(() => document.body.textContent!.replace(document.getElementById("metadata")!.textContent!, ""));
    // (The page's own line feeds, between its elements, aside.)
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
    // The filter matches names as shown.
    await page.fill("#filter", "gnp.exe");
    expect(await tableNames(page)).toEqual(['"a\\u202egnp.exe"']);
    await page.close();
  });

  test("metadata of 20 MB: long strings and the whole text are cut, and the page opens", async () => {
    // 90 MB of metadata as one element's text held the tab for a minute.
    const many = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`key${i}`, i]));
    writeFileSync(path("metadata.ndp"), encode({ a: Float32Array.of(1) }, { metadata: { text: "x".repeat(20_000_000), many } }));
    const page = await emptyPage();
    await choose(page, path("metadata.ndp"));
    const text = (await page.textContent("#metadata"))!;
    expect(text.length).toBeLessThan(100_200);
    expect(text).toContain(`"text": "${"x".repeat(200)}…" (+19999800 characters)`);
    expect(text).toMatch(/\n… \(\d+ more characters: `ndpack inspect --json` prints them all\)$/);
    await selectArray(page, "a");
    await page.close();
  });

  test("a URL other than http(s) (javascript:, data:, file:, blob:, a malformed one) is INVALID_ARGUMENT, before any request", async () => {
    const requested: string[] = [];
    const onRequest = (request: { url(): string }) => requested.push(request.url());
    context.on("request", onRequest);
    try {
      for (const url of ["javascript:window.pwned=6;alert(7)", "data:application/octet-stream;base64,k05VTVBZ", "file:///etc/passwd", "blob:null/1", "http://["]) {
        const page = await openPage(`${home.origin}/?url=${encodeURIComponent(url)}`, "error");
        expect(await errorShown(page), url).toEqual({ code: "INVALID_ARGUMENT", text: expect.stringMatching(/^INVALID_ARGUMENT: /) });
        await page.close();
        // Typed in the page's own field (whose type=url check lets every one but the malformed one through).
        if (url === "http://[") continue;
        const typed = await emptyPage();
        await typed.fill("#url-input", url);
        await typed.click("#url-form button");
        await typed.waitForSelector('body[data-state="error"]');
        expect((await errorShown(typed)).code, url).toBe("INVALID_ARGUMENT");
        expect(await typed.evaluate(() => (window as { pwned?: number }).pwned)).toBeUndefined();
        await typed.close();
      }
    } finally {
      context.off("request", onRequest);
    }
    expect(requested.filter((url) => !url.startsWith(home.origin))).toEqual([]);
  });
});

describe("values are shown as stored", () => {
  const COUNT_F32 = 8;
  beforeAll(() => {
    writeFileSync(
      path("values.ndp"),
      encode({
        i64: BigInt64Array.of(-(2n ** 63n), 2n ** 53n + 1n, 2n ** 63n - 1n, 1234567890123456789n),
        u64: BigUint64Array.of(2n ** 64n - 1n, 0n),
        grid64: { data: BigInt64Array.of(2n ** 62n + 1n, -3n, 4n, 5n), shape: [2, 2] },
        f32: Float32Array.of(NaN, Infinity, -Infinity, -0, 1e-45, 1234567.5, 0.1, 3.4028234663852886e38),
        f16: { data: float32ToFloat16(Float32Array.of(NaN, Infinity, -0, 5.960464477539063e-8, 65504)), dtype: "float16" },
        bf16: { data: float32ToBfloat16(Float32Array.of(NaN, -Infinity, 9.183549615799121e-41, 1)), dtype: "bfloat16" },
        scalar: { data: Float64Array.of(-0), shape: [] },
      }),
    );
    // bool bytes other than 0 and 1 are true (FORMAT.md §3); safetensors holds them as stored.
    const bool = toSafetensors({ b: { data: Uint8Array.of(0, 1, 1, 1), dtype: "bool" } });
    bool.set([2, 255], bool.length - 2);
    writeFileSync(path("bool.safetensors"), bool);
  });

  test("int64 and uint64 beyond 2^53: exact in the hover (line and heatmap) and in min and max", async () => {
    const page = await emptyPage();
    await choose(page, path("values.ndp"));
    await selectArray(page, "i64");
    expect(await statsShown(page)).toMatchObject({ min: "-9223372036854775808", max: "9223372036854775807" });
    expect(await lineHover(page, 1, 4)).toBe("[1] = 9007199254740993");
    expect(await lineHover(page, 3, 4)).toBe("[3] = 1234567890123456789");
    await selectArray(page, "u64");
    expect(await statsShown(page)).toMatchObject({ min: "0", max: "18446744073709551615" });
    expect(await lineHover(page, 0, 2)).toBe("[0] = 18446744073709551615");
    await selectArray(page, "grid64");
    const cell = await heatmapCell(page, 0, 0);
    expect(await hoverText(page, cell.x, cell.y)).toBe("[0, 0] = 4611686018427387905");
    await page.close();
  });

  test("NaN, ±Inf, -0, subnormals, float16, bfloat16; rounded numbers of 10^6 and more in exponent form; a 0-d array's index []", async () => {
    const page = await emptyPage();
    await choose(page, path("values.ndp"));
    await selectArray(page, "f32");
    expect(await statsShown(page)).toMatchObject({ elements: "8", NaN: "1", "±Inf": "2", min: "-0", max: "3.40282e+38" });
    const f32 = ["NaN", "Infinity", "-Infinity", "-0", "1.4013e-45", "1.23457e+6", "0.1", "3.40282e+38"];
    for (const [i, shown] of f32.entries()) expect(await lineHover(page, i, COUNT_F32)).toBe(`[${i}] = ${shown}`);
    await selectArray(page, "f16");
    for (const [i, shown] of ["NaN", "Infinity", "-0", "5.96046e-8", "65504"].entries()) expect(await lineHover(page, i, 5)).toBe(`[${i}] = ${shown}`);
    await selectArray(page, "bf16");
    for (const [i, shown] of ["NaN", "-Infinity", "9.18355e-41", "1"].entries()) expect(await lineHover(page, i, 4)).toBe(`[${i}] = ${shown}`);
    await selectArray(page, "scalar");
    expect(await statsShown(page)).toMatchObject({ elements: "1", min: "-0", max: "-0" });
    expect(await lineHover(page, 0, 1)).toBe("[] = -0");
    await page.close();
  });

  test("bool bytes 2 and 255 are true: 1 in the hover and the statistics", async () => {
    const page = await emptyPage();
    await choose(page, path("bool.safetensors"));
    await selectArray(page, "b");
    expect(await statsShown(page)).toMatchObject({ min: "0", max: "1", mean: "0.75" });
    expect(await lineHover(page, 2, 4)).toBe("[2] = 1");
    expect(await lineHover(page, 3, 4)).toBe("[3] = 1");
    await page.close();
  });
});

describe("sizes stay bounded", () => {
  test("arrays over 16 MiB that cannot be sampled by rows (one row too large, compressed, F order) are LIMIT_EXCEEDED", async () => {
    writeSparse(path("unsampled.ndp"), [
      { name: "row", dtype: "float32", shape: [1, 5_000_000], order: "C", byteLength: 20_000_000 },
      { name: "fortran", dtype: "float32", shape: [2000, 3000], order: "F", byteLength: 24_000_000 },
    ]);
    writeFileSync(path("deflated.ndp"), encode({ zeros: { data: new Float32Array(5_000_000), codec: "deflate" } }));
    const page = await emptyPage();
    await choose(page, path("unsampled.ndp"));
    for (const [name, why] of [["row", /one of its rows is larger/], ["fortran", /F order/]] as const) {
      await selectArray(page, name, "error");
      expect(await errorShown(page)).toEqual({ code: "LIMIT_EXCEEDED", text: expect.stringMatching(why) });
    }
    await choose(page, path("deflated.ndp"));
    await selectArray(page, "zeros", "error");
    expect(await errorShown(page)).toEqual({ code: "LIMIT_EXCEEDED", text: expect.stringMatching(/stored deflate/) });
    await page.close();
  });

  test("a [31623, 31623] image (10^9 elements, 4 GB): a sample of rows, within 16 MiB fetched", async () => {
    const { headerBytes } = writeSparse(path("image.ndp"), [{ name: "image", dtype: "float32", shape: [31623, 31623], order: "C", byteLength: 31623 * 31623 * 4 }]);
    const view = await startView(path("image.ndp"));
    const page = await openPage(view.url);
    await selectArray(page, "image");
    expect(await page.textContent("#sample-note")).toMatch(/^showing 128 of 31623 rows, in 64 runs/);
    expect(fileBytesSent(view)).toBeLessThanOrEqual(Math.max(headerBytes, 64 * 1024) + SAMPLE_BUDGET);
    expect(await statsShown(page)).toMatchObject({ elements: `${128 * 31623} (the rows read)`, min: "0", max: "0" });
    await page.close();
  });

  test("a 0-d array and an array of 0 elements with a dimension of 2^40", async () => {
    writeSparse(path("edges.ndp"), [
      { name: "empty", dtype: "float32", shape: [0, 2 ** 40], order: "C", byteLength: 0 },
      { name: "scalar", dtype: "int16", shape: [], order: "C", byteLength: 2 },
    ]);
    const page = await emptyPage();
    await choose(page, path("edges.ndp"));
    const rows = await page.$$eval("#arrays tbody tr", (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent).slice(0, 4)));
    expect(rows).toEqual([
      ["empty", "float32", "[0, 1099511627776]", "0 B"],
      ["scalar", "int16", "[]", "2 B"],
    ]);
    await selectArray(page, "empty");
    expect(await page.textContent("#hover")).toBe("an empty array: no values to draw");
    expect(await statsShown(page)).toMatchObject({ elements: "0", min: "NaN" });
    await selectArray(page, "scalar");
    expect(await lineHover(page, 0, 1)).toBe("[] = 0");
    await page.close();
  });

  test("100,000 arrays (the default maxArrays): the table shows 1,000 and says so; the filter finds any", async () => {
    writeFileSync(path("many.ndp"), encode(Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`layer.${i}.weight`, new Uint8Array(1)])), { checksum: "none" }));
    const page = await emptyPage();
    await choose(page, path("many.ndp"));
    expect(await page.$$eval("#arrays tbody tr", (trs) => trs.length)).toBe(1000);
    expect(await page.textContent("#table-note")).toBe("showing 1000 of 100000 matching arrays: narrow the filter");
    await page.fill("#filter", "layer.99999.");
    expect(await tableNames(page)).toEqual(["layer.99999.weight"]);
    await selectArray(page, "layer.99999.weight");
    await page.close();
  });

  test("a deflate stream that inflates far past its array's shape (16 bytes declared, 64 MiB in the stream): CODEC_ERROR", async () => {
    const stream = deflateRawSync(Buffer.alloc(64 << 20));
    const { head, dataStart } = layoutHead([{ name: "bomb", dtype: "float32", shape: [4], order: "C", byteOrder: "little", codec: "deflate", offset: 0, byteLength: stream.length }], { alignment: 64, checksum: "none", metadata: {} });
    const file = new Uint8Array(dataStart + stream.length);
    file.set(head);
    file.set(stream, dataStart);
    writeFileSync(path("bomb.ndp"), file);
    const page = await emptyPage();
    await choose(page, path("bomb.ndp"));
    await selectArray(page, "bomb", "error");
    expect(await errorShown(page)).toEqual({ code: "CODEC_ERROR", text: expect.stringContaining("decodes to more than the 16 bytes its shape declares") });
    await page.close();
  });
});

describe("damaged data is an error, never numbers", () => {
  test("a .npz member whose CRC-32 does not match: CHECKSUM in the error and the table, no statistics, no plot", async () => {
    const npz = toNpz({ a: Float32Array.of(1, 2, 3, 4), b: Int8Array.of(5) });
    const magic = npz.findIndex((_, i) => npz[i] === 0x93 && npz[i + 1] === 0x4e); // a.npy's .npy header
    npz[magic + 128 + 1]! ^= 0x40; // a byte of a's data (.npy header: 128 bytes)
    writeFileSync(path("damaged.npz"), npz);
    const page = await emptyPage();
    await choose(page, path("damaged.npz"));
    await selectArray(page, "a", "error");
    expect(await errorShown(page)).toEqual({ code: "CHECKSUM", text: expect.stringContaining('member "a.npy": CRC-32 mismatch') });
    expect(await page.textContent('#arrays tr[data-name="a"] td.checksum')).toBe("CHECKSUM");
    expect(await statsShown(page)).toEqual({});
    expect(await page.isHidden("#plot-section")).toBe(true);
    expect(await page.isHidden("#histogram-section")).toBe(true);
    await selectArray(page, "b");
    expect(await statsShown(page)).toMatchObject({ min: "5", max: "5" });
    await page.close();
  });
});

describe("a file opened or an array selected overtakes the one before", () => {
  let a: View;
  beforeAll(async () => {
    // big: 20 MB, sampled in 64 reads; x: past the first 64 KiB, so reading it takes a request.
    writeFileSync(path("a.ndp"), encode({ big: { data: new Float32Array(5_000_000).fill(5), shape: [5000, 1000] }, pad: new Uint8Array(100_000), x: Float32Array.of(1, 2, 3) }, { checksum: "none" }));
    writeFileSync(path("b.ndp"), encode({ y: Float32Array.of(7, 8, 9), x: Float32Array.of(-1, -2) }));
    a = await startView(path("a.ndp"));
  });

  /** Delays every request for `file` of the page by `ms`. */
  const delay = (page: Page, file: string, ms: number) =>
    page.route(`**/file/${file}`, async (route) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      await route.continue().catch(() => undefined); // the page may have cancelled it
    });

  /** What the page shows: its state, file, table, error, and whether an array is on display. */
  const shownNow = (page: Page) =>
    page.evaluate(() => ({
      state: document.body.dataset.state,
      file: document.getElementById("file-name")!.textContent,
      names: Array.from(document.querySelectorAll<HTMLElement>("#arrays tbody tr"), (tr) => tr.dataset.name),
      error: document.getElementById("error")!.textContent,
      arrayShown: !document.getElementById("array-section")!.hidden,
    }));

  test("a URL still opening when a file is chosen: the page shows the file chosen, never the URL's arrays", async () => {
    const page = await context.newPage();
    await delay(page, "a.ndp", 1500);
    await page.goto(a.url);
    await page.waitForSelector('body[data-state="opening"]');
    await choose(page, path("b.ndp"));
    await page.waitForSelector('body[data-overtaken="1"]'); // the URL's opening ended, overtaken
    expect(await shownNow(page)).toEqual({ state: "open", file: "b.ndp", names: ["y", "x"], error: "", arrayShown: false });
    await page.close();
  });

  test("an array still being read when another file is opened: none of its values or errors reach the page", async () => {
    for (const name of ["x", "big"]) {
      const page = await openPage(a.url);
      await delay(page, "a.ndp", 300);
      const requested = page.waitForRequest(/\/file\/a\.ndp/);
      await selectArray(page, name, "reading");
      await requested;
      await choose(page, path("b.ndp"));
      await page.waitForSelector('body[data-overtaken="1"]'); // the read of a.ndp ended, overtaken
      // Before, the sample's later reads failed on the closed reader: "CLOSED: the reader of .../a.ndp is closed".
      expect(await shownNow(page), name).toEqual({ state: "open", file: "b.ndp", names: ["y", "x"], error: "", arrayShown: false });
      expect(await page.textContent('#arrays tr[data-name="x"] td.checksum')).toBe("not checked");
      await page.close();
    }
  });

  test("a file that fails to open leaves nothing of the file before on the page", async () => {
    writeFileSync(path("garbage.bin"), new TextEncoder().encode("<html>not an array file</html>"));
    const page = await openPage(a.url);
    await selectArray(page, "x");
    await choose(page, path("garbage.bin"), "error");
    expect(await shownNow(page)).toEqual({ state: "error", file: "garbage.bin", names: [], error: expect.stringMatching(/^BAD_MAGIC: /), arrayShown: false });
    expect(await page.textContent("#metadata")).toBe("");
    await page.close();
  });

  test("arrays clicked through quickly: the statistics, histogram and plot shown are the last array's", async () => {
    writeFileSync(path("switch.ndp"), encode({ large: Float32Array.from({ length: SAMPLE_BUDGET / 4 }, (_, i) => i), small: Float32Array.of(-1, 0, 1) }));
    const page = await emptyPage();
    // The worker's script is held until "small" is selected: the statistics of "large" are then
    // still being computed, whatever the machine's speed.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route("**/stats-worker.js", async (route) => {
      await held;
      await route.continue();
    });
    await choose(page, path("switch.ndp"));
    await selectArray(page, "large", "reading");
    // "large" drawn, its statistics (4M values) asked of the worker: "small" overtakes them.
    await page.waitForSelector("#plot-section:not([hidden])");
    await selectArray(page, "small", "reading");
    // Stopped, not waited for: no statistics of "large" can arrive after those of "small".
    await page.waitForSelector('body[data-overtaken="1"]');
    release();
    await page.waitForSelector('body[data-state="shown"]');
    expect(await statsShown(page)).toMatchObject({ elements: "3", min: "-1", max: "1" });
    expect(await page.getAttribute("#plot-section", "data-name")).toBe("small");
    expect(await page.$eval("#histogram", (canvas) => (canvas as HTMLCanvasElement).dataset.counts!.split(",").map(Number).reduce((n, k) => n + k, 0))).toBe(3);
    // And back: "large" is shown in full.
    await selectArray(page, "large");
    expect(await statsShown(page)).toMatchObject({ elements: String(SAMPLE_BUDGET / 4), min: "0", max: String(SAMPLE_BUDGET / 4 - 1) });
    await page.close();
  });

  test("a statistics worker that cannot be loaded: the page says so, instead of reading forever", async () => {
    const page = await context.newPage();
    await page.route("**/stats-worker.js", (route) => route.fulfill({ status: 404, body: "not found" }));
    await page.goto(home.url);
    await page.waitForSelector('body[data-state="open"]');
    await selectArray(page, "image", "error");
    expect(await errorShown(page)).toEqual({ code: "ERROR", text: "the statistics could not be computed: the page's worker (stats-worker.js) could not be loaded" });
    // The heatmap, drawn in the page, is still shown.
    expect(await page.isVisible("#heatmap")).toBe(true);
    await page.close();
  });
});
