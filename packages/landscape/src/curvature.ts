import { PRODUCT_PASS_FLOATS } from '@hessweep/grid';
import { CurvatureProducts } from '@hessweep/kernels';
import { tf } from './backend.js';
import { flattenParams, layerCount, paramCount, paramOffsets, type Architecture, type Params } from './model.js';
import type { Dataset } from './data/types.js';
import type { LinearOperator } from './spectral/operator.js';

export type ProductKind = 'hessian' | 'ggn';

/**
 * Who computes Hessian- and Gauss-Newton-vector products: the WebAssembly kernels (one call per product over
 * every sample, a chunk at a time) or tfjs products per layer. `auto`: tfjs on the `tensorflow` backend, where
 * a GPU runs them; the kernels elsewhere, where they are ~2× faster than XNNPACK's products through tfjs.
 */
export type ProductsChoice = 'auto' | 'fused' | 'tfjs';

/** Per-sample derivatives of the loss along D directions (`Curvature.projected`), row-major, float64. */
export interface ProjectedDerivatives {
  directions: number;
  /** n × D: ∇ℓ_i(θ̂)ᵀu_j at i·D + j. */
  gradients: Float64Array;
  /** n × D × D: u_jᵀ∇²ℓ_i(θ̂)u_l at (i·D + j)·D + l. */
  hessians: Float64Array;
}


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
  private readonly biases: tf.Tensor1D[] | undefined;
  private readonly weightsT: tf.Tensor2D[] = [];
  /** The WebAssembly products, or null when tfjs computes them (`ProductsChoice`). */
  private readonly kernel: CurvatureProducts | null;
  /** a_p for p = 0..L−1 (a_0 = X), and a_pᵀ, δ_pᵀ for tfjs's products only. */
  private readonly acts: tf.Tensor2D[] = [];
  private readonly actsT: tf.Tensor2D[] = [];
  /** ReLU masks of a_p for p ≥ 1, shaped [m, 1, n_p] to broadcast over directions. */
  private readonly masks: tf.Tensor3D[] = [];
  private readonly deltas: tf.Tensor2D[] = [];
  private readonly deltasT: tf.Tensor2D[] = [];
  /** Softmax probabilities [m, 1, K]. */
  private readonly probs: tf.Tensor3D;
  /** Probabilities divided by m, the scale of the mean loss's output curvature. */
  private readonly probsOverM: tf.Tensor3D;
  /** Host copies: softmax probabilities (float64 from float32 logits, m × K) and labels. */
  private readonly probsHost: Float64Array;
  private readonly labels: Int32Array;

  constructor(
    readonly arch: Architecture,
    params: Params,
    data: Pick<Dataset, 'x' | 'y' | 'n'>,
    products: ProductsChoice = 'auto',
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
    this.biases = params.biases?.map((b) => keep(tf.tensor1d(b)));
    const fused = products === 'fused' || (products === 'auto' && tf.getBackend() !== 'tensorflow');
    const inputs = data.x.subarray(0, m * this.sizes[0]);
    // The forward pass at θ̂: the kernels' (the rule `lossesAt` then follows too) or tfjs's.
    this.kernel = fused
      ? CurvatureProducts.create({ sizes: this.sizes, bias: arch.bias, samples: m, x: inputs, params: Float32Array.from(flattenParams(arch, params)) })
      : null;
    let a = keep(tf.tensor2d(inputs, [m, this.sizes[0]]));
    let logitsAtTheta: Float32Array | undefined;
    for (let p = 0; p < this.layers; p++) {
      this.acts.push(a);
      if (!fused) this.actsT.push(keep(tf.transpose(a)));
      if (p > 0) this.masks[p] = keep(tf.tidy(() => tf.reshape(tf.step(a), [m, 1, this.sizes[p]]) as tf.Tensor3D));
      if (this.kernel) {
        if (p < this.layers - 1) a = keep(tf.tensor2d(this.kernel.activations[p], [m, this.sizes[p + 1]]));
        else logitsAtTheta = this.kernel.logitsAtTheta;
      } else {
        const z = layerForward(a, this.weights[p], this.biases?.[p], p < this.layers - 1);
        if (p < this.layers - 1) a = keep(z);
        else logitsAtTheta = readAndDispose(z);
      }
    }

    // Losses, probabilities and δ_{L−1} = (softmax − onehot)/m on the host in float64.
    this.labels = data.y;
    const { losses, probs: probsHost, correct } = crossEntropy(logitsAtTheta!, data.y, classes);
    this.losses = losses;
    this.probsHost = probsHost;
    const probs = Float32Array.from(probsHost);
    const outDelta = new Float32Array(m * classes);
    for (let i = 0; i < m; i++) {
      for (let c = 0; c < classes; c++) outDelta[i * classes + c] = (probsHost[i * classes + c] - (c === data.y[i] ? 1 : 0)) / m;
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
    if (this.kernel) this.kernel.setBackward({ deltas: deltas.map((t) => t.dataSync() as Float32Array), probs });
    else this.deltasT.push(...deltas.map((d) => keep(tf.transpose(d))));
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
        out.set(tf.matMul(this.acts[p], this.deltas[p], true, false).dataSync(), this.offsets[p].weight);
        if (this.arch.bias) out.set(tf.sum(this.deltas[p], 0).dataSync(), this.offsets[p].bias);
      }
    });
    return out;
  }

  /**
   * Exact products H·v or G·v (G = Σ Jᵢᵀ Aᵢ Jᵢ / m, A = diag(p) − ppᵀ) by Pearlmutter's R-operator: the
   * forward R-pass (Jv) is shared; the Hessian adds the second-order terms (∂a/∂θ)ᵀ·δ and δ·Vᵀ that the
   * Gauss-Newton product drops. Several directions share each pass over the samples.
   */
  products(vectors: Float64Array[], kinds: ProductKind[]): Float64Array[] {
    if (vectors.length !== kinds.length) throw new Error('products: one kind per vector');
    if (this.kernel) return this.kernel.products(vectors, kinds);
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

  /**
   * Per-sample projected gradients and Hessians along directions u_1..u_D (each of length `dim`), for the
   * per-sample cross-entropy ℓ_i (not divided by m): gradients[i·D + j] = ∇ℓ_i(θ̂)ᵀu_j and
   * hessians[(i·D + j)·D + l] = u_jᵀ∇²ℓ_i(θ̂)u_l (symmetric, both triangles filled).
   *
   * Exact for the ReLU network with its masks frozen at θ̂ (as the Hessian products). Forward mode carries the
   * tangents dz_p,j = da_p,j·W_p + a_p·dW_p,j (+ db_p,j), da_{p+1} = mask ⊙ dz_p, to the logits, for all D
   * directions at once; they give rᵀdz_j (r = p − y) and the Gauss–Newton term dz_jᵀ(diag p − ppᵀ)dz_l. The
   * second-order tangent d²z_jl = d²a_jl·W + da_j·dW_l + da_l·dW_j is linear in its sources, so contracted with
   * r it is Σ_{p≥1} g_p·(da_p,j·dW_p,l + da_p,l·dW_p,j), with g_p = ∂ℓ_i/∂z_p = m·δ_p (cached): per layer one
   * product g_p·[dW_1ᵀ … dW_Dᵀ] and one per-sample [D × n_p]·[n_p × D] product, O(m·D²·n) instead of the
   * O(m·D²·n²) of carrying d²z through the layers.
   *
   * Precision: the products run in float32 (≈1e-6 relative); the per-layer sums and the output terms are
   * formed on the host in float64. Directions go in chunks that keep each [m, directions × width] tensor within
   * `passFloats`; the pairs across two chunks cost one more product per layer.
   */
  projected(directions: Float64Array[], passFloats = PRODUCT_PASS_FLOATS): ProjectedDerivatives {
    for (const u of directions) if (u.length !== this.dim) throw new Error(`projected: direction of length ${u.length}, expected ${this.dim}`);
    const D = directions.length;
    const m = this.samples;
    if (this.kernel) {
      const { tangents, second } = this.kernel.projectedTerms(directions);
      // The kernels' sums use the mean loss's δ; ℓ_i's are m times larger.
      const sums = new Float64Array(second.length);
      for (let i = 0; i < sums.length; i++) sums[i] = m * second[i];
      return this.outputTerms(new Float64Array(tangents), sums, D);
    }
    const L = this.layers;
    const n = this.sizes;
    const K = n[L];
    const perPass = Math.max(1, Math.floor(passFloats / (m * Math.max(...n.slice(1)))));
    const chunks: { start: number; count: number }[] = [];
    for (let start = 0; start < D; start += perPass) chunks.push({ start, count: Math.min(perPass, D - start) });
    const tangents = new Float64Array(m * D * K);
    // Σ_p g_p·(da_p,j·dW_p,l) [i, j, l]; `outputTerms` symmetrises it in place into the Hessians.
    const hessians = new Float64Array(m * D * D);
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
              addBlock(hessians, D, D, block, a, b, m);
            });
            daPerSample.dispose();
            return false;
          });
          addBlock(tangents, D, K, readAndDispose(logits), a, { start: 0, count: K }, 1);
        });
      }
    });
    return this.outputTerms(tangents, hessians, D);
  }

  /**
   * Adds the output terms to the logits' tangents [i, j, k] and the second-order sums S [i, j, l], in float64:
   * gradients rᵀdz_j, and Hessians dz_jᵀ(diag p − ppᵀ)dz_l + S_jl + S_lj written over S.
   */
  private outputTerms(tangents: Float64Array, hessians: Float64Array, D: number): ProjectedDerivatives {
    const m = this.samples;
    const K = this.sizes[this.layers];
    const probs = this.probsHost;
    const gradients = new Float64Array(m * D);
    // pᵀdz_j of the current sample.
    const pDz = new Float64Array(D);
    for (let i = 0; i < m; i++) {
      const p0 = i * K;
      const t0 = i * D * K;
      const h0 = i * D * D;
      for (let j = 0; j < D; j++) {
        let pd = 0;
        for (let k = 0; k < K; k++) pd += probs[p0 + k] * tangents[t0 + j * K + k];
        pDz[j] = pd;
        gradients[i * D + j] = pd - tangents[t0 + j * K + this.labels[i]];
      }
      for (let j = 0; j < D; j++) {
        for (let l = j; l < D; l++) {
          let gn = -pDz[j] * pDz[l];
          for (let k = 0; k < K; k++) gn += tangents[t0 + j * K + k] * probs[p0 + k] * tangents[t0 + l * K + k];
          const value = gn + hessians[h0 + j * D + l] + hessians[h0 + l * D + j];
          hessians[h0 + j * D + l] = value;
          hessians[h0 + l * D + j] = value;
        }
      }
    }
    return { directions: D, gradients, hessians };
  }

  /**
   * Per-sample cross-entropy at θ̂ + δ (δ flattened as the parameters): one forward pass over all samples, the
   * ReLUs evaluated afresh (not frozen). The cached state at θ̂ is left as it was. Precision: θ̂ + δ and the pass
   * in float32, the losses in float64 from the float32 logits, as `losses`, which δ = 0 reproduces exactly.
   */
  lossesAt(delta: Float64Array): Float64Array {
    if (delta.length !== this.dim) throw new Error(`lossesAt: δ of length ${delta.length}, expected ${this.dim}`);
    const n = this.sizes;
    if (this.kernel) {
      const theta = this.kernel.params;
      const shifted = new Float32Array(this.dim);
      for (let i = 0; i < shifted.length; i++) shifted[i] = theta[i] + Math.fround(delta[i]);
      return crossEntropy(this.kernel.logits(shifted), this.labels, n[this.layers]).losses;
    }
    const logits = tf.tidy(() => {
      let a = this.acts[0];
      for (let p = 0; p < this.layers; p++) {
        const off = this.offsets[p];
        const w = tf.add(this.weights[p], tf.tensor2d(Float32Array.from(delta.subarray(off.weight, off.weight + n[p] * n[p + 1])), [n[p], n[p + 1]]));
        const b = this.biases && tf.add(this.biases[p], tf.tensor1d(Float32Array.from(delta.subarray(off.bias, off.bias + n[p + 1]))));
        const next = layerForward(a, w as tf.Tensor2D, b as tf.Tensor1D | undefined, p < this.layers - 1);
        // Only this pass's own activations are freed as it goes; a_0 is the cached X.
        if (p > 0) a.dispose();
        a = next;
      }
      return a;
    });
    return crossEntropy(readAndDispose(logits), this.labels, n[this.layers]).losses;
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
    if (this.kernel) {
      let sum = 0;
      for (const t of this.kernel.traceTerms()) sum += t;
      return sum / m;
    }
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

/** z = a·W (+ b), through ReLU for hidden layers: tfjs's forward rule, of the cached pass and of `lossesAt` (the kernels have their own). */
function layerForward(a: tf.Tensor2D, w: tf.Tensor2D, bias: tf.Tensor1D | undefined, hidden: boolean): tf.Tensor2D {
  return tf.fused.matMul({ a, b: w, bias, activation: hidden ? 'relu' : 'linear' }) as tf.Tensor2D;
}

/** Per-sample cross-entropy, softmax probabilities (m × K) and the count of correct arg-maxes, in float64. */
function crossEntropy(logits: Float32Array, labels: ArrayLike<number>, classes: number): { losses: Float64Array; probs: Float64Array; correct: number } {
  const m = logits.length / classes;
  const losses = new Float64Array(m);
  const probs = new Float64Array(m * classes);
  let correct = 0;
  for (let i = 0; i < m; i++) {
    const row = i * classes;
    let max = -Infinity;
    let argmax = 0;
    for (let c = 0; c < classes; c++) {
      if (logits[row + c] > max) {
        max = logits[row + c];
        argmax = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      const e = Math.exp(logits[row + c] - max);
      probs[row + c] = e;
      sum += e;
    }
    const label = labels[i];
    losses[i] = Math.log(sum) + max - logits[row + label];
    if (argmax === label) correct++;
    for (let c = 0; c < classes; c++) probs[row + c] /= sum;
  }
  return { losses, probs, correct };
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
