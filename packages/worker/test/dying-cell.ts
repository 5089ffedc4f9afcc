/** The cue shared by the worker tests and dying-thread.ts: the first attempt of a cell with this seed kills its thread. */
import type { CellRequest } from '../src/protocol.js';

export const DYING_SEED = 666;

export function killsThread(request: CellRequest): boolean {
  return request.cell.seed === DYING_SEED && request.context.attempt === 1;
}
