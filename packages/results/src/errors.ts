/** A result file that cannot be written, or read back as result rows. The message names the path. */
export class ResultFileError extends Error {
  override readonly name = 'ResultFileError';

  constructor(readonly path: string, detail: string, options?: { cause?: unknown }) {
    super(`${path}: ${detail}`, options);
  }
}

/** A row whose value does not fit its column; refused before anything is written. */
export class ResultRowError extends Error {
  override readonly name = 'ResultRowError';

  constructor(readonly column: string, readonly cellId: string, detail: string) {
    super(`column ${column} of cell ${cellId}: ${detail}`);
  }
}
