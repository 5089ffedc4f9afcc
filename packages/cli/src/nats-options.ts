import type { Argv } from 'yargs';
import { natsOptionsFromEnv, type NatsOptions } from '@hessweep/queue';
import { UsageError } from './errors.js';

/** The connection flags every distributed command takes; each falls back to its NATS_* variable. */
export function natsConnectionOptions<T>(y: Argv<T>) {
  return y
    .option('nats', { type: 'string', describe: 'NATS server URL(s), comma-separated (env NATS_URL)' })
    .option('user', { type: 'string', describe: 'user name (env NATS_USER)' })
    .option('password', { type: 'string', describe: 'password (env NATS_PASSWORD)' })
    .option('token', { type: 'string', describe: 'auth token (env NATS_TOKEN)' })
    .option('creds', { type: 'string', describe: 'credentials file, JWT + nkey (env NATS_CREDS)' })
    .option('nkey', { type: 'string', describe: 'file with an nkey user seed (env NATS_NKEY)' })
    .option('tls-ca', { type: 'string', describe: 'CA certificate to trust (env NATS_CA)' })
    .option('tls-cert', { type: 'string', describe: 'client certificate (env NATS_CERT)' })
    .option('tls-key', { type: 'string', describe: 'client key (env NATS_KEY)' })
    .group(['nats', 'user', 'password', 'token', 'creds', 'nkey', 'tls-ca', 'tls-cert', 'tls-key'], 'NATS connection:');
}

interface NatsArgs {
  nats?: string;
  user?: string;
  password?: string;
  token?: string;
  creds?: string;
  nkey?: string;
  'tls-ca'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
}

export function natsOptionsFrom(args: NatsArgs, name: string): NatsOptions {
  const env = natsOptionsFromEnv();
  const servers = args.nats ?? env.servers;
  if (!servers) throw new UsageError('give the NATS server with --nats URL (or NATS_URL)');
  return {
    servers,
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
