// Aggregation at scale: a results directory of 1,000,000 rows (100 part files × 10,000 rows; see
// synthetic-sweep.js), then `aggregate` + `writeSummary` timed in a fresh child process, with its peak RSS.
// Targets: under 10 s and under 2 GB.
// Usage: npm run bench -- aggregate [--rows 1000000] [--parts 100] [--dir DIR (reused if complete)] [--keep] [--runs 1]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { lib, partsBytes, peakRssKb } from './common.js';
import { syntheticSweep } from './synthetic-sweep.js';

const here = fileURLToPath(import.meta.url);
const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    parts: { type: 'string', default: '100' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    runs: { type: 'string', default: '1' },
    child: { type: 'string' },
  },
});

if (values.child) {
  // The measured process: aggregate + writeSummary on a directory, one JSON line of results.
  const { aggregate, writeSummary } = await lib('analysis');
  const start = performance.now();
  const result = await aggregate(values.child);
  const aggregated = performance.now();
  await writeSummary(values.child, result);
  const end = performance.now();
  process.stdout.write(`${JSON.stringify({
    aggregate_s: (aggregated - start) / 1000, summary_s: (end - aggregated) / 1000, total_s: (end - start) / 1000,
    groups: result.rows.length, cells: result.cells, failed: result.failed.length, parts: result.parts,
    ok: result.rows.reduce((s, r) => s + r.seeds_ok, 0), max_rss_mb: process.resourceUsage().maxRSS / 1024,
  })}\n`);
  process.exit(0);
}

const rows = Number(values.rows);
const parts = Number(values.parts);
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'hessweep-bench-aggregate-'));
try {
  await syntheticSweep(dir, rows, parts);
  const partsDir = join(dir, 'parts');
  console.log(`results: ${(partsBytes(partsDir) / 2 ** 30).toFixed(2)} GiB of part files`);
  const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
  for (let r = 0; r < Number(values.runs); r++) {
    const args = [here, '--child', dir];
    const started = performance.now();
    const out = timeBin
      ? spawnSync(timeBin, ['-v', process.execPath, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 })
      : spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
    const wall = (performance.now() - started) / 1000;
    if (out.status !== 0) throw new Error(`aggregate child failed (${out.status}):\n${out.stderr}`);
    const child = JSON.parse(out.stdout.trim().split('\n').at(-1));
    const rssKb = timeBin ? peakRssKb(out.stderr) : child.max_rss_mb * 1024;
    const rssGb = rssKb / 2 ** 20;
    console.log(`run ${r + 1}: ${child.groups.toLocaleString('en-US')} groups, ${child.cells.toLocaleString('en-US')} cells (${child.ok.toLocaleString('en-US')} ok, ${child.failed.toLocaleString('en-US')} failed) from ${child.parts} parts`);
    console.log(`  aggregate ${child.aggregate_s.toFixed(2)} s + writeSummary ${child.summary_s.toFixed(2)} s = ${child.total_s.toFixed(2)} s in-process; ${wall.toFixed(2)} s wall for the process (start to exit)`);
    console.log(`  peak RSS ${rssGb.toFixed(2)} GiB${timeBin ? ' (/usr/bin/time -v)' : ' (process.resourceUsage)'}`);
    console.log(`  targets: under 10 s ${wall < 10 ? 'met' : 'MISSED'}, under 2 GB ${rssKb * 1024 < 2e9 ? 'met' : 'MISSED'}`);
  }
} finally {
  if (!values.keep && !values.dir) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
}
