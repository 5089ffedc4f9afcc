/**
 * `hessweep report`: one self-contained HTML page for a sweep (inline SVG figures, inline CSS, no scripts, no
 * network) at `<sweep>/report/index.html`, and every figure also as `<sweep>/report/<name>.svg`. Its size
 * depends on the grid, not on the number of cells: figures draw group statistics (a fixed-size sample for the
 * bound scatter) and the tables stop at a fixed number of rows.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { openSweepForReading, readConsistently, writeFileAtomic, type Manifest } from '@hessweep/results';
import type { AggregateResult } from './aggregate.js';
import { buildFigures, type Figure, type FigureSet } from './figures.js';
import { readReportData, type ReportSnapshot } from './report-data.js';
import type { GroupField, Stat, SummaryRow } from './types.js';

export interface ReportOptions {
  /**
   * EMA factor of the D_k curves of cells without the in-cell smoothed D_k (older sweeps; the paper smooths with
   * 0.99); 0 (default) draws them raw. Cells that smoothed D_k themselves are drawn smoothed whatever this is.
   */
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
  /** Bytes of index.html. */
  bytes: number;
}

/** Rows of the summary table on the page; the rest are in `hessweep aggregate`'s summary.csv. */
export const MAX_SUMMARY_ROWS = 1000;
/** Rows of the failed-cells table on the page; the rest are in `hessweep aggregate --format json`. */
export const MAX_FAILED_ROWS = 200;

/** How a live report (`report --watch`) stands: shown at the top of the page, which then reloads itself. */
export interface LiveStatus {
  /** Cells with a row, ok or failed. */
  done: number;
  failed: number;
  /** The manifest's cell_count. */
  total: number;
  /** Cells per second lately; null until known. */
  rate: number | null;
  /** Seconds until every cell has a row at that rate; null when unknown. */
  etaSeconds: number | null;
  /** Seconds between reloads of the page. */
  reloadSeconds: number;
  /** Lines about parts that could not be used (damaged, foreign). */
  warnings: string[];
}

/**
 * Writes `<sweepDir>/report/` from one pass over the sweep (readReportData): each figure as `<name>.svg`, then
 * `index.html` last (each file to a temp name, then renamed), and removes `.svg` files of earlier reports that
 * this one no longer draws.
 */
export async function writeReport(sweepDir: string, options: ReportOptions = {}): Promise<ReportResult> {
  const { manifest, parts, data } = await readConsistently(sweepDir, async () => {
    const view = await openSweepForReading(sweepDir, { requireManifest: true });
    return { ...view, ...(await readReportData(view.parts)) };
  });
  return renderReport({ sweepDir, manifest: manifest!, snapshot: data.snapshot(parts.length), options });
}

export interface RenderInput {
  sweepDir: string;
  manifest: Manifest;
  snapshot: ReportSnapshot;
  options: ReportOptions;
  live?: LiveStatus;
}

