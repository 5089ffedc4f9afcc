/**
 * The report's figures of the stabilization criteria (issue 11, docs/stabilization.md), per dataset and family:
 * Δ2 in the top-D Hessian subspace and isotropic Δ2 against k (log–log, one panel per σ, reference slope −2),
 * how much of the isotropic signal the subspace probe carries (Δ2^(D)/Δ2 against width or depth), where the
 * quadratic model holds (Gaussian moment / direct Monte Carlo against σ), and the sufficient sample sizes against
 * width or depth per threshold, extrapolated values marked. Every value is a group's geometric mean over seeds
 * with its 95% interval from ln x (aggregate's StabilizationSummary), so intervals stay positive on log axes.
 * A figure without data (older sweeps, probes off) is skipped with a one-line note.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { Figure } from './figures.js';
import {
  colorScheme, FAMILY_AXIS, familyLabel, framed, logDomain, MAX_SERIES, placeOf, positive, referenceRule, renderSvg, SIZE, slug, varyingOf, xDomain,
  type Family,
} from './plot.js';
import type { GeoCurve, GeoStat, SampleSizeStat, StabilizationSummary, SummaryRow } from './types.js';

/** The Δ2 estimators drawn against k. */
export type Delta2Estimator = 'delta2_sub' | 'delta2_iso';

/** The σ panels a Δ2 figure draws at most (evenly spaced σ, both ends kept). */
export const MAX_SIGMA_PANELS = 4;
/** The reference slope of the Δ2 figures: Δ2 ∝ k⁻² for an increment of order 1/k. */
export const REFERENCE_SLOPE = -2;

const ESTIMATOR_TEXT: Record<Delta2Estimator, { short: string; axis: string; what: string }> = {
  delta2_sub: {
    short: 'Δ2⁽ᴰ⁾', axis: 'Δ2⁽ᴰ⁾ (top-D subspace)',
    what: 'Δ2⁽ᴰ⁾ = E Δₖ(w* + U_D z)², z ~ N(0, σ²I_D), U_D the top-D Ritz vectors of the Hessian, by direct Monte Carlo',
  },
  delta2_iso: { short: 'Δ2', axis: 'Δ2 (isotropic)', what: 'isotropic Δ2 = E Δₖ(w* + ε)², ε ~ N(0, σ²I) over all parameters, by Monte Carlo' },
};

/** 3 significant digits, exponent form below 0.01 or from 10⁴: `0.05`, `1e-4`, `2.5e-3`. */
export function shortNumber(x: number): string {
  const a = Math.abs(x);
  if (a !== 0 && (a < 0.01 || a >= 1e4)) return Number(x.toPrecision(3)).toExponential().replace('e+', 'e');
  return String(Number(x.toPrecision(3)));
}

const sigmaLabel = (sigma: number) => `σ = ${shortNumber(sigma)}`;
const thresholdLabel = (threshold: number) => `ε = ${shortNumber(threshold)}`;

/** At most `max` of `values` (sorted), evenly spaced, both ends kept. */
function evenly<T>(values: readonly T[], max: number): T[] {
  if (values.length <= max) return [...values];
  return Array.from({ length: max }, (_, i) => values[Math.round((i * (values.length - 1)) / (max - 1))]!);
}

/** The rows of `groups` with stabilization criteria, with their series label in the family. */
function labelled(groups: readonly SummaryRow[], family: Family): { row: SummaryRow; stab: StabilizationSummary; label: string; x: number }[] {
  const manySizes = new Set(groups.map((g) => g.key.sample_size)).size > 1;
  return groups
    .filter((g) => g.seeds_ok > 0 && g.stabilization !== null)
    .map((row) => {
      const place = placeOf(row);
      return { row, stab: row.stabilization!, label: familyLabel(family, varyingOf(family, place), place.sample_size, manySizes), x: varyingOf(family, place) };
    })
    .sort((a, b) => a.x - b.x || placeOf(a.row).sample_size - placeOf(b.row).sample_size);
}

