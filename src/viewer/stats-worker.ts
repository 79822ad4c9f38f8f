/**
 * The viewer's Worker: receives `{ id, values, integers }` (a transferred Float64Array, and the same
 * elements as a BigInt64Array or BigUint64Array for 64-bit integers) and answers `{ id, stats }`,
 * so statistics of a 16 MiB sample never block the page.
 *
 * @module
 */
import { computeStats } from "./stats.js";

self.onmessage = (event: MessageEvent<{ id: number; values: Float64Array; integers?: BigInt64Array | BigUint64Array }>) => {
  const { id, values, integers } = event.data;
  (self as unknown as Worker).postMessage({ id, stats: computeStats(values, integers) });
};
