import { PRODUCT_PASS_FLOATS } from '@hessweep/grid';
import { tf } from './backend.js';
import { layerCount, paramCount, paramOffsets, type Architecture, type Params } from './model.js';
import type { Dataset } from './data/types.js';
import type { LinearOperator } from './spectral/operator.js';

export type ProductKind = 'hessian' | 'ggn';


/**
 * The network and its data frozen at θ̂ on the tfjs backend, with the forward and backward passes over all
 * samples cached: the state from which exact Hessian- and Gauss-Newton-vector products, the gradient, the
 * per-sample losses and the exact trace are computed. Loss = mean cross-entropy over the samples.
 *
 * Notation (layer p = 0..L−1): a_0 = X, z_p = a_p·W_p (+ b_p), a_{p+1} = relu(z_p), logits z_{L−1};
 * δ_p = ∂loss/∂z_p. Precision: float32 products (≈1e-6 relative), host reductions in float64.
 */
export class Curvature {
  readonly dim: number;
  readonly samples: number;
  /** Per-sample cross-entropy at θ̂ (float64 from float32 logits). */
  readonly losses: Float64Array;
  /** Fraction of samples whose arg-max logit is the label. */
  readonly accuracy: number;
  private readonly layers: number;
  private readonly sizes: number[];
  private readonly offsets: { weight: number; bias: number }[];
  private readonly tensors: tf.Tensor[] = [];
  private readonly weights: tf.Tensor2D[] = [];
  private readonly weightsT: tf.Tensor2D[] = [];
  /** a_p and a_pᵀ for p = 0..L−1 (a_0 = X). */
  private readonly acts: tf.Tensor2D[] = [];
  private readonly actsT: tf.Tensor2D[] = [];
  /** ReLU masks of a_p for p ≥ 1, shaped [m, 1, n_p] to broadcast over directions. */
  private readonly masks: tf.Tensor3D[] = [];
  /** δ_p and δ_pᵀ. */
  private readonly deltas: tf.Tensor2D[] = [];
  private readonly deltasT: tf.Tensor2D[] = [];
  /** Softmax probabilities [m, 1, K]. */
  private readonly probs: tf.Tensor3D;
  /** Probabilities divided by m, the scale of the mean loss's output curvature. */
  private readonly probsOverM: tf.Tensor3D;

  constructor(
    readonly arch: Architecture,
    params: Params,
    data: Pick<Dataset, 'x' | 'y' | 'n'>,
  ) {
    this.layers = layerCount(arch);
    this.sizes = arch.sizes;
    this.offsets = paramOffsets(arch);
    this.dim = paramCount(arch);
    this.samples = data.n;
    const m = data.n;
    const classes = this.sizes[this.layers];
    const keep = <T extends tf.Tensor>(t: T): T => {
      this.tensors.push(t);
      return t;
    };
    for (let p = 0; p < this.layers; p++) {
      const w = keep(tf.tensor2d(params.weights[p], [this.sizes[p], this.sizes[p + 1]]));
      this.weights.push(w);
      this.weightsT.push(keep(tf.transpose(w)));
    }
    const biases = params.biases?.map((b) => keep(tf.tensor1d(b)));
    const x = keep(tf.tensor2d(data.x.subarray(0, m * this.sizes[0]), [m, this.sizes[0]]));
    let a = x;
    let logits: tf.Tensor2D | undefined;
    for (let p = 0; p < this.layers; p++) {
      this.acts.push(a);
      this.actsT.push(keep(tf.transpose(a)));
      if (p > 0) this.masks[p] = keep(tf.tidy(() => tf.reshape(tf.step(a), [m, 1, this.sizes[p]]) as tf.Tensor3D));
      const z = tf.fused.matMul({ a, b: this.weights[p], bias: biases?.[p], activation: p < this.layers - 1 ? 'relu' : 'linear' }) as tf.Tensor2D;
      if (p < this.layers - 1) a = keep(z);
      else logits = z;
    }
    const logitsHost = logits!.dataSync() as Float32Array;
    logits!.dispose();

    // Losses, probabilities and δ_{L−1} = (softmax − onehot)/m on the host in float64.
    this.losses = new Float64Array(m);
    const probs = new Float32Array(m * classes);
    const outDelta = new Float32Array(m * classes);
    let correct = 0;
    for (let i = 0; i < m; i++) {
      const row = i * classes;
      let max = -Infinity;
      let argmax = 0;
      for (let c = 0; c < classes; c++) {
        if (logitsHost[row + c] > max) {
          max = logitsHost[row + c];
          argmax = c;
        }
      }
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(logitsHost[row + c] - max);
      const label = data.y[i];
      this.losses[i] = Math.log(sum) + max - logitsHost[row + label];
      if (argmax === label) correct++;
      for (let c = 0; c < classes; c++) {
        const pc = Math.exp(logitsHost[row + c] - max) / sum;
        probs[row + c] = pc;
        outDelta[row + c] = (pc - (c === label ? 1 : 0)) / m;
      }
    }
    this.accuracy = correct / m;
    this.probs = keep(tf.tensor3d(probs, [m, 1, classes]));
    this.probsOverM = keep(tf.tidy(() => tf.mul(this.probs, 1 / m)));

    const deltas: tf.Tensor2D[] = new Array(this.layers);
    deltas[this.layers - 1] = keep(tf.tensor2d(outDelta, [m, classes]));
    for (let p = this.layers - 1; p > 0; p--) {
      deltas[p - 1] = keep(
        tf.tidy(() => tf.reshape(tf.mul(tf.reshape(tf.matMul(deltas[p], this.weightsT[p]), [m, 1, this.sizes[p]]), this.masks[p]), [m, this.sizes[p]]) as tf.Tensor2D),
      );
    }
    this.deltas.push(...deltas);
    this.deltasT.push(...deltas.map((d) => keep(tf.transpose(d))));
  }