// ---------------------------------------------------------------------------------------------------------
// Δ2 against k

/** One point of a Δ2 curve: a group's geometric mean over seeds at k, and its 95% interval where two or more seeds gave a value. */
export interface Delta2Point {
  panel: string;
  series: string;
  k: number;
  y: number;
  lo: number | null;
  hi: number | null;
}

/** The σ drawn in a Δ2 figure of these groups: every σ of them, at most MAX_SIGMA_PANELS. */
export function delta2Sigmas(groups: readonly SummaryRow[]): { sigmas: number[]; of: number } {
  const all = [...new Set(groups.flatMap((g) => g.stabilization?.sigma ?? []))].sort((a, b) => a - b);
  return { sigmas: evenly(all, MAX_SIGMA_PANELS), of: all.length };
}

/** The points of a Δ2 figure: per σ panel and group, the positive geometric means at each k. */
export function delta2Points(groups: readonly SummaryRow[], family: Family, estimator: Delta2Estimator): Delta2Point[] {
  const { sigmas } = delta2Sigmas(groups);
  const points: Delta2Point[] = [];
  for (const sigma of sigmas) {
    for (const { stab, label } of labelled(groups, family)) {
      const s = stab.sigma.indexOf(sigma);
      const curve: GeoCurve | undefined = stab[estimator][s];
      if (s < 0 || !curve) continue;
      stab.k.forEach((k, i) => {
        if (!(k > 0 && positive(curve.gmean[i]))) return;
        const bar = curve.n[i]! > 1 && positive(curve.lo[i]) && positive(curve.hi[i]) && curve.hi[i]! > curve.lo[i]!;
        points.push({ panel: sigmaLabel(sigma), series: label, k, y: curve.gmean[i]!, lo: bar ? curve.lo[i]! : null, hi: bar ? curve.hi[i]! : null });
      });
    }
  }
  return points;
}

/**
 * The reference line of each panel: slope REFERENCE_SLOPE over the last decade of the panel's k (k_max/10 to
 * k_max), through the geometric mean of the series' values at their largest k.
 */
export function referenceLines(points: readonly Delta2Point[]): { panel: string; k: number; y: number }[] {
  const out: { panel: string; k: number; y: number }[] = [];
  for (const panel of [...new Set(points.map((p) => p.panel))]) {
    const own = points.filter((p) => p.panel === panel);
    const last = new Map<string, Delta2Point>();
    for (const p of own) {
      const seen = last.get(p.series);
      if (seen === undefined || p.k > seen.k) last.set(p.series, p);
    }
    const ends = [...last.values()];
    const kMax = ends.reduce((m, p) => Math.max(m, p.k), 0);
    const kMin = Math.max(own.reduce((m, p) => Math.min(m, p.k), kMax), kMax / 10);
    if (!(kMin < kMax)) continue;
    const anchor = Math.exp(ends.reduce((s, p) => s + Math.log(p.y), 0) / ends.length);
    out.push({ panel, k: kMin, y: anchor * (kMin / kMax) ** REFERENCE_SLOPE }, { panel, k: kMax, y: anchor });
  }
  return out;
}

const REFERENCE_LABEL = `slope ${String(REFERENCE_SLOPE).replace('-', '−')}`;

/**
 * Δ2 (an estimator of StabilizationSummary) against k on log–log axes, one panel per σ (delta2Sigmas), in each a
 * line per group (geometric mean over seeds) with its 95% band, and the dashed reference slope (referenceLines).
 */
