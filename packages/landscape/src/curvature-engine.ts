import type { ProductKind } from './curvature.js';

/**
 * What computes passes over every sample for `Curvature` (the WebAssembly kernels' `CurvatureProducts` or
 * `TfjsCurvature`): the forward pass at θ̂ at creation, then the backward pass from the output layer's δ, and
 * from that state products, per-sample traces, projected terms, logits at other parameters, the gradient.
 * The math that does not pass over samples (softmax, cross-entropy, the output terms) is `Curvature`'s.
 */
export interface CurvatureEngine {
  /** The logits at θ̂ [m × classes], float32. */
  readonly logitsAtTheta: Float32Array;
  /** The backward pass at θ̂ from δ_{L−1} = (softmax − onehot)/m, and the probabilities, both [m × classes]. */
  setBackward(output: { outputDelta: Float32Array; probs: Float32Array }): void;
  /** H·v or G·v of the mean loss for each direction. */
  products(vectors: Float64Array[], kinds: ProductKind[]): Float64Array[];
  /** tr G_i of every sample (not divided by m). */
  traceTerms(): Float32Array;
  /**
   * Along directions u_j: the logits' tangents [m × D × classes] and S_jl = Σ_{p≥1} da_p,jᵀ(dW_p,l·δ_p) with
   * the mean loss's δ [m × D × D]. `passFloats` bounds a pass's largest tensor where that applies (tfjs).
   */
  projectedTerms(directions: Float64Array[], passFloats: number): { tangents: Float32Array; second: Float32Array };
  /** The logits [m × classes] at other parameters (flat, float32), ReLUs evaluated afresh. */
  logits(params: Float32Array): Float32Array;
  /** ∇loss at θ̂, flat as the parameters. */
  gradient(): Float64Array;
  /** Frees what the engine holds outside JavaScript's heap (tfjs tensors). */
  dispose(): void;
}
