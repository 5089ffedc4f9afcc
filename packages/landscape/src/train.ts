import type { TrainerChoice } from '@hessweep/grid';
import { FusedTrainer } from '@hessweep/kernels';
import { tf } from './backend.js';
import { affine, columnSums, matMul, matrix, reluMask, transpose, type Matrix } from './kernels.js';
import { Adam } from './adam.js';
import { layerCount, type Architecture, type Params } from './model.js';
import type { Rng } from './random.js';
import type { Dataset } from './data/types.js';
import { DIVERGED, requireFinite } from './measurement.js';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  rng: Rng;
  /** Default `auto`: the fused step, except on the `tensorflow` backend. */
  trainer?: TrainerChoice;
  /** Called after each epoch with the epoch number (1-based) and the mean training loss over its batches. */
  onEpoch?: (epoch: number, meanLoss: number) => void;
}

/** Which implementation trained: the fused WebAssembly step (kernels) or tfjs products with a host Adam. */
export type Trainer = 'fused' | 'tfjs';

/**
 * Mini-batch Adam on mean cross-entropy, shuffling with `rng` each epoch (last batch smaller, as PyTorch's
 * DataLoader). By default on the `tensorflow` backend through tfjs (trainTfjs), where a GPU runs the
 * products; on wasm and cpu through the fused WebAssembly step (trainFused), the same training with one call
 * per step instead of ~70 dispatches. `options.trainer` forces either. Updates `params` in place and says
 * which trainer ran; a MeasurementError when an epoch's mean loss is not finite.
 */
export async function train(data: Dataset, arch: Architecture, params: Params, options: TrainOptions): Promise<Trainer> {
  const trainer = resolveTrainer(options.trainer ?? 'auto');
  if (trainer === 'tfjs') trainTfjs(data, arch, params, options);
  else await trainFused(data, arch, params, options);
  return trainer;
}

/** `auto` is tfjs on the `tensorflow` backend and the fused step elsewhere. */
function resolveTrainer(choice: TrainerChoice): Trainer {
  if (choice !== 'auto') return choice;
  return tf.getBackend() === 'tensorflow' ? 'tfjs' : 'fused';
}

/**
 * The epoch loop both trainers share: a permutation from `rng` per epoch, batches in its order, the mean of
 * the batch losses reported per epoch, and a stop at the first epoch whose mean loss is not finite.
 */
function runEpochs(n: number, options: TrainOptions, step: (rows: Int32Array) => number): void {
  const { epochs, batchSize, rng } = options;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const order = rng.permutation(n);
    let lossSum = 0;
    let batches = 0;
    for (let start = 0; start < n; start += batchSize) {
      lossSum += step(order.subarray(start, Math.min(start + batchSize, n)));
      batches++;
    }
    const meanLoss = lossSum / batches;
    // Once the loss is NaN or infinite every later epoch is too: stop instead of training on.
    requireFinite({ [`train_loss of epoch ${epoch}`]: meanLoss }, DIVERGED);
    options.onEpoch?.(epoch, meanLoss);
  }
}

/** Training through the fused WebAssembly step: the dataset is copied into the module once; `params` gets the result. */
export async function trainFused(data: Dataset, arch: Architecture, params: Params, options: TrainOptions): Promise<void> {
  const trainer = await FusedTrainer.create({ sizes: arch.sizes, bias: params.biases !== null, batchSize: options.batchSize }, { lr: options.lr });
  trainer.setData(data.x, data.y);
  trainer.setParams(params);
  try {
    runEpochs(data.n, options, (rows) => trainer.step(rows));
  } finally {
    // Written back also after a divergence, as the tfjs path leaves its in-place parameters.
    const trained = trainer.params();
    trained.weights.forEach((w, p) => params.weights[p].set(w));
    trained.biases?.forEach((b, p) => params.biases![p].set(b));
  }
}

/**
 * Training through tfjs: TfjsBatchGradients per batch, then a host Adam. Updates `params` in place.
 */
export function trainTfjs(data: Dataset, arch: Architecture, params: Params, options: TrainOptions): void {
  const gradients = new TfjsBatchGradients(data, arch, params, options.batchSize);
  const adam = new Adam(gradients.hostParams, options.lr);
  runEpochs(data.n, options, (rows) => {
    const loss = gradients.compute(rows);
    adam.step(gradients.hostParams, gradients.grads, gradients.transposed);
    return loss;
  });
}

