/** Mean, sample standard deviation and the half-width of a 95% confidence interval (Student t) of n values. */
export interface Stat {
  n: number;
  mean: number;
  std: number;
  ci95: number;
}

/**
 * A geometric mean over seeds and its 95% interval, for quantities drawn on a log axis: from the Stat of ln x,
 * gmean = exp(mean) and [lo, hi] = exp(mean ∓ ci95), positive whatever the spread (NaN where the Stat's are).
 */
export interface GeoStat {
  n: number;
  gmean: number;
  lo: number;
  hi: number;
}

export const GROUP_FIELDS = ['dataset', 'width', 'depth', 'sample_size', 'seed'] as const;
export type GroupField = (typeof GROUP_FIELDS)[number];

/** The grouping of `hessweep aggregate` without --by: all seeds of one configuration together. */
export const DEFAULT_BY: readonly GroupField[] = ['dataset', 'width', 'depth', 'sample_size'];

export type ExportFormat = 'parquet' | 'csv';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['parquet', 'csv'];

/** One group of cells (default: every seed of a dataset × width × depth × sample size). */
export interface SummaryRow {
  /** The grouping columns' values, in `--by` order. */
  key: Record<GroupField, string | number | null>;
  seeds_ok: number;
  seeds_failed: number;
  /** cell ids of the failed cells of the group, with their errors: never averaged in. */
  failed: { cell_id: string; seed: number; error: string | null }[];
  lambda_max: Stat;
  ggn_lambda_max: Stat;
  trace: Stat;
  loss_diff_slope: Stat;
  train_loss: Stat;
  train_accuracy: Stat;
  bound: Stat;
  /** Theorem 1 bound / measured λ_max, per cell, then averaged. */
  bound_ratio: Stat;
  /**
   * Of ln λ_max over the cells whose λ_max is positive (its n counts them): exp of the mean is the geometric
   * mean, exp(mean ± ci95) its 95% interval, positive whatever the spread (the report's log-scale λ figures).
   * Not in the summary files.
   */
  log_lambda_max: Stat;
  /** Likewise of ln of the GGN's λ_max. */
  log_ggn_lambda_max: Stat;
  /** Mean D_k over the group's ok cells at the k they share, with a band (mean ± 95% CI). */
  curve_k: number[];
  curve_mean: number[];
  curve_lo: number[];
  curve_hi: number[];
  /** Min and max of D_k over the group's ok cells at each k (the report's band); not in the summary files. */
  curve_min: number[];
  curve_max: number[];
  /**
   * The same over the D_k smoothed in the cell (`loss_diff_smooth`: the paper's EMA over every k, taken at the
   * stored k), on the grid of the group's first ok cell that has it; empty when none has (older sweeps).
   */
  smooth_k: number[];
  smooth_mean: number[];
  smooth_lo: number[];
  smooth_hi: number[];
  smooth_min: number[];
  smooth_max: number[];
  /** The stabilization criteria of the group's ok cells (docs/stabilization.md); null when no cell has them. */
  stabilization: StabilizationSummary | null;
}

/** Geometric means over seeds with 95% intervals at each k of a grid (NaN where no seed gave a positive value). */
export interface GeoCurve {
  /** Cells that gave a value at each k. */
  n: number[];
  gmean: number[];
  lo: number[];
  hi: number[];
}

/** A sufficient sample size over seeds: reached values, or extrapolated ones where not reached, and how many of each. */
export interface SampleSizeStat extends GeoStat {
  /** Cells whose criterion fell below the threshold within their sample (n_suff_*). */
  reached: number;
  /** Cells where it did not, with the power-law extrapolation (n_suff_*_fit) in the statistic instead. */
  extrapolated: number;
  /** Cells with neither (not reached, and a tail that does not fall): left out of the statistic. */
  none: number;
}

/**
 * A group's stabilization criteria, over its ok cells that have them (`cells`). Settings come from the group's
 * first such cell (`sigma`, `thresholds`, the k grid); a later cell's σ, thresholds or k not in those lists are
 * ignored. Every statistic is geometric (GeoStat: exp of the mean of ln x), for log axes.
 */
export interface StabilizationSummary {
  cells: number;
  sigma: number[];
  thresholds: number[];
  /** The grid of the Δ2 curves. */
  k: number[];
  /** Per σ: Δ2 in the top-D subspace by direct Monte Carlo, isotropic Δ2, and the Gaussian-moment closed form. */
  delta2_sub: GeoCurve[];
  delta2_iso: GeoCurve[];
  delta2_sub_gm: GeoCurve[];
  /**
   * Per σ, over cells: Δ2^(D)/Δ2 and (Gaussian moment)/(direct Monte Carlo) in the tail, the geometric mean over
   * the stored k in the last decade (k ≥ k_max/10) of the cell's per-k ratios.
   */
  ratio_sub_iso: GeoStat[];
  ratio_gm_sub: GeoStat[];
  /** Per threshold: the sufficient sample size of smoothed D_k. */
  n_suff_d1: SampleSizeStat[];
  /** Per σ and threshold (σ-major): that of Δ2^(D) against ε². */
  n_suff_d2: SampleSizeStat[];
}