  /** Mean training loss (float64 sum of the per-sample losses). */
  meanLoss(): number {
    let sum = 0;
    for (const l of this.losses) sum += l;
    return sum / this.samples;
  }

  /** ∇loss at θ̂, flattened as the parameters (W1, b1, W2, …). */
  gradient(): Float64Array {
    const out = new Float64Array(this.dim);
    tf.tidy(() => {
      for (let p = 0; p < this.layers; p++) {
        out.set(tf.matMul(this.actsT[p], this.deltas[p]).dataSync(), this.offsets[p].weight);
        if (this.arch.bias) out.set(tf.sum(this.deltas[p], 0).dataSync(), this.offsets[p].bias);
      }
    });
    return out;
  }

  /**
   * Exact products H·v or G·v (G = Σ Jᵢᵀ Aᵢ Jᵢ / m, A = diag(p) − ppᵀ) for several directions in one pass
   * over the data, by Pearlmutter's R-operator: the forward R-pass (Jv) is shared; the Hessian adds the
   * second-order terms (∂a/∂θ)ᵀ·δ and δ·Vᵀ that the Gauss-Newton product drops.
   */
  products(vectors: Float64Array[], kinds: ProductKind[]): Float64Array[] {
    if (vectors.length !== kinds.length) throw new Error('products: one kind per vector');
    const widest = Math.max(...this.sizes);
    // At most PRODUCT_PASS_FLOATS floats in one [samples, directions × width] tensor, so that a pass stays in memory.
    const perPass = Math.max(1, Math.floor(PRODUCT_PASS_FLOATS / (this.samples * widest)));
    const out: Float64Array[] = [];
    for (let start = 0; start < vectors.length; start += perPass) {
      out.push(...this.productPass(vectors.slice(start, start + perPass), kinds.slice(start, start + perPass)));
    }
    return out;
  }

  operator(kind: ProductKind): LinearOperator {
    return { dim: this.dim, applyMany: (vs) => this.products(vs, vs.map(() => kind)) };
  }

