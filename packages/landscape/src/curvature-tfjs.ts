import { PRODUCT_PASS_FLOATS } from '@hessweep/grid';
import { tf } from './backend.js';
import { layerCount, paramCount, paramOffsets, type Architecture, type Params } from './model.js';
import type { ProductKind } from './curvature.js';
import type { CurvatureEngine } from './curvature-engine.js';

/**
 * The network frozen at θ̂ as tfjs tensors, with the forward and backward passes over all samples cached: the
 * engine of `Curvature` on the `tensorflow` backend, where a GPU runs the products (and, when asked for, on
 * any backend). Products stack several directions side by side per pass. Precision: float32 products.
 */
export class TfjsCurvature implements CurvatureEngine {
  readonly logitsAtTheta: Float32Array;
  private readonly dim: number;
  private readonly layers: number;
  private readonly sizes: number[];
  private readonly samples: number;
  private readonly offsets: { weight: number; bias: number }[];
  private readonly tensors: tf.Tensor[] = [];
  private readonly weights: tf.Tensor2D[] = [];
  private readonly biases: tf.Tensor1D[] | undefined;
  private readonly weightsT: tf.Tensor2D[] = [];
  /** a_p and a_pᵀ for p = 0..L−1 (a_0 = X). */
  private readonly acts: tf.Tensor2D[] = [];
  private readonly actsT: tf.Tensor2D[] = [];
  /** ReLU masks of a_p for p ≥ 1, shaped [m, 1, n_p] to broadcast over directions. */
  private readonly masks: tf.Tensor3D[] = [];
  /** δ_p and δ_pᵀ (set by `setBackward`). */
  private readonly deltas: tf.Tensor2D[] = [];
  private readonly deltasT: tf.Tensor2D[] = [];
  /** Softmax probabilities [m, 1, K], and divided by m (the mean loss's output curvature). */
  private probs: tf.Tensor3D | null = null;
  private probsOverM: tf.Tensor3D | null = null;

  constructor(
    private readonly arch: Architecture,
    params: Params,
    x: Float32Array,
  ) {
    this.layers = layerCount(arch);
    this.sizes = arch.sizes;
    this.offsets = paramOffsets(arch);
    this.dim = paramCount(arch);
    const m = x.length / this.sizes[0];
    this.samples = m;
    for (let p = 0; p < this.layers; p++) {
      const w = this.keep(tf.tensor2d(params.weights[p], [this.sizes[p], this.sizes[p + 1]]));
      this.weights.push(w);
      this.weightsT.push(this.keep(tf.transpose(w)));
    }
    this.biases = params.biases?.map((b) => this.keep(tf.tensor1d(b)));
    let a = this.keep(tf.tensor2d(x, [m, this.sizes[0]]));
    let logits: Float32Array | undefined;
    for (let p = 0; p < this.layers; p++) {
      this.acts.push(a);
      this.actsT.push(this.keep(tf.transpose(a)));
      if (p > 0) this.masks[p] = this.keep(tf.tidy(() => tf.reshape(tf.step(a), [m, 1, this.sizes[p]]) as tf.Tensor3D));
      const z = layerForward(a, this.weights[p], this.biases?.[p], p < this.layers - 1);
      if (p < this.layers - 1) a = this.keep(z);
      else logits = readAndDispose(z);
    }
    this.logitsAtTheta = logits!;
  }

  private keep<T extends tf.Tensor>(t: T): T {
    this.tensors.push(t);
    return t;
  }

