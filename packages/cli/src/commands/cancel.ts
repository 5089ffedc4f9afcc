import type { Argv } from 'yargs';
import { checkSweepName, natsConnectionOptions, natsOptionsFrom } from '../nats-options.js';
import { UsageError } from '../errors.js';

export function cancelOptions(y: Argv) {
  return natsConnectionOptions(y.positional('sweep', { type: 'string', demandOption: true, describe: 'sweep name' }));
}

type CancelArgs = Awaited<ReturnType<typeof cancelOptions>['argv']>;

/** Marks a sweep cancelled and purges its queued cells; its coordinator stops, rows already written stay. */
export async function cancelCommand(args: CancelArgs): Promise<number> {
  checkSweepName(args.sweep, 'cancel');
  const { closeNats, connectNats, NatsQueue } = await import('@hessweep/queue');
  const nc = await connectNats(await natsOptionsFrom(args, 'hessweep-cancel'));
  try {
    const queue = await NatsQueue.open(nc);
    if (!(await queue.sweeps.get(args.sweep))) throw new UsageError(`no sweep named "${args.sweep}" on this NATS server`);
    const purged = await queue.cancelSweep(args.sweep);
    process.stdout.write(`sweep ${args.sweep} cancelled; ${purged} queued cell(s) removed\n`);
    return 0;
  } finally {
    await closeNats(nc);
  }
}