export function delta2Spec(groups: readonly SummaryRow[], options: { family: Family; estimator: Delta2Estimator; title?: string }): TopLevelSpec {
  const points = delta2Points(groups, options.family, options.estimator);
  const series = labelled(groups, options.family).map((g) => g.label).filter((l) => points.some((p) => p.series === l));
  const panels = delta2Sigmas(groups).sigmas.map(sigmaLabel).filter((l) => points.some((p) => p.panel === l));
  const x = { field: 'k', type: 'quantitative', title: 'sample size k', scale: { type: 'log', nice: false } };
  const lines = referenceLines(points);
  const domain = logDomain([...points.map((p) => p.y), ...lines.map((r) => r.y)], points.map((p) => p.lo ?? p.y), points.map((p) => p.hi ?? p.y));
  const yScale = { type: 'log', ...(domain ? { domain, nice: false } : {}) };
  const y = { field: 'y', type: 'quantitative', title: ESTIMATOR_TEXT[options.estimator].axis, scale: yScale, axis: { format: '~e' } };
  const values = [
    ...points.map((p) => ({ ...p, role: 'curve' })),
    ...lines.map((r) => ({ ...r, role: 'reference', reference: REFERENCE_LABEL })),
  ];
  const color = {
    field: 'series', type: 'nominal', title: null, sort: series, scale: { domain: series, scheme: colorScheme(series.length) },
    legend: { symbolType: 'stroke', symbolStrokeWidth: 2.5, symbolOpacity: 1 },
  };
  const only = (role: string, extra: object[] = []) => [{ filter: { field: 'role', equal: role } }, ...extra];
  const layer: unknown[] = [];
  if (points.some((p) => p.lo !== null)) {
    layer.push({
      name: 'band', transform: only('curve', [{ filter: 'isValid(datum.lo)' }]), mark: { type: 'area', opacity: 0.18, clip: true },
      encoding: { x, y: { field: 'lo', type: 'quantitative', scale: yScale }, y2: { field: 'hi' }, color },
    });
  }
  layer.push({ name: 'curve', transform: only('curve'), mark: { type: 'line', strokeWidth: 1.8 }, encoding: { x, y, color } });
  layer.push({
    name: 'reference', transform: only('reference'), mark: { type: 'line', color: '#444', strokeWidth: 1.2 },
    encoding: {
      x, y, strokeDash: { field: 'reference', type: 'nominal', title: null, scale: { domain: [REFERENCE_LABEL], range: [[6, 4]] } },
    },
  });
  return framed(
    options.title,
    {
      data: { values },
      facet: { column: { field: 'panel', type: 'nominal', title: null, sort: panels, header: { labelFontSize: 12 } } },
      spec: { width: panels.length > 1 ? 240 : SIZE.width, height: SIZE.height, layer },
    },
    {},
  );
}

// ---------------------------------------------------------------------------------------------------------
// Geometric means against width, depth or σ

/** One point of a figure of group statistics: a geometric mean with its 95% interval (null: fewer than two seeds). */
export interface GeoPoint {
  series: string;
  x: number;
  y: number;
  lo: number | null;
  hi: number | null;
  /** What the value is made of, drawn as its own point shape and bar dash (sample sizes: reached or extrapolated). */
  kind?: string;
}

/** A point of a GeoStat, null when it has no positive mean. */
function geoPoint(series: string, x: number, g: GeoStat | undefined, kind?: string): GeoPoint | null {
  if (!g || !positive(g.gmean)) return null;
  const bar = g.n > 1 && positive(g.lo) && positive(g.hi) && g.hi > g.lo;
  return { series, x, y: g.gmean, lo: bar ? g.lo : null, hi: bar ? g.hi : null, ...(kind === undefined ? {} : { kind }) };
}

interface PointsOptions {
  title?: string;
  x: { title: string; scale: object; values?: number[]; format?: string };
  yTitle: string;
  /** A dashed horizontal line at this y (ratios: 1). */
  rule?: number;
  /** Kinds of value, in legend order: each its own point shape and error-bar dash. */
  kinds?: readonly string[];
}

const KIND_SHAPE = ['circle', 'triangle-up'];
const KIND_DASH = [[1, 0], [4, 3]];

