/** What the CLI tests share: running the real binary, a small synthetic spec, reading part files. */
import { execFile } from 'node:child_process';
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
