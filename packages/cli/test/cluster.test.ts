/**
 * A 3-node JetStream cluster with replicas 3: a sweep over 3 workers survives kill -9 of one NATS server
 * mid-sweep with nothing lost and nothing duplicated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitWithin, partFiles, partRows, start, syntheticSpec, until, type Proc } from './support.js';

interface NatsServer {
  url: string;
  kill(): Promise<void>;
}
interface Harness {
  startNatsCluster(options?: { size?: number }): Promise<{ servers: NatsServer[]; urls: string; cleanup(): Promise<void> }>;
}
const harness = (await import(new URL('../../../queue/dist/test/nats-server.js', import.meta.url).href)) as Harness;

test('a 3-node cluster with replicas 3 finishes a sweep after kill -9 of one server mid-sweep', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hessweep-cluster-'));
  const cluster = await harness.startNatsCluster({ size: 3 });
  const procs: Proc[] = [];
  const launch = (args: string[]) => {
    // Every process gets the whole server list, as the deploy files give it (NATS_URL).
    const proc = start(args, dir, { NATS_URL: cluster.urls });
    procs.push(proc);
    return proc;
  };
  try {
    await writeFile(join(dir, 's.yaml'), syntheticSpec('ha', [4, 6, 8, 10, 12, 14], [0, 1, 2], { epochs: 6, sampleSize: 3000 }));
    for (const name of ['w1', 'w2', 'w3']) launch(['worker', '--concurrency', '1', '--name', name, '--backend', 'wasm']);
    const coordinator = launch(['coordinator', 's.yaml', '--replicas', '3', '--out', 'out', '--ack-wait', '5', '--quiet']);
    const parts = join(dir, 'out', 'ha', 'parts');
    await until(async () => (await partFiles(parts)).length >= 2 || coordinator.child.exitCode !== null, 'two part files');
    assert.equal(coordinator.child.exitCode, null, `the coordinator is mid-sweep when a server is killed:\n${coordinator.output()}`);
    await cluster.servers[0].kill();
    assert.equal(await exitWithin(coordinator, 180_000, 'the coordinator'), 0, coordinator.output());
    const rows = await partRows(join(dir, 'out', 'ha'));
    assert.equal(rows.length, 18);
    assert.equal(new Set(rows.map((r) => r.cell_id)).size, 18, 'nothing duplicated');
    assert.ok(rows.every((r) => r.status === 'ok'), 'nothing failed');
  } finally {
    for (const p of procs) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await cluster.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});
