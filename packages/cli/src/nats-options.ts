import type { Argv } from 'yargs';
import { sweepNameProblem } from '@hessweep/grid';
import type { NatsOptions } from '@hessweep/queue';
import { UsageError } from './errors.js';
import { addSecret } from './redact.js';

/** The connection flags every distributed command takes; each falls back to its NATS_* variable. */
export function natsConnectionOptions<T>(y: Argv<T>) {
  return y
    .option('nats', { type: 'string', describe: 'NATS server URL(s), comma-separated (env NATS_URL)' })
    .option('nats-in-order', { type: 'boolean', describe: 'try the NATS servers in the order listed, e.g. the nearest first (default: a random order, which spreads clients)' })
    .option('user', { type: 'string', describe: 'user name (env NATS_USER)' })
    .option('password', { type: 'string', describe: 'password (env NATS_PASSWORD)' })
    .option('token', { type: 'string', describe: 'auth token (env NATS_TOKEN)' })
    .option('creds', { type: 'string', describe: 'credentials file, JWT + nkey (env NATS_CREDS)' })
    .option('nkey', { type: 'string', describe: 'file with an nkey user seed (env NATS_NKEY)' })
    .option('tls-ca', { type: 'string', describe: 'CA certificate to trust (env NATS_CA)' })
    .option('tls-cert', { type: 'string', describe: 'client certificate (env NATS_CERT)' })
    .option('tls-key', { type: 'string', describe: 'client key (env NATS_KEY)' })
    .group(['nats', 'nats-in-order', 'user', 'password', 'token', 'creds', 'nkey', 'tls-ca', 'tls-cert', 'tls-key'], 'NATS connection:');
}

interface NatsArgs {
  nats?: string;
  'nats-in-order'?: boolean;
  user?: string;
  password?: string;
  token?: string;
  creds?: string;
  nkey?: string;
  'tls-ca'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
}

/** The connection options from the flags and NATS_* variables; loads the queue package (nats.js), which the caller connects with next. */
export async function natsOptionsFrom(args: NatsArgs, name: string): Promise<NatsOptions> {
  const { natsOptionsFromEnv } = await import('@hessweep/queue');
  const env = natsOptionsFromEnv();
  const servers = args.nats ?? env.servers;
  if (!servers) throw new UsageError('give the NATS server with --nats URL (or NATS_URL)');
  addSecret(args.password ?? env.password);
  addSecret(args.token ?? env.token);
  for (const url of servers.split(',')) addSecret(urlCredential(url.trim()));
  return {
    servers,
    inOrder: args['nats-in-order'],
    user: args.user ?? env.user,
    password: args.password ?? env.password,
    token: args.token ?? env.token,
    creds: args.creds ?? env.creds,
    nkey: args.nkey ?? env.nkey,
    tlsCa: args['tls-ca'] ?? env.tlsCa,
    tlsCert: args['tls-cert'] ?? env.tlsCert,
    tlsKey: args['tls-key'] ?? env.tlsKey,
    name,
  };
}

/** The secret inside a server URL: the password of `user:pw@`, or the token of `token@`. */
function urlCredential(url: string): string | undefined {
  try {
    const { username, password } = new URL(url);
    return decodeURIComponent(password || username) || undefined;
  } catch {
    return undefined;
  }
}

/** A sweep name given on the command line, checked before it reaches NATS (where `.`, `*` and `>` are wildcards or separators). */
export function checkSweepName(name: string, what: string): string {
  const problem = sweepNameProblem(name);
  if (problem !== undefined) throw new UsageError(`${what}: a sweep name ${problem}`);
  return name;
}
