/**
 * Part compaction: merges runs of small part files into large ones, so that a sweep directory holds few part
 * files whatever the number of rows (a 20,000-cell NATS sweep writes ~550 parts of ~36 rows).
 *
 * **Rows kept.** A merged part holds every row of the parts it replaces, in their order (the retry history
 * and the compute time of every attempt stay). **Winners kept.** Only runs of parts that are contiguous in
 * name order are merged, and the merged part is named after the run's last part (`mergedPartName`), so it
 * sorts where the run was: the sequence of rows in (part name, row) order, which alone decides which row
 * stands for a cell (store.ts, findWinners), is unchanged. Parts of different spec hashes or hessweep
 * versions are never merged (a file's metadata holds one of each).
 *
 * **Crash-safe.** The merged part is written durably (writeFileAtomic: temp file, fsync, rename, directory
 * fsync) before any part it replaces is removed. In between, each row of the run is there twice: once in
 * its part, once in the merged part right after the run. For any cell, the last ok row (else the last
 * failed row) is then either after the run, as before, or the copy in the merged part of the row that won
 * before: the same row. So a reader sees every cell with the same row at any instant. The merged part names
 * what it replaces (metadata `hessweep.merged_from`); a crash's leftovers are removed by the next compaction.
 *
 * Compaction writes the directory: its callers hold the directory lock (lock.ts). Readers take no lock;
 * they list again when a part they listed is gone (store.ts, readConsistently).
 */
import { stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeData, RecordBatch, Struct, type Data, type Schema } from 'apache-arrow';
import { syncDir } from './atomic.js';
import { concatData } from './concat.js';
import { StorageError, SweepStoreError } from './errors.js';
import { IpcFileReader } from './ipc.js';
import { META_MERGED_FROM, META_SPEC_HASH, META_VERSION, resultSchema } from './schema.js';
import { listPartNames, mergedPartName, partSweep, readPartTable } from './store.js';
import { writeResultBatches } from './writer.js';
import { DEFAULT_COMPACTION_POLICY, type CompactionPolicy } from './compaction-policy.js';

/** Record batches of a merged part hold at most this many rows, */
const MAX_BATCH_ROWS = 8192;
/** and about this many bytes: a reader that reads a column at a time reads bounded pieces. */
const MAX_BATCH_BYTES = 8 << 20;

/** What compaction knows of a part: from its footer and its batches' headers (no rows are read). */
export interface PartInfo {
  name: string;
  path: string;
  rows: number;
  bytes: number;
  mtimeMs: number;
  sweep: string;
  specHash: string;
  version: string;
  /** For a merged part, the names of the parts it replaced. */
  mergedFrom: string[];
}

/** What the planner needs of a part: its rows, its age, and what it may be merged with (same key). */
export interface PlanPart {
  rows: number;
  mtimeMs: number;
  key: string;
}

export interface PlanOptions {
  policy: CompactionPolicy;
  /** Merge the trailing runs too (end of a sweep, `hessweep compact`); otherwise only runs that are due. */
  final: boolean;
  /** Rows the sweep will have when done (sets the aim from the start, so parts are not merged again as it grows). */
  expectedRows?: number;
  now?: number;
}

/** The rows a merged part aims at for a directory of `rows` rows. */
export function targetRows(rows: number, policy: CompactionPolicy): number {
  return Math.max(policy.minPartRows, Math.ceil((4 * rows) / policy.targetParts));
}

/**
 * Which contiguous runs of parts to merge: each run as the indices of its parts, in order. Parts are walked in
 * name order within each stretch of one key; a part of at least half the target stays as it is; smaller ones
 * gather into a run until the run reaches the target (`targetRows`), and the run is merged.
 *
 * Final: the last, unfilled run of each stretch is merged too. Then every part has at least half the target,
 * except one per stretch, so the parts number at most 2 × rows / target + stretches ≤ targetParts / 2 +
 * stretches, whatever the rows. During a sweep (not final) the unfilled run waits, except that its newest
 * parts of under target / runParts rows are merged once there are runParts of them or the oldest is
 * maxAgeMs old: about runParts small parts wait at most, and a row is written two to five times in all
 * (DESIGN.md §4.5 has the numbers).
 */
