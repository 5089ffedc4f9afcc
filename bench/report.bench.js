// Analysis at scale through the real CLI: `hessweep aggregate`, `hessweep report` and `hessweep export --to
// parquet` on a synthetic sweep of 1,000,000 result rows (100 part files × 10,000 rows; see synthetic-sweep.js),
// each in its own process under /usr/bin/time -v: wall time, CPU time (user + system), peak RSS, exit status,
// and the size of what it wrote (the report page, the export file). Targets at 1,000,000 cells: report ≤ 60 s and ≤ 2 GB peak RSS with
// a page ≤ 5 MB; export ≤ 120 s. `watch` runs `hessweep report --watch` on the directory: the time to its first
// page, then to the page after a part of 5,000 new cells lands, then after a compaction-like swap (that part
// copied to a newer name, the original removed), then SIGINT (Ctrl-C): its exit status and peak RSS.
// Usage: npm run bench -- report [--rows 1000000] [--parts 100] [--dir DIR (reused if complete)] [--keep]
//          [--cli packages/cli/dist/src/main.js (another build's, to compare)] [--commands aggregate,report,export,watch]
//          [--timeout 900 (seconds per command)]
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { partsBytes, peakRssKb, root } from './common.js';
import { syntheticSweep, writeNewCells } from './synthetic-sweep.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    parts: { type: 'string', default: '100' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    cli: { type: 'string', default: join(root, 'packages/cli/dist/src/main.js') },
    commands: { type: 'string', default: 'aggregate,report,export,watch' },
    timeout: { type: 'string', default: '900' },
  },
});

const COMMANDS = {
  aggregate: (dir) => ({ args: ['aggregate', dir, '--format', 'arrow'], output: join(dir, 'summary.arrow') }),
  report: (dir) => ({ args: ['report', dir], output: join(dir, 'report', 'index.html') }),
  export: (dir) => ({ args: ['export', dir, '--to', 'parquet'], output: join(dir, 'export.parquet') }),
};

const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
const sizeOf = (path) => (existsSync(path) ? statSync(path).size : null);

/** Runs the CLI once under /usr/bin/time -v: wall seconds, peak RSS, exit status, the last line of stderr. */
function measure(args) {
  const timeout = Number(values.timeout) * 1000;
  const started = performance.now();
  // GNU time writes its report to a file of its own, apart from whatever the command prints.
  const report = join(mkdtempSync(join(tmpdir(), 'hessweep-time-')), 'time.txt');
  const out = spawnSync('/usr/bin/time', ['-v', '-o', report, process.execPath, resolve(values.cli), ...args], { encoding: 'utf8', maxBuffer: 1 << 28, timeout, killSignal: 'SIGKILL' });
  const stats = existsSync(report) ? readFileSync(report, 'utf8') : '';
  rmSync(dirname(report), { recursive: true, force: true });
  const wall = (performance.now() - started) / 1000;
  const rssKb = peakRssKb(stats);
  // CPU seconds (user + system) say what wall time would be on an idle machine, whatever else runs on it.
  const cpu = ['User', 'System'].reduce((s, kind) => s + Number(new RegExp(`${kind} time \\(seconds\\): ([\\d.]+)`).exec(stats)?.[1] ?? Number.NaN), 0);
  const said = [...(out.stderr ?? '').split('\n'), ...stats.split('\n')].filter((l) => /^hessweep:|signal|FATAL/.test(l)).at(-1) ?? '';
  const status = out.error?.code === 'ETIMEDOUT' ? `killed after ${values.timeout} s` : `exit ${out.status}`;
  return { wall, cpu, rssKb, status, said };
}

/** Seconds as `12.3 s`. */
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

/**
 * `report --watch` under /usr/bin/time -v: waits for each progress line (one per page written) after each step,
 * with the command's timeout as the deadline, and prints the times; the parts it adds are removed afterwards.
 */
async function measureWatch(dir) {
  // Its own process group: SIGINT goes to the group, which GNU time ignores while report --watch stops on it.
  const started = performance.now();
  const child = spawn('/usr/bin/time', ['-v', process.execPath, resolve(values.cli), 'report', dir, '--watch', '--interval', '2'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((done) => child.on('exit', (code, signal) => done(code ?? signal)));
  const lines = () => stdout.split('\n').filter((l) => l.includes(' cells done ')).length;
  const deadline = Date.now() + Number(values.timeout) * 1000;
  const nextPage = async (seen) => {
    while (lines() <= seen) {
      if (Date.now() > deadline) throw new Error(`report --watch wrote no page within ${values.timeout} s:\n${stdout}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return stdout.split('\n').filter((l) => l.includes(' cells done ')).at(-1);
  };
  const added = join(dir, 'parts', 'part-900000.arrow');
  const compacted = join(dir, 'parts', 'part-900001.arrow');
  /** Waits for the page after page `seen`; prints how long it took since `at` and the progress line. */
  const step = async (what, seen, at) => {
    const line = await nextPage(seen);
    console.log(`${seen === 0 ? 'watch    ' : '         '} ${what}, page after ${secs(performance.now() - at)}: ${line.slice(9, 200)}`);
  };
  try {
    await step('first', 0, started);
    await writeNewCells(dir, Number(values.rows), 5000, 'part-900000.arrow');
    await step('5,000 new cells landed', 1, performance.now());
    copyFileSync(added, `${compacted}.tmp-bench`);
    renameSync(`${compacted}.tmp-bench`, compacted);
    rmSync(added);
    await step('compaction-like swap', 2, performance.now());
  } finally {
    process.kill(-child.pid, 'SIGINT');
    rmSync(added, { force: true });
    rmSync(compacted, { force: true });
  }
  const status = await exited;
  const rssKb = peakRssKb(stderr);
  console.log(`          SIGINT: ${status === 0 ? 'exit 0' : `ended with ${status}`}; peak RSS ${(rssKb / 2 ** 20).toFixed(2)} GiB`);
}

if (!existsSync('/usr/bin/time')) {
  console.error('report bench: needs /usr/bin/time (GNU time) for the peak RSS of each command');
  process.exit(2);
}
const rows = Number(values.rows);
const parts = Number(values.parts);
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'hessweep-bench-report-'));
try {
  await syntheticSweep(dir, rows, parts);
  const partsDir = join(dir, 'parts');
  console.log(`results: ${(partsBytes(partsDir) / 2 ** 30).toFixed(2)} GiB of part files; CLI: ${values.cli}`);
  for (const name of values.commands.split(',')) {
    if (name === 'watch') {
      await measureWatch(dir);
      continue;
    }
    const command = COMMANDS[name];
    if (!command) throw new Error(`unknown command ${name}; give some of ${Object.keys(COMMANDS).join(', ')}, watch`);
    const { args, output } = command(dir);
    rmSync(output, { force: true });
    const { wall, cpu, rssKb, status, said } = measure(args);
    const written = sizeOf(output);
    console.log(
      `${name.padEnd(9)} ${wall.toFixed(1).padStart(7)} s wall  ${cpu.toFixed(1).padStart(7)} s CPU  peak RSS ${(rssKb / 2 ** 20).toFixed(2)} GiB  ${status}` +
        `${written === null ? '  (wrote nothing)' : `  ${output.slice(dir.length + 1)} ${mib(written)}`}` +
        `${status === 'exit 0' ? '' : `\n          ${said.slice(0, 300)}`}`,
    );
  }
} finally {
  if (!values.keep && !values.dir) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
}
