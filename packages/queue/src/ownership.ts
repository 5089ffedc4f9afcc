import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { JSONCodec, type KV, type KvEntry } from 'nats';
import { processAlive } from '@hessweep/grid';

/** Who coordinates a sweep: its entry in the owners bucket, keyed by sweep name, renewed while it runs. */
export interface SweepOwner {
  host: string;
  pid: number;
  /** When it took the sweep (ISO-8601). */
  since: string;
  /** Its results directory. */
  out: string;
  /** Tells this owner's entry from a successor's. */
  token: string;
}

export interface ClaimOptions {
  /** The results directory, shown to a refused second coordinator. */
  out: string;
  /** How long an entry stands without renewal; renewed every third of it. */
  leaseMs: number;
  /** Wait for a live-looking owner's lease to lapse (a coordinator known to be dead), then take over. */
  takeover?: boolean;
  onNote?: (message: string) => void;
  /** Called once if another coordinator took the sweep (this one's renewals failed for a whole lease). */
  onLost?: (owner: SweepOwner | null) => void;
  /** Renewal failures other than losing the sweep (a server restarting), for the log. */
  onRenewError?: (error: Error) => void;
}

export interface SweepClaim {
  readonly owner: SweepOwner;
  /** Stops renewing and removes the entry if it is still this owner's. */
  release(): Promise<void>;
}

/** A second coordinator for a sweep whose owner is alive. */
export class SweepClaimedError extends Error {
  override name = 'SweepClaimedError';
}

const json = JSONCodec();

export function describeSweepOwner(owner: SweepOwner): string {
  return `the coordinator on ${owner.host} (pid ${owner.pid}, since ${owner.since}, writing ${owner.out})`;
}

function decode(entry: KvEntry | null): SweepOwner | null {
  if (!entry || entry.value.length === 0 || entry.operation !== 'PUT') return null;
  try {
    return json.decode(entry.value) as SweepOwner;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Makes this process the coordinator of `sweep`: an entry in the owners bucket created atomically, renewed
 * (compare-and-set on its revision) every third of the lease. An existing entry is taken over (with a note)
 * when its owner is gone: its process has ended on this host, or its entry has not been renewed for two
 * leases by the server's clock. Otherwise the claim is refused with a SweepClaimedError naming the owner —
 * unless `takeover`, which watches the entry for a whole lease and takes it over if it was not renewed.
 */
export async function claimSweep(kv: KV, sweep: string, options: ClaimOptions): Promise<SweepClaim> {
  const owner: SweepOwner = { host: hostname(), pid: process.pid, since: new Date().toISOString(), out: options.out, token: randomBytes(8).toString('hex') };
  let revision = await take(kv, sweep, owner, options);
  let lost = false;
  const renew = async () => {
    try {
      revision = await kv.update(sweep, json.encode(owner), revision);
    } catch (error) {
      const current = await kv.get(sweep).catch(() => undefined);
      if (current === undefined) {
        options.onRenewError?.(error as Error);
        return;
      }
      const holder = decode(current);
      if (holder?.token === owner.token) {
        revision = current!.revision;
        return;
      }
      lost = true;
      clearInterval(timer);
      options.onLost?.(holder);
    }
  };
  const timer = setInterval(() => void renew(), Math.max(200, options.leaseMs / 3));
  return {
    owner,
    async release() {
      clearInterval(timer);
      if (lost) return;
      await kv.delete(sweep, { previousSeq: revision }).catch(() => undefined);
    },
  };
}

/** Creates the entry, or takes over a dead owner's; returns the entry's revision. */
async function take(kv: KV, sweep: string, owner: SweepOwner, options: ClaimOptions): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await kv.create(sweep, json.encode(owner));
    } catch (error) {
      if (attempt > 3) throw error;
    }
    const entry = await kv.get(sweep);
    if (!entry || entry.operation !== 'PUT') continue; // released meanwhile: create again
    const holder = decode(entry);
    let why = holder ? gone(holder, entry, options.leaseMs) : 'its entry is unreadable';
    if (why === null && options.takeover) {
      options.onNote?.(`sweep ${sweep} is held by ${describeSweepOwner(holder!)}; --takeover: waiting up to ${Math.round(options.leaseMs / 1000)} s for its lease to lapse`);
      why = await lapsed(kv, sweep, entry.revision, options.leaseMs);
      if (why === null) throw new SweepClaimedError(`sweep ${sweep} is still coordinated by ${describeSweepOwner(holder!)}: it renewed its lease while --takeover waited; stop it first`);
    }
    if (why === null) {
      throw new SweepClaimedError(
        `sweep ${sweep} is already coordinated by ${describeSweepOwner(holder!)}; a second coordinator would split its results. ` +
          'If that coordinator is dead, run again with --takeover (it waits for the lease to lapse)',
      );
    }
    try {
      const revision = await kv.update(sweep, json.encode(owner), entry.revision);
      options.onNote?.(`took over sweep ${sweep}${holder ? ` from ${describeSweepOwner(holder)}` : ''}: ${why}`);
      return revision;
    } catch {
      // Someone else took it (or it was renewed) meanwhile: look again.
    }
  }
}

/** Why an owner counts as gone, or null while it looks alive. */
function gone(holder: SweepOwner, entry: KvEntry, leaseMs: number): string | null {
  if (holder.host === hostname() && !processAlive(holder.pid)) return `pid ${holder.pid} is no longer running on ${holder.host}`;
  const age = Date.now() - entry.created.getTime();
  if (age > 2 * leaseMs) return `its lease was last renewed ${Math.round(age / 1000)} s ago`;
  return null;
}

/** Watches an entry for a whole lease (by this process's clock): why it lapsed, or null if it was renewed. */
async function lapsed(kv: KV, sweep: string, revision: number, leaseMs: number): Promise<string | null> {
  const deadline = Date.now() + leaseMs * 1.5;
  while (Date.now() < deadline) {
    await sleep(Math.max(100, leaseMs / 10));
    const entry = await kv.get(sweep).catch(() => undefined);
    if (entry !== undefined && (entry === null || entry.revision !== revision)) return entry === null || entry.operation !== 'PUT' ? 'it was released' : null;
  }
  return `not renewed for ${Math.round((leaseMs * 1.5) / 1000)} s`;
}