  setBackward({ outputDelta, probs }: { outputDelta: Float32Array; probs: Float32Array }): void {
    const m = this.samples;
    const classes = this.sizes[this.layers];
    this.probs = this.keep(tf.tensor3d(probs, [m, 1, classes]));
    const probs3 = this.probs;
    this.probsOverM = this.keep(tf.tidy(() => tf.mul(probs3, 1 / m) as tf.Tensor3D));
    const deltas: tf.Tensor2D[] = new Array(this.layers);
    deltas[this.layers - 1] = this.keep(tf.tensor2d(outputDelta, [m, classes]));
    for (let p = this.layers - 1; p > 0; p--) {
      deltas[p - 1] = this.keep(
        tf.tidy(() => tf.reshape(tf.mul(tf.reshape(tf.matMul(deltas[p], this.weightsT[p]), [m, 1, this.sizes[p]]), this.masks[p]), [m, this.sizes[p]]) as tf.Tensor2D),
      );
    }
    this.deltas.push(...deltas);
    this.deltasT.push(...deltas.map((d) => this.keep(tf.transpose(d))));
  }

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

  /** Directions in passes of at most PRODUCT_PASS_FLOATS floats per [samples, directions × width] tensor. */
  products(vectors: Float64Array[], kinds: ProductKind[]): Float64Array[] {
    const widest = Math.max(...this.sizes);
    const perPass = Math.max(1, Math.floor(PRODUCT_PASS_FLOATS / (this.samples * widest)));
    const out: Float64Array[] = [];
    for (let start = 0; start < vectors.length; start += perPass) {
      out.push(...this.productPass(vectors.slice(start, start + perPass), kinds.slice(start, start + perPass)));
    }
    return out;
  }

  /**
   * Directions go in chunks that keep each [m, directions × width] tensor within `passFloats`; the pairs
   * across two chunks cost one more product per layer.
   */
  projectedTerms(directions: Float64Array[], passFloats: number): { tangents: Float32Array; second: Float32Array } {
    const D = directions.length;
    const m = this.samples;
    const L = this.layers;
    const n = this.sizes;
    const K = n[L];
    const perPass = Math.max(1, Math.floor(passFloats / (m * Math.max(...n.slice(1)))));
    const chunks: { start: number; count: number }[] = [];
    for (let start = 0; start < D; start += perPass) chunks.push({ start, count: Math.min(perPass, D - start) });
    const tangents = new Float64Array(m * D * K);
    // Σ_p δ_p·(da_p,j·dW_p,l) [i, j, l], summed over the layers in float64.
    const second = new Float64Array(m * D * D);
    tf.tidy(() => {
      // Per layer p ≥ 1 and chunk B: [dW_lᵀ] as [n_{p+1}, n_p·|B|], so that g_p·stack is [m, n_p, |B|].
      const adjoints = Array.from({ length: L }, (_, p) =>
        p === 0
          ? []
          : chunks.map(({ start, count }) =>
              tf.tensor2d(stackWeights(directions.slice(start, start + count), this.offsets[p].weight, n[p], n[p + 1], 'interleaved'), [n[p + 1], n[p] * count]),
            ),
      );
      for (const a of chunks) {
        tf.tidy(() => {
          const { weights, biases } = this.stackDirections(directions.slice(a.start, a.start + a.count));
          const logits = this.forwardTangents(weights, biases, a.count, (p, da) => {
            const daPerSample = tf.reshape(da, [m, a.count, n[p]]);
            chunks.forEach((b, c) => {
              const block = readAndDispose(tf.tidy(() => tf.matMul(daPerSample, tf.reshape(tf.matMul(this.deltas[p], adjoints[p][c]), [m, n[p], b.count]))));
              addBlock(second, D, D, block, a, b, 1);
            });
            daPerSample.dispose();
            return false;
          });
          addBlock(tangents, D, K, readAndDispose(logits), a, { start: 0, count: K }, 1);
        });
      }
    });
    return { tangents: Float32Array.from(tangents), second: Float32Array.from(second) };
  }


  logits(params: Float32Array): Float32Array {
    const n = this.sizes;
    return readAndDispose(
      tf.tidy(() => {
        let a = this.acts[0];
        for (let p = 0; p < this.layers; p++) {
          const off = this.offsets[p];
          const w = tf.tensor2d(params.subarray(off.weight, off.weight + n[p] * n[p + 1]), [n[p], n[p + 1]]);
          const b = this.arch.bias ? tf.tensor1d(params.subarray(off.bias, off.bias + n[p + 1])) : undefined;
          const next = layerForward(a, w, b, p < this.layers - 1);
          // Only this pass's own activations are freed as it goes; a_0 is the cached X.
          if (p > 0) a.dispose();
          a = next;
        }
        return a;
      }),
    );
  }

