/** The contract of a cell: everything that decides what a cell computes. */

export const DATASETS = ['mnist', 'fashion_mnist', 'cifar10', 'cifar100', 'features', 'synthetic'] as const;
export type DatasetName = (typeof DATASETS)[number];

export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];
/**
 * The native TensorFlow bindings, in the order `auto` tries them. They download libtensorflow at install time,
 * so they are optional and looked up at run time (landscape's `useBackend`; the workers' memory estimates).
 */
export const NATIVE_TFJS_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/**
 * Which implementation trains a cell: `fused` is the WebAssembly SIMD step (one call per step, the default on
 * the wasm and cpu backends), `tfjs` the tensorflow.js path (the default on `tensorflow`, where a GPU runs the
 * products); `auto` picks by backend. Both are the same training to float32 rounding; rows say which ran.
 */
export const TRAINERS = ['auto', 'fused', 'tfjs'] as const;
export type TrainerChoice = (typeof TRAINERS)[number];

export type InitScheme = 'uniform' | 'he';

export interface TrainSettings {
  epochs: number;
  batch_size: number;
  optimizer: 'adam';
  lr: number;
  /** Biases on every layer; the paper's network has none. */
  bias: boolean;
  /** `uniform`: PyTorch nn.Linear default U(-1/sqrt(fan_in), 1/sqrt(fan_in)); `he`: N(0, 2/fan_in). */
  init: InitScheme;
}

export interface MeasureSettings {
  /** Random permutations averaged in the loss-difference curve (paper: 100). */
  permutations: number;
  /** Number of log-spaced k at which the curve is stored. */
  curve_points: number;
  /** Top eigenvalues of the Hessian (and of the GGN when `ggn`). 0 skips the spectrum. */
  top_k: number;
  /** Maximum Lanczos steps per operator. */
  lanczos_iters: number;
  /** Lanczos stops when every top-k Ritz pair has residual ≤ lanczos_tol · max(1, |λ_max|); 0 runs all steps. */
  lanczos_tol: number;
  ggn: boolean;
  /** Hutchinson probes per operator; 0 uses only the exact trace. */
  trace_probes: number;
  /** Spectral density of the Hessian by stochastic Lanczos quadrature (false: none). */
  density: boolean;
  /** SLQ runs from independent random starts averaged in the density; 0: no density. */
  density_runs: number;
  /**
   * Lanczos steps of every SLQ run, always all of them (no residual test; only an exhausted Krylov space ends a
   * run early). Its own setting, not lanczos_iters: that one caps a top-k search that usually stops far sooner.
   */
  density_steps: number;
  /** How the landscape around θ̂ settles as samples are added (docs/stabilization.md). */
  stabilization: StabilizationSettings;
  /** Thresholds ε of the sufficient sample size (the Δ2 criteria are compared with ε²). */
  thresholds: number[];
}

/** The stabilization probes: Δ2 in the top-D Hessian subspace and in the full space, at each σ. */
export interface StabilizationSettings {
  /** D, the top Ritz vectors of the Hessian probed (≤ top_k); 0 turns the probes off. */
  subspace: number;
  /** Standard deviations σ of the Gaussian perturbations, per coordinate. */
  sigma: number[];
  /** Monte-Carlo draws S per σ (each a forward pass over the samples). */
  samples: number;
  /** Also the isotropic Δ2 over the full parameter space. */
  isotropic: boolean;
}

/** Where data come from; not part of what a result means except through the dataset itself. */
export interface DataSource {
  /** Directory with IDX / CIFAR binary files. */
  data_dir?: string;
  /** Arrow or CSV file for the `features` dataset. */
  features_path?: string;
  /** Label column of a features file (default `label`). */
  label_column?: string;
  /** Synthetic blobs: input dimension and number of classes. */
  synthetic_dim?: number;
  synthetic_classes?: number;
}

export interface Cell {
  dataset: DatasetName;
  width: number;
  /** Number of hidden h→h layers (the paper's `num_layers`). */
  depth: number;
  seed: number;
  sample_size: number;
  train: TrainSettings;
  measure: MeasureSettings;
  data: DataSource;
}

export const DEFAULT_TRAIN: TrainSettings = {
  epochs: 10,
  batch_size: 64,
  optimizer: 'adam',
  lr: 1e-3,
  bias: false,
  init: 'uniform',
};

export const DEFAULT_MEASURE: MeasureSettings = {
  permutations: 100,
  curve_points: 64,
  top_k: 5,
  lanczos_iters: 30,
  lanczos_tol: 1e-4,
  ggn: true,
  trace_probes: 0,
  density: true,
  density_runs: 3,
  density_steps: 8,
  stabilization: { subspace: 5, sigma: [1e-3, 1e-2], samples: 4, isotropic: true },
  thresholds: [1e-3, 1e-4],
};
