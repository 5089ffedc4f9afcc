/**
 * The one table of settings that decide a cell: for each, where a spec file holds it, its `hessweep cell`
 * flag, default, check and description. `parseSpec` and `hessweep cell` both validate through it (see
 * validate.ts), so a value means the same, and is refused with the same message, either way.
 */
import { datasetShape, trainingSetSize } from './datasets.js';
import { LIMITS } from './limits.js';
import { DEFAULT_SEEDS, type GRID_KEYS, type MEASURE_SETTING_KEYS, type STABILIZATION_KEYS, type TRAIN_KEYS } from './spec.js';
import { closest, describe } from './suggest.js';
import { BACKENDS, DATASETS, DEFAULT_MEASURE, DEFAULT_TRAIN, type DataSource, type DatasetName } from './types.js';

/** A check returns the message for a bad value (without its place), or undefined for a good one. */
export type Check = (value: unknown) => string | undefined;

export type GridKey = (typeof GRID_KEYS)[number];
export type TrainKey = (typeof TRAIN_KEYS)[number];
export type MeasureKey = (typeof MEASURE_SETTING_KEYS)[number];
export type StabilizationKey = `stab_${(typeof STABILIZATION_KEYS)[number]}`;
/** Data-source settings, by their `DataSource` field names. */
export type DataKey = keyof DataSource;
export type SettingName = GridKey | TrainKey | MeasureKey | StabilizationKey | DataKey | 'backend';

export interface Setting {
  /** Where a spec file holds it: `grid.width` (or `grids[i].width`), `train.lr`, `synthetic.dim`, `features`. */
  readonly spec: string;
  /** Its `hessweep cell` flag, without the dashes. */
  readonly flag: string;
  /** `numbers`: a list of numbers (a flag repeated or given several values). */
  readonly type: 'number' | 'string' | 'boolean' | 'numbers';
  /** The value when absent. None: a grid axis is required, a data-source field is left unset. */
  readonly default?: number | string | boolean | readonly number[];
  readonly check: Check;
  readonly describe: string;
}