/** Draws the figures and writes report/ (see writeReport) for a snapshot of a sweep. */
export async function renderReport(input: RenderInput): Promise<ReportResult> {
  const { sweepDir, options } = input;
  const set = await buildFigures(input.snapshot.figures, {
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
  const html = renderHtml({ ...input, set, now: options.now ?? new Date() });
  const htmlPath = join(dir, 'index.html');
  await writeFileAtomic(htmlPath, (write) => write(html));

  const keep = new Set(set.figures.map((f) => `${f.name}.svg`));
  for (const name of await readdir(dir)) {
    if ((name.endsWith('.svg') && !keep.has(name)) || name.includes('.tmp-')) await rm(join(dir, name), { force: true });
  }
  return { html: htmlPath, figures: figurePaths, notes: set.notes, bytes: Buffer.byteLength(html) };
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
section#progress { margin: 14px 0 0; background: white; border: 1px solid var(--line); border-left: 4px solid var(--accent); border-radius: 6px; padding: 10px 14px; }
section#progress .big { font-size: 18px; font-weight: 600; }
`;

interface HtmlInput extends RenderInput {
  set: FigureSet;
  now: Date;
}

const KEY_TITLE: Record<GroupField, string> = { dataset: 'dataset', width: 'width', depth: 'depth', sample_size: 'm', seed: 'seed' };

/** 1234567 → `1,234,567`. */
const count = (n: number) => n.toLocaleString('en-US');

function renderHtml(input: HtmlInput): string {
  const { manifest, snapshot, set, options, live } = input;
  const { summary, okCells: ok, failedCells: failed } = snapshot;
  const name = manifest.sweep ?? (manifest.spec as { name?: string } | undefined)?.name ?? input.sweepDir;
  const withRow = ok + failed;
  const total = Math.max(manifest.cell_count ?? 0, withRow);
  const missing = Math.max(0, total - withRow);
  const h = escapeHtml;

  const meta = [
    `${count(total)} cells: <span class="ok">${count(ok)} ok</span>, <span class="${failed ? 'bad' : ''}">${count(failed)} failed</span>, ${count(missing)} not run`,
    `${count(summary.rows.length)} group${summary.rows.length === 1 ? '' : 's'}`,
    `report written ${h(input.now.toISOString())}`,
  ].join(' · ');

  const figureHtml = set.figures.map((f, i) => figureBlock(f, i + 1)).join('\n');
  const notes = set.notes.length
    ? `<h3>Figures not drawn</h3>\n<ul class="notes">${set.notes.map((n) => `<li>${h(n)}</li>`).join('')}</ul>`
    : '';
  const families = [...set.families]
    .map(([d, f]) => `${h(d)}: widths at depth ${f.fixedDepth ?? '–'}, depths at width ${f.fixedWidth ?? '–'}`)
    .join('; ');
  const smoothing = `Dₖ smoothed in the cell (EMA α = 0.99 over every k) where stored, else ${options.smoothing ? `EMA β = ${options.smoothing} over the stored k` : 'raw'}`;
  // Only a live report reloads itself; the finished page stays static.
  const reload = live ? `\n<meta http-equiv="refresh" content="${live.reloadSeconds}">` : '';

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">${reload}
<title>hessweep report: ${h(name)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>
<h1>hessweep report: ${h(name)}</h1>
${live ? progressBlock(live, input.now) : ''}
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
${summaryTable(summary, input.sweepDir)}
</section>

<section id="failed">
<h2>Failed cells</h2>
${failedTable(summary, input.sweepDir)}
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

/** `3 min 20 s`, `2 h 5 min`. */
function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** One line of how a live report stands: cells done of the total, failures, rate and ETA (the page's header and the terminal's line). */
export function progressText(live: LiveStatus): string {
  const percent = live.total > 0 ? ` (${((100 * live.done) / live.total).toFixed(1)}%)` : '';
  const rate = live.rate === null ? 'rate not known yet' : `${formatNumber(live.rate)} cells/s`;
  const eta = live.done >= live.total ? 'every cell has a row' : live.etaSeconds === null ? 'ETA not known yet' : `ETA ${formatDuration(live.etaSeconds)}`;
  return `${count(live.done)} / ${count(live.total)} cells done${percent} · ${count(live.failed)} failed · ${rate} · ${eta}`;
}

function progressBlock(live: LiveStatus, now: Date): string {
  const warnings = live.warnings.map((w) => `<br><span class="bad">${escapeHtml(w)}</span>`).join('');
  return `<section id="progress">
<span class="big">${escapeHtml(progressText(live))}</span>
<br><span class="meta">Live report, updated ${escapeHtml(now.toISOString())}; this page reloads itself every ${live.reloadSeconds} s while <code>hessweep report --watch</code> runs.</span>${warnings}
</section>`;
}

function figureBlock(f: Figure, n: number): string {
  return `<figure class="figure" id="fig-${f.name}">
<div class="plot">${scopeSvgIds(f.svg, `fig-${f.name}`)}</div>
<figcaption><b>Figure ${n}.</b> ${escapeHtml(f.caption)} <code>${f.name}.svg</code></figcaption>
</figure>`;
}

/** The line under a table cut at `shown` of `all` rows, saying where the rest are. */
function moreLine(shown: number, all: number, what: string, where: string): string {
  return all > shown ? `<p class="meta">… and ${count(all - shown)} more ${what} (${count(shown)} of ${count(all)} shown): ${where}.</p>` : '';
}

function summaryTable(summary: AggregateResult, sweepDir: string): string {
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
  const shown = summary.rows.slice(0, MAX_SUMMARY_ROWS);
  const body = shown
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
</table></div>
${moreLine(shown.length, summary.rows.length, 'groups', `<code>hessweep aggregate ${escapeHtml(sweepDir)}</code> writes every group to summary.csv and summary.arrow`)}`;
}

function failedTable(summary: AggregateResult, sweepDir: string): string {
  if (summary.failed.length === 0) return '<p class="meta">None: every cell with a row finished.</p>';
  const shown = summary.failed.slice(0, MAX_FAILED_ROWS);
  const rows = shown
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
</table></div>
${moreLine(shown.length, summary.failed.length, 'failed cells', `<code>hessweep aggregate ${escapeHtml(sweepDir)} --format json</code> lists every one`)}`;
}

/** Counts by name, most first; names of equal count alphabetically. */
function byCount(counts: ReadonlyMap<string, number>): [string, number][] {
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

function provenance(input: HtmlInput): string {
  const { manifest, snapshot } = input;
  const { rows, stages, okCells } = snapshot;
  const cells = okCells + snapshot.failedCells;
  const h = escapeHtml;
  const versions = Object.entries(manifest.versions ?? {}).map(([k, v]) => `${h(k)} ${h(String(v))}`).join(', ') || '–';
  const backends = byCount(rows.backends).map(([b, n]) => `${h(b)} (${count(n)})`).join(', ') || '–';
  const workers = byCount(rows.workers);
  const workerText = workers.length
    ? `${workers.length}: ${workers.slice(0, 12).map(([w, n]) => `${h(w)} (${count(n)})`).join(', ')}${workers.length > 12 ? `, … ${workers.length - 12} more` : ''}`
    : '–';
  const attempts = rows.maxAttempt;
  const stageRows = stages
    .map((s) => `<tr><td class="text">${s.stage.replace(/_s$/, '')}</td><td>${formatNumber(s.mean)}</td><td>${formatNumber(s.max)}</td></tr>`)
    .join('');
  return `<dl class="prov">
<dt>sweep directory</dt><dd><code>${h(input.sweepDir)}</code></dd>
<dt>versions</dt><dd>${versions}</dd>
<dt>spec hash</dt><dd><code>${h(manifest.spec_hash ?? '–')}</code></dd>
<dt>created</dt><dd>${h(manifest.created ?? '–')}</dd>
<dt>updated</dt><dd>${h(manifest.updated ?? '–')}</dd>
<dt>backends (rows)</dt><dd>${backends}</dd>
<dt>workers (rows)</dt><dd>${workerText}</dd>
<dt>rows read</dt><dd>${count(rows.rows)} (for ${count(cells)} cells; at most ${attempts} attempt${attempts === 1 ? '' : 's'} per cell)</dd>
<dt>total compute</dt><dd>${formatSeconds(rows.seconds)} over every row read</dd>
</dl>
<h3>Seconds per stage, over the ${count(okCells)} ok cells</h3>
<div class="table-wrap" style="max-width: 420px"><table class="stages">
<thead><tr><th class="text">stage</th><th>mean s</th><th>max s</th></tr></thead>
<tbody>${stageRows}</tbody>
</table></div>`;
}
