/**
 * The settings table seen from the real binary: `hessweep cell` and `hessweep run` give a features cell the
 * same id, out-of-bound sizes are one line naming the field, a 10,000,000-cell spec is refused up front,
 * and a backend change is not a changed spec.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, hessweep, partRows, syntheticSpec, type Result, withDir } from './support.js';

/** A refusal: exit 2, no stack trace, and exactly one line of stderr matching `field`, which also matches `message`. */
function assertOneLineRefusal(result: Result, field: RegExp, message: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  assert.ok(!result.stderr.includes('    at '), `a stack trace:\n${result.stderr}`);
  assert.doesNotMatch(result.stderr, /Invalid typed array length|RangeError/);
  const lines = result.stderr.split('\n').filter((line) => field.test(line));
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0], message);
}

/** 40 rows of 3 features and a label in {0, 1, 2}: plain arithmetic, no randomness needed. */
function featuresCsv(): string {
  const rows = Array.from({ length: 40 }, (_, i) => `${(i % 7) / 7},${((i * 3) % 11) / 11},${((i * 5) % 13) / 13},${i % 3}`);
  return `f0,f1,f2,label\n${rows.join('\n')}\n`;
}

const SMALL_CELL = ['--width', '4', '--depth', '1', '--sample-size', '32', '--epochs', '1', '--permutations', '5', '--top-k', '1', '--lanczos-iters', '5', '--backend', 'wasm'];

