/**
 * The report of a real (tiny) sweep, opened in headless Chromium: the file loads, every figure is laid out and
 * has drawn marks, the bound figure plots exactly the rows on disk, the summary has one row per group as
 * counted here from the part files, failed cells are listed, and the page makes no other request and logs no
 * errors. Needs /usr/bin/chromium (Debian's `chromium`); without it this test fails rather than skips.
 * HESSWEEP_KEEP_REPORT=1 keeps the sweep, the report and a screenshot (an artifact to look at, not evidence).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { openSweepForReading, readResultFile, writeResultFile } from '@hessweep/results';
import type { ResultRow } from '@hessweep/grid';
import { writeReport } from '../src/report.js';

const run = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const MAIN = join(ROOT, 'packages/cli/dist/src/main.js');
/** The stabilization figures of one family (the probes are on by default, isotropic Δ2 included). */
const stabilization = (family: string) =>
  ['delta2-sub', 'delta2-iso', 'delta2-ratio', 'delta2-gm', 'nsuff-d1', 'nsuff-d2'].map((name) => `${name}-${family}-synthetic`);
const FIGURES = [
  'dk-width-synthetic', 'dk-depth-synthetic', ...stabilization('width'), ...stabilization('depth'), 'lambda-width', 'lambda-depth', 'trace-width',
  'trace-depth', 'slope-width', 'slope-depth', 'bound', 'density-width-synthetic', 'density-depth-synthetic',
];

const SPEC = `name: tiny
grids:
  - dataset: synthetic        # widths at depth 2
    width: [4, 8]
    depth: 2
    seed: [0, 1]
    sample_size: 300
  - dataset: synthetic        # depths at width 4
    width: 4
    depth: [1, 2]
    seed: [0, 1]
    sample_size: 300
synthetic:
  dim: 16
  classes: 3
train:
  epochs: 2
measure:
  permutations: 20
  top_k: 2
`;

/** The summary's leading cells for one group, as the table prints them: dataset, width, depth, m, ok, failed. */
function expectedGroups(rows: ResultRow[]): string[] {
  const groups = new Map<string, { ok: number; failed: number }>();
  for (const row of rows) {
    const key = [row.dataset, row.width, row.depth, row.sample_size].join('|');
    const group = groups.get(key) ?? { ok: 0, failed: 0 };
    if (row.status === 'ok') group.ok++;
    else group.failed++;
    groups.set(key, group);
  }
  return [...groups].map(([key, { ok, failed }]) => [key, ok, failed].join('|')).sort();
}

/** The DOM members the in-page checks use (this package compiles without the DOM library). */
interface PageElement {
  tagName: string;
  textContent: string | null;
  getAttribute(name: string): string | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
  getBBox(): { width: number; height: number };
}

/**
 * Per figure: the drawn mark elements inside Vega's mark groups (paths with a drawing command, lines), counted
 * only when the browser gives them a non-empty box, and the mark groups that have none.
 */
function countDrawnMarks(svg: PageElement): { drawn: number; empty: string[] } {
  const empty: string[] = [];
  let drawn = 0;
  for (const group of Array.from(svg.querySelectorAll('g.role-mark'))) {
    const marks = Array.from(group.querySelectorAll('path, line, rect, circle')).filter((el) => {
      if (el.tagName === 'path' && !/[MmLlHhVvCcSsQqTtAa]\s*-?[\d.]/.test(el.getAttribute('d') ?? '')) return false;
      const box = el.getBBox();
      return box.width > 0 || box.height > 0;
    });
    drawn += marks.length;
    if (marks.length === 0) empty.push(group.getAttribute('class') ?? '?');
  }
  return { drawn, empty };
}

/** Whether this build of the CLI has the report command (it is wired into main.ts separately). */
const cliHasReport = () => existsSync(MAIN) && /reportCommand/.test(readFileSync(MAIN, 'utf8'));

