// 10,000 no-op cells (workers with --dry-run) through coordinator → NATS → 4 worker processes → Arrow parts,
// and the same sweep through the embedded queue. Needs nats-server (Debian package) on PATH.
// Usage: npm run bench -- nats [--cells 10000] [--workers 4] [--cli path/to/main.js (another build, side by side)]
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { root } from './common.js';

const { startNatsServer } = await import(join(root, 'packages/queue/dist/test/nats-server.js'));
const { values } = parseArgs({
  options: { cells: { type: 'string', default: '10000' }, workers: { type: 'string', default: '4' }, cli: { type: 'string', default: join(root, 'packages/cli/dist/src/main.js') } },
});
const cli = values.cli;
const cells = Number(values.cells);
const widths = Array.from({ length: 100 }, (_, i) => i + 1);
const seeds = Array.from({ length: Math.ceil(cells / 100) }, (_, i) => i);

function run(args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(err) : reject(new Error(`hessweep ${args[0]} exited ${code}: ${err}`))));
  });
}

const dir = await mkdtemp(join(tmpdir(), 'hessweep-nats-bench-'));
const server = await startNatsServer();
const workers = [];
try {
  const spec = (name) => JSON.stringify({ name, grid: { dataset: ['synthetic'], width: widths, depth: [1], seed: seeds, sample_size: [64] } });
  await writeFile(join(dir, 'nats.json'), spec('bench-nats'));
  await writeFile(join(dir, 'embedded.json'), spec('bench-embedded'));
  const total = widths.length * seeds.length;

  for (let i = 0; i < Number(values.workers); i++) {
    workers.push(spawn(process.execPath, [cli, 'worker', '--nats', server.url, '--dry-run', '--concurrency', '4', '--quiet', '--name', `bench-${i}`], { stdio: 'ignore' }));
  }
  let start = performance.now();
  await run(['coordinator', 'nats.json', '--nats', server.url, '--out', 'out', '--quiet'], dir);
  const natsSeconds = (performance.now() - start) / 1000;

  start = performance.now();
  await run(['run', 'embedded.json', '--dry-run', '--out', 'out', '--concurrency', '4', '--quiet'], dir);
  const embeddedSeconds = (performance.now() - start) / 1000;

  console.log(`${total} no-op cells, coordinator → NATS (nats-server ${server.version ?? '2.9'}, file store) → ${values.workers} worker processes × 4 slots → Arrow:`);
  console.log(`  ${natsSeconds.toFixed(2)} s, ${(total / natsSeconds).toFixed(0)} cells/s (coordinator process start to exit)`);
  console.log(`the same through the embedded queue (one process, 4 slots):`);
  console.log(`  ${embeddedSeconds.toFixed(2)} s, ${(total / embeddedSeconds).toFixed(0)} cells/s`);
} finally {
  for (const w of workers) w.kill('SIGKILL');
  await server.cleanup();
  await rm(dir, { recursive: true, force: true });
}
