import { Arena, instantiateKernels, KernelError, type KernelExports } from './module.js';
import { parameterLayout } from './layout.js';

/**
 * A ReLU MLP at fixed parameters θ̂ over n samples (float32, row-major). Layer p maps sizes[p] → sizes[p+1];
 * parameters are flat in the order W_0, b_0, W_1, … (W_p row-major [fan_in][fan_out]; no b without biases).
 */
export interface NetworkAt {
  sizes: number[];
  bias: boolean;
  samples: number;
  /** The inputs a_0 = X [n × sizes[0]]. */
  x: Float32Array;
  /** The flat parameters θ̂. */
  params: Float32Array;
}

/** What the backward pass at θ̂ starts from, the caller's softmax of `CurvatureProducts.logitsAtTheta`. */
export interface OutputAt {
  /** δ_{L−1} = ∂loss/∂z_{L−1} of the mean loss [n × classes]. */
  outputDelta: Float32Array;
  /** Softmax probabilities [n × classes]. */
  probs: Float32Array;
}

// Mirrors the plan table read by assembly/curvature.ts.
const HEADER = { layers: 0, samples: 1, chunk: 2, x: 3, probs: 4, probsOverM: 5, weights: 6, direction: 7, result: 8, paramCount: 9 };
const HEADER_WORDS = 10;
// Per layer: fan in, fan out, W's and b's offsets in the flat parameters (b: −1 without biases), Wᵀ, room for
// Vᵀ, the activations a_p, δ_p, and the chunk's tangent and adjoint buffers.
const LAYER = { directionT: 5, act: 6, delta: 7 };
const LAYER_WORDS = 10;
/** Samples per chunk: a chunk of X (64 × 784 floats, 200 KB) stays in L2 between the forward and backward pass. */
const CHUNK = 64;
/** Directions per call (bits of its Hessian mask): each chunk serves them all, so X streams once per call. */
const DIRECTIONS_PER_CALL = 8;

/**
 * The network frozen at θ̂ in a WebAssembly module instance of its own (assembly/curvature.ts): the forward pass
 * at θ̂ (run at creation), exact Hessian- and Gauss-Newton-vector products of the mean softmax cross-entropy
 * (one call per product over every sample, after `setBackward`), and logits at other parameters. Holds
 * 4·n·(d + 2·Σ widths + 2·classes) bytes; a product allocates nothing. Precision: float32 products and sums
 * over the samples (≈1e-6 relative), float64 in and out.
 */
export class CurvatureProducts {
  readonly dim: number;
  /** The logits at θ̂ [n × classes] (a copy). */
  readonly logitsAtTheta: Float32Array;
  private readonly plan: number;
  private readonly arena: Arena;
  private readonly sizes: number[];
  private readonly samples: number;
  private backwardSet = false;
  /** Directions the DIRECTION, RESULT and V_pᵀ buffers have room for. */
  private directionRoom = DIRECTIONS_PER_CALL;
  private readonly bias: boolean;
  /** Parameters and logits of `logits` (allocated on its first call). */
  private forward: { params: number; logits: number } | null = null;

  private constructor(
    private readonly exports: KernelExports,
    network: NetworkAt,
  ) {
    this.arena = new Arena(exports);
    const arena = this.arena;
    const { sizes, bias, samples: n } = network;
    this.sizes = sizes;
    this.samples = n;
    this.bias = bias;
    const layers = sizes.length - 1;
    const { offsets, count } = parameterLayout(sizes, bias);
    this.dim = count;
    if (network.params.length !== this.dim) throw new KernelError(`CurvatureProducts: ${network.params.length} parameters, the sizes give ${this.dim}`);
    this.plan = arena.allocate((HEADER_WORDS + LAYER_WORDS * layers) * 4);
    const copy = (values: Float32Array) => {
      const pointer = arena.allocate(values.length * 4);
      this.floats(pointer, values.length).set(values);
      return pointer;
    };
    const floats = (count: number) => arena.allocate(count * 4);
    const classes = sizes[layers]!;
    const weights = copy(network.params);
    const directions = DIRECTIONS_PER_CALL * this.dim;
    const header = [layers, n, CHUNK, copy(network.x), floats(n * classes), floats(n * classes), weights, floats(directions), floats(directions), this.dim];
    const table: number[] = [];
    for (let p = 0; p < layers; p++) {
      const fanIn = sizes[p]!;
      const fanOut = sizes[p + 1]!;
      const w = network.params.subarray(offsets[p]!.weight, offsets[p]!.weight + fanIn * fanOut);
      table.push(
        fanIn,
        fanOut,
        offsets[p]!.weight,
        bias ? offsets[p]!.bias : -1,
        p > 0 ? copy(transposed(w, fanIn, fanOut)) : 0,
        p > 0 ? floats(DIRECTIONS_PER_CALL * fanIn * fanOut) : 0,
        p > 0 ? floats(n * fanIn) : 0,
        floats(n * fanOut),
        floats(CHUNK * fanOut),
        floats(CHUNK * fanOut),
      );
    }
    this.words(this.plan, HEADER_WORDS + table.length).set([...header, ...table]);

    const logits = floats(n * classes);
    this.exports.forwardLogits(this.plan, weights, logits, true);
    this.logitsAtTheta = this.floats(logits, n * classes).slice();
  }

