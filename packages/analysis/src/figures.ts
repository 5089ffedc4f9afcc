/**
 * Figures of a sweep as SVG strings: Vega-Lite specs compiled to Vega and rendered headless in Node
 * (`renderer: 'none'`, `toSVG()`; no canvas, no DOM, no network).
 *
 * Each figure function takes plain data (result rows of cells, or summary rows of groups of cells) and
 * returns an SVG string. `buildFigures` picks the paper's two families from the cells of each dataset
 * (widths at a fixed depth, depths at a fixed width) and makes every figure that the sweep has data for,
 * with a note for each one it skips.
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ResultRow } from '@hessweep/grid';
import type { Stat, SummaryRow } from './types.js';

/** What a figure needs of a result row. */
export type CellData = Pick<
  ResultRow,
  | 'cell_id' | 'status' | 'dataset' | 'width' | 'depth' | 'seed' | 'sample_size'
  | 'loss_diff_k' | 'loss_diff' | 'hessian_top' | 'ggn_top' | 'bound' | 'density_x' | 'density_y'
>;

/** `width`: cells at one depth, varying width; `depth`: cells at one width, varying depth. */
export type Family = 'width' | 'depth';

/** The numeric summary columns a figure can plot against width or depth. */
export type MetricName = 'lambda_max' | 'ggn_lambda_max' | 'trace' | 'loss_diff_slope' | 'train_accuracy' | 'train_loss' | 'bound';

export interface Figure {
  /** File name without `.svg`: letters, digits, `-`. */
  name: string;
  title: string;
  caption: string;
  svg: string;
}

export interface FigureOptions {
  /** EMA factor β of the D_k curves, s₀ = x₀, sᵢ = β·sᵢ₋₁ + (1 − β)·xᵢ; 0 draws them raw. */
  smoothing?: number;
  /** Spectral densities on a log y axis. */
  logDensity?: boolean;
  /** Override the depth of the width family (default: the most common depth among cells that vary width). */
  fixedDepth?: number;
  /** Override the width of the depth family (default: the most common width among cells that vary depth). */
  fixedWidth?: number;
}

const METRIC_LABEL: Record<MetricName, string> = {
  lambda_max: 'Hessian λₘₐₓ',
  ggn_lambda_max: 'GGN λₘₐₓ',
  trace: 'trace of H',
  loss_diff_slope: 'slope of log Dₖ',
  train_accuracy: 'train accuracy',
  train_loss: 'train loss',
  bound: 'Theorem 1 bound',
};

const FAMILY_AXIS: Record<Family, string> = { width: 'width h', depth: 'depth L (hidden h→h layers)' };
const FAMILY_SYMBOL: Record<Family, string> = { width: 'h', depth: 'L' };

const SIZE = { width: 440, height: 280 };

const CONFIG = {
  font: 'Helvetica, Arial, sans-serif',
  background: 'white',
  axis: { grid: true, gridOpacity: 0.35, labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' },
  legend: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 'normal' },
  title: { fontSize: 13, fontWeight: 'normal', anchor: 'start', offset: 8 },
  view: { stroke: '#888' },
} as const;

// ---------------------------------------------------------------------------------------------------------
// Rendering

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

// ---------------------------------------------------------------------------------------------------------
// Numerics

/** The paper's EMA: s₀ = x₀, sᵢ = β·sᵢ₋₁ + (1 − β)·xᵢ, in the order given. β = 0 returns a copy. */
export function ema(values: readonly number[], beta: number): number[] {
  if (!(beta >= 0 && beta < 1)) throw new RangeError(`smoothing must be in [0, 1), got ${beta}`);
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) out.push(i === 0 ? values[0] : beta * out[i - 1] + (1 - beta) * values[i]);
  return out;
}

const finite = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);
const positive = (x: number | null | undefined): x is number => finite(x) && x > 0;

/** Orders group-key values: numbers numerically, anything else as text. */
export function compareKeys(a: string | number | null, b: string | number | null): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

