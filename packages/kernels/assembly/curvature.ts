// Exact Hessian- and Gauss-Newton-vector products of a ReLU MLP at fixed parameters θ̂ by Pearlmutter's
// R-operator, over every sample in one call: the samples go through the whole network a chunk at a time, so
// each chunk's tangents and adjoints stay in cache and the first layer streams X once per product.
// The forward and backward passes at θ̂ (activations, δ, probabilities) are the host's, laid out once.
import { matMulStrided, matMulStridedAdd } from './products';
import { addRowVector, columnSums, f32At, keepWherePositive, transpose } from './elementwise';

// The plan is an i32 table the host writes once (packages/kernels/src/curvature.ts mirrors it).
const LAYERS = 0, SAMPLES = 1, CHUNK = 2, X = 3, PROBS = 4, PROBS_OVER_M = 5, WEIGHTS = 6, DIRECTION = 7, RESULT = 8, PARAM_COUNT = 9;
const HEADER = 10;
// Per layer p (z_p = a_p·W_p + b_p, a_0 = X): fan in, fan out, element offsets of W_p and b_p in the flat
// parameters (b: −1 without biases), W_pᵀ and V_pᵀ [fanOut×fanIn] (layers ≥ 1), a_p [samples×fanIn] (layers
// ≥ 1; layer 0 reads X), δ_p = ∂loss/∂z_p [samples×fanOut], and two chunk buffers [chunk×fanOut]: the
// tangent Rz_p (masked in place into Ra_{p+1} once the next layer has used it) and the adjoint Rδ_p.
// DIRECTION, RESULT and DIRECTION_T hold room for several directions, one after another.
const FAN_IN = 0, FAN_OUT = 1, W_AT = 2, B_AT = 3, WEIGHT_T = 4, DIRECTION_T = 5, ACT = 6, DELTA = 7, TANGENT = 8, ADJOINT = 9;
const LAYER_WORDS = 10;

@inline function word(plan: usize, index: i32): i32 {
  return load<i32>(plan + ((<usize>index) << 2));
}

@inline function layerWord(plan: usize, layer: i32, field: i32): i32 {
  return word(plan, HEADER + layer * LAYER_WORDS + field);
}

@inline function layerPointer(plan: usize, layer: i32, field: i32): usize {
  return <usize>layerWord(plan, layer, field);
}

/**
 * RESULT[d] = H·v_d (bit d of `secondOrder` set) or G·v_d (clear) for the `count` directions v_d in DIRECTION
 * (flat as the parameters, one after another), all of the mean loss over the samples. Each chunk of samples
 * serves every direction before the next chunk is read, so X streams from memory once per call. Sums run in
 * float32 over the samples in order.
 */
export function curvatureProducts(plan: usize, count: i32, secondOrder: i32): void {
  const layers = word(plan, LAYERS);
  const samples = word(plan, SAMPLES);
  const chunk = word(plan, CHUNK);
  const dim = word(plan, PARAM_COUNT);
  memory.fill(<usize>word(plan, RESULT), 0, (<usize>(count * dim)) << 2);
  for (let d = 0; d < count; d++) {
    if (!hessian(secondOrder, d)) continue;
    const direction = f32At(<usize>word(plan, DIRECTION), d * dim);
    for (let p = 1; p < layers; p++) {
      const fanIn = layerWord(plan, p, FAN_IN);
      const fanOut = layerWord(plan, p, FAN_OUT);
      transpose(f32At(direction, layerWord(plan, p, W_AT)), fanIn, fanOut, directionT(plan, p, d));
    }
  }
  for (let first = 0; first < samples; first += chunk) {
    const rows = min(chunk, samples - first);
    for (let d = 0; d < count; d++) {
      forwardTangents(plan, first, rows, d);
      outputAdjoint(plan, first, rows);
      backwardAdjoints(plan, first, rows, d, hessian(secondOrder, d));
    }
  }
}

@inline function hessian(secondOrder: i32, d: i32): bool {
  return ((secondOrder >> d) & 1) != 0;
}

// V_pᵀ of direction d.
@inline function directionT(plan: usize, p: i32, d: i32): usize {
  return f32At(layerPointer(plan, p, DIRECTION_T), d * layerWord(plan, p, FAN_IN) * layerWord(plan, p, FAN_OUT));
}

