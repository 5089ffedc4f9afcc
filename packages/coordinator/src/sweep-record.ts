import type { SweepRecord, SweepRegistry } from '@hessweep/queue';
import type { SweepOutcome, SweepProgress } from './coordinator.js';

/** How often a running sweep's counts are written to its record (what `status --nats` shows). */
const PROGRESS_EVERY_MS = 1000;

/**
 * A coordinator's side of its sweep's record in the sweeps bucket: progress written at most once a second,
 * the final state at the end, and a cancellation (`hessweep cancel`) reported through `onCancelled`. The
 * record only feeds `status` and workers' choice of sweeps; the rows on disk are the result, so failing to
 * write it is never fatal.
 */
export class SweepRecordKeeper {
  private lastPut = 0;
  private stopWatch: () => void = () => {};
  cancelled = false;

  private constructor(
    private readonly registry: Pick<SweepRegistry, 'put' | 'watch'>,
    /** The record as written by `prepareSweep`, not read back: after a node loss a KV read can come back empty. */
    private readonly record: SweepRecord,
  ) {}

  static async start(registry: Pick<SweepRegistry, 'put' | 'watch'>, record: SweepRecord, onCancelled: () => void): Promise<SweepRecordKeeper> {
    const keeper = new SweepRecordKeeper(registry, record);
    keeper.stopWatch = await registry.watch(record.sweep, (current) => {
      if (current.state !== 'cancelled' || keeper.cancelled) return;
      keeper.cancelled = true;
      onCancelled();
    });
    return keeper;
  }

  progress(progress: SweepProgress): void {
    if (Date.now() - this.lastPut < PROGRESS_EVERY_MS) return;
    this.lastPut = Date.now();
    void this.put({ ok: progress.ok, failed: progress.failed }).catch(() => undefined);
  }

  /** Records how the run ended; resolves to the error when the record could not be written. */
  async finish(outcome: SweepOutcome): Promise<{ state: SweepRecord['state']; error: Error | null }> {
    this.stopWatch();
    const state = this.cancelled ? 'cancelled' : outcome.remaining === 0 ? 'done' : 'running';
    try {
      await this.put({ state, ok: outcome.ok, failed: outcome.failed });
      return { state, error: null };
    } catch (error) {
      return { state, error: error as Error };
    }
  }

  stop(): void {
    this.stopWatch();
  }

  private put(change: Partial<SweepRecord>): Promise<void> {
    return this.registry.put(this.record.sweep, { ...this.record, ...change, updated: new Date().toISOString() });
  }
}
