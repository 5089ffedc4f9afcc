import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { DEFAULT_MEASURE, DEFAULT_TRAIN, cellId, failedRow, type Cell, type ResultRow } from '@hessweep/grid';
import { InProcessQueue, type Delivery } from '@hessweep/queue';
import { MemoryBudget, OverBudgetError, Worker, curvatureEngineFor, memoryLimit, type CellRunner, type WorkerEvent } from '../src/index.js';
import { createRequire } from 'node:module';
import { NATIVE_TFJS_PACKAGES } from '@hessweep/grid';

/** The one poll of the tests, from the queue package's test harness. */
const { until } = (await import(new URL('../../../queue/dist/test/poll.js', import.meta.url).href)) as {
  until(condition: () => boolean, what: string, ms?: number, everyMs?: number): Promise<void>;
};

// ---------------------------------------------------------------------------------------------------------
// The engine a memory estimate is for

test('memory estimates are of tfjs tensors on tensorflow, of the kernels on wasm and cpu, and auto follows what is installed', () => {
  assert.equal(curvatureEngineFor('tensorflow'), 'tfjs');
  assert.equal(curvatureEngineFor('wasm'), 'kernels');
  assert.equal(curvatureEngineFor('cpu'), 'kernels');
  const require = createRequire(import.meta.url);
  const native = NATIVE_TFJS_PACKAGES.some((name) => {
    try {
      require.resolve(name);
      return true;
    } catch {
      return false;
    }
  });
  assert.equal(curvatureEngineFor('auto'), native ? 'tfjs' : 'kernels');
});

// ---------------------------------------------------------------------------------------------------------
// MemoryBudget

test('a budget grants what is free at once, and waiting requests in order as memory is released', async () => {
  const budget = new MemoryBudget(10);
  assert.equal(budget.tryReserve(6), true);
  assert.equal(budget.free, 4);
  assert.equal(budget.tryReserve(5), false);
  assert.equal(budget.free, 4, 'a refused tryReserve reserves nothing');

  const granted: string[] = [];
  const big = budget.reserve(7).then(() => granted.push('big'));
  const small = budget.reserve(1).then(() => granted.push('small'));
  // 1 byte is free, but the earlier request for 7 waits: the small one may not pass it.
  assert.equal(budget.tryReserve(1), false);
  await tick();
  assert.deepEqual(granted, []);
  assert.equal(budget.waiting, 8);

  budget.release(6);
  await Promise.all([big, small]);
  assert.deepEqual(granted, ['big', 'small']);
  assert.equal(budget.free, 2);
  assert.equal(budget.waiting, 0);
});

test('an aborted wait reserves nothing and lets the requests behind it through', async () => {
  const budget = new MemoryBudget(10);
  budget.tryReserve(8);
  const stop = new AbortController();
  const big = budget.reserve(9, stop.signal);
  const small = budget.reserve(2);
  stop.abort(new Error('stopping'));
  await assert.rejects(big, /stopping/);
  await small;
  assert.equal(budget.free, 0);
  await assert.rejects(budget.reserve(1, stop.signal), /stopping/, 'an aborted signal refuses a wait up front');
});

test('a budget refuses more than its whole and releases only what it holds; Infinity is no limit', async () => {
  const budget = new MemoryBudget(10);
  await assert.rejects(budget.reserve(11), OverBudgetError);
  assert.throws(() => budget.tryReserve(11), OverBudgetError);
  assert.throws(() => budget.release(1), RangeError);
  assert.throws(() => new MemoryBudget(-1), RangeError);
  const unlimited = new MemoryBudget(Infinity);
  assert.equal(unlimited.tryReserve(2 ** 50), true);
  assert.equal(unlimited.free, Infinity);
});

// ---------------------------------------------------------------------------------------------------------
// memoryLimit

