/**
 * An independent float64 implementation for tests: one sample at a time, plain loops, no tfjs.
 * Layer p: z = a·W_p (+ b_p), ReLU between layers; loss = mean cross-entropy.
 */
import { paramOffsets, type Architecture } from '../src/model.js';

export interface Problem64 {
  arch: Architecture;
  x: Float64Array; // m × sizes[0]
  y: Int32Array;
  m: number;
}

interface Pass {
  acts: Float64Array[]; // a_0 … a_{L−1}
  masks: Uint8Array[]; // mask of a_p (index 0 unused)
  logits: Float64Array;
}

function layerParams(arch: Architecture, theta: Float64Array, p: number) {
  const o = paramOffsets(arch)[p];
  return { w: theta.subarray(o.weight, o.weight + arch.sizes[p] * arch.sizes[p + 1]), b: arch.bias ? theta.subarray(o.bias, o.bias + arch.sizes[p + 1]) : null };
}

/** Forward pass for sample i; with `frozen`, ReLU masks are taken from it instead of the signs. */
export function forward(pb: Problem64, theta: Float64Array, i: number, frozen?: Uint8Array[]): Pass {
  const { sizes } = pb.arch;
  const L = sizes.length - 1;
  let a = pb.x.slice(i * sizes[0], (i + 1) * sizes[0]);
  const acts: Float64Array[] = [];
  const masks: Uint8Array[] = [new Uint8Array(0)];
  for (let p = 0; p < L; p++) {
    acts.push(a);
    const { w, b } = layerParams(pb.arch, theta, p);
    const z = new Float64Array(sizes[p + 1]);
    for (let c = 0; c < sizes[p + 1]; c++) {
      let s = b ? b[c] : 0;
      for (let r = 0; r < sizes[p]; r++) s += a[r] * w[r * sizes[p + 1] + c];
      z[c] = s;
    }
    if (p === L - 1) return { acts, masks, logits: z };
    const mask = frozen ? frozen[p + 1] : Uint8Array.from(z, (v) => (v > 0 ? 1 : 0));
    masks.push(mask);
    a = Float64Array.from(z, (v, c) => v * mask[c]);
  }
  throw new Error('unreachable');
}

export function softmax(z: Float64Array): Float64Array {
  const max = Math.max(...z);
  const e = Float64Array.from(z, (v) => Math.exp(v - max));
  const s = e.reduce((u, v) => u + v, 0);
  return e.map((v) => v / s);
}

/** Cross-entropy of sample i (log-sum-exp form); with `frozen`, its ReLU masks are held fixed. */
export function sampleLoss(pb: Problem64, theta: Float64Array, i: number, frozen?: Uint8Array[]): number {
  const z = forward(pb, theta, i, frozen).logits;
  const max = Math.max(...z);
  let sum = 0;
  for (const v of z) sum += Math.exp(v - max);
  return Math.log(sum) + max - z[pb.y[i]];
}

export function meanLoss(pb: Problem64, theta: Float64Array): number {
  let total = 0;
  for (let i = 0; i < pb.m; i++) total += -Math.log(softmax(forward(pb, theta, i).logits)[pb.y[i]]);
  return total / pb.m;
}

/** Backpropagates dL/dz_{L−1} = g through sample i's pass, accumulating (scale ×) the parameter gradient. */
function backprop(pb: Problem64, theta: Float64Array, pass: Pass, g: Float64Array, out: Float64Array, scale: number): void {
  const { sizes } = pb.arch;
  const offsets = paramOffsets(pb.arch);
  let delta = g;
  for (let p = sizes.length - 2; p >= 0; p--) {
    const { w } = layerParams(pb.arch, theta, p);
    const a = pass.acts[p];
    for (let r = 0; r < sizes[p]; r++) for (let c = 0; c < sizes[p + 1]; c++) out[offsets[p].weight + r * sizes[p + 1] + c] += scale * a[r] * delta[c];
    if (pb.arch.bias) for (let c = 0; c < sizes[p + 1]; c++) out[offsets[p].bias + c] += scale * delta[c];
    if (p === 0) break;
    const next = new Float64Array(sizes[p]);
    for (let r = 0; r < sizes[p]; r++) {
      let s = 0;
      for (let c = 0; c < sizes[p + 1]; c++) s += w[r * sizes[p + 1] + c] * delta[c];
      next[r] = s * pass.masks[p][r];
    }
    delta = next;
  }
}

