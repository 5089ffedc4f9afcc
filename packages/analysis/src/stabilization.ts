/**
 * The stabilization criteria of a group of cells (issue 11, docs/stabilization.md), taken in one ok cell at a time
 * in memory that depends on the group's settings, not on its number of cells: Stats of ln x (so geometric means
 * with intervals that stay positive on a log axis) of the Δ2 curves per σ and k, of tail ratios per σ, and of
 * sufficient sample sizes per threshold with counts of reached, extrapolated and neither.
 */
import type { Data } from 'apache-arrow';
import { validity, type ColumnBatch, type ColumnName } from '@hessweep/results';
import { CurveAccumulator, geometric, welfordAdd, welfordStat } from './stats.js';
import type { GeoCurve, GeoStat, SampleSizeStat, StabilizationSummary } from './types.js';

/** The result columns the stabilization summary reads. */
export const STABILIZATION_COLUMNS: readonly ColumnName[] = [
  'loss_diff_k', 'stab_sigma', 'stab_thresholds', 'delta2_sub', 'delta2_iso', 'delta2_sub_gm', 'n_suff_d1', 'n_suff_d1_fit', 'n_suff_d2', 'n_suff_d2_fit',
];

/** One ok cell's stabilization columns (ResultRow's shapes; a null list item comes in as NaN). */
export interface StabilizationCell {
  /** loss_diff_k: the k of every Δ2 series. */
  k: ArrayLike<number>;
  sigma: ArrayLike<number> | null;
  thresholds: ArrayLike<number> | null;
  /** σ-major, |σ| × |k|. */
  delta2Sub: ArrayLike<number> | null;
  delta2Iso: ArrayLike<number> | null;
  delta2Gm: ArrayLike<number> | null;
  /** Per threshold. */
  nSuffD1: ArrayLike<number> | null;
  nSuffD1Fit: ArrayLike<number> | null;
  /** σ-major, |σ| × |thresholds|. */
  nSuffD2: ArrayLike<number> | null;
  nSuffD2Fit: ArrayLike<number> | null;
}

/** Row j of a list column as a view of its items, null for a null list; null items read as NaN (then a copy). */
function listReader(data: Data): (j: number) => ArrayLike<number> | null {
  const valid = validity(data);
  const offsets = data.valueOffsets as Int32Array;
  const child = data.children[0]!;
  const values = child.values as Float64Array | Int32Array;
  const itemValid = validity(child);
  return (j) => {
    if (!valid(j)) return null;
    const [start, end] = [offsets[j]!, offsets[j + 1]!];
    if (child.nullCount === 0) return values.subarray(start, end);
    return Float64Array.from({ length: end - start }, (_, i) => (itemValid(start + i) ? values[start + i]! : Number.NaN));
  };
}

/** The stabilization columns of row j of `batch` (it has STABILIZATION_COLUMNS); null when the cell has none of them. */
export function stabilizationReader(batch: ColumnBatch): (j: number) => StabilizationCell | null {
  const list = (name: ColumnName) => listReader(batch.columns.get(name)!);
  const [k, sigma, thresholds, sub, iso, gm, d1, d1Fit, d2, d2Fit] = STABILIZATION_COLUMNS.map(list);
  return (j) => {
    const [cellSigma, cellThresholds, cellK] = [sigma!(j), thresholds!(j), k!(j)];
    if ((cellSigma === null && cellThresholds === null) || cellK === null) return null;
    return {
      k: cellK, sigma: cellSigma, thresholds: cellThresholds, delta2Sub: sub!(j), delta2Iso: iso!(j), delta2Gm: gm!(j),
      nSuffD1: d1!(j), nSuffD1Fit: d1Fit!(j), nSuffD2: d2!(j), nSuffD2Fit: d2Fit!(j),
    };
  };
}

/**
 * The mean over the tail of a cell's series, the stored k in the last decade (k ≥ k_last/10, k_last the largest
 * stored k), of ln(num/den) at the k where both are positive and finite: ln of the tail's geometric-mean ratio.
 * `num` and `den` are read at offset + j for the k at index j. NaN when no k of the tail has both.
 */
