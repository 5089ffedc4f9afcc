/** train: the fused WebAssembly step against the tfjs path (same batches, same losses, same parameters), and which one runs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, useBackend } from '../src/backend.js';
import { MeasurementError } from '../src/measurement.js';
import { Rng } from '../src/random.js';
import { train, trainFused, trainTfjs, type TrainOptions } from '../src/train.js';
import type { Architecture, Params } from '../src/model.js';
import type { Dataset } from '../src/data/types.js';
import { randomNetwork } from './helpers.js';

function copyParams(params: Params): Params {
  return { weights: params.weights.map((w) => w.slice()), biases: params.biases?.map((b) => b.slice()) ?? null };
}

function dataset(x: Float32Array, y: Int32Array, m: number): Dataset {
  return { x, y, n: m, dim: 6, classes: 3, source: 'random' };
}

/** Trains a copy of `params` with `run` and the same seeded shuffle; returns the per-epoch losses and the result. */
type Runner = (data: Dataset, arch: Architecture, params: Params, options: TrainOptions) => void | Promise<void>;

async function trained(run: Runner, data: Dataset, net: ReturnType<typeof randomNetwork>, epochs: number) {
  const params = copyParams(net.params);
  const losses: number[] = [];
  const options: TrainOptions = { epochs, batchSize: 16, lr: 0.01, rng: new Rng(99), onEpoch: (_, loss) => losses.push(loss) };
  await run(data, net.arch, params, options);
  return { params, losses };
}

for (const bias of [true, false]) {
  test(`fused and tfjs training agree epoch by epoch (${bias ? 'with' : 'without'} bias, last batch smaller)`, async () => {
    assert.equal(await useBackend('wasm'), 'wasm');
    // 50 samples in batches of 16: three full batches and one of 2 per epoch.
    const net = randomNetwork(bias ? 21 : 22, 2, bias, 50, 8);
    const data = dataset(net.x, net.y, net.m);
    const fused = await trained(trainFused, data, net, 5);
    const tfjs = await trained(trainTfjs, data, net, 5);
    assert.equal(fused.losses.length, 5);
    assert.equal(tfjs.losses.length, 5);
    fused.losses.forEach((loss, e) => {
      const rel = Math.abs(loss - tfjs.losses[e]) / Math.abs(tfjs.losses[e]);
      assert.ok(rel <= 1e-5, `epoch ${e + 1}: fused ${loss} vs tfjs ${tfjs.losses[e]} (rel ${rel})`);
    });
    // Training moved the parameters by much more than the paths differ: 20 Adam steps of lr 0.01.
    const all = (p: Params) => [...p.weights, ...(p.biases ?? [])];
    let maxDiff = 0;
    let maxMove = 0;
    all(fused.params).forEach((values, i) => {
      for (let j = 0; j < values.length; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(values[j] - all(tfjs.params)[i][j]));
        maxMove = Math.max(maxMove, Math.abs(values[j] - all(net.params)[i][j]));
      }
    });
    assert.ok(maxMove > 0.05, `training moved the parameters by at most ${maxMove}`);
    assert.ok(maxDiff <= 1e-4, `largest parameter difference fused vs tfjs ${maxDiff}`);
  });
}

test('train picks the fused step on wasm and cpu and reproduces trainFused exactly', async () => {
  const net = randomNetwork(23, 1, true, 40, 8);
  const data = dataset(net.x, net.y, net.m);
  const reference = await trained(trainFused, data, net, 3);
  try {
    for (const backend of ['wasm', 'cpu'] as const) {
      assert.equal(await useBackend(backend), backend);
      const params = copyParams(net.params);
      const losses: number[] = [];
      const trainer = await train(data, net.arch, params, { epochs: 3, batchSize: 16, lr: 0.01, rng: new Rng(99), onEpoch: (_, loss) => losses.push(loss) });
      assert.equal(trainer, 'fused');
      assert.deepEqual(losses, reference.losses);
      assert.deepEqual(params, reference.params);
    }
  } finally {
    assert.equal(await useBackend('wasm'), 'wasm');
  }
  assert.equal(tf.getBackend(), 'wasm');
});

for (const [name, run] of [['fused', trainFused], ['tfjs', trainTfjs]] as [string, Runner][]) {
  test(`${name} training stops at the first epoch whose mean loss is not finite`, async () => {
    assert.equal(await useBackend('wasm'), 'wasm');
    const net = randomNetwork(24, 1, true, 20, 8);
    // Inputs near float32's largest value overflow the first layer's products in the first batch.
    const data = dataset(net.x.map((v) => v * 3e38), net.y, net.m);
    const epochs: number[] = [];
    await assert.rejects(
      async () => run(data, net.arch, copyParams(net.params), { epochs: 3, batchSize: 8, lr: 0.01, rng: new Rng(1), onEpoch: (e) => epochs.push(e) }),
      (error: unknown) => error instanceof MeasurementError && /train_loss of epoch 1/.test(error.message),
    );
    assert.deepEqual(epochs, []);
  });
}