/** An integer in [min, max]: below min (or no integer) says what it must be, above max names the limit. */
function integer(min: number, max: number, must: string): Check {
  return (v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) return `must be ${must}, got ${describe(v)}`;
    return v > max ? `${v} exceeds the limit of ${max}` : undefined;
  };
}
const positiveInt = (max: number) => integer(1, max, 'a positive integer');
const nonNegativeInt = (max: number) => integer(0, max, 'a non-negative integer');
const seedCheck: Check = (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 32 ? undefined : `must be a non-negative integer below 2^32, got ${describe(v)}`;
const boolean: Check = (v) => (typeof v === 'boolean' ? undefined : `must be a boolean, got ${describe(v)}`);
const positiveNumber: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 ? undefined : `must be a positive number, got ${describe(v)}`;
/** A non-empty list of at most `max` numbers, each passing `each`, none repeated. */
function numberList(max: number, each: Check): Check {
  return (v) => {
    if (!Array.isArray(v) || v.length === 0) return `must be a non-empty list of numbers, got ${describe(v)}`;
    if (v.length > max) return `has ${v.length} values, over the limit of ${max}`;
    for (const [i, item] of v.entries()) {
      const why = each(item);
      if (why !== undefined) return `[${i}] ${why}`;
    }
    return new Set(v).size === v.length ? undefined : `must not repeat a value, got ${describe(v)}`;
  };
}
const unitInterval: Check = (v) => (typeof v === 'number' && v >= 0 && v < 1 ? undefined : `must be a number in [0, 1), got ${describe(v)}`);
const nonEmptyString: Check = (v) => (typeof v === 'string' && v.trim() !== '' ? undefined : `must be a non-empty string, got ${describe(v)}`);
function oneOf(choices: readonly string[]): Check {
  return (v) => {
    if (typeof v === 'string' && choices.includes(v)) return undefined;
    const guess = typeof v === 'string' ? closest(v, choices) : undefined;
    return `must be one of ${choices.join(', ')}, got ${describe(v)}${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`;
  };
}
/** Backend names people reach for that mean the tensorflow backend. */
const TENSORFLOW_ALIASES = ['gpu', 'cuda', 'node', 'tfjs-node', 'tfjs-node-gpu', 'tf', 'tensorflow-gpu'];
const backendCheck: Check = (v) =>
  typeof v === 'string' && TENSORFLOW_ALIASES.includes(v.toLowerCase())
    ? `must be one of ${BACKENDS.join(', ')}, got ${describe(v)} (did you mean "tensorflow"? it loads tfjs-node-gpu where installed)`
    : oneOf(BACKENDS)(v);

export const SETTINGS: { readonly [K in SettingName]: Setting } = {
  dataset: { spec: 'grid.dataset', flag: 'dataset', type: 'string', check: oneOf(DATASETS), describe: `dataset: ${DATASETS.join(', ')}` },
  width: { spec: 'grid.width', flag: 'width', type: 'number', check: positiveInt(LIMITS.width), describe: 'hidden width h' },
  depth: { spec: 'grid.depth', flag: 'depth', type: 'number', check: nonNegativeInt(LIMITS.depth), describe: 'number of hidden h→h layers' },
  seed: {
    spec: 'grid.seed', flag: 'seed', type: 'number', default: DEFAULT_SEEDS[0], check: seedCheck,
    describe: 'seed of initialisation, shuffling, permutations and probes',
  },
  sample_size: {
    spec: 'grid.sample_size', flag: 'sample-size', type: 'number',
    check: integer(2, LIMITS.sample_size, 'an integer ≥ 2 (the loss-difference curve compares two samples)'),
    describe: 'train on the first M samples',
  },
  epochs: { spec: 'train.epochs', flag: 'epochs', type: 'number', default: DEFAULT_TRAIN.epochs, check: positiveInt(LIMITS.epochs), describe: 'passes over the sample' },
  batch_size: { spec: 'train.batch_size', flag: 'batch-size', type: 'number', default: DEFAULT_TRAIN.batch_size, check: positiveInt(LIMITS.batch_size), describe: 'minibatch size' },
  optimizer: {
    spec: 'train.optimizer', flag: 'optimizer', type: 'string', default: DEFAULT_TRAIN.optimizer,
    check: (v) => (v === 'adam' ? undefined : `must be "adam" (the only optimizer), got ${describe(v)}`),
    describe: 'adam (the only one)',
  },
  lr: { spec: 'train.lr', flag: 'lr', type: 'number', default: DEFAULT_TRAIN.lr, check: positiveNumber, describe: 'Adam learning rate' },
  bias: { spec: 'train.bias', flag: 'bias', type: 'boolean', default: DEFAULT_TRAIN.bias, check: boolean, describe: 'biases on every layer (the paper has none)' },
  init: {
    spec: 'train.init', flag: 'init', type: 'string', default: DEFAULT_TRAIN.init, check: oneOf(['uniform', 'he']),
    describe: 'uniform: PyTorch nn.Linear default; he: N(0, 2/fan_in)',
  },
  permutations: {
    spec: 'measure.permutations', flag: 'permutations', type: 'number', default: DEFAULT_MEASURE.permutations,
    check: positiveInt(LIMITS.permutations), describe: 'permutations averaged in D_k',
  },
  curve_points: {
    spec: 'measure.curve_points', flag: 'curve-points', type: 'number', default: DEFAULT_MEASURE.curve_points,
    check: positiveInt(LIMITS.curve_points), describe: 'log-spaced k kept in the curve',
  },
  top_k: {
    spec: 'measure.top_k', flag: 'top-k', type: 'number', default: DEFAULT_MEASURE.top_k,
    check: nonNegativeInt(LIMITS.top_k), describe: 'top eigenvalues of H and G (0 skips the spectrum)',
  },
  lanczos_iters: {
    spec: 'measure.lanczos_iters', flag: 'lanczos-iters', type: 'number', default: DEFAULT_MEASURE.lanczos_iters,
    check: positiveInt(LIMITS.lanczos_iters), describe: 'maximum Lanczos steps per operator',
  },
  lanczos_tol: {
    spec: 'measure.lanczos_tol', flag: 'lanczos-tol', type: 'number', default: DEFAULT_MEASURE.lanczos_tol,
    check: unitInterval, describe: 'Lanczos residual tolerance relative to λ_max (0: run all steps)',
  },
  ggn: { spec: 'measure.ggn', flag: 'ggn', type: 'boolean', default: DEFAULT_MEASURE.ggn, check: boolean, describe: 'also the Gauss-Newton spectrum' },
  trace_probes: {
    spec: 'measure.trace_probes', flag: 'trace-probes', type: 'number', default: DEFAULT_MEASURE.trace_probes,
    check: nonNegativeInt(LIMITS.trace_probes), describe: 'Hutchinson probes as a cross-check of the exact trace (0: exact only)',
  },
  density: {
    spec: 'measure.density', flag: 'density', type: 'boolean', default: DEFAULT_MEASURE.density, check: boolean,
    describe: 'spectral density of the Hessian by stochastic Lanczos quadrature',
  },
  density_runs: {
    spec: 'measure.density_runs', flag: 'density-runs', type: 'number', default: DEFAULT_MEASURE.density_runs,
    check: nonNegativeInt(LIMITS.density_runs), describe: 'SLQ runs from independent random starts averaged in the density (0: no density)',
  },
  density_steps: {
    spec: 'measure.density_steps', flag: 'density-steps', type: 'number', default: DEFAULT_MEASURE.density_steps,
    check: positiveInt(LIMITS.density_steps), describe: 'Lanczos steps of every SLQ run, all of them (no early stop)',
  },
  thresholds: {
    spec: 'measure.thresholds', flag: 'thresholds', type: 'numbers', default: DEFAULT_MEASURE.thresholds,
    check: numberList(LIMITS.thresholds, positiveNumber), describe: 'thresholds ε of the sufficient sample size (Δ2 criteria: ε²)',
  },
  stab_subspace: {
    spec: 'measure.stabilization.subspace', flag: 'stab-subspace', type: 'number', default: DEFAULT_MEASURE.stabilization.subspace,
    check: nonNegativeInt(LIMITS.top_k), describe: 'top-D Hessian Ritz vectors probed by the stabilization criteria (≤ top-k, default min(5, top-k); 0: off)',
  },
  stab_sigma: {
    spec: 'measure.stabilization.sigma', flag: 'stab-sigma', type: 'numbers', default: DEFAULT_MEASURE.stabilization.sigma,
    check: numberList(LIMITS.stab_sigmas, positiveNumber), describe: 'σ of the Gaussian perturbations (per coordinate)',
  },
  stab_samples: {
    spec: 'measure.stabilization.samples', flag: 'stab-samples', type: 'number', default: DEFAULT_MEASURE.stabilization.samples,
    check: positiveInt(LIMITS.stab_samples), describe: 'Monte-Carlo draws per σ (a forward pass each)',
  },
  stab_isotropic: {
    spec: 'measure.stabilization.isotropic', flag: 'stab-isotropic', type: 'boolean', default: DEFAULT_MEASURE.stabilization.isotropic,
    check: boolean, describe: 'also Δ2 with isotropic perturbations of every parameter',
  },
  data_dir: { spec: 'data_dir', flag: 'data-dir', type: 'string', check: nonEmptyString, describe: 'directory with IDX or CIFAR binary files' },
  features_path: { spec: 'features', flag: 'features', type: 'string', check: nonEmptyString, describe: 'Arrow or CSV file for --dataset features' },
  label_column: { spec: 'label_column', flag: 'label-column', type: 'string', check: nonEmptyString, describe: 'label column of the features file (default: label)' },
  synthetic_dim: {
    spec: 'synthetic.dim', flag: 'synthetic-dim', type: 'number', check: positiveInt(LIMITS.input_dim),
    describe: 'input dimension of --dataset synthetic (default 32)',
  },
  synthetic_classes: {
    spec: 'synthetic.classes', flag: 'synthetic-classes', type: 'number', check: integer(2, LIMITS.classes, 'an integer ≥ 2'),
    describe: 'classes of --dataset synthetic (default 4)',
  },
  backend: { spec: 'backend', flag: 'backend', type: 'string', default: 'auto', check: backendCheck, describe: `tfjs backend: ${BACKENDS.join(', ')}` },
};

export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** Whether a setting must be given: a grid axis without a default. */
export function isRequired(setting: Setting): boolean {
  return setting.spec.startsWith('grid.') && setting.default === undefined;
}

/** The setting a spec file holds at `spec` (a grid key as `grid.width`), if any. */
export function settingAt(spec: string): SettingName | undefined {
  return SETTING_NAMES.find((name) => SETTINGS[name].spec === spec);
}

/**
 * How the shared rules speak: a spec file names places by their paths (`grids[1].width[0]`, `measure.top_k`),
 * `hessweep cell` by its flags (`--width`, `--top-k`).
 */
export interface Dialect {
  /** A setting as a message refers to it: a grid key within its grid (`width`), others by their path or flag. */
  name(setting: SettingName): string;
  /** A problem's place as shown, from its spec path; '' when the message names its settings itself. */
  where(path: string): string;
  /** The end of "only used by the features dataset, which …". */
  featuresAbsent(hasGrids: boolean): string;
  /** Whether a grid axis takes a list of values (a spec) or one value (a cell). */
  lists: boolean;
}

export const SPEC_DIALECT: Dialect = {
  name: (setting) => (SETTINGS[setting].spec.startsWith('grid.') ? setting : SETTINGS[setting].spec),
  where: (path) => path,
  featuresAbsent: (hasGrids) => (hasGrids ? 'no grid includes' : 'the grid does not include'),
  lists: true,
};

export const FLAG_DIALECT: Dialect = {
  name: (setting) => `--${SETTINGS[setting].flag}`,
  where: (path) => {
    if (path === 'grid') return '';
    const setting = settingAt(path.replace(/\[\d+\]$/, ''));
    return setting === undefined ? path : `--${SETTINGS[setting].flag}`;
  },
  featuresAbsent: () => '--dataset does not name',
  lists: false,
};

/** Thousands separated, as counts in messages are written. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** Weights and biases of the network input → h, depth × (h → h), h → classes. */
export function parameterCount(inputDim: number, width: number, depth: number, classes: number): number {
  return (inputDim + 1) * width + depth * (width + 1) * width + (width + 1) * classes;
}

/** The shape of a dataset as messages describe it: a features file's is only known when read (a lower bound here). */
function shapeOf(dataset: DatasetName, data: DataSource): { inputDim: number; classes: number; atLeast: string } {
  return { ...datasetShape(dataset, data), atLeast: dataset === 'features' ? 'at least ' : '' };
}

/** Too many parameters in a network of this width and depth on this dataset: the message, else undefined. */
export function paramsProblem(dataset: DatasetName, width: number, depth: number, data: DataSource, dialect: Dialect): string | undefined {
  const { inputDim, classes, atLeast } = shapeOf(dataset, data);
  const params = parameterCount(inputDim, width, depth, classes);
  if (params <= LIMITS.params) return undefined;
  return `${dialect.name('width')} ${width} × ${dialect.name('depth')} ${depth} on ${dataset} has ${atLeast}${count(params)} parameters, over the limit of ${count(LIMITS.params)}`;
}

/** A full-batch activation (samples × widest layer) too big for one array: the message, else undefined. */
export function batchProblem(dataset: DatasetName, width: number, sampleSize: number, data: DataSource, dialect: Dialect): string | undefined {
  const { inputDim, classes, atLeast } = shapeOf(dataset, data);
  const floats = sampleSize * Math.max(inputDim, width, classes);
  if (floats <= LIMITS.batch_floats) return undefined;
  return (
    `${dialect.name('sample_size')} ${sampleSize} × ${dialect.name('width')} ${width} on ${dataset} needs ${atLeast}${count(floats)} floats ` +
    `per full-batch layer (samples × widest layer), over the limit of ${count(LIMITS.batch_floats)}`
  );
}

/** More samples than the dataset has (when its size is known before loading): the message, else undefined. */
export function samplesProblem(dataset: DatasetName, sampleSize: number, data: DataSource): string | undefined {
  const available = trainingSetSize(dataset, data);
  return available !== undefined && sampleSize > available ? `${sampleSize} exceeds the ${available} samples of ${dataset}` : undefined;
}

/** top_k above lanczos_iters: the message, else undefined. */
/** A stabilization subspace larger than the Ritz vectors Lanczos is asked for: the message, else undefined. */
export function subspaceProblem(subspace: number, topK: number, dialect: Dialect): string | undefined {
  return subspace > topK
    ? `${subspace} exceeds ${dialect.name('top_k')} (${topK}): the subspace is spanned by the top-k Hessian Ritz vectors`
    : undefined;
}

export function topKProblem(topK: number, lanczosIters: number, dialect: Dialect): string | undefined {
  return topK > lanczosIters
    ? `${topK} exceeds ${dialect.name('lanczos_iters')} (${lanczosIters}): Lanczos finds at most that many eigenvalues`
    : undefined;
}