  private productPass(vectors: Float64Array[], kinds: ProductKind[]): Float64Array[] {
    const k = vectors.length;
    const m = this.samples;
    const L = this.layers;
    const n = this.sizes;
    const second = kinds.map((kind) => kind === 'hessian');
    const anySecond = second.some(Boolean);
    const results = vectors.map(() => new Float64Array(this.dim));
    tf.tidy(() => {
      // Directions stacked side by side: V_p as [n_p, k·n_{p+1}], V_pᵀ as [n_{p+1}, k·n_p] (zero for GGN directions).
      const vStack: tf.Tensor2D[] = [];
      const vStackT: tf.Tensor2D[] = [];
      const cStack: tf.Tensor1D[] = [];
      for (let p = 0; p < L; p++) {
        const rows = n[p];
        const cols = n[p + 1];
        const stack = new Float32Array(rows * k * cols);
        const stackT = new Float32Array(cols * k * rows);
        const bias = new Float32Array(k * cols);
        const off = this.offsets[p];
        for (let j = 0; j < k; j++) {
          const v = vectors[j];
          for (let i = 0; i < rows; i++) {
            for (let c = 0; c < cols; c++) {
              const value = v[off.weight + i * cols + c];
              stack[i * k * cols + j * cols + c] = value;
              if (second[j]) stackT[c * k * rows + j * rows + i] = value;
            }
          }
          if (this.arch.bias) for (let c = 0; c < cols; c++) bias[j * cols + c] = v[off.bias + c];
        }
        vStack.push(tf.tensor2d(stack, [rows, k * cols]));
        vStackT.push(tf.tensor2d(stackT, [cols, k * rows]));
        cStack.push(tf.tensor1d(bias));
      }

      // Forward R-pass: Rz_p = Ra_p·W_p + a_p·V_p (+ c_p), Ra_{p+1} = mask ⊙ Rz_p. Each step in its own
      // scope, so a pass holds a few [m, k·n] tensors at a time instead of every intermediate.
      const rActs: tf.Tensor2D[] = [];
      let rz = tf.tidy(() => (this.arch.bias ? tf.add(tf.matMul(this.acts[0], vStack[0]), cStack[0]) : tf.matMul(this.acts[0], vStack[0])) as tf.Tensor2D);
      for (let p = 1; p < L; p++) {
        const previous = rz;
        const ra = tf.tidy(() => tf.reshape(tf.mul(tf.reshape(previous, [m, k, n[p]]), this.masks[p]), [m, k * n[p]]) as tf.Tensor2D);
        rActs[p] = ra;
        rz = tf.tidy(() => {
          const z = tf.add(tf.reshape(tf.matMul(tf.reshape(ra, [m * k, n[p]]), this.weights[p]), [m, k * n[p + 1]]), tf.matMul(this.acts[p], vStack[p]));
          return (this.arch.bias ? tf.add(z, cStack[p]) : z) as tf.Tensor2D;
        });
        previous.dispose();
      }
      // R(δ_{L−1}) = A·Rz / m per sample, A = diag(p) − ppᵀ.
      const logits = rz;
      let rDelta = tf.tidy(() => {
        const rzOut = tf.reshape(logits, [m, k, n[L]]);
        const centred = tf.sub(rzOut, tf.sum(tf.mul(rzOut, this.probs), -1, true));
        return tf.reshape(tf.mul(centred, this.probsOverM), [m, k * n[L]]) as tf.Tensor2D;
      });
      logits.dispose();

      for (let p = L - 1; p >= 0; p--) {
        const cols = n[p + 1];
        const rows = n[p];
        const base = this.offsets[p].weight;
        // a_pᵀ·Rδ_p: [rows, k·cols], direction j in columns j·cols…
        const direct = readAndDispose(tf.matMul(this.actsT[p], rDelta));
        for (let j = 0; j < k; j++) {
          const r = results[j];
          for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) r[base + i * cols + c] = direct[i * k * cols + j * cols + c];
        }
        if (p > 0 && anySecond) {
          // (Ra_p)ᵀ·δ_p, computed transposed as δ_pᵀ·Ra_p: [cols, k·rows].
          const cross = readAndDispose(tf.matMul(this.deltasT[p], rActs[p]));
          for (let j = 0; j < k; j++) {
            if (!second[j]) continue;
            const r = results[j];
            for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) r[base + i * cols + c] += cross[c * k * rows + j * rows + i];
          }
        }
        rActs[p]?.dispose();
        if (this.arch.bias) {
          const sums = readAndDispose(tf.sum(rDelta, 0));
          for (let j = 0; j < k; j++) for (let c = 0; c < cols; c++) results[j][this.offsets[p].bias + c] = sums[j * cols + c];
        }
        if (p > 0) {
          // Rδ_{p−1} = mask ⊙ (Rδ_p·W_pᵀ + δ_p·V_pᵀ); the second term only for Hessian directions.
          const previous = rDelta;
          rDelta = tf.tidy(() => {
            let back = tf.reshape(tf.matMul(tf.reshape(previous, [m * k, cols]), this.weightsT[p]), [m, k * rows]) as tf.Tensor2D;
            if (anySecond) back = tf.add(back, tf.matMul(this.deltas[p], vStackT[p]));
            return tf.reshape(tf.mul(tf.reshape(back, [m, k, rows]), this.masks[p]), [m, k * rows]) as tf.Tensor2D;
          });
          previous.dispose();
        }
      }
      rDelta.dispose();
    });
    return results;
  }

  /**
   * Exact tr G = (1/m) Σᵢ tr(Aᵢ Jᵢ Jᵢᵀ), from per-sample logit-Jacobian Gram matrices:
   * Jᵢ Jᵢᵀ = Σ_p (‖a_p,i‖² + [bias]) B_p,i B_p,iᵀ with B_p = ∂z_{L−1}/∂z_p, and
   * tr(A B Bᵀ) = Σ_k p_k ‖B_k‖² − ‖pᵀB‖². For ReLU networks every parameter enters the logits linearly
   * (a.e.), so the Hessian's diagonal equals the GGN's and tr H = tr G exactly.
   */
  exactTrace(): number {
    const m = this.samples;
    const L = this.layers;
    const n = this.sizes;
    const classes = n[L];
    const bias = this.arch.bias ? 1 : 0;
    const probs2 = tf.reshape(this.probs, [m, classes]);
    const inputNorm = (p: number) => tf.add(tf.sum(tf.square(this.acts[p]), 1), bias);
    // Output layer: B = I, so the bracket is 1 − ‖p‖². Each layer in its own scope: B is [m, K, n].
    let total = tf.tidy(() => tf.mul(inputNorm(L - 1), tf.sub(1, tf.sum(tf.square(probs2), 1))));
    if (L >= 2) {
      // B_{L−2} = W_{L−1}ᵀ ⊙ mask, per sample.
      let b = tf.tidy(() => tf.mul(tf.expandDims(this.weightsT[L - 1], 0), this.masks[L - 1]) as tf.Tensor3D);
      for (let p = L - 2; p >= 0; p--) {
        const previousTotal = total;
        const current = b;
        total = tf.tidy(() => {
          const rowNorms = tf.sum(tf.square(current), -1);
          const pB = tf.matMul(this.probs, current);
          const bracket = tf.sub(tf.sum(tf.mul(probs2, rowNorms), 1), tf.sum(tf.square(pB), [1, 2]));
          return tf.add(previousTotal, tf.mul(inputNorm(p), bracket));
        });
        previousTotal.dispose();
        if (p > 0) {
          b = tf.tidy(() => tf.mul(tf.reshape(tf.matMul(tf.reshape(current, [m * classes, n[p + 1]]), this.weightsT[p]), [m, classes, n[p]]), this.masks[p]) as tf.Tensor3D);
          current.dispose();
        }
      }
      b.dispose();
    }
    probs2.dispose();
    const values = readAndDispose(total);
    let sum = 0;
    for (const v of values) sum += v;
    return sum / m;
  }

  /** Largest ‖x_i‖₂ over the samples (M_x of Theorem 1). */
  maxInputNorm(): number {
    const norms = tf.tidy(() => tf.max(tf.sum(tf.square(this.acts[0]), 1)).dataSync()[0]);
    return Math.sqrt(norms);
  }

  dispose(): void {
    for (const t of this.tensors) t.dispose();
    this.tensors.length = 0;
  }
}

/** Copies a tensor's values to the host and frees it. */
function readAndDispose(t: tf.Tensor): Float32Array {
  const values = t.dataSync() as Float32Array;
  t.dispose();
  return values;
}
