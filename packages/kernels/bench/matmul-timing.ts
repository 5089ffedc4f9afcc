// Prints µs per product for the network's two shapes: this package's SIMD kernel (operands resident in its
// arena, and with copy in/out) next to tfjs-wasm's tf.matMul, then the backward products against tf.matMul
// with transpose flags. A measurement to read, not a test.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { loadKernels, type DenseKernels } from '../src/index.js';

const SHAPES: Array<[number, number, number]> = [[64, 784, 16], [64, 16, 16]];
const TARGET_MS = 300;

function randomValues(length: number): Float32Array {
  return Float32Array.from({ length }, () => Math.random() * 2 - 1);
}

// Repeats `call` in rounds until TARGET_MS elapse and returns the best round's µs per call (least disturbed).
function microsecondsPerCall(call: () => void): number {
  for (let i = 0; i < 50; i++) call();
  const perRound = 200;
  let best = Infinity;
  const end = performance.now() + TARGET_MS;
  while (performance.now() < end) {
    const start = performance.now();
    for (let i = 0; i < perRound; i++) call();
    best = Math.min(best, ((performance.now() - start) * 1000) / perRound);
  }
  return best;
}

function timeKernel(kernels: DenseKernels, m: number, k: number, n: number): { resident: number; copied: number } {
  kernels.reset();
  const xValues = randomValues(m * k), wValues = randomValues(k * n);
  const x = kernels.allocate(m, k), w = kernels.allocate(k, n), y = kernels.allocate(m, n);
  x.write(xValues);
  w.write(wValues);
  const resident = microsecondsPerCall(() => kernels.matMul(x, w, y));
  const copied = microsecondsPerCall(() => {
    x.write(xValues);
    w.write(wValues);
    kernels.matMul(x, w, y);
    y.read();
  });
  return { resident, copied };
}

function timeTfjs(m: number, k: number, n: number): number {
  const x = tf.tensor2d(randomValues(m * k), [m, k]), w = tf.tensor2d(randomValues(k * n), [k, n]);
  const perCall = microsecondsPerCall(() => tf.matMul(x, w).dispose());
  x.dispose();
  w.dispose();
  return perCall;
}

async function main(): Promise<void> {
  tf.enableProdMode();
  await tf.setBackend('wasm');
  await tf.ready();
  const kernels = await loadKernels();
  console.log('shape                 kernel(resident) µs  kernel(copy in/out) µs  tfjs-wasm tf.matMul µs');
  for (const [m, k, n] of SHAPES) {
    const { resident, copied } = timeKernel(kernels, m, k, n);
    const tfjs = timeTfjs(m, k, n);
    const gflops = (2 * m * k * n) / (resident * 1e3);
    const label = `[${m}×${k}]·[${k}×${n}]`.padEnd(22);
    console.log(`${label}${resident.toFixed(1).padStart(10)} (${gflops.toFixed(1)} GFLOP/s)${copied.toFixed(1).padStart(16)}${tfjs.toFixed(1).padStart(22)}`);
  }
  console.log('\nbackward (resident)   dW=xᵀ·dy kernel / tfjs µs   dX=dy·wᵀ kernel / tfjs µs');
  for (const [m, k, n] of SHAPES) {
    const [dw, dx] = timeBackward(kernels, m, k, n);
    console.log(`${`[${m}×${k}]·[${k}×${n}]`.padEnd(22)}${`${dw[0].toFixed(1)} / ${dw[1].toFixed(1)}`.padStart(18)}${`${dx[0].toFixed(1)} / ${dx[1].toFixed(1)}`.padStart(28)}`);
  }
}

// [kernel µs, tfjs µs] for the weight gradient and for the input gradient of the layer x·w.
function timeBackward(kernels: DenseKernels, m: number, k: number, n: number): [[number, number], [number, number]] {
  kernels.reset();
  const xValues = randomValues(m * k), wValues = randomValues(k * n), dyValues = randomValues(m * n);
  const x = kernels.allocate(m, k), w = kernels.allocate(k, n), dy = kernels.allocate(m, n);
  const dw = kernels.allocate(k, n), dx = kernels.allocate(m, k);
  x.write(xValues);
  w.write(wValues);
  dy.write(dyValues);
  const tx = tf.tensor2d(xValues, [m, k]), tw = tf.tensor2d(wValues, [k, n]), tdy = tf.tensor2d(dyValues, [m, n]);
  const result: [[number, number], [number, number]] = [
    [microsecondsPerCall(() => kernels.matMulTransposedA(x, dy, dw)), microsecondsPerCall(() => tf.matMul(tx, tdy, true, false).dispose())],
    [microsecondsPerCall(() => kernels.matMulTransposedB(dy, w, dx)), microsecondsPerCall(() => tf.matMul(tdy, tw, false, true).dispose())],
  ];
  tf.dispose([tx, tw, tdy]);
  return result;
}

await main();
