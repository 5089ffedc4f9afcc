import { Arena, instantiateKernels, KernelError, type KernelExports } from './module.js';
import { parameterLayout, type LayerOffsets } from './layout.js';

/** A ReLU MLP: sizes = [input, hidden…, classes]; layer p maps sizes[p] → sizes[p+1]; batchSize is the largest batch. */
export interface FusedShape {
  sizes: number[];
  bias: boolean;
  batchSize: number;
}

/** Adam's hyper-parameters; β1, β2, ε default to PyTorch's 0.9, 0.999, 1e-8. */
export interface AdamSettings {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** Parameters on the host as landscape keeps them: W_p row-major [fan_in][fan_out]; biases only with bias. */
export interface HostParams {
  weights: Float32Array[];
  biases: Float32Array[] | null;
}

// Mirrors the plan table read by assembly/train.ts.
const HEADER = { layers: 0, batchX: 1, batchLabels: 2, params: 3, grads: 4, adamM: 5, adamV: 6, paramCount: 7, weightT: 8 };
const HEADER_WORDS = 9;
// Per layer: fan in, fan out, W's and b's offsets in the flat parameters (b: −1 without biases), output, delta.
const LAYER_WORDS = 6;

/**
 * Mini-batch Adam on mean softmax cross-entropy, one WebAssembly call per step: every buffer is laid out in
 * the module at creation, a step copies its batch's rows and labels in and allocates nothing. The data set
 * stays on the host (copying it in would cost the module 4·n·d bytes for the cell's whole life, and gathering
 * a batch here costs about as much as the module gathering it from its own copy). Parameters, gradients and
 * Adam state are float32; the loss and Adam's arithmetic are float64 per element.
 */
export class FusedTrainer {
  private readonly offsets: LayerOffsets[];
  private readonly paramCount: number;
  private readonly plan: number;
  private data: { x: Float32Array; y: Int32Array } | null = null;
  private t = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;

  private constructor(
    private readonly exports: KernelExports,
    private readonly arena: Arena,
    readonly shape: FusedShape,
    private readonly lr: number,
    adam: AdamSettings,
  ) {
    this.beta1 = adam.beta1 ?? 0.9;
    this.beta2 = adam.beta2 ?? 0.999;
    this.eps = adam.eps ?? 1e-8;
    const layout = parameterLayout(shape.sizes, shape.bias);
    this.offsets = layout.offsets;
    this.paramCount = layout.count;
    this.plan = arena.allocate((HEADER_WORDS + LAYER_WORDS * this.layers) * 4);
    this.layOut();
  }

  static async create(shape: FusedShape, adam: AdamSettings): Promise<FusedTrainer> {
    requireShape(shape);
    if (!(adam.lr > 0)) throw new KernelError(`FusedTrainer: learning rate ${adam.lr} is not positive`);
    const exports = instantiateKernels();
    return new FusedTrainer(exports, new Arena(exports), shape, adam.lr, adam);
  }

  private get layers(): number {
    return this.shape.sizes.length - 1;
  }

  private words(pointer: number, length: number): Int32Array {
    return new Int32Array(this.exports.memory.buffer, pointer, length);
  }

  private floats(pointer: number, length: number): Float32Array {
    return new Float32Array(this.exports.memory.buffer, pointer, length);
  }

  private header(field: number): number {
    return this.words(this.plan, HEADER_WORDS)[field]!;
  }

  // Flat parameters, gradients and Adam state in the order W1, b1, W2, b2, …; per-layer outputs and deltas.
  private layOut(): void {
    const { sizes, batchSize } = this.shape;
    const bytes = this.paramCount * 4;
    // Header in HEADER's order.
    const table = [this.layers, this.arena.allocate(batchSize * sizes[0]! * 4), this.arena.allocate(batchSize * 4)];
    table.push(this.arena.allocate(bytes), this.arena.allocate(bytes), this.arena.allocate(bytes), this.arena.allocate(bytes), this.paramCount);
    // Wᵀ of one layer at a time for the backward pass (layer 0's input gradient is never formed).
    const largestHidden = Math.max(0, ...sizes.slice(1, -1).map((s, p) => s * sizes[p + 2]!));
    table.push(this.arena.allocate(largestHidden * 4));
    for (let p = 0; p < this.layers; p++) {
      const o = this.offsets[p]!;
      const buffer = batchSize * sizes[p + 1]! * 4;
      table.push(sizes[p]!, sizes[p + 1]!, o.weight, this.shape.bias ? o.bias : -1, this.arena.allocate(buffer), this.arena.allocate(buffer));
    }
    this.words(this.plan, table.length).set(table);
  }

