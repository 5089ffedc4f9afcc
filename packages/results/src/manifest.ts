import { readFile } from 'node:fs/promises';
import { specHash, type SweepSpec } from '@hessweep/grid';
import { writeFileAtomic } from './atomic.js';
import { describeCause, SweepStoreError } from './errors.js';

/** `<out>/<sweep>/manifest.json`: what the sweep is, so a rerun can tell a resume from a changed spec. */
export interface Manifest {
  sweep: string;
  /** The validated spec of the last run (every default filled in). */
  spec: Record<string, unknown>;
  /** Hash of the whole spec of the last run. */
  spec_hash: string;
  /**
   * Every spec hash this directory has run under, oldest first (a grid extended, settings forced): the part
   * files of this sweep carry one of them. Manifests of hessweep 0.1 lack it.
   */
  spec_hashes?: string[];
  /** Hash of the spec without its grid and without settings that do not change results: equal when only the grid changed. */
  settings_hash: string;
  cell_count: number;
  versions: { hessweep: string; node: string };
  created: string;
  updated: string;
}

type Check = (value: unknown) => boolean;
const isString: Check = (v) => typeof v === 'string' && v.length > 0;
const isHash: Check = (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
const isTime: Check = (v) => typeof v === 'string' && Number.isFinite(Date.parse(v));
const isObject: Check = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Each field, what it must be, and the check. */
const FIELDS: [keyof Manifest, string, Check, boolean][] = [
  ['sweep', 'a sweep name', isString, true],
  ['spec', 'the sweep spec (an object)', isObject, true],
  ['spec_hash', 'a SHA-256 hex digest', isHash, true],
  ['spec_hashes', 'a list of SHA-256 hex digests', (v) => Array.isArray(v) && v.every(isHash), false],
  ['settings_hash', 'a SHA-256 hex digest', isHash, true],
  ['cell_count', 'a non-negative integer', (v) => Number.isSafeInteger(v) && (v as number) >= 0, true],
  ['versions', 'an object with hessweep and node versions', (v) => isObject(v) && isString((v as Manifest['versions']).hessweep), true],
  ['created', 'an ISO-8601 time', isTime, true],
  ['updated', 'an ISO-8601 time', isTime, true],
];

const HINT = 'fix it, or move it away to start the sweep record afresh (the part files hold the results)';

/** Checks parsed manifest JSON field by field; the first problem is a SweepStoreError naming the file and the field. */
export function validateManifest(path: string, value: unknown): Manifest {
  if (!isObject(value)) throw new SweepStoreError(`${path}: not a hessweep manifest (expected a JSON object); ${HINT}`);
  const record = value as Record<string, unknown>;
  for (const [field, what, check, required] of FIELDS) {
    const v = record[field];
    if (v === undefined && !required) continue;
    if (v === undefined) throw new SweepStoreError(`${path}: field "${field}" is missing (expected ${what}); ${HINT}`);
    if (!check(v)) throw new SweepStoreError(`${path}: field "${field}" must be ${what}, got ${JSON.stringify(v).slice(0, 60)}; ${HINT}`);
  }
  // The spec is stored whole and hashed: an edit to it (or a damaged file) shows as a hash that no longer matches.
  let hash: string | undefined;
  try {
    hash = specHash(record.spec as unknown as SweepSpec);
  } catch {
    hash = undefined;
  }
  if (hash !== record.spec_hash) {
    throw new SweepStoreError(`${path}: the spec it holds does not match its spec_hash (edited by hand, or damaged); ${HINT}`);
  }
  return record as unknown as Manifest;
}

/** The manifest at `path`, validated; null when there is none. */
export async function readManifest(path: string): Promise<Manifest | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SweepStoreError(`${path}: cannot read the manifest: ${describeCause(error)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SweepStoreError(`${path}: not valid JSON (${(error as Error).message}); ${HINT}`);
  }
  return validateManifest(path, value);
}

/** Writes the manifest atomically, as the part files are written. */
export async function writeManifest(path: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(path, (write) => write(`${JSON.stringify(manifest, null, 2)}\n`));
}