export function planCompaction(parts: readonly PlanPart[], options: PlanOptions): number[][] {
  const { policy } = options;
  const total = parts.reduce((sum, p) => sum + p.rows, 0);
  const target = targetRows(Math.max(total, options.expectedRows ?? 0), policy);
  const runs: number[][] = [];
  for (let start = 0; start < parts.length;) {
    let end = start;
    while (end < parts.length && parts[end]!.key === parts[start]!.key) end++;
    let run: number[] = [];
    let rows = 0;
    for (let i = start; i < end; i++) {
      if (run.length === 0 && 2 * parts[i]!.rows >= target) continue;
      run.push(i);
      rows += parts[i]!.rows;
      if (rows >= target) {
        runs.push(run);
        run = [];
        rows = 0;
      }
    }
    const last = options.final ? run : dueNewest(parts, run, target, options);
    if (last.length > 1) runs.push(last);
    start = end;
  }
  return runs;
}

/** The newest small parts of an unfilled run, when enough of them have gathered or the oldest is old enough. */
function dueNewest(parts: readonly PlanPart[], run: readonly number[], target: number, { policy, now = Date.now() }: PlanOptions): number[] {
  const small = target / policy.runParts;
  let from = run.length;
  while (from > 0 && parts[run[from - 1]!]!.rows < small) from--;
  const newest = run.slice(from);
  const oldest = newest.reduce((min, i) => Math.min(min, parts[i]!.mtimeMs), Number.POSITIVE_INFINITY);
  return newest.length >= policy.runParts || now - oldest >= policy.maxAgeMs ? newest : [];
}

export interface CompactOptions {
  policy?: Partial<CompactionPolicy>;
  /** Default true: merge every run the policy allows (see planCompaction). */
  final?: boolean;
  expectedRows?: number;
  /** Merge at most this many runs (a background step merges one, so a part write never waits long). */
  maxMerges?: number;
  /** Called before each merge; throws when this process may no longer write the directory. */
  confirm?: () => Promise<void>;
  onProgress?: (progress: CompactionProgress) => void;
  /** Parts described before, by name (files never change under a name); kept up to date across calls. */
  known?: Map<string, PartInfo>;
}

export interface CompactionProgress {
  /** The merge about to start (1-based) and the merges planned. */
  merge: number;
  merges: number;
  parts: number;
  rows: number;
  name: string;
}

export interface CompactionResult {
  partsBefore: number;
  partsAfter: number;
  rows: number;
  bytesBefore: number;
  bytesAfter: number;
  merges: number;
  /** Parts left by a compaction that stopped (a crash) after writing their merged part, removed now. */
  leftoversRemoved: number;
}

/**
 * Compacts `partsDir`: removes the leftovers of an interrupted compaction, plans (planCompaction) and merges.
 * The caller holds the directory lock and has checked the parts (scanParts); a part that turns out damaged
 * stops the compaction with its ResultFileError, its run unmerged. A fault of the file system is a
 * StorageError; nothing is lost either way: a run's parts are removed only once its merged part is durable.
 */