export function tailLogRatio(k: ArrayLike<number>, num: ArrayLike<number>, den: ArrayLike<number>, offset = 0): number {
  let last = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < k.length; j++) if (k[j]! > last) last = k[j]!;
  let sum = 0;
  let count = 0;
  for (let j = 0; j < k.length; j++) {
    if (!(k[j]! >= last / 10)) continue;
    const [a, b] = [num[offset + j]!, den[offset + j]!];
    if (!(a > 0 && b > 0 && Number.isFinite(a) && Number.isFinite(b))) continue;
    sum += Math.log(a / b);
    count++;
  }
  return count > 0 ? sum / count : Number.NaN;
}

/** Per sample-size slot: Welford state of ln n (3), then counts reached, extrapolated, neither. */
const SIZE_SLOT = 6;

/** Takes one cell's sufficient sample size into slot `slot`: the reached value, else the extrapolated one, else a count. */
function addSampleSize(acc: Float64Array, slot: number, reached: number, fit: number): void {
  const at = SIZE_SLOT * slot;
  if (reached > 0 && Number.isFinite(reached)) {
    welfordAdd(acc, at, Math.log(reached));
    acc[at + 3]!++;
  } else if (fit > 0 && Number.isFinite(fit)) {
    welfordAdd(acc, at, Math.log(fit));
    acc[at + 4]!++;
  } else {
    acc[at + 5]!++;
  }
}

function sampleSizeStat(acc: Float64Array, slot: number): SampleSizeStat {
  const at = SIZE_SLOT * slot;
  return { ...geometric(welfordStat(acc[at]!, acc[at + 1]!, acc[at + 2]!)), reached: acc[at + 3]!, extrapolated: acc[at + 4]!, none: acc[at + 5]! };
}

function geoCurve(acc: CurveAccumulator): GeoCurve {
  const out: GeoCurve = { n: [], gmean: [], lo: [], hi: [] };
  for (let i = 0; i < acc.k.length; i++) {
    const g = geometric(acc.statAt(i));
    out.n.push(g.n);
    out.gmean.push(g.gmean);
    out.lo.push(g.lo);
    out.hi.push(g.hi);
  }
  return out;
}

/** Where each of a cell's values sits in the group's list (by equal value), −1 where it is not in it. */
const indexIn = (group: readonly number[], cell: ArrayLike<number>): number[] => Array.from(cell, (v) => group.indexOf(v));

const ESTIMATORS = ['delta2Sub', 'delta2Iso', 'delta2Gm'] as const;

/**
 * A group's stabilization criteria (StabilizationSummary), one ok cell at a time. The σ list and k grid are those
 * of the first cell with σ, the thresholds those of the first cell with thresholds; a later cell's σ, thresholds
 * and k are matched to them by value and left out where they are not among them. A Δ2 list whose length is not
 * |σ| × |k| is left out. Values ≤ 0 or non-finite are left out of the Stats of ln x.
 */
export class StabilizationAccumulator {
  private cells = 0;
  private sigma: number[] | null = null;
  private thresholds: number[] | null = null;
  /** Per estimator (ESTIMATORS order), per σ: Stats of ln Δ2 at each k. */
  private curves: CurveAccumulator[][] = [];
  /** Welford states of ln(sub/iso) per σ, then of ln(gm/sub) per σ. */
  private ratios = new Float64Array(0);
  private d1 = new Float64Array(0);
  private d2 = new Float64Array(0);

