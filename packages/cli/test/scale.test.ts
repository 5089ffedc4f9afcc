import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { scenario } from './nats-support.js';
import { start } from './support.js';

const WIDTHS = 100;
const SEEDS = 1000;

/**
 * The orchestration at sweep scale, without computation: 100,000 dry-run cells through the coordinator, two
 * worker processes and JetStream. No timings here (the `million` and `nats` benches hold the numbers): the
 * outcome is every cell exactly once, few part files, and a report that renders.
 */
test('100,000 dry-run cells over NATS: every cell exactly once, at most 200 part files, a report of every cell', { timeout: 900_000 }, () =>
  scenario(async ({ dir, server, procs }) => {
    const spec = { name: 'scale', grid: { dataset: ['synthetic'], width: Array.from({ length: WIDTHS }, (_, i) => i + 1), depth: [1], seed: Array.from({ length: SEEDS }, (_, i) => i), sample_size: [64] } };
    await writeFile(join(dir, 'spec.json'), JSON.stringify(spec));
    for (const name of ['a', 'b']) procs.push(start(['worker', '--nats', server.url, '--dry-run', '--concurrency', '8', '--quiet', '--name', name], dir));
    const coordinator = start(['coordinator', 'spec.json', '--nats', server.url, '--out', 'out'], dir);
    procs.push(coordinator);
    assert.equal(await coordinator.exited, 0, coordinator.output().slice(-2000));

    // Read with apache-arrow directly, not through the store under test: each (width, seed) once, all ok.
    const partsDir = join(dir, 'out', 'scale', 'parts');
    const parts = (await readdir(partsDir)).filter((name) => name.endsWith('.arrow'));
    assert.ok(parts.length <= 200, `${parts.length} part files after the sweep`);
    const seen = new Uint8Array(WIDTHS * SEEDS);
    let rows = 0;
    for (const part of parts) {
      const table = tableFromIPC(await readFile(join(partsDir, part)));
      const width = table.getChild('width')!.toArray() as Int32Array;
      const seed = table.getChild('seed')!.toArray() as Int32Array;
      const status = table.getChild('status')!;
      for (let i = 0; i < table.numRows; i++) {
        assert.equal(status.get(i), 'ok', `row ${i} of ${part}`);
        seen[(width[i]! - 1) * SEEDS + seed[i]!]++;
      }
      rows += table.numRows;
    }
    assert.equal(rows, WIDTHS * SEEDS, 'rows in the part files');
    const wrong = [...seen.entries()].filter(([, count]) => count !== 1);
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} cells not exactly once`);

    const report = start(['report', join('out', 'scale')], dir);
    procs.push(report);
    assert.equal(await report.exited, 0, report.output().slice(-2000));
    // Dry-run rows carry no measurements, so no figure has points: the page is the summary of every cell.
    const html = await readFile(join(dir, 'out', 'scale', 'report', 'index.html'), 'utf8');
    assert.match(html, /\b100,?000 cells\b/, 'the report counts every cell');
    const summaryRows = (html.slice(html.indexOf('<h2>Summary')).match(/<tr/g) ?? []).length;
    assert.ok(summaryRows >= WIDTHS, `the summary has a row per width (groups of 1,000 seeds): ${summaryRows} rows`);
    assert.ok(html.length < 5e6, `a page of ${html.length} bytes`);
  }),
);
