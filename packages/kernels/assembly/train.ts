// One fused training step of a ReLU MLP: forward, softmax cross-entropy gradient (mean over the batch),
// backward, Adam, all in place over buffers the host laid out once in this module's memory. The host writes
// the batch's rows and labels in; the data set itself stays on the host (no copy of it in this memory).
import { matMulStrided } from './products';
import { addRowVector, columnSums, f32At, keepWherePositive, transpose } from './elementwise';

// The plan is an i32 table the host writes once (see packages/kernels/src/trainer.ts, which mirrors it).
// WEIGHT_T: room for the largest Wᵀ of layers 1…L−1, so that dY·Wᵀ runs as a plain blocked product.
const LAYERS = 0, BATCH_X = 1, BATCH_LABELS = 2, PARAMS = 3, GRADS = 4, ADAM_M = 5, ADAM_V = 6, PARAM_COUNT = 7, WEIGHT_T = 8;
const HEADER = 9;
// Per layer: fan in, fan out, element offsets of W and b in the flat parameter vector (b: −1 when the
// network has no biases), the layer's output [batch×fanOut] (post-ReLU for hidden layers) and its delta
// (loss gradient with respect to the pre-activation, same shape).
const FAN_IN = 0, FAN_OUT = 1, W_AT = 2, B_AT = 3, OUT = 4, DELTA = 5;
const LAYER_WORDS = 6;

@inline function word(plan: usize, index: i32): i32 {
  return load<i32>(plan + ((<usize>index) << 2));
}

@inline function layerWord(plan: usize, layer: i32, field: i32): i32 {
  return word(plan, HEADER + layer * LAYER_WORDS + field);
}

/**
 * One step on the `size` rows the host wrote into the batch buffer, with their labels (i32) in the labels
 * buffer. Adam's bias corrections come in as c1 = 1/(1−β1ᵗ), c2 = 1/(1−β2ᵗ) so the host owns the step count.
 * Returns the batch's mean loss.
 */
export function trainStep(plan: usize, size: i32, lr: f64, beta1: f64, beta2: f64, eps: f64, c1: f64, c2: f64): f64 {
  forward(plan, size);
  const loss = softmaxCrossEntropyGrad(plan, size);
  backward(plan, size);
  adamUpdate(plan, lr, beta1, beta2, eps, c1, c2);
  return loss;
}

function forward(plan: usize, size: i32): void {
  const layers = word(plan, LAYERS);
  const params = <usize>word(plan, PARAMS);
  let input = <usize>word(plan, BATCH_X);
  for (let p = 0; p < layers; p++) {
    const fanIn = layerWord(plan, p, FAN_IN);
    const fanOut = layerWord(plan, p, FAN_OUT);
    const out = <usize>layerWord(plan, p, OUT);
    matMulStrided(input, fanIn, 1, f32At(params, layerWord(plan, p, W_AT)), out, size, fanIn, fanOut);
    const biasAt = layerWord(plan, p, B_AT);
    addBiasAndRelu(out, size, fanOut, biasAt < 0 ? 0 : f32At(params, biasAt), p < layers - 1);
    input = out;
  }
}

// bias 0 means none; relu for every layer but the last. ReLU keeps z only where z > 0 (NaN becomes 0, as
// the scalar rule did), four lanes at a time.
function addBiasAndRelu(out: usize, rows: i32, cols: i32, bias: usize, relu: bool): void {
  if (bias != 0) addRowVector(out, rows, cols, bias);
  if (relu) keepWherePositive(out, out, rows * cols);
}

// Mean cross-entropy of the logits (last layer's output) and its gradient (softmax − onehot)/size into the
// last layer's delta, in float64 as the host path does (exp stored as float32, then scaled).
function softmaxCrossEntropyGrad(plan: usize, size: i32): f64 {
  const last = word(plan, LAYERS) - 1;
  const classes = layerWord(plan, last, FAN_OUT);
  const logits = <usize>layerWord(plan, last, OUT);
  const grad = <usize>layerWord(plan, last, DELTA);
  const labels = <usize>word(plan, BATCH_LABELS);
  let loss: f64 = 0;
  for (let r = 0; r < size; r++) {
    const row = r * classes;
    let max: f64 = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, <f64>load<f32>(f32At(logits, row + c)));
    let sum: f64 = 0;
    for (let c = 0; c < classes; c++) {
      const e = Math.exp(<f64>load<f32>(f32At(logits, row + c)) - max);
      store<f32>(f32At(grad, row + c), <f32>e);
      sum += e;
    }
    const label = load<i32>(f32At(labels, r));
    loss += Math.log(sum) + max - <f64>load<f32>(f32At(logits, row + label));
    const scale = 1 / (sum * <f64>size);
    for (let c = 0; c < classes; c++) {
      const at = f32At(grad, row + c);
      store<f32>(at, <f32>(<f64>load<f32>(at) * scale));
    }
    const at = f32At(grad, row + label);
    store<f32>(at, <f32>(<f64>load<f32>(at) - 1 / <f64>size));
  }
  return loss / <f64>size;
}

