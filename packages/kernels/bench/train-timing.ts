// Prints µs per fused training step for the reference cell's shape (784-16×6-10, batch 64, 10,000 rows),
// with and without biases. A measurement to read, not a test.
import { FusedTrainer } from '../src/index.js';

const SIZES = [784, 16, 16, 16, 16, 16, 16, 10];
const BATCH = 64;
const ROWS = 10_000;
const TARGET_MS = 1000;

function randomValues(length: number, scale: number): Float32Array {
  return Float32Array.from({ length }, () => (Math.random() * 2 - 1) * scale);
}

async function timeStep(bias: boolean): Promise<number> {
  const trainer = await FusedTrainer.create({ sizes: SIZES, bias, batchSize: BATCH }, { lr: 1e-3 });
  trainer.setData(randomValues(ROWS * SIZES[0]!, 1), Int32Array.from({ length: ROWS }, () => Math.floor(Math.random() * 10)));
  const layers = SIZES.length - 1;
  const weights = Array.from({ length: layers }, (_, p) => randomValues(SIZES[p]! * SIZES[p + 1]!, 1 / Math.sqrt(SIZES[p]!)));
  trainer.setParams({ weights, biases: bias ? Array.from({ length: layers }, (_, p) => randomValues(SIZES[p + 1]!, 0.1)) : null });
  const batches = Array.from({ length: 200 }, () => Int32Array.from({ length: BATCH }, () => Math.floor(Math.random() * ROWS)));
  for (const batch of batches) trainer.step(batch);
  let best = Infinity;
  const end = performance.now() + TARGET_MS;
  while (performance.now() < end) {
    const start = performance.now();
    for (const batch of batches) trainer.step(batch);
    best = Math.min(best, ((performance.now() - start) * 1000) / batches.length);
  }
  return best;
}

for (const bias of [true, false]) {
  console.log(`fused step ${SIZES.join('-')}, batch ${BATCH}, ${bias ? 'with' : 'without'} bias: ${(await timeStep(bias)).toFixed(1)} µs`);
}
