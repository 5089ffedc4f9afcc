/**
 * Data safety of distributed sweeps, with real processes: a nats-server per test, the real `hessweep`
 * coordinator, workers, status and cancel as child processes, faults made with real signals (SIGKILL,
 * SIGSTOP, SIGTERM) and a stopped server. Every test ends by reading the sweep's part files: each cell of
 * the grid has exactly one row, ok, and `hessweep status --json` agrees.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { connectNats } from '@hessweep/queue';
import type { KV } from 'nats';
import { readResultFile, scanParts } from '@hessweep/results';
import { exitWithin, partFiles, start, syntheticSpec, until, type Proc } from './support.js';
import { scenario, type NatsServer } from './nats-support.js';

/** How long a command that must fail at once may take on a loaded machine (start-up included). */
const PROMPT_MS = 30_000;
/** How long a sweep of a few cells may take on a loaded machine. */
const SWEEP_MS = 180_000;

/** The grid of a synthetic spec, as the test names its cells: one entry per width × seed. */
function gridCells(widths: number[], seeds: number[]): string[] {
  return widths.flatMap((width) => seeds.map((seed) => `width ${width} seed ${seed}`)).sort();
}

/** One line on stderr, the hessweep error form, no stack trace. */
function assertOneLine(stderr: string, what: string): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${stderr}`);
  assert.match(lines[0], /^hessweep: /, what);
  assert.doesNotMatch(stderr, /^\s+at /m, `${what}: no stack trace`);
}

interface Ctx {
  dir: string;
  server: NatsServer;
  /** Starts `hessweep args…` in the test's directory; it is killed when the test ends. */
  launch: (args: string[], env?: NodeJS.ProcessEnv) => Proc;
  /** Runs `hessweep args…` to its end within `ms`. */
  run: (args: string[], ms?: number, env?: NodeJS.ProcessEnv) => Promise<{ code: number; stdout: string; stderr: string }>;
}

function safetyScenario(fn: (ctx: Ctx) => Promise<void>, config?: string): Promise<void> {
  return scenario(async ({ dir, server, procs }) => {
    const launch = (args: string[], env: NodeJS.ProcessEnv = {}) => {
      const proc = start(args, dir, env);
      procs.push(proc);
      return proc;
    };
    const run = async (args: string[], ms = SWEEP_MS, env: NodeJS.ProcessEnv = {}) => {
      const proc = launch(args, env);
      const code = await exitWithin(proc, ms, `hessweep ${args.join(' ')}`);
      return { code, stdout: proc.stdout(), stderr: proc.stderr() };
    };
    await fn({ dir, server, launch, run });
  }, config);
}

/**
 * The sweep in `sweepDir` is complete, every cell exactly once: its part files (read and checked by the
 * results store) hold one ok row per cell of the grid and no other row, and `hessweep status --json` says
 * so too.
 */
async function assertCompleteOnce(ctx: Ctx, sweepDir: string, sweep: string, expected: string[]): Promise<void> {
  const scan = await scanParts(join(sweepDir, 'parts'), { sweep });
  assert.deepEqual(scan.damaged, [], 'no damaged or foreign part file');
  const rows = scan.parts.flatMap((part) => readResultFile(part).rows);
  const cellOf = new Map<string, string>();
  const okRows = new Map<string, number>();
  for (const row of rows) {
    assert.equal(row.sweep, sweep);
    const cell = `width ${row.width} seed ${row.seed}`;
    assert.equal(cellOf.get(row.cell_id) ?? cell, cell, `cell id ${row.cell_id} stands for one cell`);
    cellOf.set(row.cell_id, cell);
    if (row.status === 'ok') okRows.set(row.cell_id, (okRows.get(row.cell_id) ?? 0) + 1);
  }
  assert.deepEqual([...new Set(cellOf.values())].sort(), expected, 'the cells with rows are the cells of the grid');
  assert.equal(cellOf.size, expected.length, 'one cell id per cell');
  for (const [id, count] of okRows) assert.equal(count, 1, `cell ${id} (${cellOf.get(id)}) has ${count} ok rows`);
  assert.equal(okRows.size, expected.length, 'every cell has an ok row');
  assert.equal(rows.length, expected.length, `one row per cell and no other (${rows.length} rows for ${expected.length} cells)`);

  const status = await ctx.run(['status', sweepDir, '--json'], PROMPT_MS);
  assert.equal(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout) as { cells: number; ok: number; missing: number; failed: number };
  assert.deepEqual({ cells: report.cells, ok: report.ok, missing: report.missing, failed: report.failed }, { cells: expected.length, ok: expected.length, missing: 0, failed: 0 });
}

const dryWorker = (ctx: Ctx, name: string, extra: string[] = []) =>
  ctx.launch(['worker', '--nats', ctx.server.url, '--dry-run', '--concurrency', '2', '--name', name, ...extra]);
const realWorker = (ctx: Ctx, name: string, slots = 1) =>
  ctx.launch(['worker', '--nats', ctx.server.url, '--backend', 'wasm', '--concurrency', String(slots), '--name', name]);

const partCount = async (sweepDir: string) => (await partFiles(join(sweepDir, 'parts'))).length;

test('results directory deleted after a finished sweep: the coordinator queues every cell again at once and completes', async (t) => {
  await safetyScenario(async (ctx) => {
    const widths = [4, 6, 8, 10];
    const seeds = [0, 1];
    await writeFile(join(ctx.dir, 's.yaml'), syntheticSpec('again', widths, seeds, { epochs: 1, sampleSize: 64 }));
    dryWorker(ctx, 'w1');
    dryWorker(ctx, 'w2');
    const coordinate = ['coordinator', 's.yaml', '--nats', ctx.server.url, '--out', 'out'];
    const first = await ctx.run(coordinate);
    assert.equal(first.code, 0, first.stderr);
    await assertCompleteOnce(ctx, join(ctx.dir, 'out', 'again'), 'again', gridCells(widths, seeds));

    await rm(join(ctx.dir, 'out'), { recursive: true, force: true });
    // Guards the re-queue within the server's duplicate window (2 min): cells used to be published with a
    // message id per cell, which the server silently dropped, so this run queued 0 cells and waited for ever.
    const began = Date.now();
    const second = await ctx.run(coordinate, 60_000);
    t.diagnostic(`second coordinator after rm -rf: ${Date.now() - began} ms`);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /again: 8 ok, 0 failed, 0 not finished, of 8 cells \(0 done before\)/);
    await assertCompleteOnce(ctx, join(ctx.dir, 'out', 'again'), 'again', gridCells(widths, seeds));
  });
});

test('one coordinator per sweep: a second is refused naming the first, which completes; after kill -9 a new one takes over at once', async (t) => {
  await safetyScenario(async (ctx) => {
    const widths = [4, 6, 8, 10, 12, 14];
    const seeds = [0, 1];
    await writeFile(join(ctx.dir, 'a.yaml'), syntheticSpec('owned', widths, seeds, { epochs: 2, sampleSize: 100 }));
    await writeFile(join(ctx.dir, 'b.yaml'), syntheticSpec('owned', [5, 7], [3], { epochs: 2, sampleSize: 100 }));
    // No worker yet: the first coordinator queues its cells and holds the sweep, mid-sweep.
    const first = ctx.launch(['coordinator', 'a.yaml', '--nats', ctx.server.url, '--out', 'out-a', '--lease', '10']);
    await until(() => /progress 0\/12/.test(first.output()), 'the first coordinator to hold the sweep');

    const second = await ctx.run(['coordinator', 'b.yaml', '--nats', ctx.server.url, '--out', 'out-b'], PROMPT_MS);
    assert.equal(second.code, 2, second.stderr);
    assertOneLine(second.stderr, 'the refused coordinator');
    assert.match(second.stderr, /sweep owned is already coordinated by the coordinator on /);
    assert.ok(second.stderr.includes(`on ${hostname()} (pid ${first.child.pid},`), second.stderr);
    assert.ok(second.stderr.includes('writing out-a'), second.stderr);
    assert.equal(existsSync(join(ctx.dir, 'out-b')), false, 'the refused coordinator wrote nothing');

    // Guards --takeover against a live coordinator with a longer lease than the new one's: it must watch for
    // the holder's lease (10 s, renewed every 3.3 s), not its own 1 s, or it takes a sweep still coordinated.
    const eager = await ctx.run(['coordinator', 'a.yaml', '--nats', ctx.server.url, '--out', 'out-a', '--takeover', '--lease', '1'], 60_000);
    assert.equal(eager.code, 2, eager.stderr);
    assertOneLine(eager.stderr.split('\n').filter((line) => !/--takeover: waiting/.test(line)).join('\n'), 'the refused --takeover');
    assert.match(eager.stderr, /still coordinated by the coordinator on .* renewed its lease while --takeover waited/);

    dryWorker(ctx, 'w1', ['--sweep', 'owned']);
    assert.equal(await exitWithin(first, SWEEP_MS, 'the first coordinator'), 0, first.output());
    await assertCompleteOnce(ctx, join(ctx.dir, 'out-a', 'owned'), 'owned', gridCells(widths, seeds));

    // kill -9 mid-sweep (cells of ~0.5 s, one worker): the next coordinator finds the holder's pid gone.
    await writeFile(join(ctx.dir, 'k.yaml'), syntheticSpec('killed', widths, seeds, { epochs: 150, sampleSize: 2000 }));
    realWorker(ctx, 'w2');
    const victim = ctx.launch(['coordinator', 'k.yaml', '--nats', ctx.server.url, '--out', 'out-k', '--quiet']);
    const sweepDir = join(ctx.dir, 'out-k', 'killed');
    await until(async () => (await partCount(sweepDir)) >= 1 || victim.child.exitCode !== null, 'a first part file');
    assert.equal(victim.child.exitCode, null, `the coordinator is mid-sweep when killed (cells too fast?):\n${victim.output()}`);
    victim.child.kill('SIGKILL');
    await victim.exited;
    t.diagnostic(`part files when the coordinator was killed: ${await partCount(sweepDir)}`);

    const began = Date.now();
    const successor = await ctx.run(['coordinator', 'k.yaml', '--nats', ctx.server.url, '--out', 'out-k']);
    t.diagnostic(`coordinator after kill -9: ${Date.now() - began} ms`);
    assert.equal(successor.code, 0, successor.stderr);
    assert.match(successor.stderr, new RegExp(`took over sweep killed from the coordinator on .*pid ${victim.child.pid}.*: pid ${victim.child.pid} is no longer running`));
    await assertCompleteOnce(ctx, sweepDir, 'killed', gridCells(widths, seeds));
  });
});

for (const takeoverOut of ['out', 'elsewhere']) {
  const where = takeoverOut === 'out' ? 'into the same directory' : 'into another directory';
  test(`a hung coordinator (SIGSTOP): a plain second is refused; --takeover ${where} takes over once its lease lapses; the first stops when resumed`, async (t) => {
    await safetyScenario(async (ctx) => {
      const widths = [4, 6, 8, 10, 12, 14];
      const seeds = [0, 1];
      await writeFile(join(ctx.dir, 's.yaml'), syntheticSpec('hung', widths, seeds, { epochs: 150, sampleSize: 2000 }));
      const coordinate = ['coordinator', 's.yaml', '--nats', ctx.server.url];
      const workers = [realWorker(ctx, 'w1'), realWorker(ctx, 'w2')];
      const first = ctx.launch([...coordinate, '--out', 'out', '--lease', '10']);
      const firstDir = join(ctx.dir, 'out', 'hung');
      await until(async () => (await partCount(firstDir)) >= 1 || first.child.exitCode !== null, 'a first part file');
      assert.equal(first.child.exitCode, null, `the first coordinator is mid-sweep when stopped (cells too fast?):\n${first.output()}`);

      // Stop it between parts (workers paused, every row it was sent written and acknowledged), so that what
      // it does once resumed is decided by the code under test, not by where in a write the signal landed.
      for (const w of workers) w.child.kill('SIGSTOP');
      const nc = await connectNats({ servers: ctx.server.url });
      try {
        const jsm = await nc.jetstreamManager();
        await until(async () => {
          const info = await jsm.consumers.info('HESSWEEP_RESULTS', 'results-hung');
          return info.num_pending === 0 && info.num_ack_pending === 0;
        }, 'the first coordinator to write every row it was sent');
      } finally {
        await nc.close();
      }
      first.child.kill('SIGSTOP');
      const stoppedAt = Date.now();
      const partsBefore = await partCount(firstDir);
      // Rows now pile up for the stopped coordinator (some delivered to its pending pull).
      for (const w of workers) w.child.kill('SIGCONT');
      try {
        // Its pid is alive and its lease has not lapsed (10 s; two leases before a plain coordinator may take it).
        const plain = await ctx.run([...coordinate, '--out', takeoverOut], PROMPT_MS);
        assert.equal(plain.code, 2, plain.stderr);
        assertOneLine(plain.stderr, 'the refused coordinator');
        assert.ok(plain.stderr.includes(`(pid ${first.child.pid},`), plain.stderr);
        assert.match(plain.stderr, /--takeover/);

        // Same directory: guards the directory lock, whose lease is the coordinator's --lease, so that
        // --takeover can also take the hung holder's lock instead of being refused by it for a minute.
        const takeover = ctx.launch([...coordinate, '--out', takeoverOut, '--takeover', '--lease', '2']);
        // The first is resumed only once the takeover holds all it takes (the sweep; in the same directory, its
        // lock as well): a resumed holder renews its lock, and this test is about a hung one, not one back first.
        const tookOver = takeoverOut === 'out' ? /took over the lock of out\/hung/ : /took over sweep hung/;
        await until(() => tookOver.test(takeover.output()) || takeover.child.exitCode !== null, 'the takeover', 90_000);
        t.diagnostic(`--takeover took the sweep ${Date.now() - stoppedAt} ms after SIGSTOP`);
        first.child.kill('SIGCONT');
        // Guards the resumed first coordinator: it must find out it lost the sweep before writing or
        // acknowledging the rows it was sent meanwhile, or the new coordinator waits for ever for rows it
        // never gets (they were acknowledged), or finds two rows of one cell in a shared directory.
        const firstCode = await exitWithin(first, 60_000, 'the resumed first coordinator');
        t.diagnostic(`first coordinator after SIGCONT: exit ${firstCode}; ${first.stderr().trim().split('\n').slice(-1)[0]}`);
        assert.notEqual(firstCode, 0, first.output());
        assert.match(first.stderr(), /took it over|lock was taken over/, first.stderr());
        if (takeoverOut !== 'out') assert.equal(await partCount(firstDir), partsBefore, 'the resumed coordinator wrote no part');
        assert.equal(await exitWithin(takeover, SWEEP_MS, 'the coordinator that took over'), 0, takeover.output());
        if (takeoverOut === 'out') assert.match(takeover.stderr(), /took over the lock of /);
      } finally {
        first.child.kill('SIGCONT');
      }
      await assertCompleteOnce(ctx, join(ctx.dir, takeoverOut, 'hung'), 'hung', gridCells(widths, seeds));
    });
  });
}

test('secrets never reach the terminal: a refused connection is one line without the password or token', async () => {
  await safetyScenario(async (ctx) => {
    const secrets = ['SECRETPW', 'SECRETPW2', 'SECRETTOKEN3', 'SECRETTOKEN4', 'SECRETPW5', 'SECRETTOKEN6'];
    const at = (credential: string) => `nats://${credential}@127.0.0.1:${ctx.server.port}`;
    await writeFile(join(ctx.dir, 's.yaml'), syntheticSpec('guarded', [4, 6], [0, 1], { epochs: 1, sampleSize: 64 }));
    const cases: { what: string; args: string[]; env?: NodeJS.ProcessEnv }[] = [
      { what: 'coordinator, password in the URL', args: ['coordinator', 's.yaml', '--nats', at('alice:SECRETPW'), '--out', 'out'] },
      { what: 'worker, password in the URL', args: ['worker', '--nats', at('alice:SECRETPW'), '--dry-run'] },
      { what: 'status, --password', args: ['status', '--nats', ctx.server.url, '--user', 'alice', '--password', 'SECRETPW2'] },
      // Nothing listens on port 1: the connection itself is refused.
      { what: 'cancel, --password, no server', args: ['cancel', 'guarded', '--nats', 'nats://alice:SECRETPW@127.0.0.1:1', '--user', 'alice', '--password', 'SECRETPW2'] },
      { what: 'status, --token', args: ['status', '--nats', ctx.server.url, '--token', 'SECRETTOKEN3'] },
      { what: 'worker, NATS_TOKEN', args: ['worker', '--dry-run'], env: { NATS_URL: ctx.server.url, NATS_TOKEN: 'SECRETTOKEN4' } },
      { what: 'coordinator, NATS_PASSWORD', args: ['coordinator', 's.yaml', '--out', 'out'], env: { NATS_URL: ctx.server.url, NATS_USER: 'alice', NATS_PASSWORD: 'SECRETPW5' } },
      { what: 'status, token in the URL', args: ['status', '--nats', at('SECRETTOKEN6')] },
    ];
    for (const c of cases) {
      const result = await ctx.run(c.args, PROMPT_MS, c.env);
      assert.equal(result.code, 2, `${c.what}: ${result.stderr}`);
      assertOneLine(result.stderr, c.what);
      assert.match(result.stderr, /cannot connect to NATS at /, c.what);
      for (const secret of secrets) {
        assert.ok(!result.stderr.includes(secret) && !result.stdout.includes(secret), `${c.what}: ${secret} printed:\n${result.stderr}${result.stdout}`);
      }
    }
    const auth = ['--user', 'alice', '--password', 'rightpw'];
    ctx.launch(['worker', '--nats', ctx.server.url, '--dry-run', ...auth]);
    const good = await ctx.run(['coordinator', 's.yaml', '--nats', ctx.server.url, '--out', 'out', ...auth]);
    assert.equal(good.code, 0, good.stderr);
    await assertCompleteOnce(ctx, join(ctx.dir, 'out', 'guarded'), 'guarded', gridCells([4, 6], [0, 1]));
  }, 'authorization { user: alice, password: rightpw }');
});

