import type { Argv } from 'yargs';
import { BACKENDS, cellMemory, formatBytes, type BackendChoice, type Cell, type CurvatureEngineName, type GridPlan, type GridPoint } from '@hessweep/grid';
import { WORKER_RESERVE, curvatureEngineFor } from '@hessweep/worker/memory';
import { MAX_CELLS_OPTION, loadPlan, positiveIntegers } from '../plan.js';

export function planOptions(y: Argv) {
  return y
    .positional('spec', { type: 'string', demandOption: true, describe: 'sweep spec (YAML or JSON)' })
    .option('slots', { type: 'number', default: 1, describe: 'cells a worker computes at once (its --concurrency), for the memory per slot' })
    .option('memory-per-slot', {
      type: 'boolean',
      default: false,
      describe: 'print only the memory to request per slot, in MiB with an M (as sbatch --mem-per-cpu takes it)',
    })
    .option('backend', {
      choices: BACKENDS,
      default: 'auto' as BackendChoice,
      describe: "the workers' --backend: a cell holds tfjs tensors on tensorflow (auto where a native binding is installed), the kernels' smaller buffers on wasm and cpu",
    })
    .option('where', { type: 'string', describe: "plan a slice, e.g. 'width=16,depth<=5'" })
    .option('max-cells', MAX_CELLS_OPTION);
}

type PlanArgs = Awaited<ReturnType<typeof planOptions>['argv']>;

/**
 * What a sweep asks of its workers, without running it: its cells and the memory of the largest. A worker of
 * `slots` slots needs `slots` of those at once plus its own reserve, so a slot needs the largest cell's
 * estimate and its share of the reserve: the figure a job or pod requests per CPU.
 */
export async function planCommand(args: PlanArgs): Promise<number> {
  positiveIntegers(args, ['slots']);
  const { spec, plan, include, selected } = await loadPlan(args.spec, args.where, args['max-cells']);
  const largest = largestCell(plan.grid, curvatureEngineFor(args.backend), include);
  const perSlot = Math.ceil((largest.bytes + WORKER_RESERVE / args.slots) / 2 ** 20);
  if (args['memory-per-slot']) {
    process.stdout.write(`${perSlot}M\n`);
    return 0;
  }
  const { cell } = largest;
  process.stdout.write(
    `sweep ${spec.name}: ${selected} cells\n` +
      `largest cell: ${cell.dataset} width ${cell.width} depth ${cell.depth} sample size ${cell.sample_size}, about ${formatBytes(largest.bytes)} at its peak (estimated)\n` +
      `memory per slot: ${perSlot}M (the largest cell, and 1/${args.slots} of the worker's own ${formatBytes(WORKER_RESERVE)})\n` +
      `a worker of ${args.slots} slot(s): ${perSlot * args.slots}M (sbatch --mem-per-cpu=${perSlot}M; a pod's memory ${perSlot * args.slots}Mi)\n`,
  );
  return 0;
}

/** The cell of the plan (or of its `include` slice) with the largest memory estimate; the plan has at least one. */
function largestCell(grid: GridPlan, engine: CurvatureEngineName, include?: (point: GridPoint) => boolean): { cell: Cell; bytes: number } {
  let best: { cell: Cell; bytes: number } | null = null;
  for (let i = 0; i < grid.size; i++) {
    if (include && !include(grid.pointAt(i))) continue;
    const cell = grid.cellAt(i);
    const bytes = cellMemory(cell, engine).total;
    if (!best || bytes > best.bytes) best = { cell, bytes };
  }
  return best!;
}
