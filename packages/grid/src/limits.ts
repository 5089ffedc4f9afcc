/**
 * Upper bounds on what a spec, a `hessweep cell` call, a data file or a problem file may ask for. Past them a
 * cell would not fit in a worker's memory (or a typed array's length), so the request is refused up front with
 * the field named, instead of failing after seconds and gigabytes. Every check of these bounds reads them here.
 */
export const LIMITS = {
  /** Cells in one sweep (`--max-cells` raises it). */
  cells: 2_000_000,
  /** Hidden width h. */
  width: 16_384,
  /** Hidden h→h layers. */
  depth: 1_000,
  /** Training samples of one cell. */
  sample_size: 10_000_000,
  /** Classes of a dataset (labels 0 … classes − 1): the output layer and the per-sample K×K curvature blocks grow with it. */
  classes: 1_000,
  /** Input features of one sample. */
  input_dim: 1_000_000,
  /** Parameters of one network (weights and biases). */
  params: 50_000_000,
  /** Floats of one full-batch activation or data matrix (samples × widest layer): 2^28 floats is 1 GiB. */
  batch_floats: 2 ** 28,
  epochs: 100_000,
  batch_size: 1_000_000,
  permutations: 100_000,
  curve_points: 100_000,
  top_k: 1_000,
  lanczos_iters: 10_000,
  trace_probes: 100_000,
  density_runs: 1_000,
  density_steps: 10_000,
  /** σ values of the stabilization probes, and their Monte-Carlo draws per σ. */
  stab_sigmas: 64,
  stab_samples: 100_000,
  thresholds: 64,
} as const;

/** The largest finite float32: data and weights beyond it become ±Infinity on the way into tfjs. */
export const FLOAT32_MAX = 3.4028234663852886e38;
