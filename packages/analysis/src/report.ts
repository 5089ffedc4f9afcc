/**
 * `hessweep report`: one self-contained HTML page for a sweep (inline SVG figures, inline CSS, no scripts, no
 * network) at `<sweep>/report/index.html`, and every figure also as `<sweep>/report/<name>.svg`.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResultRow } from '@hessweep/grid';
import { findWinners, openSweepForReading, readColumns, readConsistently, winningRows, writeFileAtomic, type Manifest } from '@hessweep/results';
import { aggregate, DEFAULT_BY, type AggregateResult } from './aggregate.js';
import { buildFigures, compareKeys, type Figure, type FigureSet } from './figures.js';
import type { GroupField, Stat, SummaryRow } from './types.js';

export interface ReportOptions {
  /** EMA factor of the D_k curves (the paper smooths with 0.99); 0 (default) draws them raw. */
  smoothing?: number;
  /** Spectral densities on a log axis. */
  logDensity?: boolean;
  /** Override the depth of the width family / the width of the depth family. */
  fixedDepth?: number;
  fixedWidth?: number;
  /** Time stamp printed on the page (default: now). */
  now?: Date;
}

export interface ReportResult {
  /** Path of the written `report/index.html`. */
  html: string;
  /** Paths of the written `report/<name>.svg`, in page order. */
  figures: string[];
  /** Figures not drawn, and why. */
  notes: string[];
}

const STAGES = ['load_s', 'train_s', 'losses_s', 'curve_s', 'hessian_s', 'ggn_s', 'trace_s', 'density_s', 'bound_s', 'total_s'] as const;

type Row = ResultRow;

/**
 * Writes `<sweepDir>/report/`: each figure as `<name>.svg`, then `index.html` last (each file to a temp name,
 * then renamed), and removes `.svg` files of earlier reports that this one no longer draws.
 */
export async function writeReport(sweepDir: string, options: ReportOptions = {}): Promise<ReportResult> {
  const { manifest, cells, rowsRead, computeSeconds } = await readConsistently(sweepDir, async () => {
    const view = await openSweepForReading(sweepDir, { requireManifest: true });
    return { manifest: view.manifest, ...(await readCells(view.parts)) };
  });
  const summary = await aggregate(sweepDir, DEFAULT_BY);
  const set = await buildFigures(cells, summary.rows, {
    smoothing: options.smoothing,
    logDensity: options.logDensity,
    fixedDepth: options.fixedDepth,
    fixedWidth: options.fixedWidth,
  });

  const dir = join(sweepDir, 'report');
  await mkdir(dir, { recursive: true });
  const figurePaths: string[] = [];
  for (const figure of set.figures) {
    const path = join(dir, `${figure.name}.svg`);
    await writeFileAtomic(path, (write) => write(`<?xml version="1.0" encoding="UTF-8"?>\n${figure.svg}\n`));
    figurePaths.push(path);
  }
  const html = renderHtml({
    sweepDir, manifest: manifest!, summary, cells, rowsRead, computeSeconds, set, options, now: options.now ?? new Date(),
  });
  const htmlPath = join(dir, 'index.html');
  await writeFileAtomic(htmlPath, (write) => write(html));

  const keep = new Set(set.figures.map((f) => `${f.name}.svg`));
  for (const name of await readdir(dir)) {
    if ((name.endsWith('.svg') && !keep.has(name)) || name.includes('.tmp-')) await rm(join(dir, name), { force: true });
  }
  return { html: htmlPath, figures: figurePaths, notes: set.notes };
}

/**
 * The row standing for each cell (the sweep store's rule: the last ok row, else its last failed row), and
 * the compute time of every row read (retries included).
 */
