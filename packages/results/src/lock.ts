import { randomBytes } from 'node:crypto';
import { link, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { StorageError, SweepOwnedError } from './errors.js';
import { processAlive } from '@hessweep/grid';
import type { SweepPaths } from './store.js';

/** Who holds a sweep directory: written into `lock.json`, whose modification time is the holder's heartbeat. */
export interface LockOwner {
  pid: number;
  host: string;
  /** When the holder took the lock (ISO-8601). */
  since: string;
  /** The holder's command line, for the operator who finds the lock. */
  command: string;
  /** Tells this holder's lock from a successor's. */
  token: string;
}

export interface LockOptions {
  /** What the holder is doing, shown to a refused second process (e.g. `hessweep run quick.yaml`). */
  command: string;
  /** A lock whose heartbeat is older than this is stale; the holder refreshes it every quarter of it. */
  leaseMs?: number;
  onNote?: (message: string) => void;
  /** Called once if another process takes the lock away (this holder's heartbeat stopped for a whole lease). */
  onLost?: (owner: LockOwner | null) => void;
}

export interface SweepLock {
  readonly owner: LockOwner;
  /**
   * Whether the lock is still this holder's, read from the file now: a writer checks before each write, since
   * a holder stalled past its lease (suspended, swapped out) may have been taken over before its heartbeat
   * noticed. Losing it is reported through `onLost`, as by the heartbeat.
   */
  held(): Promise<boolean>;
  /** Stops the heartbeat and removes the lock if it is still this holder's. */
  release(): Promise<void>;
}

const DEFAULT_LEASE_MS = 60_000;

export function describeOwner(owner: LockOwner): string {
  return `pid ${owner.pid} on ${owner.host} since ${owner.since} (${owner.command})`;
}

/** Why a lock can be taken over, or null while its holder is alive. */
async function staleness(path: string, owner: LockOwner | null, leaseMs: number): Promise<string | null> {
  if (owner === null) return 'the lock file is unreadable';
  const age = Date.now() - (await stat(path)).mtimeMs;
  if (owner.host === hostname() && !processAlive(owner.pid)) return `pid ${owner.pid} is no longer running`;
  if (age > leaseMs) return `its heartbeat is ${Math.round(age / 1000)} s old (lease ${Math.round(leaseMs / 1000)} s)`;
  return null;
}

async function readOwner(path: string): Promise<LockOwner | null> {
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as LockOwner;
    return typeof value.pid === 'number' && typeof value.host === 'string' && typeof value.token === 'string' ? value : null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
    return null;
  }
}

/**
 * Makes this process the one writer of a sweep directory. The lock is `lock.json`, created whole and
 * atomically (written to a temp file, then hard-linked into place, which fails if a lock exists). A live
 * holder's lock is refused with a SweepOwnedError naming it; a stale one (its process gone from this host,
 * or its heartbeat older than the lease) is taken over with a note. While held, a timer refreshes the lock's
 * modification time and checks that the lock is still this holder's.
 */
export async function acquireSweepLock(paths: SweepPaths, options: LockOptions): Promise<SweepLock> {
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const owner: LockOwner = {
    pid: process.pid, host: hostname(), since: new Date().toISOString(), command: options.command, token: randomBytes(8).toString('hex'),
  };
  const tmp = `${paths.lock}.tmp-${process.pid}-${owner.token}`;
  try {
    await writeFile(tmp, `${JSON.stringify(owner, null, 2)}\n`, { flag: 'wx' });
  } catch (error) {
    throw new StorageError(paths.dir, 'create its lock file', error);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(tmp, paths.lock);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new StorageError(paths.dir, 'create its lock file', error);
      }
      let holder: LockOwner | null;
      try {
        holder = await readOwner(paths.lock);
      } catch {
        continue; // released meanwhile: try again
      }
      const why = await staleness(paths.lock, holder, leaseMs).catch(() => null);
      if (why === null || attempt > 3) {
        throw new SweepOwnedError(
          holder ? `${paths.dir} is being written by ${describeOwner(holder)}; wait for it to finish or stop it (its lock: ${paths.lock})`
            : `${paths.dir} is locked by ${paths.lock}, which cannot be read`,
        );
      }
      // Take over only the lock that was judged stale: move it aside, and put it back if it was replaced meanwhile.
      const aside = `${paths.lock}.stale-${owner.token}`;
      try {
        await rename(paths.lock, aside);
      } catch {
        continue;
      }
      const moved = await readOwner(aside).catch(() => null);
      if (holder && moved && moved.token !== holder.token) {
        await link(aside, paths.lock).catch(() => undefined);
        await unlink(aside).catch(() => undefined);
        continue;
      }
      await unlink(aside).catch(() => undefined);
      options.onNote?.(`took over the lock of ${paths.dir}${holder ? ` from ${describeOwner(holder)}` : ''}: ${why}`);
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
  }

  let lost = false;
  const held = async () => {
    if (lost) return false;
    const holder = await readOwner(paths.lock).catch(() => null);
    if (holder?.token === owner.token) return true;
    if (!lost) {
      lost = true;
      clearInterval(timer);
      options.onLost?.(holder);
    }
    return false;
  };
  const beat = async () => {
    if (!(await held())) return;
    const now = new Date();
    await utimes(paths.lock, now, now).catch(() => undefined);
  };
  const timer = setInterval(() => void beat(), Math.max(250, leaseMs / 4));
  timer.unref();
  return {
    owner,
    held,
    async release() {
      clearInterval(timer);
      if (lost) return;
      const holder = await readOwner(paths.lock).catch(() => null);
      if (holder?.token === owner.token) await unlink(paths.lock).catch(() => undefined);
    },
  };
}

/** The holder of a sweep directory's lock, if any, and whether it is alive (by the same rule as acquiring). */
export async function inspectLock(paths: SweepPaths, leaseMs = DEFAULT_LEASE_MS): Promise<{ owner: LockOwner | null; live: boolean } | null> {
  let owner: LockOwner | null;
  try {
    owner = await readOwner(paths.lock);
  } catch {
    return null;
  }
  const why = await staleness(paths.lock, owner, leaseMs).catch(() => 'gone');
  return { owner, live: why === null };
}
