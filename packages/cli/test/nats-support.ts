/**
 * What the NATS tests of the CLI share: a real nats-server per test (the queue package's harness), the real
 * `hessweep` binary run as child processes, polling with deadlines, and cleanup of everything a test started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './support.js';

export interface NatsServer {
  url: string;
  port: number;
  kill(): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}
export interface Harness {
  startNatsServer(options?: { config?: string }): Promise<NatsServer>;
  makeTlsFiles(dir: string): Promise<{ ca: string; cert: string; key: string }>;
  makeNkeyUser(): { publicKey: string; seed: string };
}
export const harness = (await import(new URL('../../../queue/dist/test/nats-server.js', import.meta.url).href)) as Harness;

/** A `hessweep` child process: its output so far (stdout and stderr together, and each alone) and its exit code. */
export interface Proc {
  child: ChildProcess;
  output: () => string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number>;
}

export function start(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [cli, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    text += d;
    out += d;
  });
  child.stderr!.on('data', (d) => {
    text += d;
    err += d;
  });
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : -1))));
  return { child, output: () => text, stdout: () => out, stderr: () => err, exited };
}

export async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A temp dir and a nats-server for one test, both removed afterwards, with every process it started killed. */
export async function scenario(fn: (ctx: { dir: string; server: NatsServer; procs: Proc[] }) => Promise<void>, config?: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hessweep-nats-'));
  const server = await harness.startNatsServer({ config });
  const procs: Proc[] = [];
  try {
    await fn({ dir, server, procs });
  } finally {
    // SIGKILL also ends a process a test stopped with SIGSTOP.
    for (const p of procs) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await server.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
}
