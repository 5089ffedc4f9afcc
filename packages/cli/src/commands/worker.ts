import type { Argv } from 'yargs';
import { hostname, availableParallelism } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { BACKENDS, formatBytes, type BackendChoice, type TrainerChoice } from '@hessweep/grid';
import type { NatsQueue } from '@hessweep/queue';
import type { Worker } from '@hessweep/worker';
import { checkSweepName, natsConnectionOptions, natsOptionsFrom } from '../nats-options.js';
import { positiveIntegers } from '../plan.js';
import { MEMORY_OPTION, cellMemoryBudget } from '../memory-option.js';
import { TRAINER_OPTION } from '../trainer-option.js';

export function workerOptions(y: Argv) {
  return natsConnectionOptions(
    y
      .option('concurrency', { type: 'number', default: availableParallelism(), describe: 'cells computed at once, one worker thread each' })
      .option('memory', MEMORY_OPTION)
      .option('sweep', { type: 'string', describe: 'serve only this sweep (default: every running sweep)' })
      .option('name', { type: 'string', describe: 'worker name recorded in rows (default host:pid)' })
      .option('backend', { type: 'string', choices: BACKENDS, default: 'auto' as BackendChoice })
      .option('trainer', TRAINER_OPTION)
      .option('dry-run', { type: 'boolean', default: false, describe: 'compute nothing: ok rows with null measurements (tests the plumbing)' })
      .option('quiet', { type: 'boolean', default: false, describe: 'no per-cell lines' }),
  );
}

type WorkerArgs = Awaited<ReturnType<typeof workerOptions>['argv']>;

/**
 * Fault injection for tests: a worker started with HESSWEEP_FAULT_KILL_ON_CELL=<cell id> kills its own
 * process (SIGKILL) when it starts that cell, as a worker that crashes on a poison cell would.
 */
const KILL_ON_CELL = process.env.HESSWEEP_FAULT_KILL_ON_CELL;

/**
 * Pulls cells of running sweeps from NATS and computes them until stopped; SIGTERM drains, a second abandons.
 * A signal while it is still connecting or waiting for a coordinator's streams ends it at once, exit 0.
 */
export async function workerCommand(args: WorkerArgs): Promise<number> {
  positiveIntegers(args, ['concurrency']);
  if (args.sweep !== undefined) checkSweepName(args.sweep, '--sweep');
  const memory = cellMemoryBudget(args.memory);
  const name = args.name ?? `${hostname()}:${process.pid}`;
  const log = (line: string) => !args.quiet && process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const starting = new AbortController();
  let worker: Worker | null = null;
  let signals = 0;
  const onSignal = (signal: string) => {
    signals++;
    if (!worker) {
      log(`${signal}: stopping before serving any cell`);
      starting.abort();
      return;
    }
    log(signals === 1 ? `${signal}: finishing running cells, taking no more (again to abandon them)` : `${signal}: abandoning running cells`);
    worker.stop(signals === 1 ? 'drain' : 'abandon');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const [{ closeNats, connectNats, keepOnHealthyServer, NatsQueue }, { Worker, dryRunner }] = await Promise.all([import('@hessweep/queue'), import('@hessweep/worker')]);
    const natsOptions = await natsOptionsFrom(args, `hessweep-worker ${name}`);
    const nc = await connectNats(natsOptions);
    log(`NATS: connected to ${nc.getServer()}`);
    keepOnHealthyServer(nc, { servers: natsOptions.servers, onNote: log });
    try {
      const queue = await openWhenReady(() => NatsQueue.open(nc, { sweep: args.sweep }), log, starting.signal);
      if (!queue) return 0;
      queue.onTransientError = (error) => log(`NATS: ${error.message}; retrying`);
      worker = new Worker(queue, {
        slots: args.concurrency,
        maxAttempts: 3,
        backend: args.backend as BackendChoice,
        trainer: args.trainer as TrainerChoice,
        name,
        directory: queue.workers,
        createRunner: args['dry-run'] ? dryRunner : undefined,
        memory: memory.bytes,
        onPullError: (error) => log(`pulling cells failed: ${error.message}; pulling again`),
        onEvent: (event) => {
          const { task, attempt } = event.delivery;
          if (event.type === 'start') {
            log(`start ${task.sweep}/${task.cellId} attempt ${attempt}`);
            if (KILL_ON_CELL && task.cellId === KILL_ON_CELL) process.kill(process.pid, 'SIGKILL');
          } else if (event.type === 'done') log(`done  ${task.sweep}/${task.cellId} in ${event.row.total_s.toFixed(2)} s`);
          else if (event.type === 'dropped') log(`not sent ${task.sweep}/${task.cellId}: ${event.error}; the cell will be delivered again`);
          else if (event.type === 'declined') log(`declined ${task.sweep}/${task.cellId} attempt ${attempt}: needs about ${formatBytes(event.needed)}, more than this worker's ${formatBytes(event.budget)} for cells; given back`);
          else if (event.type === 'waiting') log(`waiting ${task.sweep}/${task.cellId}: needs about ${formatBytes(event.needed)}, ${formatBytes(event.free)} free until running cells end`);
          else log(`${event.type === 'retry' ? 'retry' : 'FAILED'} ${task.sweep}/${task.cellId} attempt ${attempt}: ${event.error}`);
        },
      });
      if (starting.signal.aborted) return 0;
      log(`worker ${name}: ${args.concurrency} slot(s), serving ${args.sweep ?? 'every running sweep'}; ${memory.describe}`);
      try {
        await worker.run();
      } finally {
        await queue.close();
      }
      return 0;
    } finally {
      await closeNats(nc, GOODBYE_MS);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** How long a stopping worker waits for the server to take each of its last words (drain, close). */
const GOODBYE_MS = 2000;

/** A worker may start before any coordinator: it waits for the streams instead of creating them; null if stopped meanwhile. */
async function openWhenReady(open: () => Promise<NatsQueue>, log: (line: string) => void, signal: AbortSignal): Promise<NatsQueue | null> {
  const { NoStreamsError } = await import('@hessweep/queue');
  let told = false;
  while (!signal.aborted) {
    try {
      return await open();
    } catch (error) {
      if (error instanceof NoStreamsError) {
        if (!told) log(`${error.message}; waiting for one`);
        told = true;
      } else if (unanswered(error)) {
        // The server (or its JetStream) is out of reach for now, e.g. a partitioned link: wait it out.
        log(`NATS: ${(error as Error).message} while looking for the sweep streams; trying again`);
      } else throw error;
      await delay(1000, undefined, { signal }).catch(() => undefined);
    }
  }
  return null;
}

/** A JetStream request that got no answer in time (TIMEOUT) or found no responder (503): the server may come back. */
function unanswered(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'TIMEOUT' || code === '503';
}
