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
  /** Its lease: it renews every third of this, so only an entry unrenewed for longer is lapsed. */
  leaseMs: number;
  /** Tells this owner's entry from a successor's. */
  token: string;
}

export interface ClaimOptions {
  /** The results directory, shown to a refused second coordinator. */
  out: string;
  /** How long this owner's entry stands without renewal; renewed every third of it. */
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
  /**
   * Whether this process still holds the sweep, for a writer to check before each write: true while the last
   * renewal is younger than the lease (no successor can take over sooner: it waits 1.5 leases, or 2); else
   * (this process was stalled, or the server unreachable) after renewing now, trying for up to a lease.
   * Losing the sweep is reported through `onLost`.
   */
  held(): Promise<boolean>;
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
    const owner = json.decode(entry.value) as SweepOwner;
    const valid = typeof owner.host === 'string' && typeof owner.pid === 'number' && typeof owner.token === 'string' && owner.leaseMs > 0;
    return valid ? owner : null;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Makes this process the coordinator of `sweep`: an entry in the owners bucket created atomically, renewed
 * (compare-and-set on its revision) every third of the lease. An existing entry is taken over (with a note)
 * when its owner is gone: its process has ended on this host, or its entry has not been renewed for two of
 * the owner's leases by the server's clock. Otherwise the claim is refused with a SweepClaimedError naming
 * the owner — unless `takeover`, which watches the entry for 1.5 of the owner's leases (not this process's:
 * a shorter one would miss the renewals of a live owner) and takes it over if it was not renewed.
 */
export async function claimSweep(kv: KV, sweep: string, options: ClaimOptions): Promise<SweepClaim> {
  const owner: SweepOwner = {
    host: hostname(), pid: process.pid, since: new Date().toISOString(), out: options.out, leaseMs: options.leaseMs, token: randomBytes(8).toString('hex'),
  };
  let { revision, sentAt } = await take(kv, sweep, owner, options);
  /** Until when this process surely holds the sweep: a lease after its last successful write was sent. */
  let validUntil = sentAt + options.leaseMs;
  let lost = false;
  /** Renews the entry; whether it did (false also when the sweep was lost, or the server did not answer). */
  const renew = async (): Promise<boolean> => {
    const sent = Date.now();
    try {
      revision = await kv.update(sweep, json.encode(owner), revision);
      validUntil = sent + options.leaseMs;
      return true;
    } catch (error) {
      const current = await kv.get(sweep).catch(() => undefined);
      if (current === undefined) {
        options.onRenewError?.(error as Error);
        return false;
      }
      const holder = decode(current);
      if (holder?.token === owner.token) {
        revision = current!.revision;
        return false;
      }
      if (!lost) {
        lost = true;
        clearInterval(timer);
        options.onLost?.(holder);
      }
      return false;
    }
  };
  const timer = setInterval(() => void renew(), Math.max(200, options.leaseMs / 3));
  return {
    owner,
    async held() {
      const deadline = Date.now() + options.leaseMs;
      while (!lost && Date.now() >= validUntil && Date.now() < deadline) {
        if (!(await renew())) await sleep(200);
      }
      return !lost && Date.now() < validUntil;
    },
    async release() {
      clearInterval(timer);
      if (lost) return;
      await kv.delete(sweep, { previousSeq: revision }).catch(() => undefined);
    },
  };
}

/** Creates the entry, or takes over a dead owner's; returns the entry's revision and when the winning write was sent. */
async function take(kv: KV, sweep: string, owner: SweepOwner, options: ClaimOptions): Promise<{ revision: number; sentAt: number }> {
  for (let attempt = 0; ; attempt++) {
    let sentAt = Date.now();
    try {
      return { revision: await kv.create(sweep, json.encode(owner)), sentAt };
    } catch (error) {
      if (attempt > 3) throw error;
    }
    const entry = await kv.get(sweep);
    if (!entry || entry.operation !== 'PUT') continue; // released meanwhile: create again
    const holder = decode(entry);
    let why = holder ? gone(holder, entry) : 'its entry is unreadable';
    if (why === null && options.takeover) {
      const wait = LAPSE_LEASES * holder!.leaseMs;
      options.onNote?.(`sweep ${sweep} is held by ${describeSweepOwner(holder!)}; --takeover: waiting up to ${Math.round(wait / 1000)} s for its lease to lapse`);
      why = await lapsed(kv, sweep, entry.revision, wait);
      if (why === null) throw new SweepClaimedError(`sweep ${sweep} is still coordinated by ${describeSweepOwner(holder!)}: it renewed its lease while --takeover waited; stop it first`);
    }
    if (why === null) {
      throw new SweepClaimedError(
        `sweep ${sweep} is already coordinated by ${describeSweepOwner(holder!)}; a second coordinator would split its results. ` +
          'If that coordinator is dead, run again with --takeover (it waits for the lease to lapse)',
      );
    }
    try {
      sentAt = Date.now();
      const revision = await kv.update(sweep, json.encode(owner), entry.revision);
      options.onNote?.(`took over sweep ${sweep}${holder ? ` from ${describeSweepOwner(holder)}` : ''}: ${why}`);
      return { revision, sentAt };
    } catch {
      // Someone else took it (or it was renewed) meanwhile: look again.
    }
  }
}

/** How many of its own leases an entry is watched by --takeover before it counts as lapsed. */
const LAPSE_LEASES = 1.5;

/** Why an owner counts as gone (by its own lease), or null while it looks alive. */
function gone(holder: SweepOwner, entry: KvEntry): string | null {
  if (holder.host === hostname() && !processAlive(holder.pid)) return `pid ${holder.pid} is no longer running on ${holder.host}`;
  const age = Date.now() - entry.created.getTime();
  if (age > 2 * holder.leaseMs) return `its lease was last renewed ${Math.round(age / 1000)} s ago`;
  return null;
}

/** Watches an entry for `ms` (by this process's clock): why it lapsed, or null if it was renewed. */
async function lapsed(kv: KV, sweep: string, revision: number, ms: number): Promise<string | null> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    await sleep(Math.max(100, ms / 15));
    const entry = await kv.get(sweep).catch(() => undefined);
    if (entry !== undefined && (entry === null || entry.revision !== revision)) return entry === null || entry.operation !== 'PUT' ? 'it was released' : null;
  }
  return `not renewed for ${Math.round(ms / 1000)} s`;
}
