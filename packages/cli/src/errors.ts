import { describeCause } from '@hessweep/results/errors';

/** A mistake in what the user asked for: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Exit codes: 0 success, 1 a run that failed (a computation, or a fault of the storage), 2 bad input. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/**
 * Errors that mean the input was wrong: arguments, specs, data and result files, sweep directories, NATS names and
 * credentials. They are told apart by `name`, which each of these classes sets (a subclass that does not, such as
 * results' PartGoneError, keeps its parent's): importing the classes would load every package for any command.
 */
const BAD_INPUT = new Set([
  'UsageError', 'SpecError', 'DataError', 'BackendError', 'SweepError', 'SweepStoreError', 'SweepOwnedError', 'SweepClaimedError', 'NatsConnectError',
  'NoStreamsError', 'ResultFileError', 'AnalysisError',
]);

/** System error codes that mean a path was wrong (as opposed to a fault of the device). */
const PATH_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EEXIST', 'EACCES', 'EPERM', 'ENAMETOOLONG']);

/**
 * How an error ends the process: the one line to print and the exit code. Every expected failure is one line
 * naming what and where; anything else is an internal error, also one line, with its stack only under --debug.
 */
export function describeFailure(error: unknown, debug: boolean): { line: string; code: number } {
  const e = error as Error & { code?: unknown; path?: unknown; fault?: boolean };
  const name = error instanceof Error ? error.name : '';
  if (BAD_INPUT.has(name)) return { line: e.message, code: EXIT.usage };
  if (name === 'StorageError') return { line: e.message, code: e.fault ? EXIT.failed : EXIT.usage };
  // Valid input whose computation did not produce finite numbers: a failed run.
  if (name === 'MeasurementError') return { line: e.message, code: EXIT.failed };
  if (e?.name === 'NatsError') {
    // A refusal by the server's permissions is the deployment's to fix; anything else is a failed run.
    const refused = /permission|authorization/i.test(e.message);
    return { line: `NATS: ${e.message}${refused ? ' (check this user\'s permissions in the server configuration)' : ''}`, code: refused ? EXIT.usage : EXIT.failed };
  }
  if (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code)) {
    const where = typeof e.path === 'string' ? `${e.path}: ` : '';
    return { line: `${where}${describeCause(error)}`, code: PATH_CODES.has(e.code) ? EXIT.usage : EXIT.failed };
  }
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(error);
  return {
    line: debug && e instanceof Error && e.stack ? e.stack : `internal error: ${message.split('\n')[0]} (run with --debug for the stack)`,
    code: EXIT.failed,
  };
}
