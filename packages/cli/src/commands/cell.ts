import type { Argv } from 'yargs';
import { DATASETS, BACKENDS, DEFAULT_MEASURE, DEFAULT_TRAIN, HESSWEEP_VERSION, cellId, type Cell, type DatasetName, type BackendChoice, type ResultRow } from '@hessweep/grid';
import { runCell } from '@hessweep/landscape';
import { writeResultFile } from '@hessweep/results';
import { hostname } from 'node:os';
import { CellProgress } from '../progress.js';
import { UsageError } from '../errors.js';

export function cellOptions(y: Argv) {
  return y
    .option('dataset', { type: 'string', choices: DATASETS, demandOption: true, describe: 'dataset' })
    .option('width', { type: 'number', demandOption: true, describe: 'hidden width h' })
    .option('depth', { type: 'number', demandOption: true, describe: 'number of hidden h→h layers' })
    .option('seed', { type: 'number', default: 0, describe: 'seed of initialisation, shuffling, permutations and probes' })
    .option('sample-size', { type: 'number', demandOption: true, describe: 'train on the first M samples' })
    .option('epochs', { type: 'number', default: DEFAULT_TRAIN.epochs })
    .option('batch-size', { type: 'number', default: DEFAULT_TRAIN.batch_size })
    .option('lr', { type: 'number', default: DEFAULT_TRAIN.lr, describe: 'Adam learning rate' })
    .option('bias', { type: 'boolean', default: DEFAULT_TRAIN.bias, describe: 'biases on every layer (the paper has none)' })
    .option('init', { type: 'string', choices: ['uniform', 'he'] as const, default: DEFAULT_TRAIN.init, describe: 'uniform: PyTorch nn.Linear default; he: N(0, 2/fan_in)' })
    .option('permutations', { type: 'number', default: DEFAULT_MEASURE.permutations, describe: 'permutations averaged in D_k' })
    .option('curve-points', { type: 'number', default: DEFAULT_MEASURE.curve_points, describe: 'log-spaced k kept in the curve' })
    .option('top-k', { type: 'number', default: DEFAULT_MEASURE.top_k, describe: 'top eigenvalues of H and G (0 skips the spectrum)' })
    .option('lanczos-iters', { type: 'number', default: DEFAULT_MEASURE.lanczos_iters, describe: 'maximum Lanczos steps per operator' })
    .option('lanczos-tol', { type: 'number', default: DEFAULT_MEASURE.lanczos_tol, describe: 'Lanczos residual tolerance relative to λ_max (0: run all steps)' })
    .option('ggn', { type: 'boolean', default: DEFAULT_MEASURE.ggn, describe: 'also the Gauss-Newton spectrum' })
    .option('trace-probes', { type: 'number', default: DEFAULT_MEASURE.trace_probes, describe: 'Hutchinson probes as a cross-check of the exact trace (0: exact only)' })
    .option('density', { type: 'boolean', default: DEFAULT_MEASURE.density, describe: 'spectral density from the Hessian Lanczos run' })
    .option('backend', { type: 'string', choices: BACKENDS, default: 'auto' as BackendChoice })
    .option('data-dir', { type: 'string', describe: 'directory with IDX or CIFAR binary files' })
    .option('features', { type: 'string', describe: 'Arrow or CSV file for --dataset features' })
    .option('label-column', { type: 'string', describe: 'label column of the features file (default: label)' })
    .option('synthetic-dim', { type: 'number', describe: 'input dimension of --dataset synthetic (default 32)' })
    .option('synthetic-classes', { type: 'number', describe: 'classes of --dataset synthetic (default 4)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the result row as one JSON object on stdout' })
    .option('out', { type: 'string', describe: 'also write the row to this Arrow IPC file' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress on stderr' });
}

type CellArgs = Awaited<ReturnType<typeof cellOptions>['argv']>;

const positive = ['width', 'sample-size', 'epochs', 'batch-size', 'permutations', 'curve-points', 'lanczos-iters'] as const;
const nonNegative = ['depth', 'seed', 'top-k', 'trace-probes'] as const;

/** The cell the arguments describe; every invalid value is reported at once. */
export function cellFromArgs(args: CellArgs): Cell {
  const problems: string[] = [];
  if (args['sample-size'] === 1) problems.push('--sample-size must be at least 2 (the loss-difference curve compares two samples)');
  for (const name of positive) if (!(Number.isInteger(args[name]) && args[name] > 0)) problems.push(`--${name} must be a positive integer, got ${args[name]}`);
  for (const name of nonNegative) if (!(Number.isInteger(args[name]) && args[name] >= 0)) problems.push(`--${name} must be a non-negative integer, got ${args[name]}`);
  if (!(args.lr > 0 && Number.isFinite(args.lr))) problems.push(`--lr must be a positive number, got ${args.lr}`);
  if (!(args['lanczos-tol'] >= 0 && args['lanczos-tol'] < 1)) problems.push(`--lanczos-tol must be in [0, 1), got ${args['lanczos-tol']}`);
  if (args.dataset === 'features' && !args.features) problems.push('--dataset features needs --features FILE');
  if (args.dataset !== 'features' && args.features) problems.push('--features is only for --dataset features');
  if (problems.length) throw new UsageError(`invalid arguments:\n  ${problems.join('\n  ')}`);
  return {
    dataset: args.dataset as DatasetName,
    width: args.width,
    depth: args.depth,
    seed: args.seed,
    sample_size: args['sample-size'],
    train: { epochs: args.epochs, batch_size: args['batch-size'], optimizer: 'adam', lr: args.lr, bias: args.bias, init: args.init as Cell['train']['init'] },
    measure: {
      permutations: args.permutations,
      curve_points: args['curve-points'],
      top_k: args['top-k'],
      lanczos_iters: args['lanczos-iters'],
      lanczos_tol: args['lanczos-tol'],
      ggn: args.ggn,
      trace_probes: args['trace-probes'],
      density: args.density,
    },
    data: {
      data_dir: args['data-dir'],
      features_path: args.features,
      label_column: args['label-column'],
      synthetic_dim: args['synthetic-dim'],
      synthetic_classes: args['synthetic-classes'],
    },
  };
}

export async function cellCommand(args: CellArgs): Promise<number> {
  const cell = cellFromArgs(args);
  const progress = new CellProgress(args.quiet);
  if (!args.quiet) process.stderr.write(`cell ${cellId(cell)}: ${cell.dataset} width ${cell.width} depth ${cell.depth} seed ${cell.seed} m ${cell.sample_size}\n`);
  const row = await runCell(cell, {
    context: { sweep: '', worker: hostname(), attempt: 1, backend: args.backend as BackendChoice },
    onStage: (event) => progress.stage(event),
    onEpoch: (epoch, epochs, loss) => progress.epoch(epoch, epochs, loss),
  });
  if (args.out) await writeResultFile(args.out, [row], { sweep: '', specHash: row.cell_id, version: HESSWEEP_VERSION });
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
    `  D_k slope           ${row.loss_diff_slope?.toFixed(4)}   (theory −1; ${row.loss_diff_k?.length} points, k = 1…${row.loss_diff_k?.at(-1)})`,
    `  Hessian top-k       ${list(row.hessian_top)}   (${row.hessian_iters ?? 0} Lanczos steps)`,
    `  Gauss-Newton top-k  ${list(row.ggn_top)}   (${row.ggn_iters ?? 0} Lanczos steps)`,
    `  trace (exact)       ${row.hessian_trace?.toPrecision(6)}` +
      (row.hessian_trace_hutchinson !== null ? `   Hutchinson ${row.hessian_trace_hutchinson.toPrecision(6)} ± ${row.hessian_trace_se?.toPrecision(2)}` : ''),
    `  Theorem 1 bound     ${row.bound?.toPrecision(4)}   (M_W ${row.m_w?.toFixed(4)}, M_x ${row.m_x?.toFixed(4)}; λ_max/bound ${row.hessian_top && row.bound ? (row.hessian_top[0] / row.bound).toExponential(2) : '—'})`,
    `  seconds             ${row.total_s.toFixed(2)} total: load ${row.load_s.toFixed(2)}, train ${row.train_s.toFixed(2)}, spectrum ${(row.hessian_s + row.ggn_s).toFixed(2)}, trace ${row.trace_s.toFixed(2)}`,
  ];
  return `${lines.join('\n')}\n`;
}