export async function compactParts(partsDir: string, options: CompactOptions = {}): Promise<CompactionResult> {
  const policy = { ...DEFAULT_COMPACTION_POLICY, ...options.policy };
  checkPolicy(policy);
  let names = (await listPartNames(partsDir)) ?? [];
  const before = await describeParts(partsDir, names, options.known);
  const leftovers = await removeLeftovers(partsDir, before);
  if (leftovers.length > 0) names = names.filter((n) => !leftovers.includes(n));
  const parts = before.filter((p) => !leftovers.includes(p.name));
  const key = (p: PartInfo) => `${p.sweep}\n${p.specHash}\n${p.version}`;
  const merges = planCompaction(parts.map((p) => ({ rows: p.rows, mtimeMs: p.mtimeMs, key: key(p) })), {
    policy, final: options.final ?? true, expectedRows: options.expectedRows,
  })
    .flatMap((run) => {
      const members = run.map((i) => parts[i]!);
      const name = mergedName(names, members.at(-1)!.name);
      return name === null ? [] : [{ members, name }];
    })
    .slice(0, options.maxMerges ?? Number.POSITIVE_INFINITY);

  const result = new Set(names);
  for (const [i, { members, name }] of merges.entries()) {
    await options.confirm?.();
    options.onProgress?.({ merge: i + 1, merges: merges.length, parts: members.length, rows: members.reduce((s, m) => s + m.rows, 0), name });
    await mergeRun(partsDir, members, name);
    for (const m of members) result.delete(m.name);
    result.add(name);
  }
  const after = await describeParts(partsDir, [...result].sort(), options.known);
  return {
    partsBefore: before.length,
    partsAfter: after.length,
    rows: after.reduce((s, p) => s + p.rows, 0),
    bytesBefore: before.reduce((s, p) => s + p.bytes, 0),
    bytesAfter: after.reduce((s, p) => s + p.bytes, 0),
    merges: merges.length,
    leftoversRemoved: leftovers.length,
  };
}

/**
 * The name of the part merged from a run ending with `last`, or null if it would not sort right after the run,
 * before the next part of `names` (the writer's names always allow it; a hand-named part may not).
 */
function mergedName(names: readonly string[], last: string): string | null {
  const name = mergedPartName(last);
  const next = names[names.indexOf(last) + 1];
  return name !== null && name > last && (next === undefined || name < next) && !names.includes(name) ? name : null;
}

function checkPolicy(policy: CompactionPolicy): void {
  for (const [field, min] of [['targetParts', 2], ['minPartRows', 1], ['runParts', 2], ['maxAgeMs', 0]] as const) {
    const value = policy[field];
    if (!Number.isFinite(value) || value < min || (field !== 'maxAgeMs' && !Number.isInteger(value))) {
      throw new SweepStoreError(`compaction: ${field} must be ${field === 'maxAgeMs' ? 'a number' : 'an integer'} ≥ ${min}, got ${value}`);
    }
  }
}

/** Parts described at once: their footers are small reads, worth overlapping. */
const DESCRIBE_AHEAD = 16;

/** PartInfo of each name, from `known` when it was described before with the same size and time. */
async function describeParts(partsDir: string, names: readonly string[], known = new Map<string, PartInfo>()): Promise<PartInfo[]> {
  const describe = async (name: string): Promise<PartInfo> => {
    const path = join(partsDir, name);
    const { size, mtimeMs } = await stat(path);
    const seen = known.get(name);
    return seen && seen.bytes === size && seen.mtimeMs === mtimeMs ? seen : describePart(name, path, size, mtimeMs);
  };
  const parts: PartInfo[] = [];
  for (let i = 0; i < names.length; i += DESCRIBE_AHEAD) parts.push(...(await Promise.all(names.slice(i, i + DESCRIBE_AHEAD).map(describe))));
  known.clear();
  for (const part of parts) known.set(part.name, part);
  return parts;
}

async function describePart(name: string, path: string, bytes: number, mtimeMs: number): Promise<PartInfo> {
  const reader = await IpcFileReader.open(path);
  try {
    const metadata = reader.schema.metadata;
    const mergedFrom = metadata.get(META_MERGED_FROM);
    return {
      name, path, bytes, mtimeMs, rows: await reader.numRows(), sweep: await partSweep(reader),
      specHash: metadata.get(META_SPEC_HASH) ?? '', version: metadata.get(META_VERSION) ?? '',
      mergedFrom: mergedFrom === undefined ? [] : (JSON.parse(mergedFrom) as string[]),
    };
  } finally {
    await reader.close();
  }
}