// a_p of the chunk's rows (layer 0: X).
@inline function inputRows(plan: usize, p: i32, first: i32): usize {
  const fanIn = layerWord(plan, p, FAN_IN);
  const base = p == 0 ? <usize>word(plan, X) : layerPointer(plan, p, ACT);
  return f32At(base, first * fanIn);
}

// Rz_0 = X·V_0 (+ c_0); Ra_p = mask_p ⊙ Rz_{p−1}; Rz_p = Ra_p·W_p + a_p·V_p (+ c_p).
function forwardTangents(plan: usize, first: i32, rows: i32, d: i32): void {
  const layers = word(plan, LAYERS);
  const weights = <usize>word(plan, WEIGHTS);
  const direction = f32At(<usize>word(plan, DIRECTION), d * word(plan, PARAM_COUNT));
  for (let p = 0; p < layers; p++) {
    const fanIn = layerWord(plan, p, FAN_IN);
    const fanOut = layerWord(plan, p, FAN_OUT);
    const tangent = layerPointer(plan, p, TANGENT);
    const input = inputRows(plan, p, first);
    const wAt = layerWord(plan, p, W_AT);
    if (p == 0) {
      matMulStrided(input, fanIn, 1, f32At(direction, wAt), tangent, rows, fanIn, fanOut);
    } else {
      const below = layerPointer(plan, p - 1, TANGENT);
      keepWherePositive(below, input, rows * fanIn);
      matMulStrided(below, fanIn, 1, f32At(weights, wAt), tangent, rows, fanIn, fanOut);
      matMulStridedAdd(input, fanIn, 1, f32At(direction, wAt), tangent, rows, fanIn, fanOut);
    }
    const bAt = layerWord(plan, p, B_AT);
    if (bAt >= 0) addRowVector(tangent, rows, fanOut, f32At(direction, bAt));
  }
}

// Rδ_{L−1} = (diag p − ppᵀ)·Rz_{L−1} / m per sample: p ⊙ (Rz − pᵀRz) / m.
function outputAdjoint(plan: usize, first: i32, rows: i32): void {
  const last = word(plan, LAYERS) - 1;
  const classes = layerWord(plan, last, FAN_OUT);
  const tangent = layerPointer(plan, last, TANGENT);
  const adjoint = layerPointer(plan, last, ADJOINT);
  const probs = f32At(<usize>word(plan, PROBS), first * classes);
  const probsOverM = f32At(<usize>word(plan, PROBS_OVER_M), first * classes);
  for (let r = 0; r < rows; r++) {
    const row = r * classes;
    let weighted: f32 = 0;
    for (let c = 0; c < classes; c++) weighted += load<f32>(f32At(tangent, row + c)) * load<f32>(f32At(probs, row + c));
    for (let c = 0; c < classes; c++) {
      store<f32>(f32At(adjoint, row + c), (load<f32>(f32At(tangent, row + c)) - weighted) * load<f32>(f32At(probsOverM, row + c)));
    }
  }
}

// R(∇W_p) += a_pᵀ·Rδ_p (+ Ra_pᵀ·δ_p), R(∇b_p) += Σ Rδ_p; Rδ_{p−1} = mask_p ⊙ (Rδ_p·W_pᵀ (+ δ_p·V_pᵀ)).
function backwardAdjoints(plan: usize, first: i32, rows: i32, d: i32, secondOrder: bool): void {
  const result = f32At(<usize>word(plan, RESULT), d * word(plan, PARAM_COUNT));
  for (let p = word(plan, LAYERS) - 1; p >= 0; p--) {
    const fanIn = layerWord(plan, p, FAN_IN);
    const fanOut = layerWord(plan, p, FAN_OUT);
    const adjoint = layerPointer(plan, p, ADJOINT);
    const input = inputRows(plan, p, first);
    const gradient = f32At(result, layerWord(plan, p, W_AT));
    const delta = f32At(layerPointer(plan, p, DELTA), first * fanOut);
    matMulStridedAdd(input, 1, fanIn, adjoint, gradient, fanIn, rows, fanOut);
    if (secondOrder && p > 0) matMulStridedAdd(layerPointer(plan, p - 1, TANGENT), 1, fanIn, delta, gradient, fanIn, rows, fanOut);
    const bAt = layerWord(plan, p, B_AT);
    if (bAt >= 0) columnSums(adjoint, rows, fanOut, f32At(result, bAt), true);
    if (p > 0) {
      const below = layerPointer(plan, p - 1, ADJOINT);
      matMulStrided(adjoint, fanOut, 1, layerPointer(plan, p, WEIGHT_T), below, rows, fanOut, fanIn);
      if (secondOrder) matMulStridedAdd(delta, fanOut, 1, directionT(plan, p, d), below, rows, fanOut, fanIn);
      keepWherePositive(below, input, rows * fanIn);
    }
  }
}

