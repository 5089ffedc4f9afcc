import { createHash } from 'node:crypto';
import type { Cell } from './types.js';

/** JSON with object keys sorted at every depth and `undefined` fields dropped: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`canonicalJson: non-finite number ${value}`);
  return value;
}

/**
 * The part of a cell that decides its numbers. The data directory is left out (the same files may sit
 * elsewhere on another node); a features file is identified by its absolute path (specs resolve it against
 * their directory, `hessweep cell` against the current one).
 */
export function cellIdentity(cell: Cell): Record<string, unknown> {
  const { data_dir: _dir, ...data } = cell.data;
  return {
    dataset: cell.dataset,
    width: cell.width,
    depth: cell.depth,
    seed: cell.seed,
    sample_size: cell.sample_size,
    train: cell.train,
    measure: cell.measure,
    data,
  };
}

/**
 * Stable cell id: the first 16 hex digits of SHA-256 over the canonical JSON of the cell's identity. Only the
 * first 8 bytes are turned into hex: a slice of the full 64-digit string would keep all of it alive with
 * every id held (a million ids in a sweep's sets and queue).
 */
export function cellId(cell: Cell): string {
  return createHash('sha256').update(canonicalJson(cellIdentity(cell))).digest().toString('hex', 0, 8);
}
