/**
 * Distributed sweeps with real processes: nats-server on a free loopback port with a temp store, a
 * coordinator and worker processes of the real CLI; crashes are real SIGKILLs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitWithin, hessweep, partFiles, partRows, start, syntheticSpec, until, type Proc } from './support.js';
import { harness, scenario, type NatsServer } from './nats-support.js';

/** How long a sweep of a few cells may take on a loaded machine. */
const SWEEP_MS = 180_000;

const worker = (server: NatsServer, dir: string, name: string, env: NodeJS.ProcessEnv = {}) =>
  start(['worker', '--nats', server.url, '--concurrency', '1', '--name', name, '--backend', 'wasm'], dir, env);

test('a sweep over 3 worker processes completes with the same numbers as the embedded run', async () => {
  await scenario(async ({ dir, server, procs }) => {
    await writeFile(join(dir, 's.yaml'), syntheticSpec('three', [4, 6, 8], [0, 1], { epochs: 4, sampleSize: 3000 }));
    const [w1, w2, w3] = [worker(server, dir, 'w1'), worker(server, dir, 'w2'), worker(server, dir, 'w3')];
    procs.push(w1, w2, w3);
    // Workers wait for a coordinator to create the streams: a one-cell sweep does, then all three are bound.
    await writeFile(join(dir, 'warm.yaml'), syntheticSpec('warm', [2], [0], { epochs: 1, sampleSize: 64 }));
    assert.equal((await hessweep(['coordinator', 'warm.yaml', '--nats', server.url, '--out', 'dist'], dir)).code, 0);
    await until(async () => /workers seen in the last minute: 3/.test((await hessweep(['status', '--nats', server.url], dir)).stdout), 'three workers in status');
    // The first worker to start a cell is frozen (SIGSTOP) until another has finished one: whichever worker is
    // quickest, the sweep is then shared, with no race in the test. The lease outlasts the longest freeze (the
    // wait below gives up first), so the frozen cell is not delivered again and its row is the first worker's.
    const freezeMs = 60_000;
    const coordinator = start(['coordinator', 's.yaml', '--nats', server.url, '--out', 'dist', '--ack-wait', String((2 * freezeMs) / 1000)], dir);
    procs.push(coordinator);
    const startedBy = (w: Proc) => /start three\//.test(w.output());
    await until(() => [w1, w2, w3].some(startedBy), 'a worker to start a cell of the sweep');
    const first = [w1, w2, w3].find(startedBy)!;
    first.child.kill('SIGSTOP');
    const others = [w1, w2, w3].filter((w) => w !== first);
    await until(() => others.some((w) => /done {2}three\//.test(w.output())), 'another worker to finish a cell while the first is frozen', freezeMs);
    first.child.kill('SIGCONT');
    assert.equal(await exitWithin(coordinator, SWEEP_MS, 'the coordinator'), 0, coordinator.output());
    assert.match(coordinator.output(), /6 ok, 0 failed/);
    const embedded = await hessweep(['run', 's.yaml', '--out', 'local', '--backend', 'wasm'], dir);
    assert.equal(embedded.code, 0, embedded.stderr);
    const distributed = await partRows(join(dir, 'dist', 'three'));
    const local = new Map((await partRows(join(dir, 'local', 'three'))).map((r) => [r.cell_id, r]));
    assert.equal(distributed.length, 6);
    assert.equal(new Set(distributed.map((r) => r.cell_id)).size, 6);
    for (const row of distributed) {
      const twin = local.get(row.cell_id)!;
      assert.ok(twin, `cell ${row.cell_id} in both runs`);
      for (const column of ['train_loss', 'train_accuracy', 'loss_diff_slope', 'hessian_trace', 'bound']) assert.equal(row[column], twin[column], column);
      assert.deepEqual(Array.from(row.hessian_top as Float64Array), Array.from(twin.hessian_top as Float64Array));
    }
    assert.ok(new Set(distributed.map((r) => r.worker)).size >= 2, 'cells were spread over workers');
    const status = await hessweep(['status', '--nats', server.url, 'three'], dir);
    assert.match(status.stdout, /sweep three \[done\]: 6\/6 cells \(6 ok, 0 failed\)/);
  });
});

test('kill -9 a worker in the middle of a cell: the cell is redelivered and finishes once', async () => {
  await scenario(async ({ dir, server, procs }) => {
    await writeFile(join(dir, 's.yaml'), syntheticSpec('victim', [4, 6, 8, 10], [0, 1], { epochs: 12, sampleSize: 4000 }));
    const doomed = worker(server, dir, 'doomed');
    procs.push(doomed, worker(server, dir, 'survivor'));
    const coordinator = start(['coordinator', 's.yaml', '--nats', server.url, '--out', 'out', '--ack-wait', '5', '--quiet'], dir);
    procs.push(coordinator);
    await until(() => /start victim\/\w+ attempt \d+/.test(doomed.output()), 'the doomed worker to start a cell');
    doomed.child.kill('SIGKILL');
    // The cell it was computing: the last it started.
    const [, cell, killedAttempt] = [...doomed.output().matchAll(/start victim\/(\w+) attempt (\d+)/g)].at(-1)!;
    assert.equal(await exitWithin(coordinator, SWEEP_MS, 'the coordinator'), 0, coordinator.output());
    const all = await partRows(join(dir, 'out', 'victim'));
    assert.equal(all.length, 8);
    assert.equal(new Set(all.map((r) => r.cell_id)).size, 8);
    assert.ok(all.every((r) => r.status === 'ok'));
    const redelivered = all.find((r) => r.cell_id === cell)!;
    assert.equal(redelivered.worker, 'survivor');
    // Whatever deliveries a loaded machine added (a lease lapsed), the one killed counts as an attempt.
    assert.ok((redelivered.attempt as number) > Number(killedAttempt), `attempt ${redelivered.attempt} of the row after the killed attempt ${killedAttempt}`);
  });
});

test('kill -9 the coordinator mid-sweep, restart it: nothing lost, nothing duplicated', async () => {
  await scenario(async ({ dir, server, procs }) => {
    await writeFile(join(dir, 's.yaml'), syntheticSpec('phoenix', [4, 6, 8, 10, 12, 14], [0, 1], { epochs: 6, sampleSize: 3000 }));
    const workers = [worker(server, dir, 'w1'), worker(server, dir, 'w2')];
    procs.push(...workers);
    const first = start(['coordinator', 's.yaml', '--nats', server.url, '--out', 'out', '--quiet'], dir);
    procs.push(first);
    const parts = join(dir, 'out', 'phoenix', 'parts');
    await until(async () => (await partFiles(parts)).length >= 2, 'two part files');
    first.child.kill('SIGKILL');
    await first.exited;
    const before = await partRows(join(dir, 'out', 'phoenix'));
    assert.ok(before.length < 12, `rows before the kill: ${before.length}`);
    // Workers go on computing while no coordinator runs; their rows wait in the results stream for the next.
    const written = new Set(before.map((r) => r.cell_id));
    const done = () => workers.flatMap((w) => [...w.output().matchAll(/done {2}phoenix\/(\w+)/g)].map((m) => m[1]));
    await until(() => done().some((id) => !written.has(id)), 'a worker to finish a cell that the killed coordinator never wrote');
    const second = await hessweep(['coordinator', 's.yaml', '--nats', server.url, '--out', 'out'], dir);
    assert.equal(second.code, 0, second.stderr);
    const after = await partRows(join(dir, 'out', 'phoenix'));
    assert.equal(after.length, 12);
    assert.equal(new Set(after.map((r) => r.cell_id)).size, 12, 'no duplicated row');
    assert.ok(after.every((r) => r.status === 'ok'));
  });
});

test('restart nats-server mid-sweep: workers and coordinator reconnect and finish', async () => {
  await scenario(async ({ dir, server, procs }) => {
    await writeFile(join(dir, 's.yaml'), syntheticSpec('restart', [4, 6, 8, 10, 12, 14], [0, 1], { epochs: 6, sampleSize: 3000 }));
    procs.push(worker(server, dir, 'w1'), worker(server, dir, 'w2'));
    const coordinator = start(['coordinator', 's.yaml', '--nats', server.url, '--out', 'out', '--ack-wait', '5', '--quiet'], dir);
    procs.push(coordinator);
    const parts = join(dir, 'out', 'restart', 'parts');
    await until(async () => (await partFiles(parts)).length >= 1, 'a part file');
    await server.restart();
    assert.equal(await exitWithin(coordinator, SWEEP_MS, 'the coordinator'), 0, coordinator.output());
    const all = await partRows(join(dir, 'out', 'restart'));
    assert.equal(all.length, 12);
    assert.equal(new Set(all.map((r) => r.cell_id)).size, 12);
  });
});

test('a poison cell that kills its worker process every time is failed after MaxDeliver; the sweep completes', async () => {
  await scenario(async ({ dir, server, procs }) => {
    await writeFile(join(dir, 's.yaml'), syntheticSpec('poison', [4, 6, 8], [0], { epochs: 2, sampleSize: 500 }));
    // The poison is the cell of width 6: find its id from an embedded dry listing of the spec.
    const listing = await hessweep(['run', 's.yaml', '--out', 'probe', '--where', 'width=6', '--quiet'], dir);
    assert.equal(listing.code, 0, listing.stderr);
    const poison = (await partRows(join(dir, 'probe', 'poison')))[0].cell_id as string;
    const env = { HESSWEEP_FAULT_KILL_ON_CELL: poison };
    const coordinator = start(['coordinator', 's.yaml', '--nats', server.url, '--out', 'out', '--ack-wait', '1', '--max-attempts', '3', '--quiet'], dir);
    procs.push(coordinator);
    // Keep two workers alive, as a supervisor (systemd, Kubernetes, Slurm requeue) would, until the sweep ends.
    const workers: Proc[] = [];
    let deaths = 0;
    let over = false;
    const supervise = async (name: string) => {
      for (let i = 0; !over; i++) {
        const w = worker(server, dir, `${name}-${i}`, env);
        workers.push(w);
        procs.push(w);
        if ((await w.exited) === 137) deaths++;
      }
    };
    const supervisors = [supervise('a'), supervise('b')];
    const code = await exitWithin(coordinator, SWEEP_MS, 'the coordinator');
    // The survivors are stopped with SIGTERM: only the poison ends a worker with SIGKILL (137), so every death
    // is counted, however late its exit is seen.
    over = true;
    for (const w of workers) w.child.kill('SIGTERM');
    for (const w of workers) await exitWithin(w, 60_000, 'a supervised worker after SIGTERM');
    await Promise.all(supervisors);
    assert.equal(code, 1, coordinator.output());
    assert.equal(deaths, 3, 'each of the 3 deliveries killed a worker');
    const all = await partRows(join(dir, 'out', 'poison'));
    assert.equal(all.length, 3);
    const failed = all.filter((r) => r.status === 'failed');
    assert.deepEqual(failed.map((r) => r.cell_id), [poison]);
    assert.match(String(failed[0].error), /3 deliveries/);
  });
});

test('auth: user/password, nkey and TLS work with the right credentials and fail clearly otherwise', async () => {
  const secrets = await mkdtemp(join(tmpdir(), 'hessweep-auth-'));
  try {
    const nkey = harness.makeNkeyUser();
    await writeFile(join(secrets, 'user.nk'), nkey.seed);
    await writeFile(join(secrets, 'other.nk'), harness.makeNkeyUser().seed);
    const tls = await harness.makeTlsFiles(secrets);
    const cases = [
      { name: 'password', config: 'authorization { user: alice, password: s3cret }', good: ['--user', 'alice', '--password', 's3cret'], bad: ['--user', 'alice', '--password', 'nope'], badMessage: /Authorization/i },
      { name: 'nkey', config: `authorization { users: [ { nkey: ${nkey.publicKey} } ] }`, good: ['--nkey', join(secrets, 'user.nk')], bad: ['--nkey', join(secrets, 'other.nk')], badMessage: /Authorization/i },
      { name: 'tls', config: `tls { cert_file: "${tls.cert}", key_file: "${tls.key}" }`, good: ['--tls-ca', tls.ca], bad: [], badMessage: /certificate/i },
    ];
    for (const c of cases) {
      await scenario(async ({ dir, server, procs }) => {
        await writeFile(join(dir, 's.yaml'), syntheticSpec(`auth-${c.name}`, [4], [0, 1], { epochs: 1, sampleSize: 200 }));
        procs.push(start(['worker', '--nats', server.url, '--concurrency', '1', '--backend', 'wasm', ...c.good], dir));
        const ok = await hessweep(['coordinator', 's.yaml', '--nats', server.url, '--out', 'out', ...c.good], dir);
        assert.equal(ok.code, 0, `${c.name}: ${ok.stderr}`);
        assert.match(ok.stderr, /2 ok, 0 failed/);
        const refused = await hessweep(['coordinator', 's.yaml', '--nats', server.url, '--out', 'out', ...c.bad], dir);
        assert.equal(refused.code, 2, `${c.name}: ${refused.stderr}`);
        assert.match(refused.stderr, c.badMessage);
        assert.match(refused.stderr, new RegExp(`cannot connect to NATS at nats://127\\.0\\.0\\.1:${server.port}`));
        assert.doesNotMatch(refused.stderr, /at .*\.js:\d+/);
      }, c.config);
    }
    const nobody = await hessweep(['status', '--nats', 'nats://127.0.0.1:1'], secrets);
    assert.equal(nobody.code, 2);
    assert.match(nobody.stderr, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
  } finally {
    await rm(secrets, { recursive: true, force: true });
  }
});

test('cancel purges a sweep and stops its coordinator', async () => {
  await scenario(async ({ dir, server, procs }) => {
    await writeFile(join(dir, 's.yaml'), syntheticSpec('doomed', [4, 6, 8, 10], [0, 1, 2], { epochs: 20, sampleSize: 4000 }));
    const coordinator = start(['coordinator', 's.yaml', '--nats', server.url, '--out', 'out'], dir);
    procs.push(coordinator);
    await until(() => /progress 0\/12/.test(coordinator.output()), 'the coordinator to queue its cells');
    const cancel = await hessweep(['cancel', 'doomed', '--nats', server.url], dir);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.match(cancel.stdout, /sweep doomed cancelled; 12 queued cell\(s\) removed/);
    assert.equal(await exitWithin(coordinator, 60_000, 'the cancelled coordinator'), 130, coordinator.output());
    assert.match(coordinator.output(), /was cancelled/);
    const status = await hessweep(['status', '--nats', server.url, 'doomed', '--json'], dir);
    assert.equal(JSON.parse(status.stdout).sweeps[0].state, 'cancelled');
  });
});

test('two sweeps run at once on the same workers, each getting only its own rows', async () => {
  await scenario(async ({ dir, server, procs }) => {
    await writeFile(join(dir, 'a.yaml'), syntheticSpec('left', [4, 6, 8], [0, 1], { epochs: 2, sampleSize: 1000 }));
    await writeFile(join(dir, 'b.yaml'), syntheticSpec('right', [5, 7], [0, 1, 2], { epochs: 2, sampleSize: 1000 }));
    procs.push(worker(server, dir, 'w1'), worker(server, dir, 'w2'));
    const [a, b] = await Promise.all([
      hessweep(['coordinator', 'a.yaml', '--nats', server.url, '--out', 'out'], dir),
      hessweep(['coordinator', 'b.yaml', '--nats', server.url, '--out', 'out'], dir),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const left = await partRows(join(dir, 'out', 'left'));
    const right = await partRows(join(dir, 'out', 'right'));
    assert.equal(left.length, 6);
    assert.equal(right.length, 6);
    assert.ok(left.every((r) => r.sweep === 'left' && [4, 6, 8].includes(r.width as number)));
    assert.ok(right.every((r) => r.sweep === 'right' && [5, 7].includes(r.width as number)));
  });
});

test('doctor reports the backends, datasets, the NATS server and JetStream, and fails on an unreachable server', async () => {
  await scenario(async ({ dir, server }) => {
    const good = await hessweep(['doctor', '--nats', server.url], dir);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /ok\s+backend wasm/);
    assert.match(good.stdout, /ok\s+fused trainer\s+WebAssembly SIMD step: loss/);
    assert.match(good.stdout, /ok\s+dataset mnist/);
    assert.match(good.stdout, /ok\s+nats\s+connected to .*nats-server 2\.\d+/);
    assert.match(good.stdout, /ok\s+jetstream\s+enabled/);
    assert.match(good.stdout, /this node is ready/);
    const bad = await hessweep(['doctor', '--nats', 'nats://127.0.0.1:1'], dir);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /FAIL\s+nats\s+cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
    assert.match(bad.stdout, /fix: check --nats URL/);
  });
});