/**
 * The logits [samples×classes] of the network at the flat parameters `params` over the plan's samples, a
 * chunk at a time: the training step's forward pass, ReLUs evaluated afresh. With `keep` the hidden layers'
 * outputs go to the plan's activations (the state at θ̂); otherwise through the chunk's tangent buffers.
 */
export function forwardLogits(plan: usize, params: usize, logits: usize, keep: bool): void {
  const layers = word(plan, LAYERS);
  const samples = word(plan, SAMPLES);
  const chunk = word(plan, CHUNK);
  const classes = layerWord(plan, layers - 1, FAN_OUT);
  for (let first = 0; first < samples; first += chunk) {
    const rows = min(chunk, samples - first);
    let input = inputRows(plan, 0, first);
    for (let p = 0; p < layers; p++) {
      const fanIn = layerWord(plan, p, FAN_IN);
      const fanOut = layerWord(plan, p, FAN_OUT);
      let out: usize;
      if (p == layers - 1) out = f32At(logits, first * classes);
      else out = keep ? inputRows(plan, p + 1, first) : layerPointer(plan, p, TANGENT);
      matMulStrided(input, fanIn, 1, f32At(params, layerWord(plan, p, W_AT)), out, rows, fanIn, fanOut);
      const bAt = layerWord(plan, p, B_AT);
      if (bAt >= 0) addRowVector(out, rows, fanOut, f32At(params, bAt));
      if (p < layers - 1) keepWherePositive(out, out, rows * fanOut);
      input = out;
    }
  }
}

/**
 * tr G_i per sample into `out` [samples] (G_i = J_iᵀ A_i J_i, not divided by the sample count), from the
 * per-sample logit-Jacobian blocks B_p = ∂z_{L−1}/∂z_p [classes × fanOut_p]: tr G_i = Σ_p (‖a_p‖² + bias) ·
 * (Σ_k p_k ‖B_p,k‖² − ‖pᵀB_p‖²), with B_{L−1} = I and B_{p−1} = (B_p·W_pᵀ) ⊙ mask_p. `scratch` holds two
 * [classes × widest] blocks and a [widest] row. For a ReLU network tr H = tr G.
 */
export function traceTerms(plan: usize, scratch: usize, out: usize, bias: bool): void {
  const samples = word(plan, SAMPLES);
  const blockFloats = layerWord(plan, word(plan, LAYERS) - 1, FAN_OUT) * widestFanOut(plan);
  for (let i = 0; i < samples; i++) store<f32>(f32At(out, i), sampleTraceTerm(plan, scratch, blockFloats, i, bias));
}