/** A fake cgroup tree: `files` maps paths under the root to contents. */
async function cgroupTree(files: Record<string, string>): Promise<{ root: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'hessweep-cgroup-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return { root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

test('memoryLimit: the tightest limit of the cgroup and its ancestors, v2 and v1, else the machine total', async () => {
  const GiB = 2 ** 30;
  const tree = await cgroupTree({
    // v2: the job's own cgroup says max, its parent 6 GiB, the grandparent 8 GiB.
    'slurm/job_1/step_0/memory.max': 'max\n',
    'slurm/job_1/memory.max': `${6 * GiB}\n`,
    'slurm/memory.max': `${8 * GiB}\n`,
    // v1: 3 GiB on the container; the unlimited value above it.
    'memory/docker/abc/memory.limit_in_bytes': `${3 * GiB}\n`,
    'memory/memory.limit_in_bytes': '9223372036854771712\n',
  });
  try {
    const v2 = memoryLimit({ procCgroup: '0::/slurm/job_1/step_0\n', cgroupRoot: tree.root, totalMemory: 64 * GiB });
    assert.equal(v2.bytes, 6 * GiB);
    assert.equal(v2.source, `cgroup limit (${join(tree.root, 'slurm/job_1/memory.max')})`);
    const v1 = memoryLimit({ procCgroup: '12:pids:/docker/abc\n4:memory:/docker/abc\n', cgroupRoot: tree.root, totalMemory: 64 * GiB });
    assert.equal(v1.bytes, 3 * GiB);
    // The machine is the tighter bound.
    assert.equal(memoryLimit({ procCgroup: '0::/slurm/job_1/step_0\n', cgroupRoot: tree.root, totalMemory: 4 * GiB }).bytes, 4 * GiB);
    // Unlimited everywhere ('max', v1's huge value), or no cgroup at all: the machine's total.
    const none = memoryLimit({ procCgroup: '4:memory:/\n0::/\n', cgroupRoot: join(tree.root, 'memory'), totalMemory: 64 * GiB });
    assert.deepEqual(none, { bytes: 64 * GiB, source: 'total memory of the machine' });
    assert.equal(memoryLimit({ procCgroup: '', cgroupRoot: tree.root, totalMemory: 5 * GiB }).bytes, 5 * GiB);
  } finally {
    await tree.cleanup();
  }
});

test('memoryLimit: a namespaced cgroup path that is not under the mount falls back to the mount root', async () => {
  const tree = await cgroupTree({ 'memory.max': '1073741824\n' });
  try {
    // cgroup namespaces show "/", older runtimes the host's path, which does not exist inside the container.
    for (const procCgroup of ['0::/\n', '0::/kubepods/pod1/abc\n']) {
      assert.equal(memoryLimit({ procCgroup, cgroupRoot: tree.root, totalMemory: 2 ** 40 }).bytes, 2 ** 30, procCgroup);
    }
  } finally {
    await tree.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------------------
// Worker with a memory budget (runners without threads)

const cell = (seed: number, size: number): Cell => ({
  dataset: 'synthetic', width: 4, depth: 1, seed, sample_size: size, train: { ...DEFAULT_TRAIN, epochs: 1 }, measure: { ...DEFAULT_MEASURE }, data: {},
});
/** In these tests a cell's estimate is its sample size, in bytes. */
const estimate = (c: Cell) => c.sample_size;
const task = (c: Cell, sweep = 's') => ({ sweep, cellId: cellId(c), cell: c });

/**
 * Runners that model a thread's heap: it grows to the largest cell run since the thread started and is given
 * back only by `terminate`. `machine` is the sum over runners, checked against `budget` whenever a cell starts.
 * A cell runs until `finish(seed)` (or at once when `gated` is false).
 */
function heapModel(budget: number, gated = false) {
  const heaps = new Map<number, number>();
  const running = new Map<number, () => void>();
  const started: number[] = [];
  let peak = 0;
  let terminations = 0;
  let next = 0;
  const machine = () => [...heaps.values()].reduce((a, b) => a + b, 0);
  const createRunner = (): CellRunner => {
    const id = next++;
    heaps.set(id, 0);
    return {
      async run({ cell: c, context }) {
        heaps.set(id, Math.max(heaps.get(id)!, estimate(c)));
        peak = Math.max(peak, machine());
        assert.ok(machine() <= budget, `cell ${c.seed} starts with ${machine()} bytes in threads, over the budget of ${budget}`);
        started.push(c.seed);
        if (gated) await new Promise<void>((resolve) => running.set(c.seed, resolve));
        else await tick();
        return { ...failedRow(c, { ...context, backend: 'fake' }, ''), status: 'ok', error: null } satisfies ResultRow;
      },
      async terminate() {
        if (heaps.get(id)! > 0) terminations++;
        heaps.set(id, 0);
      },
    };
  };
  return {
    createRunner,
    started,
    peak: () => peak,
    terminations: () => terminations,
    finish: (seed: number) => {
      const resolve = running.get(seed);
      assert.ok(resolve, `cell ${seed} is not running`);
      running.delete(seed);
      resolve();
    },
    isRunning: (seed: number) => running.has(seed),
  };
}

async function rows(queue: InProcessQueue, sweep: string, count: number): Promise<ResultRow[]> {
  const out: ResultRow[] = [];
  for await (const event of queue.results(sweep)) {
    if (event.type === 'row') out.push(event.row);
    if (out.length === count) break;
  }
  return out;
}

test('cells of mixed sizes never hold more memory in threads than the budget, and all finish', async () => {
  const budget = 10;
  const model = heapModel(budget);
  const queue = new InProcessQueue();
  const sizes = [6, 3, 3, 6, 2, 9, 1, 5, 5, 4, 10, 2, 7, 3, 8];
  await queue.enqueue(sizes.map((size, seed) => task(cell(seed, size))));
  const events: WorkerEvent[] = [];
  const worker = new Worker(queue, { slots: 3, maxAttempts: 1, backend: 'wasm', memory: budget, estimate, createRunner: model.createRunner, onEvent: (e) => events.push(e) });
  const running = worker.run();
  const done = await rows(queue, 's', sizes.length);
  await queue.close();
  await running;
  assert.deepEqual(done.map((r) => r.seed).sort((a, b) => a - b), sizes.map((_, i) => i));
  assert.ok(done.every((r) => r.status === 'ok'));
  // Memory was tight: cells waited, and threads were ended to give theirs back.
  assert.ok(events.some((e) => e.type === 'waiting'), 'some cell waited for memory');
  assert.ok(model.terminations() > 0, 'threads were ended to free memory');
  assert.ok(model.peak() <= budget);
});

test('a cell larger than the whole budget is declined, given back, and failed on its last attempt with the memory it needs', async () => {
  const model = heapModel(1000);
  const queue = new InProcessQueue();
  const big = cell(1, 3 * 2 ** 30);
  await queue.enqueue([task(cell(0, 100)), task(big), task(cell(2, 100))]);
  const events: string[] = [];
  const worker = new Worker(queue, {
    slots: 2, maxAttempts: 3, backend: 'wasm', memory: 2 ** 30, estimate, createRunner: model.createRunner,
    onEvent: (e) => events.push(e.type === 'declined' ? `declined:${e.delivery.task.cell.seed}:${e.needed}:${e.budget}` : `${e.type}:${e.delivery.task.cell.seed}`),
  });
  const running = worker.run();
  const done = await rows(queue, 's', 3);
  await queue.close();
  await running;
  const bySeed = new Map(done.map((r) => [r.seed, r]));
  assert.equal(bySeed.get(0)?.status, 'ok');
  assert.equal(bySeed.get(2)?.status, 'ok');
  const failed = bySeed.get(1)!;
  assert.equal(failed.status, 'failed');
  assert.equal(failed.attempt, 3);
  assert.equal(failed.error, 'needs about 3.00 GiB of memory (estimated from its shape), more than the 1.00 GiB this worker has for its cells: run it on workers with more memory (--memory)');
  // Given back twice (attempts 1 and 2), never started.
  assert.deepEqual(events.filter((e) => e.startsWith('declined:')), [`declined:1:${3 * 2 ** 30}:${2 ** 30}`, `declined:1:${3 * 2 ** 30}:${2 ** 30}`]);
  assert.ok(!events.includes('start:1'));
  assert.ok(!model.started.includes(1));
});

test('a cell that waits for memory keeps its lease, starts when a running cell ends, on memory that thread gave back', async () => {
  const model = heapModel(10, true);
  const inner = new InProcessQueue();
  // Deliveries whose heartbeats are counted.
  const beats = new Map<number, number>();
  const queue = Object.assign(Object.create(inner) as InProcessQueue, {
    pull: async function* (max: number, signal?: AbortSignal): AsyncIterable<Delivery> {
      for await (const d of inner.pull(max, signal)) {
        const seed = d.task.cell.seed;
        yield { ...d, task: d.task, id: d.id, attempt: d.attempt, leaseMs: 30, working: () => beats.set(seed, (beats.get(seed) ?? 0) + 1), ack: () => d.ack(), nak: () => d.nak() };
      }
    },
  });
  await inner.enqueue([task(cell(0, 8)), task(cell(1, 8))]);
  const events: string[] = [];
  const worker = new Worker(queue, { slots: 2, maxAttempts: 1, backend: 'wasm', memory: 10, estimate, createRunner: model.createRunner, heartbeatMs: 10, onEvent: (e) => events.push(`${e.type}:${e.delivery.task.cell.seed}`) });
  const running = worker.run();
  await until(() => model.isRunning(0) && events.includes('waiting:1'), 'cell 0 to run and cell 1 to wait');
  const before = beats.get(1) ?? 0;
  await until(() => (beats.get(1) ?? 0) >= before + 2, 'heartbeats of the waiting cell');
  assert.ok(!model.started.includes(1), 'cell 1 does not start while cell 0 holds the memory');
  const terminationsBefore = model.terminations();
  model.finish(0);
  await until(() => model.isRunning(1), 'cell 1 to start');
  assert.equal(model.terminations(), terminationsBefore + 1, "cell 0's thread was ended for cell 1");
  model.finish(1);
  const done = await rows(inner, 's', 2);
  await inner.close();
  await running;
  assert.ok(done.every((r) => r.status === 'ok'));
});

test('a worker stopping gives back a cell that waits for memory; the running one still finishes', async () => {
  const model = heapModel(10, true);
  const queue = new InProcessQueue();
  await queue.enqueue([task(cell(0, 8)), task(cell(1, 8))]);
  const events: string[] = [];
  const worker = new Worker(queue, { slots: 2, maxAttempts: 3, backend: 'wasm', memory: 10, estimate, createRunner: model.createRunner, onEvent: (e) => events.push(`${e.type}:${e.delivery.task.cell.seed}`) });
  const running = worker.run();
  await until(() => model.isRunning(0) && events.includes('waiting:1'), 'cell 0 to run and cell 1 to wait');
  worker.stop('drain');
  model.finish(0);
  await running;
  assert.deepEqual((await rows(queue, 's', 1)).map((r) => r.seed), [0]);
  assert.ok(!model.started.includes(1));
  // Cell 1 is back in the queue, on its next attempt.
  const [again] = await (async () => {
    const out: Delivery[] = [];
    for await (const d of queue.pull(1)) out.push(d);
    return out;
  })();
  assert.equal(again.task.cell.seed, 1);
  assert.equal(again.attempt, 2);
  await queue.close();
});

test('pulls ask for no more cells than the free memory holds at the smallest size seen', async () => {
  const model = heapModel(10);
  const inner = new InProcessQueue();
  const asked: number[] = [];
  const queue = Object.assign(Object.create(inner) as InProcessQueue, {
    pull: (max: number, signal?: AbortSignal) => {
      asked.push(max);
      return inner.pull(max, signal);
    },
  });
  // Twelve cells of 4 bytes on 10 bytes and 4 slots: two run at a time.
  await inner.enqueue(Array.from({ length: 12 }, (_, seed) => task(cell(seed, 4))));
  const events: string[] = [];
  const worker = new Worker(queue, { slots: 4, maxAttempts: 1, backend: 'wasm', memory: 10, estimate, createRunner: model.createRunner, onEvent: (e) => events.push(e.type) });
  const running = worker.run();
  const done = await rows(inner, 's', 12);
  await inner.close();
  await running;
  assert.equal(done.length, 12);
  // The first pull knows no size yet and asks for every slot; two of its four cells wait. Every later pull
  // asks for what fits: two cells of 4 in 10 bytes at most.
  assert.equal(asked[0], 4);
  assert.ok(asked.slice(1).every((n) => n <= 2), `pull sizes ${asked.join(', ')}`);
  assert.equal(events.filter((e) => e === 'waiting').length, 2);
});
