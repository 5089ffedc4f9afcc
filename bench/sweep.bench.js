// Sweep orchestration: per-cell overhead on 200 tiny cells, and parallel scaling at concurrency 2 against
// the machine's ceiling (two independent `hessweep cell` processes at once), measured in the same run.
// Usage: npm run bench -- sweep [--cells 200] [--scaling-cells 8]
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lib = (name) => import(join(root, `packages/${name}/dist/src/index.js`));
const [grid, { InProcessQueue }, { Worker }, { runSweep }] = await Promise.all([lib('grid'), lib('queue'), lib('worker'), lib('coordinator')]);
const { values } = parseArgs({ options: { cells: { type: 'string', default: '200' }, 'scaling-cells': { type: 'string', default: '8' } } });

/** Runs a spec in-process (coordinator + worker threads over the in-process queue); returns wall seconds and rows. */
async function sweep(spec, concurrency, out) {
  const queue = new InProcessQueue();
  const worker = new Worker(queue, { slots: concurrency, maxAttempts: 1, backend: 'wasm' });
  const rows = [];
  const start = performance.now();
  const working = worker.run();
  const outcome = await runSweep(
    queue,
    { sweep: spec.name, cells: grid.expandGrid(spec), spec, specHash: grid.specHash(spec), settingsHash: grid.specSettingsHash(spec) },
    { out, onProgress: (p) => p.row && rows.push(p.row) },
  );
  const wall = (performance.now() - start) / 1000;
  await queue.close();
  await working;
  if (outcome.failed > 0) throw new Error(`${outcome.failed} cells failed: ${rows.find((r) => r.status === 'failed')?.error}`);
  return { wall, rows };
}

function specText(name, widths, seeds, sampleSize, epochs, topK, dataset = 'synthetic', depth = 2) {
  return JSON.stringify({
    name,
    grid: { dataset: [dataset], width: widths, depth: [depth], seed: seeds, sample_size: [sampleSize] },
    train: { epochs },
    measure: { permutations: 10, top_k: topK, lanczos_iters: 10 },
    backend: 'wasm',
  });
}

const out = await mkdtemp(join(tmpdir(), 'hessweep-bench-'));
try {
  // 1. Overhead: 200 tiny cells at concurrency 1; overhead = wall − Σ in-cell seconds.
  const cells = Number(values.cells);
  const seeds = Array.from({ length: cells / 10 }, (_, i) => i);
  const tiny = grid.parseSpec(specText('tiny', [2, 3, 4, 5, 6, 7, 8, 9, 10, 11], seeds, 64, 1, 1), 'tiny.json');
  const t = await sweep(tiny, 1, out);
  const compute = t.rows.reduce((s, r) => s + r.total_s, 0);
  console.log(`${t.rows.length} tiny cells at concurrency 1: wall ${t.wall.toFixed(2)} s, in-cell ${compute.toFixed(2)} s`);
  console.log(`  orchestration overhead ${(((t.wall - compute) / t.rows.length) * 1000).toFixed(2)} ms per cell (includes starting the thread and its tfjs backend once)`);

  // 2. Scaling on the reference cell of BENCHMARKS.md (FashionMNIST 10,000, width 16, depth 5): the same cells
  // as a sweep at concurrency 1 and 2, and as pairs of independent `hessweep cell` processes run at once.
  const n = Number(values['scaling-cells']);
  const seedsN = Array.from({ length: n }, (_, i) => i);
  const reference = (name) => grid.parseSpec(specText(name, [16], seedsN, 10000, 10, 5, 'fashion_mnist', 5), `${name}.json`);
  const one = await sweep(reference('one'), 1, out);
  const two = await sweep(reference('two'), 2, out);
  const cli = join(root, 'packages/cli/dist/src/main.js');
  const cellArgs = (seed) => ['cell', '--dataset', 'fashion_mnist', '--width', '16', '--depth', '5', '--seed', `${seed}`, '--sample-size', '10000',
    '--top-k', '5', '--backend', 'wasm', '--json', '--quiet'];
  const runCell = (seed) => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...cellArgs(seed)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`hessweep cell exited ${code}`))));
  });
  let pairSeconds = 0;
  let pairWall = 0;
  for (let seed = 0; seed < n; seed += 2) {
    const start = performance.now();
    const pair = await Promise.all([runCell(seed), runCell(seed + 1)]);
    pairWall += (performance.now() - start) / 1000;
    pairSeconds += Math.max(...pair.map((r) => r.total_s));
  }
  const rate = (cells, seconds) => (cells / seconds).toFixed(3);
  console.log(`${n} reference cells (FashionMNIST 10,000, width 16, depth 5, top-5):`);
  console.log(`  sweep at concurrency 1: ${rate(n, one.wall)} cells/s`);
  console.log(`  sweep at concurrency 2: ${rate(n, two.wall)} cells/s (${(one.wall / two.wall).toFixed(2)}× concurrency 1)`);
  console.log(`  ceiling, pairs of independent processes: ${rate(n, pairSeconds)} cells/s by in-cell time, ${rate(n, pairWall)} cells/s by process wall`);
  console.log(`  sweep at 2 / ceiling (in-cell time) = ${((100 * pairSeconds) / two.wall).toFixed(1)}%`);
} finally {
  await rm(out, { recursive: true, force: true });
}
