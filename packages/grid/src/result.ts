import type { DatasetName } from './types.js';

/** Seconds spent in each stage of a cell. */
export interface StageSeconds {
  load_s: number;
  train_s: number;
  losses_s: number;
  curve_s: number;
  hessian_s: number;
  ggn_s: number;
  trace_s: number;
  density_s: number;
  bound_s: number;
  total_s: number;
}

/**
 * One result row: a cell, finished (`ok`) or `failed`. The column names are those of DESIGN.md;
 * measurements of a failed cell are null. Lists are plain number arrays.
 */
export interface ResultRow extends StageSeconds {
  cell_id: string;
  sweep: string;
  status: 'ok' | 'failed';
  error: string | null;
  dataset: DatasetName;
  width: number;
  depth: number;
  seed: number;
  sample_size: number;
  epochs: number;
  batch_size: number;
  optimizer: string;
  lr: number;
  bias: boolean;
  init: string;
  permutations: number;
  n_params: number | null;
  train_loss: number | null;
  train_accuracy: number | null;
  loss_diff_k: number[] | null;
  loss_diff: number[] | null;
  loss_diff_slope: number | null;
  hessian_top: number[] | null;
  hessian_residuals: number[] | null;
  hessian_iters: number | null;
  ggn_top: number[] | null;
  ggn_residuals: number[] | null;
  ggn_iters: number | null;
  /** Exact trace of the Hessian (equal to the GGN's for ReLU networks). */
  hessian_trace: number | null;
  ggn_trace: number | null;
  /** Hutchinson estimate of tr H and its standard error; null when no probes were used. */
  hessian_trace_hutchinson: number | null;
  hessian_trace_se: number | null;
  density_x: number[] | null;
  density_y: number[] | null;
  bound: number | null;
  m_w: number | null;
  m_x: number | null;
  backend: string;
  worker: string;
  attempt: number;
  finished_at: string;
}