/**
 * The tfjs path's gradient of the mean batch loss at the current `params` (read at every call, so in-place
 * updates are seen). The backward pass is written by hand: autodiff on wasm emits ~200 ops per step and
 * transposed products that leave XNNPACK's fast path; this takes ~5 kernel calls per layer and transposes
 * only small operands (never the batch). Layer 0's weight gradient comes back as W1ᵀ ([fan_out × fan_in],
 * as gᵀ·X), which `transposed` tells Adam.
 */
export class TfjsBatchGradients {
  /** W_0 … W_{L−1}, then the biases if any: the arrays of `params` themselves. */
  readonly hostParams: Float32Array[];
  /** Gradients in `hostParams`' order, filled by `compute`. */
  readonly grads: Float32Array[];
  readonly transposed: ([number, number] | null)[];
  private readonly layers: number;
  private readonly weightsT: Float32Array[];
  private readonly xBatch: Float32Array;
  private readonly outGrad: Float32Array;

  constructor(
    private readonly data: Dataset,
    private readonly arch: Architecture,
    private readonly params: Params,
    batchSize: number,
  ) {
    this.layers = layerCount(arch);
    this.hostParams = [...params.weights, ...(params.biases ?? [])];
    this.grads = this.hostParams.map((p) => new Float32Array(p.length));
    this.transposed = this.hostParams.map((_, i) => (i === 0 ? [arch.sizes[0], arch.sizes[1]] : null));
    this.weightsT = params.weights.map((w) => new Float32Array(w.length));
    this.xBatch = new Float32Array(batchSize * data.dim);
    this.outGrad = new Float32Array(batchSize * arch.sizes[this.layers]);
  }

  /** Fills `grads` for the dataset rows `rows` (at most the batch size); returns their mean loss. */
  compute(rows: Int32Array): number {
    const { data, arch, params, layers, grads } = this;
    const { dim } = data;
    const classes = arch.sizes[layers];
    const size = rows.length;
    for (let r = 0; r < size; r++) this.xBatch.set(data.x.subarray(rows[r] * dim, (rows[r] + 1) * dim), r * dim);
    return tf.tidy(() => {
      const x = matrix(this.xBatch.subarray(0, size * dim), size, dim);
      const activations: Matrix[] = [x];
      let a = x;
      for (let p = 0; p < layers; p++) {
        const w = matrix(params.weights[p], arch.sizes[p], arch.sizes[p + 1]);
        a = affine(a, w, params.biases ? tf.tensor1d(params.biases[p]) : undefined, p < layers - 1);
        if (p < layers - 1) activations.push(a);
      }
      const batchLoss = softmaxCrossEntropyGrad(a.dataSync() as Float32Array, data.y, rows, classes, this.outGrad);
      let g = matrix(this.outGrad.subarray(0, size * classes), size, classes);
      for (let p = layers - 1; p >= 0; p--) {
        // Layer 0's gradient as gᵀ·X (W1ᵀ): the batch is never transposed.
        grads[p].set((p === 0 ? matMul(transpose(g), activations[0]) : matMul(transpose(activations[p]), g)).dataSync());
        if (params.biases) grads[layers + p].set(columnSums(g).dataSync());
        if (p > 0) {
          transposeInto(params.weights[p], arch.sizes[p], arch.sizes[p + 1], this.weightsT[p]);
          g = reluMask(matMul(g, matrix(this.weightsT[p], arch.sizes[p + 1], arch.sizes[p])), activations[p]);
        }
      }
      return batchLoss;
    });
  }
}

/**
 * Mean cross-entropy of a batch, and its gradient with respect to the logits, (softmax − onehot)/batch,
 * written to `grad`. Computed in float64 on the host: a few hundred numbers, cheaper than tfjs ops.
 */
function softmaxCrossEntropyGrad(
  logits: Float32Array,
  labels: Int32Array,
  rows: Int32Array,
  classes: number,
  grad: Float32Array,
): number {
  const size = rows.length;
  let loss = 0;
  for (let r = 0; r < size; r++) {
    const row = r * classes;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[row + c]);
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      const e = Math.exp(logits[row + c] - max);
      grad[row + c] = e;
      sum += e;
    }
    const label = labels[rows[r]];
    loss += Math.log(sum) + max - logits[row + label];
    const scale = 1 / (sum * size);
    for (let c = 0; c < classes; c++) grad[row + c] *= scale;
    grad[row + label] -= 1 / size;
  }
  return loss / size;
}

function transposeInto(a: Float32Array, rows: number, cols: number, out: Float32Array): void {
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
}
