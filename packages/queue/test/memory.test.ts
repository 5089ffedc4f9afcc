import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MEASURE, DEFAULT_TRAIN, failedRow, type Cell } from '@hessweep/grid';
import { InProcessQueue, type CellTask, type Delivery } from '../src/index.js';

const cell = (seed: number): Cell => ({ dataset: 'synthetic', width: 4, depth: 1, seed, sample_size: 10, train: DEFAULT_TRAIN, measure: DEFAULT_MEASURE, data: {} });
const task = (seed: number, sweep = 's'): CellTask => ({ sweep, cellId: `c${seed}`, cell: cell(seed) });

/** Every delivery of one pull of up to `max` cells. */
async function pulled(q: InProcessQueue, max: number, signal?: AbortSignal): Promise<Delivery[]> {
  const deliveries: Delivery[] = [];
  for await (const delivery of q.pull(max, signal)) deliveries.push(delivery);
  return deliveries;
}

/** The one cell of a pull of one, or null when the pull ended without a cell. */
const next = async (q: InProcessQueue, signal?: AbortSignal) => (await pulled(q, 1, signal))[0] ?? null;

test('enqueue is idempotent per sweep and cell while the cell is queued or leased', async () => {
  const q = new InProcessQueue();
  assert.equal(await q.enqueue([task(1), task(2), task(1)]), 2);
  assert.equal(await q.enqueue([task(2), task(2, 'other')]), 1);
  const d = await next(q);
  assert.equal(d?.task.cellId, 'c1');
  assert.equal(await q.enqueue([task(1)]), 0, 'a leased cell is not queued again');
  await d!.ack();
  assert.equal(await q.enqueue([task(1)]), 1, 'an acked cell can be queued again (the coordinator decides)');
});

test('next waits for work, hands cells out in order, and nak redelivers with the attempt raised', async () => {
  const q = new InProcessQueue();
  const waiting = next(q);
  await q.enqueue([task(1), task(2)]);
  const first = await waiting;
  assert.equal(first?.task.cellId, 'c1');
  assert.equal(first?.attempt, 1);
  await first!.nak();
  const second = await next(q);
  assert.equal(second?.task.cellId, 'c2');
  const again = await next(q);
  assert.equal(again?.task.cellId, 'c1');
  assert.equal(again?.attempt, 2);
  await assert.rejects(async () => {
    await again!.ack();
    await again!.ack();
  }, /already acked/);
});

test('close releases waiting slots and ends result streams after their rows', async () => {
  const q = new InProcessQueue();
  const waiting = next(q);
  const aborted = new AbortController();
  const abortable = next(q, aborted.signal);
  aborted.abort();
  assert.equal(await abortable, null);
  const row = failedRow(cell(1), { sweep: 's', worker: 'w', attempt: 1, backend: 'wasm' }, 'boom');
  await q.publishResult(row, '1');
  await q.publishResult({ ...row, sweep: 'other' }, '2');
  await q.close();
  assert.equal(await waiting, null);
  assert.equal(await next(q), null);
  const rows = [];
  for await (const r of q.results('s')) if (r.type === 'row') rows.push(r.row);
  assert.deepEqual(rows.map((r) => r.error), ['boom']);
});

test('a pull hands out at most its maximum, and fewer rather than waiting for more', async () => {
  const q = new InProcessQueue();
  const waiting = pulled(q, 3);
  await q.enqueue([1, 2, 3, 4, 5].map((seed) => task(seed)));
  assert.deepEqual((await waiting).map((d) => d.task.cellId), ['c1', 'c2', 'c3']);
  assert.deepEqual((await pulled(q, 3)).map((d) => d.task.cellId), ['c4', 'c5'], 'fewer than the maximum when no more are queued');
  await q.enqueue([task(6)]);
  assert.deepEqual((await pulled(q, 1)).map((d) => d.task.cellId), ['c6']);
});

test('an aborted slot takes no cell even when one is queued', async () => {
  const q = new InProcessQueue();
  await q.enqueue([task(1)]);
  const stop = new AbortController();
  stop.abort();
  assert.equal(await next(q, stop.signal), null);
  assert.equal((await next(q))?.task.cellId, 'c1', 'the cell stays queued for others');
});

test('a long queue hands out cells first in, first out while cells keep coming', async () => {
  const q = new InProcessQueue();
  const seeds = Array.from({ length: 8000 }, (_, i) => i);
  const taken: number[] = [];
  const takeSome = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const delivery = await next(q, AbortSignal.timeout(10_000));
      assert.ok(delivery, `cell ${taken.length} was not handed out within 10 s`);
      taken.push(delivery.task.cell.seed);
      await delivery.ack();
    }
  };
  assert.equal(await q.enqueue(seeds.slice(0, 5000).map((s) => task(s))), 5000);
  await takeSome(3000);
  assert.equal(await q.enqueue(seeds.slice(5000).map((s) => task(s))), 3000);
  await takeSome(4000);
  assert.equal(await q.enqueue([task(8000)]), 1);
  await takeSome(1001);
  assert.deepEqual(taken, [...seeds, 8000]);
  await q.close();
  assert.equal(await next(q), null);
});

test('handing out cells lets the event loop turn: a worker whose cells need no I/O starves no file write or signal', async () => {
  const q = new InProcessQueue();
  await q.enqueue(Array.from({ length: 1000 }, (_, i) => task(i)));
  let takenWhenTurned: number | undefined;
  let taken = 0;
  setImmediate(() => (takenWhenTurned = taken));
  for (let i = 0; i < 1000; i++) {
    const delivery = await next(q, AbortSignal.timeout(10_000));
    assert.ok(delivery, `cell ${i} was not handed out within 10 s`);
    await delivery.ack();
    taken++;
  }
  assert.ok(takenWhenTurned !== undefined && takenWhenTurned < 1000, `the event loop turned only after ${takenWhenTurned ?? 'all'} of 1000 cells`);
});
