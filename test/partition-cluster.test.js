// Link faults in a 3-node JetStream cluster (issue 13): a server cut off from its two peers but not from its
// clients, and the coordinator's server cut off from everything. The clients (coordinator, workers) list every
// server; they start on the server that is cut off (--nats-in-order), notice that JetStream no longer answers
// there and move to another server while the partition lasts, and the sweep goes on. Each scenario ends with
// every cell once, all ok, and every process exiting cleanly, and prints cut → move and heal → progress times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { natsClusterOf3, syntheticSpec, until, expectCleanEnd, unavailable, SWEEP_MS } from './partition-support.js';

const CELLS = 24;
const seconds = (since) => ((Date.now() - since) / 1000).toFixed(1);

/** The server named as leader of the meta group / of a stream on n1's monitoring page. */
function metaLeader(c) {
  return c.jsz('n1').meta_cluster.leader;
}
function streamLeader(c, stream) {
  for (const n of c.names) {
    const page = c.jsz(n);
    for (const account of page.account_details ?? []) {
      const detail = (account.stream_detail ?? []).find((s) => s.name === stream);
      if (detail?.cluster?.leader) return detail.cluster.leader;
    }
  }
  return undefined;
}

/** Each server's view of the streams and consumers, for a failure's message. */
function describeStreams(c) {
  return c.names
    .map((n) => {
      try {
        const page = c.jsz(n);
        const streams = (page.account_details ?? []).flatMap((a) => a.stream_detail ?? []);
        const consumers = (s) => (s.consumer_detail ?? []).map((k) => ` ${k.name} pending ${k.num_pending} acks ${k.num_ack_pending} waiting ${k.num_waiting}`).join(';');
        return `${n} (meta leader ${page.meta_cluster?.leader}): ${streams.map((s) => `${s.name} ${s.state.messages} msgs, leader ${s.cluster?.leader}${consumers(s)}`).join(' | ')}`;
      } catch (error) {
        return `${n}: ${error.message.split('\n')[0]}`;
      }
    })
    .join('\n');
}

/** The server a client said it is connected to last. */
function serverOf(client) {
  return [...client.output().matchAll(/NATS: (?:re)?connected to (\S+)/g)].at(-1)?.[1];
}

/**
 * One sweep on the cluster with the clients first on `pickTarget`'s server; that server is cut off from
 * `networks` (its peers only, or everything) until every client that was on it has moved and a cell has
 * finished during the cut, and at least `cutMs`; then healed.
 */
async function partitionScenario(name, { pickTarget, networks, cutMs = 0 }) {
  const c = await natsClusterOf3(2);
  await writeFile(join(c.dir, 's.yaml'), syntheticSpec(name, [4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26], [0, 1], { epochs: 4, sampleSize: 20000 }));
  let target = pickTarget(c, null);
  const coordinator = c.hessweep('coordinator', ['coordinator', 's.yaml', '--nats', c.urls(target ?? 'n1'), '--nats-in-order', '--replicas', '3', '--out', 'out']);
  const created = () => {
    assert.equal(coordinator.child.exitCode, null, `the coordinator exited:\n${coordinator.output()}`);
    return /^progress /m.test(coordinator.output()) && streamLeader(c, 'HESSWEEP_CELLS') !== undefined;
  };
  await until(created, 'the coordinator to create the streams and queue the cells', 120_000, 500).catch((error) => {
    throw new Error(`${error.message}; the coordinator printed:\n${coordinator.output()}`);
  });
  target = pickTarget(c, target);
  const workers = ['w1', 'w2'].map((w) => c.hessweep(w, ['worker', '--nats', c.urls(target), '--nats-in-order', '--concurrency', '1', '--name', w, '--backend', 'wasm']));
  const clients = { coordinator, w1: workers[0], w2: workers[1] };
  const done = () => workers.reduce((n, w) => n + [...w.output().matchAll(new RegExp(`done {2}${name}/`, 'g'))].length, 0);
  await until(() => done() >= 1, 'a first cell to finish', 120_000);
  const targetUrl = c.url(target).replace('nats://', '');
  const onTarget = Object.entries(clients).filter(([, p]) => serverOf(p) === targetUrl);
  assert.ok(onTarget.length >= 2, `the workers are not on ${target} (${targetUrl}):\n${Object.entries(clients).map(([n, p]) => `${n}: ${p.output()}`).join('\n')}`);

  const linesAtCut = Object.fromEntries(Object.entries(clients).map(([n, p]) => [n, p.output().length]));
  const doneAtCut = done();
  for (const network of networks) c.cluster.cut(target, network);
  const cut = Date.now();
  const moved = {};
  const movedAway = ([n, p]) => {
    const since = p.output().slice(linesAtCut[n]);
    const to = /NATS: reconnected to (\S+)/.exec(since);
    if (to && to[1] !== targetUrl && moved[n] === undefined) moved[n] = seconds(cut);
    return moved[n] !== undefined;
  };
  await until(() => onTarget.every(movedAway), `every client on ${target} to move to another server`, 90_000);
  await until(() => done() > doneAtCut, 'a cell to finish during the partition', 120_000);
  await delay(Math.max(0, cut + cutMs - Date.now()));
  const progressDuringCut = done() - doneAtCut;
  for (const network of networks) c.cluster.heal(target, network);
  const healed = Date.now();
  process.stdout.write(`${name}: ${target} cut off from ${networks.join(' and ')}; cut to move: ${Object.entries(moved).map(([n, s]) => `${n} ${s} s`).join(', ')}; cells finished during the cut: ${progressDuringCut}\n`);
  const doneAtHeal = done();
  if (doneAtHeal < CELLS) {
    await until(() => done() > doneAtHeal, 'a cell to finish after the heal', 120_000);
    process.stdout.write(`${name}: heal to the next finished cell: ${seconds(healed)} s\n`);
  }

  const explain = () => `\n${workers.map((w, i) => `--- worker w${i + 1}:\n${w.output()}`).join('\n')}\n--- streams:\n${describeStreams(c)}`;
  await expectCleanEnd({ coordinator, workers: { w1: workers[0], w2: workers[1] }, dir: c.dir, sweep: name, cells: CELLS, explain });
}

const options = { skip: unavailable ?? false, timeout: SWEEP_MS + 180_000 };

test('a server cut off from its two peers while the clients are on it: they move to another server and the sweep goes on', options, () =>
  partitionScenario('peers', { pickTarget: () => 'n1', networks: ['peers'] }));

test('the meta leader cut off from its two peers: its clients move, the sweep goes on', options, () =>
  partitionScenario('meta', { pickTarget: (c) => metaLeader(c), networks: ['peers'] }));

test("the cells stream leader's server cut off from its two peers: its clients move, the sweep goes on", options, () =>
  partitionScenario('leader', { pickTarget: (c, before) => (before === null ? 'n1' : streamLeader(c, 'HESSWEEP_CELLS')), networks: ['peers'] }));

test("the coordinator's server cut off from everything for 30 s: the clients move, the sweep goes on", options, () =>
  partitionScenario('island', { pickTarget: () => 'n2', networks: ['lan', 'peers'], cutMs: 30_000 }));
