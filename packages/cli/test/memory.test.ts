import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEFAULT_MEASURE, DEFAULT_TRAIN, cellMemory, expandGrid, formatBytes, makeCell, parseSpec, type Cell } from '@hessweep/grid';
import { WORKER_RESERVE } from '@hessweep/worker';
import { parseMemorySize } from '../src/memory-option.js';
import { cli, hessweep, withDir } from './support.js';

const execFileAsync = promisify(execFile);
const peakRss = fileURLToPath(new URL('./peak-rss.js', import.meta.url));
const MiB = 2 ** 20;

/** How far above a measured peak the estimate may be (docs/memory.md: 1.13–1.22 measured). */
const MAX_OVERESTIMATE = 1.5;

/** Runs `hessweep cell` for `cell` in a child process; its peak resident memory in bytes. */
async function measuredPeak(cell: Cell): Promise<number> {
  const flags = [
    '--dataset', cell.dataset, '--width', String(cell.width), '--depth', String(cell.depth), '--sample-size', String(cell.sample_size),
    '--epochs', String(cell.train.epochs), '--backend', 'wasm', '--quiet',
  ];
  if (cell.data.synthetic_dim !== undefined) flags.push('--synthetic-dim', String(cell.data.synthetic_dim));
  if (cell.data.synthetic_classes !== undefined) flags.push('--synthetic-classes', String(cell.data.synthetic_classes));
  const { stderr } = await execFileAsync(process.execPath, ['--import', peakRss, cli, 'cell', ...flags], { maxBuffer: 1 << 24 });
  const match = /^peak-rss (\d+)$/m.exec(stderr);
  assert.ok(match, `no peak in: ${stderr}`);
  return Number(match[1]);
}

const cellOf = (dataset: Cell['dataset'], width: number, depth: number, sample_size: number, data: Cell['data'] = {}): Cell =>
  makeCell({ dataset, width, depth, seed: 0, sample_size }, { train: { ...DEFAULT_TRAIN, epochs: 1 }, measure: DEFAULT_MEASURE, data });

test('the memory estimate covers the measured peak of real cells, within 1.5×', { timeout: 300_000 }, async () => {
  // Small cells (seconds each), one after the other so that they do not compete: a baseline-dominated one,
  // one with a wide input (the data and Xᵀ), one on MNIST digits with ten classes.
  const cells = [
    cellOf('synthetic', 16, 2, 2_000),
    cellOf('synthetic', 64, 3, 4_000, { synthetic_dim: 512, synthetic_classes: 10 }),
    cellOf('mnist', 32, 2, 3_000),
  ];
  for (const cell of cells) {
    const measured = await measuredPeak(cell);
    const estimate = cellMemory(cell).total;
    const what = `${cell.dataset} width ${cell.width} depth ${cell.depth} m ${cell.sample_size}: measured ${formatBytes(measured)}, estimated ${formatBytes(estimate)}`;
    assert.ok(estimate >= measured, `${what}: the estimate is below the peak`);
    assert.ok(estimate <= MAX_OVERESTIMATE * measured, `${what}: more than ${MAX_OVERESTIMATE}× the peak`);
  }
});

test('--memory sizes: bytes, or K/M/G/T (also Ki, KiB, KB) in powers of 1024; anything else is refused', () => {
  assert.equal(parseMemorySize('1500000000'), 1_500_000_000);
  assert.equal(parseMemorySize('8G'), 8 * 1024 ** 3);
  assert.equal(parseMemorySize('8g'), 8 * 1024 ** 3);
  assert.equal(parseMemorySize('8Gi'), 8 * 1024 ** 3);
  assert.equal(parseMemorySize('8GiB'), 8 * 1024 ** 3);
  assert.equal(parseMemorySize('1500M'), 1500 * 1024 ** 2);
  assert.equal(parseMemorySize('1.5G'), 1.5 * 1024 ** 3);
  assert.equal(parseMemorySize('512K'), 512 * 1024);
  assert.equal(parseMemorySize('2T'), 2 * 1024 ** 4);
  assert.equal(parseMemorySize(' 4 G '), 4 * 1024 ** 3);
  for (const bad of ['', 'G', '8X', '-1G', '0', '0M', '1.5', '8 GB extra', '1e9', 'lots', '9999999999T']) {
    assert.throws(() => parseMemorySize(bad), (e: Error) => e.name === 'UsageError' && e.message.startsWith(`--memory ${JSON.stringify(bad)}:`), bad);
  }
});

test('a bad --memory is one line and exit 2 for worker and run, before anything else happens', async () => {
  await withDir('memory-flag', async (dir) => {
    for (const args of [['worker', '--nats', 'nats://127.0.0.1:1', '--memory', '8X'], ['run', 'missing.yaml', '--memory', '8X']]) {
      const r = await hessweep(args, dir);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, 'hessweep: --memory "8X": not a size (e.g. 8G, 1500M, or a number of bytes)\n');
    }
    const small = await hessweep(['run', 'missing.yaml', '--memory', '100M'], dir);
    assert.equal(small.code, 2);
    assert.equal(small.stderr, 'hessweep: --memory 100 MiB leaves nothing for cells after the 256 MiB the process needs itself\n');
  });
});

test('hessweep plan: the cells, the largest one, and the memory per slot that deployments request', async () => {
  await withDir('plan', async (dir) => {
    const text = `name: sizes
grids:
  - dataset: [synthetic]
    width: [8, 64]
    depth: [1, 4]
    sample_size: [1000, 20000]
  - dataset: [mnist]
    width: [16]
    depth: [2]
    sample_size: [5000]
`;
    await writeFile(join(dir, 's.yaml'), text);
    // The largest estimate, found by looking at every cell.
    const cells = expandGrid(parseSpec(text, 's.yaml'));
    const largest = Math.max(...cells.map((c) => cellMemory(c).total));
    for (const slots of [1, 16]) {
      const r = await hessweep(['plan', 's.yaml', '--memory-per-slot', '--slots', String(slots)], dir);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${Math.ceil((largest + WORKER_RESERVE / slots) / MiB)}M\n`);
    }
    const summary = await hessweep(['plan', 's.yaml', '--slots', '4'], dir);
    assert.equal(summary.code, 0, summary.stderr);
    assert.match(summary.stdout, new RegExp(`^sweep sizes: ${cells.length} cells$`, 'm'));
    assert.match(summary.stdout, /^largest cell: synthetic width 64 depth 4 sample size 20000, about .* at its peak \(estimated\)$/m);
    // Workers on tensorflow hold tfjs's tensors: the larger estimate (here no native binding is installed, so auto is the kernels').
    const tfjs = Math.max(...cells.map((c) => cellMemory(c, 'tfjs').total));
    assert.ok(tfjs > largest);
    const onTensorflow = await hessweep(['plan', 's.yaml', '--memory-per-slot', '--backend', 'tensorflow'], dir);
    assert.equal(onTensorflow.stdout, `${Math.ceil((tfjs + WORKER_RESERVE) / MiB)}M\n`);
    const sliced = await hessweep(['plan', 's.yaml', '--where', 'dataset=mnist', '--memory-per-slot'], dir);
    const mnist = cells.find((c) => c.dataset === 'mnist')!;
    assert.equal(sliced.stdout, `${Math.ceil((cellMemory(mnist).total + WORKER_RESERVE) / MiB)}M\n`);
    const bad = await hessweep(['plan', 's.yaml', '--slots', '0'], dir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--slots must be a positive integer/);
  });
});
