import type { Argv } from 'yargs';
import { availableParallelism } from 'node:os';
import { BACKENDS, formatBytes, type BackendChoice, type TrainerChoice } from '@hessweep/grid';
import { SweepProgressView, describeOutcome, outcomeExitCode } from '../sweep-progress.js';
import { MAX_CELLS_OPTION, loadPlan, positiveIntegers } from '../plan.js';
import { MEMORY_OPTION, cellMemoryBudget } from '../memory-option.js';
import { TRAINER_OPTION } from '../trainer-option.js';

export function runOptions(y: Argv) {
  return y
    .positional('spec', { type: 'string', demandOption: true, describe: 'sweep spec (YAML or JSON)' })
    .option('out', { type: 'string', default: 'results', describe: 'results directory; the sweep writes <out>/<name>/' })
    .option('concurrency', { type: 'number', default: availableParallelism(), describe: 'cells computed at once, one worker thread each' })
    .option('memory', MEMORY_OPTION)
    .option('max-attempts', { type: 'number', default: 3, describe: 'attempts per cell before it is recorded as failed' })
    .option('retry-failed', { type: 'boolean', default: false, describe: 'rerun cells whose row is failed' })
    .option('force', { type: 'boolean', default: false, describe: 'run a spec whose settings changed under the same sweep name' })
    .option('where', { type: 'string', describe: "run a slice, e.g. 'width=16,depth<=5'" })
    .option('max-cells', MAX_CELLS_OPTION)
    .option('backend', { type: 'string', choices: BACKENDS, describe: "override the spec's backend" })
    .option('trainer', TRAINER_OPTION)
    .option('dry-run', { type: 'boolean', default: false, describe: 'compute nothing: ok rows with null measurements (tests the plumbing)' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress output' });
}

type RunArgs = Awaited<ReturnType<typeof runOptions>['argv']>;

export async function runCommand(args: RunArgs): Promise<number> {
  positiveIntegers(args, ['concurrency', 'max-attempts']);
  const memory = cellMemoryBudget(args.memory);
  const { spec, plan, include } = await loadPlan(args.spec, args.where, args['max-cells']);
  const [{ InProcessQueue }, { Worker, dryRunner }, { runSweep }] = await Promise.all([
    import('@hessweep/queue'), import('@hessweep/worker'), import('@hessweep/coordinator'),
  ]);
  const view = new SweepProgressView(args.quiet);
  const queue = new InProcessQueue();
  const worker = new Worker(queue, {
    slots: args.concurrency,
    maxAttempts: args['max-attempts'],
    backend: (args.backend ?? spec.backend) as BackendChoice,
    trainer: args.trainer as TrainerChoice,
    createRunner: args['dry-run'] ? dryRunner : undefined,
    memory: memory.bytes,
    onEvent: (event) => {
      if (event.type === 'retry') view.note(`cell ${event.delivery.task.cellId} attempt ${event.delivery.attempt} failed: ${event.error}; retrying`);
      if (event.type === 'declined') view.note(`cell ${event.delivery.task.cellId} needs about ${formatBytes(event.needed)}, more than the ${formatBytes(event.budget)} for cells (--memory)`);
    },
  });
  const working = worker.run();

  let interrupts = 0;
  const onSignal = (signal: string) => {
    interrupts++;
    if (interrupts === 1) {
      view.note(`${signal}: taking no more cells; finishing the running ones (again to abandon them)`);
      worker.stop('drain');
    } else {
      view.note(`${signal}: abandoning running cells; they rerun next time`);
      worker.stop('abandon');
    }
    void working.finally(() => queue.close());
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const outcome = await runSweep(queue, plan, {
      out: args.out,
      command: `hessweep run ${args.spec}`,
      include,
      retryFailed: args['retry-failed'],
      force: args.force,
      onNote: (message) => view.note(message),
      onProgress: (progress) => view.update(progress),
    });
    view.end();
    if (!args.quiet) process.stderr.write(describeOutcome(outcome));
    return outcomeExitCode(outcome);
  } catch (error) {
    // Nothing more can be written (a storage fault, a refused directory): running cells would be lost work anyway.
    view.end();
    worker.stop('abandon');
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await queue.close();
    await working;
  }
}
