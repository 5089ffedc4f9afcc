/**
 * Lanczos with full re-orthogonalisation for the top (largest algebraic) eigenvalues of a symmetric operator, in
 * float64. One process needs one operator product per step, so several independent processes can run in lockstep
 * and share each product pass (SLQ runs; the Hessian and Gauss–Newton operators that share a data pass).
 */
import type { Rng } from '../random.js';
import { tridiagonalEigen } from './eigen.js';
import type { LinearOperator } from './operator.js';

export interface LanczosSettings {
  /** How many of the largest eigenvalues to report (and to wait for). */
  k?: number;
  /** Step limit; a process never runs more than min(maxIters, dim) steps. */
  maxIters?: number;
  /**
   * Stop once every one of the top-k Ritz pairs has residual ‖A y − θ y‖ ≤ tol · max(1, ‖T‖₂), checked after every
   * step. tol = 0 runs until maxIters, dim or an invariant subspace (what SLQ wants).
   */
  tol?: number;
}

export interface LanczosOptions extends LanczosSettings {
  /** Start vector (normalised here); otherwise one is drawn from `rng` (standard normal entries). */
  start?: Float64Array;
  rng?: Rng;
  /** How many of the top Ritz vectors to return in `vectors` (≤ k); none by default. */
  vectors?: number;
}

export interface LockstepOptions extends LanczosSettings {
  /** One start vector per process; otherwise each is drawn from `rng`, process 0 first. */
  starts?: Float64Array[];
  rng?: Rng;
  /** Per process, how many of its top Ritz vectors to return (≤ k); none by default. */
  vectors?: readonly number[];
}

export interface LanczosResult {
  /** The min(k, iterations) largest Ritz values, descending. */
  values: number[];
  /** Residual norms |β_m · s_m,i| of the Ritz pairs in `values`: each θ lies within its residual of an eigenvalue. */
  residuals: number[];
  /** Lanczos steps taken (m): operator products spent on this process. */
  iterations: number;
  /** Whether the residual test passed (or an invariant subspace was found) before the step limit. */
  converged: boolean;
  /** Diagonal of the m × m tridiagonal T_m. */
  alpha: Float64Array;
  /** Off-diagonal of T_m (m − 1 entries); with `alpha` it is the input of SLQ. */
  beta: Float64Array;
  /**
   * Only when asked for: the top min(D, iterations) Ritz vectors y = Q_m s (orthonormal, in the order of
   * `values`), with ‖A y − θ y‖ = the matching residual. Each is dim float64s, formed once the run ends from the
   * basis the run keeps anyway for re-orthogonalisation; the basis itself is not kept.
   */
  vectors?: Float64Array[];
}

/**
 * Products for a batch of vectors: vectors[i] belongs to process processes[i]; returns A_{processes[i]} vectors[i].
 * The vectors are the processes' own basis vectors and must not be modified.
 */
export type BatchedApply = (vectors: Float64Array[], processes: number[]) => Float64Array[];

/** Top-k eigenvalues of `op` by Lanczos (PyHessian's defaults: maxIter = 100, tol = 1e-3). */
export function lanczos(
  op: LinearOperator,
  { k = 1, maxIters = 100, tol = 1e-3, start, rng, vectors }: LanczosOptions = {},
): LanczosResult {
  const starts = start === undefined ? undefined : [start];
  return lanczosLockstep((vs) => op.applyMany(vs), [op.dim], { k, maxIters, tol, starts, rng, vectors: vectors === undefined ? undefined : [vectors] })[0];
}

/**
 * Runs one independent Lanczos process per entry of `dims`. Each round gathers the next vector of every process
 * still running and makes a single `apply` call for all of them; each process stops on its own criteria.
 */
export function lanczosLockstep(
  apply: BatchedApply,
  dims: readonly number[],
  { k = 1, maxIters = 100, tol = 1e-3, starts, rng, vectors }: LockstepOptions = {},
): LanczosResult[] {
  if (starts !== undefined && starts.length !== dims.length) {
    throw new Error(`lanczos: ${dims.length} processes but ${starts.length} start vectors`);
  }
  if (vectors !== undefined && vectors.length !== dims.length) {
    throw new Error(`lanczos: ${dims.length} processes but ${vectors.length} Ritz vector counts`);
  }
  for (const count of vectors ?? []) {
    if (!Number.isInteger(count) || count < 0 || count > k) throw new Error(`lanczos: Ritz vectors asked for must be an integer in 0..k = ${k}, got ${count}`);
  }
  const processes = dims.map((dim, i) => {
    if (starts !== undefined) return new Process(starts[i], dim, maxIters);
    if (rng === undefined) throw new Error('lanczos: give start vectors or an rng');
    return new Process(Float64Array.from({ length: dim }, () => rng.normal()), dim, maxIters);
  });
  let running = processes.map((_, i) => i).filter((i) => !processes[i].done);
  while (running.length > 0) {
    const products = apply(running.map((i) => processes[i].current), running);
    if (products.length !== running.length) {
      throw new Error(`lanczos: apply returned ${products.length} products for ${running.length} vectors`);
    }
    running.forEach((i, r) => processes[i].step(products[r], k, tol));
    running = running.filter((i) => !processes[i].done);
  }
  return processes.map((p, i) => p.result(k, vectors?.[i] ?? 0));
}

