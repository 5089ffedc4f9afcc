/**
 * What the CLI tests share: running the real binary (to its end, or as a child process to watch), waiting
 * with deadlines that fail loudly, a small synthetic spec, reading part files.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tableFromIPC } from 'apache-arrow';

export const cli = fileURLToPath(new URL('../src/main.js', import.meta.url));
const execFileAsync = promisify(execFile);

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `hessweep args…` in `cwd` to the end. */
export async function hessweep(args: string[], cwd: string): Promise<Result> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [cli, ...args], { cwd, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A `hessweep` child process: its output so far (stdout and stderr together, and each alone) and its exit code. */
export interface Proc {
  child: ChildProcess;
  output: () => string;
  stdout: () => string;
  stderr: () => string;
  /** The exit code; 137 when killed by SIGKILL, -1 when killed by another signal. */
  exited: Promise<number>;
}

/** Starts `hessweep args…` in `cwd`, with `env` over this process's environment. */
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

/** The one poll of the tests, from the queue package's test harness (cli sits above queue). */
export const { until } = (await import(new URL('../../../queue/dist/test/poll.js', import.meta.url).href)) as {
  until(condition: () => boolean | Promise<boolean>, what: string, ms?: number, everyMs?: number): Promise<void>;
};

/** `proc`'s exit code; past `ms` it is killed and this throws, naming `what` and showing what it printed. */
export async function exitWithin(proc: Pick<Proc, 'child' | 'output' | 'exited'>, ms: number, what: string): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  const code = await Promise.race([proc.exited, late]);
  clearTimeout(timer);
  if (code === 'late') {
    proc.child.kill('SIGKILL');
    throw new Error(`${what} did not exit within ${ms / 1000} s; its output:\n${proc.output()}`);
  }
  return code;
}

/** A spec of synthetic cells (widths × seeds, depth 1); the defaults make each cell take ~0.1 s. */
export function syntheticSpec(name: string, widths: number[], seeds: number[], { epochs = 2, sampleSize = 256, extra = '' } = {}): string {
  return `name: ${name}
grid:
  dataset: [synthetic]
  width: [${widths.join(', ')}]
  depth: [1]
  seed: [${seeds.join(', ')}]
  sample_size: [${sampleSize}]
train:
  epochs: ${epochs}
measure:
  permutations: 10
  top_k: 2
  lanczos_iters: 10
${extra}`;
}

/** The names of the finished part files in `partsDir` (none while it does not exist). */
export async function partFiles(partsDir: string): Promise<string[]> {
  return (await readdir(partsDir).catch(() => [] as string[])).filter((n) => n.endsWith('.arrow'));
}

/** Every row of every part file of a sweep, read with apache-arrow directly. */
export async function partRows(sweepDir: string): Promise<Record<string, unknown>[]> {
  const parts = join(sweepDir, 'parts');
  const names = (await readdir(parts)).filter((n) => n.endsWith('.arrow')).sort();
  return names.flatMap((n) => tableFromIPC(readFileSync(join(parts, n))).toArray().map((r) => r.toJSON() as Record<string, unknown>));
}

/** Runs `fn` in a fresh temp directory (named after `name`), removed afterwards whatever happens. */
export async function withDir(name: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), `hessweep-${name}-`));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