  /** A copy of a_p = relu(z_{p−1}) at θ̂ [n × sizes[p]], for p = 1..L−1. */
  activation(p: number): Float32Array {
    if (!(Number.isInteger(p) && p >= 1 && p < this.sizes.length - 1)) throw new KernelError(`activation: layer ${p} is not in 1..${this.sizes.length - 2}`);
    return this.floats(this.layerWord(p, LAYER.act), this.samples * this.sizes[p]!).slice();
  }

  /** Lays the network out in a fresh module instance and runs its forward pass at θ̂. */
  static create(network: NetworkAt): CurvatureProducts {
    const { sizes, samples: n } = network;
    if (sizes.length < 2 || !sizes.every((s) => Number.isInteger(s) && s >= 1)) {
      throw new KernelError(`CurvatureProducts: sizes [${sizes.join(', ')}] must be at least two positive integers`);
    }
    if (!(Number.isInteger(n) && n >= 1)) throw new KernelError(`CurvatureProducts: ${n} samples`);
    requireLength('x', network.x, n * sizes[0]!);
    return new CurvatureProducts(instantiateKernels(), network);
  }

  private words(pointer: number, length: number): Int32Array {
    return new Int32Array(this.exports.memory.buffer, pointer, length);
  }

  private floats(pointer: number, length: number): Float32Array {
    return new Float32Array(this.exports.memory.buffer, pointer, length);
  }

  private layerWord(layer: number, field: number): number {
    return this.words(this.plan + (HEADER_WORDS + layer * LAYER_WORDS + field) * 4, 1)[0]!;
  }

  /**
   * Runs the backward pass at θ̂ from the output layer's δ (every δ_p, kept here) and keeps the probabilities:
   * what products, traces and projections need.
   */
  setBackward({ outputDelta, probs }: OutputAt): void {
    const layers = this.sizes.length - 1;
    const size = this.samples * this.sizes[layers]!;
    requireLength('outputDelta', outputDelta, size);
    requireLength('probs', probs, size);
    this.floats(this.layerWord(layers - 1, LAYER.delta), size).set(outputDelta);
    const header = this.words(this.plan, HEADER_WORDS);
    this.floats(header[HEADER.probs]!, size).set(probs);
    // p/m in float32, the output curvature's scale for the mean loss.
    const invM = Math.fround(1 / this.samples);
    const probsOverM = this.floats(header[HEADER.probsOverM]!, size);
    for (let i = 0; i < size; i++) probsOverM[i] = probs[i]! * invM;
    this.exports.backwardDeltas(this.plan);
    this.backwardSet = true;
  }

  /** ∇loss at θ̂ (of the mean loss), flat as the parameters. */
  gradient(): Float64Array {
    if (!this.backwardSet) throw new KernelError('gradient: the backward pass at θ̂ is not set (call setBackward first)');
    const mark = this.arena.mark();
    const out = this.arena.allocate(this.dim * 4);
    this.exports.gradientAt(this.plan, out);
    const gradient = Float64Array.from(this.floats(out, this.dim));
    this.arena.release(mark);
    return gradient;
  }

  /**
   * H·v (`hessian`) or G·v (`ggn`, the Gauss-Newton matrix Σ Jᵢᵀ Aᵢ Jᵢ / n) for each direction, up to eight per
   * pass over the samples.
   */
  products(vectors: readonly Float64Array[], kinds: readonly ('hessian' | 'ggn')[]): Float64Array[] {
    if (!this.backwardSet) throw new KernelError('products: the backward pass at θ̂ is not set (call setBackward first)');
    if (vectors.length !== kinds.length) throw new KernelError(`products: ${vectors.length} directions but ${kinds.length} kinds`);
    for (const v of vectors) if (v.length !== this.dim) throw new KernelError(`products: direction of length ${v.length}, expected ${this.dim}`);
    const header = this.words(this.plan, HEADER_WORDS);
    const out: Float64Array[] = [];
    for (let start = 0; start < vectors.length; start += DIRECTIONS_PER_CALL) {
      const count = Math.min(DIRECTIONS_PER_CALL, vectors.length - start);
      const directions = this.floats(header[HEADER.direction]!, count * this.dim);
      let hessians = 0;
      for (let d = 0; d < count; d++) {
        directions.set(vectors[start + d]!, d * this.dim);
        if (kinds[start + d] === 'hessian') hessians |= 1 << d;
      }
      this.exports.curvatureProducts(this.plan, count, hessians);
      const results = this.floats(header[HEADER.result]!, count * this.dim);
      for (let d = 0; d < count; d++) out.push(Float64Array.from(results.subarray(d * this.dim, (d + 1) * this.dim)));
    }
    return out;
  }

