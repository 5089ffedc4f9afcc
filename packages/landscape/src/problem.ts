import { Curvature, type ProductKind } from './curvature.js';
import { increments } from './curve.js';
import { LIMITS } from '@hessweep/grid';
import { beyondFloat32, fitsFloat32 } from './data/limits.js';
import { DataError } from './data/types.js';
import { requireFinite } from './measurement.js';
import type { Architecture, Params } from './model.js';
import { Rng } from './random.js';
import { symmetricEigenvalues } from './spectral/eigen.js';
import { lanczosLockstep } from './spectral/lanczos.js';
import { gaussianMomentSeries, quadraticModelSeries } from './stabilization.js';
import { projectedSamples } from './stabilize.js';

/**
 * A fixed network on fixed data (`hessweep spectrum`): z = relu(…relu(x·W1)·W2…)·W_last, mean cross-entropy,
 * no biases; parameters flattened layer by layer, row-major.
 */
export interface Problem {
  arch: Architecture;
  params: Params;
  x: Float32Array;
  y: Int32Array;
  n: number;
}

/** Largest parameter count for which `--dense` assembles and diagonalises the full matrices. */
export const DENSE_LIMIT = 3000;

/**
 * Validates problem JSON (`{"layers": [W1, …], "x": [[…]], "y": […], "classes": K}`); errors name the file and the
 * field. Weights and inputs must be float32 numbers (beyond ±3.4e38 they would become ±Infinity), classes ≤ LIMITS.classes.
 */
export function parseProblem(json: unknown, path: string): Problem {
  const fail = (what: string): never => {
    throw new DataError(`${path}: ${what}`);
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('expected a JSON object with "layers", "x", "y" and "classes"');
  const { layers, x, y, classes } = json as Record<string, unknown>;
  const known = new Set(['layers', 'x', 'y', 'classes']);
  for (const key of Object.keys(json as object)) if (!known.has(key)) fail(`unknown key "${key}" (expected layers, x, y, classes)`);
  if (!Array.isArray(layers) || layers.length === 0) fail('"layers" must be a non-empty array of matrices');
  const sizes: number[] = [];
  const weights = (layers as unknown[]).map((w, p) => {
    const { rows, cols, values } = matrix(w, `layers[${p}]`, fail);
    if (p === 0) sizes.push(rows);
    else if (rows !== sizes[p]) fail(`layers[${p}] has ${rows} rows but layers[${p - 1}] has ${sizes[p]} columns`);
    sizes.push(cols);
    return values;
  });
  if (!Number.isInteger(classes) || (classes as number) < 2 || (classes as number) > LIMITS.classes) {
    fail(`"classes" must be an integer in [2, ${LIMITS.classes}], got ${JSON.stringify(classes)}`);
  }
  if (sizes[sizes.length - 1] !== classes) fail(`the last layer has ${sizes[sizes.length - 1]} outputs but "classes" is ${classes}`);
  const data = matrix(x, 'x', fail);
  if (data.cols !== sizes[0]) fail(`x rows have ${data.cols} features but layers[0] has ${sizes[0]} rows`);
  if (!Array.isArray(y) || y.length !== data.rows) fail(`"y" must be an array of ${data.rows} labels (one per row of x)`);
  const labels = Int32Array.from(y as unknown[], (v, i) => {
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) >= (classes as number)) fail(`y[${i}] must be an integer in [0, ${classes}), got ${JSON.stringify(v)}`);
    return v as number;
  });
  return { arch: { sizes, bias: false }, params: { weights, biases: null }, x: data.values, y: labels, n: data.rows };
}