// One sample's term, as a function of its own: V8 first runs WebAssembly from a baseline compile and swaps in
// optimised code only at a call, so the work goes in functions called many times, not in one long loop.
function sampleTraceTerm(plan: usize, scratch: usize, blockFloats: i32, i: i32, bias: bool): f32 {
  const layers = word(plan, LAYERS);
  const classes = layerWord(plan, layers - 1, FAN_OUT);
  const probs = f32At(<usize>word(plan, PROBS), i * classes);
  const one: f32 = bias ? 1 : 0;
  // Output layer: B = I, so the bracket is 1 − ‖p‖².
  let total: f32 = (squaredNorm(inputRows(plan, layers - 1, i), layerWord(plan, layers - 1, FAN_IN)) + one) * (1 - squaredNorm(probs, classes));
  let current = scratch;
  let next = f32At(scratch, blockFloats);
  const pB = f32At(scratch, 2 * blockFloats);
  for (let p = layers - 1; p >= 1; p--) {
    // B_{p−1} = (B_p·W_pᵀ) ⊙ mask_p; for p = L−1, B_p = I, so B_{p−1} = W_pᵀ ⊙ mask_p.
    const fanIn = layerWord(plan, p, FAN_IN);
    const fanOut = layerWord(plan, p, FAN_OUT);
    const weightT = layerPointer(plan, p, WEIGHT_T);
    if (p == layers - 1) memory.copy(next, weightT, (<usize>(classes * fanIn)) << 2);
    else matMulStrided(current, fanOut, 1, weightT, next, classes, fanOut, fanIn);
    const act = inputRows(plan, p, i);
    for (let k = 0; k < classes; k++) keepWherePositive(f32At(next, k * fanIn), act, fanIn);
    const swap = current;
    current = next;
    next = swap;
    total += (squaredNorm(inputRows(plan, p - 1, i), layerWord(plan, p - 1, FAN_IN)) + one) * bracket(current, probs, pB, classes, fanIn);
  }
  return total;
}

// The largest fan out of any layer: the width of the scratch blocks.
function widestFanOut(plan: usize): i32 {
  let widest = 0;
  for (let p = 0; p < word(plan, LAYERS); p++) widest = max(widest, layerWord(plan, p, FAN_OUT));
  return widest;
}

// Σ_k p_k ‖B_k‖² − ‖pᵀB‖² for B [classes × width].
function bracket(b: usize, probs: usize, pB: usize, classes: i32, width: i32): f32 {
  memory.fill(pB, 0, (<usize>width) << 2);
  let weighted: f32 = 0;
  for (let k = 0; k < classes; k++) {
    const pk = load<f32>(f32At(probs, k));
    const row = f32At(b, k * width);
    let norm: f32 = 0;
    for (let c = 0; c < width; c++) {
      const v = load<f32>(f32At(row, c));
      norm += v * v;
      store<f32>(f32At(pB, c), load<f32>(f32At(pB, c)) + pk * v);
    }
    weighted += pk * norm;
  }
  return weighted - squaredNorm(pB, width);
}

function squaredNorm(x: usize, length: i32): f32 {
  let sum: f32 = 0;
  for (let c = 0; c < length; c++) sum += load<f32>(f32At(x, c)) * load<f32>(f32At(x, c));
  return sum;
}

/**
 * Per-sample terms of the loss's derivatives along the `count` directions u_j in DIRECTION, for
 * `Curvature.projected`: the logits' tangents dz_j = J u_j into `tangents` [samples × count × classes], and
 * S_jl = Σ_{p≥1} da_p,jᵀ (dW_p,l · δ_p) into `second` [samples × count × count], with da_p,j the forward
 * tangent of a_p (the R-pass of the products) and δ_p of the mean loss. `adjoints` holds count × layers ×
 * chunk × widest floats for the vectors dW_p,l · δ_p of a chunk.
 */
