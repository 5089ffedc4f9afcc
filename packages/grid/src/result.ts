import { cellId } from './canonical.js';
import type { BackendChoice, Cell, DatasetName, TrainerChoice } from './types.js';

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
  stabilization_s: number;
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
  /** D_k smoothed by EMA (α 0.99, e_0 = D_1) over every k, then taken at loss_diff_k. */
  loss_diff_smooth: number[] | null;
  /** The stabilization probes (docs/stabilization.md): D, the top Hessian Ritz vectors spanning the subspace, and the σ probed. */
  stab_subspace: number | null;
  stab_sigma: number[] | null;
  /**
   * Δ2 at loss_diff_k for each σ, σ-major (|σ| × |loss_diff_k| values): isotropic over all parameters (null
   * unless asked), and in the subspace by direct Monte Carlo, by Monte Carlo of the local quadratic model, and
   * by its Gaussian-moment closed form.
   */
  delta2_iso: number[] | null;
  delta2_sub: number[] | null;
  delta2_sub_quad: number[] | null;
  delta2_sub_gm: number[] | null;
  /** The thresholds ε of the sufficient sample sizes. */
  stab_thresholds: number[] | null;
  /**
   * Per threshold: the smallest k from which smoothed D_k stays below ε (null item: not reached within the
   * sample), and the k where the power law fitted to its tail reaches ε (null item: the tail does not fall).
   */
  n_suff_d1: (number | null)[] | null;
  n_suff_d1_fit: (number | null)[] | null;
  /** The same for smoothed Δ2 in the subspace (direct Monte Carlo) against ε², σ-major (|σ| × |thresholds|). */
  n_suff_d2: (number | null)[] | null;
  n_suff_d2_fit: (number | null)[] | null;
  backend: string;
  worker: string;
  attempt: number;
  finished_at: string;
}

/** Who ran a cell and how: the provenance columns of a row. */
export interface RunContext {
  /** The cell's id when the caller has it already (the queue's task carries it): hashed again otherwise. */
  cellId?: string;
  sweep: string;
  worker: string;
  attempt: number;
  backend: string;
}

/** A run context as a caller asks for it: the backend and trainer chosen (the row records what ran). */
export type RequestedContext = Omit<RunContext, 'backend'> & { backend: BackendChoice; trainer?: TrainerChoice };

/** The columns a row takes from its cell and run context, whatever the outcome. */
export function identityColumns(cell: Cell, context: RunContext) {
  return {
    cell_id: context.cellId ?? cellId(cell),
    sweep: context.sweep,
    dataset: cell.dataset,
    width: cell.width,
    depth: cell.depth,
    seed: cell.seed,
    sample_size: cell.sample_size,
    epochs: cell.train.epochs,
    batch_size: cell.train.batch_size,
    optimizer: cell.train.optimizer,
    lr: cell.train.lr,
    bias: cell.train.bias,
    init: cell.train.init,
    permutations: cell.measure.permutations,
    backend: context.backend,
    worker: context.worker,
    attempt: context.attempt,
  };
}

export const NO_STAGE_SECONDS: StageSeconds = {
  load_s: 0, train_s: 0, losses_s: 0, curve_s: 0, hessian_s: 0, ggn_s: 0, trace_s: 0, density_s: 0, stabilization_s: 0, bound_s: 0, total_s: 0,
};

/** The measurement columns of a row whose cell was not measured. */
const NO_MEASUREMENTS = {
  n_params: null, train_loss: null, train_accuracy: null,
  loss_diff_k: null, loss_diff: null, loss_diff_slope: null,
  hessian_top: null, hessian_residuals: null, hessian_iters: null,
  ggn_top: null, ggn_residuals: null, ggn_iters: null,
  hessian_trace: null, ggn_trace: null, hessian_trace_hutchinson: null, hessian_trace_se: null,
  density_x: null, density_y: null, bound: null, m_w: null, m_x: null,
  loss_diff_smooth: null, stab_subspace: null, stab_sigma: null,
  delta2_iso: null, delta2_sub: null, delta2_sub_quad: null, delta2_sub_gm: null,
  stab_thresholds: null, n_suff_d1: null, n_suff_d1_fit: null, n_suff_d2: null, n_suff_d2_fit: null,
} as const;

/**
 * The row of a cell that failed with `error`: identity columns, the error, null measurements. Built with
 * Object.assign: two object spreads of these sizes cost 50 µs a row in V8, more than the rest of a dry-run cell.
 */
export function failedRow(cell: Cell, context: RunContext, error: string, seconds: StageSeconds = NO_STAGE_SECONDS): ResultRow {
  return Object.assign(identityColumns(cell, context), seconds, NO_MEASUREMENTS, { status: 'failed' as const, error, finished_at: new Date().toISOString() });
}
