/**
 * `hessweep report --watch` as a user runs it: the real binary on a real sweep directory keeps report/index.html
 * current as part files land and as a compaction replaces small parts with a merged one, reloads itself while the
 * plain report stays static, and stops on SIGTERM with exit code 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readManifest, readResultFile, writeResultFile } from '@hessweep/results';
import type { ResultRow } from '@hessweep/grid';
import { cli, hessweep, syntheticSpec, withDir } from './support.js';

/** Polls `check` every 200 ms until it returns true; fails loudly with `what` and the last state after `seconds`. */
async function waitFor(what: string, seconds: number, check: () => boolean, state: () => string): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what}: not seen within ${seconds} s; last state: ${state()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The counts the page's header shows: "<total> cells: <ok> ok, <failed> failed". */
function pageCounts(html: string): string {
  const m = /([\d,]+) cells: <span class="ok">([\d,]+) ok<\/span>, <span class="[^"]*">([\d,]+) failed<\/span>/.exec(html);
  return m ? `${m[2]} ok, ${m[3]} failed` : '(no counts on the page)';
}

test('report --watch follows new parts and a compaction, reloads itself, and exits 0 on SIGTERM', { timeout: 240_000 }, async () => {
  await withDir('watch', async (dir) => {
    await writeFile(join(dir, 'w.yaml'), syntheticSpec('w', [4, 6], [0]));
    const run = await hessweep(['run', 'w.yaml', '--out', 'out', '--quiet'], dir);
    assert.equal(run.code, 0, run.stderr);
    const sweepDir = join(dir, 'out', 'w');
    const partsDir = join(sweepDir, 'parts');
    const [first] = (await readdir(partsDir)).sort();
    const rows = readResultFile(join(partsDir, first!)).rows;
    const manifest = (await readManifest(join(sweepDir, 'manifest.json')))!;
    const meta = { sweep: 'w', specHash: manifest.spec_hash, version: '0' };
    /** Rows of new cells, as more of the sweep's workers would write them. */
    const more = (from: number, n: number, status: ResultRow['status'] = 'ok'): ResultRow[] =>
      Array.from({ length: n }, (_, i) => ({ ...rows[0]!, cell_id: `extra${String(from + i).padStart(11, '0')}`, seed: 100 + from + i, status, error: status === 'ok' ? null : 'lost' }));

    // The plain report: static, no reload.
    const plain = await hessweep(['report', sweepDir], dir);
    assert.equal(plain.code, 0, plain.stderr);
    const html = join(sweepDir, 'report', 'index.html');
    assert.doesNotMatch(readFileSync(html, 'utf8'), /http-equiv="refresh"|<script/);

    const child = spawn(process.execPath, [cli, 'report', sweepDir, '--watch', '--interval', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const page = () => (existsSync(html) ? readFileSync(html, 'utf8') : '');
    const state = () => `page: ${pageCounts(page())}; stdout: ${stdout.slice(-400)}; stderr: ${stderr.slice(-400)}`;
    try {
      await waitFor('the live page', 60, () => /http-equiv="refresh" content="1"/.test(page()) && pageCounts(page()) === '2 ok, 0 failed', state);
      assert.match(page(), /<section id="progress">[^]*2 \/ 2 cells done/);

      await writeResultFile(join(partsDir, 'part-90000000000000-0-000001.arrow'), more(0, 3), meta);
      await waitFor('a new part', 60, () => pageCounts(page()) === '5 ok, 0 failed', state);
      await writeResultFile(join(partsDir, 'part-90000000000000-0-000002.arrow'), [...more(3, 2), ...more(5, 1, 'failed')], meta);
      await waitFor('a part with a failure', 60, () => pageCounts(page()) === '7 ok, 1 failed', state);

      // A compaction: the two new parts merged into one written after them, then the small ones removed.
      const merged = [...more(0, 3), ...more(3, 2), ...more(5, 1, 'failed')];
      await writeResultFile(join(partsDir, 'part-90000000000001-0-000000.arrow'), merged, meta);
      await unlink(join(partsDir, 'part-90000000000000-0-000001.arrow'));
      await unlink(join(partsDir, 'part-90000000000000-0-000002.arrow'));
      await writeResultFile(join(partsDir, 'part-90000000000002-0-000000.arrow'), more(6, 2), meta);
      // Rows: the run's 2, the merged part's 6 and 2 more.
      await waitFor('the compaction and one more part', 60, () => pageCounts(page()) === '9 ok, 1 failed' && /rows read<\/dt><dd>10 /.test(page()), state);
      assert.match(stdout, /10 \/ 10 cells done \(100\.0%\) · 1 failed/);
      // Only the first update read every part; the others read the new parts alone, whenever they ran.
      assert.equal(stdout.split('read every part').length - 1, 1, stdout);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, state());
    assert.doesNotMatch(stderr, /internal error|cannot be used/, stderr);
  });
});