  add(cell: StabilizationCell): void {
    this.cells++;
    if (cell.sigma !== null && this.sigma === null) {
      this.sigma = Array.from(cell.sigma);
      this.curves = ESTIMATORS.map(() => this.sigma!.map(() => new CurveAccumulator(Array.from(cell.k))));
      this.ratios = new Float64Array(2 * 3 * this.sigma.length);
    }
    if (cell.thresholds !== null && this.thresholds === null) {
      this.thresholds = Array.from(cell.thresholds);
      this.d1 = new Float64Array(SIZE_SLOT * this.thresholds.length);
    }
    if (this.sigma && this.thresholds && this.d2.length === 0) this.d2 = new Float64Array(SIZE_SLOT * this.thresholds.length * this.sigma.length);
    const sigmaAt = cell.sigma && this.sigma ? indexIn(this.sigma, cell.sigma) : [];
    const thresholdAt = cell.thresholds && this.thresholds ? indexIn(this.thresholds, cell.thresholds) : [];
    this.addCurves(cell, sigmaAt);
    this.addSampleSizes(cell, sigmaAt, thresholdAt);
  }

  private addCurves(cell: StabilizationCell, sigmaAt: readonly number[]): void {
    const K = cell.k.length;
    const fits = (values: ArrayLike<number> | null): values is ArrayLike<number> => values !== null && values.length === sigmaAt.length * K;
    ESTIMATORS.forEach((estimator, e) => {
      const values = cell[estimator];
      if (!fits(values)) return;
      const logs = Float64Array.from(values, Math.log);
      sigmaAt.forEach((s, cs) => s >= 0 && this.curves[e]![s]!.push(cell.k, 0, logs, cs * K, K));
    });
    const S = this.sigma?.length ?? 0;
    const [sub, iso, gm] = [cell.delta2Sub, cell.delta2Iso, cell.delta2Gm];
    sigmaAt.forEach((s, cs) => {
      if (s < 0) return;
      if (fits(sub) && fits(iso)) welfordAdd(this.ratios, 3 * s, tailLogRatio(cell.k, sub, iso, cs * K));
      if (fits(gm) && fits(sub)) welfordAdd(this.ratios, 3 * (S + s), tailLogRatio(cell.k, gm, sub, cs * K));
    });
  }

  private addSampleSizes(cell: StabilizationCell, sigmaAt: readonly number[], thresholdAt: readonly number[]): void {
    const T = thresholdAt.length;
    const [d1, d1Fit, d2, d2Fit] = [cell.nSuffD1, cell.nSuffD1Fit, cell.nSuffD2, cell.nSuffD2Fit];
    if (d1 !== null && d1Fit !== null && d1.length === T && d1Fit.length === T) {
      thresholdAt.forEach((t, ct) => t >= 0 && addSampleSize(this.d1, t, d1[ct]!, d1Fit[ct]!));
    }
    const groupT = this.thresholds?.length ?? 0;
    if (d2 === null || d2Fit === null || d2.length !== sigmaAt.length * T || d2Fit.length !== d2.length) return;
    sigmaAt.forEach((s, cs) => {
      if (s < 0) return;
      thresholdAt.forEach((t, ct) => t >= 0 && addSampleSize(this.d2, s * groupT + t, d2[cs * T + ct]!, d2Fit[cs * T + ct]!));
    });
  }

  /** The summary now; null when no cell came in. */
  result(): StabilizationSummary | null {
    if (this.cells === 0) return null;
    const sigma = this.sigma ?? [];
    const thresholds = this.thresholds ?? [];
    const ratio = (block: number): GeoStat[] => sigma.map((_, s) => {
      const at = 3 * (block * sigma.length + s);
      return geometric(welfordStat(this.ratios[at]!, this.ratios[at + 1]!, this.ratios[at + 2]!));
    });
    const [sub, iso, gm] = this.curves.map((perSigma) => perSigma.map(geoCurve));
    return {
      cells: this.cells,
      sigma,
      thresholds,
      k: this.curves[0]?.[0] ? Array.from(this.curves[0][0].k) : [],
      delta2_sub: sub ?? [],
      delta2_iso: iso ?? [],
      delta2_sub_gm: gm ?? [],
      ratio_sub_iso: ratio(0),
      ratio_gm_sub: ratio(1),
      n_suff_d1: thresholds.map((_, t) => sampleSizeStat(this.d1, t)),
      n_suff_d2: sigma.flatMap((_, s) => thresholds.map((_, t) => sampleSizeStat(this.d2, s * thresholds.length + t))),
    };
  }
}