/** ∇ mean loss; with `frozenMasks[i]`, each sample's ReLU pattern is held fixed (a polynomial in θ). */
export function gradient(pb: Problem64, theta: Float64Array, frozenMasks?: Uint8Array[][]): Float64Array {
  const out = new Float64Array(theta.length);
  for (let i = 0; i < pb.m; i++) {
    const pass = forward(pb, theta, i, frozenMasks?.[i]);
    const g = softmax(pass.logits);
    g[pb.y[i]] -= 1;
    backprop(pb, theta, pass, g, out, 1 / pb.m);
  }
  return out;
}

export function masksAt(pb: Problem64, theta: Float64Array): Uint8Array[][] {
  return Array.from({ length: pb.m }, (_, i) => forward(pb, theta, i).masks);
}

/** Logit Jacobian of sample i, K × P row-major, one backprop per logit. */
export function logitJacobian(pb: Problem64, theta: Float64Array, i: number): Float64Array[] {
  const pass = forward(pb, theta, i);
  const K = pass.logits.length;
  return Array.from({ length: K }, (_, k) => {
    const row = new Float64Array(theta.length);
    const e = new Float64Array(K);
    e[k] = 1;
    backprop(pb, theta, pass, e, row, 1);
    return row;
  });
}

/** G·v = (1/m) Σ Jᵢᵀ Aᵢ Jᵢ v with explicit Jacobians. */
export function ggnProductFromJacobians(pb: Problem64, theta: Float64Array, v: Float64Array): Float64Array {
  const out = new Float64Array(theta.length);
  for (let i = 0; i < pb.m; i++) {
    const J = logitJacobian(pb, theta, i);
    const p = softmax(forward(pb, theta, i).logits);
    const jv = J.map((row) => row.reduce((s, r, t) => s + r * v[t], 0));
    const pjv = p.reduce((s, pk, k) => s + pk * jv[k], 0);
    const ajv = jv.map((u, k) => p[k] * u - p[k] * pjv);
    for (let k = 0; k < J.length; k++) for (let t = 0; t < theta.length; t++) out[t] += (J[k][t] * ajv[k]) / pb.m;
  }
  return out;
}

/** H·v by central differences of frozen-mask gradients (exact up to O(ε²) for piecewise-polynomial nets). */
export function hvpByDifferences(pb: Problem64, theta: Float64Array, v: Float64Array, eps = 1e-5): Float64Array {
  const masks = masksAt(pb, theta);
  const plus = gradient(pb, theta.map((t, j) => t + eps * v[j]), masks);
  const minus = gradient(pb, theta.map((t, j) => t - eps * v[j]), masks);
  return plus.map((g, j) => (g - minus[j]) / (2 * eps));
}

