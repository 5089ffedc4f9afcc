/**
 * Test harness: real `nats-server` processes on loopback ports, with JetStream on a temp store.
 *
 * Used by this package's tests and by others (import the compiled `packages/queue/dist/test/nats-server.js`).
 * A missing `nats-server` binary is an error (tests fail, they never skip): `apt-get install nats-server`,
 * or point `NATS_SERVER_BIN` at a binary.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { nkeys } from 'nats';

const execFileP = promisify(execFile);

export interface NatsClusterOptions {
  /** `cluster.name`, shared by every node of one cluster. */
  name: string;
  /** Route port of this node; a free one is picked when absent. */
  port?: number;
  /** Route URLs of the other nodes (`nats-route://127.0.0.1:PORT`). */
  routes?: string[];
}

export interface NatsServerOptions {
  /** Extra configuration text appended to the generated file (auth, tls, accounts…). */
  config?: string;
  /** Enable JetStream with a file store (default true). */
  jetstream?: boolean;
  /** Client port; a free loopback port is picked when absent. */
  port?: number;
  /** JetStream store directory; a temp one (removed by `cleanup()`) is made when absent. */
  storeDir?: string;
  /** `server_name` (default `hessweep-test-<port>`). */
  name?: string;
  cluster?: NatsClusterOptions;
  /** How long to wait for the server to be ready (default 10 s). */
  readyTimeoutMs?: number;
}

