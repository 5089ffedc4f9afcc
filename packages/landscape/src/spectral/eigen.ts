/**
 * Dense symmetric eigenvalues (Householder tridiagonalisation + implicit QL) and the eigen-decomposition of a
 * symmetric tridiagonal matrix (implicit QL with Wilkinson shifts, after EISPACK tql2 / JAMA). All in float64;
 * eigenvalues come out accurate to about eps·‖A‖₂ in absolute terms.
 */

export interface TridiagonalEigen {
  /** Eigenvalues, ascending. */
  values: Float64Array;
  /** First component of each (unit) eigenvector, in the order of `values`: SLQ weights are their squares. */
  firstComponents: Float64Array;
  /** Last component of each eigenvector: Lanczos residuals are |β_m · last|. */
  lastComponents: Float64Array;
  /** Only when asked for: n × n row-major, row j is the unit eigenvector of values[j]. */
  vectors?: Float64Array;
}

/**
 * Eigen-decomposition of the symmetric tridiagonal matrix with diagonal `alpha` (n) and off-diagonal `beta`
 * (n − 1). Only the first and last rows of the eigenvector matrix are carried through the QL rotations
 * (O(n²) work in all) unless `vectors` is set (O(n³)).
 */
export function tridiagonalEigen(
  alpha: Float64Array,
  beta: Float64Array,
  { vectors = false }: { vectors?: boolean } = {},
): TridiagonalEigen {
  const n = alpha.length;
  if (n > 0 && beta.length !== n - 1) {
    throw new Error(`tridiagonalEigen: ${n} diagonal entries need ${n - 1} off-diagonal entries, got ${beta.length}`);
  }
  const d = Float64Array.from(alpha);
  const e = new Float64Array(n);
  e.set(beta.subarray(0, Math.max(0, n - 1)));
  // z holds the rows of the eigenvector matrix we track: all of them, or just the first and the last.
  const rows = vectors ? n : Math.min(n, 2);
  const z = new Float64Array(rows * n);
  if (vectors) for (let i = 0; i < n; i++) z[i * n + i] = 1;
  else if (n > 0) {
    z[0] = 1;
    z[(rows - 1) * n + n - 1] = 1;
  }
  implicitQl(d, e, z, rows);

  const order = ascendingOrder(d);
  const values = new Float64Array(n);
  const firstComponents = new Float64Array(n);
  const lastComponents = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    values[j] = d[order[j]];
    firstComponents[j] = z[order[j]];
    lastComponents[j] = z[(rows - 1) * n + order[j]];
  }
  if (!vectors) return { values, firstComponents, lastComponents };
  const v = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    for (let r = 0; r < n; r++) v[j * n + r] = z[r * n + order[j]];
  }
  return { values, firstComponents, lastComponents, vectors: v };
}

/**
 * Eigenvalues (ascending) of the row-major symmetric n × n matrix `a`; only its lower triangle is read and
 * `a` is left untouched. About 4/3·n³ flops.
 */
export function symmetricEigenvalues(a: Float64Array, n: number): Float64Array {
  if (a.length !== n * n) throw new Error(`symmetricEigenvalues: expected ${n}×${n} = ${n * n} entries, got ${a.length}`);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  householderTridiagonal(Float64Array.from(a), n, d, e);
  implicitQl(d, e, new Float64Array(0), 0);
  return d.sort();
}

/**
 * Reduces the lower triangle of `a` (overwritten) to tridiagonal form Qᵀ A Q by Householder reflections, writing
 * the diagonal to d and the sub-diagonal to e[0..n−2]. Q itself is not formed.
 *
 * Step k reflects rows/columns k+1..n−1 with H = I − τ u uᵀ (u_{k+1} = 1, as LAPACK's dlarfg) and updates the
 * trailing block as A ← A − u wᵀ − w uᵀ, w = p − (τ/2)(pᵀu) u, p = τ A u. For n in the thousands the matrix does not
 * fit in cache, so step k finishes step k−1's rank-2 update in the same row-by-row sweep of the lower triangle that
 * forms A u (only column k is brought up to date first, to build u): one pass over memory per step, every inner
 * loop contiguous.
 */
