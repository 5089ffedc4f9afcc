/**
 * Compaction from the outside: readers (`status`, `aggregate`, `report`, `export`) while a compaction merges
 * the parts under them, the coordinator when a compaction fails, and `hessweep compact` itself.
 *
 * A compaction is made to happen at the worst moment by intercepting one call of node:fs/promises (the
 * module's exports are patched and synced into the ES modules that import them): right after a reader listed
 * the parts, or right before it opens one it listed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { readParquet } from 'parquet-wasm';
import { aggregate, exportSweep, writeReport } from '@hessweep/analysis';
import { runSweep } from '@hessweep/coordinator';
import { DEFAULT_MEASURE, DEFAULT_TRAIN, failedRow, planGrid, specHash, type SweepSpec } from '@hessweep/grid';
import { InProcessQueue } from '@hessweep/queue';
import { acquireSweepLock, compactParts, readResultFile, scanParts, sweepPaths, writeResultFile } from '@hessweep/results';
import { statusCommand } from '../src/commands/status.js';
import { hessweep, syntheticSpec, withDir } from './support.js';

type FsCall = (...args: unknown[]) => Promise<unknown>;
const fsp = createRequire(import.meta.url)('node:fs/promises') as Record<string, FsCall>;

/** Routes every call of fs/promises' `name` through `intercept` until the returned function is called. */
function interceptFs(name: string, intercept: (real: FsCall, args: unknown[]) => Promise<unknown>): () => void {
  const real = fsp[name]!;
  fsp[name] = (...args: unknown[]) => intercept(real, args);
  syncBuiltinESMExports();
  return () => {
    fsp[name] = real;
    syncBuiltinESMExports();
  };
}

/** Merges every part of `partsDir` into one. */
const compactAll = (partsDir: string) => compactParts(partsDir, { policy: { minPartRows: 1_000_000 } });

/**
 * A sweep directory of 30 dry-run cells whose rows lie in many small parts, as a NATS sweep leaves them: one
 * row per part, then a part of failed rows after the ok ones and a part of repeated rows.
 */
async function smallPartsSweep(out: string): Promise<string> {
  await writeFile(join(out, 'small.yaml'), syntheticSpec('small', [2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5]));
  const run = await hessweep(['run', join(out, 'small.yaml'), '--out', out, '--dry-run', '--quiet'], out);
  assert.equal(run.code, 0, run.stderr);
  const dir = join(out, 'small');
  const { parts } = await scanParts(join(dir, 'parts'));
  const file = readResultFile(parts[0]!);
  const meta = { sweep: 'small', specHash: file.metadata.get('hessweep.spec_hash')!, version: file.metadata.get('hessweep.version')! };
  const rows = parts.flatMap((p) => readResultFile(p).rows);
  await Promise.all(parts.map((p) => rm(p)));
  const name = (n: number) => join(dir, 'parts', `part-${String(1_700_000_000_000 + n).padStart(14, '0')}-1-${String(n).padStart(6, '0')}.arrow`);
  for (const [n, row] of rows.entries()) await writeResultFile(name(n), [row], meta);
  await writeResultFile(name(rows.length), rows.slice(0, 5).map((r) => ({ ...r, status: 'failed' as const, error: 'late failure' })), meta);
  await writeResultFile(name(rows.length + 1), rows.slice(5, 10), meta);
  return dir;
}

/** `status DIR --json`, run in this process (so that an intercepted fs call reaches it). */
async function statusJson(dir: string): Promise<unknown> {
  let out = '';
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stdout.write;
  try {
    assert.equal(await statusCommand({ target: dir, json: true, quarantine: false, limit: 100 } as Parameters<typeof statusCommand>[0]), 0);
  } finally {
    process.stdout.write = write;
  }
  return { ...JSON.parse(out), updated: null };
}

/** What each reader gives for a sweep directory, in a form to compare. */
const READERS: Record<string, (dir: string) => Promise<unknown>> = {
  status: statusJson,
  aggregate: async (dir) => ({ ...(await aggregate(dir)), parts: null }),
  'export csv': async (dir) => readFile((await exportSweep(dir, 'csv')).path, 'utf8'),
  'export parquet': async (dir) => tableFromIPC(readParquet(await readFile((await exportSweep(dir, 'parquet')).path)).intoIPCStream()).toArray().map((r) => JSON.stringify(r)),
  report: async (dir) => {
    await writeReport(dir, { now: new Date(0) });
    return readFile(join(dir, 'report', 'index.html'), 'utf8');
  },
};

