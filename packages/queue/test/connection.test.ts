import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Events, StorageType, StringCodec, type NatsConnection } from 'nats';
import { connectNats, NatsConnectError, type NatsOptions } from '../src/connection.js';
import { freePort, makeNkeyUser, makeTlsFiles, startNatsCluster, startNatsServer, type NatsServer, type NatsServerOptions } from './nats-server.js';

const sc = StringCodec();

/** Starts a server, runs `body`, then stops it and removes its temp dirs whatever happened. */
async function withServer(options: NatsServerOptions, body: (server: NatsServer) => Promise<void>): Promise<void> {
  const server = await startNatsServer(options);
  try {
    await body(server);
  } catch (error) {
    // Attach the server log to the failure, so it can be diagnosed.
    const log = await server.readLog();
    (error as Error).message += `\n--- nats-server log (${server.log}) ---\n${log.split('\n').slice(-40).join('\n')}`;
    throw error;
  } finally {
    await server.cleanup();
  }
}

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hessweep-conn-test-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** connectNats, closing the connection at the end. */
async function connected(options: NatsOptions, body: (nc: NatsConnection) => Promise<void> = async () => {}): Promise<void> {
  const nc = await connectNats(options);
  try {
    await nc.flush();
    await body(nc);
  } finally {
    await nc.close();
  }
}

/**
 * How long a step that should take milliseconds may take before the test calls it hung: generous, so that a
 * loaded machine never reaches it, while a hang (a client reconnecting for ever) still fails, saying so.
 */
const HUNG_MS = 30_000;

/** Expects connectNats to reject with a NatsConnectError matching `pattern`, within `withinMs`; returns the message. */
async function rejects(options: NatsOptions, pattern: RegExp, withinMs = HUNG_MS): Promise<string> {
  const started = Date.now();
  const attempt: Promise<{ nc?: NatsConnection; error?: unknown; ms: number }> = connectNats(options).then(
    (nc) => ({ nc, ms: Date.now() - started }),
    (error: unknown) => ({ error, ms: Date.now() - started }),
  );
  const late = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), withinMs).unref());
  if ((await Promise.race([attempt, late])) === 'late') {
    // Say what eventually happens (bounded), so the failure is precise.
    const giveUp = new Promise<'never'>((resolve) => setTimeout(() => resolve('never'), 30_000).unref());
    const eventually = await Promise.race([attempt, giveUp]);
    if (eventually !== 'never') await eventually.nc?.close();
    const what =
      eventually === 'never'
        ? 'nothing within 30 s more'
        : eventually.nc
          ? `it connected after ${eventually.ms} ms`
          : `it failed only after ${eventually.ms} ms with: ${String(eventually.error)}`;
    assert.fail(`connectNats(${JSON.stringify(options)}) neither connected nor failed within ${withinMs} ms; ${what}`);
  }
  const outcome = await attempt;
  if (outcome.nc) {
    await outcome.nc.close();
    assert.fail(`connectNats(${JSON.stringify(options)}) connected but should have been refused`);
  }
  assert.ok(outcome.error instanceof NatsConnectError, `expected a NatsConnectError, got ${String(outcome.error)}`);
  const message = (outcome.error as Error).message;
  assert.match(message, pattern);
  return message;
}

async function roundTrip(nc: NatsConnection, subject: string, text: string): Promise<void> {
  const sub = nc.subscribe(subject, { max: 1 });
  const got = (async () => {
    for await (const m of sub) return sc.decode(m.data);
    return undefined;
  })();
  await nc.flush();
  nc.publish(subject, sc.encode(text));
  const timer = setTimeout(() => sub.unsubscribe(), HUNG_MS);
  try {
    assert.equal(await got, text, `round trip on ${subject} (nothing within ${HUNG_MS / 1000} s is undefined)`);
  } finally {
    clearTimeout(timer);
  }
}

test('harness: a missing nats-server binary is an error naming the install command', async () => {
  const saved = process.env.NATS_SERVER_BIN;
  process.env.NATS_SERVER_BIN = '/nonexistent/nats-server';
  try {
    await assert.rejects(startNatsServer(), /nats-server not found.*apt-get install nats-server/s);
  } finally {
    if (saved === undefined) delete process.env.NATS_SERVER_BIN;
    else process.env.NATS_SERVER_BIN = saved;
  }
});

