import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MEASURE, DEFAULT_TRAIN, cellId, failedRow, type Cell, type ResultRow } from '@hessweep/grid';
import { InProcessQueue } from '@hessweep/queue';
import { CellThread, ThreadLostError, Worker, type CellRunner } from '../src/index.js';
import { DYING_SEED } from './dying-cell.js';

const cell = (seed: number): Cell => ({ dataset: 'synthetic', width: 4, depth: 1, seed, sample_size: 32, train: { ...DEFAULT_TRAIN, epochs: 1 }, measure: { ...DEFAULT_MEASURE, top_k: 1, permutations: 2 }, data: {} });

/** Succeeds with an ok row, except for seeds in `failing`, which throw on every attempt up to `failUntil`. */
function fakeRunner(calls: string[], failing: Set<number>, failUntil = Infinity): () => CellRunner {
  return () => ({
    async run({ cell: c, context }) {
      calls.push(`${c.seed}:${context.attempt}`);
      if (failing.has(c.seed) && context.attempt <= failUntil) throw new Error(`boom ${c.seed}`);
      const row: ResultRow = { ...failedRow(c, { ...context, backend: 'fake' }, ''), status: 'ok', error: null };
      return row;
    },
    async terminate() {},
  });
}

async function collect(queue: InProcessQueue, sweep: string, count: number): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  for await (const event of queue.results(sweep)) {
    if (event.type === 'row') rows.push(event.row);
    if (rows.length === count) break;
  }
  return rows;
}

test('a worker runs every cell once and publishes its row with provenance', async () => {
  const queue = new InProcessQueue();
  const calls: string[] = [];
  const worker = new Worker(queue, { slots: 2, maxAttempts: 3, backend: 'wasm', name: 'w1', createRunner: fakeRunner(calls, new Set()) });
  const running = worker.run();
  await queue.enqueue([0, 1, 2, 3].map((s) => ({ sweep: 's', cellId: cellId(cell(s)), cell: cell(s) })));
  const rows = await collect(queue, 's', 4);
  await queue.close();
  await running;
  assert.deepEqual(rows.map((r) => r.seed).sort(), [0, 1, 2, 3]);
  assert.ok(rows.every((r) => r.status === 'ok' && r.worker === 'w1' && r.attempt === 1 && r.sweep === 's'));
  assert.equal(calls.length, 4);
});

test('a failing cell is retried, then recorded as failed after maxAttempts; a flaky one recovers', async () => {
  const queue = new InProcessQueue();
  const calls: string[] = [];
  const events: string[] = [];
  const worker = new Worker(queue, {
    slots: 1,
    maxAttempts: 3,
    backend: 'wasm',
    createRunner: () => {
      const always = fakeRunner(calls, new Set([1]))();
      const flaky = fakeRunner(calls, new Set([2]), 1)();
      return { run: (r) => (r.cell.seed === 2 ? flaky.run(r) : always.run(r)), terminate: async () => {} };
    },
    onEvent: (e) => events.push(`${e.type}:${e.delivery.task.cell.seed}`),
  });
  const running = worker.run();
  await queue.enqueue([0, 1, 2].map((s) => ({ sweep: 's', cellId: cellId(cell(s)), cell: cell(s) })));
  const rows = await collect(queue, 's', 3);
  await queue.close();
  await running;
  const bySeed = new Map(rows.map((r) => [r.seed, r]));
  assert.equal(bySeed.get(0)?.status, 'ok');
  assert.equal(bySeed.get(1)?.status, 'failed');
  assert.equal(bySeed.get(1)?.error, 'boom 1');
  assert.equal(bySeed.get(1)?.attempt, 3);
  assert.equal(bySeed.get(2)?.status, 'ok');
  assert.equal(bySeed.get(2)?.attempt, 2);
  assert.deepEqual(calls.filter((c) => c.startsWith('1:')), ['1:1', '1:2', '1:3']);
  assert.equal(events.filter((e) => e === 'retry:1').length, 2);
  assert.equal(events.filter((e) => e === 'failed:1').length, 1);
});

