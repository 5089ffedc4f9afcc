import { readFileSync } from 'node:fs';
import { NATIVE_TFJS_PACKAGES, type BackendChoice, type CurvatureEngineName } from '@hessweep/grid';
import { totalmem } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * The curvature engine a cell runs on with `backend`, for its memory estimate: tfjs on the `tensorflow` backend
 * (asked for, or what `auto` takes when a native binding is installed here), the kernels on wasm and cpu.
 */
export function curvatureEngineFor(backend: BackendChoice): CurvatureEngineName {
  if (backend === 'tensorflow') return 'tfjs';
  if (backend !== 'auto') return 'kernels';
  return NATIVE_TFJS_PACKAGES.some(installed) ? 'tfjs' : 'kernels';
}

function installed(name: string): boolean {
  try {
    import.meta.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** Reserving more than the whole budget: such a request could never be granted. */
export class OverBudgetError extends RangeError {
  override name = 'OverBudgetError';
}

/**
 * A worker's memory in bytes, shared by its slots: `reserve` takes bytes (waiting, first come first served,
 * until running cells release enough), `release` gives them back. A request never passes an earlier one
 * still waiting, so a big cell is not starved by a stream of small ones.
 */
export class MemoryBudget {
  private used = 0;
  private readonly queue: { bytes: number; grant: () => void }[] = [];

  constructor(readonly total: number) {
    // Infinity: no limit.
    if (!(total >= 0)) throw new RangeError(`memory budget must be a non-negative number of bytes, got ${total}`);
  }

  /** Bytes not reserved. */
  get free(): number {
    return this.total - this.used;
  }

  /** Bytes asked for by reservations still waiting. */
  get waiting(): number {
    return this.queue.reduce((sum, r) => sum + r.bytes, 0);
  }

  /** Reserves `bytes` now if they are free and nothing waits before them; false otherwise (nothing reserved). */
  tryReserve(bytes: number): boolean {
    this.check(bytes);
    if (this.queue.length > 0 || bytes > this.free) return false;
    this.used += bytes;
    return true;
  }

  /**
   * Reserves `bytes`, waiting for them behind earlier requests. Rejects with `signal`'s reason if it aborts
   * first (nothing is then reserved), and at once with OverBudgetError for more than the whole budget.
   */
  async reserve(bytes: number, signal?: AbortSignal): Promise<void> {
    // Synchronous up to here: bytes that are free are reserved before the caller goes on.
    if (this.tryReserve(bytes)) return;
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const request = {
        bytes,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.queue.splice(this.queue.indexOf(request), 1);
        reject(signal!.reason);
        // The head may have been what held the others back.
        this.grantWaiting();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(request);
    });
  }

  /** Gives back `bytes` reserved earlier and grants the waiting requests that now fit, in order. */
  release(bytes: number): void {
    if (!(bytes >= 0 && bytes <= this.used)) throw new RangeError(`cannot release ${bytes} bytes: ${this.used} are reserved`);
    this.used -= bytes;
    this.grantWaiting();
  }

  private grantWaiting(): void {
    while (this.queue.length > 0 && this.queue[0].bytes <= this.free) {
      const request = this.queue.shift()!;
      this.used += request.bytes;
      request.grant();
    }
  }

  private check(bytes: number): void {
    if (!(Number.isFinite(bytes) && bytes >= 0)) throw new RangeError(`cannot reserve ${bytes} bytes`);
    if (bytes > this.total) throw new OverBudgetError(`cannot reserve ${bytes} bytes of a budget of ${this.total}`);
  }
}

/** What a worker process needs besides its cells: the main thread, the queue client, rows being published. */
export const WORKER_RESERVE = 256 * 2 ** 20;

/** cgroup v1 writes "no limit" as a huge number (2^63 rounded down to a page). */
const UNLIMITED_V1 = 2 ** 62;

/** Where the memory a process may use is read from; tests point it at a fake tree. */
export interface MemorySources {
  /** Text of /proc/self/cgroup. */
  procCgroup?: string;
  /** Mount point of the cgroup file systems (v2 directly, v1 under `memory/`). */
  cgroupRoot?: string;
  totalMemory?: number;
}

/**
 * The memory this process may use and where that figure comes from: the tightest memory limit of its cgroup
 * and the cgroup's ancestors (v2 `memory.max`, v1 `memory.limit_in_bytes`; `max` or v1's huge value means
 * none), capped by the machine's total memory.
 */
export function memoryLimit(sources: MemorySources = {}): { bytes: number; source: string } {
  const total = sources.totalMemory ?? totalmem();
  const root = sources.cgroupRoot ?? '/sys/fs/cgroup';
  const lines = (sources.procCgroup ?? readOrUndefined('/proc/self/cgroup') ?? '').split('\n');
  let best: { bytes: number; source: string } = { bytes: total, source: 'total memory of the machine' };
  for (const line of lines) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (path === undefined) continue;
    const where = controllers === '' ? { dir: root, file: 'memory.max' } : controllers.split(',').includes('memory') ? { dir: join(root, 'memory'), file: 'memory.limit_in_bytes' } : null;
    if (!where) continue;
    for (const file of ancestors(where.dir, path, where.file)) {
      const bytes = parseLimit(readOrUndefined(file));
      if (bytes !== undefined && bytes < best.bytes) best = { bytes, source: `cgroup limit (${file})` };
    }
  }
  return best;
}

/** `file` in the cgroup directory at `path` under `root` and in each of its parents up to `root`. */
function ancestors(root: string, path: string, file: string): string[] {
  const out: string[] = [];
  for (let dir = join(root, path); ; dir = dirname(dir)) {
    out.push(join(dir, file));
    if (dir === root || !dir.startsWith(root)) return out;
  }
}

function parseLimit(text: string | undefined): number | undefined {
  const value = text?.trim();
  if (value === undefined || value === '' || value === 'max') return undefined;
  const bytes = Number(value);
  return Number.isFinite(bytes) && bytes >= 0 && bytes < UNLIMITED_V1 ? bytes : undefined;
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
