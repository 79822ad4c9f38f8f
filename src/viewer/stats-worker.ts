/**
 * The viewer's Worker: receives `{ id, values }` (a transferred Float64Array) and answers
 * `{ id, stats }`, so statistics of a 16 MiB sample never block the page.
 *
 * @module
 */
import { computeStats } from "./stats.js";

self.onmessage = (event: MessageEvent<{ id: number; values: Float64Array }>) => {
  const { id, values } = event.data;
  (self as unknown as Worker).postMessage({ id, stats: computeStats(values) });
};