test('invalid sweep names are refused before NATS: exit 2 at once, one line, nothing created on the server', async () => {
  await safetyScenario(async (ctx) => {
    await writeFile(join(ctx.dir, 's.yaml'), syntheticSpec('names', [4, 6], [0, 1], { epochs: 1, sampleSize: 64 }));
    dryWorker(ctx, 'w1', ['--sweep', 'names']);
    const sweep = await ctx.run(['coordinator', 's.yaml', '--nats', ctx.server.url, '--out', 'out']);
    assert.equal(sweep.code, 0, sweep.stderr);

    const nc = await connectNats({ servers: ctx.server.url });
    try {
      const jsm = await nc.jetstreamManager();
      const js = nc.jetstream();
      /** Streams, consumers and the keys of every bucket: whatever a command could have created. */
      const snapshot = async () => {
        const streams: string[] = [];
        for await (const name of jsm.streams.names()) streams.push(name);
        const consumers: string[] = [];
        const keys: string[] = [];
        for (const stream of streams.sort()) {
          // A bucket's consumers are the ephemeral ones of readers and watchers (this snapshot's too): not counted.
          if (stream.startsWith('KV_')) keys.push(...(await keysOf(await js.views.kv(stream.slice(3), { bindOnly: true }))).map((k) => `${stream}/${k}`));
          else for await (const info of jsm.consumers.list(stream)) consumers.push(`${stream}/${info.name}`);
        }
        return { streams, consumers: consumers.sort(), keys: keys.sort() };
      };
      const before = await snapshot();
      assert.ok(before.consumers.includes('HESSWEEP_CELLS/cells-names'), JSON.stringify(before));
      const bad: { name: string; args: string[] }[] = [
        { name: '>', args: ['worker', '--nats', ctx.server.url, '--sweep', '>'] },
        { name: 'a.b', args: ['worker', '--nats', ctx.server.url, '--sweep', 'a.b'] },
        { name: '*', args: ['worker', '--nats', ctx.server.url, '--sweep', '*'] },
        { name: '>', args: ['status', '--nats', ctx.server.url, '>'] },
        { name: 'a*', args: ['cancel', '--nats', ctx.server.url, 'a*'] },
      ];
      for (const { name, args } of bad) {
        const result = await ctx.run(args, PROMPT_MS);
        const what = args.join(' ');
        assert.equal(result.code, 2, `${what}: ${result.stderr}`);
        assertOneLine(result.stderr, what);
        assert.ok(result.stderr.includes(JSON.stringify(name)), `${what} names ${name}: ${result.stderr}`);
      }
      const after = await snapshot();
      assert.deepEqual(after, before, 'nothing created on the server');
      for (const { name } of bad) assert.ok(!after.consumers.some((c) => c.endsWith(`-${name}`)), `no consumer for ${name}`);
    } finally {
      await nc.close();
    }
    await assertCompleteOnce(ctx, join(ctx.dir, 'out', 'names'), 'names', gridCells([4, 6], [0, 1]));
  });
});