export interface NatsServer {
  /** `nats://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** HTTP monitoring endpoint, `http://127.0.0.1:MPORT` (`/healthz`, `/varz`, `/jsz`). */
  readonly monitorUrl: string;
  /** Route port when clustered. */
  readonly clusterPort: number | undefined;
  /** `nats-route://127.0.0.1:CPORT` when clustered. */
  readonly routeUrl: string | undefined;
  readonly name: string;
  /** JetStream store directory (kept by `stop`, `kill` and `restart`). */
  readonly storeDir: string;
  /** Temp directory holding the config, the log and (unless given) the store. */
  readonly dir: string;
  readonly configFile: string;
  /** The server's stdout and stderr, appended across restarts. */
  readonly log: string;
  /** The current process (a new one after `restart()`). */
  readonly process: ChildProcess;
  /** Whether the current process is still running. */
  readonly running: boolean;
  /** SIGTERM (SIGKILL after 10 s), wait for the exit; the store is kept. */
  stop(): Promise<void>;
  /** SIGKILL, wait for the exit; the store is kept. */
  kill(): Promise<void>;
  /** Start the same config again (same ports, same store) after a stop or kill, and wait until ready. */
  start(): Promise<void>;
  /** `stop()` (if running) then `start()`. */
  restart(): Promise<void>;
  /** The log so far (for failure messages). */
  readLog(): Promise<string>;
  /** Stop and remove the temp directories made by the harness. */
  cleanup(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test that forgot cleanup() must not leave servers behind.
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** Path of the `nats-server` binary: `NATS_SERVER_BIN`, else the first on PATH; throws when there is none. */
export async function findNatsServer(): Promise<string> {
  const fromEnv = process.env.NATS_SERVER_BIN;
  const candidates: string[] = [];
  if (fromEnv) candidates.push(fromEnv);
  else {
    const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
    for (const d of [...dirs, '/usr/sbin', '/usr/local/bin', '/usr/bin']) candidates.push(join(d, 'nats-server'));
  }
  for (const c of candidates) {
    if (!isAbsolute(c) && fromEnv === undefined) continue;
    try {
      await access(c, fsConstants.X_OK);
      return c;
    } catch {
      // try the next
    }
  }
  throw new Error(
    (fromEnv ? `nats-server not found: NATS_SERVER_BIN=${fromEnv} is not an executable file. ` : 'nats-server not found on PATH. ') +
      'The NATS tests need a real server: install it with `apt-get install nats-server` (Debian/Ubuntu) or from ' +
      'https://github.com/nats-io/nats-server/releases, or set NATS_SERVER_BIN to its path.',
  );
}

/** A loopback TCP port that was free a moment ago (bind 127.0.0.1:0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      if (address === null || typeof address === 'string') {
        srv.close();
        reject(new Error('could not read a free port'));
        return;
      }
      srv.close(() => resolve(address.port));
    });
  });
}

function quote(s: string): string {
  return JSON.stringify(s);
}

async function tail(file: string, lines = 30): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    child.ref();
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

class NatsServerImpl implements NatsServer {
  child!: ChildProcess;
  private exited!: Promise<void>;
  private exitInfo: string | undefined;
  private cleaned = false;

  constructor(
    readonly bin: string,
    readonly port: number,
    readonly monitorPort: number,
    readonly clusterPort: number | undefined,
    readonly name: string,
    readonly storeDir: string,
    readonly dir: string,
    readonly ownStore: boolean,
    readonly configFile: string,
    readonly log: string,
    readonly readyTimeoutMs: number,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }
  get monitorUrl(): string {
    return `http://127.0.0.1:${this.monitorPort}`;
  }
  get routeUrl(): string | undefined {
    return this.clusterPort === undefined ? undefined : `nats-route://127.0.0.1:${this.clusterPort}`;
  }
  get process(): ChildProcess {
    return this.child;
  }
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  readLog(): Promise<string> {
    return readFile(this.log, 'utf8').catch(() => '');
  }

  /** Spawns the process; does not wait for readiness. */
  async spawn(): Promise<void> {
    if (this.cleaned) throw new Error(`nats-server ${this.name} was cleaned up`);
    if (this.running) throw new Error(`nats-server ${this.name} is already running (pid ${this.child.pid})`);
    const logHandle = await open(this.log, 'a');
    try {
      await logHandle.write(`\n=== ${new Date().toISOString()} ${this.bin} -c ${this.configFile}\n`);
      const child = spawn(this.bin, ['-c', this.configFile], { stdio: ['ignore', logHandle.fd, logHandle.fd] });
      this.child = child;
      this.exitInfo = undefined;
      live.add(child);
      this.exited = new Promise<void>((resolve) => {
        child.once('exit', (code, signal) => {
          live.delete(child);
          this.exitInfo = signal ? `signal ${signal}` : `code ${code}`;
          resolve();
        });
        child.once('error', (error) => {
          live.delete(child);
          this.exitInfo = `spawn error: ${error.message}`;
          resolve();
        });
      });
      child.unref();
    } finally {
      await logHandle.close();
    }
  }

  /** Polls `/healthz` until the server (and JetStream, when on) reports ok. */
  async waitReady(): Promise<void> {
    const deadline = Date.now() + this.readyTimeoutMs;
    let last = 'no answer';
    const child = this.child;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null || this.exitInfo !== undefined) {
        await this.exited;
        throw new Error(`nats-server ${this.name} exited (${this.exitInfo}) before it was ready; log ${this.log}:\n${await tail(this.log)}`);
      }
      try {
        const res = await fetch(`${this.monitorUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
        const body = await res.text();
        if (res.ok && /"status"\s*:\s*"ok"/.test(body)) return;
        last = `${res.status} ${body.trim()}`;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(
      `nats-server ${this.name} not ready after ${this.readyTimeoutMs} ms (last /healthz: ${last}); log ${this.log}:\n${await tail(this.log)}`,
    );
  }

  async start(): Promise<void> {
    await this.spawn();
    try {
      await this.waitReady();
    } catch (error) {
      await this.kill();
      throw error;
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    if (!(await waitExit(this.child, 10_000))) {
      this.child.kill('SIGKILL');
      await waitExit(this.child, 5_000);
    }
    await this.exited;
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await waitExit(this.child, 5_000);
    await this.exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async cleanup(): Promise<void> {
    try {
      await this.stop();
    } finally {
      this.cleaned = true;
      await rm(this.dir, { recursive: true, force: true });
      if (this.ownStore) await rm(this.storeDir, { recursive: true, force: true });
    }
  }
}

/** Writes the config and spawns the server without waiting (for clusters, whose nodes must all start first). */
async function createServerProcess(options: NatsServerOptions): Promise<NatsServerImpl> {
  const bin = await findNatsServer();
  installExitHook();
  const port = options.port ?? (await freePort());
  const monitorPort = await freePort();
  const clusterPort = options.cluster ? options.cluster.port ?? (await freePort()) : undefined;
  const name = options.name ?? `hessweep-test-${port}`;
  const dir = await mkdtemp(join(tmpdir(), 'hessweep-nats-'));
  const storeDir = options.storeDir ?? join(dir, 'jetstream');
  await mkdir(storeDir, { recursive: true });
  const lines = [
    `server_name: ${quote(name)}`,
    `listen: "127.0.0.1:${port}"`,
    `http: "127.0.0.1:${monitorPort}"`,
  ];
  if (options.jetstream !== false) {
    lines.push(`jetstream {`, `  store_dir: ${quote(storeDir)}`, `  max_mem: 256MB`, `  max_file: 2GB`, `}`);
  }
  if (options.cluster) {
    lines.push(`cluster {`, `  name: ${quote(options.cluster.name)}`, `  listen: "127.0.0.1:${clusterPort}"`);
    const routes = options.cluster.routes ?? [];
    if (routes.length > 0) lines.push(`  routes: [`, ...routes.map((r) => `    ${quote(r)}`), `  ]`);
    lines.push(`}`);
  }
  if (options.config) lines.push(options.config);
  const configFile = join(dir, 'nats-server.conf');
  await writeFile(configFile, lines.join('\n') + '\n');
  const server = new NatsServerImpl(
    bin,
    port,
    monitorPort,
    clusterPort,
    name,
    storeDir,
    dir,
    options.storeDir === undefined,
    configFile,
    join(dir, 'nats-server.log'),
    options.readyTimeoutMs ?? 10_000,
  );
  try {
    await server.spawn();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return server;
}

/**
 * Runs `start` again (up to 3 times in all) while it fails because a port it picked free was taken, by a test
 * running beside it, before its process bound it; `start` cleans up after a failure itself. Any other failure
 * is thrown at once. The one retry of the test harnesses that start servers on picked ports.
 */
export async function retryWhilePortTaken<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= 3 || !/address already in use/i.test((error as Error).message)) throw error;
    }
  }
}

/** Starts a `nats-server` on a loopback port and waits until it (and JetStream) is ready. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  return retryWhilePortTaken(async () => {
    const server = await createServerProcess(options);
    try {
      await server.waitReady();
      return server;
    } catch (error) {
      await server.cleanup();
      throw error;
    }
  });
}

export interface NatsCluster {
  readonly servers: NatsServer[];
  /** All client URLs, comma-separated (the `--nats` / `NatsOptions.servers` form). */
  readonly urls: string;
  cleanup(): Promise<void>;
}

/**
 * Starts `size` (default 3) clustered JetStream servers, routed to each other, and waits until every node
 * reports healthy (meta leader elected). Each node keeps its own store, so `restart()`/`kill()` per node work.
 */
export async function startNatsCluster(
  options: { size?: number; name?: string; config?: string; readyTimeoutMs?: number } = {},
): Promise<NatsCluster> {
  return retryWhilePortTaken(() => startClusterOnce(options));
}

async function startClusterOnce(options: { size?: number; name?: string; config?: string; readyTimeoutMs?: number }): Promise<NatsCluster> {
  const size = options.size ?? 3;
  const clusterName = options.name ?? `hessweep-${process.pid}`;
  const clusterPorts: number[] = [];
  for (let i = 0; i < size; i++) clusterPorts.push(await freePort());
  const routes = clusterPorts.map((p) => `nats-route://127.0.0.1:${p}`);
  const servers: NatsServerImpl[] = [];
  const cleanup = async () => {
    await Promise.all(servers.map((s) => s.cleanup()));
  };
  try {
    for (let i = 0; i < size; i++) {
      servers.push(
        await createServerProcess({
          name: `${clusterName}-n${i + 1}`,
          config: options.config,
          readyTimeoutMs: options.readyTimeoutMs ?? 20_000,
          cluster: { name: clusterName, port: clusterPorts[i], routes: routes.filter((_, j) => j !== i) },
        }),
      );
    }
    await Promise.all(servers.map((s) => s.waitReady()));
  } catch (error) {
    await cleanup();
    throw error;
  }
  return { servers, urls: servers.map((s) => s.url).join(','), cleanup };
}

export interface TlsFiles {
  /** CA certificate (PEM). */
  ca: string;
  /** CA private key. */
  caKey: string;
  /** Server certificate for 127.0.0.1 / localhost, signed by the CA. */
  cert: string;
  key: string;
  /** Client certificate (CN hessweep-test-client), signed by the CA, for `verify: true` servers. */
  clientCert: string;
  clientKey: string;
}

/** A self-signed CA, a server certificate (SAN IP:127.0.0.1, DNS:localhost) and a client certificate, valid 1 day. */
export async function makeTlsFiles(dir: string): Promise<TlsFiles> {
  await mkdir(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  const openssl = async (args: string[]) => {
    try {
      await execFileP('openssl', args, { cwd: dir });
    } catch (error) {
      const e = error as Error & { stderr?: string; code?: string };
      if (e.code === 'ENOENT') throw new Error('openssl not found on PATH (apt-get install openssl)');
      throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
    }
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl([
    'req', '-x509', ...ec, '-days', '1', '-subj', '/CN=hessweep-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', f('ca-key.pem'), '-out', f('ca.pem'),
  ]);
  await writeFile(
    f('server-ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  await writeFile(
    f('client-ext.cnf'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
  );
  for (const [who, cn] of [['server', 'localhost'], ['client', 'hessweep-test-client']] as const) {
    await openssl(['req', ...ec, '-subj', `/CN=${cn}`, '-keyout', f(`${who}-key.pem`), '-out', f(`${who}.csr`)]);
    await openssl([
      'x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'), '-CAcreateserial',
      '-days', '1', '-extfile', f(`${who}-ext.cnf`), '-out', f(`${who}.pem`),
    ]);
  }
  return {
    ca: f('ca.pem'),
    caKey: f('ca-key.pem'),
    cert: f('server.pem'),
    key: f('server-key.pem'),
    clientCert: f('client.pem'),
    clientKey: f('client-key.pem'),
  };
}

/** A fresh nkey user pair: `publicKey` (`U…`) for the server's `authorization { users: [ { nkey } ] }`, `seed` (`SU…`) for the client. */
export function makeNkeyUser(): { publicKey: string; seed: string } {
  const kp = nkeys.createUser();
  return { publicKey: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) };
}
