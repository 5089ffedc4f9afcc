/**
 * What the NATS tests of the CLI share: a real nats-server per test (the queue package's harness), and cleanup
 * of everything a test started (processes started with support.ts's `start`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Proc } from './support.js';

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
