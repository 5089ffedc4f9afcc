/**
 * Figures of a sweep as SVG strings: Vega-Lite specs compiled to Vega and rendered headless in Node
 * (`renderer: 'none'`, `toSVG()`; no canvas, no DOM, no network).
 *
 * Figures draw group statistics (summary rows of dataset × width × depth × sample size), never a mark per cell:
 * the D_k curves are each group's mean with its min–max band, the metrics each group's mean with its 95%
 * confidence interval, a density one cell per group (its lowest seed), the stabilization criteria geometric
 * means over seeds (stab-figures.ts), and the bound scatter a fixed-size sample of cells. So a figure's size depends on the grid, not on the number of cells; and a figure draws at
 * most MAX_SERIES series, so not on every axis of the grid either. `buildFigures` picks the paper's two
 * families in each dataset (widths at a fixed depth, depths at a fixed width) and makes every figure that the
 * sweep has data for, with a note for each one it skips.
 */
import type { TopLevelSpec } from 'vega-lite';
import {
  colorScheme, FAMILY_AXIS, familyLabel, finite, framed, MAX_SERIES, placeOf, positive, referenceRule, renderSvg, slug, varyingOf, xDomain, type Family,
} from './plot.js';
import { stabilizationFigures } from './stab-figures.js';
import { geometric } from './stats.js';
import type { Stat, SummaryRow } from './types.js';

export { MAX_SERIES, renderSvg, type Family } from './plot.js';

/** The spectral density of one ok cell (the report keeps one per group: the lowest seed's). */
export interface DensityCell {
  cell_id: string;
  dataset: string;
  width: number;
  depth: number;
  sample_size: number;
  seed: number;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
}

/** One ok cell of the bound scatter: its measured λ_max and its Theorem 1 bound, both positive. */
export interface BoundPoint {
  dataset: string;
  depth: number;
  lambda: number;
  bound: number;
}

/** The bound scatter's points, a sample of `cells` (every ok cell with a positive λ_max and bound), and how many of those lie below y = x. */
export interface BoundSample {
  points: BoundPoint[];
  cells: number;
  below: number;
}

/** What the figures of a sweep are drawn from. */
export interface FigureData {
  /** The summary grouped by dataset, width, depth and sample size (DEFAULT_BY). */
  groups: readonly SummaryRow[];
  /** At most one per group. */
  densities: readonly DensityCell[];
  bound: BoundSample;
}

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

// ---------------------------------------------------------------------------------------------------------
// Numerics

/** The paper's EMA: s₀ = x₀, sᵢ = β·sᵢ₋₁ + (1 − β)·xᵢ, in the order given. β = 0 returns a copy. */
export function ema(values: readonly number[], beta: number): number[] {
  if (!(beta >= 0 && beta < 1)) throw new RangeError(`smoothing must be in [0, 1), got ${beta}`);
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) out.push(i === 0 ? values[0] : beta * out[i - 1] + (1 - beta) * values[i]);
  return out;
}

/** Orders group-key values: numbers numerically, anything else as text. */
export function compareKeys(a: string | number | null, b: string | number | null): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

// ---------------------------------------------------------------------------------------------------------
// Families

export interface FamilyChoice {
  /** Depth of the width family, or null when no depth has two widths. */
  fixedDepth: number | null;
  /** Width of the depth family, or null when no width has two depths. */
  fixedWidth: number | null;
}

/** A group of cells at one width and depth: `cells` of them (default 1). */
export interface Placed {
  width: number;
  depth: number;
  cells?: number;
}

/**
 * The paper's families among `groups` (one dataset): the width family is the cells at the depth that has
 * the most cells among depths with at least two widths (ties: more widths, then the smaller depth); the depth
 * family likewise at a width.
 */