  /**
   * The data set: x row-major [n × sizes[0]], y labels in [0, classes). Kept by reference, not copied (steps
   * read it until setData is called again). Replaces any earlier data.
   */
  setData(x: Float32Array, y: Int32Array): void {
    const dim = this.shape.sizes[0]!;
    const classes = this.shape.sizes[this.layers]!;
    if (x.length !== y.length * dim) throw new KernelError(`setData: ${x.length} inputs for ${y.length} labels of dimension ${dim}`);
    const bad = y.findIndex((label) => !(label >= 0 && label < classes));
    if (bad >= 0) throw new KernelError(`setData: label ${y[bad]} of row ${bad} is outside [0, ${classes})`);
    this.data = { x, y };
  }

  /** Sets the parameters (copied in) and restarts Adam: zero moments, step count 0. */
  setParams(params: HostParams): void {
    const { sizes, bias } = this.shape;
    if (params.weights.length !== this.layers || (params.biases === null) === bias || (params.biases && params.biases.length !== this.layers)) {
      throw new KernelError(`setParams: expected ${this.layers} weight matrices${bias ? ' and bias vectors' : ' and no biases'}`);
    }
    const flat = this.floats(this.header(HEADER.params), this.paramCount);
    this.offsets.forEach((o, p) => {
      requireLength(`weights[${p}]`, params.weights[p]!, sizes[p]! * sizes[p + 1]!);
      flat.set(params.weights[p]!, o.weight);
      if (params.biases) {
        requireLength(`biases[${p}]`, params.biases[p]!, sizes[p + 1]!);
        flat.set(params.biases[p]!, o.bias);
      }
    });
    this.floats(this.header(HEADER.adamM), this.paramCount).fill(0);
    this.floats(this.header(HEADER.adamV), this.paramCount).fill(0);
    this.t = 0;
  }

  /** One Adam step on the dataset rows `batch`; returns the batch's mean cross-entropy before the update. */
  step(batch: ArrayLike<number>): number {
    if (this.data === null) throw new KernelError('step: no data (call setData first)');
    if (batch.length < 1 || batch.length > this.shape.batchSize) {
      throw new KernelError(`step: batch of ${batch.length} rows, expected 1 to ${this.shape.batchSize}`);
    }
    const { x, y } = this.data;
    const dim = this.shape.sizes[0]!;
    const rows = this.floats(this.header(HEADER.batchX), batch.length * dim);
    const labels = this.words(this.header(HEADER.batchLabels), batch.length);
    for (let r = 0; r < batch.length; r++) {
      const row = batch[r]!;
      if (!(Number.isInteger(row) && row >= 0 && row < y.length)) throw new KernelError(`step: batch row ${r} is ${row}, outside [0, ${y.length})`);
      rows.set(x.subarray(row * dim, (row + 1) * dim), r * dim);
      labels[r] = y[row]!;
    }
    this.t++;
    const c1 = 1 / (1 - this.beta1 ** this.t);
    const c2 = 1 / (1 - this.beta2 ** this.t);
    return this.exports.trainStep(this.plan, batch.length, this.lr, this.beta1, this.beta2, this.eps, c1, c2);
  }

  /** A copy of the current parameters. */
  params(): HostParams {
    return this.unflatten(this.header(HEADER.params));
  }

  /** A copy of the last step's gradient of the mean batch loss, shaped as the parameters. */
  gradients(): HostParams {
    return this.unflatten(this.header(HEADER.grads));
  }

  private unflatten(pointer: number): HostParams {
    const { sizes, bias } = this.shape;
    const flat = this.floats(pointer, this.paramCount);
    const weights = this.offsets.map((o, p) => flat.slice(o.weight, o.weight + sizes[p]! * sizes[p + 1]!));
    const biases = bias ? this.offsets.map((o, p) => flat.slice(o.bias, o.bias + sizes[p + 1]!)) : null;
    return { weights, biases };
  }
}

function requireShape(shape: FusedShape): void {
  const { sizes, batchSize } = shape;
  if (sizes.length < 2 || !sizes.every((s) => Number.isInteger(s) && s >= 1)) {
    throw new KernelError(`FusedTrainer: sizes [${sizes.join(', ')}] must be at least two positive integers`);
  }
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new KernelError(`FusedTrainer: batch size ${batchSize} is not a positive integer`);
}

function requireLength(name: string, values: Float32Array, length: number): void {
  if (values.length !== length) throw new KernelError(`setParams: ${name} has ${values.length} values, expected ${length}`);
}

