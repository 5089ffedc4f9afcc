/** A result file that cannot be written, or read back as result rows. The message names the path. */
export class ResultFileError extends Error {
  override readonly name = 'ResultFileError';

  constructor(readonly path: string, detail: string, options?: { cause?: unknown }) {
    super(`${path}: ${detail}`, options);
  }
}

/**
 * A part file that was listed and then gone when it was opened: a compaction merged it into a larger part
 * (written durably before it removed this one), so a fresh listing holds its rows. Readers list again.
 */
export class PartGoneError extends ResultFileError {
  constructor(path: string, options?: { cause?: unknown }) {
    super(path, 'removed while being read (merged by a compaction); list the parts again', options);
  }
}

/** A row whose value does not fit its column; refused before anything is written. */
export class ResultRowError extends Error {
  override readonly name = 'ResultRowError';

  constructor(readonly column: string, readonly cellId: string, detail: string) {
    super(`column ${column} of cell ${cellId}: ${detail}`);
  }
}

/** What the operating system's error codes mean to someone looking after a results directory. */
const CAUSES: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error from the device',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a path component is a file, not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'already exists',
  ENOENT: 'no such file or directory',
  ENAMETOOLONG: 'file name too long',
  EMFILE: 'too many open files',
  SHORT_WRITE: 'the device accepted fewer bytes than were written',
};

/** Codes of faults of the storage itself (as opposed to a path or permission the operator got wrong). */
const DEVICE_FAULTS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'SHORT_WRITE']);

/** `ENOSPC` → `no space left on the device (ENOSPC)`; unknown codes keep the system's message. */
export function describeCause(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && CAUSES[code] !== undefined) return `${CAUSES[code]} (${code})`;
  return (error as Error).message ?? String(error);
}

/**
 * Writing to a results directory failed. `fault` is true for faults of the device (disk full, read-only file
 * system, I/O error): the write left nothing under its final name and what was being written is still held
 * by its producer (in memory, or unacknowledged in the queue), so freeing space and running again loses nothing.
 */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  readonly code: string | undefined;
  readonly fault: boolean;

  /** `hint` says what the failure means for the caller's data and what to do. */
  constructor(readonly path: string, readonly action: string, cause: unknown, hint?: string) {
    super(`${path}: cannot ${action}: ${describeCause(cause)}${hint ? `; ${hint}` : ''}`, { cause });
    this.code = (cause as NodeJS.ErrnoException).code;
    this.fault = this.code !== undefined && DEVICE_FAULTS.has(this.code);
  }
}

/**
 * A sweep directory whose content cannot be trusted as it is: a damaged or foreign part file, an invalid
 * manifest, a path that is not a sweep directory. The message says which file, what is wrong and what to do.
 */
export class SweepStoreError extends Error {
  override readonly name = 'SweepStoreError';
}

/** Another live process owns the sweep (its directory lock, or its coordinator lease on NATS). */
export class SweepOwnedError extends Error {
  override readonly name = 'SweepOwnedError';
}