  /**
   * tr G_i of every sample i, G_i = J_iᵀ(diag p_i − p_i p_iᵀ)J_i (not divided by n; for a ReLU network the
   * Hessian's trace is the same), from per-sample logit-Jacobian blocks: float32 per sample.
   */
  traceTerms(): Float32Array {
    if (!this.backwardSet) throw new KernelError('traceTerms: the backward pass at θ̂ is not set (call setBackward first)');
    const classes = this.sizes[this.sizes.length - 1]!;
    const widest = Math.max(...this.sizes.slice(1));
    const mark = this.arena.mark();
    const scratch = this.arena.allocate((2 * classes + 1) * widest * 4);
    const out = this.arena.allocate(this.samples * 4);
    this.exports.traceTerms(this.plan, scratch, out, this.bias);
    const terms = this.floats(out, this.samples).slice();
    this.arena.release(mark);
    return terms;
  }

  /**
   * Per-sample terms of `Curvature.projected` along the directions u_j, one pass over the samples:
   * `tangents` [n × D × classes] the logits' tangents J u_j, and `second` [n × D × D] the sums
   * Σ_{p≥1} da_p,jᵀ (dW_p,l · δ_p) of the mean loss's δ (the second-order part before symmetrising).
   */
  projectedTerms(directions: readonly Float64Array[]): { tangents: Float32Array; second: Float32Array } {
    if (!this.backwardSet) throw new KernelError('projectedTerms: the backward pass at θ̂ is not set (call setBackward first)');
    for (const u of directions) if (u.length !== this.dim) throw new KernelError(`projectedTerms: direction of length ${u.length}, expected ${this.dim}`);
    const count = directions.length;
    const n = this.samples;
    const layers = this.sizes.length - 1;
    const classes = this.sizes[layers]!;
    this.makeRoomFor(count);
    const header = this.words(this.plan, HEADER_WORDS);
    const room = this.floats(header[HEADER.direction]!, count * this.dim);
    directions.forEach((u, j) => room.set(u, j * this.dim));
    const mark = this.arena.mark();
    const adjoints = this.arena.allocate(count * layers * CHUNK * Math.max(...this.sizes.slice(1)) * 4);
    const tangents = this.arena.allocate(n * count * classes * 4);
    const second = this.arena.allocate(n * count * count * 4);
    this.exports.projectedTerms(this.plan, count, adjoints, tangents, second);
    const out = { tangents: this.floats(tangents, n * count * classes).slice(), second: this.floats(second, n * count * count).slice() };
    this.arena.release(mark);
    return out;
  }

  // Grows the direction buffers (new ones; the arena does not free) when more directions go in one call.
  private makeRoomFor(count: number): void {
    if (count <= this.directionRoom) return;
    // Allocate first: growing the memory detaches earlier views of it.
    const direction = this.arena.allocate(count * this.dim * 4);
    const result = this.arena.allocate(count * this.dim * 4);
    const transposes = this.sizes.slice(1, -1).map((fanIn, i) => this.arena.allocate(count * fanIn * this.sizes[i + 2]! * 4));
    const header = this.words(this.plan, HEADER_WORDS);
    header[HEADER.direction] = direction;
    header[HEADER.result] = result;
    transposes.forEach((room, i) => (this.words(this.plan + (HEADER_WORDS + (i + 1) * LAYER_WORDS + LAYER.directionT) * 4, 1)[0] = room));
    this.directionRoom = count;
  }

  /** Nothing to free: the module's memory goes with this object. */
  dispose(): void {}

  /**
   * The logits [n × classes] at other parameters `params` (flat, float32) over the same samples, by the same
   * forward pass as `logitsAtTheta` (so θ̂ gives them bit for bit). The returned view is overwritten by the
   * next call.
   */
  logits(params: Float32Array): Float32Array {
    requireLength('params', params, this.dim);
    const classes = this.sizes[this.sizes.length - 1]!;
    this.forward ??= { params: this.arena.allocate(this.dim * 4), logits: this.arena.allocate(this.samples * classes * 4) };
    this.floats(this.forward.params, this.dim).set(params);
    this.exports.forwardLogits(this.plan, this.forward.params, this.forward.logits, false);
    return this.floats(this.forward.logits, this.samples * classes);
  }
}

function transposed(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c]!;
  return t;
}

function requireLength(name: string, values: Float32Array, length: number): void {
  if (values.length !== length) throw new KernelError(`CurvatureProducts: ${name} has ${values.length} values, expected ${length}`);
}