async function readCells(parts: readonly string[]): Promise<{ cells: Row[]; rowsRead: number; computeSeconds: number }> {
  const cells: Row[] = [];
  for await (const row of winningRows(parts, await findWinners(parts))) cells.push(row);
  cells.sort(
    (a, b) => compareKeys(a.dataset, b.dataset) || a.width - b.width || a.depth - b.depth || a.sample_size - b.sample_size || a.seed - b.seed,
  );
  let rowsRead = 0;
  let computeSeconds = 0;
  for (const path of parts) {
    for (const batch of await readColumns(path, ['total_s'])) {
      const seconds = batch.columns.get('total_s')!.values as Float64Array;
      rowsRead += batch.numRows;
      for (let i = 0; i < batch.numRows; i++) if (Number.isFinite(seconds[i])) computeSeconds += seconds[i]!;
    }
  }
  return { cells, rowsRead, computeSeconds };
}

// ---------------------------------------------------------------------------------------------------------
// HTML

const escapeHtml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** 3 significant digits; exponent form for very large or small magnitudes; an en dash for no value. */
export function formatNumber(x: number | null | undefined): string {
  if (typeof x !== 'number' || !Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(2).replace('e+', 'e');
  return String(Number(x.toPrecision(3)));
}

/** `mean ± ci95`, or the mean alone for one value. */
export function formatStat(s: Stat | undefined): string {
  if (!s || s.n === 0 || !Number.isFinite(s.mean)) return '–';
  return s.n > 1 && Number.isFinite(s.ci95) ? `${formatNumber(s.mean)} ± ${formatNumber(s.ci95)}` : formatNumber(s.mean);
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '–';
  if (s < 120) return `${formatNumber(s)} s`;
  if (s < 7200) return `${formatNumber(s / 60)} min (${Math.round(s)} s)`;
  return `${formatNumber(s / 3600)} h (${Math.round(s)} s)`;
}

/** Gives every `id` of an SVG a prefix (and the references to it), so several SVGs can share one page. */
export function scopeSvgIds(svg: string, prefix: string): string {
  const ids = new Set([...svg.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!));
  if (ids.size === 0) return svg;
  let out = svg;
  for (const id of ids) {
    const safe = id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    out = out
      .replace(new RegExp(`(\\sid=")${safe}"`, 'g'), `$1${prefix}-${id}"`)
      .replace(new RegExp(`url\\(#${safe}\\)`, 'g'), `url(#${prefix}-${id})`)
      .replace(new RegExp(`(href=")#${safe}"`, 'g'), `$1#${prefix}-${id}"`);
  }
  return out;
}

const CSS = `
:root { color-scheme: light; --ink: #1d2430; --muted: #5b6573; --line: #d9dee5; --bg: #f6f7f9; --accent: #2f5d8a; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--ink); background: var(--bg); }
main { max-width: 1400px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 12px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 8px; }
p.meta { color: var(--muted); margin: 0; }
nav { margin: 14px 0 0; font-size: 14px; }
nav a { color: var(--accent); margin-right: 16px; text-decoration: none; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 18px; }
figure.figure { margin: 0; background: white; border: 1px solid var(--line); border-radius: 6px; padding: 12px; }
figure.figure .plot { overflow-x: auto; }
figure.figure svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 8px; }
figcaption b { color: var(--ink); }
ul.notes { color: var(--muted); font-size: 14px; }
.table-wrap { overflow-x: auto; background: white; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: #eef1f5; font-weight: 600; position: sticky; top: 0; }
td.text, th.text { text-align: left; }
td.error { text-align: left; white-space: pre-wrap; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; max-width: 60ch; }
tr.has-failed td { background: #fff6f4; }
dl.prov { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; background: white; border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; margin: 0; }
dl.prov dt { color: var(--muted); }
dl.prov dd { margin: 0; }
pre.spec { background: white; border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; overflow-x: auto; font-size: 12.5px; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.92em; }
.ok { color: #2c7a3f; } .bad { color: #b3361f; }
`;

interface HtmlInput {
  sweepDir: string;
  manifest: Manifest;
  summary: AggregateResult;
  cells: Row[];
  rowsRead: number;
  computeSeconds: number;
  set: FigureSet;
  options: ReportOptions;
  now: Date;
}

const KEY_TITLE: Record<GroupField, string> = { dataset: 'dataset', width: 'width', depth: 'depth', sample_size: 'm', seed: 'seed' };

function renderHtml(input: HtmlInput): string {
  const { manifest, summary, cells, set, options } = input;
  const name = manifest.sweep ?? (manifest.spec as { name?: string } | undefined)?.name ?? input.sweepDir;
  const ok = cells.filter((c) => c.status === 'ok').length;
  const failed = cells.length - ok;
  const total = Math.max(manifest.cell_count ?? 0, cells.length);
  const missing = Math.max(0, total - cells.length);
  const h = escapeHtml;

  const meta = [
    `${total} cells: <span class="ok">${ok} ok</span>, <span class="${failed ? 'bad' : ''}">${failed} failed</span>, ${missing} not run`,
    `${summary.rows.length} group${summary.rows.length === 1 ? '' : 's'}`,
    `report written ${h(input.now.toISOString())}`,
  ].join(' · ');

  const figureHtml = set.figures.map((f, i) => figureBlock(f, i + 1)).join('\n');
  const notes = set.notes.length
    ? `<h3>Figures not drawn</h3>\n<ul class="notes">${set.notes.map((n) => `<li>${h(n)}</li>`).join('')}</ul>`
    : '';
  const families = [...set.families]
    .map(([d, f]) => `${h(d)}: widths at depth ${f.fixedDepth ?? '–'}, depths at width ${f.fixedWidth ?? '–'}`)
    .join('; ');
  const smoothing = options.smoothing ? `EMA smoothing β = ${options.smoothing}` : 'no smoothing';

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>hessweep report: ${h(name)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>
<h1>hessweep report: ${h(name)}</h1>
<p class="meta">${meta}</p>
<p class="meta">Kiselev &amp; Grabovoy (2024), “Unraveling the Hessian”: loss-difference curves D<sub>k</sub>, Hessian spectra and the Theorem 1 bound of fully connected ReLU networks.</p>
<nav><a href="#figures">Figures</a><a href="#summary">Summary</a><a href="#failed">Failed cells</a><a href="#provenance">Provenance</a><a href="#spec">Spec</a></nav>
</header>

<section id="figures">
<h2>Figures</h2>
<p class="meta">Families: ${families || 'none'}; ${h(smoothing)}.</p>
<div class="figures">
${figureHtml}
</div>
${notes}
</section>

<section id="summary">
<h2>Summary</h2>
${summaryTable(summary)}
</section>

<section id="failed">
<h2>Failed cells</h2>
${failedTable(summary)}
</section>

<section id="provenance">
<h2>Provenance</h2>
${provenance(input)}
</section>

<section id="spec">
<h2>Spec</h2>
<pre class="spec"><code>${h(JSON.stringify(manifest.spec ?? null, null, 2))}</code></pre>
</section>
</main>
</body>
</html>
`;
}

function figureBlock(f: Figure, n: number): string {
  return `<figure class="figure" id="fig-${f.name}">
<div class="plot">${scopeSvgIds(f.svg, `fig-${f.name}`)}</div>
<figcaption><b>Figure ${n}.</b> ${escapeHtml(f.caption)} <code>${f.name}.svg</code></figcaption>
</figure>`;
}

function summaryTable(summary: AggregateResult): string {
  const keys = summary.by;
  const stats: [keyof SummaryRow, string][] = [
    ['lambda_max', 'λ<sub>max</sub>'],
    ['ggn_lambda_max', 'GGN λ<sub>max</sub>'],
    ['trace', 'trace H'],
    ['loss_diff_slope', 'slope of D<sub>k</sub>'],
    ['train_accuracy', 'train accuracy'],
    ['bound_ratio', 'bound / λ<sub>max</sub>'],
  ];
  const head = [
    ...keys.map((k) => `<th class="text">${KEY_TITLE[k]}</th>`),
    '<th>seeds ok</th><th>failed</th>',
    ...stats.map(([, t]) => `<th>${t}</th>`),
  ].join('');
  const body = summary.rows
    .map((r) => {
      const cells = [
        ...keys.map((k) => `<td class="${typeof r.key[k] === 'number' ? '' : 'text'}">${escapeHtml(String(r.key[k] ?? '–'))}</td>`),
        `<td>${r.seeds_ok}</td><td>${r.seeds_failed}</td>`,
        ...stats.map(([f]) => `<td>${formatStat(r[f] as Stat)}</td>`),
      ];
      return `<tr class="group${r.seeds_failed ? ' has-failed' : ''}">${cells.join('')}</tr>`;
    })
    .join('\n');
  return `<p class="meta">One row per ${keys.map((k) => KEY_TITLE[k]).join(' × ')}: mean over the ok seeds ± the half-width of the 95% confidence interval (Student t); one seed shows the value alone.</p>
<div class="table-wrap"><table class="summary">
<thead><tr>${head}</tr></thead>
<tbody>
${body}
</tbody>
</table></div>`;
}

function failedTable(summary: AggregateResult): string {
  if (summary.failed.length === 0) return '<p class="meta">None: every cell with a row finished.</p>';
  const rows = summary.failed
    .map(
      (f) =>
        `<tr><td class="text"><code>${escapeHtml(f.cell_id)}</code></td><td class="text">${escapeHtml(f.dataset)}</td><td>${f.width}</td><td>${f.depth}</td><td>${f.sample_size}</td><td>${f.seed}</td><td class="error">${escapeHtml(f.error ?? '(no error recorded)')}</td></tr>`,
    )
    .join('\n');
  return `<div class="table-wrap"><table class="failed">
<thead><tr><th class="text">cell</th><th class="text">dataset</th><th>width</th><th>depth</th><th>m</th><th>seed</th><th class="text">error</th></tr></thead>
<tbody>
${rows}
</tbody>
</table></div>`;
}

function countBy<T>(items: readonly T[], key: (t: T) => string): [string, number][] {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

function provenance(input: HtmlInput): string {
  const { manifest, cells, rowsRead, computeSeconds } = input;
  const h = escapeHtml;
  const ok = cells.filter((c) => c.status === 'ok');
  const versions = Object.entries(manifest.versions ?? {}).map(([k, v]) => `${h(k)} ${h(String(v))}`).join(', ') || '–';
  const backends = countBy(cells, (c) => c.backend || '?').map(([b, n]) => `${h(b)} (${n})`).join(', ') || '–';
  const workers = countBy(cells, (c) => c.worker || '?');
  const workerText = workers.length
    ? `${workers.length}: ${workers.slice(0, 12).map(([w, n]) => `${h(w)} (${n})`).join(', ')}${workers.length > 12 ? `, … ${workers.length - 12} more` : ''}`
    : '–';
  const attempts = cells.length ? Math.max(...cells.map((c) => c.attempt ?? 1)) : 0;
  const stageRows = STAGES.map((s) => {
    const values = ok.map((c) => c[s]).filter((v) => Number.isFinite(v));
    const mean = values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
    return `<tr><td class="text">${s.replace(/_s$/, '')}</td><td>${formatNumber(mean)}</td><td>${formatNumber(values.length ? Math.max(...values) : Number.NaN)}</td></tr>`;
  }).join('');
  return `<dl class="prov">
<dt>sweep directory</dt><dd><code>${h(input.sweepDir)}</code></dd>
<dt>versions</dt><dd>${versions}</dd>
<dt>spec hash</dt><dd><code>${h(manifest.spec_hash ?? '–')}</code></dd>
<dt>created</dt><dd>${h(manifest.created ?? '–')}</dd>
<dt>updated</dt><dd>${h(manifest.updated ?? '–')}</dd>
<dt>backends</dt><dd>${backends}</dd>
<dt>workers</dt><dd>${workerText}</dd>
<dt>rows read</dt><dd>${rowsRead} (for ${cells.length} cells; at most ${attempts} attempt${attempts === 1 ? '' : 's'} per cell)</dd>
<dt>total compute</dt><dd>${formatSeconds(computeSeconds)} over every row read</dd>
</dl>
<h3>Seconds per stage, over the ${ok.length} ok cells</h3>
<div class="table-wrap" style="max-width: 420px"><table class="stages">
<thead><tr><th class="text">stage</th><th>mean s</th><th>max s</th></tr></thead>
<tbody>${stageRows}</tbody>
</table></div>`;
}