test('plain server: connect works; a refused port fails fast with a NatsConnectError naming the URL', async () => {
  await withServer({}, async (server) => {
    await connected({ servers: server.url, name: 'plain-test' }, async (nc) => {
      await roundTrip(nc, 'plain.test', 'hello');
      const js = await nc.jetstreamManager();
      const info = await js.getAccountInfo();
      assert.equal(info.streams, 0);
    });
  });
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const message = await rejects({ servers: url }, new RegExp(url.replace(/[.:/]/g, '\\$&')));
  assert.match(message, /CONNECTION_REFUSED|ECONNREFUSED|refused/i);
});

test('no servers given is a NatsConnectError', async () => {
  await rejects({ servers: ' , ' }, /no NATS server/);
});

test('user/password server: right credentials connect, a wrong password is an authorization error', async () => {
  await withServer({ config: 'authorization { user: a, password: b }' }, async (server) => {
    await connected({ servers: server.url, user: 'a', password: 'b' }, (nc) => roundTrip(nc, 'auth.up', 'ok'));
    const message = await rejects({ servers: server.url, user: 'a', password: 'wrong' }, /Authorization|AUTHORIZATION/);
    assert.ok(message.includes(server.url), message);
    await rejects({ servers: server.url }, /Authorization|AUTHORIZATION/);
  });
});

test('token server: the right token connects, a wrong one is refused', async () => {
  await withServer({ config: 'authorization { token: "s3cr3t-token" }' }, async (server) => {
    await connected({ servers: server.url, token: 's3cr3t-token' }, (nc) => roundTrip(nc, 'auth.token', 'ok'));
    await rejects({ servers: server.url, token: 'nope' }, /Authorization|AUTHORIZATION/);
  });
});

test('nkey server: a seed file connects, a different seed is refused, a missing seed file is named', async () => {
  const user = makeNkeyUser();
  const other = makeNkeyUser();
  assert.match(user.publicKey, /^U[A-Z2-7]{55}$/);
  assert.match(user.seed, /^SU[A-Z2-7]{56}$/);
  await withServer({ config: `authorization { users: [ { nkey: ${user.publicKey} } ] }` }, async (server) => {
    await withTempDir(async (dir) => {
      const seedFile = join(dir, 'user.nk');
      await writeFile(seedFile, user.seed + '\n', { mode: 0o600 });
      const wrongFile = join(dir, 'other.nk');
      await writeFile(wrongFile, other.seed + '\n', { mode: 0o600 });
      await connected({ servers: server.url, nkey: seedFile }, (nc) => roundTrip(nc, 'auth.nkey', 'ok'));
      await rejects({ servers: server.url, nkey: wrongFile }, /Authorization|AUTHORIZATION/);
      const missing = join(dir, 'missing.nk');
      await rejects({ servers: server.url, nkey: missing }, new RegExp(`nkey seed file ${missing.replace(/[.\\/]/g, '\\$&')}.*ENOENT`));
    });
  });
});

test('TLS server: connects with the CA, fails clearly without it; mutual TLS with a client certificate connects', async () => {
  await withTempDir(async (dir) => {
    const tls = await makeTlsFiles(join(dir, 'tls'));
    const tlsConfig = `tls { cert_file: ${JSON.stringify(tls.cert)}, key_file: ${JSON.stringify(tls.key)} }`;
    await withServer({ config: tlsConfig }, async (server) => {
      await connected({ servers: server.url, tlsCa: tls.ca }, (nc) => roundTrip(nc, 'tls.ok', 'ok'));
      await connected({ servers: `tls://localhost:${server.port}`, tlsCa: tls.ca }, (nc) => roundTrip(nc, 'tls.host', 'ok'));
      const message = await rejects({ servers: server.url }, /certificate|self[- ]signed|CERT/i);
      assert.ok(message.includes(server.url), message);
    });
    const mutual = `tls { cert_file: ${JSON.stringify(tls.cert)}, key_file: ${JSON.stringify(tls.key)}, ca_file: ${JSON.stringify(tls.ca)}, verify: true }`;
    await withServer({ config: mutual }, async (server) => {
      await connected({ servers: server.url, tlsCa: tls.ca, tlsCert: tls.clientCert, tlsKey: tls.clientKey }, (nc) =>
        roundTrip(nc, 'tls.mutual', 'ok'),
      );
    });
  });
});