export function projectedTerms(plan: usize, count: i32, adjoints: usize, tangents: usize, second: usize): void {
  const layers = word(plan, LAYERS);
  const samples = word(plan, SAMPLES);
  const chunk = word(plan, CHUNK);
  const dim = word(plan, PARAM_COUNT);
  const classes = layerWord(plan, layers - 1, FAN_OUT);
  const block = chunk * widestFanOut(plan);
  for (let l = 0; l < count; l++) {
    const direction = f32At(<usize>word(plan, DIRECTION), l * dim);
    for (let p = 1; p < layers; p++) {
      transpose(f32At(direction, layerWord(plan, p, W_AT)), layerWord(plan, p, FAN_IN), layerWord(plan, p, FAN_OUT), directionT(plan, p, l));
    }
  }
  for (let first = 0; first < samples; first += chunk) {
    const rows = min(chunk, samples - first);
    // dW_p,l · δ_p per sample: δ_p [rows × fanOut] · V_p,lᵀ [fanOut × fanIn].
    for (let l = 0; l < count; l++) {
      for (let p = 1; p < layers; p++) {
        const fanIn = layerWord(plan, p, FAN_IN);
        const fanOut = layerWord(plan, p, FAN_OUT);
        const delta = f32At(layerPointer(plan, p, DELTA), first * fanOut);
        matMulStrided(delta, fanOut, 1, directionT(plan, p, l), f32At(adjoints, (l * layers + p) * block), rows, fanOut, fanIn);
      }
    }
    for (let j = 0; j < count; j++) {
      forwardTangents(plan, first, rows, j);
      // After the pass, layer p−1's tangent buffer holds da_p (masked in place) and the last layer's the logits'.
      const logits = layerPointer(plan, layers - 1, TANGENT);
      for (let r = 0; r < rows; r++) {
        memory.copy(f32At(tangents, ((first + r) * count + j) * classes), f32At(logits, r * classes), (<usize>classes) << 2);
      }
      for (let l = 0; l < count; l++) {
        const out = f32At(second, (first * count + j) * count + l);
        for (let p = 1; p < layers; p++) {
          const fanIn = layerWord(plan, p, FAN_IN);
          addRowDots(layerPointer(plan, p - 1, TANGENT), f32At(adjoints, (l * layers + p) * block), out, rows, fanIn, count * count, p == 1);
        }
      }
    }
  }
}

// out[r·outStride] (+)= x_r · y_r for the rows r of two row-major [rows × width] matrices (written when `first`).
function addRowDots(x: usize, y: usize, out: usize, rows: i32, width: i32, outStride: i32, first: bool): void {
  for (let r = 0; r < rows; r++) {
    const at = f32At(out, r * outStride);
    const value = dot(f32At(x, r * width), f32At(y, r * width), width);
    store<f32>(at, first ? value : load<f32>(at) + value);
  }
}

// Four lanes at a time, reduced once at the end, then the last length mod 4 terms.
@inline function dot(x: usize, y: usize, length: i32): f32 {
  let lanes = f32x4.splat(0);
  let c = 0;
  for (; c + 4 <= length; c += 4) lanes = f32x4.add(lanes, f32x4.mul(v128.load(f32At(x, c)), v128.load(f32At(y, c))));
  let sum = f32x4.extract_lane(lanes, 0) + f32x4.extract_lane(lanes, 1) + f32x4.extract_lane(lanes, 2) + f32x4.extract_lane(lanes, 3);
  for (; c < length; c++) sum += load<f32>(f32At(x, c)) * load<f32>(f32At(y, c));
  return sum;
}

/** δ_{p−1} = (δ_p·W_pᵀ) ⊙ mask_p for p = L−1..1 over every sample, from the output layer's δ the host wrote. */
export function backwardDeltas(plan: usize): void {
  const samples = word(plan, SAMPLES);
  for (let p = word(plan, LAYERS) - 1; p >= 1; p--) {
    const fanIn = layerWord(plan, p, FAN_IN);
    const fanOut = layerWord(plan, p, FAN_OUT);
    const below = layerPointer(plan, p - 1, DELTA);
    matMulStrided(layerPointer(plan, p, DELTA), fanOut, 1, layerPointer(plan, p, WEIGHT_T), below, samples, fanOut, fanIn);
    keepWherePositive(below, layerPointer(plan, p, ACT), samples * fanIn);
  }
}

/** The gradient of the mean loss at θ̂ into `out` (flat as the parameters): a_pᵀ·δ_p and the column sums of δ_p. */
export function gradientAt(plan: usize, out: usize): void {
  const samples = word(plan, SAMPLES);
  for (let p = 0; p < word(plan, LAYERS); p++) {
    const fanIn = layerWord(plan, p, FAN_IN);
    const fanOut = layerWord(plan, p, FAN_OUT);
    const delta = layerPointer(plan, p, DELTA);
    matMulStrided(inputRows(plan, p, 0), 1, fanIn, delta, f32At(out, layerWord(plan, p, W_AT)), fanIn, samples, fanOut);
    const bAt = layerWord(plan, p, B_AT);
    if (bAt >= 0) columnSums(delta, samples, fanOut, f32At(out, bAt), false);
  }
}
