/**
 * Part compaction on real files: rows and their order kept, so the row standing for each cell is kept (checked
 * against a plain reimplementation of the winner rule over the rows read before compaction); at most
 * targetParts / 2 parts plus one per spec after it; bounded record batches; a crash at any step leaves every
 * cell readable, and the next compaction clears what it left; version-1 parts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResultRow } from '@hessweep/grid';
import {
  compactParts, DEFAULT_COMPACTION_POLICY, encodeResultFile, findWinners, IpcFileReader, META_MERGED_FROM, mergedPartName, planCompaction, readColumns,
  readPartTable, readResultFile, ROW_LOST, scanParts, tableRows, targetRows, type CompactionPolicy, type PlanPart,
} from '../src/index.js';
import { meta, row, seeded, tempDir, writeLegacyPart } from './fixtures.js';

const SPEC_A = 'a'.repeat(64);
const SPEC_B = 'b'.repeat(64);

/** The name the coordinator's part writer gives its n-th part. */
const partName = (n: number) => `part-${String(1_700_000_000_000 + n * 1000).padStart(14, '0')}-4242-${String(n).padStart(6, '0')}.arrow`;

/** Every row of the directory in (part name, row) order, with the spec hash of the part holding it. */
async function rowsInOrder(dir: string): Promise<{ spec: string; row: ResultRow }[]> {
  const scan = await scanParts(dir, { sweep: 's' });
  assert.deepEqual(scan.damaged, []);
  return scan.parts.flatMap((path) => {
    const file = readResultFile(path);
    return file.rows.map((r) => ({ spec: file.metadata.get('hessweep.spec_hash')!, row: r }));
  });
}

/** The winner rule written out plainly: per cell its last ok row, else its last failed row. */
function plainWinners(rows: readonly ResultRow[]): Map<string, ResultRow> {
  const winners = new Map<string, ResultRow>();
  for (const r of rows) {
    const held = winners.get(r.cell_id);
    if (r.status === 'ok' || held === undefined || held.status !== 'ok') winners.set(r.cell_id, r);
  }
  return winners;
}

/** The rows standing for their cells as the store reads them (findWinners' masks over the parts' rows). */
async function storeWinners(dir: string): Promise<Map<string, ResultRow>> {
  const { parts } = await scanParts(dir, { sweep: 's' });
  const { masks } = await findWinners(parts);
  const winners = new Map<string, ResultRow>();
  for (const [p, path] of parts.entries()) {
    for (const [i, r] of tableRows(await readPartTable(path)).entries()) {
      if (masks[p]![i] === ROW_LOST) continue;
      assert.ok(!winners.has(r.cell_id), `cell ${r.cell_id} stands twice`);
      winners.set(r.cell_id, r);
    }
  }
  return winners;
}

/** A row with values a copy could get wrong: nulls, empty and long lists, NaN, -0, text of any length. */
function randomRow(next: () => number, id: string, n: number): ResultRow {
  const ok = next() < 0.6;
  const list = () => (next() < 0.2 ? null : Array.from({ length: Math.floor(next() * 9) }, (_, i) => [Number.NaN, -0, i / 7, 1e-300][i % 4]! * (next() < 0.5 ? 1 : -1)));
  return row(id, ok ? 'ok' : 'failed', {
    error: ok ? null : `failure ${n}: ${'ünï'.repeat(Math.floor(next() * 4))}`,
    width: Math.floor(next() * 100), attempt: 1 + Math.floor(next() * 3), bias: next() < 0.5,
    n_params: next() < 0.5 ? null : n, train_loss: next() < 0.3 ? null : next(), loss_diff_k: next() < 0.3 ? null : [1, 2, n],
    loss_diff: list(), density_y: list(), worker: `host-${Math.floor(next() * 5)}/${n}`,
    finished_at: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString(),
  });
}

/** `count` parts of 1 to `maxRows` random rows over `cells` cell ids; the spec hash switches now and then. */
function randomParts(dir: string, next: () => number, count: number, maxRows: number, cells: number): void {
  let spec = SPEC_A;
  let n = 0;
  for (let p = 0; p < count; p++) {
    if (next() < 0.08) spec = spec === SPEC_A ? SPEC_B : SPEC_A;
    const rows = Array.from({ length: 1 + Math.floor(next() * maxRows) }, () => randomRow(next, `cell-${Math.floor(next() * cells)}`, n++));
    writePart(join(dir, partName(p)), rows, { ...meta, specHash: spec });
  }
}

