/**
 * A 3-node JetStream cluster with replicas 3: a sweep over 3 workers survives kill -9 of one NATS server
 * mid-sweep with nothing lost and nothing duplicated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, partRows, syntheticSpec } from './support.js';

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
  const children: ChildProcess[] = [];
  const launch = (args: string[]) => {
    // Every process gets the whole server list, as the deploy files give it (NATS_URL).
    const child = spawn(process.execPath, [cli, ...args], { cwd: dir, env: { ...process.env, NATS_URL: cluster.urls }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    children.push(child);
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    return { exited, output: () => output };
  };
  try {
    await writeFile(join(dir, 's.yaml'), syntheticSpec('ha', [4, 6, 8, 10, 12, 14], [0, 1, 2], { epochs: 6, sampleSize: 3000 }));
    for (const name of ['w1', 'w2', 'w3']) launch(['worker', '--concurrency', '1', '--name', name, '--backend', 'wasm']);
    const coordinator = launch(['coordinator', 's.yaml', '--replicas', '3', '--out', 'out', '--ack-wait', '5', '--quiet']);
    const parts = join(dir, 'out', 'ha', 'parts');
    const deadline = Date.now() + 60_000;
    while ((await readdir(parts).catch(() => [] as string[])).filter((n) => n.endsWith('.arrow')).length < 2) {
      assert.ok(Date.now() < deadline, `no part file within 60 s:\n${coordinator.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await cluster.servers[0].kill();
    assert.equal(await coordinator.exited, 0, coordinator.output());
    const rows = await partRows(join(dir, 'out', 'ha'));
    assert.equal(rows.length, 18);
    assert.equal(new Set(rows.map((r) => r.cell_id)).size, 18, 'nothing duplicated');
    assert.ok(rows.every((r) => r.status === 'ok'), 'nothing failed');
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await cluster.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});
