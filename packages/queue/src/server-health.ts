import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { type NatsConnection, type NatsError } from 'nats';
import { healthSubject } from './streams.js';

/**
 * How a long-lived client checks that JetStream works on its server. A server cut off from its cluster peers
 * (but not from its clients) keeps their connections open, and nats.js moves only when a connection breaks.
 * Measured on a 3-node nats-server 2.9 cluster: such a server answers JetStream requests with timeouts, then
 * with "JetStream system temporarily unavailable" (503, err_code 10008) — except when it was the meta leader:
 * then it answers reads such as `$JS.API.INFO` from its own state for ~17 s, until it steps down. Writes
 * need a quorum everywhere, so the ask is a write: a small message to the health stream (in memory, one per
 * client, a minute), which fails within the ask's timeout on a cut-off server. Before a coordinator has
 * created that stream, the ask is `$JS.API.INFO`.
 */
export interface ServerHealthOptions {
  /** The configured server URLs (comma-separated, as `--nats`): whether there is another server to move to. */
  servers: string;
  /** A line for the operator: disconnects, reconnects, and why this client moves. */
  onNote?: (line: string) => void;
  /** Time between the starts of two asks (default 2 s). */
  intervalMs?: number;
  /** How long an ask may go unanswered (default 2 s). */
  timeoutMs?: number;
  /** Failed asks in a row that make the client move (default 3). */
  failures?: number;
}

const JS_INFO = '$JS.API.INFO';

/**
 * Keeps a long-lived client (worker, coordinator) on a server where JetStream answers: asks (see above)
 * every `intervalMs` and, after `failures` failed asks in a row, reconnects to another server of the pool
 * (to the same one when it is the only one known and nothing answers at all).
 * Reports disconnects and reconnects through `onNote`. Runs until the connection closes (or `stop`); its
 * timers never keep the process alive.
 */
export function keepOnHealthyServer(nc: NatsConnection, options: ServerHealthOptions): { stop(): void } {
  const { onNote = () => undefined, intervalMs = 2000, timeoutMs = 2000, failures = 3 } = options;
  const configured = options.servers.split(',').map((s) => s.trim()).filter(Boolean);
  const asker: Asker = { subject: healthSubject(randomBytes(8).toString('hex')), denied: false };
  let stopped = false;
  // The server being left: nats.js dials the server it was on first, so a reconnect that lands there again
  // is repeated (at most once per known server).
  let leaving = null as { server: string; tries: number } | null;
  const knownServers = () => new Set([...configured, ...(nc.info?.connect_urls ?? [])]).size;
  const done = () => stopped || nc.isClosed() || nc.isDraining();

  void (async () => {
    for await (const status of nc.status()) {
      if (done()) break;
      if (status.type === 'disconnect') onNote(`NATS: disconnected from ${String(status.data)}; reconnecting`);
      else if (status.type === 'reconnect') {
        const server = nc.getServer();
        if (leaving && server === leaving.server && leaving.tries < knownServers()) {
          leaving.tries++;
          await nc.reconnect().catch(() => undefined);
          continue;
        }
        leaving = null;
        onNote(`NATS: reconnected to ${server}`);
      } else if (status.type === 'ldm') onNote(`NATS: ${nc.getServer()} is shutting down (lame duck mode); moving to another server`);
    }
  })().catch(() => undefined);

  void (async () => {
    let failed = 0;
    let since = 0;
    let asked = Date.now();
    while (!done()) {
      // An ask every intervalMs: one that went unanswered for timeoutMs (≥ intervalMs) is followed at once.
      await delay(Math.max(0, asked + intervalMs - Date.now()), undefined, { ref: false });
      if (done()) break;
      asked = Date.now();
      const failure = await askJetStream(nc, asker, timeoutMs, onNote);
      if (failure === null) {
        failed = 0;
        continue;
      }
      if (failed++ === 0) since = asked;
      if (failed < failures) continue;
      const server = nc.getServer();
      const seconds = ((Date.now() - since) / 1000).toFixed(0);
      if (knownServers() >= 2) {
        onNote(`NATS: JetStream does not answer on ${server} (${failure.why}, ${seconds} s): it has lost its cluster; moving to another server`);
        leaving = { server, tries: 1 };
      } else if (failure.kind === 'silent') {
        // Nothing comes back at all: the link may be down. A new connection is dialled every few seconds and
        // is up soon after the link is, where the old one waits out TCP's retransmission back-off (up to
        // half a minute after a 30 s cut).
        onNote(`NATS: no answer from ${server} (${seconds} s); reconnecting`);
      } else {
        if (failed === failures) onNote(`NATS: JetStream does not answer on ${server} (${failure.why}, ${seconds} s) and no other server is known; waiting`);
        continue;
      }
      failed = 0;
      if (leaving) putLast(nc, server);
      await nc.reconnect().catch(() => undefined);
    }
  })().catch(() => undefined);

  return {
    stop() {
      stopped = true;
    },
  };
}

