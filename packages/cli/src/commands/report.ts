import type { Argv } from 'yargs';
import { spawn } from 'node:child_process';
import { existsSync, statSync, watch, type FSWatcher } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { ReportOptions } from '@hessweep/analysis';
import { describeFailure, UsageError } from '../errors.js';

export function reportOptions(y: Argv) {
  return y
    .positional('dir', { type: 'string', demandOption: true, describe: 'the sweep directory, <out>/<name>' })
    .option('open', { type: 'boolean', default: false, describe: 'open the report in a browser (xdg-open / open)' })
    .option('smoothing', { type: 'number', default: 0, describe: 'EMA factor of the D_k curves of cells without the in-cell smoothed D_k (older sweeps), in [0, 1) (the paper: 0.99)' })
    .option('log-density', { type: 'boolean', default: false, describe: 'spectral densities on a log axis' })
    .option('watch', {
      type: 'boolean',
      default: false,
      describe: 'keep the report current while the sweep runs: re-render as part files land (reading only new ones), until Ctrl-C',
    })
    .option('interval', { type: 'number', default: 5, describe: 'with --watch: seconds between checks for new parts without a file event, and between page reloads' });
}

type ReportArgs = Awaited<ReturnType<typeof reportOptions>['argv']>;

/** How long file events must pause before a re-render: a coordinator writes several parts in a burst. */
const DEBOUNCE_MS = 500;

/** Writes <dir>/report/index.html (figures, summary, failed cells, provenance, spec) and one SVG per figure; with --watch, keeps them current. */
export async function reportCommand(args: ReportArgs): Promise<number> {
  const smoothing = args.smoothing;
  if (!Number.isFinite(smoothing) || smoothing < 0 || smoothing >= 1) throw new UsageError(`--smoothing must be in [0, 1) (0 = none, the paper: 0.99), got ${smoothing}`);
  const options: ReportOptions = { smoothing, logDensity: args['log-density'] };
  if (args.watch) return watchReport(args, options);
  const { writeReport } = await import('@hessweep/analysis');
  const result = await writeReport(args.dir, options);
  const lines = [`report: ${result.html} (${result.figures.length} figures)`];
  for (const note of result.notes) lines.push(`  not drawn: ${note}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (args.open) openInBrowser(result.html);
  return 0;
}

/**
 * `report --watch`: updates the report whenever parts/ changes (fs.watch, debounced) and at least every
 * --interval seconds (file events are not reliable everywhere), one update at a time, printing a progress line
 * whenever the page is rewritten. A failed update is one line on stderr and the next one tries again, except the
 * first (a wrong directory ends the command, exit 2). SIGINT or SIGTERM ends it after the update in progress: exit 0.
 */
async function watchReport(args: ReportArgs, options: ReportOptions): Promise<number> {
  const interval = args.interval;
  if (!Number.isFinite(interval) || interval < 0.2 || interval > 3600) throw new UsageError(`--interval must be between 0.2 and 3600 seconds, got ${interval}`);
  if (!existsSync(args.dir) || !statSync(args.dir).isDirectory()) throw new UsageError(`${args.dir}: no such directory; give a sweep directory, <out>/<sweep>`);
  const [{ LiveReport, progressText }, { sweepPaths }] = await Promise.all([import('@hessweep/analysis'), import('@hessweep/results')]);
  const live = new LiveReport(args.dir, { ...options, reloadSeconds: Math.max(1, Math.round(interval)) });
  const partsDir = sweepPaths(args.dir).parts;

  let stopping = false;
  let pending = false;
  let wake: (() => void) | null = null;
  let debounce: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | null = null;
  const poke = () => {
    pending = true;
    wake?.();
  };
  const onSignal = () => {
    if (!stopping) process.stderr.write('report --watch: stopping after the update in progress\n');
    stopping = true;
    wake?.();
  };
  /** Watches parts/ once it exists; until then (and if watching fails) the interval alone drives updates. */
  const watchParts = () => {
    if (watcher !== null || !existsSync(partsDir)) return;
    try {
      watcher = watch(partsDir, () => {
        clearTimeout(debounce);
        debounce = setTimeout(poke, DEBOUNCE_MS);
      });
      watcher.on('error', () => {
        watcher?.close();
        watcher = null;
      });
    } catch {
      watcher = null;
    }
  };

  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (let first = true; !stopping; first = false) {
      watchParts();
      pending = false;
      try {
        const started = performance.now();
        const update = await live.update();
        for (const warning of update.warnings) process.stderr.write(`hessweep: ${warning}\n`);
        if (update.result) {
          const seconds = ((performance.now() - started) / 1000).toFixed(1);
          const size = `${(update.result.bytes / 2 ** 20).toFixed(2)} MiB`;
          process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${progressText(update.status)} · ${update.result.html} (${size}, ${seconds} s${update.rebuilt ? ', read every part' : ''})\n`);
          if (first && args.open) openInBrowser(update.result.html);
        }
      } catch (error) {
        if (first) throw error;
        process.stderr.write(`hessweep: ${describeFailure(error, false).line}\n`);
      }
      if (pending || stopping) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, interval * 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    clearTimeout(debounce);
    (watcher as FSWatcher | null)?.close(); // set in watchParts
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return 0;
}

function openInBrowser(html: string): void {
  const opener = findOpener();
  if (opener) {
    const child = spawn(opener, [html], { detached: true, stdio: 'ignore' });
    child.on('error', () => process.stderr.write(`hessweep: could not run ${opener}; open ${html} yourself\n`));
    child.unref();
  } else {
    process.stderr.write(`no xdg-open or open on PATH; open ${html} in a browser\n`);
  }
}

/** `open` on macOS, `xdg-open` elsewhere, if on PATH. */
function findOpener(): string | null {
  const name = process.platform === 'darwin' ? 'open' : 'xdg-open';
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}
