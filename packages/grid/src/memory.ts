/**
 * How much memory a cell needs: an estimate of the peak resident memory of a process that runs it, from the
 * cell's shape alone (no TensorFlow, no data read), so that workers take only the cells that fit and
 * deployments ask for enough. The model follows what `runCell` holds at once; its constants are calibrated
 * against measured peaks (docs/memory.md has the derivation and the table).
 */
import { datasetShape } from './datasets.js';
import { parameterCount } from './settings.js';
import type { Cell } from './types.js';

/** Floats in one [samples, directions × width] tensor of a curvature product pass (landscape's `Curvature.products`). */
export const PRODUCT_PASS_FLOATS = 1 << 23;

/** Hutchinson probes applied per product pass (landscape's `runCell`). */
export const HUTCHINSON_BATCH = 8;

/**
 * Constants of the estimate. `base`: a process that loads tfjs and its wasm backend and runs a tiny cell
 * (node, the modules `hessweep cell` loads, the wasm module and its initial 16 MiB heap). `wasmSlack`: tfjs's
 * wasm heap never returns memory and reuses freed blocks imperfectly, so its high-water mark exceeds the
 * largest set of live tensors (measured 1.05–1.15×). `hostSlack`: JavaScript's arrays go back only when the
 * garbage collector runs, so each perturbed forward pass's losses and probabilities pile up between collections.
 */
export const MEMORY_MODEL = { base: 130 * 2 ** 20, wasmSlack: 1.25, hostSlack: 1.25 } as const;

/** The parts of an estimate, in bytes; `total` is what a worker reserves. */
export interface MemoryEstimate {
  /** What the curvature engine holds at the cell's peak: the kernels' module memory, or tfjs's tensors times `wasmSlack`. */
  tensors: number;
  /** JavaScript arrays: the data set as float32, Lanczos bases and Hutchinson probes in float64, training state, times `hostSlack`. */
  host: number;
  /** `MEMORY_MODEL.base`. */
  base: number;
  total: number;
}

/**
 * Which engine passes over the samples after training (landscape's `Curvature`): the WebAssembly kernels
 * (on the wasm and cpu backends) or tfjs (on tensorflow). They hold different tensors.
 */
export type CurvatureEngineName = 'kernels' | 'tfjs';

/**
 * Peak memory of running `cell` with `engine`, in bytes. With m samples of d inputs, K classes, width h,
 * depth D, P parameters and S stabilization directions (floats, × 4 bytes):
 *
 * - `kernels`: the curvature module holds X (md), per hidden layer its activations and δ (2(D+1)mh), the
 *   output δ, probabilities, probabilities / m and two sets of logits (5mK), per-sample traces (m), the
 *   projections' tangents and sums (mS(K + S)) and P-sized buffers (directions, results, transposes:
 *   24P); the training module its parameters, gradients and Adam state (4P). A bump arena: no slack.
 * - `tfjs`: tensors held by `Curvature` from the losses on: X and Xᵀ (2md), per hidden layer its activations,
 *   their transposes, ReLU masks, δ and δᵀ (5(D+1)mh), the output δ, δᵀ and the probabilities (4mK), W and Wᵀ
 *   (2P); plus the larger of the two stages that allocate on top: the exact trace (‖x‖² squares X: md; the
 *   per-sample Jacobian blocks [m, K, h], three at once: 3mKh) and a product pass with k directions (k = the
 *   most of: the top-k Lanczos processes, 2 with `ggn`; the Hutchinson batch; the SLQ runs of the density;
 *   the stabilization directions; capped by `PRODUCT_PASS_FLOATS`): the forward R-activations of every
 *   hidden layer and three temporaries ((D+4)·m·k·max(h, K)) and the stacked directions (2kP); times
 *   `wasmSlack`.
 * - host, either engine: the data (4md bytes), per-sample labels and losses (16m), softmax probabilities and
 *   the output δ (12mK), the Lanczos bases (8P per step per process, float64; the top-k processes' or the SLQ
 *   runs', whichever is larger: the two stages follow one another), the Hutchinson probes and their products
 *   (16·8P), training state (32P), the stabilization stage's arrays; times `hostSlack`.
 *
 * A features file's shape is not known before it is read: `datasetShape` counts it as one input and one
 * class, so its cells are underestimated (by at least 8md bytes for its data alone).
 */
export function cellMemory(cell: Cell, engine: CurvatureEngineName = 'kernels'): MemoryEstimate {
  const { inputDim: d, classes: K } = datasetShape(cell.dataset, cell.data);
  const { width: h, depth: D, sample_size: m, measure } = cell;
  const P = parameterCount(d, h, D, K);
  const processes = measure.top_k > 0 ? (measure.ggn ? 2 : 1) : 0;
  const slqRuns = measure.density ? measure.density_runs : 0;
  // The stabilization probes carry the S subspace directions through the network side by side.
  const subspace = measure.top_k > 0 ? Math.min(measure.stabilization.subspace, measure.top_k) : 0;

  let tensors: number;
  if (engine === 'kernels') {
    tensors = 4 * (m * d + 2 * (D + 1) * m * h + 5 * m * K + m + m * subspace * (K + subspace) + 28 * P);
  } else {
    const held = 2 * m * d + 5 * (D + 1) * m * h + 4 * m * K + 2 * P;
    const trace = m * d + 3 * m * K * h;
    const directions = Math.max(processes, measure.trace_probes > 0 ? HUTCHINSON_BATCH : 0, slqRuns, subspace);
    const perPass = Math.min(directions, Math.max(1, Math.floor(PRODUCT_PASS_FLOATS / (m * Math.max(d, h, K)))));
    const products = (D + 4) * m * perPass * Math.max(h, K) + 2 * perPass * P;
    tensors = MEMORY_MODEL.wasmSlack * 4 * (held + Math.max(trace, products));
  }

  // The top-k and the SLQ runs follow one another: the larger set of bases is the peak.
  const bases = (runs: number, steps: number) => runs * (Math.min(steps, P) + 2) * 8 * P;
  const lanczos = Math.max(bases(processes, measure.lanczos_iters), bases(slqRuns, measure.density_steps));
  const probes = measure.trace_probes > 0 ? 2 * HUTCHINSON_BATCH * 8 * P : 0;
  // Stabilization: the permutations kept for the whole stage, float64 series over every k (the moments, the
  // quadratic model's invariants, a mean and an error per σ and kind), the projected derivatives.
  const sigmas = measure.stabilization.sigma.length;
  const stabilization = 4 * m * measure.permutations + 8 * m * (8 + 4 * sigmas) + 8 * m * subspace * (subspace + K + 1);
  const host = MEMORY_MODEL.hostSlack * (4 * m * d + 16 * m + 12 * m * K + lanczos + probes + 32 * P + stabilization);

  const base = MEMORY_MODEL.base;
  return { tensors: Math.ceil(tensors), host: Math.ceil(host), base, total: Math.ceil(base + host + tensors) };
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/** Bytes for a person, in powers of 1024: `1.40 GiB`, `31.5 MiB`, `312 MiB`, `100 B`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}
