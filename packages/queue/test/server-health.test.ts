// keepOnHealthyServer against real nats-servers. A server without JetStream answers no JetStream request, as
// a server cut off from its cluster does (the cut itself is tested on network namespaces in test/partition-cluster.test.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type NatsConnection } from 'nats';
import { connectNats } from '../src/connection.js';
import { keepOnHealthyServer } from '../src/server-health.js';
import { createStreams, HEALTH_STREAM } from '../src/streams.js';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { until } from './poll.js';

const FAST = { intervalMs: 100, timeoutMs: 500, failures: 2 };
const hostPort = (server: NatsServer) => server.url.replace('nats://', '');

async function withServers(specs: { jetstream: boolean }[], body: (servers: NatsServer[]) => Promise<void>): Promise<void> {
  const servers: NatsServer[] = [];
  try {
    for (const spec of specs) servers.push(await startNatsServer(spec));
    await body(servers);
  } finally {
    await Promise.all(servers.map((s) => s.cleanup()));
  }
}

/** A client on `servers` in their order, watched; the notes it makes are collected. */
async function watchedClient(servers: NatsServer[], body: (nc: NatsConnection, notes: string[]) => Promise<void>): Promise<void> {
  const urls = servers.map((s) => s.url).join(',');
  const nc = await connectNats({ servers: urls, inOrder: true });
  const notes: string[] = [];
  const watch = keepOnHealthyServer(nc, { servers: urls, onNote: (line) => notes.push(line), ...FAST });
  try {
    await body(nc, notes);
  } finally {
    watch.stop();
    await nc.close();
  }
}

test('JetStream silent on the first server: the client moves to the second, says why, and stays there', async () => {
  await withServers([{ jetstream: false }, { jetstream: true }], async ([silent, working]) => {
    await watchedClient([silent, working], async (nc, notes) => {
      assert.equal(nc.getServer(), hostPort(silent), 'starts on the first server listed');
      await until(() => notes.some((n) => n.includes(`reconnected to ${hostPort(working)}`)), `a move to ${working.url}; notes: ${notes.join(' | ')}`, 30_000);
      assert.match(notes.join('\n'), new RegExp(`JetStream does not answer on ${hostPort(silent)} \\(no responders`));
      assert.equal(nc.getServer(), hostPort(working));
      // Healthy there: after more than `failures` asks, no move away.
      const settled = notes.length;
      const asks = Date.now() + FAST.intervalMs * (FAST.failures + 3);
      await until(() => Date.now() > asks, 'a few more asks', 30_000);
      assert.deepEqual(notes.slice(settled), [], 'no note once on a working server');
      assert.equal(nc.getServer(), hostPort(working));
    });
  });
});

test('JetStream silent on the only server: the client says so once and stays connected', async () => {
  await withServers([{ jetstream: false }], async ([silent]) => {
    await watchedClient([silent], async (nc, notes) => {
      await until(() => notes.length > 0, 'a note', 30_000);
      const asks = Date.now() + FAST.intervalMs * (FAST.failures + 5);
      await until(() => Date.now() > asks, 'a few more asks', 30_000);
      assert.equal(notes.length, 1, notes.join(' | '));
      assert.match(notes[0], /no other server is known; waiting/);
      assert.equal(nc.getServer(), hostPort(silent));
      assert.equal(nc.isClosed(), false);
    });
  });
});

test('with the health stream, each ask is a write: the client keeps one message there, and moves nowhere', async () => {
  await withServers([{ jetstream: true }], async ([server]) => {
    await watchedClient([server], async (nc, notes) => {
      const jsm = await nc.jetstreamManager();
      await createStreams(jsm, 1);
      await until(async () => (await jsm.streams.info(HEALTH_STREAM)).state.messages === 1, 'the probe message in the health stream', 30_000);
      const firstSeq = (await jsm.streams.info(HEALTH_STREAM)).state.last_seq;
      await until(async () => (await jsm.streams.info(HEALTH_STREAM)).state.last_seq > firstSeq + 2, 'more probe writes', 30_000);
      const state = (await jsm.streams.info(HEALTH_STREAM)).state;
      assert.equal(state.messages, 1, 'one message per client (the newest)');
      assert.deepEqual(notes, []);
    });
  });
});

test('a user who may not write health asks (an older auth.conf) is told once, checked with $JS.API.INFO, and moves nowhere', async () => {
  const config = `accounts { A { jetstream: enabled, users: [
    { user: admin, password: admin },
    { user: limited, password: limited, permissions: { publish: { allow: ["$JS.API.INFO"] }, subscribe: { allow: ["_INBOX.>"] } } }
  ] } }`;
  const server = await startNatsServer({ config });
  const admin = await connectNats({ servers: server.url, user: 'admin', password: 'admin' });
  const nc = await connectNats({ servers: server.url, user: 'limited', password: 'limited' });
  const notes: string[] = [];
  // A second, unreachable server in the list: a failed ask would make the client leave.
  const watch = keepOnHealthyServer(nc, { servers: `${server.url},nats://127.0.0.1:1`, onNote: (line) => notes.push(line), ...FAST });
  try {
    await createStreams(await admin.jetstreamManager(), 1);
    await until(() => notes.length > 0, 'a note', 30_000);
    const asks = Date.now() + FAST.intervalMs * (FAST.failures + 5);
    await until(() => Date.now() > asks, 'a few more asks', 30_000);
    assert.equal(notes.length, 1, notes.join(' | '));
    assert.match(notes[0], /may not publish to hessweep\.health\.\w+ \(permissions\): checking the server with \$JS\.API\.INFO only/);
    assert.equal(nc.getServer(), hostPort(server));
  } finally {
    watch.stop();
    await nc.close();
    await admin.close();
    await server.cleanup();
  }
});