/**
 * Where the compaction strikes: at the reader's first or second listing of the parts, answered with what was
 * listed before it, or torn by it (the merged part not yet there, the parts it replaced already gone, as a
 * listing made while a compaction runs may be); or when the reader opens (`open`, `readFile`) a part, after the
 * first `skip` times.
 */
const STRIKES: { name: string; call: string; skip: (parts: number) => number; torn?: boolean }[] = [
  { name: 'after the listing', call: 'readdir', skip: () => 0 },
  { name: 'tearing the first listing', call: 'readdir', skip: () => 0, torn: true },
  { name: 'tearing the second listing', call: 'readdir', skip: () => 1, torn: true },
  { name: 'after the scan, before the first read of a part', call: 'open', skip: (parts) => parts },
  { name: 'before a part is read whole', call: 'readFile', skip: () => 0 },
];

test('readers give the same answer when a compaction merges the parts they listed before they read them', async () => {
  await withDir('compact-readers', async (out) => {
    const base = await smallPartsSweep(out);
    const partsCount = (await readdir(join(base, 'parts'))).length;
    for (const [reader, read] of Object.entries(READERS)) {
      for (const [s, strike] of STRIKES.entries()) {
        // status, aggregate and report read columns, never a whole part.
        if (strike.call === 'readFile' && (reader === 'status' || reader === 'aggregate' || reader === 'report')) continue;
        const dir = join(out, `${reader.replace(/ /g, '-')}-${s}`);
        await cp(base, dir, { recursive: true });
        const partsDir = join(dir, 'parts');
        let calls = 0;
        let struck = false;
        const restore = interceptFs(strike.call, async (real, args) => {
          const path = String(args[0]);
          const ours = strike.call === 'readdir' ? path === partsDir : path.startsWith(partsDir);
          if (struck || !ours || ++calls <= strike.skip(partsCount)) return real(...args);
          struck = true;
          if (strike.call !== 'readdir') {
            await compactAll(partsDir);
            return real(...args);
          }
          const listing = (await real(...args)) as string[];
          // Ten 1-row parts to a merged part, three times over: some parts merged, some not.
          await compactParts(partsDir, { policy: { minPartRows: 10 } });
          const after = (await real(...args)) as string[];
          return strike.torn ? listing.filter((n) => after.includes(n)) : listing;
        });
        let answer: unknown;
        try {
          answer = await read(dir);
        } finally {
          restore();
        }
        assert.ok(struck, `${reader}: the compaction never struck ${strike.name}`);
        assert.ok((await readdir(partsDir)).length < partsCount);
        // The same reader on the compacted directory, left alone: the same answer.
        assert.deepEqual(answer, await read(dir), `${reader}, compaction ${strike.name}`);
      }
    }
  });
});

/** Runs the sweep of seeds 0…5 (those below `upTo`) into `out`, every cell answered ok at once; returns its notes. */
async function sweepOf(out: string, upTo: number): Promise<string[]> {
  const seeds = [0, 1, 2, 3, 4, 5];
  const spec = { seeds };
  const grid = planGrid({ grids: [{ dataset: ['synthetic'], width: [4], depth: [1], seed: seeds, sample_size: [32] }], train: DEFAULT_TRAIN, measure: DEFAULT_MEASURE, data: {} });
  const plan = { sweep: 's', grid, spec, specHash: specHash(spec as unknown as SweepSpec), settingsHash: 'f'.repeat(64) };
  const queue = new InProcessQueue();
  const serving = (async () => {
    while (!queue.closed) {
      for await (const delivery of queue.pull(1)) {
        await queue.publishResult({ ...failedRow(delivery.task.cell, { sweep: 's', worker: 'w', attempt: 1, backend: 'fake' }, ''), status: 'ok', error: null }, delivery.id);
        await delivery.ack();
      }
    }
  })();
  const notes: string[] = [];
  const outcome = await runSweep(queue, plan, { out, include: (c) => c.seed < upTo, onNote: (n) => notes.push(n) });
  await queue.close();
  await serving;
  assert.equal(outcome.remaining, 0);
  return notes;
}

