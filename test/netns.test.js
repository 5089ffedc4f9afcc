// The virtual cluster of test/netns.js: hosts reach each other over their networks, a cut host is unreachable
// (and reaches no one) until healed, a host on two networks cut from one is still reachable on the other, and
// nothing is left behind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtualCluster, netnsUnavailable } from './netns.js';

// The CLI tests' one poll with a deadline that fails loudly.
const { until } = await import(join(dirname(fileURLToPath(import.meta.url)), '../packages/cli/dist/test/support.js'));

const unavailable = netnsUnavailable();
const clusters = [];
after(async () => {
  for (const cluster of clusters) await cluster.destroy();
});

const PORT = 7400;
const LISTEN = `require('node:net').createServer((s) => s.end('hello')).listen(${PORT}, process.argv[1], () => console.log('listening'))`;
// Exit 0 when a connection to host:port answers within 1 s, 1 otherwise (a cut link times out, never answers).
const PROBE = `const s = require('node:net').connect(${PORT}, process.argv[1]); const t = setTimeout(() => process.exit(1), 1000);
s.on('data', () => { clearTimeout(t); process.exit(0); }); s.on('error', () => process.exit(1));`;

function reaches(cluster, from, address) {
  try {
    cluster.run(from, process.execPath, ['-e', PROBE, address], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Starts a TCP server answering 'hello' on `address` inside host `name`, resolved once it listens. */
async function serve(cluster, name, address) {
  const child = cluster.spawn(name, process.execPath, ['-e', LISTEN, address]);
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  await until(() => {
    if (child.exitCode !== null) throw new Error(`server in ${name} exited ${child.exitCode}`);
    return out.includes('listening');
  }, `the server in ${name} to listen`, 20_000);
  return child;
}

test('hosts on one network reach each other; a cut host is unreachable and reaches no one until healed', { skip: unavailable ?? false }, async () => {
  const cluster = VirtualCluster.create();
  clusters.push(cluster);
  cluster.addNetwork('lan');
  const a = cluster.addHost('a', ['lan']);
  cluster.addHost('b', ['lan']);
  const c = cluster.addHost('c', ['lan']);
  await serve(cluster, 'a', a.lan);
  await serve(cluster, 'c', c.lan);
  await until(() => reaches(cluster, 'b', a.lan), 'b reaches a', 20_000);
  assert.ok(reaches(cluster, 'b', c.lan), 'b reaches c');

  cluster.cut('a');
  assert.equal(reaches(cluster, 'b', a.lan), false, 'b still reaches a after the cut');
  assert.equal(reaches(cluster, 'a', c.lan), false, 'a still reaches c after the cut');
  assert.ok(reaches(cluster, 'b', c.lan), 'b and c lost each other when only a was cut');

  cluster.heal('a');
  await until(() => reaches(cluster, 'b', a.lan), 'b reaches a again after the heal', 20_000);
  assert.ok(reaches(cluster, 'a', c.lan), 'a reaches c after the heal');

  await cluster.destroy();
  assert.deepEqual(cluster.leftovers(), []);
  assert.equal(cluster.children.size, 0);
});

test('a host on two networks cut from one is still reached on the other', { skip: unavailable ?? false }, async () => {
  const cluster = VirtualCluster.create();
  clusters.push(cluster);
  cluster.addNetwork('clients');
  cluster.addNetwork('peers');
  const server = cluster.addHost('server', ['clients', 'peers']);
  cluster.addHost('client', ['clients']);
  cluster.addHost('peer', ['peers']);
  await serve(cluster, 'server', '0.0.0.0');
  await until(() => reaches(cluster, 'client', server.clients), 'client reaches server', 20_000);
  await until(() => reaches(cluster, 'peer', server.peers), 'peer reaches server', 20_000);

  cluster.cut('server', 'peers');
  assert.equal(reaches(cluster, 'peer', server.peers), false, 'the peer still reaches the server after its peer link was cut');
  assert.ok(reaches(cluster, 'client', server.clients), 'the client lost the server when only the peer link was cut');

  cluster.heal('server', 'peers');
  await until(() => reaches(cluster, 'peer', server.peers), 'peer reaches server after the heal', 20_000);
  await cluster.destroy();
  assert.deepEqual(cluster.leftovers(), []);
});
