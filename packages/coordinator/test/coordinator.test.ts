import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  cellId, DEFAULT_MEASURE, DEFAULT_TRAIN, expandGrid, failedRow, parseSpec, parseWhere, planGrid, specHash, specSettingsHash, type Cell, type ResultRow,
  type SweepSpec,
} from '@hessweep/grid';
import { InProcessQueue, type CellTask, type Queue, type SweepEvent } from '@hessweep/queue';
import { readResultFile, scanParts, writeResultFile } from '@hessweep/results';
import { runSweep, SweepError, type SweepPlan } from '../src/index.js';
import { SweepCompaction } from '../src/compaction.js';

const cell = (seed: number): Cell => ({ dataset: 'synthetic', width: 4, depth: 1, seed, sample_size: 32, train: DEFAULT_TRAIN, measure: DEFAULT_MEASURE, data: {} });
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** A plan of the cells `cell(seed)`, in the order given. */
const plan = (seeds: number[], settings = 'settings'): SweepPlan => {
  const spec = { seeds, settings };
  const grid = planGrid({ grids: [{ dataset: ['synthetic'], width: [4], depth: [1], seed: seeds, sample_size: [32] }], train: DEFAULT_TRAIN, measure: DEFAULT_MEASURE, data: {} });
  return { sweep: 's', grid, spec, specHash: specHash(spec as unknown as SweepSpec), settingsHash: sha256(settings) };
};
const okRow = (c: Cell): ResultRow => ({ ...failedRow(c, { sweep: 's', worker: 'w', attempt: 1, backend: 'fake' }, ''), status: 'ok', error: null });

/** Answers every queued cell with `answer(cell)` rows (a list, to simulate redeliveries); `served` gets each task. */
async function serve(queue: InProcessQueue, answer: (c: Cell) => ResultRow[], served: CellTask[] = []): Promise<void> {
  while (!queue.closed) {
    for await (const delivery of queue.pull(1)) {
      served.push(delivery.task);
      for (const row of answer(delivery.task.cell)) await queue.publishResult(row, delivery.id);
      await delivery.ack();
    }
  }
}

async function rowsIn(dir: string): Promise<ResultRow[]> {
  const scan = await scanParts(join(dir, 's', 'parts'), { sweep: 's' });
  assert.deepEqual(scan.damaged, []);
  return scan.parts.flatMap((path) => readResultFile(path).rows);
}

