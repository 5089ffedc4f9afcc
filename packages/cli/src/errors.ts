/** A mistake in what the user asked for: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Exit codes: 0 success, 1 a run that failed, 2 bad input (arguments, spec, problem or data files). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;
