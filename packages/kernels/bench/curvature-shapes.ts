// Timing only (not a test): the kernels' products at the curvature pass's shapes over 10,000 samples, next to
// tfjs-wasm (XNNPACK) on the same shapes, alternating. Says whether a kernel would beat XNNPACK there.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { loadKernels } from '../src/index.js';

const random = (length: number) => Float32Array.from({ length }, () => Math.random() * 2 - 1);

function msPerCall(call: () => void, rounds = 7): number[] {
  call();
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    call();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  tf.enableProdMode();
  await tf.setBackend('wasm');
  await tf.ready();
  const kernels = await loadKernels();
  const m = 10_000;
  // [m×784]·[784×16k] (first layer, k directions), [m×16]·[16×16k] (hidden), Xᵀ·R ([784×m]·[m×16k], transposed A).
  const cases: Array<{ name: string; rows: number; inner: number; cols: number; transposedA: boolean }> = [];
  for (const k of [1, 3, 8]) {
    cases.push({ name: `X·V  784→${16 * k}`, rows: m, inner: 784, cols: 16 * k, transposedA: false });
    cases.push({ name: `A·V  16→${16 * k}`, rows: m, inner: 16, cols: 16 * k, transposedA: false });
    cases.push({ name: `Xᵀ·R 784×${16 * k}`, rows: 784, inner: m, cols: 16 * k, transposedA: true });
  }
  console.log('product                 kernel ms (min/median)   tfjs ms (min/median)   tfjs/kernel');
  for (const c of cases) {
    kernels.reset();
    const aValues = random(c.rows * c.inner);
    const bValues = random(c.inner * c.cols);
    // A transposed operand is stored as the tfjs path stores it: [inner × rows].
    const a = c.transposedA ? kernels.allocate(c.inner, c.rows) : kernels.allocate(c.rows, c.inner);
    const b = kernels.allocate(c.inner, c.cols);
    const out = kernels.allocate(c.rows, c.cols);
    a.write(aValues);
    b.write(bValues);
    const ta = c.transposedA ? tf.tensor2d(aValues, [c.inner, c.rows]) : tf.tensor2d(aValues, [c.rows, c.inner]);
    const tb = tf.tensor2d(bValues, [c.inner, c.cols]);
    const kernel: number[] = [];
    const tfjs: number[] = [];
    for (let round = 0; round < 3; round++) {
      kernel.push(...msPerCall(() => (c.transposedA ? kernels.matMulTransposedA(a, b, out) : kernels.matMul(a, b, out)), 3));
      tfjs.push(...msPerCall(() => tf.matMul(ta, tb, c.transposedA, false).dataSync(), 3));
    }
    kernel.sort((x, y) => x - y);
    tfjs.sort((x, y) => x - y);
    const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
    console.log(`${c.name.padEnd(22)} ${kernel[0]!.toFixed(2).padStart(7)} / ${median(kernel).toFixed(2).padStart(7)}        ${tfjs[0]!.toFixed(2).padStart(7)} / ${median(tfjs).toFixed(2).padStart(7)}      ${(median(tfjs) / median(kernel)).toFixed(2)}`);
    ta.dispose();
    tb.dispose();
  }
}

await main();
