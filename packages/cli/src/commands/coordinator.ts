import type { Argv } from 'yargs';
import type { NatsQueue, SweepClaim } from '@hessweep/queue';
import { natsConnectionOptions, natsOptionsFrom } from '../nats-options.js';
import { MAX_CELLS_OPTION, loadPlan, positiveIntegers } from '../plan.js';
import { SweepProgressView, describeOutcome, outcomeExitCode } from '../sweep-progress.js';

export function coordinatorOptions(y: Argv) {
  return natsConnectionOptions(
    y
      .positional('spec', { type: 'string', demandOption: true, describe: 'sweep spec (YAML or JSON)' })
      .option('out', { type: 'string', default: 'results', describe: 'results directory; the sweep writes <out>/<name>/' })
      .option('max-attempts', { type: 'number', default: 3, describe: 'deliveries per cell before it is recorded as failed' })
      .option('ack-wait', { type: 'number', default: 30, describe: 'seconds a delivered cell stays leased without a worker heartbeat' })
      .option('replicas', { type: 'number', default: 1, describe: 'stream and bucket replicas (3 on a 3-node cluster)' })
      .option('retry-failed', { type: 'boolean', default: false, describe: 'rerun cells whose row is failed' })
      .option('force', { type: 'boolean', default: false, describe: 'run a spec whose settings changed under the same sweep name' })
      .option('takeover', { type: 'boolean', default: false, describe: 'replace a coordinator known to be dead: wait for its lease to lapse, then take the sweep' })
      .option('lease', { type: 'number', default: 30, describe: "seconds this coordinator's hold on the sweep (and on its results directory) lasts without renewal" })
      .option('where', { type: 'string', describe: "run a slice, e.g. 'width=16,depth<=5'" })
      .option('max-cells', MAX_CELLS_OPTION)
      .option('quiet', { type: 'boolean', default: false, describe: 'no progress output' }),
  );
}

type CoordinatorArgs = Awaited<ReturnType<typeof coordinatorOptions>['argv']>;

/**
 * Publishes the cells of a spec that have no row yet and writes the rows workers send back, until every
 * cell is ok or failed. Stopping it (or a crash) loses nothing: cells stay queued, rows stay in the
 * results stream until a coordinator writes them; running it again resumes. One coordinator holds a sweep
 * at a time (a lease in the owners bucket): a second is refused, naming the first.
 */
export async function coordinatorCommand(args: CoordinatorArgs): Promise<number> {
  positiveIntegers(args, ['max-attempts', 'replicas', 'lease']);
  const loaded = await loadPlan(args.spec, args.where, args['max-cells']);
  const name = loaded.spec.name;
  const { claimSweep, closeNats, connectNats, describeSweepOwner, keepOnHealthyServer, NatsQueue } = await import('@hessweep/queue');
  const natsOptions = await natsOptionsFrom(args, `hessweep-coordinator ${name}`);
  const nc = await connectNats(natsOptions);
  const view = new SweepProgressView(args.quiet);
  keepOnHealthyServer(nc, { servers: natsOptions.servers, onNote: (line) => view.note(line) });
  try {
    const queue = await NatsQueue.open(nc, { create: true, replicas: args.replicas });
    const lost = { to: null as string | null };
    const claim = await claimSweep(queue.owners!, name, {
      out: args.out,
      leaseMs: args.lease * 1000,
      takeover: args.takeover,
      onNote: (message) => view.note(message),
      onRenewError: (error) => view.note(`could not renew the hold on sweep ${name} (${error.message}); retrying`),
      onLost: (owner) => {
        lost.to = owner ? describeSweepOwner(owner) : 'another coordinator';
        view.note(`sweep ${name} was taken over by ${lost.to}; stopping (rows already written are kept)`);
        void queue.close();
      },
    });
    // Said once the sweep is this coordinator's: a refusal stays one line.
    view.note(`NATS: connected to ${nc.getServer()}`);
    try {
      return await coordinate(queue, args, loaded, view, lost, claim);
    } finally {
      await claim.release();
      await queue.close();
    }
  } finally {
    await closeNats(nc);
  }
}

/** Runs the sweep this coordinator holds: marks it running, writes rows as they come, records how it ended. */
async function coordinate(
  queue: NatsQueue, args: CoordinatorArgs, { spec, plan, include, selected }: Awaited<ReturnType<typeof loadPlan>>, view: SweepProgressView,
  lost: { to: string | null }, claim: SweepClaim,
): Promise<number> {
  const [{ runSweep, SweepRecordKeeper }, { SweepOwnedError }] = await Promise.all([import('@hessweep/coordinator'), import('@hessweep/results')]);
  const record = await queue.prepareSweep(spec.name, { maxAttempts: args['max-attempts'], ackWaitMs: args['ack-wait'] * 1000, total: selected });
  const keeper = await SweepRecordKeeper.start(queue.sweeps, record, () => {
    view.note(`sweep ${spec.name} was cancelled`);
    void queue.close();
  });
  const onSignal = (signal: string) => {
    view.note(`${signal}: writing the rows that arrived and stopping; workers keep the queued cells, and running this again resumes`);
    void queue.close();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const outcome = await runSweep(queue, plan, {
      out: args.out,
      command: `hessweep coordinator ${args.spec}`,
      // The directory's lock lapses with the sweep's hold: a coordinator that took over a hung one's sweep
      // (--takeover) can then take its directory too, instead of being refused for the lock's default minute.
      lockLeaseMs: args.lease * 1000,
      confirmHold: async () => {
        if (await claim.held()) return;
        const why = lost.to !== null ? `${lost.to} took it over` : 'NATS did not confirm that this coordinator still holds it';
        throw new SweepOwnedError(`sweep ${spec.name}: ${why}; stopping without writing the rows that arrived (they are delivered again)`);
      },
      include,
      retryFailed: args['retry-failed'],
      force: args.force,
      onNote: (message) => view.note(message),
      onProgress: (progress) => {
        view.update(progress);
        keeper.progress(progress);
      },
    });
    view.end();
    if (lost.to !== null) throw new SweepOwnedError(`sweep ${spec.name}: stopped because ${lost.to} took it over; ${outcome.ok + outcome.failed} cells have rows in ${outcome.dir}`);
    const recorded = await keeper.finish(outcome);
    if (recorded.error) view.note(`could not mark the sweep ${recorded.state} in the sweeps bucket: ${recorded.error.message}`);
    if (!args.quiet) process.stderr.write(describeOutcome(outcome));
    return outcomeExitCode(outcome);
  } finally {
    keeper.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
