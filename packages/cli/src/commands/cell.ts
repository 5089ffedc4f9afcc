import type { Argv } from 'yargs';
import { HESSWEEP_VERSION, SETTINGS, SETTING_NAMES, cellFromFlags, isRequired, cellId, type ResultRow, type TrainerChoice } from '@hessweep/grid';
import { hostname } from 'node:os';
import { CellProgress } from '../progress.js';
import { TRAINER_OPTION } from '../trainer-option.js';

/**
 * One option per setting of the grid package's table (its flag, default and description; a grid axis
 * without a default is required), then the options of this command alone. Values are checked by the
 * table's rules in `cellFromFlags`, not by yargs, so every bad one is reported at once.
 */
export function cellOptions(y: Argv) {
  const settings = SETTING_NAMES.reduce((argv, name) => {
    const { flag, type, describe, default: value } = SETTINGS[name];
    // A list is given as several values (`--stab-sigma 0.001 0.01`) or by repeating the flag.
    const yargsType = type === 'numbers' ? 'array' : type;
    // Defaults are shown, not passed: a flag left out is absent, as a key left out of a spec (the table's rules
    // then apply the same defaults, including those that depend on other settings).
    return argv.option(flag, { type: yargsType, describe, demandOption: isRequired(SETTINGS[name]), ...(value === undefined ? {} : { defaultDescription: String(value) }) });
  }, y);
  return settings
    .option('trainer', TRAINER_OPTION)
    .option('json', { type: 'boolean', default: false, describe: 'print the result row as one JSON object on stdout' })
    .option('out', { type: 'string', describe: 'also write the row to this Arrow IPC file' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress on stderr' });
}

type CellArgs = Awaited<ReturnType<typeof cellOptions>['argv']>;

export async function cellCommand(args: CellArgs): Promise<number> {
  // Relative --features and --data-dir resolve against the current directory, as a spec's against its own.
  const { cell, backend } = cellFromFlags(args, process.cwd());
  const progress = new CellProgress(args.quiet);
  if (!args.quiet) process.stderr.write(`cell ${cellId(cell)}: ${cell.dataset} width ${cell.width} depth ${cell.depth} seed ${cell.seed} m ${cell.sample_size}\n`);
  const { runCell } = await import('@hessweep/landscape');
  const row = await runCell(cell, {
    context: { sweep: '', worker: hostname(), attempt: 1, backend, trainer: args.trainer as TrainerChoice },
    onStage: (event) => progress.stage(event),
    onEpoch: (epoch, epochs, loss) => progress.epoch(epoch, epochs, loss),
  });
  if (args.out) {
    const { writeResultFile } = await import('@hessweep/results');
    await writeResultFile(args.out, [row], { sweep: '', specHash: row.cell_id, version: HESSWEEP_VERSION });
  }
  process.stdout.write(args.json ? `${JSON.stringify(row)}\n` : summary(row));
  return 0;
}

function list(values: number[] | null, digits = 5): string {
  return values ? values.map((v) => v.toPrecision(digits)).join(', ') : '—';
}

/** A readable account of a result row. */
export function summary(row: ResultRow): string {
  const lines = [
    `cell ${row.cell_id}  ${row.dataset}  width ${row.width}  depth ${row.depth}  seed ${row.seed}  m ${row.sample_size}  (${row.n_params} parameters, backend ${row.backend})`,
    `  train loss          ${row.train_loss?.toFixed(5)}   accuracy ${((row.train_accuracy ?? 0) * 100).toFixed(2)}%`,
    `  D_k slope           ${row.loss_diff_slope?.toFixed(4) ?? '— (too few k ≥ 10 to fit)'}   (theory −1; ${row.loss_diff_k?.length} points, k = 1…${row.loss_diff_k?.at(-1)})`,
    `  Hessian top-k       ${list(row.hessian_top)}   (${row.hessian_iters ?? 0} Lanczos steps)`,
    `  Gauss-Newton top-k  ${list(row.ggn_top)}   (${row.ggn_iters ?? 0} Lanczos steps)`,
    `  trace (exact)       ${row.hessian_trace?.toPrecision(6)}` +
      (row.hessian_trace_hutchinson !== null ? `   Hutchinson ${row.hessian_trace_hutchinson.toPrecision(6)} ± ${row.hessian_trace_se?.toPrecision(2)}` : ''),
    `  Theorem 1 bound     ${row.bound?.toPrecision(4)}   (M_W ${row.m_w?.toFixed(4)}, M_x ${row.m_x?.toFixed(4)}; λ_max/bound ${row.hessian_top && row.bound ? (row.hessian_top[0] / row.bound).toExponential(2) : '—'})`,
    ...sufficientLines(row),
    `  seconds             ${row.total_s.toFixed(2)} total: load ${row.load_s.toFixed(2)}, train ${row.train_s.toFixed(2)}, spectrum ${(row.hessian_s + row.ggn_s).toFixed(2)}, trace ${row.trace_s.toFixed(2)}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** The sufficient sample sizes per threshold: reached, extrapolated (~), or not reached and not extrapolated (—). */
function sufficientLines(row: ResultRow): string[] {
  const thresholds = row.stab_thresholds;
  if (!thresholds || !row.n_suff_d1) return [];
  const size = (reached: number | null, fit: number | null | undefined) =>
    reached !== null ? String(reached) : fit !== null && fit !== undefined ? `~${Math.round(fit)}` : '—';
  const each = (reached: (number | null)[], fit: (number | null)[], offset = 0) =>
    thresholds.map((eps, i) => `${size(reached[offset + i], fit[offset + i])} (ε ${eps})`).join(', ');
  const lines = [`  sufficient k        smoothed D_k below ε: ${each(row.n_suff_d1, row.n_suff_d1_fit ?? [])}   (~: extrapolated)`];
  if (row.n_suff_d2 && row.stab_sigma) {
    row.stab_sigma.forEach((sigma, s) =>
      lines.push(`                      Δ2 (top-${row.stab_subspace} subspace, σ ${sigma}) below ε²: ${each(row.n_suff_d2!, row.n_suff_d2_fit ?? [], s * thresholds.length)}`),
    );
  }
  return lines;
}