/** A part file as the writer makes it, without its fsyncs (which would make thousands of parts slow to set up). */
function writePart(path: string, rows: readonly ResultRow[], partMeta = meta): void {
  writeFileSync(path, encodeResultFile(rows, partMeta));
}

/** Rows, their order and their specs are as `expected`, and so is the row standing for each cell. */
async function assertSameRows(dir: string, expected: { spec: string; row: ResultRow }[], when: string): Promise<void> {
  const actual = await rowsInOrder(dir);
  assert.deepEqual(actual, expected, `${when}: rows or their order changed`);
  const winners = plainWinners(expected.map((e) => e.row));
  assert.deepEqual(await storeWinners(dir), winners, `${when}: a cell's standing row changed`);
}

test('compaction keeps every row in order, so the row standing for each cell: random parts with ok, failed and repeated rows', async () => {
  for (let seed = 1; seed <= 5; seed++) {
    const next = seeded(seed);
    const dir = tempDir();
    randomParts(dir, next, 30 + Math.floor(next() * 60), 12, 40);
    const expected = await rowsInOrder(dir);
    const policy: Partial<CompactionPolicy> = { minPartRows: 5 + Math.floor(next() * 60), targetParts: 4 + Math.floor(next() * 16), runParts: 2 + Math.floor(next() * 6) };

    // Background steps, one merge at a time, as during a sweep (the age rule on or off).
    const maxAgeMs = next() < 0.5 ? 0 : 1e12;
    for (let step = 0; step < 200; step++) {
      const result = await compactParts(dir, { final: false, maxMerges: 1, policy: { ...policy, maxAgeMs } });
      await assertSameRows(dir, expected, `seed ${seed}, background step ${step}`);
      if (result.merges === 0) break;
    }
    await compactParts(dir, { policy });
    await assertSameRows(dir, expected, `seed ${seed}, final`);
    // Merged parts merged again (a second generation of names), with a larger aim.
    const again = await compactParts(dir, { policy: { ...policy, minPartRows: 200 } });
    await assertSameRows(dir, expected, `seed ${seed}, second final`);
    const specs = new Set(expected.map((e) => e.spec)).size;
    assert.ok(again.partsAfter <= specs * Math.ceil(expected.length / 100) + specs, `seed ${seed}: ${again.partsAfter} parts left`);
  }
});

test('2,000 parts of 10 rows end as at most 200 (default policy); merged parts hold record batches of at most 8,192 rows', async () => {
  const dir = tempDir();
  // 50 distinct parts (encoding is the slow step), picked at random for each of the 2,000 names: 20,000 rows.
  const next = seeded(11);
  const contents = Array.from({ length: 50 }, (_, p) => {
    const rows = Array.from({ length: 10 }, (_, i) => row(`cell-${(p * 10 + i) % 300}`, next() < 0.2 ? 'failed' : 'ok', { attempt: p + 1, width: i }));
    return { rows, bytes: encodeResultFile(rows, meta) };
  });
  const order = Array.from({ length: 2000 }, () => Math.floor(next() * 50));
  order.forEach((c, p) => writeFileSync(join(dir, partName(p)), contents[c]!.bytes));
  const expected = order.flatMap((c) => contents[c]!.rows.map((r) => ({ spec: meta.specHash, row: r })));
  const result = await compactParts(dir);
  assert.equal(result.partsBefore, 2000);
  assert.ok(result.partsAfter <= 200, `${result.partsAfter} parts`);
  assert.equal(result.partsAfter, readdirSync(dir).length);
  assert.equal(result.rows, 20_000);
  await assertSameRows(dir, expected, 'default policy');

  // All in one part: 20,000 rows as batches of 8,192, 8,192 and 3,616.
  await compactParts(dir, { policy: { minPartRows: 20_000 } });
  const [only, ...rest] = (await scanParts(dir)).parts;
  assert.deepEqual(rest, []);
  assert.deepEqual((await readColumns(only!, ['cell_id'])).map((b) => b.numRows), [8192, 8192, 3616]);
  await assertSameRows(dir, expected, 'one part');
});