/** Geometric means on a log y axis against x: a line and points per series, 95% interval bars, an optional rule. */
export function pointsSpec(points: readonly GeoPoint[], options: PointsOptions): TopLevelSpec {
  const series = [...new Set(points.map((p) => p.series))];
  const kinds = (options.kinds ?? []).filter((k) => points.some((p) => p.kind === k));
  const x = {
    field: 'x', type: 'quantitative', title: options.x.title, scale: options.x.scale,
    ...(options.x.values ? { axis: { values: options.x.values, ...(options.x.format ? { format: options.x.format } : {}) } } : {}),
  };
  const domain = logDomain([...points.map((p) => p.y), ...(options.rule === undefined ? [] : [options.rule])], points.map((p) => p.lo ?? p.y), points.map((p) => p.hi ?? p.y));
  const y = { field: 'y', type: 'quantitative', title: options.yTitle, scale: { type: 'log', ...(domain ? { domain, nice: false } : {}) } };
  const color = { field: 'series', type: 'nominal', title: null, sort: series, scale: { domain: series, scheme: colorScheme(series.length) } };
  const byKind = (range: unknown[]) => ({
    field: 'kind', type: 'nominal', title: null, scale: { domain: kinds, range: range.slice(0, kinds.length) }, legend: { labelLimit: 240 },
  });
  const detail = { field: 'series', type: 'nominal' };
  const layer: unknown[] = [
    { name: 'line', mark: { type: 'line', strokeWidth: 1.6 }, encoding: { x, y, color, detail } },
    { name: 'points', mark: { type: 'point', filled: true, size: 45 }, encoding: { x, y, color, ...(kinds.length ? { shape: byKind(KIND_SHAPE) } : {}) } },
  ];
  const bars = points.filter((p) => p.lo !== null);
  if (bars.length) {
    layer.push({
      name: 'errorbars', data: { values: bars }, mark: { type: 'rule', strokeWidth: 1.3, clip: true },
      encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color, detail, ...(kinds.length ? { strokeDash: byKind(KIND_DASH) } : {}) },
    });
  }
  if (options.rule !== undefined) layer.push(referenceRule(options.rule));
  return framed(options.title, { data: { values: points }, layer });
}

/** A family's x axis: the widths or depths of the points, log₂ for widths. */
function familyAxis(family: Family, points: readonly GeoPoint[]): PointsOptions['x'] {
  const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  return { title: FAMILY_AXIS[family], scale: xDomain(family, xs), values: xs, format: 'd' };
}

/** Keeps the points of the first MAX_SERIES series (in order of first appearance); says how many were drawn of how many. */
function capSeries(points: GeoPoint[]): { points: GeoPoint[]; leftOut: string } {
  const series = [...new Set(points.map((p) => p.series))];
  if (series.length <= MAX_SERIES) return { points, leftOut: '' };
  const kept = new Set(series.slice(0, MAX_SERIES));
  return { points: points.filter((p) => kept.has(p.series)), leftOut: `the first ${MAX_SERIES} of ${series.length} series` };
}

/** The σ of the groups, ascending, and their thresholds, descending (the easier first). */
function settingsOf(groups: readonly { stab: StabilizationSummary }[]): { sigmas: number[]; thresholds: number[] } {
  return {
    sigmas: [...new Set(groups.flatMap((g) => g.stab.sigma))].sort((a, b) => a - b),
    thresholds: [...new Set(groups.flatMap((g) => g.stab.thresholds))].sort((a, b) => b - a),
  };
}

/** Series labels: the parts given, and the sample size where the family has several. */
const seriesLabel = (parts: string[], sampleSize: unknown, manySizes: boolean) => [...parts, ...(manySizes ? [`m = ${sampleSize}`] : [])].join(', ');

/** Δ2^(D)/Δ2 in the tail against width or depth: one series per σ (and sample size), in σ order. */
export function subspaceShare(groups: readonly SummaryRow[], family: Family): { points: GeoPoint[]; leftOut: string } {
  const manySizes = new Set(groups.map((g) => g.key.sample_size)).size > 1;
  const rows = labelled(groups, family);
  const points = settingsOf(rows).sigmas.flatMap((sigma) => rows.flatMap(({ row, stab, x }) =>
    geoPoint(seriesLabel([sigmaLabel(sigma)], row.key.sample_size, manySizes), x, stab.ratio_sub_iso[stab.sigma.indexOf(sigma)]) ?? []));
  return capSeries(points);
}

