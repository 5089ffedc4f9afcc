import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { exitWithin, hessweep, partFiles, partRows, start, syntheticSpec, until, withDir } from './support.js';

test('a sweep runs every cell once into Arrow parts, and a rerun computes nothing', async () => {
  await withDir('sweep', async (dir) => {
    await writeFile(join(dir, 'quick.yaml'), syntheticSpec('quick', [4, 8, 12], [0, 1]));
    const first = await hessweep(['run', 'quick.yaml', '--out', 'out', '--concurrency', '2'], dir);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /6 ok, 0 failed/);
    const sweepDir = join(dir, 'out', 'quick');
    const manifest = JSON.parse(await readFile(join(sweepDir, 'manifest.json'), 'utf8'));
    assert.equal(manifest.cell_count, 6);
    const rows = await partRows(sweepDir);
    assert.equal(rows.length, 6);
    assert.equal(new Set(rows.map((r) => r.cell_id)).size, 6);
    assert.ok(rows.every((r) => r.status === 'ok' && r.sweep === 'quick'));
    assert.deepEqual([...new Set(rows.map((r) => `${r.width}/${r.seed}`))].sort(), ['12/0', '12/1', '4/0', '4/1', '8/0', '8/1']);
    const table = tableFromIPC(readFileSync(join(sweepDir, 'parts', (await readdir(join(sweepDir, 'parts')))[0])));
    for (const column of ['cell_id', 'status', 'loss_diff_k', 'loss_diff', 'hessian_top', 'ggn_top', 'hessian_trace', 'bound', 'backend', 'worker', 'attempt', 'finished_at']) {
      assert.ok(table.schema.fields.some((f) => f.name === column), `column ${column}`);
    }
    assert.equal(table.schema.metadata.get('hessweep.spec_hash'), manifest.spec_hash);

    const partsBefore = await readdir(join(sweepDir, 'parts'));
    const again = await hessweep(['run', 'quick.yaml', '--out', 'out'], dir);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /6 of 6 cells already have rows/);
    assert.deepEqual(await readdir(join(sweepDir, 'parts')), partsBefore);

    const status = await hessweep(['status', sweepDir], dir);
    assert.equal(status.code, 0);
    assert.match(status.stdout, /6 cells — 6 ok, 0 failed, 0 missing/);
  });
});

test('kill -9 mid-sweep, then resume: nothing written is lost, every cell ends up exactly once', async () => {
  await withDir('sweep', async (dir) => {
    // Cells of ~0.5 s, one at a time, so that the kill lands mid-sweep: after two cells, 16 (~8 s) before the end.
    await writeFile(join(dir, 's.yaml'), syntheticSpec('killed', [4, 6, 8, 10, 12, 14], [0, 1, 2], { sampleSize: 4000, epochs: 6 }));
    const partsDir = join(dir, 'out', 'killed', 'parts');
    const killed = start(['run', 's.yaml', '--out', 'out', '--concurrency', '1', '--quiet'], dir);
    await until(async () => (await partFiles(partsDir)).length >= 2 || killed.child.exitCode !== null, 'two part files');
    killed.child.kill('SIGKILL');
    assert.equal(await killed.exited, 137, `the run was killed mid-sweep, not ended:\n${killed.output()}`);
    const before = await partRows(join(dir, 'out', 'killed'));
    assert.ok(before.length >= 2 && before.length < 18, `rows before the kill: ${before.length}`);
    // A writer killed mid-write leaves a temp file (the kill may have landed in one too): the next run removes
    // every one and says so.
    await writeFile(join(partsDir, 'part-99999999999999-1-000000.arrow.tmp-1-dead'), 'half a file');
    const temps = (await readdir(partsDir)).filter((n) => n.includes('.tmp-'));

    const resumed = await hessweep(['run', 's.yaml', '--out', 'out', '--concurrency', '2'], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`removed ${temps.length} unfinished temp file\\(s\\) left by an interrupted run: .*part-99999999999999-1-000000\\.arrow\\.tmp-1-dead`));
    // The killed run's lock is taken over: its process is gone.
    assert.match(resumed.stderr, new RegExp(`took over the lock of out/killed from pid ${killed.child.pid} .*: pid ${killed.child.pid} is no longer running`));
    assert.deepEqual((await readdir(partsDir)).filter((n) => n.includes('.tmp-')), []);
    assert.match(resumed.stderr, new RegExp(`${before.length} of 18 cells already have rows`));
    const after = await partRows(join(dir, 'out', 'killed'));
    assert.equal(after.length, 18);
    assert.equal(new Set(after.map((r) => r.cell_id)).size, 18, 'each cell exactly once');
    assert.ok(after.every((r) => r.status === 'ok'));
    for (const row of before) assert.ok(after.some((r) => r.cell_id === row.cell_id && r.finished_at === row.finished_at), 'rows written before the kill are kept as they were');
    assert.ok(!(await readdir(partsDir)).some((n) => n.includes('.tmp-')));
  });
});

