import type { SweepOutcome, SweepProgress } from '@hessweep/coordinator';

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Cells done / total, failures, rate and ETA of this run's cells. */
export function describeProgress(p: SweepProgress, now = Date.now()): string {
  const finished = p.ok + p.failed;
  const ranNow = finished - p.skipped;
  const elapsed = (now - p.startedAt) / 1000;
  const perMinute = elapsed > 0 ? (ranNow / elapsed) * 60 : 0;
  const left = p.total - finished;
  const eta = ranNow > 0 ? (left / ranNow) * elapsed : Number.NaN;
  return `${finished}/${p.total} cells (${p.ok} ok, ${p.failed} failed)  ${perMinute.toFixed(1)} cells/min  elapsed ${duration(elapsed)}  ETA ${left === 0 ? '0s' : duration(eta)}`;
}

const TTY_REDRAW_MS = 100;

/**
 * Sweep progress on stderr: a live bar on a TTY, otherwise a plain line at most every `intervalMs`
 * (and for every failure), so that logs stay readable.
 */
export class SweepProgressView {
  private readonly tty = process.stderr.isTTY === true;
  private lastLine = 0;
  private latest: SweepProgress | null = null;

  constructor(
    private readonly quiet: boolean,
    private readonly intervalMs = 10_000,
  ) {}

  update(progress: SweepProgress): void {
    this.latest = progress;
    if (this.quiet) return;
    if (progress.row?.status === 'failed') this.note(`cell ${progress.row.cell_id} failed after ${progress.row.attempt} attempt(s): ${progress.row.error}`);
    const finished = progress.ok + progress.failed === progress.total;
    if (this.tty) {
      // Redrawn at most ten times a second: a sweep of thousands of cells a second must not spend its time on the terminal.
      if (Date.now() - this.lastLine < TTY_REDRAW_MS && !finished) return;
      this.lastLine = Date.now();
      const width = 30;
      const filled = progress.total ? Math.round((width * (progress.ok + progress.failed)) / progress.total) : width;
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${describeProgress(progress)}\x1b[K`);
    } else if (Date.now() - this.lastLine >= this.intervalMs || finished) {
      this.lastLine = Date.now();
      process.stderr.write(`progress ${describeProgress(progress)}\n`);
    }
  }

  /** A line that must not be overwritten by the bar. */
  note(message: string): void {
    if (this.quiet) return;
    process.stderr.write(`${this.tty ? '\r\x1b[K' : ''}${message}\n`);
    if (this.tty && this.latest) {
      this.lastLine = 0;
      this.update({ ...this.latest, row: undefined });
    }
  }

  end(): void {
    if (!this.quiet && this.tty) process.stderr.write('\n');
  }
}

/** The closing line of a sweep run. */
export function describeOutcome(outcome: SweepOutcome): string {
  return (
    `sweep ${outcome.sweep}: ${outcome.ok} ok, ${outcome.failed} failed, ${outcome.remaining} not finished, of ${outcome.total} cells` +
    ` (${outcome.skipped} done before); results in ${outcome.dir}\n`
  );
}

/** 0 all ok, 1 some cells failed, 130 stopped before every cell had a row. */
export function outcomeExitCode(outcome: SweepOutcome): number {
  if (outcome.remaining > 0) return 130;
  return outcome.failed > 0 ? 1 : 0;
}