/** Gaussian moment / direct Monte Carlo in the tail against σ: one series per group. */
export function quadraticModelPoints(groups: readonly SummaryRow[], family: Family): GeoPoint[] {
  return labelled(groups, family).flatMap(({ stab, label }) => stab.sigma.flatMap((sigma, s) => geoPoint(label, sigma, stab.ratio_gm_sub[s]) ?? []));
}

// ---------------------------------------------------------------------------------------------------------
// Sufficient sample sizes

export type SampleSizeCriterion = 'n_suff_d1' | 'n_suff_d2';

export const REACHED = 'every seed reached ε';
export const EXTRAPOLATED = 'includes extrapolated (fit)';

/** Cell × threshold counts of a sample-size figure. */
export interface SampleSizeCounts {
  reached: number;
  extrapolated: number;
  none: number;
}

/**
 * Points of a sufficient sample size against width or depth: one series per threshold (n_suff_d1) or σ × threshold
 * (n_suff_d2), and sample size where the family has several; a point whose statistic took an extrapolated value is
 * of kind EXTRAPOLATED, else REACHED. Also the counts over the groups' cells.
 */
export function sampleSizePoints(
  groups: readonly SummaryRow[], family: Family, criterion: SampleSizeCriterion,
): { points: GeoPoint[]; leftOut: string; counts: SampleSizeCounts } {
  const manySizes = new Set(groups.map((g) => g.key.sample_size)).size > 1;
  const rows = labelled(groups, family);
  const counts: SampleSizeCounts = { reached: 0, extrapolated: 0, none: 0 };
  for (const { stab } of rows) {
    for (const size of stab[criterion]) {
      counts.reached += size.reached;
      counts.extrapolated += size.extrapolated;
      counts.none += size.none;
    }
  }
  const { sigmas, thresholds } = settingsOf(rows);
  const series = (criterion === 'n_suff_d2' ? sigmas : [null]).flatMap((sigma) => thresholds.map((threshold) => ({ sigma, threshold })));
  const points = series.flatMap(({ sigma, threshold }) => rows.flatMap(({ row, stab, x }) => {
    const [s, t] = [sigma === null ? 0 : stab.sigma.indexOf(sigma), stab.thresholds.indexOf(threshold)];
    if (s < 0 || t < 0) return [];
    const size: SampleSizeStat | undefined = stab[criterion][s * stab.thresholds.length + t];
    const label = seriesLabel([...(sigma === null ? [] : [sigmaLabel(sigma)]), thresholdLabel(threshold)], row.key.sample_size, manySizes);
    return geoPoint(label, x, size, size && size.extrapolated > 0 ? EXTRAPOLATED : REACHED) ?? [];
  }));
  return { ...capSeries(points), counts };
}

/** Δ2^(D)/Δ2 against width or depth (subspaceShare), log y axis, the dashed rule at 1. */
export function subspaceShareSpec(groups: readonly SummaryRow[], options: { family: Family; title?: string }): TopLevelSpec {
  const { points } = subspaceShare(groups, options.family);
  return pointsSpec(points, { title: options.title, x: familyAxis(options.family, points), yTitle: 'Δ2⁽ᴰ⁾ / Δ2 (log scale)', rule: 1 });
}

/** Gaussian moment / direct Monte Carlo against σ (quadraticModelPoints), log–log, the dashed rule at 1. */
export function quadraticModelSpec(groups: readonly SummaryRow[], options: { family: Family; title?: string }): TopLevelSpec {
  const points = quadraticModelPoints(groups, options.family);
  const sigmas = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  return pointsSpec(points, {
    title: options.title, x: { title: 'perturbation scale σ', scale: { type: 'log', nice: false }, values: sigmas },
    yTitle: 'Gaussian moment / direct MC (log scale)', rule: 1,
  });
}

