/**
 * The viewer tests' browser and server: Debian's /usr/bin/chromium driven by playwright-core, and
 * `ndpack view --no-open --verbose` of the built CLI (dist/: `npm test` builds it first). Fails,
 * never skips, when Chromium or the built page is missing (`.ci/run` installs Chromium).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { layoutHead } from "../../src/encode.js";
import type { EntryFields } from "../../src/header-writer.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "dist", "cli", "main.js");
const CHROMIUM = "/usr/bin/chromium";

/** A headless Chromium with a profile in `dir`. */
export async function launchViewerBrowser(dir: string): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (.ci/run does)`);
  if (!existsSync(join(ROOT, "dist", "viewer", "index.html"))) throw new Error("dist/viewer is missing: run `npm run build` (npm test does)");
  return chromium.launchPersistentContext(join(dir, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1400, height: 1000 },
  });
}

/** A running `ndpack view --no-open --verbose`: its page address and the request lines it printed. */
export interface View {
  readonly url: string;
  readonly origin: string;
  readonly lines: string[];
  readonly child: ChildProcess;
}

/** Views started, for {@link stopViews}. */
const views: View[] = [];

export async function startView(target: string): Promise<View> {
  const child = spawn(process.execPath, [CLI, "view", target, "--no-open", "--verbose"], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        const found = /at (http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(line);
        if (found) resolve(found[1]!);
      }
    });
    child.on("exit", (code) => reject(new Error(`ndpack view exited with ${code}: ${stderr}`)));
  });
  const view = { url, origin: new URL(url).origin, lines, child };
  views.push(view);
  return view;
}

/** Stops every view started. */
export function stopViews(): void {
  for (const view of views.splice(0)) view.child.kill("SIGTERM");
}

/**
 * The request lines `view` printed for its file, once there are `count` of them (or after 20 s, for
 * the test to say what came): the server prints a request's line when its answer has ended, which
 * can be after the page has used the bytes, so lines read at once can be missing on a busy machine.
 */
export async function fileRequests(view: View, count: number): Promise<string[]> {
  const lines = () => view.lines.filter((line) => line.startsWith("GET /file/"));
  for (let waits = 0; lines().length < count && waits < 2000; waits++) await new Promise((resolve) => setTimeout(resolve, 10));
  return lines();
}

/** Bytes of the file the server has sent, from its last request line. */
export function fileBytesSent(view: View): number {
  const counts = view.lines.map((line) => /total-file-bytes=(\d+)/.exec(line)?.[1]).filter((n) => n !== undefined);
  return Number(counts[counts.length - 1] ?? 0);
}

/**
 * An ndpack file of a header and holes: arrays of any size without their bytes (zeros, written
 * sparse; checksum none). Returns where the data starts.
 */
export function writeSparse(file: string, entries: Omit<EntryFields, "byteOrder" | "codec" | "offset">[], options: { alignment?: number; metadata?: Record<string, unknown> } = {}): { headerBytes: number } {
  const fields = entries.map((entry) => ({ byteOrder: "little" as const, codec: "none" as const, offset: 0, ...entry }));
  const { head, dataStart, dataLength } = layoutHead(fields, { alignment: options.alignment ?? 64, checksum: "none", metadata: options.metadata ?? {} });
  const fd = openSync(file, "w");
  writeSync(fd, head);
  ftruncateSync(fd, dataStart + dataLength);
  closeSync(fd);
  return { headerBytes: dataStart };
}

/** A new page of `context` at `url`, once its body's data-state is `state`. */
export async function openPage(context: BrowserContext, url: string, state = "open"): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  await page.goto(url);
  await page.waitForSelector(`body[data-state="${state}"]`);
  return page;
}

/** Clicks the table's row of array `name` (any name: found by its dataset, not a selector) and waits for `state`. */
export async function selectArray(page: Page, name: string, state = "shown"): Promise<void> {
  await page.evaluate((name) => {
    const row = Array.from(document.querySelectorAll<HTMLElement>("#arrays tbody tr")).find((tr) => tr.dataset.name === name);
    if (!row) throw new Error(`no row for ${JSON.stringify(name)}`);
    row.click();
  }, name);
  await page.waitForSelector(`body[data-state="${state}"]`);
}

/** The heatmap's pixel color at the center of grid cell (r, c), and where that is on the page. */
export async function heatmapCell(page: Page, r: number, c: number): Promise<{ rgb: number[]; x: number; y: number }> {
  return page.evaluate(
    ([r, c]) => {
      const canvas = document.getElementById("heatmap") as HTMLCanvasElement;
      const cell = Number(canvas.dataset.cell);
      const x = c! * cell + Math.floor(cell / 2);
      const y = r! * cell + Math.floor(cell / 2);
      const rgb = [...canvas.getContext("2d")!.getImageData(x, y, 1, 1).data.slice(0, 3)];
      const box = canvas.getBoundingClientRect();
      return { rgb, x: box.left + (x + 0.5) * (box.width / canvas.width), y: box.top + (y + 0.5) * (box.height / canvas.height) };
    },
    [r, c],
  );
}

export async function hoverText(page: Page, x: number, y: number): Promise<string> {
  await page.mouse.move(x, y);
  return (await page.textContent("#hover")) ?? "";
}

/** What the line plot's hover says of element `i` of its `count` values. */
export async function lineHover(page: Page, i: number, count: number): Promise<string> {
  const { x, y } = await page.$eval(
    "#lineplot",
    (canvas, [i, count]) => {
      const pad = 24; // main.ts's padding of the line plot
      const c = canvas as HTMLCanvasElement;
      const box = c.getBoundingClientRect();
      const px = pad + ((i! + 0.5) / count!) * (c.width - 2 * pad);
      return { x: box.left + px * (box.width / c.width), y: box.top + box.height / 2 };
    },
    [i, count],
  );
  return hoverText(page, x, y);
}

/** The statistics shown, by name (`min`, `max`, `elements`...). */
export async function statsShown(page: Page): Promise<Record<string, string>> {
  return page.$$eval("#stats dd", (dds) => Object.fromEntries(dds.map((dd) => [(dd as HTMLElement).dataset.stat!, dd.textContent!])));
}

/** The error box: its code (data-code) and text; both empty when none is shown. */
export async function errorShown(page: Page): Promise<{ code: string; text: string }> {
  return page.$eval("#error", (box) => ({ code: (box as HTMLElement).dataset.code ?? "", text: box.classList.contains("shown") ? box.textContent! : "" }));
}
