import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AckPolicy, nanos, StringCodec, type JetStreamManager, type NatsConnection } from 'nats';
import { closeNats, connectNats } from '../src/connection.js';
import { PullError, PullInbox, type PulledMessage } from '../src/pulls.js';
import { startNatsServer } from './nats-server.js';

const sc = StringCodec();
const STREAM = 'PULLS';
/** Longer than any wait below: a cell that waited out its ack wait would fail the test's deadline. */
const ACK_WAIT_MS = 120_000;

/** A server with a work-queue stream and one pull consumer (ack wait ACK_WAIT_MS), for `body`. */
async function withConsumer(body: (nc: NatsConnection, jsm: JetStreamManager) => Promise<void>, consumer: { max_waiting?: number } = {}): Promise<void> {
  const server = await startNatsServer();
  const nc = await connectNats({ servers: server.url, name: 'pulls-test' });
  try {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: STREAM, subjects: ['cells.*'] });
    await jsm.consumers.add(STREAM, { durable_name: 'c', ack_policy: AckPolicy.Explicit, ack_wait: nanos(ACK_WAIT_MS), ...consumer });
    await body(nc, jsm);
  } finally {
    await closeNats(nc, 2000);
    await server.cleanup();
  }
}

async function publish(nc: NatsConnection, ...names: string[]): Promise<void> {
  const js = nc.jetstream();
  for (const name of names) await js.publish(`cells.${name}`, sc.encode(name));
}

/** Every message of one pull, with how the pull ended. */
async function drain(pull: AsyncIterable<PulledMessage>): Promise<{ messages: PulledMessage[]; error?: unknown }> {
  const messages: PulledMessage[] = [];
  try {
    for await (const message of pull) messages.push(message);
    return { messages };
  } catch (error) {
    return { messages, error };
  }
}

test('a pull yields what is queued up to its batch and ends; one that finds too little ends when the server expires it', async () => {
  await withConsumer(async (nc) => {
    const inbox = new PullInbox(nc);
    await publish(nc, 'a', 'b', 'c');
    const first = await drain(inbox.pull(STREAM, 'c', 2, 30_000));
    assert.equal(first.error, undefined);
    assert.deepEqual(first.messages.map((m) => sc.decode(m.data)), ['a', 'b']);
    assert.deepEqual(first.messages.map((m) => [m.streamSequence, m.deliveryCount]), [[1, 1], [2, 1]]);
    for (const message of first.messages) message.ack();
    // One left, five asked for: the server answers the rest with 408 when the request expires.
    const second = await drain(inbox.pull(STREAM, 'c', 5, 1000));
    assert.equal(second.error, undefined);
    assert.deepEqual(second.messages.map((m) => sc.decode(m.data)), ['c']);
    inbox.close();
  });
});

test('a cell sent to a pull that ended here is given back at once, not after its ack wait', async () => {
  await withConsumer(async (nc, jsm) => {
    const inbox = new PullInbox(nc);
    // A pull the reader abandons while the server still holds it: the next cell goes to it.
    const stop = new AbortController();
    const abandoned = drain(inbox.pull(STREAM, 'c', 1, 60_000, stop.signal));
    const deadline = Date.now() + 20_000;
    while ((await jsm.consumers.info(STREAM, 'c')).num_waiting === 0) {
      assert.ok(Date.now() < deadline, 'the pull never reached the server');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    stop.abort();
    assert.deepEqual((await abandoned).messages, []);
    await publish(nc, 'late');
    // The server hands the cell to the abandoned pull (its batch of 1 then used up); once this client has read
    // it (a flush: the server sent it before the flush's answer), no pull here wanted it and it was nakked.
    const handed = Date.now() + 20_000;
    for (;;) {
      const info = await jsm.consumers.info(STREAM, 'c');
      if (info.delivered.consumer_seq === 1 && info.num_waiting === 0) break;
      assert.ok(Date.now() < handed, 'the cell never went to the abandoned pull');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await nc.flush();
    // Without the nak the cell would stay leased to nobody for ACK_WAIT_MS; this pull's wait is far shorter.
    const again = await drain(inbox.pull(STREAM, 'c', 1, 20_000));
    assert.equal(again.error, undefined, String(again.error));
    assert.deepEqual(again.messages.map((m) => [sc.decode(m.data), m.deliveryCount]), [['late', 2]]);
    inbox.close();
  });
});

test('a pull the server refuses (too many waiting) and a pull of a deleted consumer (never answered) end with their codes', async () => {
  await withConsumer(
    async (nc, jsm) => {
      const inbox = new PullInbox(nc);
      const waiting = drain(inbox.pull(STREAM, 'c', 1, 2000));
      const deadline = Date.now() + 20_000;
      while ((await jsm.consumers.info(STREAM, 'c')).num_waiting === 0) {
        assert.ok(Date.now() < deadline, 'the first pull never reached the server');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const refused = await drain(inbox.pull(STREAM, 'c', 1, 30_000));
      assert.ok(refused.error instanceof PullError, String(refused.error));
      assert.equal(refused.error.code, '409');
      // The first one simply expires: no cells, no error.
      assert.deepEqual(await waiting, { messages: [] });
      // 2.9 answers nothing to a pull of a consumer that is gone: it ends here once its wait is over.
      await jsm.consumers.delete(STREAM, 'c');
      const missing = await drain(inbox.pull(STREAM, 'c', 1, 1000));
      assert.ok(missing.error instanceof PullError, String(missing.error));
      assert.equal(missing.error.code, 'TIMEOUT');
      inbox.close();
    },
    { max_waiting: 1 },
  );
});
