import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MEASURE, DEFAULT_TRAIN, cellId, failedRow, type Cell, type ResultRow } from '@hessweep/grid';
import { InProcessQueue } from '@hessweep/queue';
import { Worker, type CellRunner } from '../src/index.js';

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
  for await (const delivery of queue.results(sweep)) {
    rows.push(delivery.row);
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

test('cells really run on worker threads and a thread that dies is replaced', async () => {
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
  assert.equal(bySeed.get(0)?.backend, 'wasm');
  assert.ok((bySeed.get(0)?.hessian_top?.length ?? 0) === 1);
  assert.equal(bySeed.get(1)?.status, 'failed');
  assert.match(bySeed.get(1)?.error ?? '', /\/nonexistent\/f\.csv/);
  assert.equal(bySeed.get(2)?.status, 'ok');
});