/**
 * Moves `server` to the end of the client's server pool, so that the reconnect dials another one first:
 * nats.js would dial the server it was on first, and a server cut off from everything costs a whole dial
 * timeout (5 s) there. Reaches into nats.js 2.x's pool (`protocol.servers`); where that is not there, the
 * reconnect that lands on the same server is simply repeated (see `leaving`).
 */
function putLast(nc: NatsConnection, server: string): void {
  type Pool = { getServers?: () => { listen: string }[] };
  const pool = (nc as unknown as { protocol?: { servers?: Pool } }).protocol?.servers?.getServers?.();
  if (!Array.isArray(pool)) return;
  const at = pool.findIndex((entry) => entry.listen === server);
  if (at >= 0) pool.push(...pool.splice(at, 1));
}

/** How to ask: a write to the health stream, or `$JS.API.INFO` where writing there is not permitted. */
interface Asker {
  subject: string;
  denied: boolean;
}

/**
 * A failed ask: `silent` nothing came back within the timeout, `unavailable` a 503 answer (JetStream without
 * its quorum), `no-responders` nobody serves the subject, `denied` the account may not publish there.
 */
interface Failure {
  kind: 'silent' | 'unavailable' | 'no-responders' | 'denied';
  why: string;
}

/**
 * Null when the server's JetStream commits a write (or, without the health stream, answers `$JS.API.INFO`);
 * otherwise why not. Errors of a closed or reconnecting client count as answers: not this server's fault.
 * A write the account may not make (an auth.conf from before the health stream) switches to `$JS.API.INFO`.
 */
async function askJetStream(nc: NatsConnection, asker: Asker, timeoutMs: number, onNote: (line: string) => void): Promise<Failure | null> {
  if (!asker.denied) {
    const written = await ask(nc, asker.subject, timeoutMs);
    if (written?.kind !== 'no-responders' && written?.kind !== 'denied') return written;
    if (written.kind === 'denied') {
      asker.denied = true;
      onNote(`NATS: may not publish to ${asker.subject} (permissions): checking the server with $JS.API.INFO only, which a cut-off meta leader answers for ~17 s`);
    }
  }
  const info = await ask(nc, JS_INFO, timeoutMs);
  return info?.kind === 'denied' ? null : info;
}

async function ask(nc: NatsConnection, subject: string, timeoutMs: number): Promise<Failure | null> {
  try {
    const reply = await nc.request(subject, undefined, { timeout: timeoutMs });
    const body = JSON.parse(new TextDecoder().decode(reply.data)) as { error?: { code?: number; description?: string } };
    return body.error?.code === 503 ? { kind: 'unavailable', why: body.error.description ?? 'JetStream unavailable' } : null;
  } catch (error) {
    const code = (error as NatsError).code;
    if (code === 'TIMEOUT') return { kind: 'silent', why: `no answer within ${timeoutMs / 1000} s` };
    if (code === '503') return { kind: 'no-responders', why: 'no responders' };
    if (code === 'PERMISSIONS_VIOLATION') return { kind: 'denied', why: 'permission denied' };
    return null;
  }
}