function householderTridiagonal(a: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
  // This step's reflector u and update vector w, and the previous step's, applied so far only up to its column.
  // All are indexed by global row; entries below the current block are stale and never read.
  let u = new Float64Array(n);
  let w = new Float64Array(n);
  let uPrev = new Float64Array(n);
  let wPrev = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    const upk = uPrev[k];
    const wpk = wPrev[k];
    for (let i = k; i < n; i++) a[i * n + k] -= uPrev[i] * wpk + wPrev[i] * upk;
    d[k] = a[k * n + k];

    const c0 = k + 1; // first row/column of the trailing block
    const x0 = a[c0 * n + k];
    let sigma = 0;
    for (let i = c0 + 1; i < n; i++) sigma += a[i * n + k] ** 2;
    let tau = 0;
    if (sigma === 0) {
      // Column already reduced: H = I, but the sweep below still finishes the previous update.
      e[k] = x0;
      u.fill(0, c0, n);
    } else {
      const norm = Math.sqrt(x0 * x0 + sigma);
      const beta = x0 <= 0 ? norm : -norm; // opposite sign to x0, so x0 − beta does not cancel
      tau = (beta - x0) / beta;
      const scale = 1 / (x0 - beta);
      u[c0] = 1;
      for (let i = c0 + 1; i < n; i++) u[i] = a[i * n + k] * scale;
      e[k] = beta;
    }

    // Row i of the lower triangle: finish the previous update, then add its part of A u — to w_i (row · u) and,
    // by symmetry, to w_j for j < i.
    w.fill(0, c0, n);
    for (let i = c0; i < n; i++) {
      const base = i * n;
      const ui = u[i];
      const upi = uPrev[i];
      const wpi = wPrev[i];
      // Two accumulators, so the sum's add latency does not serialise the loop.
      let acc0 = 0;
      let acc1 = 0;
      let j = c0;
      for (; j + 1 < i; j += 2) {
        const a0 = a[base + j] - (upi * wPrev[j] + wpi * uPrev[j]);
        const a1 = a[base + j + 1] - (upi * wPrev[j + 1] + wpi * uPrev[j + 1]);
        a[base + j] = a0;
        a[base + j + 1] = a1;
        acc0 += a0 * u[j];
        acc1 += a1 * u[j + 1];
        w[j] += a0 * ui;
        w[j + 1] += a1 * ui;
      }
      if (j < i) {
        const a0 = a[base + j] - (upi * wPrev[j] + wpi * uPrev[j]);
        a[base + j] = a0;
        acc0 += a0 * u[j];
        w[j] += a0 * ui;
      }
      const aii = a[base + i] - 2 * upi * wpi;
      a[base + i] = aii;
      w[i] += acc0 + acc1 + aii * ui;
    }
    let pu = 0;
    for (let i = c0; i < n; i++) {
      w[i] *= tau;
      pu += w[i] * u[i];
    }
    const half = 0.5 * tau * pu;
    for (let i = c0; i < n; i++) w[i] -= half * u[i];

    [u, uPrev] = [uPrev, u];
    [w, wPrev] = [wPrev, w];
  }
  // The last 2 × 2 block still owes the last step's update.
  for (let i = Math.max(0, n - 2); i < n; i++) {
    for (let j = Math.max(0, n - 2); j <= i; j++) a[i * n + j] -= uPrev[i] * wPrev[j] + wPrev[i] * uPrev[j];
  }
  if (n >= 2) {
    d[n - 2] = a[(n - 2) * n + n - 2];
    e[n - 2] = a[(n - 1) * n + n - 2];
  }
  if (n >= 1) d[n - 1] = a[(n - 1) * n + n - 1];
}

const EPS = 2 ** -52;
const MAX_SWEEPS_PER_VALUE = 60;

/**
 * Implicit QL with Wilkinson shifts on the tridiagonal (d, e[0..n−2]); d becomes the (unsorted) eigenvalues and e
 * is destroyed. The rotations are applied to the columns of the `rows` × n row-major matrix z, so z ← z·V where
 * V's columns are the eigenvectors. A port of EISPACK tql2 as in JAMA.
 */
function implicitQl(d: Float64Array, e: Float64Array, z: Float64Array, rows: number): void {
  const n = d.length;
  if (n === 0) return;
  e[n - 1] = 0;
  let shift = 0;
  let tst1 = 0;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > EPS * tst1) m++;
    let sweeps = 0;
    while (m > l) {
      if (++sweeps > MAX_SWEEPS_PER_VALUE) throw new Error('tridiagonal QL did not converge (non-finite input?)');
      // Shift by the eigenvalue of the leading 2 × 2 block nearer d[l].
      let g = d[l];
      let p = (d[l + 1] - g) / (2 * e[l]);
      let r = Math.hypot(p, 1);
      if (p < 0) r = -r;
      d[l] = e[l] / (p + r);
      d[l + 1] = e[l] * (p + r);
      const dl1 = d[l + 1];
      let h = g - d[l];
      for (let i = l + 2; i < n; i++) d[i] -= h;
      shift += h;

      // Chase the bulge from m up to l with Givens rotations.
      p = d[m];
      let c = 1;
      let c2 = 1;
      let c3 = 1;
      const el1 = e[l + 1];
      let s = 0;
      let s2 = 0;
      for (let i = m - 1; i >= l; i--) {
        c3 = c2;
        c2 = c;
        s2 = s;
        g = c * e[i];
        h = c * p;
        r = Math.hypot(p, e[i]);
        e[i + 1] = s * r;
        s = e[i] / r;
        c = p / r;
        p = c * d[i] - s * g;
        d[i + 1] = h + s * (c * g + s * d[i]);
        for (let k = 0; k < rows; k++) {
          const at = k * n + i;
          const zi1 = z[at + 1];
          z[at + 1] = s * z[at] + c * zi1;
          z[at] = c * z[at] - s * zi1;
        }
      }
      p = (-s * s2 * c3 * el1 * e[l]) / dl1;
      e[l] = s * p;
      d[l] = c * p;
      if (Math.abs(e[l]) <= EPS * tst1) break;
    }
    d[l] += shift;
    e[l] = 0;
  }
}

function ascendingOrder(values: Float64Array): Int32Array {
  const order = Int32Array.from({ length: values.length }, (_, i) => i);
  return order.sort((i, j) => values[i] - values[j]);
}