/** A sufficient sample size against width or depth (sampleSizePoints), log y axis, reached and extrapolated values marked apart. */
export function sampleSizeSpec(groups: readonly SummaryRow[], options: { family: Family; criterion: SampleSizeCriterion; title?: string }): TopLevelSpec {
  const { points } = sampleSizePoints(groups, options.family, options.criterion);
  return pointsSpec(points, {
    title: options.title, x: familyAxis(options.family, points), yTitle: 'sufficient sample size k (log scale)', kinds: [REACHED, EXTRAPOLATED],
  });
}

// ---------------------------------------------------------------------------------------------------------
// The figures of a family

/** A dataset's family as the report draws it: the groups (at most MAX_SERIES series) and how they were chosen. */
export interface FamilyPanel {
  dataset: string;
  family: Family;
  /** The depth of a width family, the width of a depth family. */
  fixed: number;
  groups: readonly SummaryRow[];
  /** What drawnGroups left out ('' when nothing). */
  leftOut: string;
}

const count = (n: number) => n.toLocaleString('en-US');

/** Why a stabilization figure of a family has nothing to draw when none of its cells has the criteria. */
export const NO_COLUMNS = 'no ok cell has the stabilization criteria (a sweep older than result schema 3, or the probes off)';

/**
 * Every stabilization figure of one family of one dataset, and a one-line note for each it skips: delta2-sub-,
 * delta2-iso-, delta2-ratio-, delta2-gm-, nsuff-d1- and nsuff-d2-<family>-<dataset>.
 */
