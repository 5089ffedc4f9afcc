// The reference cell of issue 2, timed as a user runs it (process start to exit), plus the cost of one
// Hessian-vector product over 10,000 samples with 1…16 directions per pass.
// Usage: npm run bench -- cell [--runs 3] [--backend wasm]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'packages/cli/dist/src/main.js');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, backend: { type: 'string', default: 'wasm' } } });
const runs = Number(values.runs);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function cell(width, depth) {
  const args = [cli, 'cell', '--dataset', 'fashion_mnist', '--width', `${width}`, '--depth', `${depth}`, '--sample-size', '10000',
    '--epochs', '10', '--batch-size', '64', '--permutations', '100', '--top-k', '5', '--lanczos-iters', '30', '--backend', values.backend, '--json', '--quiet'];
  const rows = [];
  const walls = [];
  for (let r = 0; r < runs; r++) {
    const start = performance.now();
    const out = spawnSync(process.execPath, args, { encoding: 'utf8' });
    walls.push((performance.now() - start) / 1000);
    if (out.status !== 0) throw new Error(`hessweep cell failed:\n${out.stderr}`);
    rows.push(JSON.parse(out.stdout));
  }
  const stages = ['load_s', 'train_s', 'losses_s', 'curve_s', 'hessian_s', 'ggn_s', 'trace_s', 'density_s', 'bound_s', 'total_s'];
  console.log(`\nFashionMNIST 10,000 samples, width ${width}, depth ${depth} (${rows[0].n_params} parameters), backend ${rows[0].backend}, median of ${runs}`);
  for (const s of stages) console.log(`  ${s.padEnd(10)} ${median(rows.map((r) => r[s])).toFixed(3)} s`);
  console.log(`  ${'wall'.padEnd(10)} ${median(walls).toFixed(3)} s   (process start to exit)`);
  const r = rows[0];
  const products = r.hessian_iters + r.ggn_iters;
  console.log(`  Lanczos steps H/G ${r.hessian_iters}/${r.ggn_iters}: ${((1000 * (median(rows.map((x) => x.hessian_s + x.ggn_s)))) / products).toFixed(1)} ms per product (2 directions per pass)`);
  console.log(`  train accuracy ${r.train_accuracy.toFixed(4)}, λ_max(H) ${r.hessian_top[0].toFixed(3)}, slope ${r.loss_diff_slope.toFixed(3)}`);
}

async function products(width, depth) {
  const L = await import(join(root, 'packages/landscape/dist/src/index.js'));
  await L.useBackend(values.backend);
  const data = await L.loadDataset('fashion_mnist', {}, 10000);
  const arch = L.mlpArchitecture(data.dim, width, depth, data.classes, false);
  const curvature = new L.Curvature(arch, L.initParams(arch, 'uniform', new L.Rng(0)), data);
  const rng = new L.Rng(1);
  console.log(`\nproducts over 10,000 samples, width ${width}, depth ${depth}: ms per direction`);
  for (const kind of ['hessian', 'ggn']) {
    const line = [];
    for (const k of [1, 2, 4, 8, 16]) {
      const vs = Array.from({ length: k }, () => Float64Array.from({ length: curvature.dim }, () => rng.normal()));
      curvature.products(vs, vs.map(() => kind));
      const times = [];
      for (let r = 0; r < 3; r++) {
        const t = performance.now();
        curvature.products(vs, vs.map(() => kind));
        times.push((performance.now() - t) / k);
      }
      line.push(`k=${k}: ${median(times).toFixed(1)}`);
    }
    console.log(`  ${kind.padEnd(8)} ${line.join('   ')}`);
  }
  curvature.dispose();
}

cell(16, 5);
cell(64, 10);
await products(16, 5);
await products(64, 10);
