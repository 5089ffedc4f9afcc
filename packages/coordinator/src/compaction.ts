import { compactParts, type CompactionPolicy, type PartInfo } from '@hessweep/results';

export interface SweepCompactionOptions {
  /** Throws when this process may no longer write the sweep (the directory lock, the NATS hold). */
  confirm: () => Promise<void>;
  /** Rows the sweep will have when done (its cells), so parts are merged to their final size from the start. */
  expectedRows: number;
  policy?: Partial<CompactionPolicy>;
  onNote?: (message: string) => void;
}

/**
 * Compaction of a sweep directory by the process that writes it (results' compactParts), under its
 * directory lock: after each part write one background step (at most one merge) is queued, and at the end of
 * a finished run everything due is merged, so a finished sweep has few parts (at most targetParts / 2 plus
 * one per spec it ran under). Part writes and compaction steps take turns (`exclusive`): a merge never runs
 * while a part is being written, and a part write waits for at most one merge.
 *
 * A compaction that fails (disk full, I/O error, a damaged part) loses nothing: the parts of the run it was
 * merging stay, and its temp file is removed. It is reported as a note and compaction stops for this run;
 * the sweep goes on. A fault of the disk then stops the sweep at its next part write, with that write's
 * StorageError, as without compaction.
 */
export class SweepCompaction {
  private turn: Promise<unknown> = Promise.resolve();
  private queued = false;
  private stopped = false;
  /** Parts described before (their footers), so a step reads only the new ones. */
  private readonly known = new Map<string, PartInfo>();

  constructor(private readonly partsDir: string, private readonly options: SweepCompactionOptions) {}

  /** Runs `task` once the part write or compaction step before it has finished. */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.turn.then(task);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /** A part was written: queues a background step unless one is queued already. */
  partWritten(): void {
    if (this.queued || this.stopped) return;
    this.queued = true;
    void this.exclusive(async () => {
      this.queued = false;
      await this.step(false);
    });
  }

  /** Waits until the queued step, if any, has run. */
  async settle(): Promise<void> {
    await this.exclusive(async () => undefined);
  }

  /** The end of a finished run: merges every run that the policy allows. */
  async finish(): Promise<void> {
    await this.exclusive(() => this.step(true));
  }

  private async step(final: boolean): Promise<void> {
    if (this.stopped) return;
    const { confirm, expectedRows, policy, onNote } = this.options;
    try {
      const result = await compactParts(this.partsDir, { final, maxMerges: final ? undefined : 1, policy, expectedRows, confirm, known: this.known });
      if (result.leftoversRemoved > 0) {
        onNote?.(`removed ${result.leftoversRemoved} part file(s) whose rows an interrupted compaction had already merged`);
      }
      if (final && result.merges > 0) onNote?.(`compacted ${this.partsDir}: ${result.partsBefore} part files → ${result.partsAfter}`);
    } catch (error) {
      this.stopped = true;
      onNote?.(`compaction stopped: ${(error as Error).message}; no row is lost (the parts stay as they are) and the sweep goes on; \`hessweep compact\` merges them later`);
    }
  }
}