test('report of a real sweep renders in headless Chromium: all figures, one summary row per group, no errors', { timeout: 60_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)`);
  assert.ok(existsSync(MAIN), `${MAIN} is missing: build the CLI first (npx tsc -b packages/cli)`);
  const dir = await mkdtemp(join(tmpdir(), 'hessweep-report-'));
  const keep = process.env.HESSWEEP_KEEP_REPORT === '1';
  try {
    await writeFile(join(dir, 'tiny.yaml'), SPEC);
    await run(process.execPath, [MAIN, 'run', 'tiny.yaml', '--out', 'out', '--quiet', '--concurrency', '2'], { cwd: dir });
    const sweepDir = join(dir, 'out', 'tiny');

    // A failed cell of a fourth group (width 16, depth 2), in a part of its own, as a worker would leave it.
    const { parts, manifest } = await openSweepForReading(sweepDir, { requireManifest: true });
    const rows: ResultRow[] = parts.flatMap((path) => readResultFile(path).rows);
    assert.equal(rows.length, 6);
    const failed: ResultRow = {
      ...rows[0], cell_id: '00000000deadbeef', width: 16, depth: 2, seed: 0, status: 'failed', error: 'Error: out of memory <test>',
      n_params: null, train_loss: null, train_accuracy: null, loss_diff_k: null, loss_diff: null, loss_diff_slope: null,
      hessian_top: null, hessian_residuals: null, hessian_iters: null, ggn_top: null, ggn_residuals: null, ggn_iters: null,
      hessian_trace: null, ggn_trace: null, hessian_trace_hutchinson: null, hessian_trace_se: null,
      density_x: null, density_y: null, bound: null, m_w: null, m_x: null, attempt: 3,
      loss_diff_smooth: null, stab_subspace: null, stab_sigma: null, delta2_iso: null, delta2_sub: null, delta2_sub_quad: null, delta2_sub_gm: null,
      stab_thresholds: null, n_suff_d1: null, n_suff_d1_fit: null, n_suff_d2: null, n_suff_d2_fit: null,
    };
    await writeResultFile(join(sweepDir, 'parts', 'part-99999999999999-0-000000.arrow'), [failed], { sweep: 'tiny', specHash: manifest!.spec_hash, version: '0' });
    rows.push(failed);
    // Every cell id is distinct here (no retries in this sweep), so each row is one cell of its group.
    assert.equal(new Set(rows.map((r) => r.cell_id)).size, rows.length);
    const okRows = rows.filter((r) => r.status === 'ok');

    let htmlPath: string;
    if (cliHasReport()) {
      const { stdout } = await run(process.execPath, [MAIN, 'report', sweepDir, '--smoothing', '0.99']);
      htmlPath = join(sweepDir, 'report', 'index.html');
      assert.match(stdout, new RegExp(`${FIGURES.length} figures`));
      const bad = await run(process.execPath, [MAIN, 'report', dir]).then(() => null, (error: { code: number; stderr: string }) => error);
      assert.equal(bad?.code, 2);
      assert.match(bad!.stderr, /no manifest\.json/);
    } else {
      htmlPath = (await writeReport(sweepDir, { smoothing: 0.99 })).html;
    }
    assert.equal(htmlPath, join(sweepDir, 'report', 'index.html'));
    const written = (await readdir(join(sweepDir, 'report'))).sort();
    assert.deepEqual(written, [...FIGURES.map((f) => `${f}.svg`), 'index.html'].sort());
    const html = await readFile(htmlPath, 'utf8');
    assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org\/)/, 'no scripts, no network references');

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(`console: ${message.text()}`);
      });
      page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
      page.on('request', (request) => requests.push(request.url()));
      const url = pathToFileURL(htmlPath).href;
      const response = await page.goto(url, { waitUntil: 'load' });
      // playwright-core 1.65 answers a file:// navigation in Chromium with a Response (status 200); a missing
      // file throws net::ERR_FILE_NOT_FOUND. So no response, or one that is not ok, fails here.
      assert.ok(response, `page.goto(${url}) returned no response`);
      assert.equal(response.url(), url);
      assert.equal(response.status(), 200);
      assert.ok(response.ok());

      assert.match(await page.title(), /hessweep report: tiny/);
      const figures = page.locator('figure.figure');
      assert.equal(await figures.count(), FIGURES.length);
      const svgs = page.locator('figure.figure svg');
      assert.equal(await svgs.count(), FIGURES.length);
      for (let i = 0; i < FIGURES.length; i++) {
        const figure = figures.nth(i);
        assert.equal(await figure.getAttribute('id'), `fig-${FIGURES[i]}`);
        await figure.scrollIntoViewIfNeeded();
        const box = await svgs.nth(i).boundingBox();
        assert.ok(box && box.width > 100 && box.height > 100, `${FIGURES[i]}: svg box ${JSON.stringify(box)}`);
        const marks = await svgs.nth(i).evaluate(countDrawnMarks);
        assert.ok(marks.drawn > 0, `${FIGURES[i]}: no drawn marks`);
        assert.deepEqual(marks.empty, [], `${FIGURES[i]}: mark groups with nothing drawn`);
      }

      // The bound figure plots one point per ok cell at (λ_max, bound) of that cell's row on disk.
      const labels = await page.locator('#fig-bound svg [aria-roledescription="point"]').evaluateAll((points) => points.map((p) => p.getAttribute('aria-label') ?? ''));
      const plotted = labels.map((label) => {
        const match = /measured λₘₐₓ of the Hessian: ([^;]+); Theorem 1 bound: ([^;]+)/.exec(label);
        assert.ok(match, `bound point label: ${label}`);
        return [Number(match[1]), Number(match[2])];
      });
      assert.equal(plotted.length, okRows.length);
      const near = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.abs(b);
      for (const row of okRows) {
        const [lambda, bound] = [row.hessian_top![0]!, row.bound!];
        assert.ok(plotted.some(([x, y]) => near(x!, lambda) && near(y!, bound)), `no point at (${lambda}, ${bound}) for cell ${row.cell_id}`);
      }

      // Summary: one row per group of the rows read above (widths 4, 8, 16 at depth 2, depth 1 at width 4),
      // with its key and counts; the group whose only cell failed is flagged.
      const summary = await page.locator('table.summary tbody tr').evaluateAll((trs) =>
        (trs as unknown as PageElement[]).map((tr) => Array.from(tr.querySelectorAll('td')).slice(0, 6).map((td) => td.textContent?.trim() ?? '').join('|')),
      );
      assert.deepEqual(summary.sort(), expectedGroups(rows));
      assert.equal(await page.locator('table.summary tbody tr.has-failed').count(), 1);
      const failedRows = page.locator('table.failed tbody tr');
      assert.equal(await failedRows.count(), 1);
      assert.match(await failedRows.first().innerText(), /00000000deadbeef[\s\S]*out of memory <test>/);
      assert.match(await page.locator('#provenance').innerText(), /wasm|cpu|tensorflow/);
      assert.match(await page.locator('pre.spec').innerText(), /"name": "tiny"/);

      assert.deepEqual(errors, []);
      assert.deepEqual(requests, [url], 'the page requests nothing but itself');
      if (keep) await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  } finally {
    if (keep) process.stderr.write(`kept ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  }
});