/** Relative size of β below which the Krylov space is taken as invariant. */
const BREAKDOWN = 1e-12;

class Process {
  /** Orthonormal Lanczos vectors q_0..q_{m−1}, and q_m (the next one to multiply) while running. */
  private readonly basis: Float64Array[] = [];
  private readonly alpha: number[] = [];
  private readonly beta: number[] = [];
  /** Gershgorin bound on ‖T‖₂, the scale for the breakdown test. */
  private normBound = 0;
  private readonly limit: number;
  done = false;
  converged = false;

  constructor(
    start: Float64Array,
    private readonly dim: number,
    maxIters: number,
  ) {
    if (start.length !== dim) throw new Error(`lanczos: start vector of length ${start.length}, expected ${dim}`);
    const norm = Math.sqrt(dot(start, start));
    if (!(norm > 0) || !Number.isFinite(norm)) throw new Error('lanczos: start vector must be non-zero and finite');
    this.basis.push(Float64Array.from(start, (x) => x / norm));
    this.limit = Math.min(maxIters, dim);
    this.done = this.limit <= 0;
  }

  get current(): Float64Array {
    return this.basis[this.basis.length - 1];
  }

  /** Takes A q_m: orthogonalises a copy against the basis, extends T and checks for stopping. */
  step(product: Float64Array, k: number, tol: number): void {
    if (product.length !== this.dim) throw new Error(`lanczos: product of length ${product.length}, expected ${this.dim}`);
    // A copy, because the caller may hand back reused buffers (or, for A = I, the input itself).
    const w = Float64Array.from(product);
    const m = this.basis.length - 1;
    // Two passes of classical Gram–Schmidt against every basis vector; the coefficients on q_m add up to α_m
    // (those on q_{m−1} are β_{m−1}, and the rest would be zero in exact arithmetic).
    let a = 0;
    for (let pass = 0; pass < 2; pass++) {
      const coef = this.basis.map((q) => dot(q, w));
      a += coef[m];
      this.basis.forEach((q, i) => axpy(-coef[i], q, w));
    }
    const b = Math.sqrt(dot(w, w));
    this.alpha.push(a);
    this.normBound = Math.max(this.normBound, Math.abs(a) + b + (m > 0 ? this.beta[m - 1] : 0));
    const steps = m + 1;
    if (b <= BREAKDOWN * this.normBound) {
      // Invariant subspace: T_m's eigenvalues are exact eigenvalues of A.
      this.beta.push(0);
      this.done = true;
      this.converged = true;
      return;
    }
    this.beta.push(b);
    if (tol > 0 && steps >= Math.min(k, this.dim) && this.topResiduals(k, tol)) {
      this.done = true;
      this.converged = true;
      return;
    }
    if (steps >= this.limit) {
      this.done = true;
      return;
    }
    for (let i = 0; i < w.length; i++) w[i] /= b;
    this.basis.push(w);
  }

  private topResiduals(k: number, tol: number): boolean {
    const { residuals, normT } = this.ritz(k);
    return residuals.every((r) => r <= tol * Math.max(1, normT));
  }

  /** The top-k Ritz values (descending), their residuals, and ‖T_m‖₂. */
  private ritz(k: number): { values: number[]; residuals: number[]; normT: number } {
    const m = this.alpha.length;
    const eig = tridiagonalEigen(Float64Array.from(this.alpha), Float64Array.from(this.beta.slice(0, m - 1)));
    const bm = this.beta[m - 1];
    const values: number[] = [];
    const residuals: number[] = [];
    for (let j = m - 1; j >= m - Math.min(k, m); j--) {
      values.push(eig.values[j]);
      residuals.push(Math.abs(bm * eig.lastComponents[j]));
    }
    const normT = m === 0 ? 0 : Math.max(Math.abs(eig.values[0]), Math.abs(eig.values[m - 1]));
    return { values, residuals, normT };
  }

  result(k: number, vectors: number): LanczosResult {
    const m = this.alpha.length;
    const { values, residuals } = this.ritz(k);
    const alpha = Float64Array.from(this.alpha);
    const beta = Float64Array.from(this.beta.slice(0, m - 1));
    const result: LanczosResult = { values, residuals, iterations: m, converged: this.converged, alpha, beta };
    if (vectors > 0) result.vectors = this.ritzVectors(alpha, beta, Math.min(vectors, m));
    return result;
  }

  /** The top `count` Ritz vectors Q_m s_j, descending by Ritz value (the order of `ritz`). */
  private ritzVectors(alpha: Float64Array, beta: Float64Array, count: number): Float64Array[] {
    const m = alpha.length;
    // Row j of `vectors` is the unit eigenvector s_j of T_m for the j-th smallest value.
    const s = tridiagonalEigen(alpha, beta, { vectors: true }).vectors!;
    const out: Float64Array[] = [];
    for (let j = m - 1; j >= m - count; j--) {
      const y = new Float64Array(this.dim);
      for (let r = 0; r < m; r++) axpy(s[j * m + r], this.basis[r], y);
      out.push(y);
    }
    return out;
  }
}

function dot(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) y[i] += a * x[i];
}
