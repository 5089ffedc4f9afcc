// `npm run bench -- <name>`: runs one benchmark script from this folder (or lists them).
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here).filter((f) => f.endsWith('.bench.js')).map((f) => f.replace('.bench.js', ''));
const [name, ...rest] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [options]`);
  process.exit(2);
}
const result = spawnSync(process.execPath, [join(here, `${name}.bench.js`), ...rest], { stdio: 'inherit' });
process.exit(result.status ?? 1);
