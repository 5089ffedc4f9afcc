// A thousand workers against one coordinator: one process holds N NATS connections, each a real Worker with
// the dry-run runner (pulls sized by its free slots, lease heartbeats, presence in the workers bucket,
// publishes, acks), while the real coordinator CLI runs a dry-run sweep. Reports the sweep's rate, the CPU of
// nats-server, the coordinator and this process, how long `status --nats` takes with every worker listed,
// and — the same sweep again with presence off — what heartbeats and registry writes cost the server.
// Usage: npm run bench -- swarm [--workers 1000] [--slots 4] [--cells 100000]
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { lib, root } from './common.js';

const cli = join(root, 'packages/cli/dist/src/main.js');
const { startNatsServer } = await import(join(root, 'packages/queue/dist/test/nats-server.js'));
const { connectNats, closeNats, NatsQueue } = await lib('queue');
const { Worker, dryRunner } = await lib('worker');
const { values } = parseArgs({ options: { workers: { type: 'string', default: '1000' }, slots: { type: 'string', default: '4' }, cells: { type: 'string', default: '100000' } } });
const workerCount = Number(values.workers);
const slots = Number(values.slots);
const cells = Number(values.cells);

const ticks = 100; // USER_HZ on Linux
async function cpuSeconds(pid) {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}
const ownCpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

function hessweep(args, cwd) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [cli, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve({ out, seconds: (performance.now() - started) / 1000 }) : reject(new Error(`hessweep ${args[0]} exited ${code}: ${err}`))));
  });
}

/** One sweep with `workerCount` in-process workers; presence (the workers bucket) on or off. */
async function sweep(name, presence) {
  const dir = await mkdtemp(join(tmpdir(), 'hessweep-swarm-'));
  const server = await startNatsServer();
  const connections = [];
  const workers = [];
  try {
    const widths = Array.from({ length: 100 }, (_, i) => i + 1);
    const seeds = Array.from({ length: Math.ceil(cells / 100) }, (_, i) => i);
    await writeFile(join(dir, 'spec.json'), JSON.stringify({ name, grid: { dataset: ['synthetic'], width: widths, depth: [1], seed: seeds, sample_size: [64] } }));
    const connectStarted = performance.now();
    for (let i = 0; i < workerCount; i++) {
      const nc = await connectNats({ servers: server.url, name: `swarm-${i}` });
      connections.push(nc);
    }
    const connectSeconds = (performance.now() - connectStarted) / 1000;
    // The coordinator creates the streams; workers wait for them as real ones do.
    const coordinatorStarted = performance.now();
    const coordinator = spawn(process.execPath, [cli, 'coordinator', 'spec.json', '--nats', server.url, '--out', 'out', '--quiet'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let coordinatorErr = '';
    coordinator.stderr.on('data', (d) => (coordinatorErr += d));
    // Its exit time, taken when it exits (status queries may still be running then).
    const coordinatorDone = new Promise((resolve, reject) =>
      coordinator.on('exit', (code) => {
        const at = performance.now();
        if (code !== 0) reject(new Error(`coordinator exited ${code}: ${coordinatorErr}`));
        else cpuSeconds(server.process.pid).then((cpu) => resolve({ at, serverCpu: cpu, swarmCpu: ownCpu() }), reject);
      }),
    );
    const serverCpu0 = await cpuSeconds(server.process.pid);
    const own0 = ownCpu();
    for (const [i, nc] of connections.entries()) {
      let queue;
      for (;;) {
        try {
          queue = await NatsQueue.open(nc, {});
          break;
        } catch (error) {
          if (error.name !== 'NoStreamsError') throw error;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      const worker = new Worker(queue, { slots, maxAttempts: 3, backend: 'cpu', name: `swarm-${i}`, createRunner: dryRunner, directory: presence ? queue.workers : undefined });
      workers.push({ worker, queue, running: worker.run() });
    }
    let status = [];
    {
      // Asked in both runs, so that the difference in server CPU is presence alone. Asked while the sweep runs, once the start-up burst (each worker binds to the streams: six API
      // requests, six thousand in all) has passed.
      for (let attempt = 0; attempt < 3; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 5000));
        const asked = performance.now();
        try {
          const listed = await hessweep(['status', '--nats', server.url, '--json'], dir);
          status.push(`${JSON.parse(listed.out).workers.length} workers in ${listed.seconds.toFixed(2)} s`);
        } catch (error) {
          status.push(`failed after ${((performance.now() - asked) / 1000).toFixed(1)} s (${error.message.trim().split('\n').pop()})`);
        }
      }
    }
    // Counted up to the coordinator's exit: the status queries of the first run may go on after it.
    const done = await coordinatorDone;
    const seconds = (done.at - coordinatorStarted) / 1000;
    const serverCpu = done.serverCpu - serverCpu0;
    const swarmCpu = done.swarmCpu - own0;
    return { seconds, connectSeconds, serverCpu, swarmCpu, status };
  } finally {
    for (const { worker } of workers) worker.stop('drain');
    await Promise.all(workers.map(({ running }) => running.catch(() => undefined)));
    await Promise.all(workers.map(({ queue }) => queue.close()));
    await Promise.all(connections.map((nc) => closeNats(nc, 1000)));
    await server.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
}

const withPresence = await sweep('swarm', true);
const without = await sweep('swarm-quiet', false);
const share = (withPresence.serverCpu - without.serverCpu) / withPresence.serverCpu;
console.log(`${cells} no-op cells, ${workerCount} workers × ${slots} slots in one process (${workerCount} NATS connections), coordinator CLI, nats-server file store:`);
console.log(`  connecting ${workerCount} clients: ${withPresence.connectSeconds.toFixed(1)} s`);
console.log(`  sweep: ${withPresence.seconds.toFixed(1)} s, ${(cells / withPresence.seconds).toFixed(0)} cells/s (coordinator start to exit, workers connected meanwhile)`);
console.log(`  CPU: nats-server ${withPresence.serverCpu.toFixed(1)} s, the ${workerCount} workers ${withPresence.swarmCpu.toFixed(1)} s`);
console.log(`  status --nats (process start to exit), asked 5, 10 and 15 s into the sweep: ${withPresence.status.join('; ')}`);
console.log(`the same sweep with presence off (no workers bucket writes): ${without.seconds.toFixed(1)} s, nats-server CPU ${without.serverCpu.toFixed(1)} s`);
console.log(`  presence and heartbeats: ${(100 * share).toFixed(1)}% of the server's CPU (difference of the two runs; noise ±5%)`);
