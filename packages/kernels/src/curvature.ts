import { Arena, instantiateKernels, KernelError, type KernelExports } from './module.js';

/**
 * A ReLU MLP frozen at θ̂ with its forward and backward passes over n samples, as the caller computed them
 * (float32, row-major): what exact curvature products at θ̂ need. Layer p maps sizes[p] → sizes[p+1];
 * parameters are flat in the order W_0, b_0, W_1, … (W_p row-major [fan_in][fan_out]; no b without biases).
 */
export interface FrozenNetwork {
  sizes: number[];
  bias: boolean;
  samples: number;
  /** The inputs a_0 = X [n × sizes[0]]. */
  x: Float32Array;
  /** a_p = relu(z_{p−1}) for p = 1..L−1, each [n × sizes[p]]. */
  activations: Float32Array[];
  /** δ_p = ∂loss/∂z_p for p = 0..L−1, each [n × sizes[p+1]], of the mean loss. */
  deltas: Float32Array[];
  /** Softmax probabilities [n × classes]. */
  probs: Float32Array;
  /** The flat parameters θ̂. */
  params: Float32Array;
}

// Mirrors the plan table read by assembly/curvature.ts.
const HEADER = { layers: 0, samples: 1, chunk: 2, x: 3, probs: 4, probsOverM: 5, weights: 6, direction: 7, result: 8, paramCount: 9 };
const HEADER_WORDS = 10;
// Per layer: fan in, fan out, W's and b's offsets in the flat parameters (b: −1 without biases), Wᵀ, room for
// Vᵀ, the activations a_p, δ_p, and the chunk's tangent and adjoint buffers.
const LAYER_WORDS = 10;
/** Samples per chunk: a chunk of X (64 × 784 floats, 200 KB) stays in L2 between the forward and backward pass. */
const CHUNK = 64;

/**
 * Exact Hessian- and Gauss-Newton-vector products of the mean softmax cross-entropy at θ̂, one WebAssembly call
 * per product over every sample (assembly/curvature.ts). The network's passes are copied into the module once
 * (4·n·(d + Σ widths + classes) bytes); a product allocates nothing. Precision: float32 products and sums over
 * the samples (≈1e-6 relative, as tfjs's), float64 in and out.
 */
export class CurvatureProducts {
  readonly dim: number;
  private readonly plan: number;

  private constructor(
    private readonly exports: KernelExports,
    frozen: FrozenNetwork,
  ) {
    const arena = new Arena(exports);
    const { sizes, bias, samples: n } = frozen;
    const layers = sizes.length - 1;
    let at = 0;
    const offsets = sizes.slice(0, -1).map((fanIn, p) => {
      const weight = at;
      at += fanIn * sizes[p + 1]! + (bias ? sizes[p + 1]! : 0);
      return { weight, bias: bias ? weight + fanIn * sizes[p + 1]! : -1 };
    });
    this.dim = at;
    if (frozen.params.length !== this.dim) throw new KernelError(`CurvatureProducts: ${frozen.params.length} parameters, the sizes give ${this.dim}`);
    this.plan = arena.allocate((HEADER_WORDS + LAYER_WORDS * layers) * 4);
    const copy = (values: Float32Array) => {
      const pointer = arena.allocate(values.length * 4);
      this.floats(pointer, values.length).set(values);
      return pointer;
    };
    const probsOverM = new Float32Array(frozen.probs.length);
    const invM = Math.fround(1 / n);
    for (let i = 0; i < probsOverM.length; i++) probsOverM[i] = frozen.probs[i]! * invM;
    const weights = copy(frozen.params);
    const header = [layers, n, CHUNK, copy(frozen.x), copy(frozen.probs), copy(probsOverM), weights, arena.allocate(this.dim * 4), arena.allocate(this.dim * 4), this.dim];
    const table: number[] = [];
    for (let p = 0; p < layers; p++) {
      const fanIn = sizes[p]!;
      const fanOut = sizes[p + 1]!;
      const w = frozen.params.subarray(offsets[p]!.weight, offsets[p]!.weight + fanIn * fanOut);
      table.push(
        fanIn,
        fanOut,
        offsets[p]!.weight,
        offsets[p]!.bias,
        p > 0 ? copy(transposed(w, fanIn, fanOut)) : 0,
        p > 0 ? arena.allocate(fanIn * fanOut * 4) : 0,
        p > 0 ? copy(frozen.activations[p - 1]!) : 0,
        copy(frozen.deltas[p]!),
        arena.allocate(CHUNK * fanOut * 4),
        arena.allocate(CHUNK * fanOut * 4),
      );
    }
    this.words(this.plan, HEADER_WORDS + table.length).set([...header, ...table]);
  }

  /** Lays the network out in a fresh module instance; shapes are checked against `sizes` and `samples`. */
  static create(frozen: FrozenNetwork): CurvatureProducts {
    requireFrozen(frozen);
    return new CurvatureProducts(instantiateKernels(), frozen);
  }

  private words(pointer: number, length: number): Int32Array {
    return new Int32Array(this.exports.memory.buffer, pointer, length);
  }

  private floats(pointer: number, length: number): Float32Array {
    return new Float32Array(this.exports.memory.buffer, pointer, length);
  }

  /** H·v (`hessian`) or G·v (`ggn`, the Gauss-Newton matrix Σ Jᵢᵀ Aᵢ Jᵢ / n). */
  product(v: Float64Array, kind: 'hessian' | 'ggn'): Float64Array {
    if (v.length !== this.dim) throw new KernelError(`product: direction of length ${v.length}, expected ${this.dim}`);
    const header = this.words(this.plan, HEADER_WORDS);
    this.floats(header[HEADER.direction]!, this.dim).set(v);
    this.exports.curvatureProduct(this.plan, kind === 'hessian');
    return Float64Array.from(this.floats(header[HEADER.result]!, this.dim));
  }
}

function transposed(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c]!;
  return t;
}

function requireFrozen(frozen: FrozenNetwork): void {
  const { sizes, samples: n } = frozen;
  const layers = sizes.length - 1;
  if (layers < 1 || !sizes.every((s) => Number.isInteger(s) && s >= 1)) throw new KernelError(`CurvatureProducts: sizes [${sizes.join(', ')}] must be at least two positive integers`);
  if (!(Number.isInteger(n) && n >= 1)) throw new KernelError(`CurvatureProducts: ${n} samples`);
  const expect = (name: string, values: Float32Array | undefined, length: number) => {
    if (values?.length !== length) throw new KernelError(`CurvatureProducts: ${name} has ${values?.length ?? 'no'} values, expected ${length}`);
  };
  expect('x', frozen.x, n * sizes[0]!);
  expect('probs', frozen.probs, n * sizes[layers]!);
  if (frozen.activations.length !== layers - 1) throw new KernelError(`CurvatureProducts: ${frozen.activations.length} activations, expected ${layers - 1}`);
  if (frozen.deltas.length !== layers) throw new KernelError(`CurvatureProducts: ${frozen.deltas.length} deltas, expected ${layers}`);
  frozen.activations.forEach((a, i) => expect(`activations[${i}]`, a, n * sizes[i + 1]!));
  frozen.deltas.forEach((d, p) => expect(`deltas[${p}]`, d, n * sizes[p + 1]!));
}
