/**
 * The sweep store's rules, one by one, on real files: which part files count, which row stands for a cell,
 * what a manifest must hold, who may write a directory, and that version-1 files are still read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { makeVector, RecordBatch, Schema, Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import { specHash, type SweepSpec } from '@hessweep/grid';
import {
  acquireSweepLock, cellStates, findWinners, inspectLock, openSweepForReading, quarantineParts, readColumns, readListRows, readManifest,
  readPartTable, readResultFile, ROW_FAILED, ROW_LOST, ROW_OK, scanParts, SweepOwnedError, sweepPaths, SweepStoreError, tableRows, toTable,
  validateManifest, WinnerTable, writeResultFile, type ColumnName, type Manifest,
} from '../src/index.js';
import { meta, row, tempDir, VERSION_3_COLUMNS, writeLegacyPart, writeVersion2Part } from './fixtures.js';

test('the row that stands for a cell is its last ok row, else its last failed row (part-name order, then row order)', async () => {
  const parts = tempDir();
  // part-1: a fails, b ok, c fails; part-2: a ok (attempt 2), b fails after its ok, c fails again (attempt 3); part-3: a ok again.
  await writeResultFile(join(parts, 'part-1.arrow'), [row('a', 'failed'), row('b', 'ok'), row('c', 'failed')], meta);
  await writeResultFile(join(parts, 'part-2.arrow'), [row('a', 'ok', { attempt: 2 }), row('b', 'failed'), row('c', 'failed', { attempt: 3 })], meta);
  await writeResultFile(join(parts, 'part-3.arrow'), [row('a', 'ok', { attempt: 3 })], meta);
  const paths = ['part-1.arrow', 'part-2.arrow', 'part-3.arrow'].map((n) => join(parts, n));
  const winners = await findWinners(paths);
  assert.equal(winners.cells, 3);
  assert.deepEqual(winners.masks.map((m) => [...m]), [
    [ROW_LOST, ROW_OK, ROW_LOST],
    [ROW_LOST, ROW_LOST, ROW_FAILED],
    [ROW_OK],
  ]);
  assert.deepEqual([...(await cellStates(paths))].sort(), [['a', 'ok'], ['b', 'ok'], ['c', 'failed']]);
});

test('scanParts sorts usable parts from damaged ones and says why; quarantine moves them and never deletes', async () => {
  const dir = tempDir();
  const paths = sweepPaths(dir);
  await mkdir(paths.parts, { recursive: true });
  const good = join(paths.parts, 'part-0.arrow');
  await writeResultFile(good, [row('a', 'ok')], meta);
  const bytes = readFileSync(good);
  writeFileSync(join(paths.parts, 'part-1-cut.arrow'), bytes.subarray(0, bytes.length - 20));
  const flipped = Buffer.from(bytes);
  flipped[Math.floor(flipped.length / 2)]! ^= 1;
  writeFileSync(join(paths.parts, 'part-2-flip.arrow'), flipped);
  writeFileSync(join(paths.parts, 'part-3-empty.arrow'), '');
  await mkdir(join(paths.parts, 'part-4-dir.arrow'));
  await writeResultFile(join(paths.parts, 'part-5-other.arrow'), [row('z', 'ok', { sweep: 'other' })], { ...meta, sweep: 'other' });
  await writeResultFile(join(paths.parts, 'part-6-spec.arrow'), [row('y', 'ok')], { ...meta, specHash: 'b'.repeat(64) });
  writeFileSync(join(paths.parts, 'part-7.arrow.tmp-1-abc'), 'half');
  writeFileSync(join(paths.parts, 'notes.txt'), 'not a part');

  const scan = await scanParts(paths.parts, { sweep: 's', specHashes: [meta.specHash] });
  assert.deepEqual(scan.parts, [good]);
  assert.deepEqual([...scan.specHashes], [meta.specHash]);
  assert.deepEqual(scan.temps, ['part-7.arrow.tmp-1-abc']);
  assert.deepEqual(scan.damaged.map((d) => [d.name, d.reason]), [
    ['part-1-cut.arrow', 'not a complete Arrow IPC file (truncated or corrupt)'],
    ['part-2-flip.arrow', 'checksum mismatch: the rows were changed or damaged on disk'],
    ['part-3-empty.arrow', 'empty file (0 bytes)'],
    ['part-4-dir.arrow', 'a directory, not a part file'],
    ['part-5-other.arrow', 'rows of sweep "other", not of "s" (copied from another sweep?)'],
    ['part-6-spec.arrow', `written under spec ${'b'.repeat(12)}…, which this sweep never ran (copied from another sweep directory?)`],
  ]);
  // A flipped bit goes unseen by a reader that does not check: the checksum is what finds it.
  assert.equal(tableFromIPC(flipped).numRows, 1);

  const moved = await quarantineParts(paths, scan.damaged);
  assert.deepEqual(moved, scan.damaged.map((d) => join(paths.quarantine, d.name)));
  assert.ok(moved.every((path) => existsSync(path)));
  assert.deepEqual((await scanParts(paths.parts, { sweep: 's' })).damaged, []);
  // A second file of the same name does not overwrite the first in quarantine.
  writeFileSync(join(paths.parts, 'part-3-empty.arrow'), '');
  const again = await quarantineParts(paths, (await scanParts(paths.parts, { sweep: 's' })).damaged);
  assert.deepEqual(again, [join(paths.quarantine, 'part-3-empty.arrow.1')]);

  // Readers refuse a directory with damaged parts, naming each file.
  writeFileSync(join(paths.parts, 'part-8.arrow'), 'garbage garbage garbage garbage');
  await assert.rejects(openSweepForReading(dir), (e: Error) => e instanceof SweepStoreError && /part-8\.arrow \(not a complete Arrow IPC file/.test(e.message) && /--quarantine/.test(e.message));
});

test('a manifest is checked field by field, and its spec against its hash', async () => {
  const spec = { name: 's', grid: { width: [4] } };
  const good: Manifest = {
    sweep: 's', spec, spec_hash: specHash(spec as unknown as SweepSpec), spec_hashes: [specHash(spec as unknown as SweepSpec)],
    settings_hash: createHash('sha256').update('x').digest('hex'), cell_count: 1, versions: { hessweep: '0.2.0', node: 'v20' },
    created: '2026-12-01T10:00:00.000Z', updated: '2026-12-01T10:00:00.000Z',
  };
  assert.deepEqual(validateManifest('m.json', good), good);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ ...good, cell_count: -1 }, /field "cell_count" must be a non-negative integer, got -1/],
    [{ ...good, spec_hash: 'nope' }, /field "spec_hash" must be a SHA-256 hex digest/],
    [{ ...good, created: 'yesterday' }, /field "created" must be an ISO-8601 time/],
    [{ ...good, spec_hashes: ['x'] }, /field "spec_hashes" must be a list of SHA-256 hex digests/],
    [{ ...good, spec: { ...spec, grid: { width: [8] } } }, /the spec it holds does not match its spec_hash/],
    [(({ sweep: _s, ...rest }) => rest)(good), /field "sweep" is missing/],
  ];
  for (const [value, message] of bad) assert.throws(() => validateManifest('m.json', value), (e: Error) => e instanceof SweepStoreError && /^m\.json: /.test(e.message) && message.test(e.message));
  const dir = tempDir();
  assert.equal(await readManifest(join(dir, 'none.json')), null);
  writeFileSync(join(dir, 'm.json'), '{"sweep": ');
  await assert.rejects(readManifest(join(dir, 'm.json')), (e: Error) => e instanceof SweepStoreError && /not valid JSON/.test(e.message));
});

test('one writer per directory: a live holder refuses others, a dead or silent one is taken over, and a holder learns when it lost the lock', async () => {
  const dir = tempDir();
  const paths = sweepPaths(dir);
  const notes: string[] = [];
  const first = await acquireSweepLock(paths, { command: 'first', onNote: (n) => notes.push(n) });
  await assert.rejects(acquireSweepLock(paths, { command: 'second' }), (e: Error) =>
    e instanceof SweepOwnedError && e.message.includes(`pid ${process.pid} on ${hostname()}`) && e.message.includes('(first)'));
  assert.deepEqual((await inspectLock(paths))?.live, true);
  await first.release();
  assert.ok(!existsSync(paths.lock));

  // A holder whose process is gone from this host.
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  writeFileSync(paths.lock, JSON.stringify({ pid: child.pid, host: hostname(), since: 'then', command: 'gone', token: 't1' }));
  assert.deepEqual((await inspectLock(paths))?.live, false);
  const second = await acquireSweepLock(paths, { command: 'second', onNote: (n) => notes.push(n) });
  assert.match(notes.at(-1)!, new RegExp(`took over the lock of .* from pid ${child.pid} .*: pid ${child.pid} is no longer running`));

  // This holder's heartbeat stops (its lock file made old), so a newcomer takes over; the old holder is told.
  let lostTo: unknown = 'not told';
  await second.release();
  const silent = await acquireSweepLock(paths, { command: 'silent', leaseMs: 1000, onLost: (holder) => (lostTo = holder) });
  const old = new Date(Date.now() - 3600_000);
  await utimes(paths.lock, old, old);
  // Same pid (this process) and alive, but silent for longer than the lease: stale.
  const newcomer = await acquireSweepLock(paths, { command: 'newcomer', leaseMs: 1000, onNote: (n) => notes.push(n) });
  assert.match(notes.at(-1)!, /its heartbeat is \d+ s old \(lease 1 s\)/);
  const deadline = Date.now() + 30_000;
  while (lostTo === 'not told') {
    assert.ok(Date.now() < deadline, 'the silent holder was never told it lost the lock');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal((lostTo as { command: string }).command, 'newcomer');
  await silent.release();
  assert.ok(existsSync(paths.lock), "a holder that lost the lock does not remove its successor's");
  await newcomer.release();
  assert.deepEqual(await readdir(dir), [], 'no lock or temp file left behind');
});

test('version-1 part files (finished_at as text, no sweep or checksum in the metadata) are still read, and exported in the current types', async () => {
  const dir = tempDir();
  const path = join(dir, 'part-0.arrow');
  writeLegacyPart(path, [row('a', 'ok', { finished_at: '2026-12-01T10:00:00.000Z' }), row('b', 'failed', { finished_at: '2026-12-01T11:30:00.500Z' })]);

  const scan = await scanParts(dir, { sweep: 's' });
  assert.deepEqual(scan.damaged, []);
  assert.deepEqual(readResultFile(path).rows.map((r) => r.finished_at), ['2026-12-01T10:00:00.000Z', '2026-12-01T11:30:00.500Z']);
  const table = await readPartTable(path);
  assert.equal(String(table.schema.fields.find((f) => f.name === 'finished_at')!.type), 'Timestamp<MILLISECOND, UTC>');
  assert.deepEqual(tableRows(table).map((r) => r.finished_at), ['2026-12-01T10:00:00.000Z', '2026-12-01T11:30:00.500Z']);
  // Its sweep comes from its rows: those of another sweep are refused.
  await assert.rejects(async () => {
    const other = await scanParts(dir, { sweep: 'elsewhere' });
    if (other.damaged.length) throw new Error(other.damaged[0]!.reason);
  }, /rows of sweep "s", not of "elsewhere"/);
});

test('the column reader gives the version-3 columns of a version-2 part as nulls (stage seconds 0); a column missing otherwise is refused', async () => {
  const dir = tempDir();
  const path = join(dir, 'part-0.arrow');
  writeVersion2Part(path, [row('a', 'ok', { bound: 1.5 }), row('b', 'failed'), row('c', 'ok', { bound: 2.5 })]);
  const names = ['cell_id', 'bound', ...VERSION_3_COLUMNS] as ColumnName[];
  const [batch, ...more] = await readColumns(path, names);
  assert.equal(more.length, 0);
  assert.equal(batch!.numRows, 3);
  const values = (name: string) => [...makeVector(batch!.columns.get(name)!)].map((v) => (v !== null && typeof v === 'object' ? [...(v as Iterable<unknown>)] : v));
  assert.deepEqual(values('cell_id'), ['a', 'b', 'c']);
  assert.deepEqual(values('bound'), [1.5, null, 2.5]);
  for (const name of VERSION_3_COLUMNS) {
    const data = batch!.columns.get(name)!;
    assert.equal(data.length, 3, name);
    if (name === 'stabilization_s') {
      assert.equal(data.nullCount, 0);
      assert.deepEqual(values(name), [0, 0, 0]);
    } else {
      assert.equal(data.nullCount, 3, name);
      assert.deepEqual(values(name), [null, null, null], name);
    }
  }
  assert.deepEqual(await readListRows(path, 'delta2_sub', [0, 2]), [null, null]);
  await assert.rejects(readListRows(path, 'delta2_sub', [3]), /no row 3 \(the file has 3 rows\)/);
  // A version-1 part reads them the same way.
  const legacy = join(dir, 'part-1.arrow');
  writeLegacyPart(legacy, [row('d', 'ok')]);
  const [old] = await readColumns(legacy, ['cell_id', 'n_suff_d2', 'stabilization_s']);
  assert.deepEqual([old!.columns.get('n_suff_d2')!.nullCount, [...makeVector(old!.columns.get('stabilization_s')!)]], [1, [0]]);
  // A version-2 part lacking a column of version 2, and a version-3 part lacking one of version 3, are refused.
  const current = toTable([row('e', 'ok')], meta);
  const lacking = (drop: string, version: string) => {
    const kept = current.select(current.schema.fields.map((f) => f.name).filter((n) => n !== drop));
    const schema = new Schema(kept.schema.fields, new Map([...current.schema.metadata, ['hessweep.schema_version', version]]));
    const file = join(dir, `lacking-${drop}.arrow`);
    writeFileSync(file, tableToIPC(new Table(schema, kept.batches.map((b) => new RecordBatch(schema, b.data))), 'file'));
    return file;
  };
  await assert.rejects(readColumns(lacking('bound', '2'), ['cell_id', 'bound']), /missing required columns: bound/);
  await assert.rejects(readColumns(lacking('delta2_sub', '3'), ['cell_id', 'delta2_sub']), /missing required columns: delta2_sub/);
  await assert.rejects(readListRows(lacking('delta2_iso', '3'), 'delta2_iso', [0]), /missing required columns: delta2_iso/);
});

test('WinnerTable folds parts one at a time as findWinners does, naming each row a later one supersedes', async () => {
  const parts = tempDir();
  const ids = ['a', 'b', 'c', 'd'];
  // Rows in write order: statuses by a fixed pattern, so every kind of succession occurs (ok after failed, failed after ok, ok after ok).
  const layout = [[0, 1, 2], [0, 0, 3, 1], [2, 3, 0], [1, 2]].map((part, p) => part.map((i, r) => row(ids[i]!, (p + r + i) % 3 === 0 ? 'failed' : 'ok', { attempt: p + 1 })));
  const paths = await Promise.all(layout.map(async (rows, p) => {
    const path = join(parts, `part-${p}.arrow`);
    await writeResultFile(path, rows, meta);
    return path;
  }));
  // Brute force: the standing row of each cell, and every time one stops standing.
  const standing = new Map<string, { part: number; row: number; ok: boolean }>();
  const expected: [number, number, number, number, number][] = [];
  layout.forEach((rows, p) => rows.forEach((r, i) => {
    const before = standing.get(r.cell_id);
    if (before?.ok && r.status !== 'ok') return;
    if (before) expected.push([p, before.part, before.row, before.ok ? ROW_OK : ROW_FAILED, i]);
    standing.set(r.cell_id, { part: p, row: i, ok: r.status === 'ok' });
  }));
  const table = new WinnerTable();
  const seen: [number, number, number, number, number][] = [];
  for (const [p, path] of paths.entries()) {
    table.foldPart(path, await readColumns(path, ['cell_id', 'status']), (part, r, state, by) => seen.push([p, part, r, state, by]));
  }
  assert.deepEqual(seen, expected);
  const all = await findWinners(paths);
  assert.deepEqual(table.masks, all.masks);
  assert.equal(table.cells, ids.length);
  const won = layout.map((rows) => rows.map(() => ROW_LOST as number));
  for (const s of standing.values()) won[s.part]![s.row] = s.ok ? ROW_OK : ROW_FAILED;
  assert.deepEqual(table.masks.map((m) => [...m]), won);
});

test('readListRows reads some rows of a list column, across record batches, as a full decode has them', async () => {
  const dir = tempDir();
  const density = (n: number) => (n % 5 === 3 ? null : n % 7 === 4 ? [] : Array.from({ length: 1 + (n % 4) }, (_, i) => n + i / 10));
  const rowsOf = (from: number, count: number) => Array.from({ length: count }, (_, i) => row(`c${from + i}`, 'ok', { density_x: density(from + i) }));
  // Two record batches in one file (as another writer may write it): rows 0…39 and 40…99.
  const path = join(dir, 'part-0.arrow');
  writeFileSync(path, tableToIPC(new Table([...toTable(rowsOf(0, 40), meta).batches, ...toTable(rowsOf(40, 60), meta).batches]), 'file'));
  const truth = tableFromIPC(readFileSync(path)).getChild('density_x')!;
  const expect = (r: number) => {
    const v = truth.get(r) as { toArray(): Float64Array; length: number } | null;
    return v && v.length > 0 ? Array.from(v.toArray()) : null;
  };
  for (const rows of [[3, 41], [0, 1, 2, 4, 7, 11, 39, 40, 41, 99], Array.from({ length: 100 }, (_, i) => i)]) {
    const got = await readListRows(path, 'density_x', rows);
    assert.deepEqual(got.map((v) => (v ? Array.from(v) : null)), rows.map(expect), `rows ${rows.length}`);
    assert.deepEqual(got.map((v) => (v ? Array.from(v) : null)), rows.map((r) => { const d = density(r); return d && d.length ? d : null; }));
  }
  await assert.rejects(readListRows(path, 'density_x', [100]), /no row 100/);
  await assert.rejects(readListRows(path, 'loss_diff_k', [0]), /not a list of float64/);
});