// Weight gradients aᵀ·delta (a read transposed in place), bias gradients as column sums of delta, and the
// delta of the layer below as (delta·Wᵀ) masked by its ReLU; layer 0's input gradient is never formed.
function backward(plan: usize, size: i32): void {
  const params = <usize>word(plan, PARAMS);
  const grads = <usize>word(plan, GRADS);
  for (let p = word(plan, LAYERS) - 1; p >= 0; p--) {
    const fanIn = layerWord(plan, p, FAN_IN);
    const fanOut = layerWord(plan, p, FAN_OUT);
    const delta = <usize>layerWord(plan, p, DELTA);
    const input = p == 0 ? <usize>word(plan, BATCH_X) : <usize>layerWord(plan, p - 1, OUT);
    matMulStrided(input, 1, fanIn, delta, f32At(grads, layerWord(plan, p, W_AT)), fanIn, size, fanOut);
    const biasAt = layerWord(plan, p, B_AT);
    if (biasAt >= 0) columnSums(delta, size, fanOut, f32At(grads, biasAt), false);
    if (p > 0) {
      const below = <usize>layerWord(plan, p - 1, DELTA);
      const weightT = <usize>word(plan, WEIGHT_T);
      transpose(f32At(params, layerWord(plan, p, W_AT)), fanIn, fanOut, weightT);
      matMulStrided(delta, fanOut, 1, weightT, below, size, fanOut, fanIn);
      keepWherePositive(below, input, size * fanIn);
    }
  }
}

// Adam with float32 state and float64 arithmetic per element, the host Adam's exact formula:
// m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g², θ −= lr·(m·c1)/(√(v·c2) + ε). Two elements at a time in
// f64x2: every lane does the same IEEE operations as the scalar tail, so the results are identical.
function adamUpdate(plan: usize, lr: f64, beta1: f64, beta2: f64, eps: f64, c1: f64, c2: f64): void {
  const params = <usize>word(plan, PARAMS);
  const grads = <usize>word(plan, GRADS);
  const ms = <usize>word(plan, ADAM_M);
  const vs = <usize>word(plan, ADAM_V);
  const count = word(plan, PARAM_COUNT);
  let j = 0;
  for (; j + 2 <= count; j += 2) {
    const g = pairAt(grads, j);
    const m = f64x2.add(f64x2.mul(f64x2.splat(beta1), pairAt(ms, j)), f64x2.mul(f64x2.splat(1 - beta1), g));
    const v = f64x2.add(f64x2.mul(f64x2.splat(beta2), pairAt(vs, j)), f64x2.mul(f64x2.mul(f64x2.splat(1 - beta2), g), g));
    const step = f64x2.div(
      f64x2.mul(f64x2.splat(lr), f64x2.mul(m, f64x2.splat(c1))),
      f64x2.add(f64x2.sqrt(f64x2.mul(v, f64x2.splat(c2))), f64x2.splat(eps)),
    );
    storePair(ms, j, m);
    storePair(vs, j, v);
    storePair(params, j, f64x2.sub(pairAt(params, j), step));
  }
  for (; j < count; j++) {
    const g = <f64>load<f32>(f32At(grads, j));
    const m = beta1 * <f64>load<f32>(f32At(ms, j)) + (1 - beta1) * g;
    const v = beta2 * <f64>load<f32>(f32At(vs, j)) + (1 - beta2) * g * g;
    store<f32>(f32At(ms, j), <f32>m);
    store<f32>(f32At(vs, j), <f32>v);
    const at = f32At(params, j);
    store<f32>(at, <f32>(<f64>load<f32>(at) - (lr * (m * c1)) / (Math.sqrt(v * c2) + eps)));
  }
}

// Float32 elements j, j+1 as an f64x2.
@inline function pairAt(base: usize, j: i32): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(f32At(base, j)));
}

// An f64x2 rounded to float32 into elements j, j+1.
@inline function storePair(base: usize, j: i32, x: v128): void {
  v128.store64_lane(f32At(base, j), f32x4.demote_f64x2_zero(x), 0);
}
