// A million-cell dry-run sweep over NATS, end to end: the coordinator plans, queues and writes rows from 4
// worker processes (--dry-run: no computation, the orchestration alone), then compact, aggregate, report and
// export run on the result. Prints the wall time and peak RSS of each step and the part files left.
// Usage: npm run bench -- million [--cells 1000000] [--workers 4] [--slots 4] [--cli path/to/main.js]
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { root } from './common.js';

const { values } = parseArgs({
  options: {
    cells: { type: 'string', default: '1000000' },
    workers: { type: 'string', default: '4' },
    slots: { type: 'string', default: '4' },
    cli: { type: 'string', default: join(root, 'packages/cli/dist/src/main.js') },
  },
});
const { startNatsServer } = await import(join(root, 'packages/queue/dist/test/nats-server.js'));
const cells = Number(values.cells);

/** Runs a hessweep command under /usr/bin/time; its wall seconds, peak RSS (MB) and the lines it wrote, each with the second it arrived. */
function timed(args, cwd) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-f', 'PEAK_RSS_KB=%M', process.execPath, values.cli, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = [];
    let rest = '';
    child.stderr.on('data', (data) => {
      const text = rest + data;
      const parts = text.split('\n');
      rest = parts.pop();
      for (const line of parts) lines.push({ at: (performance.now() - started) / 1000, line });
    });
    child.stdout.on('data', () => {});
    child.on('exit', (code) => {
      const seconds = (performance.now() - started) / 1000;
      const rss = lines.map(({ line }) => /PEAK_RSS_KB=(\d+)/.exec(line)).find(Boolean);
      if (code !== 0) reject(new Error(`hessweep ${args[0]} exited ${code}: ${lines.slice(-5).map((l) => l.line).join('\n')}`));
      else resolve({ seconds, rssMb: rss ? Number(rss[1]) / 1024 : NaN, lines });
    });
  });
}

const dir = await mkdtemp(join(tmpdir(), 'hessweep-million-'));
const server = await startNatsServer();
const workers = [];
const results = [];
const report = (step, { seconds, rssMb }, extra = '') => {
  results.push({ step, seconds, rssMb });
  console.log(`${step.padEnd(34)} ${seconds.toFixed(1).padStart(7)} s  ${rssMb.toFixed(0).padStart(6)} MB${extra ? `  ${extra}` : ''}`);
};
try {
  const widths = Array.from({ length: 100 }, (_, i) => i + 1);
  const seeds = Array.from({ length: Math.ceil(cells / 1000) }, (_, i) => i);
  const spec = { name: 'million', grid: { dataset: ['synthetic'], width: widths, depth: [1, 2, 3, 4, 5], seed: seeds, sample_size: [32, 64] } };
  await writeFile(join(dir, 'spec.json'), JSON.stringify(spec));
  const total = widths.length * 5 * seeds.length * 2;
  console.log(`${total} no-op cells, coordinator → NATS (file store) → ${values.workers} worker processes × ${values.slots} slots, on ${process.env.HOSTNAME ?? 'this machine'}:`);
  for (let i = 0; i < Number(values.workers); i++) {
    workers.push(spawn(process.execPath, [values.cli, 'worker', '--nats', server.url, '--dry-run', '--concurrency', values.slots, '--quiet', '--name', `million-${i}`], { stdio: 'ignore' }));
  }
  const coordinator = await timed(['coordinator', 'spec.json', '--nats', server.url, '--out', 'out'], dir);
  const firstProgress = coordinator.lines.find(({ line }) => line.startsWith('progress '));
  report('coordinator (plan, queue, run)', coordinator, `${(total / coordinator.seconds).toFixed(0)} cells/s overall; first progress line at ${firstProgress?.at.toFixed(1) ?? '?'} s`);
  const sweepDir = join(dir, 'out', 'million');
  const partsAfterRun = (await readdir(join(sweepDir, 'parts'))).length;
  console.log(`  part files after the run: ${partsAfterRun}`);
  report('compact', await timed(['compact', sweepDir], dir), `part files after: ${(await readdir(join(sweepDir, 'parts'))).length}`);
  report('aggregate', await timed(['aggregate', sweepDir], dir));
  const reportRun = await timed(['report', sweepDir], dir);
  report('report', reportRun, `index.html ${((await stat(join(sweepDir, 'report', 'index.html'))).size / 1e6).toFixed(2)} MB`);
  report('export --to parquet', await timed(['export', sweepDir, '--to', 'parquet'], dir));
} finally {
  for (const worker of workers) worker.kill('SIGKILL');
  await server.cleanup();
  await rm(dir, { recursive: true, force: true });
}
