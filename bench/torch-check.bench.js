// Is the fused training step PyTorch's training? Runs the reference cell's first steps (FashionMNIST 10,000,
// 784-16×6-10 without biases, batch 64, Adam 1e-3) three ways from the same weights and batch order —
// hessweep's fused step, hessweep's tfjs path, and PyTorch's nn.Linear + torch.optim.Adam (bench/torch/
// same_training.py) — and prints how far apart the losses and parameters are at checkpoints.
// Usage: npm run bench -- torch-check [--steps 1570] [--seed 11]   (needs python3 with torch, e.g. Debian's python3-torch)
// --seed s draws the initial weights from seed s and the batch order from s + 1 (default 11, 12).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { lib, relativeDistance as relative, root } from './common.js';

const { values } = parseArgs({
  options: { steps: { type: 'string', default: '1570' }, seed: { type: 'string', default: '11' }, python: { type: 'string', default: 'python3' } },
});
const steps = Number(values.steps);
const seed = Number(values.seed);
if (!Number.isInteger(seed)) {
  console.error(`torch-check: --seed must be an integer, got ${values.seed}`);
  process.exit(2);
}
const probe = spawnSync(values.python, ['-c', 'import torch'], { encoding: 'utf8' });
if (probe.status !== 0) {
  console.error(`torch-check: ${values.python} cannot import torch (apt-get install python3-torch, or --python PATH)`);
  process.exit(2);
}

const L = await lib('landscape');
const { FusedTrainer } = await lib('kernels');
await L.useBackend('wasm');
const data = await L.loadDataset('fashion_mnist', {}, 10000);
const arch = L.mlpArchitecture(data.dim, 16, 5, data.classes, false);
const init = L.initParams(arch, 'uniform', new L.Rng(seed));
const batch = 64;
const rng = new L.Rng(seed + 1);
const rows = new Int32Array(steps * batch);
for (let s = 0; s < steps; s++) rows.set(rng.permutation(data.n).subarray(0, batch), s * batch);
const checkpoints = [1, 10, 100, 300, 500, 700, 1000, steps].filter((s, i, all) => s <= steps && all.indexOf(s) === i);

const flatten = (params) => Float32Array.from(params.weights.flatMap((w) => Array.from(w)));
const fused = await FusedTrainer.create({ sizes: arch.sizes, bias: false, batchSize: batch }, { lr: 1e-3 });
fused.setData(data.x, data.y);
fused.setParams(init);
const tfjsParams = { weights: init.weights.map((w) => w.slice()), biases: null };
const tfjs = new L.TfjsBatchGradients(data, arch, tfjsParams, batch);
const adam = new L.Adam(tfjs.hostParams, 1e-3);
const ours = { fused: new Map(), tfjs: new Map(), fusedLoss: [], tfjsLoss: [] };
for (let s = 0; s < steps; s++) {
  const batchRows = rows.subarray(s * batch, (s + 1) * batch);
  ours.fusedLoss.push(fused.step(batchRows));
  ours.tfjsLoss.push(tfjs.compute(batchRows));
  adam.step(tfjs.hostParams, tfjs.grads, tfjs.transposed);
  if (checkpoints.includes(s + 1)) {
    ours.fused.set(s + 1, flatten(fused.params()));
    ours.tfjs.set(s + 1, flatten(tfjsParams));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'hessweep-torch-check-'));
try {
  writeFileSync(join(dir, 'meta.json'), JSON.stringify({ sizes: arch.sizes, steps, batch, lr: 1e-3, checkpoints }));
  writeFileSync(join(dir, 'x.f32'), data.x);
  writeFileSync(join(dir, 'y.i32'), data.y);
  writeFileSync(join(dir, 'rows.i32'), rows);
  writeFileSync(join(dir, 'init.f32'), flatten(init));
  const run = spawnSync(values.python, [join(root, 'bench/torch/same_training.py'), dir], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`same_training.py failed:\n${run.stderr}`);
  // A copy of the bytes: a small file's Buffer is a view into a shared pool, so its .buffer starts elsewhere.
  const floats = (name, Type) => new Type(new Uint8Array(readFileSync(join(dir, name))).buffer);
  const torchLoss = floats('torch_losses.f64', Float64Array);
  console.log(`${JSON.parse(run.stdout).torch}: ${steps} steps of the reference cell from the same weights and batches (seeds ${seed}, ${seed + 1})`);
  console.log('step   ‖θ_fused − θ_torch‖/‖θ_torch‖   ‖θ_tfjs − θ_torch‖/‖θ_torch‖   ‖θ_fused − θ_tfjs‖/‖θ_tfjs‖   loss fused / tfjs / torch');
  for (const s of checkpoints) {
    const t = floats(`torch_params_${s}.f32`, Float32Array);
    const line = [relative(ours.fused.get(s), t), relative(ours.tfjs.get(s), t), relative(ours.fused.get(s), ours.tfjs.get(s))].map((v) => v.toExponential(2).padEnd(30));
    console.log(`${String(s).padEnd(6)} ${line.join(' ')} ${[ours.fusedLoss[s - 1], ours.tfjsLoss[s - 1], torchLoss[s - 1]].map((v) => v.toFixed(6)).join(' / ')}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