test('the final plan leaves at most targetParts / 2 parts plus one per stretch of one spec, whatever the sizes', () => {
  const next = seeded(7);
  for (let trial = 0; trial < 300; trial++) {
    const policy: CompactionPolicy = { ...DEFAULT_COMPACTION_POLICY, targetParts: 2 + Math.floor(next() * 400), minPartRows: 1 + Math.floor(next() * 5000) };
    const count = 1 + Math.floor(next() * 3000);
    let key = 0;
    const parts: PlanPart[] = Array.from({ length: count }, () => {
      if (next() < 0.002) key++;
      // Sizes from 1 row to 10^7 (log-uniform): tiny writer parts, earlier merges, huge old parts.
      return { rows: Math.floor(10 ** (next() * 7)), mtimeMs: 0, key: String(key) };
    });
    const runs = planCompaction(parts, { policy, final: true });
    const seen = new Set<number>();
    for (const run of runs) {
      assert.ok(run.length >= 2, 'a run merges two parts at least');
      run.forEach((i, j) => {
        assert.ok(!seen.has(i), 'a part is in one run at most');
        seen.add(i);
        if (j > 0) assert.equal(i, run[j - 1]! + 1, 'runs are contiguous');
        assert.equal(parts[i]!.key, parts[run[0]!]!.key, 'a run has one spec');
      });
    }
    const left = count - runs.reduce((s, run) => s + run.length - 1, 0);
    assert.ok(left <= Math.floor(policy.targetParts / 2) + key + 1, `trial ${trial}: ${left} parts left of ${count}, target ${policy.targetParts}, ${key + 1} stretches`);
  }
});

test('during a sweep only full runs merge, and the newest small parts once runParts of them gathered or the oldest is maxAgeMs old', () => {
  const policy: CompactionPolicy = { targetParts: 200, minPartRows: 1000, runParts: 4, maxAgeMs: 60_000 };
  const small = (n: number, mtimeMs = 100_000): PlanPart[] => Array.from({ length: n }, () => ({ rows: 10, mtimeMs, key: 'a' }));
  const plan = (parts: PlanPart[]) => planCompaction(parts, { policy, final: false, now: 100_000 });
  // Three small parts, fresh: nothing yet; a fourth makes runParts.
  assert.deepEqual(plan(small(3)), []);
  assert.deepEqual(plan(small(4)), [[0, 1, 2, 3]]);
  // Three, but the oldest is a minute old.
  assert.deepEqual(plan([...small(1, 40_000), ...small(2)]), [[0, 1, 2]]);
  // A part of 600 rows and a run of 100 + 400 + 500 rows: the run reaches the target (1000) and merges; the
  // settled part (half the target or more) stays; the three newest small ones (under 1000 / 4 rows) wait.
  const parts: PlanPart[] = [600, 100, 400, 500, 200].map((rows) => ({ rows, mtimeMs: 100_000, key: 'a' })).concat(small(2));
  assert.deepEqual(plan(parts), [[1, 2, 3]]);
  // Final: the unfilled rest merges too.
  assert.deepEqual(planCompaction(parts, { policy, final: true }), [[1, 2, 3], [4, 5, 6]]);
  // The aim grows with the rows: 4 × rows / targetParts.
  assert.equal(targetRows(1_000_000, policy), 20_000);
  assert.equal(targetRows(1_000, policy), 1000);
});

test('merged parts are named after the last part of their run; a run whose name would not sort right after it is left alone', async () => {
  assert.equal(mergedPartName('part-00001700000000000-1-000007.arrow'), 'part-00001700000000000-1-000007.c000001.arrow');
  assert.equal(mergedPartName('part-00001700000000000-1-000007.c000009.arrow'), 'part-00001700000000000-1-000007.c000010.arrow');
  const dir = tempDir();
  // part-b.c000001.arrow would sort after part-b.b.arrow (another spec, so not in the run): no merge.
  writePart(join(dir, 'part-a.arrow'), [row('x', 'failed')]);
  writePart(join(dir, 'part-b.arrow'), [row('x', 'ok')]);
  writePart(join(dir, 'part-b.b.arrow'), [row('x', 'failed')], { ...meta, specHash: SPEC_B });
  const expected = await rowsInOrder(dir);
  const result = await compactParts(dir, { policy: { minPartRows: 2 } });
  assert.equal(result.merges, 0);
  assert.deepEqual(readdirSync(dir).sort(), ['part-a.arrow', 'part-b.arrow', 'part-b.b.arrow']);
  await assertSameRows(dir, expected, 'unmergeable names');
});