/** Colours: a categorical scheme large enough for the number of series. */
function colorScheme(n: number): string {
  return n <= 10 ? 'tableau10' : 'category20';
}

// ---------------------------------------------------------------------------------------------------------
// Families

export interface FamilyChoice {
  /** Depth of the width family, or null when no depth has two widths. */
  fixedDepth: number | null;
  /** Width of the depth family, or null when no width has two depths. */
  fixedWidth: number | null;
}

/**
 * The paper's families among `cells` (one dataset): the width family is the cells at the depth that has
 * the most cells among depths with at least two widths (ties: more widths, then the smaller depth); the depth
 * family likewise at a width.
 */
export function chooseFamilies(cells: readonly Pick<CellData, 'width' | 'depth'>[]): FamilyChoice {
  const pick = (fixedBy: 'width' | 'depth', varying: 'width' | 'depth'): number | null => {
    const byValue = new Map<number, { count: number; values: Set<number> }>();
    for (const c of cells) {
      const entry = byValue.get(c[fixedBy]) ?? { count: 0, values: new Set<number>() };
      entry.count++;
      entry.values.add(c[varying]);
      byValue.set(c[fixedBy], entry);
    }
    let best: number | null = null;
    let bestKey: [number, number, number] = [-1, -1, 0];
    for (const [value, { count, values }] of byValue) {
      if (values.size < 2) continue;
      const key: [number, number, number] = [count, values.size, -value];
      if (key[0] > bestKey[0] || (key[0] === bestKey[0] && (key[1] > bestKey[1] || (key[1] === bestKey[1] && key[2] > bestKey[2])))) {
        best = value;
        bestKey = key;
      }
    }
    return best;
  };
  return { fixedDepth: pick('depth', 'width'), fixedWidth: pick('width', 'depth') };
}

/** The value a family varies (width for the width family). */
const varyingOf = (family: Family, c: { width: number; depth: number }) => (family === 'width' ? c.width : c.depth);

/** Series label of a cell or group in a family: `h = 8`, or `h = 8, m = 1000` when sample sizes differ. */
function familyLabel(family: Family, value: number, sampleSize: number, manySizes: boolean): string {
  return `${FAMILY_SYMBOL[family]} = ${value}${manySizes ? `, m = ${sampleSize}` : ''}`;
}

// ---------------------------------------------------------------------------------------------------------
// D_k against k

export interface CurveSeries {
  label: string;
  /** Sort key of the series (the varying width or depth, then the sample size). */
  order: [number, number];
  k: number[];
  mean: number[];
  /** Min and max over seeds at each k (equal to the mean for one seed). */
  lo: number[];
  hi: number[];
  seeds: number;
}

/**
 * D_k curves of the ok cells of a family, one series per value of the varying field (and sample size):
 * mean over seeds at the k every seed shares, with the min–max band over seeds, each EMA-smoothed in k order.
 */
