import { PRODUCT_PASS_FLOATS } from '@hessweep/grid';
import { CurvatureProducts } from '@hessweep/kernels';
import { tf } from './backend.js';
import type { CurvatureEngine } from './curvature-engine.js';
import { TfjsCurvature } from './curvature-tfjs.js';
import { flattenParams, layerCount, paramCount, type Architecture, type Params } from './model.js';
import type { Dataset } from './data/types.js';
import type { LinearOperator } from './spectral/operator.js';

export type ProductKind = 'hessian' | 'ggn';

/**
 * Which engine passes over the samples: the WebAssembly kernels (`CurvatureProducts`: a call per product over
 * every sample, a chunk at a time through the whole network) or tfjs (`TfjsCurvature`, per-layer products).
 * `auto`: tfjs on the `tensorflow` backend, where a GPU runs them; the kernels elsewhere (about twice as fast as
 * XNNPACK's products through tfjs on the reference cell).
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
 * The network and its data frozen at θ̂, with the forward and backward passes over all samples cached by an
 * engine (`ProductsChoice`): the state from which exact Hessian- and Gauss-Newton-vector products, the
 * gradient, the per-sample losses and projections and the exact trace are computed. Loss = mean cross-entropy
 * over the samples; softmax, losses and the output terms are computed here, in float64, for either engine.
 *
 * Notation (layer p = 0..L−1): a_0 = X, z_p = a_p·W_p (+ b_p), a_{p+1} = relu(z_p), logits z_{L−1};
 * δ_p = ∂loss/∂z_p. Precision: float32 products (≈1e-6 relative), reductions in float64.
 */
export class Curvature {
  readonly dim: number;
  readonly samples: number;
  /** Per-sample cross-entropy at θ̂ (float64 from float32 logits). */
  readonly losses: Float64Array;
  /** Fraction of samples whose arg-max logit is the label. */
  readonly accuracy: number;
  private readonly engine: CurvatureEngine;
  private readonly classes: number;
  /** θ̂ in float32, flat. */
  private readonly theta: Float32Array;
  /** The samples' inputs [m × d]. */
  private readonly inputs: Float32Array;
  /** Softmax probabilities at θ̂ (float64 from float32 logits, m × K) and labels. */
  private readonly probs: Float64Array;
  private readonly labels: Int32Array;

  constructor(
    readonly arch: Architecture,
    params: Params,
    data: Pick<Dataset, 'x' | 'y' | 'n'>,
    products: ProductsChoice = 'auto',
  ) {
    this.dim = paramCount(arch);
    this.samples = data.n;
    const m = data.n;
    this.classes = arch.sizes[layerCount(arch)];
    this.inputs = data.x.subarray(0, m * arch.sizes[0]);
    this.theta = Float32Array.from(flattenParams(arch, params));
    const fused = products === 'fused' || (products === 'auto' && tf.getBackend() !== 'tensorflow');
    this.engine = fused
      ? CurvatureProducts.create({ sizes: arch.sizes, bias: arch.bias, samples: m, x: this.inputs, params: this.theta })
      : new TfjsCurvature(arch, params, this.inputs);

    // Losses, probabilities and δ_{L−1} = (softmax − onehot)/m in float64, stored as float32 for the engine.
    this.labels = data.y;
    const { losses, probs, correct } = crossEntropy(this.engine.logitsAtTheta, data.y, this.classes);
    this.losses = losses;
    this.probs = probs;
    this.accuracy = correct / m;
    const outputDelta = new Float32Array(m * this.classes);
    for (let i = 0; i < m; i++) {
      for (let c = 0; c < this.classes; c++) outputDelta[i * this.classes + c] = (probs[i * this.classes + c] - (c === data.y[i] ? 1 : 0)) / m;
    }
    this.engine.setBackward({ outputDelta, probs: Float32Array.from(probs) });
  }

  /** Mean training loss (float64 sum of the per-sample losses). */
  meanLoss(): number {
    let sum = 0;
    for (const l of this.losses) sum += l;
    return sum / this.samples;
  }

  /** ∇loss at θ̂, flattened as the parameters (W1, b1, W2, …). */
  gradient(): Float64Array {
    return this.engine.gradient();
  }

  /**
   * Exact products H·v or G·v (G = Σ Jᵢᵀ Aᵢ Jᵢ / m, A = diag(p) − ppᵀ) by Pearlmutter's R-operator: the
   * forward R-pass (Jv) is shared; the Hessian adds the second-order terms (∂a/∂θ)ᵀ·δ and δ·Vᵀ that the
   * Gauss-Newton product drops. Several directions share each pass over the samples.
   */
  products(vectors: Float64Array[], kinds: ProductKind[]): Float64Array[] {
    if (vectors.length !== kinds.length) throw new Error('products: one kind per vector');
    return this.engine.products(vectors, kinds);
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
   * Precision: the products run in float32 (≈1e-6 relative); the output terms are formed in float64.
   * `passFloats` bounds the tfjs engine's tensors (directions go in chunks); the kernels take all at once.
   */
  projected(directions: Float64Array[], passFloats = PRODUCT_PASS_FLOATS): ProjectedDerivatives {
    for (const u of directions) if (u.length !== this.dim) throw new Error(`projected: direction of length ${u.length}, expected ${this.dim}`);
    const m = this.samples;
    const { tangents, second } = this.engine.projectedTerms(directions, passFloats);
    // The engines' sums use the mean loss's δ; ℓ_i's are m times larger.
    const sums = new Float64Array(second.length);
    for (let i = 0; i < sums.length; i++) sums[i] = m * second[i];
    return this.outputTerms(new Float64Array(tangents), sums, directions.length);
  }

  /**
   * Adds the output terms to the logits' tangents [i, j, k] and the second-order sums S [i, j, l], in float64:
   * gradients rᵀdz_j, and Hessians dz_jᵀ(diag p − ppᵀ)dz_l + S_jl + S_lj written over S.
   */
  private outputTerms(tangents: Float64Array, hessians: Float64Array, D: number): ProjectedDerivatives {
    const m = this.samples;
    const K = this.classes;
    const probs = this.probs;
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
    const shifted = new Float32Array(this.dim);
    for (let i = 0; i < shifted.length; i++) shifted[i] = this.theta[i] + Math.fround(delta[i]);
    return crossEntropy(this.engine.logits(shifted), this.labels, this.classes).losses;
  }

  /**
   * Exact tr G = (1/m) Σᵢ tr(Aᵢ Jᵢ Jᵢᵀ), from per-sample logit-Jacobian Gram matrices (the engines'
   * `traceTerms`). For ReLU networks every parameter enters the logits linearly (a.e.), so the Hessian's
   * diagonal equals the GGN's and tr H = tr G exactly.
   */
  exactTrace(): number {
    let sum = 0;
    for (const t of this.engine.traceTerms()) sum += t;
    return sum / this.samples;
  }

  /** Largest ‖x_i‖₂ over the samples (M_x of Theorem 1), in float64. */
  maxInputNorm(): number {
    const d = this.arch.sizes[0];
    let max = 0;
    for (let i = 0; i < this.samples; i++) {
      let sum = 0;
      for (let c = i * d; c < (i + 1) * d; c++) sum += this.inputs[c] * this.inputs[c];
      max = Math.max(max, sum);
    }
    return Math.sqrt(max);
  }

  dispose(): void {
    this.engine.dispose();
  }
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
