/** Mean, sample standard deviation and the half-width of a 95% confidence interval (Student t) of n values. */
export interface Stat {
  n: number;
  mean: number;
  std: number;
  ci95: number;
}

export const GROUP_FIELDS = ['dataset', 'width', 'depth', 'sample_size', 'seed'] as const;
export type GroupField = (typeof GROUP_FIELDS)[number];

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
}
