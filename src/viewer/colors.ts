/**
 * The heatmap's color scale: viridis (perceptually uniform, readable in grey and by most color-blind
 * readers), as a 256-entry table interpolated from matplotlib's anchor colors. Pure, so the tests
 * compute the color a value must get.
 *
 * @module
 */

/** viridis at 0, 1/8, ..., 1 (matplotlib's values, rounded to bytes). */
const ANCHORS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/** Colors of the scale, 256 entries of [r, g, b]. */
export const SCALE: readonly (readonly [number, number, number])[] = Array.from({ length: 256 }, (_, i) => {
  const t = (i / 255) * (ANCHORS.length - 1);
  const k = Math.min(ANCHORS.length - 2, Math.floor(t));
  const f = t - k;
  const [a, b] = [ANCHORS[k]!, ANCHORS[k + 1]!];
  return [0, 1, 2].map((c) => Math.round(a[c]! + (b[c]! - a[c]!) * f)) as unknown as readonly [number, number, number];
});

/** Color of values that are not finite (NaN, infinities): a neutral grey off the scale. */
export const NOT_FINITE: readonly [number, number, number] = [128, 128, 128];

/** The color of `value` on a scale from `min` to `max` (all one color when they are equal). */
export function colorOf(value: number, min: number, max: number): readonly [number, number, number] {
  if (!Number.isFinite(value)) return NOT_FINITE;
  const t = max > min ? (value - min) / (max - min) : 0.5;
  return SCALE[Math.max(0, Math.min(255, Math.round(t * 255)))]!;
}
