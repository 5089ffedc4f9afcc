import { readFile } from 'node:fs/promises';
import { connect, credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';

/** How to reach NATS: the server's own auth and TLS, passed through. */
export interface NatsOptions {
  /** One URL or a comma-separated list (`nats://a:4222,nats://b:4222`). */
  servers: string;
  /** Try the servers in the order listed (e.g. the nearest first) instead of in a random order, which spreads clients. */
  inOrder?: boolean;
  user?: string;
  password?: string;
  token?: string;
  /** A `.creds` file (JWT + nkey seed). */
  creds?: string;
  /** A file holding an nkey user seed (`SU…`). */
  nkey?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Client name shown by the server. */
  name?: string;
}

/** NATS cannot be reached or refused us: one line saying which servers and why. */
export class NatsConnectError extends Error {
  override name = 'NatsConnectError';
}

async function readOption(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new NatsConnectError(`cannot read the ${what} file ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/**
 * Connects with reconnection for ever (a restarted server or a lost node is waited for, not fatal once
 * connected); the first connection must succeed.
 */
export async function connectNats(options: NatsOptions): Promise<NatsConnection> {
  const servers = options.servers.split(',').map((s) => s.trim()).filter(Boolean);
  if (servers.length === 0) throw new NatsConnectError('no NATS server given (--nats URL or NATS_URL)');
  const config: ConnectionOptions = {
    servers,
    noRandomize: options.inOrder === true,
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: false,
    // The client's own default (20 s) also applies when a TLS handshake is refused without a word.
    timeout: 5000,
    // Capturing a stack trace for every request and timer (the default) was a third of the coordinator's
    // and the workers' CPU per cell; errors keep their messages and codes.
    noAsyncTraces: true,
  };
  if (options.user !== undefined) {
    config.user = options.user;
    config.pass = options.password;
  }
  if (options.token !== undefined) config.token = options.token;
  if (options.creds) config.authenticator = credsAuthenticator(new Uint8Array(await readOption(options.creds, 'creds')));
  if (options.nkey) {
    const seed = (await readOption(options.nkey, 'nkey seed')).toString('utf8').trim();
    config.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (options.tlsCa || options.tlsCert || options.tlsKey) {
    config.tls = {
      caFile: options.tlsCa,
      certFile: options.tlsCert,
      keyFile: options.tlsKey,
    };
  }
  try {
    return await connect(config);
  } catch (error) {
    const e = error as Error & { code?: string };
    const hint = e.code === 'TIMEOUT' ? ' (no answer to the NATS handshake: a wrong port, or a server that requires a client certificate: --tls-cert/--tls-key)' : '';
    throw new NatsConnectError(`cannot connect to NATS at ${servers.join(', ')}: ${e.message}${e.code && !e.message.includes(e.code) ? ` (${e.code})` : ''}${hint}`);
  }
}

/**
 * Ends a connection: drains it (what was published reaches the server) for at most `drainMs`, then closes it.
 * Always closes: nats.js's drain resolves without closing when its last flush fails (the server is
 * unreachable), and a connection left open keeps reconnecting, and the process alive, for ever.
 */
export async function closeNats(nc: NatsConnection, drainMs = 5000): Promise<void> {
  await settleWithin(nc.drain(), drainMs);
  await settleWithin(nc.close(), drainMs);
}

/** Waits for `promise` to settle (either way, its outcome ignored), but at most `ms`: for last words to a server that may be gone. */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** Connection options from the environment, under the flags: NATS_URL, NATS_USER, NATS_PASSWORD, NATS_TOKEN, NATS_CREDS, NATS_NKEY, NATS_CA, NATS_CERT, NATS_KEY. */
export function natsOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<NatsOptions> {
  const pick = (name: string) => (env[name] ? env[name] : undefined);
  return {
    servers: pick('NATS_URL'),
    user: pick('NATS_USER'),
    password: pick('NATS_PASSWORD'),
    token: pick('NATS_TOKEN'),
    creds: pick('NATS_CREDS'),
    nkey: pick('NATS_NKEY'),
    tlsCa: pick('NATS_CA'),
    tlsCert: pick('NATS_CERT'),
    tlsKey: pick('NATS_KEY'),
  };
}
