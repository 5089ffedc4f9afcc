#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { HESSWEEP_VERSION } from '@hessweep/grid';
// Command modules are light: their options need grid alone, and each handler imports the packages it uses
// (`await import`) when it runs, so that --version, --help and a command load only what they need.
import { cellCommand, cellOptions } from './commands/cell.js';
import { spectrumCommand, spectrumOptions } from './commands/spectrum.js';
import { runCommand, runOptions } from './commands/run.js';
import { planCommand, planOptions } from './commands/plan.js';
import { statusCommand, statusOptions } from './commands/status.js';
import { coordinatorCommand, coordinatorOptions } from './commands/coordinator.js';
import { workerCommand, workerOptions } from './commands/worker.js';
import { cancelCommand, cancelOptions } from './commands/cancel.js';
import { doctorCommand, doctorOptions } from './commands/doctor.js';
import { aggregateCommand, aggregateOptions } from './commands/aggregate.js';
import { exportCommand, exportOptions } from './commands/export.js';
import { reportCommand, reportOptions } from './commands/report.js';
import { compactCommand, compactOptions } from './commands/compact.js';
import { describeFailure, EXIT } from './errors.js';
import { redactOutput } from './redact.js';

redactOutput();
const debug = process.argv.includes('--debug') || process.env.HESSWEEP_DEBUG === '1';

/**
 * How long a finished command may stay alive for what it did not await. Everything a command does is awaited
 * before it returns; what can still hold the process is a socket nats.js leaks when a dial times out (a server
 * cut off while a client reconnects): the kernel keeps connecting, and once the link is back the socket stays
 * open — the server waits minutes for a CONNECT that never comes.
 */
const STRAY_HANDLES_MS = 2000;

/** Runs a command handler and turns its outcome into an exit code; a failure is one line (see describeFailure). */
async function run(handler: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await handler();
  } catch (error) {
    const { line, code } = describeFailure(error, debug);
    process.stderr.write(`hessweep: ${line}\n`);
    process.exitCode = code;
  } finally {
    setTimeout(() => process.exit(), STRAY_HANDLES_MS).unref();
  }
}

await yargs(hideBin(process.argv))
  .scriptName('hessweep')
  .version(HESSWEEP_VERSION)
  .command('run <spec>', 'run a sweep on this machine: every cell of the spec, in parallel worker threads, resumable', runOptions, (args) =>
    run(() => runCommand(args)),
  )
  .command('plan <spec>', "what a sweep asks of its workers: its cells and the memory per slot of its largest cell", planOptions, (args) =>
    run(() => planCommand(args)),
  )
  .command('status [target]', 'what a sweep directory holds (cells ok, failed, missing), or with --nats the sweeps on a server', statusOptions, (args) =>
    run(() => statusCommand(args)),
  )
  .command('coordinator <spec>', 'run a sweep over NATS: queue its cells, write the rows workers send', coordinatorOptions, (args) =>
    run(() => coordinatorCommand(args)),
  )
  .command('worker', 'compute cells of running sweeps from NATS until stopped', workerOptions, (args) => run(() => workerCommand(args)))
  .command('cancel <sweep>', 'cancel a sweep on NATS: purge its queued cells, stop its coordinator', cancelOptions, (args) => run(() => cancelCommand(args)))
  .command('aggregate <dir>', 'aggregate a sweep over seeds: a table, summary.arrow and summary.csv', aggregateOptions, (args) =>
    run(() => aggregateCommand(args)),
  )
  .command('report <dir>', 'write <dir>/report/index.html: figures, summary, failed cells, provenance', reportOptions, (args) => run(() => reportCommand(args)))
  .command('export <dir>', "export a sweep's rows to Parquet or CSV", exportOptions, (args) => run(() => exportCommand(args)))
  .command('compact <dir>', "merge a sweep directory's small part files into large ones (refused while it is being written)", compactOptions, (args) =>
    run(() => compactCommand(args)),
  )
  .command('doctor', 'check this node: backends, GPU, datasets, and with --nats the server and JetStream', doctorOptions, (args) =>
    run(() => doctorCommand(args)),
  )
  .command('cell', 'train one network and measure its loss landscape', cellOptions, (args) => run(() => cellCommand(args)))
  .command('spectrum', 'Hessian and Gauss-Newton spectra of a fixed network on fixed data', spectrumOptions, (args) => run(() => spectrumCommand(args)))
  .option('debug', { type: 'boolean', global: true, describe: 'print the stack of an unexpected error (env HESSWEEP_DEBUG=1)' })
  .demandCommand(1, 'name a command')
  .strict()
  .fail((message, error) => {
    if (error) throw error;
    process.stderr.write(`hessweep: ${message}\n(run hessweep --help for usage)\n`);
    process.exit(EXIT.usage);
  })
  .help()
  .wrap(Math.min(110, process.stdout.columns ?? 110))
  .parseAsync();
