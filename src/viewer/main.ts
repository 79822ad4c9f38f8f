/**
 * The viewer page: opens a file (a dropped or chosen file, a pasted URL, or the `?url=` that
 * `ndpack view` gives it), lists its arrays, and shows the one selected: statistics (in a Worker),
 * a heatmap of a 2-D slice with a color bar and the value under the pointer, a line plot for 1-D
 * data, and a histogram. Plots are drawn on plain canvases: a heatmap needs one anyway, and a
 * line and a bar chart take less code than a plotting library's bundle.
 *
 * What it reads: the header when the file opens; an array when it is selected, whole (checksum
 * verified) when it is at most {@link SAMPLE_BUDGET} bytes, else rows spread over the array within
 * that budget, in at most 64 reads (sample.ts; a part of an array has no checksum to check).
 *
 * What a file holds may be hostile: it reaches the page only as text (textContent, never HTML),
 * names and messages with their control characters escaped (src/text.ts: a bidirectional override
 * in a name would reverse the text after it), the metadata cut to {@link METADATA_CHARS}. A file
 * opened or an array selected overtakes the one before: its reads are cancelled and whatever they
 * would still show is dropped, so the page never shows one file's array under another's name.
 *
 * @module
 */
import type { ArrayInfo, NdArray } from "../decode.js";
import { isNdpackError, NdpackError } from "../errors.js";
import { blobSource } from "../io/blob.js";
import { decodedOr } from "../io/http.js";
import { colorOf, SCALE } from "./colors.js";
import type { NdpackReader } from "../reader.js";
import { openViewerSource, openViewerUrl, SAMPLE_BUDGET } from "./reader.js";
import { joinRows, planRowSample, type RowSample } from "./sample.js";
import { displayName, escapeControls, previewJson } from "../text.js";
import { HISTOGRAM_BINS, type Stats } from "./stats.js";
import { formatElement, formatValue, numericValues, sliceGrid, type ComplexMode, type Grid } from "./values.js";

/** Most rows shown in the table at once; the filter narrows the rest. */
const TABLE_ROWS = 1000;
/** Largest side of the heatmap, in cells: larger slices show every n-th row and column. */
const HEATMAP_SIDE = 512;
/** Smallest heatmap, in pixels: small slices are drawn with square blocks per cell. */
const HEATMAP_MIN_PIXELS = 480;
/** Shortest side of the heatmap on screen, in pixels. */
const HEATMAP_MIN_SIDE = 120;
/**
 * Most characters of metadata shown: a header may hold 100 MiB of it, which as the text of one
 * element froze the tab for a minute. Long strings are cut first (previewJson), then the text.
 */
const METADATA_CHARS = 100_000;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

interface Shown {
  readonly info: ArrayInfo;
  readonly array: NdArray;
  /** When `array` is a sample of rows: which (see sample.ts). */
  readonly sample: RowSample | undefined;
  complex: ComplexMode;
  rowAxis: number;
  colAxis: number;
  index: number[];
  values: Float64Array;
  grid?: Grid;
  scale?: { min: number; max: number };
}

let reader: NdpackReader | undefined;
let shown: Shown | undefined;
/** The name of the array selected last (being read, shown, or failed): its row is highlighted and takes the keyboard's focus. */
let selected: string | undefined;
/** Per array of the open file: "ok" or an error code once its checksum has been checked by a whole read. */
const checksums = new Map<string, string>();
/**
 * The last file opened: opening another cancels it (an opening overtaken so shows nothing, and its
 * reader, should it open all the same, is closed unseen).
 */
let opening: AbortController | undefined;
/** The last array selected: selecting another or opening a file cancels its reads, and it shows nothing more. */
let reading: AbortController | undefined;
/**
 * Openings, array reads and statistics that a later one overtook, counted once each has ended
 * showing nothing (statistics: once their worker is stopped), as `data-overtaken` on the body: what
 * the page's tests wait for, instead of a time after which the overtaken work would have shown
 * something.
 */
let overtaken = 0;

function overtakenEnded(): void {
  document.body.dataset.overtaken = String(++overtaken);
}