/** Runs crashing-compaction.ts on `dir`, killed at the `nth` call of `call`; resolves with its signal. */
function crashingCompaction(dir: string, call: 'unlink' | 'rename', nth: number, minRows: number): Promise<string | null> {
  const script = fileURLToPath(new URL('./crashing-compaction.js', import.meta.url));
  const child = spawn(process.execPath, [script, dir, call, String(nth), String(minRows)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => (signal ? resolve(signal) : reject(new Error(`the compaction was not killed (exit ${code}): ${stderr}`))));
  });
}

test('a compaction killed after writing a merged part leaves every cell readable once; the next compaction removes the leftovers', async () => {
  // Killed before removing any part (1st unlink), and after removing two of them (3rd unlink).
  for (const nth of [1, 3]) {
    const dir = tempDir();
    randomParts(dir, seeded(nth), 40, 6, 25);
    const expected = await rowsInOrder(dir);
    assert.equal(await crashingCompaction(dir, 'unlink', nth, 1_000_000), 'SIGKILL');
    const names = readdirSync(dir);
    const merged = names.filter((n) => n.endsWith('.c000001.arrow'));
    assert.ok(merged.length >= 1, 'a merged part was written');
    assert.ok(names.length > merged.length, 'parts it replaced are left');
    // Rows twice (in the leftovers and in the merged part), each cell once with the same row standing for it.
    assert.ok((await rowsInOrder(dir)).length > expected.length);
    assert.deepEqual(await storeWinners(dir), plainWinners(expected.map((e) => e.row)));
    const reader = await IpcFileReader.open(join(dir, merged[0]!));
    assert.ok((JSON.parse(reader.schema.metadata.get(META_MERGED_FROM)!) as string[]).length >= 2);
    await reader.close();

    const next = await compactParts(dir, { policy: { minPartRows: 1_000_000 } });
    assert.ok(next.leftoversRemoved > 0);
    await assertSameRows(dir, expected, `after the crash at unlink ${nth} and a second compaction`);
  }
});

test('a compaction killed while writing its merged part leaves the parts as they were and a temp file', async () => {
  const dir = tempDir();
  randomParts(dir, seeded(9), 20, 6, 25);
  const expected = await rowsInOrder(dir);
  assert.equal(await crashingCompaction(dir, 'rename', 1, 1_000_000), 'SIGKILL');
  const scan = await scanParts(dir, { sweep: 's' });
  assert.equal(scan.temps.length, 1);
  assert.equal(scan.parts.length, 20);
  await assertSameRows(dir, expected, 'after a crash mid-write');
});

test('version-1 parts are merged into a part of the current schema with the same rows', async () => {
  const dir = tempDir();
  const rows = Array.from({ length: 9 }, (_, i) => row(`c${i % 4}`, i % 3 ? 'ok' : 'failed', { finished_at: new Date(Date.UTC(2025, 1, 1, 0, 0, i, 250)).toISOString() }));
  for (let p = 0; p < 3; p++) writeLegacyPart(join(dir, partName(p)), rows.slice(3 * p, 3 * p + 3));
  const before = await rowsInOrder(dir);
  assert.deepEqual(before.map((e) => e.row), rows);
  const result = await compactParts(dir, { policy: { minPartRows: 100 } });
  assert.deepEqual([result.partsBefore, result.partsAfter, result.rows], [3, 1, 9]);
  const [merged] = (await scanParts(dir, { sweep: 's' })).parts;
  const file = readResultFile(merged!);
  assert.equal(file.metadata.get('hessweep.schema_version'), '3');
  assert.equal(file.metadata.get('hessweep.sweep'), 's');
  assert.equal(file.metadata.get('hessweep.version'), '0.1.0');
  await assertSameRows(dir, before, 'version-1 parts merged');
});