  dispose(): void {
    for (const t of this.tensors) t.dispose();
    this.tensors.length = 0;
  }

  /** Layer p of each vector stacked side by side: weights [n_p, k·n_{p+1}] and biases [k·n_{p+1}] (if any). */
  private stackDirections(vectors: Float64Array[]): { weights: tf.Tensor2D[]; biases: tf.Tensor1D[] | undefined } {
    const n = this.sizes;
    const k = vectors.length;
    const weights = this.offsets.map((off, p) => tf.tensor2d(stackWeights(vectors, off.weight, n[p], n[p + 1], 'side-by-side'), [n[p], k * n[p + 1]]));
    const biases = this.arch.bias
      ? this.offsets.map((off, p) => {
          const stack = new Float32Array(k * n[p + 1]);
          vectors.forEach((v, j) => stack.set(v.subarray(off.bias, off.bias + n[p + 1]), j * n[p + 1]));
          return tf.tensor1d(stack);
        })
      : undefined;
    return { weights, biases };
  }

  /**
   * Forward mode through the network frozen at θ̂, for k directions side by side: dz_0 = X·V_0 (+ c_0),
   * da_p = mask ⊙ dz_{p−1}, dz_p = da_p·W_p + a_p·V_p (+ c_p), as [m, k·n] tensors. `visit(p, da_p)` sees each
   * da_p (p ≥ 1) and returns whether it keeps it (and will dispose it); otherwise it is freed at once. Each step
   * runs in its own scope, so a pass holds a few [m, k·n] tensors at a time. Returns the logits' tangents.
   */
  private forwardTangents(vStack: tf.Tensor2D[], cStack: tf.Tensor1D[] | undefined, k: number, visit: (p: number, da: tf.Tensor2D) => boolean): tf.Tensor2D {
    const m = this.samples;
    const n = this.sizes;
    const withBias = (z: tf.Tensor2D, p: number) => (cStack ? (tf.add(z, cStack[p]) as tf.Tensor2D) : z);
    let dz = tf.tidy(() => withBias(tf.matMul(this.acts[0], vStack[0]), 0));
    for (let p = 1; p < this.layers; p++) {
      const previous = dz;
      const da = tf.tidy(() => tf.reshape(tf.mul(tf.reshape(previous, [m, k, n[p]]), this.masks[p]), [m, k * n[p]]) as tf.Tensor2D);
      previous.dispose();
      dz = tf.tidy(() => {
        const z = tf.add(tf.reshape(tf.matMul(tf.reshape(da, [m * k, n[p]]), this.weights[p]), [m, k * n[p + 1]]), tf.matMul(this.acts[p], vStack[p])) as tf.Tensor2D;
        return withBias(z, p);
      });
      if (!visit(p, da)) da.dispose();
    }
    return dz;
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
      const { weights: vStack, biases: cStack } = this.stackDirections(vectors);
      const vStackT = Array.from({ length: L }, (_, p) =>
        tf.tensor2d(stackWeights(vectors, this.offsets[p].weight, n[p], n[p + 1], 'transposed', second), [n[p + 1], k * n[p]]),
      );
      // Forward R-pass, keeping Ra_p for the backward pass's second-order term.
      const rActs: tf.Tensor2D[] = [];
      const logits = this.forwardTangents(vStack, cStack, k, (p, ra) => {
        rActs[p] = ra;
        return true;
      });
      // R(δ_{L−1}) = A·Rz / m per sample, A = diag(p) − ppᵀ.
      let rDelta = tf.tidy(() => {
        const rzOut = tf.reshape(logits, [m, k, n[L]]);
        const centred = tf.sub(rzOut, tf.sum(tf.mul(rzOut, this.probs!), -1, true));
        return tf.reshape(tf.mul(centred, this.probsOverM!), [m, k * n[L]]) as tf.Tensor2D;
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
   * tr(Aᵢ Jᵢ Jᵢᵀ) per sample, from per-sample logit-Jacobian Gram matrices:
   * Jᵢ Jᵢᵀ = Σ_p (‖a_p,i‖² + [bias]) B_p,i B_p,iᵀ with B_p = ∂z_{L−1}/∂z_p, and
   * tr(A B Bᵀ) = Σ_k p_k ‖B_k‖² − ‖pᵀB‖². For ReLU networks every parameter enters the logits linearly
   * (a.e.), so the Hessian's diagonal equals the GGN's and tr H = tr G exactly.
   */
  traceTerms(): Float32Array {
    const m = this.samples;
    const probs = this.probs!;
    const L = this.layers;
    const n = this.sizes;
    const classes = n[L];
    const bias = this.arch.bias ? 1 : 0;
    const probs2 = tf.reshape(probs, [m, classes]);
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
          const pB = tf.matMul(probs, current);
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
    return readAndDispose(total);
  }

}

/** z = a·W (+ b), through ReLU for hidden layers: tfjs's forward rule, of the cached pass and of `lossesAt` (the kernels have their own). */
function layerForward(a: tf.Tensor2D, w: tf.Tensor2D, bias: tf.Tensor1D | undefined, hidden: boolean): tf.Tensor2D {
  return tf.fused.matMul({ a, b: w, bias, activation: hidden ? 'relu' : 'linear' }) as tf.Tensor2D;
}

/**
 * Layer p's weight block (at `offset`, rows × cols) of each of k vectors, as float32 for one stacked product:
 * 'side-by-side' [rows, k·cols] with V_j in columns j·cols…, for a·[V_1 … V_k]; 'transposed' [cols, k·rows] with
 * V_jᵀ side by side; 'interleaved' [cols, rows·k] with V_j[i, c] at (c, i·k + j), so that g·stack reshapes to
 * [m, rows, k]. Vectors with include[j] false are left zero.
 */
function stackWeights(vectors: Float64Array[], offset: number, rows: number, cols: number, layout: 'side-by-side' | 'transposed' | 'interleaved', include?: boolean[]): Float32Array {
  const k = vectors.length;
  const stack = new Float32Array(rows * cols * k);
  vectors.forEach((v, j) => {
    if (include && !include[j]) return;
    for (let i = 0; i < rows; i++) {
      for (let c = 0; c < cols; c++) {
        const value = v[offset + i * cols + c];
        if (layout === 'side-by-side') stack[i * k * cols + j * cols + c] = value;
        else if (layout === 'transposed') stack[c * k * rows + j * rows + i] = value;
        else stack[c * rows * k + i * k + j] = value;
      }
    }
  });
  return stack;
}

/**
 * Per sample, adds scale × block ([m, rows.count, cols.count]) into target ([m, rowsTotal, colsTotal]) at rows
 * rows.start… and columns cols.start…, in float64.
 */
function addBlock(
  target: Float64Array,
  rowsTotal: number,
  colsTotal: number,
  block: Float32Array,
  rows: { start: number; count: number },
  cols: { start: number; count: number },
  scale: number,
): void {
  const m = block.length / (rows.count * cols.count);
  const rowCount = rows.count;
  const colCount = cols.count;
  let from = 0;
  for (let i = 0; i < m; i++) {
    for (let r = 0; r < rowCount; r++) {
      const to = (i * rowsTotal + rows.start + r) * colsTotal + cols.start;
      for (let c = 0; c < colCount; c++) target[to + c] += scale * block[from++];
    }
  }
}

/** Copies a tensor's values to the host and frees it. */
function readAndDispose(t: tf.Tensor): Float32Array {
  const values = t.dataSync() as Float32Array;
  t.dispose();
  return values;
}
