// Link faults between hosts (issue 13), on the virtual cluster of test/netns.js: nats-server, the coordinator and
// each worker in a namespace of their own on one /24. Each scenario ends with every cell once, all ok, and every
// process exiting cleanly; it prints the time from heal to the next finished cell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { sweepCluster, syntheticSpec, until, expectCleanEnd, unavailable, SWEEP_MS } from './partition-support.js';

test('every worker cut off from the server for 30 s mid-sweep: they continue after the heal, every cell once and ok', { skip: unavailable ?? false, timeout: SWEEP_MS + 120_000 }, async () => {
  const { cluster, dir, url, hessweep } = await sweepCluster(2);
  await writeFile(join(dir, 's.yaml'), syntheticSpec('cut', [4, 6, 8, 10], [0, 1], { epochs: 8, sampleSize: 3000 }));
  const workers = ['w1', 'w2'].map((w) => hessweep(w, ['worker', '--nats', url, '--concurrency', '1', '--name', w, '--backend', 'wasm']));
  // A lease shorter than the cut: the running cells' leases lapse while their workers cannot heartbeat.
  const coordinator = hessweep('coordinator', ['coordinator', 's.yaml', '--nats', url, '--out', 'out', '--ack-wait', '10']);
  const done = () => workers.reduce((n, w) => n + [...w.output().matchAll(/done {2}cut\//g)].length, 0);
  await until(() => done() >= 1, 'a first cell to finish', 120_000);
  const doneBeforeCut = done();
  for (const w of ['w1', 'w2']) cluster.cut(w);
  await delay(30_000);
  for (const w of ['w1', 'w2']) cluster.heal(w);
  const healed = Date.now();
  await until(() => done() > doneBeforeCut, 'a cell to finish after the heal', 120_000);
  process.stdout.write(`heal to the next finished cell: ${((Date.now() - healed) / 1000).toFixed(1)} s\n`);

  await expectCleanEnd({ coordinator, workers: { w1: workers[0], w2: workers[1] }, dir, sweep: 'cut', cells: 8 });
});

test('a worker cut off mid-cell for longer than its lease: the cell is computed elsewhere, the late row dropped, every cell once', { skip: unavailable ?? false, timeout: SWEEP_MS + 120_000 }, async () => {
  const { cluster, dir, url, hessweep } = await sweepCluster(2);
  await writeFile(join(dir, 's.yaml'), syntheticSpec('lost', [4, 6, 8, 10], [0, 1], { epochs: 8, sampleSize: 3000 }));
  const worker = (w) => hessweep(w, ['worker', '--nats', url, '--concurrency', '1', '--name', w, '--backend', 'wasm']);
  // w1 alone takes the first cell, and is cut off inside it (a cell takes seconds; the poll notices its start
  // line within 0.1 s); w2 starts only then, so there is no race for cells before the cut.
  const w1 = worker('w1');
  const coordinator = hessweep('coordinator', ['coordinator', 's.yaml', '--nats', url, '--out', 'out', '--ack-wait', '10']);
  await until(() => /start lost\/\w+/.test(w1.output()), 'w1 to start a cell', 120_000);
  cluster.cut('w1');
  const [, cell] = /start lost\/(\w+)/.exec(w1.output());
  assert.doesNotMatch(w1.output(), new RegExp(`done {2}lost/${cell}`), 'w1 finished its first cell before the cut');
  const w2 = worker('w2');
  // Healed only once the other worker has computed the cut-off cell: no race on which row arrives first.
  await until(() => new RegExp(`done {2}lost/${cell}`).test(w2.output()), `w2 to compute cell ${cell} after w1's lease lapsed`, 180_000);
  cluster.heal('w1');
  const healed = Date.now();
  const endedInCut = coordinator.child.exitCode !== null;
  const ended = coordinator.exited.then(() => Date.now());
  const rows = await expectCleanEnd({ coordinator, workers: { w1, w2 }, dir, sweep: 'lost', cells: 8 });
  process.stdout.write(endedInCut ? 'the sweep ended during the cut (w2 computed every other cell)\n' : `heal to the sweep's end: ${(((await ended) - healed) / 1000).toFixed(1)} s\n`);
  assert.equal(rows.find((r) => r.cell_id === cell).worker, 'w2', 'the cut-off cell is the row of the worker that computed it while w1 was cut off');
});

test('the coordinator cut off from the server for 60 s mid-sweep: workers compute on, the coordinator writes their rows after the heal', { skip: unavailable ?? false, timeout: SWEEP_MS + 120_000 }, async () => {
  const { cluster, dir, url, hessweep } = await sweepCluster(2);
  await writeFile(join(dir, 's.yaml'), syntheticSpec('away', [4, 6, 8, 10, 12, 14], [0, 1], { epochs: 8, sampleSize: 3000 }));
  const workers = ['w1', 'w2'].map((w) => hessweep(w, ['worker', '--nats', url, '--concurrency', '1', '--name', w, '--backend', 'wasm']));
  const coordinator = hessweep('coordinator', ['coordinator', 's.yaml', '--nats', url, '--out', 'out']);
  const done = () => workers.reduce((n, w) => n + [...w.output().matchAll(/done {2}away\//g)].length, 0);
  const progressLines = () => [...coordinator.output().matchAll(/^progress (\d+)\/12 cells/gm)].map((m) => Number(m[1]));
  // Cut once a first cell is done: a cell takes about a second, so most of the sweep is computed during the cut.
  await until(() => done() >= 1, 'a first cell to finish', 120_000);
  cluster.cut('coordinator');
  const doneAtCut = done();
  const writtenAtCut = Math.max(0, ...progressLines());
  await delay(60_000);
  assert.ok(done() > doneAtCut, `the workers finished no cell while the coordinator was cut off (${done()} done)`);
  assert.equal(coordinator.child.exitCode, null, `the coordinator exited during the cut:\n${coordinator.output()}`);
  const linesAtHeal = progressLines().length;
  cluster.heal('coordinator');
  const healed = Date.now();
  await until(() => progressLines().length > linesAtHeal && Math.max(...progressLines()) > writtenAtCut, 'the coordinator to write rows after the heal', 120_000);
  process.stdout.write(`heal to the coordinator's next written row: ${((Date.now() - healed) / 1000).toFixed(1)} s (cells finished during the cut: ${done() - doneAtCut})\n`);

  await expectCleanEnd({ coordinator, workers: { w1: workers[0], w2: workers[1] }, dir, sweep: 'away', cells: 12 });
});

test("a worker's link flapping (down 2 s, up 2 s) for 40 s: it computes on, every cell once and ok", { skip: unavailable ?? false, timeout: SWEEP_MS + 120_000 }, async () => {
  const { cluster, dir, url, hessweep } = await sweepCluster(1);
  // One worker, and cells of a second or two, so that the sweep lasts past the flapping.
  const widths = Array.from({ length: 15 }, (_, i) => 4 + i);
  await writeFile(join(dir, 's.yaml'), syntheticSpec('flap', widths, [0, 1], { epochs: 8, sampleSize: 20000 }));
  const worker = hessweep('w1', ['worker', '--nats', url, '--concurrency', '1', '--name', 'w1', '--backend', 'wasm']);
  const coordinator = hessweep('coordinator', ['coordinator', 's.yaml', '--nats', url, '--out', 'out']);
  const done = () => [...worker.output().matchAll(/done {2}flap\//g)].length;
  await until(() => done() >= 1, 'w1 to finish a first cell', 120_000);
  const doneAtStart = done();
  for (let flap = 0; flap < 10; flap++) {
    cluster.cut('w1');
    await delay(2000);
    cluster.heal('w1');
    await delay(2000);
  }
  const healed = Date.now();
  const doneAtHeal = done();
  process.stdout.write(`cells finished while the link flapped: ${doneAtHeal - doneAtStart}\n`);
  assert.ok(doneAtHeal > doneAtStart, `w1 finished no cell in the 40 s its link flapped:\n${worker.output()}`);
  if (doneAtHeal < 30) {
    await until(() => done() > doneAtHeal, 'a cell to finish after the flapping', 120_000);
    process.stdout.write(`last heal to the next finished cell: ${((Date.now() - healed) / 1000).toFixed(1)} s\n`);
  }

  await expectCleanEnd({ coordinator, workers: { w1: worker }, dir, sweep: 'flap', cells: 30 });
});
