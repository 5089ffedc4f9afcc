import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isPartFileName, readResultFile, writeFileAtomic } from '@hessweep/results';

/** `<out>/<sweep>/manifest.json`: what the sweep is, so a rerun can tell a resume from a changed spec. */
export interface Manifest {
  sweep: string;
  spec: unknown;
  /** Hash of the whole spec. */
  spec_hash: string;
  /** Hash of the spec without its grid: equal when only the grid was extended or narrowed. */
  settings_hash: string;
  cell_count: number;
  versions: { hessweep: string; node: string };
  created: string;
  updated: string;
}

export type CellStatus = 'ok' | 'failed';

export function sweepPaths(out: string, sweep: string) {
  const dir = join(out, sweep);
  return { dir, parts: join(dir, 'parts'), manifest: join(dir, 'manifest.json') };
}

export async function readManifest(path: string): Promise<Manifest | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    return JSON.parse(text) as Manifest;
  } catch (error) {
    throw new Error(`${path}: not valid JSON (${(error as Error).message}); move it away to start the sweep afresh`);
  }
}

/** Writes the manifest atomically, as the part files are written. */
export async function writeManifest(path: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(path, (write) => write(`${JSON.stringify(manifest, null, 2)}\n`));
}

/** Removes temp files a killed writer left in `dir`; returns their names. */
export async function removeStrayTemps(dir: string): Promise<string[]> {
  const stray = (await readdir(dir)).filter((name) => name.includes('.tmp-'));
  await Promise.all(stray.map((name) => rm(join(dir, name), { force: true })));
  return stray;
}

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

/** Part files in name order (names start with a timestamp, so this is write order). */
export async function partFiles(partsDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(partsDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names.filter(isPartFileName).sort().map((n) => join(partsDir, n));
}

/**
 * The state of every cell with a row in the parts: `ok` if any row of it is ok, else `failed`. Only the
 * status column is needed, but a part is small, so it is read whole.
 */
export async function scanDone(partsDir: string): Promise<Map<string, CellStatus>> {
  const done = new Map<string, CellStatus>();
  for (const path of await partFiles(partsDir)) {
    for (const row of readResultFile(path).rows) {
      if (row.status === 'ok' || !done.has(row.cell_id)) done.set(row.cell_id, row.status);
    }
  }
  return done;
}
