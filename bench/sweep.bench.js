// Sweep orchestration: per-cell overhead on 200 tiny cells, and parallel scaling at concurrency 2 against
// the machine's ceiling (two independent `hessweep cell` processes at once), measured in the same run.
// Usage: npm run bench -- sweep [--cells 200] [--scaling-cells 12]
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lib = (name) => import(join(root, `packages/${name}/dist/src/index.js`));
const [grid, { InProcessQueue }, { Worker }, { runSweep }] = await Promise.all([lib('grid'), lib('queue'), lib('worker'), lib('coordinator')]);
const { values } = parseArgs({ options: { cells: { type: 'string', default: '200' }, 'scaling-cells': { type: 'string', default: '12' } } });

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

function specText(name, widths, seeds, sampleSize, epochs, topK) {
  return JSON.stringify({
    name,
    grid: { dataset: ['synthetic'], width: widths, depth: [2], seed: seeds, sample_size: [sampleSize] },
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

  // 2. Scaling: the same medium cells as a sweep at concurrency 2, and as pairs of independent processes.
  const n = Number(values['scaling-cells']);
  const mediumSpec = grid.parseSpec(specText('medium', [32], Array.from({ length: n }, (_, i) => i), 2000, 10, 5), 'medium.json');
  const medium = await sweep(mediumSpec, 2, out);
  const sweepRate = n / medium.wall;
  const cli = join(root, 'packages/cli/dist/src/main.js');
  const cellArgs = (seed) => ['cell', '--dataset', 'synthetic', '--width', '32', '--depth', '2', '--seed', `${seed}`, '--sample-size', '2000', '--epochs', '10',
    '--permutations', '10', '--top-k', '5', '--lanczos-iters', '10', '--backend', 'wasm', '--json', '--quiet'];
  const runCell = (seed) => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...cellArgs(seed)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`hessweep cell exited ${code}`))));
  });
  let pairSeconds = 0;
  for (let seed = 0; seed < n; seed += 2) {
    const pair = await Promise.all([runCell(seed), runCell(seed + 1)]);
    pairSeconds += Math.max(...pair.map((r) => r.total_s));
  }
  const ceilingRate = n / pairSeconds;
  const single = medium.rows.reduce((s, r) => s + r.total_s, 0) / n;
  console.log(`${n} medium cells (synthetic 2,000 samples, width 32, depth 2, 10 epochs, top-5):`);
  console.log(`  ceiling, two independent processes at once: ${ceilingRate.toFixed(3)} cells/s (in-cell time, process start excluded)`);
  console.log(`  sweep at concurrency 2:                     ${sweepRate.toFixed(3)} cells/s (wall of the whole sweep)`);
  console.log(`  sweep / ceiling = ${((100 * sweepRate) / ceilingRate).toFixed(1)}%; one cell alone ≈ ${single.toFixed(2)} s in the sweep`);
} finally {
  await rm(out, { recursive: true, force: true });
}
