// The two engines of the curvature passes side by side in one process (docs/DESIGN.md §2.6.2): the
// WebAssembly kernels and tfjs's products, on the same network (FashionMNIST, 10,000 samples, 2 epochs of
// training) and the same directions, alternating per round. Reports each pass's median [min–max] time, the
// ratio kernels / tfjs and the relative difference of their results.
// Usage: npm run bench -- engines [--runs 5]
import { parseArgs } from 'node:util';
import { lib, relativeDistance } from './common.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);
if (!(Number.isInteger(runs) && runs >= 1)) {
  console.error(`engines bench: --runs must be a positive integer, got ${values.runs}`);
  process.exit(2);
}
const L = await lib('landscape');
await L.useBackend('wasm');
const data = await L.loadDataset('fashion_mnist', {}, 10000);

const sorted = (xs) => [...xs].sort((a, b) => a - b);
const summary = (xs) => `${sorted(xs)[Math.floor(xs.length / 2)].toFixed(1)} [${sorted(xs)[0].toFixed(1)}–${sorted(xs).at(-1).toFixed(1)}] ms`;
const timed = (f) => {
  const start = performance.now();
  const value = f();
  return { value, ms: performance.now() - start };
};

async function shape(width, depth) {
  const arch = L.mlpArchitecture(data.dim, width, depth, data.classes, false);
  const params = L.initParams(arch, 'uniform', new L.Rng(1));
  await L.train(data, arch, params, { epochs: 2, batchSize: 64, lr: 1e-3, rng: new L.Rng(2) });
  const engines = { kernels: new L.Curvature(arch, params, data, 'fused'), tfjs: new L.Curvature(arch, params, data, 'tfjs') };
  const rng = new L.Rng(3);
  const direction = () => Float64Array.from({ length: engines.kernels.dim }, () => rng.normal());
  const [v, w] = [direction(), direction()];
  const basis = Array.from({ length: 5 }, direction);
  const deltas = Array.from({ length: 16 }, () => direction().map((x) => 1e-3 * x));
  const passes = {
    'Hessian-vector product': (c) => c.products([v], ['hessian'])[0],
    'GGN-vector product': (c) => c.products([v], ['ggn'])[0],
    'H and G directions in one pass': (c) => c.products([v, w], ['hessian', 'ggn']).flatMap((r) => Array.from(r)),
    '16 forward passes at θ̂ + δ (lossesAt)': (c) => deltas.flatMap((d) => Array.from(c.lossesAt(d))),
    'exact trace': (c) => [c.exactTrace()],
    'per-sample projections, 5 directions': (c) => c.projected(basis).hessians,
  };
  console.log(`\nFashionMNIST 10,000 samples, width ${width}, depth ${depth} (${engines.kernels.dim} parameters), ${runs} rounds`);
  for (const [name, pass] of Object.entries(passes)) {
    const times = { kernels: [], tfjs: [] };
    let results = {};
    for (let r = 0; r < runs; r++) {
      for (const who of ['kernels', 'tfjs']) {
        const { value, ms } = timed(() => pass(engines[who]));
        times[who].push(ms);
        results[who] = value;
      }
    }
    const ratio = sorted(times.kernels.map((k, i) => k / times.tfjs[i]))[Math.floor(runs / 2)];
    console.log(`  ${name.padEnd(40)} kernels ${summary(times.kernels)}   tfjs ${summary(times.tfjs)}   ratio ${ratio.toFixed(2)}   difference ${relativeDistance(results.kernels, results.tfjs).toExponential(1)}`);
  }
  for (const c of Object.values(engines)) c.dispose();
}

await shape(16, 5);
await shape(64, 10);