/** H·v by a per-sample float64 R-operator (Pearlmutter), plain loops. */
export function hvpReference(pb: Problem64, theta: Float64Array, v: Float64Array): Float64Array {
  const { sizes } = pb.arch;
  const L = sizes.length - 1;
  const offsets = paramOffsets(pb.arch);
  const out = new Float64Array(theta.length);
  for (let i = 0; i < pb.m; i++) {
    const pass = forward(pb, theta, i);
    // Forward R-pass.
    const rActs: Float64Array[] = [new Float64Array(sizes[0])];
    let rz = new Float64Array(0);
    for (let p = 0; p < L; p++) {
      const { w } = layerParams(pb.arch, theta, p);
      const { w: vw, b: vb } = layerParams(pb.arch, v, p);
      rz = new Float64Array(sizes[p + 1]);
      for (let c = 0; c < sizes[p + 1]; c++) {
        let s = vb ? vb[c] : 0;
        for (let r = 0; r < sizes[p]; r++) s += rActs[p][r] * w[r * sizes[p + 1] + c] + pass.acts[p][r] * vw[r * sizes[p + 1] + c];
        rz[c] = s;
      }
      if (p < L - 1) rActs.push(Float64Array.from(rz, (u, c) => u * pass.masks[p + 1][c]));
    }
    const prob = softmax(pass.logits);
    let delta = prob.slice();
    delta[pb.y[i]] -= 1;
    const prz = prob.reduce((s, pk, k) => s + pk * rz[k], 0);
    let rDelta = prob.map((pk, k) => pk * rz[k] - pk * prz);
    // Backward R-pass.
    for (let p = L - 1; p >= 0; p--) {
      const { w } = layerParams(pb.arch, theta, p);
      const { w: vw } = layerParams(pb.arch, v, p);
      for (let r = 0; r < sizes[p]; r++) {
        for (let c = 0; c < sizes[p + 1]; c++) {
          out[offsets[p].weight + r * sizes[p + 1] + c] += (pass.acts[p][r] * rDelta[c] + rActs[p][r] * delta[c]) / pb.m;
        }
      }
      if (pb.arch.bias) for (let c = 0; c < sizes[p + 1]; c++) out[offsets[p].bias + c] += rDelta[c] / pb.m;
      if (p === 0) break;
      const nextDelta = new Float64Array(sizes[p]);
      const nextRDelta = new Float64Array(sizes[p]);
      for (let r = 0; r < sizes[p]; r++) {
        let s = 0;
        let rs = 0;
        for (let c = 0; c < sizes[p + 1]; c++) {
          s += w[r * sizes[p + 1] + c] * delta[c];
          rs += w[r * sizes[p + 1] + c] * rDelta[c] + vw[r * sizes[p + 1] + c] * delta[c];
        }
        nextDelta[r] = s * pass.masks[p][r];
        nextRDelta[r] = rs * pass.masks[p][r];
      }
      delta = nextDelta;
      rDelta = nextRDelta;
    }
  }
  return out;
}

/** θ + Σ ε·u over `steps`. */
function shifted(theta: Float64Array, steps: [number, Float64Array][]): Float64Array {
  return theta.map((t, k) => steps.reduce((s, [eps, u]) => s + eps * u[k], t));
}

/**
 * Per-sample projected derivatives by float64 central differences of each sample's loss with its ReLU masks
 * frozen at θ: gradients[i·D + j] ≈ ∇ℓ_iᵀu_j (along u_j) and hessians[(i·D + j)·D + l] ≈ u_jᵀ∇²ℓ_i u_l (the
 * mixed second difference along u_j, u_l). With h = 1e-4 the truncation error is O(h²) ≈ 1e-8 and the rounding
 * error ≈ 1e-16/h² ≈ 1e-8 of the loss's scale.
 */
export function projectedByDifferences(
  pb: Problem64,
  theta: Float64Array,
  directions: Float64Array[],
  h = 1e-4,
): { directions: number; gradients: Float64Array; hessians: Float64Array } {
  const D = directions.length;
  const masks = masksAt(pb, theta);
  const loss = (i: number, steps: [number, Float64Array][]) => sampleLoss(pb, shifted(theta, steps), i, masks[i]);
  const gradients = new Float64Array(pb.m * D);
  const hessians = new Float64Array(pb.m * D * D);
  for (let i = 0; i < pb.m; i++) {
    for (let j = 0; j < D; j++) {
      const u = directions[j];
      gradients[i * D + j] = (loss(i, [[h, u]]) - loss(i, [[-h, u]])) / (2 * h);
      for (let l = 0; l < D; l++) {
        const v = directions[l];
        const mixed = loss(i, [[h, u], [h, v]]) - loss(i, [[h, u], [-h, v]]) - loss(i, [[-h, u], [h, v]]) + loss(i, [[-h, u], [-h, v]]);
        hessians[(i * D + j) * D + l] = mixed / (4 * h * h);
      }
    }
  }
  return { directions: D, gradients, hessians };
}