export async function stabilizationFigures(panel: FamilyPanel): Promise<{ figures: Figure[]; notes: string[] }> {
  const { dataset, family, groups } = panel;
  const members = family === 'width' ? `widths at depth ${panel.fixed}` : `depths at width ${panel.fixed}`;
  const where = `${dataset}, ${members}`;
  const suffix = `${family}-${slug(dataset)}`;
  const figures: Figure[] = [];
  const notes: string[] = [];
  const any = groups.some((g) => g.seeds_ok > 0 && g.stabilization !== null);
  const cells = groups.reduce((n, g) => n + (g.stabilization?.cells ?? 0), 0);
  const drawnText = (leftOut: string) => (leftOut ? ` Drawn: ${leftOut}.` : '');
  const skip = (name: string, why: string) => notes.push(`${name}-${suffix}: ${any ? why : NO_COLUMNS} (${where})`);
  const ciText = 'geometric mean over seeds, 95% interval exp(mean ± t·s/√n) of the logarithm (Student t) where two or more seeds gave a value, clipped to the frame';

  for (const estimator of ['delta2_sub', 'delta2_iso'] as const) {
    const name = `${estimator === 'delta2_sub' ? 'delta2-sub' : 'delta2-iso'}`;
    const text = ESTIMATOR_TEXT[estimator];
    if (delta2Points(groups, family, estimator).length === 0) {
      skip(name, estimator === 'delta2_iso' ? 'isotropic Δ2 was not measured (measure.stabilization.isotropic off)' : 'no positive Δ2 in the subspace');
      continue;
    }
    const { sigmas, of } = delta2Sigmas(groups);
    const title = `${dataset}: ${text.short} against k, ${members}`;
    figures.push({
      name: `${name}-${suffix}`,
      title,
      caption:
        `${title}: ${text.what}, with Δₖ = Lₖ₊₁ − Lₖ; one panel per σ` +
        `${sigmas.length < of ? ` (${sigmas.length} of ${of} σ, evenly spaced)` : ''}; line: ${ciText} (band), over ${count(cells)} cells. ` +
        `Dashed: slope −2 (Δ2 ∝ k⁻²) over the last decade of k, through the geometric mean of the series at their largest k; log–log.${drawnText(panel.leftOut)}`,
      svg: await renderSvg(delta2Spec(groups, { family, estimator, title })),
    });
  }

  const share = subspaceShare(groups, family);
  if (share.points.length === 0) {
    skip('delta2-ratio', 'no cell has both Δ2 in the subspace and isotropic Δ2 (measure.stabilization.isotropic off?)');
  } else {
    const title = `${dataset}: Δ2⁽ᴰ⁾ / Δ2 against ${family}`;
    figures.push({
      name: `delta2-ratio-${suffix}`,
      title,
      caption:
        `${title}, ${members}: how much of the isotropic (full-space) Δ2 the probe in the top-D Hessian subspace carries, per σ. ` +
        `Per cell the geometric mean over the stored k of the last decade (k ≥ kₘₐₓ/10) of Δ2⁽ᴰ⁾/Δ2; then the ${ciText}. Dashed: ratio 1.` +
        `${drawnText([panel.leftOut, share.leftOut].filter(Boolean).join('; '))}`,
      svg: await renderSvg(subspaceShareSpec(groups, { family, title })),
    });
  }

  const model = quadraticModelPoints(groups, family);
  if (model.length === 0) {
    skip('delta2-gm', 'no cell has both the Gaussian-moment and the direct Monte-Carlo Δ2');
  } else {
    const title = `${dataset}: Gaussian moment / direct Monte Carlo against σ`;
    figures.push({
      name: `delta2-gm-${suffix}`,
      title,
      caption:
        `${title}, ${members}: Δ2⁽ᴰ⁾ of the local quadratic model by its Gaussian-moment closed form over Δ2⁽ᴰ⁾ by direct Monte Carlo; ` +
        `near 1 where the quadratic model holds. Per cell the geometric mean over the stored k of the last decade (k ≥ kₘₐₓ/10) of the ratio; ` +
        `then the ${ciText}. Dashed: ratio 1; log–log.${drawnText(panel.leftOut)}`,
      svg: await renderSvg(quadraticModelSpec(groups, { family, title })),
    });
  }

  for (const criterion of ['n_suff_d1', 'n_suff_d2'] as const) {
    const name = criterion === 'n_suff_d1' ? 'nsuff-d1' : 'nsuff-d2';
    const { points, leftOut, counts } = sampleSizePoints(groups, family, criterion);
    const countText =
      `Cell × threshold${criterion === 'n_suff_d2' ? ' × σ' : ''} counts: ${count(counts.reached)} reached within the sample, ` +
      `${count(counts.extrapolated)} extrapolated, ${count(counts.none)} with neither (not reached and a tail that does not fall; left out)`;
    if (points.length === 0) {
      skip(name, counts.none > 0 ? `no sufficient sample size, reached or extrapolated (${count(counts.none)} with neither)` : 'no sufficient sample sizes');
      continue;
    }
    const what = criterion === 'n_suff_d1' ? 'smoothed Dₖ stays below ε' : 'smoothed Δ2⁽ᴰ⁾ stays below ε²';
    const title = `${dataset}: sufficient sample size (${criterion === 'n_suff_d1' ? 'Dₖ' : 'Δ2⁽ᴰ⁾'}) against ${family}`;
    figures.push({
      name: `${name}-${suffix}`,
      title,
      caption:
        `${title}, ${members}: the smallest k from which ${what}, per threshold${criterion === 'n_suff_d2' ? ' and σ' : ''}; ` +
        `where a cell does not reach it within its sample, the k where the power law fitted to the last decade of k reaches it (extrapolated). ` +
        `Circles and solid bars: every seed reached it; triangles and dashed bars: the statistic includes extrapolated values. ` +
        `${ciText[0]!.toUpperCase()}${ciText.slice(1)}; log scale. ${countText}.${drawnText([panel.leftOut, leftOut].filter(Boolean).join('; '))}`,
      svg: await renderSvg(sampleSizeSpec(groups, { family, criterion, title })),
    });
  }
  return { figures, notes };
}
