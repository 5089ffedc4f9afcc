import { formatBytes } from '@hessweep/grid';
import { WORKER_RESERVE, memoryLimit } from '@hessweep/worker/memory';
import { UsageError } from './errors.js';

/** `--memory`, for every command that computes cells (`worker`, `run`). */
export const MEMORY_OPTION = {
  type: 'string',
  describe:
    `memory this process may use, e.g. 8G, 1500M or bytes (K, M, G, T: powers of 1024); default: its cgroup limit, else the machine's memory. ` +
    `Cells run while their estimated peaks fit in it, less ${formatBytes(WORKER_RESERVE)} for the process itself`,
} as const;

const UNIT_POWERS: Record<string, number> = { '': 0, k: 1, m: 2, g: 3, t: 4 };
const SIZE = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])i?b?)?$/i;

/**
 * A memory size as `--memory` takes it: a number of bytes, or a number with K, M, G or T (also written Ki,
 * KiB or KB …), all powers of 1024 as Slurm and Docker read them; bytes are whole.
 */
export function parseMemorySize(text: string, flag = '--memory'): number {
  const match = SIZE.exec(text.trim());
  const problem = (why: string) => new UsageError(`${flag} ${JSON.stringify(text)}: ${why} (e.g. 8G, 1500M, or a number of bytes)`);
  if (match === null) throw problem('not a size');
  const [, number, unit = ''] = match;
  if (unit === '' && number.includes('.')) throw problem('a number of bytes is whole');
  const bytes = Math.floor(Number(number) * 1024 ** UNIT_POWERS[unit.toLowerCase()]);
  if (!(bytes > 0)) throw problem('must be more than 0');
  if (!Number.isSafeInteger(bytes)) throw problem('too large');
  return bytes;
}

/**
 * The bytes a process's cells may use: `--memory` (or the memory limit found) less `WORKER_RESERVE`, and a
 * line that says where it comes from.
 */
export function cellMemoryBudget(memory: unknown): { bytes: number; describe: string } {
  if (Array.isArray(memory)) throw new UsageError(`--memory given ${memory.length} times`);
  const limit = memory === undefined ? memoryLimit() : { bytes: parseMemorySize(String(memory)), source: '--memory' };
  const bytes = limit.bytes - WORKER_RESERVE;
  if (bytes <= 0) {
    throw new UsageError(`${limit.source} ${formatBytes(limit.bytes)} leaves nothing for cells after the ${formatBytes(WORKER_RESERVE)} the process needs itself`);
  }
  return { bytes, describe: `${formatBytes(bytes)} for cells (${formatBytes(limit.bytes)} from ${limit.source}, less ${formatBytes(WORKER_RESERVE)} for the process)` };
}