export function chooseFamilies(groups: readonly Placed[]): FamilyChoice {
  const pick = (fixedBy: 'width' | 'depth', varying: 'width' | 'depth'): number | null => {
    const byValue = new Map<number, { count: number; values: Set<number> }>();
    for (const g of groups) {
      const entry = byValue.get(g[fixedBy]) ?? { count: 0, values: new Set<number>() };
      entry.count += g.cells ?? 1;
      entry.values.add(g[varying]);
      byValue.set(g[fixedBy], entry);
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

/** The groups of a family that its figures draw, and what was left out (empty when nothing was). */
export interface DrawnGroups {
  groups: SummaryRow[];
  leftOut: string;
}

/**
 * At most MAX_SERIES series (varying value × sample size) of a family's groups: beyond that, only the sample size
 * with the most cells (ties: the larger), then at most MAX_SERIES varying values, evenly spaced, both ends kept.
 */
export function drawnGroups(groups: readonly SummaryRow[], family: Family): DrawnGroups {
  const series = new Set(groups.map((g) => `${varyingOf(family, placeOf(g))}|${placeOf(g).sample_size}`));
  if (series.size <= MAX_SERIES) return { groups: [...groups], leftOut: '' };
  const notes: string[] = [];
  let kept = [...groups];
  const bySize = new Map<number, number>();
  for (const g of kept) bySize.set(placeOf(g).sample_size, (bySize.get(placeOf(g).sample_size) ?? 0) + g.seeds_ok + g.seeds_failed);
  if (bySize.size > 1) {
    const [size] = [...bySize].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]!;
    kept = kept.filter((g) => placeOf(g).sample_size === size);
    notes.push(`m = ${size} only, the sample size with the most cells (of ${bySize.size})`);
  }
  const values = [...new Set(kept.map((g) => varyingOf(family, placeOf(g))))].sort((a, b) => a - b);
  if (values.length > MAX_SERIES) {
    const chosen = new Set(Array.from({ length: MAX_SERIES }, (_, i) => values[Math.round((i * (values.length - 1)) / (MAX_SERIES - 1))]!));
    kept = kept.filter((g) => chosen.has(varyingOf(family, placeOf(g))));
    notes.push(`${MAX_SERIES} of ${values.length} ${family === 'width' ? 'widths' : 'depths'}, evenly spaced`);
  }
  return { groups: kept, leftOut: notes.join('; ') };
}

// ---------------------------------------------------------------------------------------------------------
// D_k against k

export interface CurveSeries {
  label: string;
  /** Sort key of the series (the varying width or depth, then the sample size). */
  order: [number, number];
  /**
   * `cell`: the D_k smoothed in each cell (loss_diff_smooth, the paper's EMA over every k); `stored`: the stored
   * D_k, EMA-smoothed over the stored k when `smoothing` > 0 (groups of sweeps older than the in-cell smoothing).
   */
  source: 'cell' | 'stored';
  k: number[];
  mean: number[];
  /** Min and max over seeds at each k (equal to the mean for one seed). */
  lo: number[];
  hi: number[];
  /** Of a `cell` series: the mean raw D_k over seeds at its k (NaN where none); empty for a `stored` one. */
  raw: number[];
  seeds: number;
}

/**
 * D_k curves of a family's groups, one series per group (a value of the varying field and a sample size): the
 * group's mean over seeds at each k of its grid with the min–max band over seeds (aggregate's per-k
 * accumulators). A group whose cells smoothed D_k themselves (smooth_k) draws that, with the raw mean beside it;
 * any other draws its stored D_k, EMA-smoothed in k order by `smoothing`. k where no seed gave a value are left out.
 */
export function curveSeries(groups: readonly SummaryRow[], family: Family, smoothing = 0): CurveSeries[] {
  const withCurve = groups.filter((g) => g.seeds_ok > 0 && (g.smooth_k.length > 0 || g.curve_k.length > 0));
  const manySizes = new Set(withCurve.map((g) => g.key.sample_size)).size > 1;
  const series: CurveSeries[] = [];
  for (const g of withCurve) {
    const place = placeOf(g);
    const head = { label: familyLabel(family, varyingOf(family, place), place.sample_size, manySizes), order: [varyingOf(family, place), place.sample_size] as [number, number], seeds: g.seeds_ok };
    if (g.smooth_k.length > 0) {
      const at = g.smooth_k.map((_, i) => i).filter((i) => finite(g.smooth_mean[i]));
      const rawAt = new Map(g.curve_k.map((k, i) => [k, g.curve_mean[i]!]));
      series.push({
        ...head, source: 'cell', k: at.map((i) => g.smooth_k[i]!), mean: at.map((i) => g.smooth_mean[i]!),
        lo: at.map((i) => g.smooth_min[i]!), hi: at.map((i) => g.smooth_max[i]!), raw: at.map((i) => rawAt.get(g.smooth_k[i]!) ?? Number.NaN),
      });
      continue;
    }
    const at = g.curve_k.map((_, i) => i).filter((i) => finite(g.curve_mean[i]));
    series.push({
      ...head,
      source: 'stored',
      k: at.map((i) => g.curve_k[i]!),
      mean: ema(at.map((i) => g.curve_mean[i]!), smoothing),
      lo: ema(at.map((i) => g.curve_min[i]!), smoothing),
      hi: ema(at.map((i) => g.curve_max[i]!), smoothing),
      raw: [],
    });
  }
  return series.sort((a, b) => a.order[0] - b.order[0] || a.order[1] - b.order[1]);
}

/**
 * The Vega-Lite spec of `lossDiffFigure`: D_k against k on log–log axes, one line per series of `curveSeries`
 * with its seed band, and for a series smoothed in the cell its raw mean as a thin faint line of the same colour.
 */
export function lossDiffSpec(groups: readonly SummaryRow[], options: { family: Family; title?: string; smoothing?: number }): TopLevelSpec {
  const series = curveSeries(groups, options.family, options.smoothing ?? 0);
  const values = series.flatMap((s) =>
    s.k.map((k, i) => ({ series: s.label, k, mean: s.mean[i], lo: s.lo[i], hi: s.hi[i] })).filter((p) => p.k > 0 && positive(p.mean)),
  );
  const raw = series.flatMap((s) => s.raw.map((mean, i) => ({ series: s.label, k: s.k[i]!, mean })).filter((p) => p.k > 0 && positive(p.mean)));
  const bands = values.filter((p) => positive(p.lo) && positive(p.hi) && p.hi > p.lo);
  const domain = series.map((s) => s.label);
  const color = {
    field: 'series', type: 'nominal', title: null, sort: domain,
    scale: { domain, scheme: colorScheme(domain.length) },
    legend: { symbolType: 'stroke', symbolStrokeWidth: 2.5, symbolOpacity: 1 },
  } as const;
  const x = { field: 'k', type: 'quantitative', title: 'sample size k', scale: { type: 'log', nice: false } } as const;
  const y = { field: 'mean', type: 'quantitative', title: 'Dₖ = |Lₖ₊₁ − Lₖ|', scale: { type: 'log' } } as const;
  const layer: unknown[] = [];
  if (bands.length) {
    layer.push({
      name: 'band',
      data: { values: bands },
      mark: { type: 'area', opacity: 0.18 },
      encoding: { x, y: { field: 'lo', type: 'quantitative', scale: { type: 'log' } }, y2: { field: 'hi' }, color },
    });
  }
  if (raw.length) layer.push({ name: 'raw', data: { values: raw }, mark: { type: 'line', strokeWidth: 1, opacity: 0.4 }, encoding: { x, y, color } });
  layer.push({ name: 'curve', data: { values }, mark: { type: 'line', strokeWidth: 1.8 }, encoding: { x, y, color } });
  return framed(options.title, { layer });
}

/** D_k against k on log–log axes (lossDiffSpec, rendered). */
export async function lossDiffFigure(groups: readonly SummaryRow[], options: { family: Family; title?: string; smoothing?: number }): Promise<string> {
  return renderSvg(lossDiffSpec(groups, options));
}

// ---------------------------------------------------------------------------------------------------------
// Summary metrics against width or depth

export interface MetricPoint {
  series: string;
  /** Index of the metric in the list asked for: series are ordered by it, then by name. */
  order: number;
  /** What besides the metric tells the series apart: dataset and sample size where the rows have several, else ''. */
  context: string;
  /** The operator of a spectral metric (`Hessian`, `GGN`), drawn as its own dash and point shape; null for others. */
  operator: string | null;
  x: number;
  y: number;
  lo: number | null;
  hi: number | null;
}

/** The operator of each spectral metric: its legend entry. */
const OPERATOR: Partial<Record<MetricName, string>> = { lambda_max: 'Hessian', ggn_lambda_max: 'GGN' };
/** Line dash and point shape of each operator, in OPERATOR order. */
const OPERATOR_DASH = [[1, 0], [6, 3]];
const OPERATOR_SHAPE = ['circle', 'triangle-up'];
/** Each operator's marks are drawn this share of the x axis's span to the left (first) or right (second) of their x. */
const OPERATOR_DODGE = [-0.008, 0.008];

/** The Stat of ln x of the metrics that a log axis draws by geometric mean (SummaryRow's positive-only log stats). */
const LOG_STAT: Partial<Record<MetricName, 'log_lambda_max' | 'log_ggn_lambda_max'>> = { lambda_max: 'log_lambda_max', ggn_lambda_max: 'log_ggn_lambda_max' };

/** Metrics that `log` can draw: those with a Stat of their logarithm. */
const LOG_METRICS = Object.keys(LOG_STAT) as MetricName[];

/**
 * The point of one metric of one row: the mean with mean ± ci95 where the group has two or more values; with
 * `log`, from the Stat of ln x of the row's positive values, exp(mean) (the geometric mean) with
 * exp(mean ± ci95), so every bound is positive. Null when there is no finite mean.
 */
function metricValue(row: SummaryRow, metric: MetricName, log: boolean): { y: number; lo: number | null; hi: number | null } | null {
  const logStat = LOG_STAT[metric];
  if (log && logStat === undefined) throw new RangeError(`metric ${metric} has no log-scale statistic; log-scale metrics: ${LOG_METRICS.join(', ')}`);
  const stat = (log ? row[logStat!] : row[metric]) as Stat;
  if (!stat || !finite(stat.mean)) return null;
  const bar = stat.n > 1 && finite(stat.ci95) && stat.ci95 > 0;
  if (log) {
    const g = geometric(stat);
    return { y: g.gmean, lo: bar ? g.lo : null, hi: bar ? g.hi : null };
  }
  return { y: stat.mean, lo: bar ? stat.mean - stat.ci95 : null, hi: bar ? stat.mean + stat.ci95 : null };
}

/**
 * Points of `metrics` of the summary rows against the family's field; one series per dataset (and m) × metric.
 * `log`: geometric means and intervals from ln x (metricValue), for a log axis.
 */
export function metricPoints(rows: readonly SummaryRow[], family: Family, metrics: readonly MetricName[], { log = false } = {}): MetricPoint[] {
  const datasets = new Set(rows.map((r) => r.key.dataset));
  const sizes = new Set(rows.map((r) => r.key.sample_size));
  const points: MetricPoint[] = [];
  for (const row of rows) {
    const x = row.key[family];
    if (typeof x !== 'number') continue;
    for (const metric of metrics) {
      const value = metricValue(row, metric, log);
      if (value === null) continue;
      const context = [...(datasets.size > 1 ? [String(row.key.dataset)] : []), ...(sizes.size > 1 ? [`m = ${row.key.sample_size}`] : [])];
      const parts = [...context, ...(metrics.length > 1 || context.length === 0 ? [METRIC_LABEL[metric]] : [])];
      points.push({ series: parts.join(' · '), order: metrics.indexOf(metric), context: context.join(' · '), operator: OPERATOR[metric] ?? null, x, ...value });
    }
  }
  return points.sort((a, b) => a.order - b.order || a.series.localeCompare(b.series) || a.x - b.x);
}

export interface MetricFigureOptions {
  family: Family;
  metrics: readonly MetricName[];
  title?: string;
  yTitle?: string;
  /** A log y axis, points and intervals from ln x (`metricPoints` with `log`); only LOG_METRICS. */
  log?: boolean;
  rule?: number;
  ruleLabel?: string;
}

/**
 * The Vega-Lite spec of `metricFigure`. Colour tells the series apart; a spectral metric's operator also has its
 * own line dash and point shape (legend entries `Hessian`, `GGN`), so the two stay apart in grey too. With one
 * dataset and sample size, colour follows the operator and the legends merge into one.
 */
export function metricSpec(rows: readonly SummaryRow[], options: MetricFigureOptions): TopLevelSpec {
  const log = options.log ?? false;
  const points = metricPoints(rows, options.family, options.metrics, { log });
  const domain = [...new Set(points.map((p) => p.series))];
  const contexts = new Set(points.map((p) => p.context));
  const operators = Object.values(OPERATOR).filter((o) => points.some((p) => p.operator === o));
  const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  const color =
    operators.length > 0 && contexts.size === 1
      ? { field: 'operator', type: 'nominal', title: null, scale: { domain: operators, scheme: colorScheme(operators.length) } }
      : {
          field: operators.length > 0 ? 'context' : 'series', type: 'nominal', title: null,
          scale: operators.length > 0 ? { scheme: colorScheme(contexts.size) } : { domain, scheme: colorScheme(domain.length) },
          ...(domain.length === 1 ? { legend: null } : {}),
        };
  const byOperator = (range: unknown[]) => ({ field: 'operator', type: 'nominal', title: null, scale: { domain: operators, range: range.slice(0, operators.length) } });
  const x = {
    field: 'drawnX',
    type: 'quantitative',
    title: FAMILY_AXIS[options.family],
    scale: xDomain(options.family, xs),
    axis: { values: xs, format: 'd' },
  } as const;
  const y = {
    field: 'y',
    type: 'quantitative',
    title: options.yTitle ?? options.metrics.map((m) => METRIC_LABEL[m]).join(', '),
    scale: log ? { type: 'log' } : { zero: false },
  } as const;
  // Operators side by side, a little apart, so that one's error bar does not hide the other's.
  const drawn = points.map((p) => ({ ...p, drawnX: operators.length > 1 ? dodged(options.family, xs, p.x, OPERATOR_DODGE[operators.indexOf(p.operator!)]!) : p.x }));
  const series = { field: 'series', type: 'nominal' };
  const lineEncoding = { x, y, color, detail: series, ...(operators.length ? { strokeDash: byOperator(OPERATOR_DASH) } : {}) };
  const pointEncoding = { x, y, color, detail: series, ...(operators.length ? { shape: byOperator(OPERATOR_SHAPE) } : {}) };
  const layer: unknown[] = [
    { name: 'line', mark: { type: 'line', strokeWidth: 1.6 }, encoding: lineEncoding },
    { name: 'points', mark: { type: 'point', filled: true, size: 40 }, encoding: pointEncoding },
  ];
  const bars = drawn.filter((p) => p.lo !== null);
  if (bars.length) {
    layer.push({
      name: 'errorbars',
      data: { values: bars },
      mark: { type: 'rule', strokeWidth: 1.3 },
      encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color, detail: series },
    });
  }
  if (options.rule !== undefined) layer.push(referenceRule(options.rule));
  return framed(options.title, { data: { values: drawn }, layer });
}

/** x moved by `share` of the axis's span: in log₂ units on the width family's axis, linearly on the depth family's. */
function dodged(family: Family, xs: readonly number[], x: number, share: number): number {
  const [lo, hi] = [xs[0]!, xs[xs.length - 1]!];
  if (family === 'width') return x * 2 ** (share * Math.max(1, Math.log2(hi / lo)));
  return x + share * Math.max(1, hi - lo);
}

/**
 * Summary metrics (mean over seeds, with 95% CI error bars; with `log`, geometric means and intervals on a log
 * axis) against width (log₂ axis) or depth; one line per dataset × metric. `rule` draws a dashed horizontal line
 * (the slope's theoretical −1).
 */
export async function metricFigure(rows: readonly SummaryRow[], options: MetricFigureOptions): Promise<string> {
  return renderSvg(metricSpec(rows, options));
}

// ---------------------------------------------------------------------------------------------------------
// Bound against λ_max

/** The smallest and largest of `values` (by a loop: a spread of many values overflows the call stack). */
export function extent(values: Iterable<number>): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Theorem 1 bound against measured λ_max, one point per given cell (positive values only), log–log, with the line y = x. */
export async function boundFigure(cells: readonly BoundPoint[], options: { title?: string } = {}): Promise<string> {
  const ok = cells.filter((c) => positive(c.lambda) && positive(c.bound));
  const datasets = new Set(ok.map((c) => c.dataset));
  const points = ok
    .map((c) => ({ lambda: c.lambda, bound: c.bound, depth: `L = ${c.depth}`, depthValue: c.depth, dataset: c.dataset }))
    .sort((a, b) => a.depthValue - b.depthValue);
  const depths = [...new Set(points.map((p) => p.depth))];
  const [lo, hi] = points.length ? extent(points.flatMap((p) => [p.lambda, p.bound])) : [1, 10];
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
  return renderSvg(framed(options.title, { layer, resolve: { scale: { x: 'shared', y: 'shared' } } }));
}

// ---------------------------------------------------------------------------------------------------------
// Spectral densities

/**
 * Spectral densities (stochastic Lanczos quadrature) of some cells, one line each, labelled by the family's
 * varying field. With `logY`, densities below 10⁻⁸ of a curve's peak are cut.
 */
export async function densityFigure(
  cells: readonly DensityCell[],
  options: { family: Family; title?: string; logY?: boolean },
): Promise<string> {
  const ok = cells
    .filter((c) => c.x.length > 0 && c.y.length > 0)
    .sort((a, b) => varyingOf(options.family, a) - varyingOf(options.family, b) || a.sample_size - b.sample_size || a.seed - b.seed);
  const manySizes = new Set(ok.map((c) => c.sample_size)).size > 1;
  const labels: string[] = [];
  const values: { series: string; x: number; y: number }[] = [];
  for (const c of ok) {
    let label = familyLabel(options.family, varyingOf(options.family, c), c.sample_size, manySizes);
    if (labels.includes(label)) label = `${label}, seed ${c.seed}`;
    labels.push(label);
    const [, peak] = extent(Array.from(c.y).filter(finite));
    for (let i = 0; i < Math.min(c.x.length, c.y.length); i++) {
      const [x, y] = [c.x[i]!, c.y[i]!];
      if (!finite(x) || !finite(y)) continue;
      if (options.logY && !(y > peak * 1e-8)) continue;
      values.push({ series: label, x, y });
    }
  }
  return renderSvg(framed(options.title, {
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
  }));
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

/** How many cells of `rows` a log-scale figure of `metrics` leaves out for a value ≤ 0, as a caption sentence ('' when none). */
function nonPositiveText(rows: readonly SummaryRow[], metrics: readonly MetricName[]): string {
  const counts = metrics.flatMap((metric) => {
    const left = rows.reduce((n, r) => n + (r[metric] as Stat).n - (r[LOG_STAT[metric]!] as Stat).n, 0);
    return left > 0 ? [`${left.toLocaleString('en-US')} of ${METRIC_LABEL[metric]}`] : [];
  });
  return counts.length ? ` Left out as ≤ 0: ${counts.join(', ')}.` : '';
}

/**
 * What the lines and bands of a D_k figure are, as a caption clause: the in-cell smoothed D_k where the series
 * have it, the stored D_k (and how it was smoothed) where they do not, both named when the figure mixes them.
 */
function lossDiffText(series: readonly CurveSeries[], smoothing: number): string {
  const cell = series.filter((s) => s.source === 'cell');
  const stored = series.filter((s) => s.source === 'stored');
  const cellText =
    'line: mean over seeds of Dₖ smoothed in each cell by the paper\'s EMA (α = 0.99, e₀ = D₁) over every k, taken at the stored k; ' +
    'band: its min–max over seeds; thin faint line: the mean raw Dₖ';
  const storedText =
    'line: mean over seeds of the stored Dₖ, band: min–max over seeds' +
    (smoothing > 0
      ? `, EMA-smoothed over the stored k in order (β = ${smoothing}); the stored k are log-spaced, so this smooths far more than the paper's EMA over every k`
      : '');
  if (stored.length === 0) return cellText;
  if (cell.length === 0) return storedText;
  return `${cellText}; ${stored.map((s) => s.label).join(', ')} (cells without the in-cell smoothing, from an older hessweep): ${storedText}`;
}

/** The dataset, width, depth and sample size of a group or cell, as one string. */
const placeKey = (dataset: unknown, width: unknown, depth: unknown, sampleSize: unknown) => `${dataset}|${width}|${depth}|${sampleSize}`;

/**
 * Every figure the sweep has data for, from its groups (dataset × width × depth × sample size), one density
 * per group and a sample of cells for the bound; each family's figures draw the same groups (drawnGroups).
 */
export async function buildFigures(data: FigureData, options: FigureOptions = {}): Promise<FigureSet> {
  const smoothing = options.smoothing ?? 0;
  ema([], smoothing); // validates
  const figures: Figure[] = [];
  const notes: string[] = [];
  const groups = data.groups;
  const datasets = [...new Set(groups.map((g) => String(g.key.dataset)))].sort();
  const families = new Map<string, FamilyChoice>();
  for (const dataset of datasets) {
    const own = groups.filter((g) => g.key.dataset === dataset).map((g) => ({ ...placeOf(g), cells: g.seeds_ok + g.seeds_failed }));
    const chosen = chooseFamilies(own);
    families.set(dataset, {
      fixedDepth: options.fixedDepth ?? chosen.fixedDepth,
      fixedWidth: options.fixedWidth ?? chosen.fixedWidth,
    });
  }
  const ok = groups.filter((g) => g.seeds_ok > 0);
  /** The ok groups of a dataset's family that its figures draw (null: the dataset has no such family). */
  const familyOf = (family: Family, dataset: string): ({ fixed: number } & DrawnGroups) | null => {
    const choice = families.get(dataset);
    const fixed = family === 'width' ? choice?.fixedDepth : choice?.fixedWidth;
    if (fixed === null || fixed === undefined) return null;
    const members = ok.filter((g) => g.key.dataset === dataset && (family === 'width' ? g.key.depth === fixed : g.key.width === fixed));
    return { fixed, ...drawnGroups(members, family) };
  };
  const fixedText = (family: Family, fixed: number) => (family === 'width' ? `depth ${fixed}` : `width ${fixed}`);
  const familyText = (family: Family) => (family === 'width' ? 'widths' : 'depths');
  const leftOutText = (leftOut: string) => (leftOut ? ` Drawn: ${leftOut}.` : '');

  // D_k against k, per dataset and family.
  for (const dataset of datasets) {
    for (const family of ['width', 'depth'] as const) {
      const name = `dk-${family}-${slug(dataset)}`;
      const drawn = familyOf(family, dataset);
      if (drawn === null) {
        notes.push(`${name}: ${dataset} has no ${familyText(family)} family (no ${family === 'width' ? 'depth with two widths' : 'width with two depths'})`);
        continue;
      }
      const series = curveSeries(drawn.groups, family, smoothing);
      if (series.length === 0) {
        notes.push(`${name}: no ok cell of ${dataset} at ${fixedText(family, drawn.fixed)} has a loss-difference curve`);
        continue;
      }
      const title = `${dataset}: Dₖ against k, ${familyText(family)} at ${fixedText(family, drawn.fixed)}`;
      figures.push({
        name,
        title,
        caption:
          `${title}. Dₖ = |Lₖ₊₁ − Lₖ| averaged over permutations; ${lossDiffText(series, smoothing)} ` +
          `(${series.map((s) => `${s.label}: ${s.seeds}`).join('; ')} seeds). Theory: Dₖ ∝ 1/k.${leftOutText(drawn.leftOut)}`,
        svg: await lossDiffFigure(drawn.groups, { family, title, smoothing }),
      });
    }
  }

  // The stabilization criteria, per dataset and family.
  for (const dataset of datasets) {
    for (const family of ['width', 'depth'] as const) {
      const drawn = familyOf(family, dataset);
      if (drawn === null) {
        notes.push(`delta2-sub/-iso/-ratio/-gm and nsuff-d1/-d2-${family}-${slug(dataset)}: ${dataset} has no ${familyText(family)} family`);
        continue;
      }
      const stab = await stabilizationFigures({ dataset, family, fixed: drawn.fixed, groups: drawn.groups, leftOut: drawn.leftOut });
      figures.push(...stab.figures);
      notes.push(...stab.notes);
    }
  }

  // Summary metrics against width and depth (all datasets in one figure).
  const metricSets: {
    prefix: string; metrics: MetricName[]; what: string; short: string; yTitle: string; log?: boolean; rule?: number; caption: string; statistic?: string;
  }[] = [
    {
      prefix: 'lambda', metrics: ['lambda_max', 'ggn_lambda_max'], what: 'λₘₐₓ of the Hessian and of its Gauss-Newton part', short: 'λₘₐₓ',
      yTitle: 'λₘₐₓ (log scale)', log: true,
      caption: 'Top eigenvalue (Lanczos) of the Hessian H of the mean training loss (solid line, circles) and of its Gauss-Newton part G (dashed, triangles)',
      statistic:
        'geometric mean over seeds, error bars its 95% confidence interval, exp(mean ± t·s/√n) of ln λₘₐₓ (Student t), which stays positive ' +
        'on the log axis whatever the spread; cells with λₘₐₓ ≤ 0 are left out',
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
      const parts = datasets.flatMap((d) => {
        const drawn = familyOf(family, d);
        return drawn ? [{ dataset: d, ...drawn }] : [];
      });
      const rows = parts.flatMap((p) => p.groups);
      const fixedList = parts.map((p) => `${datasets.length > 1 ? `${p.dataset} ` : ''}${fixedText(family, p.fixed)}`);
      if (metricPoints(rows, family, set.metrics, { log: set.log }).length === 0) {
        notes.push(`${name}: ${fixedList.length ? `no finite ${set.what} in the ${familyText(family)} family` : `no ${familyText(family)} family in this sweep`}`);
        continue;
      }
      const leftOut = parts.filter((p) => p.leftOut).map((p) => `${datasets.length > 1 ? `${p.dataset}: ` : ''}${p.leftOut}`).join('; ');
      const title = `${set.short} against ${family}${fixedList.length === 1 ? `, ${fixedList[0]}` : ''}`;
      figures.push({
        name,
        title,
        caption:
          `${set.caption}, against ${family} at ${fixedList.join(', ')}: ${set.statistic ?? 'mean over seeds, error bars the 95% confidence interval (Student t)'} ` +
          `where a group has two or more seeds.${leftOutText(leftOut)}${set.log ? nonPositiveText(rows, set.metrics) : ''}`,
        svg: await metricFigure(rows, { family, metrics: set.metrics, title, yTitle: set.yTitle, log: set.log, rule: set.rule }),
      });
    }
  }

  // Bound against measured λ_max: a sample of the ok cells.
  const { points, cells, below } = data.bound;
  if (points.length) {
    const title = 'Theorem 1 bound against measured λₘₐₓ';
    const which = points.length < cells
      ? `a sample of ${points.length.toLocaleString('en-US')} of the ${cells.toLocaleString('en-US')} ok cells (those with the smallest seeded hash of their cell id: the same cells on every run)`
      : `one point per ok cell (${cells.toLocaleString('en-US')})`;
    figures.push({
      name: 'bound',
      title,
      caption:
        `${title}, ${which}, log–log; the dashed line is y = x, and a valid bound lies above it` +
        `${below ? ` (${below.toLocaleString('en-US')} of all ${cells.toLocaleString('en-US')} cell${below === 1 ? '' : 's'} below it)` : ''}.`,
      svg: await boundFigure(points, { title }),
    });
  } else {
    notes.push('bound: no ok cell has both a measured λₘₐₓ and a bound');
  }

  // Spectral densities: the lowest seed of each group drawn in the family.
  const densityOf = new Map(data.densities.map((c) => [placeKey(c.dataset, c.width, c.depth, c.sample_size), c]));
  for (const dataset of datasets) {
    for (const family of ['width', 'depth'] as const) {
      const name = `density-${family}-${slug(dataset)}`;
      const drawn = familyOf(family, dataset);
      if (drawn === null) {
        notes.push(`${name}: ${dataset} has no ${familyText(family)} family`);
        continue;
      }
      const chosen = drawn.groups.flatMap((g) => densityOf.get(placeKey(g.key.dataset, g.key.width, g.key.depth, g.key.sample_size)) ?? []);
      if (chosen.length === 0) {
        notes.push(`${name}: no ok cell of ${dataset} at ${fixedText(family, drawn.fixed)} has a spectral density`);
        continue;
      }
      const title = `${dataset}: spectral density, ${familyText(family)} at ${fixedText(family, drawn.fixed)}`;
      figures.push({
        name,
        title,
        caption:
          `${dataset}: spectral density of the Hessian, ${familyText(family)} at ${fixedText(family, drawn.fixed)}, by stochastic Lanczos quadrature, for the lowest seed of each ${family} ` +
          `(seed ${[...new Set(chosen.map((c) => c.seed))].sort((a, b) => a - b).join(', ')})${options.logDensity ? '; log density axis' : ''}.${leftOutText(drawn.leftOut)}`,
        svg: await densityFigure(chosen, { family, title, logY: options.logDensity }),
      });
    }
  }
  return { figures, notes, families };
}
