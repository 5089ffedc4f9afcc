// What the benchmark scripts share: where the built packages are, and how a results directory and a
// measured process are sized.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A built workspace package (`npm run build` first). */
export const lib = (name) => import(join(root, `packages/${name}/dist/src/index.js`));

/** Bytes of the files in a parts folder. */
export const partsBytes = (partsDir) => readdirSync(partsDir).reduce((sum, name) => sum + statSync(join(partsDir, name)).size, 0);

/** Peak RSS in KiB from the report of GNU `time -v`; NaN when it has none. */
export const peakRssKb = (timeReport) => Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(timeReport ?? '')?.[1] ?? Number.NaN);

/** ‖a − b‖ / ‖b‖ over two equally long arrays. */
export function relativeDistance(a, b) {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}