test('SIGTERM to a worker while the server is down: it exits, dropping its unsent rows; the sweep completes once the server is back', async (t) => {
  await safetyScenario(async (ctx) => {
    const seeds = [0, 1, 2, 3];
    // Cells of a few seconds each, so that those started are still running when the server stops.
    await writeFile(join(ctx.dir, 's.yaml'), syntheticSpec('outage', [32], seeds, { epochs: 600, sampleSize: 4000 }));
    const coordinator = ctx.launch(['coordinator', 's.yaml', '--nats', ctx.server.url, '--out', 'out', '--ack-wait', '5']);
    const doomed = realWorker(ctx, 'doomed', 2);
    const started = () => [...doomed.output().matchAll(/start outage\/(\w+)/g)].map((m) => m[1]);
    await until(() => started().length >= 2, 'the worker to start two cells', 120_000);
    await ctx.server.stop();
    const stoppedAt = Date.now();
    doomed.child.kill('SIGTERM');
    // It drains first: its two running cells take several seconds on an idle machine, a minute or more on a busy one.
    const code = await exitWithin(doomed, SWEEP_MS, 'the worker after SIGTERM');
    t.diagnostic(`worker exited ${Date.now() - stoppedAt} ms after SIGTERM with the server down`);
    assert.equal(code, 0, doomed.output());
    const done = new Set([...doomed.output().matchAll(/done {2}outage\/(\w+)/g)].map((m) => m[1]));
    const unsent = [...doomed.output().matchAll(/not sent outage\/(\w+)/g)].map((m) => m[1]);
    const inFlight = started().filter((id) => !done.has(id));
    assert.ok(inFlight.length > 0, `a cell was running at SIGTERM:\n${doomed.output()}`);
    assert.deepEqual(unsent.sort(), inFlight.sort(), `every row finished during the outage is dropped with a line:\n${doomed.output()}`);

    await ctx.server.start();
    realWorker(ctx, 'fresh', 2);
    // The coordinator kept running through the outage and reconnects.
    assert.equal(await exitWithin(coordinator, SWEEP_MS, 'the coordinator'), 0, coordinator.output());
    await assertCompleteOnce(ctx, join(ctx.dir, 'out', 'outage'), 'outage', gridCells([32], seeds));
  });
});

/**
 * Every key of a bucket. The keys iterator must be drained before other requests are awaited: awaiting
 * inside its loop ends it after the first key (nats.js 2.29).
 */
async function keysOf(kv: KV): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  return keys;
}
