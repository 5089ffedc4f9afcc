import type { Argv } from 'yargs';
import { existsSync, statSync } from 'node:fs';
import type { CompactionProgress } from '@hessweep/results';
import { DEFAULT_COMPACTION_POLICY } from '@hessweep/results/compaction-policy';
import { UsageError } from '../errors.js';
import { positiveIntegers } from '../plan.js';

export function compactOptions(y: Argv) {
  return y
    .positional('dir', { type: 'string', demandOption: true, describe: 'a sweep directory (<out>/<name>)' })
    .option('target-parts', {
      type: 'number', default: DEFAULT_COMPACTION_POLICY.targetParts,
      describe: 'part files left at most (half of it, plus one per spec the sweep ran under)',
    })
    .option('min-rows', { type: 'number', default: DEFAULT_COMPACTION_POLICY.minPartRows, describe: 'rows a merged part gathers at least' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress lines' });
}

type CompactArgs = Awaited<ReturnType<typeof compactOptions>['argv']>;

/**
 * Merges the small part files of a sweep directory into large ones (results' compactParts), under the
 * directory lock: refused while a run or coordinator writes the directory, and while damaged parts remain.
 */
export async function compactCommand(args: CompactArgs): Promise<number> {
  positiveIntegers(args, ['target-parts', 'min-rows']);
  if (args['target-parts'] < 2) throw new UsageError(`--target-parts must be at least 2, got ${args['target-parts']}`);
  const dir = args.dir;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${dir}: no such directory; give a sweep directory, <out>/<name>`);
  const { acquireSweepLock, compactParts, damagedPartsError, readManifest, removeTemps, scanParts, SweepOwnedError, sweepPaths } = await import('@hessweep/results');
  const paths = sweepPaths(dir);
  const manifest = await readManifest(paths.manifest);
  if (!manifest) throw new UsageError(`${dir}: no manifest.json here; give the sweep's directory, <out>/<name>`);
  const note = (message: string) => process.stderr.write(`${message}\n`);
  const lock = await acquireSweepLock(paths, { command: `hessweep compact ${dir}`, onNote: note });
  try {
    const scan = await scanParts(paths.parts, { sweep: manifest.sweep, specHashes: manifest.spec_hashes });
    if (scan.damaged.length > 0) throw damagedPartsError(dir, scan.damaged);
    if (scan.temps.length > 0) {
      await removeTemps(paths.parts, scan.temps);
      note(`removed ${scan.temps.length} unfinished temp file(s) left by an interrupted writer: ${scan.temps.join(', ')}`);
    }
    const started = performance.now();
    const result = await compactParts(paths.parts, {
      policy: { targetParts: args['target-parts'], minPartRows: args['min-rows'] },
      confirm: async () => {
        if (!(await lock.held())) throw new SweepOwnedError(`${dir}: stopped: its lock was taken over by another process; merges done so far are complete`);
      },
      onProgress: args.quiet ? undefined : (p) => note(describeMerge(p)),
    });
    const seconds = (performance.now() - started) / 1000;
    const leftovers = result.leftoversRemoved > 0 ? `, ${result.leftoversRemoved} leftover part(s) of an interrupted compaction removed` : '';
    process.stdout.write(
      `${dir}: ${count(result.partsBefore, 'part')} → ${count(result.partsAfter, 'part')}, ${count(result.rows, 'row')}, ` +
        `${size(result.bytesBefore)} → ${size(result.bytesAfter)} (${count(result.merges, 'merge')}${leftovers}, ${seconds.toFixed(1)} s)\n`,
    );
    return 0;
  } finally {
    await lock.release();
  }
}

function describeMerge(p: CompactionProgress): string {
  return `[${p.merge}/${p.merges}] merging ${p.parts} parts (${p.rows.toLocaleString('en-US')} rows) into ${p.name}`;
}

const count = (n: number, noun: string) => `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;
const size = (bytes: number) => (bytes < 1 << 20 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / (1 << 20)).toFixed(1)} MiB`);
