import type { StageEvent } from '@hessweep/landscape';

/**
 * Progress of one cell on stderr: a line per finished stage and, on a TTY, a live line during training
 * (plain lines per epoch would flood a log file, so off a TTY only the stage lines are written).
 */
export class CellProgress {
  private readonly tty = process.stderr.isTTY === true;

  constructor(private readonly quiet: boolean) {}

  epoch(epoch: number, epochs: number, loss: number): void {
    if (this.quiet || !this.tty) return;
    process.stderr.write(`\r  train  epoch ${epoch}/${epochs}  loss ${loss.toFixed(4)}\x1b[K`);
    if (epoch === epochs) process.stderr.write('\r\x1b[K');
  }

  stage(event: StageEvent): void {
    if (this.quiet) return;
    process.stderr.write(`  ${event.stage.padEnd(8)} ${event.seconds.toFixed(2).padStart(6)} s  ${event.message}\n`);
  }
}