test('cells really run on worker threads; a cell that throws is recorded as failed and the slot goes on', async () => {
  const queue = new InProcessQueue();
  const worker = new Worker(queue, { slots: 2, maxAttempts: 1, backend: 'wasm' });
  const running = worker.run();
  const cells = [cell(0), { ...cell(1), dataset: 'features' as const, data: { features_path: '/nonexistent/f.csv' } }, cell(2)];
  await queue.enqueue(cells.map((c) => ({ sweep: 't', cellId: cellId(c), cell: c })));
  const rows = await collect(queue, 't', 3);
  await queue.close();
  await running;
  const bySeed = new Map(rows.map((r) => [r.seed, r]));
  assert.equal(bySeed.get(0)?.status, 'ok');
  assert.equal(bySeed.get(0)?.backend, 'wasm+fused');
  assert.ok((bySeed.get(0)?.hessian_top?.length ?? 0) === 1);
  assert.equal(bySeed.get(1)?.status, 'failed');
  assert.match(bySeed.get(1)?.error ?? '', /\/nonexistent\/f\.csv/);
  assert.equal(bySeed.get(2)?.status, 'ok');
});

/** The thread entry that runs cells like the real one but exits with code 1 on the first attempt of DYING_SEED. */
const DYING_THREAD = new URL('./dying-thread.js', import.meta.url);

// A deadline, so that a CellThread that reused its dead thread (no reply ever) fails instead of hanging.
test('a thread that exits mid-cell rejects that cell with ThreadLostError; the next cell runs on a new thread', { timeout: 60_000 }, async () => {
  const thread = new CellThread(DYING_THREAD);
  const context = { sweep: 't', worker: 'w', attempt: 1, backend: 'wasm' as const };
  try {
    // The same thread entry runs an ordinary cell, so what follows is not a script that cannot run cells.
    assert.equal((await thread.run({ cell: cell(0), context })).status, 'ok');
    await assert.rejects(thread.run({ cell: cell(DYING_SEED), context }), (error: Error) => {
      assert.ok(error instanceof ThreadLostError, `${error.name}: ${error.message}`);
      assert.match(error.message, /exited with code 1 while the cell ran/);
      return true;
    });
    // That thread has exited, so this row comes from the thread CellThread starts in its place.
    const row = await thread.run({ cell: cell(1), context });
    assert.equal(row.status, 'ok');
    assert.equal(row.seed, 1);
    assert.equal(row.backend, 'wasm+fused');
    assert.equal(row.hessian_top?.length, 1);
  } finally {
    await thread.terminate();
  }
});

test('a worker whose thread dies retries the cell on a new thread and publishes its row', { timeout: 60_000 }, async () => {
  const queue = new InProcessQueue();
  const events: string[] = [];
  const worker = new Worker(queue, {
    slots: 1,
    maxAttempts: 2,
    backend: 'wasm',
    createRunner: () => new CellThread(DYING_THREAD),
    onEvent: (e) => events.push(e.type === 'retry' ? `retry:${e.delivery.task.cell.seed}:${e.error}` : `${e.type}:${e.delivery.task.cell.seed}`),
  });
  const running = worker.run();
  await queue.enqueue([cell(DYING_SEED), cell(0)].map((c) => ({ sweep: 'd', cellId: cellId(c), cell: c })));
  const rows = await collect(queue, 'd', 2);
  await queue.close();
  await running;
  const dying = rows.find((r) => r.seed === DYING_SEED);
  assert.equal(dying?.status, 'ok', `row of the dying cell: ${dying?.status} ${dying?.error}`);
  assert.equal(dying?.attempt, 2);
  assert.equal(rows.find((r) => r.seed === 0)?.status, 'ok');
  assert.deepEqual(events.filter((e) => e.startsWith('retry:')), [`retry:${DYING_SEED}:worker thread exited with code 1 while the cell ran`]);
});