export function curveSeries(cells: readonly CellData[], family: Family, smoothing = 0): CurveSeries[] {
  const ok = cells.filter((c) => c.status === 'ok' && c.loss_diff_k && c.loss_diff && c.loss_diff_k.length > 0);
  const manySizes = new Set(ok.map((c) => c.sample_size)).size > 1;
  const groups = new Map<string, CellData[]>();
  for (const c of ok) {
    const key = `${varyingOf(family, c)}|${c.sample_size}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const series: CurveSeries[] = [];
  for (const group of groups.values()) {
    const shared = group
      .map((c) => new Set(c.loss_diff_k!))
      .reduce((a, b) => new Set([...a].filter((k) => b.has(k))));
    const k = [...shared].sort((a, b) => a - b);
    const lookups = group.map((c) => new Map(c.loss_diff_k!.map((kk, i) => [kk, c.loss_diff![i]])));
    const mean: number[] = [];
    const lo: number[] = [];
    const hi: number[] = [];
    for (const kk of k) {
      const values = lookups.map((m) => m.get(kk)!);
      mean.push(values.reduce((s, v) => s + v, 0) / values.length);
      lo.push(Math.min(...values));
      hi.push(Math.max(...values));
    }
    const first = group[0];
    series.push({
      label: familyLabel(family, varyingOf(family, first), first.sample_size, manySizes),
      order: [varyingOf(family, first), first.sample_size],
      k,
      mean: ema(mean, smoothing),
      lo: ema(lo, smoothing),
      hi: ema(hi, smoothing),
      seeds: group.length,
    });
  }
  return series.sort((a, b) => a.order[0] - b.order[0] || a.order[1] - b.order[1]);
}

/** D_k against k on log–log axes: one line per series of `curveSeries`, with its seed band. */
export async function lossDiffFigure(
  cells: readonly CellData[],
  options: { family: Family; title?: string; smoothing?: number },
): Promise<string> {
  const series = curveSeries(cells, options.family, options.smoothing ?? 0);
  const values = series.flatMap((s) =>
    s.k.map((k, i) => ({ series: s.label, k, mean: s.mean[i], lo: s.lo[i], hi: s.hi[i] })).filter((p) => p.k > 0 && positive(p.mean)),
  );
  const bands = values.filter((p) => positive(p.lo) && positive(p.hi) && p.hi > p.lo);
  const domain = series.map((s) => s.label);
  const color = {
    field: 'series', type: 'nominal', title: null, sort: domain,
    scale: { domain, scheme: colorScheme(domain.length) },
    legend: { symbolType: 'stroke', symbolStrokeWidth: 2.5, symbolOpacity: 1 },
  } as const;
  const x = { field: 'k', type: 'quantitative', title: 'sample size k', scale: { type: 'log', nice: false } } as const;
  const layer: TopLevelSpec[] = [];
  if (bands.length) {
    layer.push({
      name: 'band',
      data: { values: bands },
      mark: { type: 'area', opacity: 0.18 },
      encoding: { x, y: { field: 'lo', type: 'quantitative', scale: { type: 'log' } }, y2: { field: 'hi' }, color },
    } as unknown as TopLevelSpec);
  }
  layer.push({
    name: 'curve',
    data: { values },
    mark: { type: 'line', strokeWidth: 1.8 },
    encoding: {
      x,
      y: { field: 'mean', type: 'quantitative', title: 'Dₖ = |Lₖ₊₁ − Lₖ|', scale: { type: 'log' } },
      color,
    },
  } as unknown as TopLevelSpec);
  return renderSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(options.title ? { title: options.title } : {}),
    ...SIZE,
    config: CONFIG,
    layer,
  } as unknown as TopLevelSpec);
}

// ---------------------------------------------------------------------------------------------------------
// Summary metrics against width or depth

interface MetricPoint {
  series: string;
  /** Index of the metric in the list asked for: series are ordered by it, then by name. */
  order: number;
  x: number;
  y: number;
  lo: number | null;
  hi: number | null;
}

/** Points of `metrics` of the summary rows against the family's field; one series per dataset (and m) × metric. */
export function metricPoints(rows: readonly SummaryRow[], family: Family, metrics: readonly MetricName[]): MetricPoint[] {
  const datasets = new Set(rows.map((r) => r.key.dataset));
  const sizes = new Set(rows.map((r) => r.key.sample_size));
  const points: MetricPoint[] = [];
  for (const row of rows) {
    const x = row.key[family];
    if (typeof x !== 'number') continue;
    for (const metric of metrics) {
      const stat = row[metric] as Stat;
      if (!stat || !finite(stat.mean)) continue;
      const parts = [
        ...(datasets.size > 1 ? [String(row.key.dataset)] : []),
        ...(sizes.size > 1 ? [`m = ${row.key.sample_size}`] : []),
        ...(metrics.length > 1 || (datasets.size <= 1 && sizes.size <= 1) ? [METRIC_LABEL[metric]] : []),
      ];
      const bar = stat.n > 1 && finite(stat.ci95) && stat.ci95 > 0;
      points.push({
        series: parts.join(' · '),
        order: metrics.indexOf(metric),
        x,
        y: stat.mean,
        lo: bar ? stat.mean - stat.ci95 : null,
        hi: bar ? stat.mean + stat.ci95 : null,
      });
    }
  }
  return points.sort((a, b) => a.order - b.order || a.series.localeCompare(b.series) || a.x - b.x);
}

/** An x scale that keeps the end points off the frame: log₂ for widths, linear for depths. */
function xDomain(family: Family, xs: readonly number[]) {
  if (xs.length === 0) return family === 'width' ? { type: 'log', base: 2 } : { zero: false };
  const [lo, hi] = [xs[0], xs[xs.length - 1]];
  if (family === 'width') {
    const pad = Math.max(0.25, 0.06 * Math.log2(hi / lo));
    return { type: 'log', base: 2, domain: [lo / 2 ** pad, hi * 2 ** pad], nice: false };
  }
  const pad = Math.max(0.25, 0.06 * (hi - lo));
  return { zero: false, domain: [lo - pad, hi + pad], nice: false };
}

/**
 * Summary metrics (mean over seeds, with 95% CI error bars) against width (log₂ axis) or depth; one line
 * per dataset × metric. `rule` draws a dashed horizontal line (the slope's theoretical −1).
 */
export async function metricFigure(
  rows: readonly SummaryRow[],
  options: { family: Family; metrics: readonly MetricName[]; title?: string; yTitle?: string; rule?: number; ruleLabel?: string },
): Promise<string> {
  const points = metricPoints(rows, options.family, options.metrics);
  const domain = [...new Set(points.map((p) => p.series))];
  const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  const color = {
    field: 'series', type: 'nominal', title: null,
    scale: { domain, scheme: colorScheme(domain.length) },
    ...(domain.length === 1 ? { legend: null } : {}),
  } as const;
  const x = {
    field: 'x',
    type: 'quantitative',
    title: FAMILY_AXIS[options.family],
    scale: xDomain(options.family, xs),
    axis: { values: xs, format: 'd' },
  } as const;
  const y = {
    field: 'y',
    type: 'quantitative',
    title: options.yTitle ?? options.metrics.map((m) => METRIC_LABEL[m]).join(', '),
    scale: { zero: false },
  } as const;
  const layer: unknown[] = [
    { name: 'line', mark: { type: 'line', strokeWidth: 1.6 }, encoding: { x, y, color } },
    { name: 'points', mark: { type: 'point', filled: true, size: 40 }, encoding: { x, y, color } },
  ];
  const bars = points.filter((p) => p.lo !== null);
  if (bars.length) {
    layer.push({
      name: 'errorbars',
      data: { values: bars },
      mark: { type: 'rule', strokeWidth: 1.3 },
      encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color },
    });
  }
  if (options.rule !== undefined) {
    layer.push({
      name: 'reference',
      data: { values: [{ y: options.rule }] },
      mark: { type: 'rule', strokeDash: [6, 4], color: '#444' },
      encoding: { y: { field: 'y', type: 'quantitative' } },
    });
  }
  return renderSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(options.title ? { title: options.title } : {}),
    ...SIZE,
    config: CONFIG,
    data: { values: points },
    layer,
  } as unknown as TopLevelSpec);
}

// ---------------------------------------------------------------------------------------------------------
// Bound against λ_max

/** Theorem 1 bound against measured λ_max, one point per ok cell, log–log, with the line y = x. */
export async function boundFigure(cells: readonly CellData[], options: { title?: string } = {}): Promise<string> {
  const ok = cells.filter((c) => c.status === 'ok' && positive(c.hessian_top?.[0]) && positive(c.bound));
  const datasets = new Set(ok.map((c) => c.dataset));
  const points = ok.map((c) => ({
    lambda: c.hessian_top![0],
    bound: c.bound!,
    depth: `L = ${c.depth}`,
    depthValue: c.depth,
    dataset: c.dataset,
  }));
  const depths = [...new Set(points.sort((a, b) => a.depthValue - b.depthValue).map((p) => p.depth))];
  const all = points.flatMap((p) => [p.lambda, p.bound]);
  const lo = all.length ? Math.min(...all) : 1;
  const hi = all.length ? Math.max(...all) : 10;
  const layer: unknown[] = [
    {
      name: 'identity',
      data: { values: [{ lambda: lo, bound: lo }, { lambda: hi, bound: hi }] },
      mark: { type: 'line', strokeDash: [6, 4], color: '#444', strokeWidth: 1 },
      encoding: {
        x: { field: 'lambda', type: 'quantitative', scale: { type: 'log' } },
        y: { field: 'bound', type: 'quantitative', scale: { type: 'log' } },
      },
    },
    {
      name: 'cells',
      data: { values: points },
      mark: { type: 'point', filled: true, size: 45, opacity: 0.85 },
      encoding: {
        x: { field: 'lambda', type: 'quantitative', title: 'measured λₘₐₓ of the Hessian', scale: { type: 'log' } },
        y: { field: 'bound', type: 'quantitative', title: 'Theorem 1 bound', scale: { type: 'log' } },
        color: { field: 'depth', type: 'nominal', title: 'depth', scale: { domain: depths, scheme: colorScheme(depths.length) } },
        ...(datasets.size > 1 ? { shape: { field: 'dataset', type: 'nominal', title: 'dataset' } } : {}),
      },
    },
  ];
  return renderSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(options.title ? { title: options.title } : {}),
    ...SIZE,
    config: CONFIG,
    layer,
    resolve: { scale: { x: 'shared', y: 'shared' } },
  } as unknown as TopLevelSpec);
}

// ---------------------------------------------------------------------------------------------------------
// Spectral densities

/**
 * Spectral densities (stochastic Lanczos quadrature) of some cells, one line each, labelled by the family's
 * varying field. With `logY`, densities below 10⁻⁸ of a curve's peak are cut.
 */
export async function densityFigure(
  cells: readonly CellData[],
  options: { family: Family; title?: string; logY?: boolean },
): Promise<string> {
  const ok = cells
    .filter((c) => c.status === 'ok' && c.density_x && c.density_y && c.density_x.length > 0)
    .sort((a, b) => varyingOf(options.family, a) - varyingOf(options.family, b) || a.sample_size - b.sample_size || a.seed - b.seed);
  const manySizes = new Set(ok.map((c) => c.sample_size)).size > 1;
  const labels: string[] = [];
  const values: { series: string; x: number; y: number }[] = [];
  for (const c of ok) {
    let label = familyLabel(options.family, varyingOf(options.family, c), c.sample_size, manySizes);
    if (labels.includes(label)) label = `${label}, seed ${c.seed}`;
    labels.push(label);
    const peak = Math.max(...c.density_y!.filter(finite));
    c.density_x!.forEach((x, i) => {
      const y = c.density_y![i];
      if (!finite(x) || !finite(y)) return;
      if (options.logY && !(y > peak * 1e-8)) return;
      values.push({ series: label, x, y });
    });
  }
  return renderSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(options.title ? { title: options.title } : {}),
    ...SIZE,
    config: CONFIG,
    data: { values },
    layer: [
      {
        name: 'density',
        mark: { type: 'line', strokeWidth: 1.4, interpolate: 'linear' },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: 'eigenvalue λ', scale: { zero: false, nice: false } },
          y: { field: 'y', type: 'quantitative', title: 'spectral density', scale: options.logY ? { type: 'log' } : { zero: true } },
          color: { field: 'series', type: 'nominal', title: null, scale: { domain: labels, scheme: colorScheme(labels.length) } },
        },
      },
    ],
  } as unknown as TopLevelSpec);
}

// ---------------------------------------------------------------------------------------------------------
// The set of figures of a sweep

export interface FigureSet {
  figures: Figure[];
  /** One line per figure not drawn, and why. */
  notes: string[];
  /** The families chosen per dataset. */
  families: Map<string, FamilyChoice>;
}

/** `mnist` → `mnist`; anything else outside [a-z0-9-] becomes `-`. */
function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'x';
}

/**
 * Every figure the sweep has data for. `cells` are the sweep's rows (one per cell; failed ones are ignored
 * by the figures), `summary` its groups (dataset × width × depth × sample size).
 */
export async function buildFigures(cells: readonly CellData[], summary: readonly SummaryRow[], options: FigureOptions = {}): Promise<FigureSet> {
  const smoothing = options.smoothing ?? 0;
  ema([], smoothing); // validates
  const figures: Figure[] = [];
  const notes: string[] = [];
  const datasets = [...new Set(cells.map((c) => c.dataset))].sort();
  const families = new Map<string, FamilyChoice>();
  for (const dataset of datasets) {
    const own = cells.filter((c) => c.dataset === dataset);
    const chosen = chooseFamilies(own);
    families.set(dataset, {
      fixedDepth: options.fixedDepth ?? chosen.fixedDepth,
      fixedWidth: options.fixedWidth ?? chosen.fixedWidth,
    });
  }
  const ok = cells.filter((c) => c.status === 'ok');
  const smoothNote =
    smoothing > 0
      ? ` Curves EMA-smoothed over the stored k in order (β = ${smoothing}); the stored k are log-spaced, so this smooths` +
        ' far more than the paper\'s EMA over every k.'
      : '';

  const inFamily = <T>(family: Family, dataset: string, items: readonly T[], get: (t: T) => { dataset: unknown; width: unknown; depth: unknown }) => {
    const choice = families.get(dataset);
    const fixed = family === 'width' ? choice?.fixedDepth : choice?.fixedWidth;
    if (fixed === null || fixed === undefined) return { fixed: null, items: [] as T[] };
    return {
      fixed,
      items: items.filter((t) => {
        const c = get(t);
        return c.dataset === dataset && (family === 'width' ? c.depth === fixed : c.width === fixed);
      }),
    };
  };
  const fixedText = (family: Family, fixed: number) => (family === 'width' ? `depth ${fixed}` : `width ${fixed}`);
  const familyText = (family: Family) => (family === 'width' ? 'widths' : 'depths');

  // D_k against k, per dataset and family.
  for (const dataset of datasets) {
    for (const family of ['width', 'depth'] as const) {
      const name = `dk-${family}-${slug(dataset)}`;
      const { fixed, items } = inFamily(family, dataset, ok, (c) => c);
      if (fixed === null) {
        notes.push(`${name}: ${dataset} has no ${familyText(family)} family (no ${family === 'width' ? 'depth with two widths' : 'width with two depths'})`);
        continue;
      }
      const series = curveSeries(items, family, smoothing);
      if (series.length === 0) {
        notes.push(`${name}: no ok cell of ${dataset} at ${fixedText(family, fixed)} has a loss-difference curve`);
        continue;
      }
      const title = `${dataset}: Dₖ against k, ${familyText(family)} at ${fixedText(family, fixed)}`;
      figures.push({
        name,
        title,
        caption:
          `${title}. Dₖ = |Lₖ₊₁ − Lₖ| averaged over permutations; line: mean over seeds, band: min–max over seeds ` +
          `(${series.map((s) => `${s.label}: ${s.seeds}`).join('; ')} seeds). Theory: Dₖ ∝ 1/k.${smoothNote}`,
        svg: await lossDiffFigure(items, { family, title, smoothing }),
      });
    }
  }

  // Summary metrics against width and depth (all datasets in one figure).
  const metricSets: { prefix: string; metrics: MetricName[]; what: string; short: string; yTitle: string; rule?: number; caption: string }[] = [
    {
      prefix: 'lambda', metrics: ['lambda_max', 'ggn_lambda_max'], what: 'λₘₐₓ of the Hessian and of its Gauss-Newton part', short: 'λₘₐₓ', yTitle: 'λₘₐₓ',
      caption: 'Top eigenvalue (Lanczos) of the Hessian of the mean training loss and of its Gauss-Newton part G',
    },
    { prefix: 'trace', metrics: ['trace'], what: 'trace of the Hessian', short: 'trace of H', yTitle: 'trace of H', caption: 'Trace of the Hessian' },
    {
      prefix: 'slope', metrics: ['loss_diff_slope'], what: 'fitted slope of Dₖ', short: 'slope of Dₖ', yTitle: 'slope of log Dₖ on log k', rule: -1,
      caption: 'Slope s of the fit log Dₖ = a + s·log k; the dashed line is the theoretical −1',
    },
  ];
  for (const set of metricSets) {
    for (const family of ['width', 'depth'] as const) {
      const name = `${set.prefix}-${family}`;
      const parts = datasets.map((d) => ({ dataset: d, ...inFamily(family, d, summary, (r) => r.key) }));
      const rows = parts.flatMap((p) => p.items);
      const fixedList = parts.filter((p) => p.fixed !== null).map((p) => `${datasets.length > 1 ? `${p.dataset} ` : ''}${fixedText(family, p.fixed!)}`);
      if (metricPoints(rows, family, set.metrics).length === 0) {
        notes.push(`${name}: ${fixedList.length ? `no finite ${set.what} in the ${familyText(family)} family` : `no ${familyText(family)} family in this sweep`}`);
        continue;
      }
      const title = `${set.short} against ${family}${fixedList.length === 1 ? `, ${fixedList[0]}` : ''}`;
      figures.push({
        name,
        title,
        caption: `${set.caption}, against ${family} at ${fixedList.join(', ')}: mean over seeds, error bars the 95% confidence interval (Student t) where a group has two or more seeds.`,
        svg: await metricFigure(rows, { family, metrics: set.metrics, title, yTitle: set.yTitle, rule: set.rule }),
      });
    }
  }

  // Bound against measured λ_max.
  const boundCells = ok.filter((c) => positive(c.hessian_top?.[0]) && positive(c.bound));
  if (boundCells.length) {
    const title = 'Theorem 1 bound against measured λₘₐₓ';
    const below = boundCells.filter((c) => c.bound! < c.hessian_top![0]).length;
    figures.push({
      name: 'bound',
      title,
      caption:
        `${title}, one point per ok cell (${boundCells.length}), log–log; the dashed line is y = x, and a valid bound lies above it` +
        `${below ? ` (${below} cell${below === 1 ? '' : 's'} below it)` : ''}.`,
      svg: await boundFigure(boundCells, { title }),
    });
  } else {
    notes.push('bound: no ok cell has both a measured λₘₐₓ and a bound');
  }

  // Spectral densities: the lowest seed of each width (depth) in the family.
  for (const dataset of datasets) {
    for (const family of ['width', 'depth'] as const) {
      const name = `density-${family}-${slug(dataset)}`;
      const { fixed, items } = inFamily(family, dataset, ok, (c) => c);
      if (fixed === null) {
        notes.push(`${name}: ${dataset} has no ${familyText(family)} family`);
        continue;
      }
      const withDensity = items.filter((c) => c.density_x?.length && c.density_y?.length);
      const firstSeed = new Map<string, CellData>();
      for (const c of withDensity.sort((a, b) => a.seed - b.seed)) {
        const key = `${varyingOf(family, c)}|${c.sample_size}`;
        if (!firstSeed.has(key)) firstSeed.set(key, c);
      }
      const chosen = [...firstSeed.values()];
      if (chosen.length === 0) {
        notes.push(`${name}: no ok cell of ${dataset} at ${fixedText(family, fixed)} has a spectral density`);
        continue;
      }
      const title = `${dataset}: spectral density, ${familyText(family)} at ${fixedText(family, fixed)}`;
      figures.push({
        name,
        title,
        caption:
          `${dataset}: spectral density of the Hessian, ${familyText(family)} at ${fixedText(family, fixed)}, by stochastic Lanczos quadrature, for the lowest seed of each ${family} ` +
          `(seed ${[...new Set(chosen.map((c) => c.seed))].join(', ')})${options.logDensity ? '; log density axis' : ''}.`,
        svg: await densityFigure(chosen, { family, title, logY: options.logDensity }),
      });
    }
  }
  return { figures, notes, families };
}
