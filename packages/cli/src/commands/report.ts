import type { Argv } from 'yargs';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { writeReport } from '@hessweep/analysis';
import { UsageError } from '../errors.js';

export function reportOptions(y: Argv) {
  return y
    .positional('dir', { type: 'string', demandOption: true, describe: 'the sweep directory, <out>/<name>' })
    .option('open', { type: 'boolean', default: false, describe: 'open the report in a browser (xdg-open / open)' })
    .option('smoothing', { type: 'number', default: 0, describe: 'EMA factor of the D_k curves, in [0, 1) (the paper: 0.99)' })
    .option('log-density', { type: 'boolean', default: false, describe: 'spectral densities on a log axis' });
}

type ReportArgs = Awaited<ReturnType<typeof reportOptions>['argv']>;

/** Writes <dir>/report/index.html (figures, summary, failed cells, provenance, spec) and one SVG per figure. */
export async function reportCommand(args: ReportArgs): Promise<number> {
  const smoothing = args.smoothing;
  if (!Number.isFinite(smoothing) || smoothing < 0 || smoothing >= 1) throw new UsageError(`--smoothing must be in [0, 1) (0 = none, the paper: 0.99), got ${smoothing}`);
  const result = await writeReport(args.dir, { smoothing, logDensity: args['log-density'] });
  const lines = [`report: ${result.html} (${result.figures.length} figures)`];
  for (const note of result.notes) lines.push(`  not drawn: ${note}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (args.open) {
    const opener = findOpener();
    if (opener) {
      const child = spawn(opener, [result.html], { detached: true, stdio: 'ignore' });
      child.on('error', () => process.stderr.write(`hessweep: could not run ${opener}; open ${result.html} yourself\n`));
      child.unref();
    } else {
      process.stderr.write(`no xdg-open or open on PATH; open ${result.html} in a browser\n`);
    }
  }
  return 0;
}

/** `open` on macOS, `xdg-open` elsewhere, if on PATH. */
function findOpener(): string | null {
  const name = process.platform === 'darwin' ? 'open' : 'xdg-open';
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}