// nats.js 2.29 (TLS 1.3) does not notice the server's "certificate required" alert during the first connect and
// waits for its connect `timeout` (20 s by default): connectNats must bound that (to 5 s). 15 s tells the two
// apart with 10 s to spare for a loaded machine.
test('mutual TLS server: connecting without a client certificate fails within 15 s, before the 20 s default', async () => {
  await withTempDir(async (dir) => {
    const tls = await makeTlsFiles(join(dir, 'tls'));
    const mutual = `tls { cert_file: ${JSON.stringify(tls.cert)}, key_file: ${JSON.stringify(tls.key)}, ca_file: ${JSON.stringify(tls.ca)}, verify: true }`;
    await withServer({ config: mutual }, async (server) => {
      const message = await rejects({ servers: server.url, tlsCa: tls.ca }, /NATS at/, 15_000);
      assert.ok(message.includes(server.url), message);
    });
  });
});

test('server restart: the client reconnects and the JetStream file store keeps its messages', async () => {
  await withServer({}, async (server) => {
    await connected({ servers: server.url }, async (nc) => {
      await roundTrip(nc, 'restart.before', 'one');
      const jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: 'RESTART_TEST', subjects: ['restart.js.>'], storage: StorageType.File });
      const js = nc.jetstream();
      for (let i = 0; i < 3; i++) await js.publish('restart.js.x', sc.encode(`m${i}`), { msgID: `m${i}` });
      assert.equal((await jsm.streams.info('RESTART_TEST')).state.messages, 3);

      const reconnected = (async () => {
        for await (const s of nc.status()) if (s.type === Events.Reconnect) return true;
        return false;
      })();
      const pid = server.process.pid;
      await server.restart();
      assert.notEqual(server.process.pid, pid, 'a new server process');
      const timer = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), HUNG_MS).unref());
      assert.equal(await Promise.race([reconnected, timer]), true, `the client reconnected within ${HUNG_MS / 1000} s`);

      await roundTrip(nc, 'restart.after', 'two');
      const info = await jsm.streams.info('RESTART_TEST');
      assert.equal(info.state.messages, 3, 'the stream still holds its 3 messages');
      const first = await jsm.streams.getMessage('RESTART_TEST', { seq: 1 });
      assert.equal(sc.decode(first.data), 'm0');
    });
  });
});

test('server list: a dead first URL and a live second one connects', async () => {
  await withServer({}, async (server) => {
    const dead = `nats://127.0.0.1:${await freePort()}`;
    await connected({ servers: `${dead}, ${server.url}` }, async (nc) => {
      assert.equal(nc.getServer(), `127.0.0.1:${server.port}`);
      await roundTrip(nc, 'list.ok', 'ok');
    });
    // All dead: fails, naming every URL.
    const dead2 = `nats://127.0.0.1:${await freePort()}`;
    const message = await rejects({ servers: `${dead},${dead2}` }, /NATS at/);
    assert.ok(message.includes(dead) && message.includes(dead2), message);
  });
});

test('cluster: connectNats with the comma-separated URLs of a 3-node cluster; an R3 stream gets 2 replicas', async () => {
  const cluster = await startNatsCluster({ size: 3 });
  try {
    assert.equal(cluster.urls.split(',').length, 3);
    await connected({ servers: cluster.urls }, async (nc) => {
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.add({ name: 'R3_TEST', subjects: ['r3.>'], num_replicas: 3, storage: StorageType.File });
      assert.equal(info.config.num_replicas, 3);
      assert.ok(info.cluster?.leader, 'the stream has a leader');
      assert.equal(info.cluster?.replicas?.length, 2);
      const ack = await nc.jetstream().publish('r3.x', sc.encode('hello'));
      assert.equal(ack.seq, 1);
    });
  } finally {
    await cluster.cleanup();
  }
});