test('the same features file gives the same cell id from hessweep cell (relative to the cwd) and hessweep run (relative to the spec)', async () => {
  await withDir('settings', async (dir) => {
    await mkdir(join(dir, 'data'));
    await mkdir(join(dir, 'specs'));
    await writeFile(join(dir, 'data', 'feats.csv'), featuresCsv());
    await writeFile(
      join(dir, 'specs', 'f.yaml'),
      `name: feats
grid: {dataset: features, width: 4, depth: 1, sample_size: 32}
features: ../data/feats.csv
train: {epochs: 1}
measure: {permutations: 5, top_k: 1, lanczos_iters: 5}
backend: wasm
`,
    );
    const cell = await hessweep(['cell', '--json', '--quiet', '--dataset', 'features', '--features', 'data/feats.csv', ...SMALL_CELL], dir);
    assert.equal(cell.code, 0, cell.stderr);
    const row = JSON.parse(cell.stdout) as { cell_id: string; status: string; dataset: string };
    assert.equal(row.status, 'ok');

    const run = await hessweep(['run', 'specs/f.yaml', '--out', 'out', '--concurrency', '1', '--quiet'], dir);
    assert.equal(run.code, 0, run.stderr);
    const rows = await partRows(join(dir, 'out', 'feats'));
    assert.equal(rows.length, 1);
    assert.equal(rows[0].status, 'ok');
    assert.equal(rows[0].cell_id, row.cell_id);

    // The same flags from another directory name another file: a missing one, refused by name.
    const elsewhere = await hessweep(['cell', '--json', '--quiet', '--dataset', 'features', '--features', 'data/feats.csv', ...SMALL_CELL], join(dir, 'specs'));
    assert.equal(elsewhere.code, 2);
    assert.match(elsewhere.stderr, new RegExp(`${join(dir, 'specs', 'data', 'feats.csv').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });
});

test('width: 1e9 in a spec, --width 1e9 and --sample-size 1e9: exit 2, one line naming the field, no stack', async () => {
  await withDir('settings', async (dir) => {
    await writeFile(join(dir, 'w.yaml'), syntheticSpec('wide', [4], [0]).replace('width: [4]', 'width: [1e9]'));
    assertOneLineRefusal(await hessweep(['run', 'w.yaml', '--out', 'out'], dir), /grid\.width/, /grid\.width\[0\]: 1000000000 exceeds the limit of 16384$/);
    assert.ok(!existsSync(join(dir, 'out')), 'a refused spec writes nothing');

    const cell = ['cell', '--dataset', 'synthetic', '--depth', '1', '--epochs', '1', '--permutations', '5', '--top-k', '1', '--lanczos-iters', '5', '--backend', 'wasm', '--quiet'];
    assertOneLineRefusal(await hessweep([...cell, '--width', '4', '--sample-size', '1e9'], dir), /--sample-size/, /^hessweep: command line: --sample-size: 1000000000 exceeds the limit of 10000000$/);
    assertOneLineRefusal(await hessweep([...cell, '--width', '1e9', '--sample-size', '64'], dir), /--width/, /^hessweep: command line: --width: 1000000000 exceeds the limit of 16384$/);

    // With sane values both run.
    await writeFile(join(dir, 'w.yaml'), syntheticSpec('wide', [4], [0]));
    const run = await hessweep(['run', 'w.yaml', '--out', 'out', '--quiet'], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await partRows(join(dir, 'out', 'wide'))).length, 1);
    const ok = await hessweep([...cell, '--width', '4', '--sample-size', '64', '--json'], dir);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).width, 4);
  });
});

test('--density-runs and --density-steps, and measure.density_runs in a spec: bad values are one line each through the settings table, exit 2', async () => {
  await withDir('settings', async (dir) => {
    const cell = ['cell', '--dataset', 'synthetic', '--width', '4', '--depth', '1', '--sample-size', '64', '--backend', 'wasm', '--quiet'];
    const both = await hessweep([...cell, '--density-runs', '-1', '--density-steps', '2.5'], dir);
    assert.match(both.stderr, /^hessweep: command line: 2 problems$/m);
    assertOneLineRefusal(both, /--density-runs/, /^ {2}--density-runs: must be a non-negative integer, got -1$/);
    assertOneLineRefusal(both, /--density-steps/, /^ {2}--density-steps: must be a positive integer, got 2\.5$/);
    assertOneLineRefusal(await hessweep([...cell, '--density-steps', '10001'], dir), /--density-steps/, /--density-steps: 10001 exceeds the limit of 10000$/);

    await writeFile(join(dir, 'd.yaml'), syntheticSpec('dens', [4], [0], { extra: '  density_runs: many\n' }));
    assertOneLineRefusal(await hessweep(['run', 'd.yaml', '--out', 'out'], dir), /density_runs/, /measure\.density_runs: must be a non-negative integer, got "many"$/);
    assert.ok(!existsSync(join(dir, 'out')), 'a refused spec writes nothing');
  });
});

/** Exit code, stderr and peak RSS (KiB) of `node main.js args…`, measured by GNU time, or else by polling /proc. */
async function runMeasured(args: string[], cwd: string): Promise<{ code: number; stderr: string; peakKiB: number; seconds: number }> {
  const started = process.hrtime.bigint();
  const withTime = existsSync('/usr/bin/time');
  const child = withTime
    ? spawn('/usr/bin/time', ['-v', process.execPath, cli, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn(process.execPath, [cli, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let polledKiB = 0;
  const poll = withTime
    ? undefined
    : setInterval(() => {
        const hwm = /VmHWM:\s+(\d+) kB/.exec(readProcStatus(child.pid!));
        if (hwm) polledKiB = Math.max(polledKiB, Number(hwm[1]));
      }, 5);
  let late = false;
  const deadline = setTimeout(() => {
    late = true;
    child.kill('SIGKILL');
  }, 60_000);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  clearTimeout(deadline);
  if (poll) clearInterval(poll);
  if (late) assert.fail(`hessweep ${args.join(' ')} did not exit within 60 s; its stderr:\n${stderr}`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const measured = withTime ? /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr) : null;
  const peakKiB = withTime ? Number(measured?.[1]) : polledKiB;
  assert.ok(peakKiB > 0, `no peak RSS measured:\n${stderr}`);
  return { code, stderr, peakKiB, seconds };
}

function readProcStatus(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i).join(', ');

test('a 10,000,000-cell spec is refused before expansion: exit 2, the count, small peak memory; --max-cells moves the limit', async (t) => {
  await withDir('settings', async (dir) => {
    await writeFile(
      join(dir, 'spec.yaml'),
      `name: huge\ngrid:\n  dataset: [synthetic]\n  width: [${range(100, 1)}]\n  depth: [${range(100)}]\n  seed: [${range(1000)}]\n  sample_size: [64]\n`,
    );
    const refused = await runMeasured(['run', 'spec.yaml', '--out', 'tmp'], dir);
    t.diagnostic(`refused in ${refused.seconds.toFixed(2)} s with a peak RSS of ${(refused.peakKiB / 1024).toFixed(0)} MiB`);
    assert.equal(refused.code, 2, refused.stderr);
    assert.ok(refused.stderr.includes(
      'grid: 10,000,000 cells (dataset 1 × width 100 × depth 100 × seed 1,000 × sample_size 1), over the limit of 2,000,000; narrow the grid or raise --max-cells',
    ), refused.stderr);
    assert.ok(!refused.stderr.includes('    at '), refused.stderr);
    assert.ok(refused.peakKiB < 300 * 1024, `peak RSS ${refused.peakKiB} KiB`);
    assert.ok(!existsSync(join(dir, 'tmp')), 'nothing written');

    // The coordinator refuses it the same way, before it connects to anything.
    const coordinator = await hessweep(['coordinator', 'spec.yaml', '--nats', 'nats://127.0.0.1:1', '--out', 'tmp'], dir);
    assert.equal(coordinator.code, 2, coordinator.stderr);
    assert.match(coordinator.stderr, /10,000,000 cells .* over the limit of 2,000,000/);

    // --max-cells moves the limit both ways, for run and coordinator alike.
    await writeFile(join(dir, 'four.yaml'), syntheticSpec('four', [4, 8], [0, 1], { sampleSize: 64, epochs: 1 }));
    const low = await hessweep(['run', 'four.yaml', '--out', 'out', '--max-cells', '3'], dir);
    assert.equal(low.code, 2, low.stderr);
    assert.match(low.stderr, /grid: 4 cells \(dataset 1 × width 2 × depth 1 × seed 2 × sample_size 1\), over the limit of 3; narrow the grid or raise --max-cells/);
    const lowCoordinator = await hessweep(['coordinator', 'four.yaml', '--nats', 'nats://127.0.0.1:1', '--max-cells', '3'], dir);
    assert.equal(lowCoordinator.code, 2);
    assert.match(lowCoordinator.stderr, /4 cells .* over the limit of 3/);
    const bad = await hessweep(['run', 'four.yaml', '--max-cells', '0'], dir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--max-cells must be a positive integer, got 0/);
    const enough = await hessweep(['run', 'four.yaml', '--out', 'out', '--max-cells', '4', '--quiet'], dir);
    assert.equal(enough.code, 0, enough.stderr);
    assert.equal((await partRows(join(dir, 'out', 'four'))).length, 4);
    // status re-expands the stored spec without a cell limit.
    const status = await hessweep(['status', join(dir, 'out', 'four')], dir);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /4 cells — 4 ok, 0 failed, 0 missing/);
  });
});

test('adding backend: wasm to a finished sweep is not a changed spec: exit 0, nothing computed; a real change is still refused', async () => {
  await withDir('settings', async (dir) => {
    await writeFile(join(dir, 's.yaml'), syntheticSpec('be', [4, 8], [0], { epochs: 1 }));
    const first = await hessweep(['run', 's.yaml', '--out', 'out', '--quiet'], dir);
    assert.equal(first.code, 0, first.stderr);
    const parts = join(dir, 'out', 'be', 'parts');
    const before = await readdir(parts);
    const manifestBefore = JSON.parse(await readFile(join(dir, 'out', 'be', 'manifest.json'), 'utf8'));

    await writeFile(join(dir, 's.yaml'), syntheticSpec('be', [4, 8], [0], { epochs: 1, extra: 'backend: wasm\n' }));
    const again = await hessweep(['run', 's.yaml', '--out', 'out'], dir);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /2 of 2 cells already have rows/);
    assert.doesNotMatch(again.stderr, /changed since|--force/);
    assert.deepEqual(await readdir(parts), before, 'no new part files');
    const manifestAfter = JSON.parse(await readFile(join(dir, 'out', 'be', 'manifest.json'), 'utf8'));
    assert.equal(manifestAfter.settings_hash, manifestBefore.settings_hash);
    assert.equal(manifestAfter.spec.backend, 'wasm');

    // A manifest of hessweep 0.1, whose settings hash also counted the backend: its stored spec is hashed again
    // by today's rule, so it is not a changed spec either.
    const manifestPath = join(dir, 'out', 'be', 'manifest.json');
    await writeFile(manifestPath, JSON.stringify({ ...manifestAfter, settings_hash: 'e'.repeat(64) }));
    const upgraded = await hessweep(['run', 's.yaml', '--out', 'out'], dir);
    assert.equal(upgraded.code, 0, upgraded.stderr);
    assert.deepEqual(await readdir(parts), before, 'no new part files');
    assert.equal(JSON.parse(await readFile(manifestPath, 'utf8')).settings_hash, manifestBefore.settings_hash);

    // Epochs do change the numbers: still refused without --force.
    await writeFile(join(dir, 's.yaml'), syntheticSpec('be', [4, 8], [0], { epochs: 2, extra: 'backend: wasm\n' }));
    const changed = await hessweep(['run', 's.yaml', '--out', 'out'], dir);
    assert.equal(changed.code, 2, changed.stderr);
    assert.match(changed.stderr, /changed since/);
    assert.deepEqual(await readdir(parts), before);
  });
});