test('duplicated result rows are written once; a rerun queues only cells without rows', async () => {
  const out = await mkdtemp(join(tmpdir(), 'hessweep-coord-'));
  try {
    const queue = new InProcessQueue();
    const serving = serve(queue, (c) => [okRow(c), okRow(c)]);
    const outcome = await runSweep(queue, plan([0, 1, 2]), { out });
    await queue.close();
    await serving;
    assert.deepEqual({ ok: outcome.ok, failed: outcome.failed, remaining: outcome.remaining, skipped: outcome.skipped }, { ok: 3, failed: 0, remaining: 0, skipped: 0 });
    assert.equal((await rowsIn(out)).length, 3);

    const second = new InProcessQueue();
    const seen: number[] = [];
    const serving2 = serve(second, (c) => (seen.push(c.seed), [okRow(c)]));
    const notes: string[] = [];
    const again = await runSweep(second, plan([0, 1, 2, 3]), { out, onNote: (n) => notes.push(n) });
    await second.close();
    await serving2;
    assert.deepEqual(seen, [3]);
    assert.equal(again.skipped, 3);
    assert.ok(notes.some((n) => /grid of sweep "s" changed/.test(n)));
    assert.deepEqual((await rowsIn(out)).map((r) => r.seed).sort(), [0, 1, 2, 3]);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('failed cells are skipped unless retried; changed settings are refused; stray temps are removed', async () => {
  const out = await mkdtemp(join(tmpdir(), 'hessweep-coord-'));
  try {
    const queue = new InProcessQueue();
    const serving = serve(queue, (c) => [c.seed === 1 ? failedRow(c, { sweep: 's', worker: 'w', attempt: 3, backend: 'fake' }, 'boom') : okRow(c)]);
    const outcome = await runSweep(queue, plan([0, 1]), { out });
    await queue.close();
    await serving;
    assert.equal(outcome.failed, 1);

    await writeFile(join(out, 's', 'parts', 'part-1.arrow.tmp-9-x'), 'partial');
    const retry = new InProcessQueue();
    const serving2 = serve(retry, (c) => [okRow(c)]);
    const notes: string[] = [];
    const retried = await runSweep(retry, plan([0, 1]), { out, retryFailed: true, onNote: (n) => notes.push(n) });
    await retry.close();
    await serving2;
    assert.deepEqual({ ok: retried.ok, failed: retried.failed, skipped: retried.skipped }, { ok: 2, failed: 0, skipped: 1 });
    assert.ok(notes.some((n) => /removed 1 unfinished temp file/.test(n)));
    assert.ok(!(await readdir(join(out, 's', 'parts'))).some((n) => n.includes('.tmp-')));

    await assert.rejects(runSweep(new InProcessQueue(), plan([0, 1], 'other settings'), { out }), SweepError);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

/** A queue that only hands the coordinator `results` (it queues nothing and has no cells to pull). */
function resultsQueue(results: () => AsyncIterable<SweepEvent>): Queue {
  return { closed: false, enqueue: async (tasks) => [...tasks].length, pull: async function* () {}, publishResult: async () => {}, close: async () => {}, results };
}

/**
 * A queue whose result stream is a fixed list of rows (then silence, as a live stream), each delivery's ack
 * recorded: for what the coordinator acknowledges, and when.
 */
function scriptedQueue(rows: ResultRow[]) {
  const acked: string[] = [];
  const queue = resultsQueue(async function* () {
    for (const [i, row] of rows.entries()) yield { type: 'row' as const, row, ack: async () => void acked.push(`${row.cell_id}#${i}`) };
    await new Promise(() => {}); // a live stream: nothing more, and no end
  });
  return { queue, acked };
}

test('a redelivered row is acked only once the first row of its cell is on disk, and never when that is not written', async () => {
  const out = await mkdtemp(join(tmpdir(), 'hessweep-coord-'));
  try {
    const [a, b] = [okRow(cell(0)), okRow(cell(1))];
    const id = (row: ResultRow, i: number) => `${row.cell_id}#${i}`;

    // The first copy of a is written: both copies are acked, and b.
    const written = scriptedQueue([a, a, b]);
    const outcome = await runSweep(written.queue, plan([0, 1]), { out });
    assert.equal(outcome.ok, 2);
    assert.deepEqual(written.acked.sort(), [id(a, 0), id(a, 1), id(b, 2)].sort());
    assert.equal((await rowsIn(out)).length, 2);

    // Nothing can be written (the coordinator no longer holds the sweep): nothing is acked, a's copy included,
    // so that every row stays in the queue for whoever writes the sweep next.
    const refused = scriptedQueue([okRow(cell(2)), okRow(cell(2)), okRow(cell(3))]);
    const lost = new Error('another coordinator holds the sweep');
    await assert.rejects(runSweep(refused.queue, plan([0, 1, 2, 3]), { out, confirmHold: async () => { throw lost; } }), (e) => e === lost);
    assert.deepEqual(refused.acked, []);
    assert.equal((await rowsIn(out)).length, 2);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('a --where slice and the rows on disk decide which cells are queued, in run order, with their ids', async () => {
  const out = await mkdtemp(join(tmpdir(), 'hessweep-coord-'));
  try {
    const spec = parseSpec(
      'name: s\ngrids:\n  - {dataset: synthetic, width: [2, 4, 8], depth: [1, 2], seed: [1, 0], sample_size: 16}\n  - {dataset: synthetic, width: 4, depth: [2, 3], seed: 0, sample_size: 16}',
      's.yaml',
    );
    const sweepPlan: SweepPlan = { sweep: 's', grid: planGrid(spec), spec: spec as unknown as Record<string, unknown>, specHash: specHash(spec), settingsHash: specSettingsHash(spec) };

    // A first run gives every cell of depth 1 a row: ok, but failed for width 8 seed 0.
    const first = new InProcessQueue();
    const serving = serve(first, (c) => [c.width === 8 && c.seed === 0 ? failedRow(c, { sweep: 's', worker: 'w', attempt: 3, backend: 'fake' }, 'boom') : okRow(c)]);
    await runSweep(first, sweepPlan, { out, include: parseWhere('depth=1') });
    await first.close();
    await serving;

    const second = new InProcessQueue();
    const served: CellTask[] = [];
    const serving2 = serve(second, (c) => [okRow(c)], served);
    const outcome = await runSweep(second, sweepPlan, { out, include: parseWhere('width>=4') });
    await second.close();
    await serving2;
    const slice = expandGrid(spec).filter((c) => c.width >= 4);
    assert.equal(slice.length, 9); // widths 4 and 8 × depths 1 and 2 × 2 seeds, and (4, 3) of seed 0 from the second grid
    const expected = slice.filter((c) => c.depth !== 1);
    assert.deepEqual(served.map((t) => t.cell), expected);
    assert.deepEqual(served.map((t) => t.cellId), expected.map(cellId));
    assert.deepEqual({ total: outcome.total, skipped: outcome.skipped, ok: outcome.ok, failed: outcome.failed }, { total: 9, skipped: 4, ok: 8, failed: 1 });
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('a delivery is not kept once its row is on disk and acked: memory does not grow with the rows of a run', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const out = await mkdtemp(join(tmpdir(), 'hessweep-coord-'));
  try {
    const seeds = Array.from({ length: 50 }, (_, i) => i);
    const delivered: WeakRef<object>[] = [];
    let acked = 0;
    let kept = -1;
    const queue = resultsQueue(async function* () {
      for (const seed of seeds) {
        if (seed === seeds.length - 1) {
          // Every earlier row is durable and acked before the last is handed out; then none should be reachable.
          const deadline = Date.now() + 10_000;
          while (acked < seed) {
            assert.ok(Date.now() < deadline, `only ${acked} of ${seed} rows were acked within 10 s`);
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
          await new Promise((resolve) => setImmediate(resolve));
          gc();
          // The loop still holds the row it took last, while it waits for the next.
          kept = delivered.slice(0, -1).filter((ref) => ref.deref() !== undefined).length;
        }
        const delivery = { type: 'row' as const, row: okRow(cell(seed)), ack: async () => void acked++ };
        delivered.push(new WeakRef(delivery));
        yield delivery;
      }
      await new Promise(() => {}); // a live stream: nothing more, and no end
    });
    const outcome = await runSweep(queue, plan(seeds), { out });
    assert.equal(outcome.ok, seeds.length);
    assert.equal(kept, 0, `${kept} of ${seeds.length - 2} written and acked deliveries were still reachable`);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('a finished sweep ends with its parts merged, every row kept', async () => {
  const out = await mkdtemp(join(tmpdir(), 'hessweep-coord-'));
  try {
    const seeds = Array.from({ length: 150 }, (_, i) => i);
    const queue = new InProcessQueue();
    const serving = serve(queue, (c) => [okRow(c)]);
    const outcome = await runSweep(queue, plan(seeds), { out });
    await queue.close();
    await serving;
    assert.equal(outcome.ok, 150);
    // 150 rows are far below a merged part's aim (4,096 rows): whatever the parts written, one is left.
    assert.equal((await scanParts(join(out, 's', 'parts'), { sweep: 's' })).parts.length, 1);
    assert.deepEqual((await rowsIn(out)).map((r) => r.seed).sort((a, b) => a - b), seeds);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('compaction during a run takes turns with part writes, merges the newest small parts once 64 have gathered, and stops at a failure', async () => {
  const out = await mkdtemp(join(tmpdir(), 'hessweep-coord-'));
  try {
    const parts = join(out, 'parts');
    await mkdir(parts);
    const meta = { sweep: 's', specHash: 'a'.repeat(64), version: '0.2.0' };
    let n = 0;
    const writeParts = async (count: number) => {
      for (let i = 0; i < count; i++, n++) {
        await writeResultFile(join(parts, `part-${String(1_700_000_000_000 + n).padStart(14, '0')}-1-${String(n).padStart(6, '0')}.arrow`), [okRow(cell(n))], meta);
      }
    };
    const count = async () => (await readdir(parts)).length;
    const notes: string[] = [];
    const compaction = new SweepCompaction(parts, { confirm: async () => undefined, expectedRows: 1000, onNote: (m) => notes.push(m) });

    // 63 small parts: not yet. The 64th: all merge, and a write queued meanwhile waits for the merge.
    await writeParts(63);
    compaction.partWritten();
    await compaction.settle();
    assert.equal(await count(), 63);
    await writeParts(1);
    compaction.partWritten();
    const seenByWrite = await compaction.exclusive(count);
    assert.equal(seenByWrite, 1);

    // Three more: not due during the run; merged at its end.
    await writeParts(3);
    compaction.partWritten();
    await compaction.settle();
    assert.equal(await count(), 4);
    await compaction.finish();
    assert.equal(await count(), 1);
    assert.deepEqual(notes, [`compacted ${parts}: 4 part files → 1`]);

    // Losing the right to write stops compaction, with a note; the parts stay.
    await writeParts(2);
    const stopped = new SweepCompaction(parts, { confirm: async () => { throw new Error('the lock was taken over'); }, expectedRows: 1000, onNote: (m) => notes.push(m) });
    await stopped.finish();
    assert.match(notes.at(-1)!, /^compaction stopped: the lock was taken over; no row is lost/);
    assert.equal(await count(), 3);
    assert.deepEqual((await scanParts(parts, { sweep: 's' })).parts.flatMap((p) => readResultFile(p).rows.map((r) => r.seed)), Array.from({ length: 69 }, (_, i) => i));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
