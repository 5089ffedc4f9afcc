/**
 * What every figure module shares: headless rendering of Vega-Lite specs to SVG (`renderer: 'none'`, `toSVG()`; no
 * canvas, no DOM, no network), the look (size, fonts, palettes), and how a group is placed and labelled in the
 * paper's two families (widths at a fixed depth, depths at a fixed width).
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { SummaryRow } from './types.js';

/** The most series a figure draws (the tableau10/category20 palettes stay readable up to here). */
export const MAX_SERIES = 12;

/** `width`: cells at one depth, varying width; `depth`: cells at one width, varying depth. */
export type Family = 'width' | 'depth';

export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

export const FAMILY_AXIS: Record<Family, string> = { width: 'width h', depth: 'depth L (hidden h→h layers)' };
const FAMILY_SYMBOL: Record<Family, string> = { width: 'h', depth: 'L' };

export const SIZE = { width: 440, height: 280 };

export const CONFIG = {
  font: 'Helvetica, Arial, sans-serif',
  background: 'white',
  axis: { grid: true, gridOpacity: 0.35, labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' },
  legend: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 'normal' },
  title: { fontSize: 13, fontWeight: 'normal', anchor: 'start', offset: 8 },
  view: { stroke: '#888' },
} as const;

/** Compiles a Vega-Lite spec and renders it to an SVG string headless (no canvas needed). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = compile(spec).spec;
  const view = new View(parse(compiled), { renderer: 'none', logLevel: 0 });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export const finite = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);
export const positive = (x: number | null | undefined): x is number => finite(x) && x > 0;

/** Colours: a categorical scheme large enough for the number of series. */
export function colorScheme(n: number): string {
  return n <= 10 ? 'tableau10' : 'category20';
}

/** The value a family varies (width for the width family). */
export const varyingOf = (family: Family, c: { width: number; depth: number }) => (family === 'width' ? c.width : c.depth);

/** Series label of a group in a family: `h = 8`, or `h = 8, m = 1000` when sample sizes differ. */
export function familyLabel(family: Family, value: number, sampleSize: number, manySizes: boolean): string {
  return `${FAMILY_SYMBOL[family]} = ${value}${manySizes ? `, m = ${sampleSize}` : ''}`;
}

/** A summary row's place: its width, depth and sample size as numbers (DEFAULT_BY rows have all three). */
export const placeOf = (row: SummaryRow) => ({ width: Number(row.key.width), depth: Number(row.key.depth), sample_size: Number(row.key.sample_size) });

/** An x scale that keeps the end points off the frame: log₂ for widths, linear for depths. */
export function xDomain(family: Family, xs: readonly number[]) {
  if (xs.length === 0) return family === 'width' ? { type: 'log', base: 2 } : { zero: false };
  const [lo, hi] = [xs[0]!, xs[xs.length - 1]!];
  if (family === 'width') {
    const pad = Math.max(0.25, 0.06 * Math.log2(hi / lo));
    return { type: 'log', base: 2, domain: [lo / 2 ** pad, hi * 2 ** pad], nice: false };
  }
  const pad = Math.max(0.25, 0.06 * (hi - lo));
  return { zero: false, domain: [lo - pad, hi + pad], nice: false };
}

/** `mnist` → `mnist`; anything else outside [a-z0-9-] becomes `-`. */
export function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'x';
}

/**
 * A log axis's domain for `values` with intervals [lows, highs]: the values' range, widened to take in the
 * intervals but at most `reach` times beyond it each way (an interval of two seeds, t = 12.7, can span many
 * decades; the marks drawing it are clipped to the frame). Null without a positive value.
 */
export function logDomain(values: readonly number[], lows: readonly number[], highs: readonly number[], reach = 100): [number, number] | null {
  let [min, max, lo, hi] = [Number.POSITIVE_INFINITY, 0, Number.POSITIVE_INFINITY, 0];
  for (const v of values) if (positive(v)) [min, max] = [Math.min(min, v), Math.max(max, v)];
  if (!(max > 0)) return null;
  for (const v of lows) if (positive(v)) lo = Math.min(lo, v);
  for (const v of highs) if (positive(v)) hi = Math.max(hi, v);
  return [Math.max(Math.min(lo, min), min / reach), Math.min(Math.max(hi, max), max * reach)];
}

/** A figure's top-level spec in the report's size and style; `body` adds its data and layers (or facets). */
export function framed(title: string | undefined, body: Record<string, unknown>, size: Record<string, number> = SIZE): TopLevelSpec {
  return { $schema: VEGA_LITE_SCHEMA, ...(title ? { title } : {}), ...size, config: CONFIG, ...body } as unknown as TopLevelSpec;
}

/** A dashed grey horizontal line at `y`: a figure's reference value (a ratio of 1, a theoretical slope). */
export function referenceRule(y: number) {
  return { name: 'reference', data: { values: [{ y }] }, mark: { type: 'rule', strokeDash: [6, 4], color: '#444' }, encoding: { y: { field: 'y', type: 'quantitative' } } };
}