test('a poison cell ends as a failed row after its attempts while the others succeed', async () => {
  await withDir('sweep', async (dir) => {
    await writeFile(join(dir, 'corrupt.csv'), 'a,b,label\n0.1,0.2,1\n0.3,oops\n');
    await writeFile(
      join(dir, 'p.yaml'),
      `name: poison
grid:
  dataset: [synthetic, features]
  width: [4]
  depth: [1]
  seed: [0, 1]
  sample_size: [64]
features: corrupt.csv
train:
  epochs: 1
measure:
  permutations: 5
  top_k: 1
  lanczos_iters: 5
`,
    );
    const result = await hessweep(['run', 'p.yaml', '--out', 'out', '--concurrency', '2', '--max-attempts', '2'], dir);
    assert.equal(result.code, 1, 'a sweep with failed cells exits non-zero');
    assert.match(result.stderr, /2 ok, 2 failed/);
    assert.match(result.stderr, /retrying/);
    const rows = await partRows(join(dir, 'out', 'poison'));
    assert.equal(rows.length, 4);
    const failed = rows.filter((r) => r.status === 'failed');
    assert.deepEqual(failed.map((r) => r.dataset), ['features', 'features']);
    for (const row of failed) {
      assert.match(String(row.error), /corrupt\.csv/);
      assert.equal(row.attempt, 2);
      assert.equal(row.hessian_top, null);
    }
    assert.ok(rows.filter((r) => r.status === 'ok').every((r) => r.dataset === 'synthetic'));
    const status = await hessweep(['status', join(dir, 'out', 'poison')], dir);
    assert.match(status.stdout, /2 ok, 2 failed, 0 missing/);
    assert.match(status.stdout, /failed:\n.*features.*corrupt\.csv/);
  });
});

test('bad specs are reported all at once with field paths, exit 2, no stack trace', async () => {
  await withDir('sweep', async (dir) => {
    await writeFile(
      join(dir, 'bad.yaml'),
      `name: bad
grid:
  dataset: [mnist]
  width: [16, 16, -4]
  depth: []
  sample_size: [20000]
trian:
  epochs: 3
`,
    );
    const result = await hessweep(['run', 'bad.yaml'], dir);
    assert.equal(result.code, 2);
    assert.doesNotMatch(result.stderr, /at .*\.js:\d+/);
    assert.match(result.stderr, /grid\.width\[2\]: must be a positive integer, got -4/);
    assert.match(result.stderr, /grid\.width: 16 appears twice/);
    assert.match(result.stderr, /grid\.depth: must not be empty/);
    assert.match(result.stderr, /grid\.sample_size\[0\]: 20000 exceeds the 10000 samples of mnist/);
    assert.match(result.stderr, /trian: unknown key \(did you mean "train"\?\)/);
    const missing = await hessweep(['run', 'nope.yaml'], dir);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.yaml/);
  });
});

test('a changed spec is refused unless --force; an extended grid runs only its new cells', async () => {
  await withDir('sweep', async (dir) => {
    await writeFile(join(dir, 's.yaml'), syntheticSpec('grow', [4], [0]));
    assert.equal((await hessweep(['run', 's.yaml', '--out', 'out'], dir)).code, 0);
    await writeFile(join(dir, 's.yaml'), syntheticSpec('grow', [4, 8], [0]));
    const extended = await hessweep(['run', 's.yaml', '--out', 'out'], dir);
    assert.equal(extended.code, 0, extended.stderr);
    assert.match(extended.stderr, /1 of 2 cells already have rows; running the other 1/);
    assert.equal((await partRows(join(dir, 'out', 'grow'))).length, 2);

    await writeFile(join(dir, 's.yaml'), syntheticSpec('grow', [4, 8], [0], { sampleSize: 256, epochs: 3 }));
    const changed = await hessweep(['run', 's.yaml', '--out', 'out'], dir);
    assert.equal(changed.code, 2);
    assert.match(changed.stderr, /spec of sweep "grow" changed/);
    assert.match(changed.stderr, /--force/);
    const forced = await hessweep(['run', 's.yaml', '--out', 'out', '--force'], dir);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal((await partRows(join(dir, 'out', 'grow'))).length, 4, 'new settings are new cells; old rows stay');
  });
});

test('SIGTERM stops taking cells, keeps what finished, and the next run completes the sweep', async () => {
  await withDir('sweep', async (dir) => {
    await writeFile(join(dir, 's.yaml'), syntheticSpec('term', [4, 6, 8, 10, 12, 14], [0, 1], { sampleSize: 4000, epochs: 6 }));
    // One cell at a time: after the first, 11 (~5 s) remain when SIGTERM comes.
    const partsDir = join(dir, 'out', 'term', 'parts');
    const run = start(['run', 's.yaml', '--out', 'out', '--concurrency', '1'], dir);
    await until(async () => (await partFiles(partsDir)).length >= 1 || run.child.exitCode !== null, 'a first part file');
    run.child.kill('SIGTERM');
    assert.equal(await exitWithin(run, 60_000, 'the run after SIGTERM'), 130, run.stderr());
    assert.match(run.stderr(), /taking no more cells/);
    const kept = await partRows(join(dir, 'out', 'term'));
    assert.ok(kept.length >= 1 && kept.length < 12, `rows after SIGTERM: ${kept.length}`);
    const resumed = await hessweep(['run', 's.yaml', '--out', 'out'], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    const rows = await partRows(join(dir, 'out', 'term'));
    assert.equal(rows.length, 12);
    assert.equal(new Set(rows.map((r) => r.cell_id)).size, 12);
  });
});
