import type { BackendChoice, DataSource, DatasetName, MeasureSettings, TrainSettings } from './types.js';

/** The five axes of one cartesian grid. */
export interface GridAxes {
  dataset: DatasetName[];
  width: number[];
  depth: number[];
  seed: number[];
  sample_size: number[];
}

/**
 * A parsed and validated sweep: every default filled in, every path absolute.
 *
 * A spec file names its cells either with `grid:` (one cartesian grid) or with `grids:` (a list of
 * cartesian grids whose union is the sweep, e.g. the paper's "widths at depth 5" plus "depths at width 16").
 * `grids` always holds the grids; `grid` is the single grid of a `grid:` spec and, for a `grids:` spec,
 * the envelope: each axis lists every value some grid uses, in order of first appearance. The cells are
 * `planGrid(spec)`, which is not the envelope's product when there are several grids.
 */
export interface SweepSpec {
  /** [A-Za-z0-9_-]+: used in file names and NATS subjects. */
  name: string;
  grid: GridAxes;
  grids: GridAxes[];
  train: TrainSettings;
  measure: MeasureSettings;
  data: DataSource;
  backend: BackendChoice;
}

/** Keys a spec file may hold at the top level. */
export const SPEC_KEYS = ['name', 'grid', 'grids', 'train', 'measure', 'data_dir', 'features', 'label_column', 'synthetic', 'backend'] as const;
/** Keys of a grid (`grid:` or an item of `grids:`). */
export const GRID_KEYS = ['dataset', 'width', 'depth', 'seed', 'sample_size'] as const;
export const TRAIN_KEYS = ['epochs', 'batch_size', 'optimizer', 'lr', 'bias', 'init'] as const;
/** Measure settings held directly under `measure:`. */
export const MEASURE_SETTING_KEYS = ['permutations', 'curve_points', 'top_k', 'lanczos_iters', 'lanczos_tol', 'ggn', 'trace_probes', 'density', 'density_runs', 'density_steps', 'thresholds'] as const;
/** Keys of `measure:`: its settings and the `stabilization:` mapping. */
export const MEASURE_KEYS = [...MEASURE_SETTING_KEYS, 'stabilization'] as const;
/** Keys of `measure.stabilization:`, each the setting `stab_<key>`. */
export const STABILIZATION_KEYS = ['subspace', 'sigma', 'samples', 'isotropic'] as const;
export const SYNTHETIC_KEYS = ['dim', 'classes'] as const;

/** Seeds of a grid that does not name any. */
export const DEFAULT_SEEDS: readonly number[] = [0];

/** What a sweep name must match. */
export const SWEEP_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
/** Longest sweep name: it becomes a directory name and part of NATS subjects and consumer names. */
export const SWEEP_NAME_MAX = 64;

/**
 * Why `name` cannot name a sweep, or undefined when it can. A sweep name becomes a directory and NATS
 * subject tokens, so `.`, `*`, `>` and anything else outside [A-Za-z0-9_-] would break one or the other.
 */
export function sweepNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || !SWEEP_NAME_PATTERN.test(name)) {
    return `must be letters, digits, _ and - only (it names a directory and NATS subjects), got ${JSON.stringify(name)}`;
  }
  if (name.length > SWEEP_NAME_MAX) return `must be at most ${SWEEP_NAME_MAX} characters, got ${name.length}`;
  return undefined;
}