test('a compaction that fails (disk full) loses no row: the sweep finishes, the parts stay, and a later compaction merges them', async () => {
  await withDir('compact-full', async (out) => {
    // A first run writes seeds 0-2; the second writes 3-5 into at least one more part, and its final compaction
    // (merging them with the first run's) fails.
    await sweepOf(out, 3);
    const partsDir = join(out, 's', 'parts');
    const restore = interceptFs('rename', async (real, args) => {
      if (/\.c\d{6}\.arrow$/.test(String(args[1]))) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      return real(...args);
    });
    let notes: string[];
    try {
      notes = await sweepOf(out, 6);
    } finally {
      restore();
    }
    assert.ok(notes.some((n) => /^compaction stopped: .*no space left on the device \(ENOSPC\).*no row is lost/.test(n)), notes.join('\n'));
    const names = await readdir(partsDir);
    assert.ok(names.length >= 2 && names.every((n) => !n.includes('.tmp-')), names.join(', '));
    const rows = () => scanParts(partsDir, { sweep: 's' }).then((s) => s.parts.flatMap((p) => readResultFile(p).rows.map((r) => r.seed)));
    assert.deepEqual((await rows()).sort(), [0, 1, 2, 3, 4, 5]);
    await compactAll(partsDir);
    assert.equal((await readdir(partsDir)).length, 1);
    assert.deepEqual((await rows()).sort(), [0, 1, 2, 3, 4, 5]);
  });
});

test('hessweep compact merges small parts and says what it did; status is the same after', async () => {
  await withDir('compact-cli', async (out) => {
    const dir = await smallPartsSweep(out);
    await writeFile(join(dir, 'parts', 'part-00001700000000000-1-000000.arrow.tmp-1-abc'), 'half');
    const before = await hessweep(['status', dir, '--json'], out);
    const compacted = await hessweep(['compact', dir, '--min-rows', '10'], out);
    assert.equal(compacted.code, 0, compacted.stderr);
    // The aim is 10 rows: three runs of ten 1-row parts merge; the two parts of 5 rows (half the aim) stay.
    assert.match(compacted.stdout, /: 32 parts → 5 parts, 40 rows, [\d.]+ KiB → [\d.]+ KiB \(3 merges, [\d.]+ s\)\n$/);
    assert.match(compacted.stderr, /removed 1 unfinished temp file/);
    assert.match(compacted.stderr, /\[1\/3\] merging 10 parts \(10 rows\) into part-.*\.c000001\.arrow/);
    assert.equal((await readdir(join(dir, 'parts'))).length, 5);
    const after = await hessweep(['status', dir, '--json'], out);
    assert.deepEqual(JSON.parse(after.stdout), JSON.parse(before.stdout));
  });
});

test('hessweep compact refuses, in one line with exit 2, a directory being written, damaged parts, and no sweep directory', async () => {
  await withDir('compact-refusals', async (out) => {
    const dir = await smallPartsSweep(out);
    const lock = await acquireSweepLock(sweepPaths(dir), { command: 'hessweep run small.yaml' });
    try {
      const held = await hessweep(['compact', dir], out);
      assert.equal(held.code, 2);
      assert.match(held.stderr, new RegExp(`^hessweep: ${dir} is being written by pid ${process.pid} .*\\(hessweep run small\\.yaml\\); wait for it to finish or stop it .*\\n$`));
    } finally {
      await lock.release();
    }

    await writeFile(join(dir, 'parts', 'part-99999999999999-1-000000.arrow'), 'not arrow');
    const damaged = await hessweep(['compact', dir], out);
    assert.equal(damaged.code, 2);
    assert.match(damaged.stderr, /^hessweep: .*1 part file cannot be used: part-99999999999999-1-000000\.arrow \(not a complete Arrow IPC file.*--quarantine.*\n$/);
    assert.equal((await readdir(join(dir, 'parts'))).length, 33, 'nothing merged');

    for (const [args, message] of [
      [[join(out, 'nowhere')], /no such directory/],
      [[out], /no manifest\.json here/],
      [[dir, '--target-parts', '1'], /--target-parts must be at least 2/],
    ] as const) {
      const refused = await hessweep(['compact', ...args], out);
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, new RegExp(`^hessweep: .*${message.source}.*\\n$`));
    }
  });
});