/**
 * Parts still present that a merged part says it replaced: a compaction stopped between writing the merged
 * part and removing them. Each merged part is checked whole (its checksum) before its leftovers go.
 */
async function removeLeftovers(partsDir: string, parts: readonly PartInfo[]): Promise<string[]> {
  const present = new Set(parts.map((p) => p.name));
  const removed: string[] = [];
  for (const merged of parts) {
    const left = merged.mergedFrom.filter((n) => present.has(n));
    if (left.length === 0) continue;
    const reader = await IpcFileReader.open(merged.path);
    try {
      await reader.verify();
    } finally {
      await reader.close();
    }
    await removeParts(partsDir, left);
    for (const n of left) present.delete(n);
    removed.push(...left);
  }
  return removed;
}

/** Writes the merged part of `members` (durably), then removes them. */
async function mergeRun(partsDir: string, members: readonly PartInfo[], name: string): Promise<void> {
  const { sweep, specHash, version } = members[0]!;
  const schema = resultSchema({ sweep, specHash, version }, [[META_MERGED_FROM, JSON.stringify(members.map((m) => m.name))]]);
  await writeResultBatches(join(partsDir, name), schema, coalesce(members, schema));
  await removeParts(partsDir, members.map((m) => m.name));
}

async function removeParts(partsDir: string, names: readonly string[]): Promise<void> {
  await Promise.all(names.map(async (name) => {
    const path = join(partsDir, name);
    try {
      await unlink(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new StorageError(path, 'remove it (its rows are in a merged part; the next compaction removes it)', error);
      }
    }
  }));
  try {
    await syncDir(partsDir);
  } catch (error) {
    throw new StorageError(partsDir, 'fsync the directory', error);
  }
}

/**
 * The rows of `members`, in order, as record batches of at most MAX_BATCH_ROWS rows and about MAX_BATCH_BYTES:
 * members are read one after another, the next while this one is cut up (each checked: complete, checksum,
 * schema; a version-1 part comes in today's types), and their batches are cut or joined to that size.
 */
async function* coalesce(members: readonly PartInfo[], schema: Schema): AsyncGenerator<RecordBatch> {
  let pending: Data[][] = [];
  let rows = 0;
  let bytes = 0;
  const flush = (): RecordBatch => {
    const columns = schema.fields.map((field, c) => concatData(field.type, pending.map((piece) => piece[c]!)));
    const batch = new RecordBatch(schema, structData(schema, rows, columns));
    pending = [];
    rows = 0;
    bytes = 0;
    return batch;
  };
  // The next member is read while this one's batches are cut and joined.
  let reading = readPartTable(members[0]!.path);
  for (let m = 0; m < members.length; m++) {
    const table = await reading;
    if (m + 1 < members.length) {
      reading = readPartTable(members[m + 1]!.path);
      reading.catch(() => undefined); // reported when awaited
    }
    for (const batch of table.batches) {
      const size = batch.data.byteLength;
      for (let at = 0; at < batch.numRows;) {
        const take = Math.min(batch.numRows - at, MAX_BATCH_ROWS - rows);
        const piece = take === batch.numRows ? batch : batch.slice(at, at + take);
        pending.push(schema.fields.map((f) => piece.getChild(f.name)!.data[0]!));
        rows += take;
        bytes += (size * take) / batch.numRows;
        at += take;
        if (rows >= MAX_BATCH_ROWS || bytes >= MAX_BATCH_BYTES) yield flush();
      }
    }
  }
  if (rows > 0) yield flush();
}

function structData(schema: Schema, length: number, children: Data[]): Data<Struct> {
  return makeData({ type: new Struct(schema.fields), length, nullCount: 0, children });
}
