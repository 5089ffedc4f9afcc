// What the link-fault tests share (issue 13): sweeps on a virtual cluster of network namespaces (test/netns.js)
// with nats-server (one, or a 3-node JetStream cluster), the coordinator and each worker on hosts of their own.
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtualCluster, netnsUnavailable } from './netns.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'packages/cli/dist/src/main.js');
// The CLI tests' helpers: a spec, the rows of a sweep, and the one poll and exit wait with deadlines.
export const { syntheticSpec, partRows, until, exitWithin } = await import(join(root, 'packages/cli/dist/test/support.js'));
export const unavailable = netnsUnavailable();
export const SWEEP_MS = 300_000;

const cleanups = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A child process in the cluster with its output collected and its exit awaited. */
export function watched(child) {
  let text = '';
  child.stdout.on('data', (d) => (text += d));
  child.stderr.on('data', (d) => (text += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  return { child, output: () => text, exited };
}

/**
 * The end every scenario checks: the coordinator exits 0 (`explain()` is added to the error when it does not
 * exit), each of `workers` ({name: process}) exits 0 on SIGTERM, and sweep `sweep` under `dir`/out has one row
 * per cell, `cells` in all, every one ok. Returns the rows.
 */
export async function expectCleanEnd({ coordinator, workers, dir, sweep, cells, explain = () => '' }) {
  const exited = await exitWithin(coordinator, SWEEP_MS, 'the coordinator').catch((error) => {
    throw new Error(`${error.message}${explain()}`);
  });
  assert.equal(exited, 0, coordinator.output());
  for (const w of Object.values(workers)) w.child.kill('SIGTERM');
  for (const [name, w] of Object.entries(workers)) assert.equal(await exitWithin(w, 60_000, `worker ${name}`), 0, w.output());
  const rows = await partRows(join(dir, 'out', sweep));
  assert.equal(rows.length, cells, 'one row per cell');
  assert.equal(new Set(rows.map((r) => r.cell_id)).size, cells, 'no cell twice');
  assert.ok(rows.every((r) => r.status === 'ok'), `statuses: ${rows.map((r) => `${r.status} ${r.error ?? ''}`).join('; ')}`);
  return rows;
}

/** A cluster and a temp dir for the sweep's files, both removed after the test file. */
async function clusterWithDir() {
  const cluster = VirtualCluster.create();
  const dir = await mkdtemp(join(tmpdir(), 'hessweep-partition-'));
  cleanups.push(async () => {
    await cluster.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  const hessweep = (host, args) => watched(cluster.spawn(host, process.execPath, [cli, ...args], { cwd: dir }));
  return { cluster, dir, hessweep };
}

/** nats-server on host `nats` and hosts `coordinator`, `w1`…`wN`, all on one network `lan`. */
export async function sweepCluster(workers) {
  const { cluster, dir, hessweep } = await clusterWithDir();
  cluster.addNetwork('lan');
  const nats = cluster.addHost('nats', ['lan']).lan;
  cluster.addHost('coordinator', ['lan']);
  for (let w = 1; w <= workers; w++) cluster.addHost(`w${w}`, ['lan']);
  const server = watched(cluster.spawn('nats', 'nats-server', ['-a', nats, '-p', '4222', '-js', '-sd', join(dir, 'store'), '-m', '8222']));
  await until(() => /Server is ready/.test(server.output()), 'nats-server to listen', 30_000);
  return { cluster, dir, url: `nats://${nats}:4222`, hessweep };
}

/**
 * A 3-node JetStream cluster: servers `n1`…`n3` talk to each other on network `peers` and to their clients on
 * `lan`, so that a server can be cut off from its peers but not from its clients. Hosts `coordinator`,
 * `w1`…`wN` are on `lan`. `urls(first)` lists every server's client URL with `first` at the front (for
 * `--nats-in-order`); `jsz(server)` is that server's JetStream monitoring page (/jsz with streams and consumers), fetched from
 * inside the cluster.
 */
export async function natsClusterOf3(workers) {
  const { cluster, dir, hessweep } = await clusterWithDir();
  cluster.addNetwork('lan');
  cluster.addNetwork('peers');
  const names = ['n1', 'n2', 'n3'];
  const address = Object.fromEntries(names.map((n) => [n, cluster.addHost(n, ['lan', 'peers'])]));
  cluster.addHost('coordinator', ['lan']);
  for (let w = 1; w <= workers; w++) cluster.addHost(`w${w}`, ['lan']);
  const servers = {};
  for (const n of names) {
    const routes = names.filter((m) => m !== n).map((m) => `"nats-route://${address[m].peers}:6222"`);
    const config = join(dir, `${n}.conf`);
    await writeFile(
      config,
      [
        `server_name: ${n}`,
        `listen: "${address[n].lan}:4222"`,
        `http: "${address[n].lan}:8222"`,
        `jetstream { store_dir: "${join(dir, n)}" }`,
        `cluster { name: c3, listen: "${address[n].peers}:6222", routes: [${routes.join(', ')}] }`,
      ].join('\n'),
    );
    servers[n] = watched(cluster.spawn(n, 'nats-server', ['-c', config]));
  }
  const url = (n) => `nats://${address[n].lan}:4222`;
  const jsz = (server) => {
    const fetchPage = `fetch('http://${address[server].lan}:8222/jsz?streams=1&consumers=1').then((r) => r.text()).then((t) => process.stdout.write(t))`;
    return JSON.parse(cluster.run('coordinator', process.execPath, ['-e', fetchPage]));
  };
  // Formed: every node names the same meta leader, which sees both peers current (an R3 stream needs all three).
  const formed = () => {
    let metas;
    try {
      metas = names.map((n) => jsz(n).meta_cluster);
    } catch {
      return false; // a server not listening yet
    }
    const leader = metas[0]?.leader;
    if (!leader || metas.some((m) => m?.leader !== leader)) return false;
    const replicas = metas[names.indexOf(leader)]?.replicas ?? [];
    return replicas.length === 2 && replicas.every((r) => r.current);
  };
  await until(formed, 'the 3 nats-servers to form a JetStream cluster', 60_000, 500).catch((error) => {
    throw new Error(`${error.message}; their logs:\n${names.map((n) => `--- ${n}\n${servers[n].output()}`).join('\n')}`);
  });
  return { cluster, dir, hessweep, servers, names, urls: (first) => [first, ...names.filter((n) => n !== first)].map(url).join(','), url, jsz };
}