function matrix(value: unknown, name: string, fail: (what: string) => never): { rows: number; cols: number; values: Float32Array } {
  if (!Array.isArray(value) || value.length === 0 || !Array.isArray(value[0])) fail(`${name} must be a non-empty array of rows`);
  const rows = (value as unknown[][]).length;
  const cols = (value as unknown[][])[0].length;
  if (cols === 0) fail(`${name}[0] is empty`);
  const values = new Float32Array(rows * cols);
  (value as unknown[]).forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== cols) fail(`${name}[${i}] must be an array of ${cols} numbers`);
    (row as unknown[]).forEach((v, j) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${name}[${i}][${j}] must be a finite number, got ${JSON.stringify(v)}`);
      if (!fitsFloat32(v as number)) fail(`${name}[${i}][${j}]: ${beyondFloat32(String(v))}`);
      values[i * cols + j] = v as number;
    });
  });
  return { rows, cols, values };
}

export interface SpectrumReport {
  n_params: number;
  hessian_top: number[];
  ggn_top: number[];
  hessian_trace: number;
  ggn_trace: number;
  hessian_residuals: number[];
  ggn_residuals: number[];
  lanczos_iters: number[];
  /** With `dense`: every eigenvalue, descending. */
  hessian_eigenvalues?: number[];
  ggn_eigenvalues?: number[];
  /** With `stabilization`, over k = 1..n − 1 in the file's sample order (value at k in index k − 1): |Δ_k(θ)|. */
  delta1?: number[];
  /** With `stabilization`: the Gaussian-moment closed form of the quadratic model of Δ_k in the top-D Ritz subspace at σ. */
  delta2_subspace_gm?: number[];
  /** With `stabilization`: the Hessian Ritz values whose vectors span that subspace, descending. */
  subspace_ritz_values?: number[];
}

/** The stabilization criteria of `spectrum`: the top-`subspace` Hessian Ritz subspace (1 ≤ D ≤ top-k, D ≤ parameters) at σ = `sigma` > 0. */
export interface SpectrumStabilization {
  subspace: number;
  sigma: number;
}

export interface SpectrumOptions {
  topK?: number;
  dense?: boolean;
  /** Seeds the Lanczos start vectors (standard normal entries, H's first): a fixed seed makes the run deterministic. */
  seed?: number;
  stabilization?: SpectrumStabilization;
}

/**
 * Top-k eigenvalues and traces of H and G at the problem's parameters. Lanczos runs to a tight residual
 * (1e-7 relative) since the problem is small; `dense` assembles both matrices from product columns
 * (symmetrised, float64 eigensolver) and reports exact traces from their diagonals. `stabilization` adds Δ1 and
 * the Gaussian-moment Δ2 in the top-D Ritz subspace of the Hessian Lanczos run, in the file's sample order
 * (`stabilizationInFileOrder`). Results that are not finite (the network's outputs or curvature overflow
 * float32) are a MeasurementError naming the first.
 */
export function spectrum(problem: Problem, { topK = 5, dense = false, seed = 0, stabilization }: SpectrumOptions = {}): SpectrumReport {
  const curvature = new Curvature(problem.arch, problem.params, problem);
  try {
    const dim = curvature.dim;
    if (dense && dim > DENSE_LIMIT) throw new DataError(`--dense needs at most ${DENSE_LIMIT} parameters, this problem has ${dim}`);
    const kinds: ProductKind[] = ['hessian', 'ggn'];
    const k = Math.min(topK, dim);
    const [h, g] = lanczosLockstep((vs, ps) => curvature.products(vs, ps.map((p) => kinds[p])), [dim, dim], {
      k,
      maxIters: Math.min(dim, Math.max(100, 10 * k)),
      tol: 1e-7,
      rng: new Rng(seed),
      vectors: [stabilization?.subspace ?? 0, 0],
    });
    const trace = curvature.exactTrace();
    const report: SpectrumReport = {
      n_params: dim,
      hessian_top: h.values,
      ggn_top: g.values,
      hessian_trace: trace,
      ggn_trace: trace,
      hessian_residuals: h.residuals,
      ggn_residuals: g.residuals,
      lanczos_iters: [h.iterations, g.iterations],
    };
    if (stabilization) Object.assign(report, stabilizationInFileOrder(curvature, h.vectors ?? [], h.values, stabilization.sigma));
    if (dense) {
      for (const kind of kinds) {
        const { values, trace: diagonal } = denseSpectrum(curvature, kind);
        const descending = Array.from(values).reverse();
        if (kind === 'hessian') {
          report.hessian_eigenvalues = descending;
          report.hessian_top = descending.slice(0, k);
          report.hessian_trace = diagonal;
        } else {
          report.ggn_eigenvalues = descending;
          report.ggn_top = descending.slice(0, k);
          report.ggn_trace = diagonal;
        }
      }
    }
    requireFinite({ ...report }, "the network's outputs or curvature overflow float32: try smaller weights or inputs");
    return report;
  } finally {
    curvature.dispose();
  }
}

/**
 * Δ1(k) = |Δ_k(θ)| and the Gaussian-moment closed form of E_z Δ_k(θ + U_D z)²'s quadratic model, z ~ N(0, σ² I_D),
 * for k = 1..n − 1 in the file's sample order (docs/stabilization.md), with U_D = `ritzVectors` (orthonormal, their
 * values in `ritzValues`, descending). Float64 from the float32 logits and projected derivatives.
 */
function stabilizationInFileOrder(
  curvature: Curvature,
  ritzVectors: Float64Array[],
  ritzValues: number[],
  sigma: number,
): Required<Pick<SpectrumReport, 'delta1' | 'delta2_subspace_gm' | 'subspace_ritz_values'>> {
  const samples = projectedSamples(curvature, ritzVectors);
  return {
    delta1: Array.from(increments(curvature.losses), Math.abs),
    delta2_subspace_gm: Array.from(gaussianMomentSeries(quadraticModelSeries(samples), sigma)),
    subspace_ritz_values: ritzValues.slice(0, ritzVectors.length),
  };
}

/** The operator as a dense matrix from its products with the unit vectors (64 columns per pass). */
function denseSpectrum(curvature: Curvature, kind: ProductKind): { values: Float64Array; trace: number } {
  const n = curvature.dim;
  const a = new Float64Array(n * n);
  for (let start = 0; start < n; start += 64) {
    const units = Array.from({ length: Math.min(64, n - start) }, (_, j) => {
      const e = new Float64Array(n);
      e[start + j] = 1;
      return e;
    });
    curvature.products(units, units.map(() => kind)).forEach((column, j) => {
      for (let i = 0; i < n; i++) a[i * n + start + j] = column[i];
    });
  }
  let trace = 0;
  for (let i = 0; i < n; i++) {
    trace += a[i * n + i];
    for (let j = 0; j < i; j++) a[i * n + j] = a[j * n + i] = (a[i * n + j] + a[j * n + i]) / 2;
  }
  return { values: symmetricEigenvalues(a, n), trace };
}