function showError(error: unknown): void {
  const box = $("error");
  box.textContent = escapeControls(isNdpackError(error) ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error));
  box.dataset.code = isNdpackError(error) ? error.code : "ERROR";
  box.classList.add("shown");
}

function clearError(): void {
  $("error").classList.remove("shown");
  $("error").textContent = "";
  delete $("error").dataset.code;
}

function bytesText(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

const shapeText = (shape: readonly number[]) => `[${shape.join(", ")}]`;

// ---------------------------------------------------------------------------------------------
// Opening

/**
 * Opens a file with `opener` in place of the one open, whose reads are cancelled and whose arrays,
 * metadata and plots leave the page at once (they are not this file's, even if it fails to open).
 */
async function open(what: string, opener: (signal: AbortSignal) => Promise<NdpackReader>): Promise<void> {
  opening?.abort();
  const controller = (opening = new AbortController());
  reading?.abort();
  void reader?.close().catch(() => undefined);
  reader = undefined;
  shown = undefined;
  selected = undefined;
  checksums.clear();
  clearError();
  for (const id of ["array-section", "plot-section", "histogram-section"]) $(id).hidden = true;
  ($("arrays") as HTMLTableElement).tBodies[0]!.replaceChildren();
  $("table-note").textContent = "";
  $("metadata").textContent = "";
  $("file-name").textContent = escapeControls(decodedOr(what.replace(/[?#].*$/, "").replace(/^.*\//, "")) || what);
  $("file-name").title = escapeControls(what);
  $("file-summary").textContent = " opening…";
  document.body.dataset.state = "opening";
  let opened: NdpackReader;
  try {
    opened = await opener(controller.signal);
  } catch (error) {
    if (controller.signal.aborted) return overtakenEnded();
    $("file-summary").textContent = "";
    document.body.dataset.state = "error";
    showError(error);
    return;
  }
  if (controller.signal.aborted) {
    void opened.close().catch(() => undefined);
    return overtakenEnded();
  }
  reader = opened;
  $("file-summary").textContent = ` ${reader.format}, ${reader.names.length} arrays`;
  $("metadata").textContent = metadataText(reader.metadata);
  renderTable();
  document.body.dataset.state = "open";
}

/** The metadata as indented JSON, controls escaped, long strings and the whole cut ({@link METADATA_CHARS}). */
function metadataText(metadata: Record<string, unknown>): string {
  const text = previewJson(metadata);
  return text.length <= METADATA_CHARS ? text : `${text.slice(0, METADATA_CHARS)}\n… (${text.length - METADATA_CHARS} more characters: \`ndpack inspect --json\` prints them all)`;
}

function checksumCell(name: string): { text: string; className: string } {
  if (reader?.checksum !== "crc32") return { text: "none", className: "muted" };
  const state = checksums.get(name);
  if (state === undefined) return { text: "not checked", className: "muted" };
  return state === "ok" ? { text: "ok", className: "checksum-ok" } : { text: state, className: "checksum-bad" };
}

function renderTable(): void {
  if (!reader) return;
  const filter = ($("filter") as HTMLInputElement).value.trim().toLowerCase();
  // Names are matched as they are shown (controls escaped).
  const names = filter ? reader.names.filter((n) => displayName(n).toLowerCase().includes(filter)) : reader.names;
  const body = ($("arrays") as HTMLTableElement).tBodies[0]!;
  // The focus was on a row: it moves to the new one of the selected array.
  const hadFocus = body.contains(document.activeElement);
  const listed = names.slice(0, TABLE_ROWS);
  // One row is in the tab order (a roving tabindex): the selected array's, else the first.
  const focusable = selected !== undefined && listed.includes(selected) ? selected : listed[0];
  const rows = listed.map((name): HTMLTableRowElement => {
    const info = reader!.info(name);
    const tr = document.createElement("tr");
    tr.dataset.name = name;
    tr.tabIndex = name === focusable ? 0 : -1;
    if (name === selected) {
      tr.classList.add("selected");
      tr.setAttribute("aria-current", "true");
    }
    const checksum = checksumCell(name);
    for (const [text, className] of [
      [displayName(name), "name"],
      [info.dtype, ""],
      [shapeText(info.shape), ""],
      [bytesText(info.nbytes), "num"],
      [info.codec, info.codec === "none" ? "muted" : ""],
      [checksum.text, `checksum ${checksum.className}`],
    ] as const) {
      const td = document.createElement("td");
      // Long tensor names wrap after their dots and slashes (model.layers.3.mlp.up_proj.weight).
      if (className === "name") td.append(...text.split(/(?<=[./])/).flatMap((part) => [part, document.createElement("wbr")]));
      else td.textContent = text;
      if (className) td.className = className;
      tr.append(td);
    }
    return tr;
  });
  body.replaceChildren(...rows);
  if (hadFocus) rows.find((tr) => tr.tabIndex === 0)?.focus();
  $("table-note").textContent =
    names.length > TABLE_ROWS ? `showing ${TABLE_ROWS} of ${names.length} matching arrays: narrow the filter` : filter ? `${names.length} of ${reader.names.length} arrays match` : "";
}

// ---------------------------------------------------------------------------------------------
// Selecting an array

async function select(name: string): Promise<void> {
  const file = reader;
  if (!file) return;
  reading?.abort();
  const signal = (reading = new AbortController()).signal;
  clearError();
  const info = file.info(name);
  shown = undefined;
  selected = name;
  renderTable();
  $("array-section").hidden = false;
  // The name isolated (<bdi>): right-to-left letters in it leave the details after it in place.
  const title = document.createElement("bdi");
  title.textContent = displayName(name);
  const details = document.createElement("span");
  details.className = "muted";
  details.textContent = `  ${info.dtype} ${shapeText(info.shape)}, ${info.order} order, ${info.byteOrder}-endian`;
  $("array-title").replaceChildren(title, details);
  $("stats").replaceChildren();
  $("sample-note").textContent = "reading…";
  for (const id of ["plot-section", "histogram-section"]) $(id).hidden = true;
  document.body.dataset.state = "reading";
  let array: NdArray;
  const sample = planRowSample(info, SAMPLE_BUDGET);
  try {
    if (typeof sample === "string") {
      throw new NdpackError("LIMIT_EXCEEDED", `array "${name}" is ${bytesText(info.nbytes)}, more than the ${bytesText(SAMPLE_BUDGET)} the viewer reads, and ${sample}`, { array: name, expected: SAMPLE_BUDGET, actual: info.nbytes });
    } else if (sample === undefined) {
      array = await file.read(name, { signal });
      // What a read found is true of the file it read, selected or not since.
      if (file === reader && file.checksum !== "none") checksums.set(name, "ok");
    } else {
      array = joinRows(info, await readRuns(file, name, sample, signal));
    }
  } catch (error) {
    if (file === reader && isNdpackError(error) && (error.code === "CHECKSUM" || error.code === "CODEC_ERROR")) checksums.set(name, error.code);
    if (signal.aborted) return overtakenEnded();
    renderTable();
    $("sample-note").textContent = "";
    document.body.dataset.state = "error";
    showError(error);
    return;
  }
  if (signal.aborted) return overtakenEnded();
  renderTable();
  const n = info.shape.length;
  shown = {
    info,
    array,
    sample: typeof sample === "object" ? sample : undefined,
    complex: "magnitude",
    rowAxis: Math.max(0, n - 2),
    colAxis: Math.max(0, n - 1),
    index: info.shape.map(() => 0),
    values: numericValues(array, "magnitude"),
  };
  $("sample-note").textContent = shown.sample
    ? `showing ${array.shape[0]} of ${info.shape[0]} rows, in ${shown.sample.runs.length} runs spread over the array (${bytesText(array.nbytes)}: the viewer reads at most ${bytesText(SAMPLE_BUDGET)} of an array); statistics are of those rows, and a part of an array has no checksum to check`
    : `${bytesText(info.nbytes)}${info.codec === "none" ? "" : `, stored ${info.codec} in ${bytesText(info.byteLength)}`}; read ${bytesText(file.bytesRead)} of the file so far`;
  renderControls();
  draw();
}

/** The runs of a sample, four reads at a time; `signal` cancels them. */
async function readRuns(reader: NdpackReader, name: string, sample: RowSample, signal: AbortSignal): Promise<NdArray[]> {
  const parts: NdArray[] = new Array(sample.runs.length);
  let next = 0;
  const lane = async () => {
    while (next < sample.runs.length) {
      const k = next++;
      const run = sample.runs[k]!;
      parts[k] = await reader.readRows(name, run.start, run.end, { signal });
    }
  };
  await Promise.all([lane(), lane(), lane(), lane()]);
  return parts;
}

// ---------------------------------------------------------------------------------------------
// Controls

function labelled(text: string, control: HTMLElement): HTMLLabelElement {
  const label = document.createElement("label");
  label.append(text, control);
  return label;
}

function axisSelect(id: string, value: number, ndim: number, onChange: (axis: number) => void): HTMLSelectElement {
  const select = document.createElement("select");
  select.id = id;
  for (let axis = 0; axis < ndim; axis++) select.add(new Option(`axis ${axis}`, String(axis), false, axis === value));
  select.onchange = () => onChange(Number(select.value));
  return select;
}

function renderControls(): void {
  const s = shown!;
  const shape = s.array.shape;
  const parts: HTMLElement[] = [];
  if (s.info.dtype.startsWith("complex")) {
    const mode = document.createElement("select");
    mode.id = "complex-mode";
    for (const m of ["magnitude", "phase"]) mode.add(new Option(m, m, false, m === s.complex));
    mode.onchange = () => {
      s.complex = mode.value as ComplexMode;
      s.values = numericValues(s.array, s.complex);
      draw();
    };
    parts.push(labelled("complex as", mode));
  }
  if (shape.length >= 2) {
    parts.push(
      labelled("rows", axisSelect("row-axis", s.rowAxis, shape.length, (axis) => swapAxes(axis, s.colAxis))),
      labelled("columns", axisSelect("col-axis", s.colAxis, shape.length, (axis) => swapAxes(s.rowAxis, axis))),
    );
    for (let axis = 0; axis < shape.length; axis++) {
      if (axis === s.rowAxis || axis === s.colAxis) continue;
      const slider = document.createElement("input");
      slider.type = "range";
      slider.id = `index-${axis}`;
      slider.min = "0";
      slider.max = String(shape[axis]! - 1);
      slider.value = String(s.index[axis]);
      const value = document.createElement("span");
      const original = (at: number) => String(axis === 0 && s.sample ? s.sample.rows[at] : at);
      value.textContent = original(s.index[axis]!);
      slider.oninput = () => {
        s.index[axis] = Number(slider.value);
        value.textContent = original(s.index[axis]!);
        draw();
      };
      parts.push(labelled(`axis ${axis} index`, slider), value);
    }
  }
  $("controls").replaceChildren(...parts);
}

/** Makes `rowAxis` and `colAxis` the shown axes (choosing one already shown swaps them). */
function swapAxes(rowAxis: number, colAxis: number): void {
  const s = shown!;
  if (rowAxis === colAxis) [rowAxis, colAxis] = [s.colAxis, s.rowAxis];
  s.rowAxis = rowAxis;
  s.colAxis = colAxis;
  renderControls();
  draw();
}

// ---------------------------------------------------------------------------------------------
// Drawing

function draw(): void {
  const s = shown!;
  $("plot-section").hidden = false;
  const twoD = s.array.shape.length >= 2;
  // An array with a dimension of 0 has no values to draw (its statistics say so: 0 elements).
  const empty = s.array.shape.includes(0);
  $("heatmap-row").hidden = !twoD || empty;
  $("lineplot").hidden = twoD || empty;
  $("hover").textContent = empty ? "an empty array: no values to draw" : "";
  if (!empty) {
    if (twoD) drawHeatmap(s);
    else drawLine(s);
  }
  requestStats(s);
}

function drawHeatmap(s: Shown): void {
  const grid = sliceGrid(s.values, s.array.shape, s.array.order, { rowAxis: s.rowAxis, colAxis: s.colAxis, index: s.index, ...(s.sample ? { axis0: s.sample.rows } : {}) }, HEATMAP_SIDE);
  let min = Infinity;
  let max = -Infinity;
  for (const v of grid.values) if (Number.isFinite(v)) [min, max] = [Math.min(min, v), Math.max(max, v)];
  if (min > max) [min, max] = [0, 0];
  s.grid = grid;
  s.scale = { min, max };
  const cell = Math.max(1, Math.floor(HEATMAP_MIN_PIXELS / Math.max(grid.rows, grid.cols)));
  const canvas = $<HTMLCanvasElement>("heatmap");
  canvas.width = grid.cols * cell;
  canvas.height = grid.rows * cell;
  // Small slices are shown larger (pixelated), at least HEATMAP_MIN_PIXELS on their longer side;
  // a very flat slice (a few rows of a wide array) is stretched to stay legible and pointable.
  const zoom = Math.max(1, HEATMAP_MIN_PIXELS / Math.max(canvas.width, canvas.height));
  const [displayWidth, displayHeight] = [canvas.width, canvas.height].map((side) => Math.max(side * zoom, HEATMAP_MIN_SIDE));
  canvas.style.width = `${displayWidth}px`;
  canvas.style.height = `${displayHeight}px`;
  Object.assign(canvas.dataset, { rows: String(grid.rows), cols: String(grid.cols), cell: String(cell), step: String(grid.step), min: String(min), max: String(max) });
  const context = canvas.getContext("2d")!;
  const image = context.createImageData(canvas.width, canvas.height);
  for (let r = 0; r < grid.rows; r++) {
    for (let c = 0; c < grid.cols; c++) {
      const [red, green, blue] = colorOf(grid.values[r * grid.cols + c]!, min, max);
      for (let y = r * cell; y < (r + 1) * cell; y++) {
        for (let x = c * cell; x < (c + 1) * cell; x++) {
          const at = (y * canvas.width + x) * 4;
          image.data[at] = red;
          image.data[at + 1] = green;
          image.data[at + 2] = blue;
          image.data[at + 3] = 255;
        }
      }
    }
  }
  context.putImageData(image, 0, 0);
  const bar = $<HTMLCanvasElement>("colorbar");
  bar.height = Math.round(displayHeight!);
  const barContext = bar.getContext("2d")!;
  for (let y = 0; y < bar.height; y++) {
    const [red, green, blue] = SCALE[Math.round((1 - y / (bar.height - 1)) * 255)]!;
    barContext.fillStyle = `rgb(${red},${green},${blue})`;
    barContext.fillRect(0, y, bar.width, 1);
  }
  $("colorbar-max").textContent = formatValue(max);
  $("colorbar-min").textContent = formatValue(min);
  $("colorbar-labels").style.height = `${bar.height}px`;
  $("plot-section").dataset.name = s.info.name;
}

function drawLine(s: Shown): void {
  const canvas = $<HTMLCanvasElement>("lineplot");
  const context = canvas.getContext("2d")!;
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const values = s.values;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) if (Number.isFinite(v)) [min, max] = [Math.min(min, v), Math.max(max, v)];
  if (min > max) [min, max] = [0, 1];
  if (min === max) [min, max] = [min - 1, max + 1];
  const pad = 24;
  const y = (v: number) => height - pad - ((v - min) / (max - min)) * (height - 2 * pad);
  context.strokeStyle = "#d9dee5";
  context.strokeRect(pad, pad, width - 2 * pad, height - 2 * pad);
  context.fillStyle = "#667085";
  context.font = "11px system-ui";
  context.fillText(formatValue(max), 2, pad - 6);
  context.fillText(formatValue(min), 2, height - 6);
  context.strokeStyle = "#3b5bdb";
  context.beginPath();
  // One vertical stroke from the min to the max of the values under each pixel column: every
  // spike stays visible however many values share a pixel.
  const columns = width - 2 * pad;
  for (let px = 0; px < columns; px++) {
    const from = Math.floor((px / columns) * values.length);
    const to = Math.max(from + 1, Math.floor(((px + 1) / columns) * values.length));
    if (from >= values.length) break;
    let low = Infinity;
    let high = -Infinity;
    for (let i = from; i < to && i < values.length; i++) if (Number.isFinite(values[i]!)) [low, high] = [Math.min(low, values[i]!), Math.max(high, values[i]!)];
    if (low > high) continue;
    if (px === 0) context.moveTo(pad + px, y(low));
    context.lineTo(pad + px, y(low));
    context.lineTo(pad + px, y(high));
  }
  context.stroke();
  Object.assign(canvas.dataset, { count: String(values.length), min: String(min), max: String(max) });
  $("plot-section").dataset.name = s.info.name;
}

/** The statistics Worker, started when first needed and again after it was stopped or failed. */
let worker: Worker | undefined;
/** The last statistics asked for. */
let statsRequest = 0;
/** True while the worker computes statistics not yet received. */
let statsPending = false;

function requestStats(s: Shown): void {
  const id = ++statsRequest;
  $("histogram-section").hidden = false;
  delete $("histogram").dataset.counts;
  // Statistics still being computed are of values no longer shown: stop them, rather than wait
  // behind them (a 16 MiB sample each, when arrays are clicked through quickly).
  if (statsPending) {
    stopWorker();
    overtakenEnded();
  }
  try {
    worker ??= startWorker();
  } catch (error) {
    statsFailed(error);
    return;
  }
  statsPending = true;
  // The worker gets a copy: the page keeps its values for the plots.
  const values = s.values.slice();
  const data = s.array.data;
  const integers = data instanceof BigInt64Array || data instanceof BigUint64Array ? data.slice() : undefined;
  worker.postMessage({ id, values, integers }, integers ? [values.buffer, integers.buffer] : [values.buffer]);
}

function startWorker(): Worker {
  const started = new Worker(new URL("./stats-worker.js", import.meta.url), { type: "module" });
  started.onmessage = (event: MessageEvent<{ id: number; stats: Stats }>) => {
    if (started !== worker) return;
    statsPending = false;
    if (event.data.id === statsRequest && shown) showStats(shown, event.data.stats);
  };
  // A worker that cannot be loaded (stats-worker.js missing from a static site) or that failed:
  // the page says so instead of waiting for statistics forever.
  started.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    if (started !== worker) return;
    stopWorker();
    statsFailed(new Error(`the statistics could not be computed: the page's worker (stats-worker.js) ${event.message ? `failed: ${event.message}` : "could not be loaded"}`));
  };
  return started;
}

function stopWorker(): void {
  worker?.terminate();
  worker = undefined;
  statsPending = false;
}

function statsFailed(error: unknown): void {
  $("histogram-section").hidden = true;
  document.body.dataset.state = "error";
  showError(error);
}

function showStats(s: Shown, stats: Stats): void {
  const rows: [string, string][] = [
    ["elements", `${stats.count}${s.sample ? " (the rows read)" : ""}`],
    ["min", stats.exact ? String(stats.exact.min) : formatValue(stats.min)],
    ["max", stats.exact ? String(stats.exact.max) : formatValue(stats.max)],
    ["mean", formatValue(stats.mean)],
    ["std", formatValue(stats.std)],
    ["NaN", String(stats.nan)],
    ["±Inf", String(stats.inf)],
  ];
  $("stats").replaceChildren(
    ...rows.flatMap(([term, value]) => {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      dd.dataset.stat = term;
      return [dt, dd];
    }),
  );
  drawHistogram(stats);
  document.body.dataset.state = "shown";
}

function drawHistogram(stats: Stats): void {
  const canvas = $<HTMLCanvasElement>("histogram");
  const context = canvas.getContext("2d")!;
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const peak = Math.max(1, ...stats.histogram);
  const barWidth = width / HISTOGRAM_BINS;
  context.fillStyle = "#3b5bdb";
  stats.histogram.forEach((count, bin) => {
    const barHeight = (count / peak) * (height - 4);
    context.fillRect(bin * barWidth + 0.5, height - barHeight, Math.max(1, barWidth - 1), barHeight);
  });
  Object.assign(canvas.dataset, { counts: stats.histogram.join(","), min: String(stats.min), max: String(stats.max) });
  $("histogram-range").textContent = `${HISTOGRAM_BINS} bins from ${formatValue(stats.min)} to ${formatValue(stats.max)}; tallest ${peak}`;
}

// ---------------------------------------------------------------------------------------------
// Pointer

$("heatmap").addEventListener("mousemove", (event) => {
  const s = shown;
  if (!s?.grid) return;
  const canvas = event.currentTarget as HTMLCanvasElement;
  const box = canvas.getBoundingClientRect();
  const cell = Number(canvas.dataset.cell);
  const c = Math.floor(((event.clientX - box.left) * (canvas.width / box.width)) / cell);
  const r = Math.floor(((event.clientY - box.top) * (canvas.height / box.height)) / cell);
  if (r < 0 || c < 0 || r >= s.grid.rows || c >= s.grid.cols) return;
  $("hover").textContent = `[${s.grid.indexOf(r, c).join(", ")}] = ${formatElement(s.array, s.values, s.grid.offsetOf(r, c))}`;
});

$("lineplot").addEventListener("mousemove", (event) => {
  const s = shown;
  if (!s) return;
  const canvas = event.currentTarget as HTMLCanvasElement;
  const box = canvas.getBoundingClientRect();
  const pad = 24;
  const x = (event.clientX - box.left) * (canvas.width / box.width) - pad;
  const i = Math.floor((x / (canvas.width - 2 * pad)) * s.values.length);
  if (i < 0 || i >= s.values.length) return;
  // A 0-d array's one element has the index [].
  const index = s.array.shape.length === 0 ? "" : String(s.sample ? s.sample.rows[i] : i);
  $("hover").textContent = `[${index}] = ${formatElement(s.array, s.values, i)}`;
});

// ---------------------------------------------------------------------------------------------
// Wiring

$("filter").addEventListener("input", renderTable);
$("arrays").addEventListener("click", (event) => {
  const row = (event.target as HTMLElement).closest("tr");
  if (row?.dataset.name !== undefined) void select(row.dataset.name);
});
// The list from the keyboard: arrow keys, Home and End select the row they reach (each selection
// cancels the reads of the one before: holding a key down ends showing only the last); Enter or
// Space selects the row focused.
$("arrays").addEventListener("keydown", (event) => {
  const row = (event.target as HTMLElement).closest("tr");
  if (row?.dataset.name === undefined) return;
  const rows = Array.from(($("arrays") as HTMLTableElement).tBodies[0]!.rows);
  const at = rows.indexOf(row);
  const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: rows.length - 1, Enter: at, " ": at }[event.key];
  if (to === undefined) return;
  event.preventDefault();
  const target = rows[Math.max(0, Math.min(rows.length - 1, to))]!;
  target.focus();
  void select(target.dataset.name!);
});

function openFile(file: File): void {
  void open(file.name, (signal) => openViewerSource(blobSource(file), file.name, signal));
}

function openUrl(url: string): void {
  void open(url, (signal) => openViewerUrl(url, signal));
}

$<HTMLInputElement>("file-input").addEventListener("change", (event) => {
  const file = (event.target as HTMLInputElement).files?.[0];
  if (file) openFile(file);
});
const drop = $("drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
// A label opens its file chooser when clicked, not from the keyboard: Enter or Space do it here.
drop.addEventListener("keydown", (event) => {
  if (event.key !== "Enter" && event.key !== " ") return;
  event.preventDefault();
  $<HTMLInputElement>("file-input").click();
});
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  const file = event.dataTransfer?.files[0];
  if (file) openFile(file);
});
$("url-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const url = ($("url-input") as HTMLInputElement).value.trim();
  if (url) openUrl(url);
});

const initial = new URLSearchParams(location.search).get("url");
if (initial) openUrl(initial);
else document.body.dataset.state = "empty";
