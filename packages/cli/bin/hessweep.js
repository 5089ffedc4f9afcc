#!/usr/bin/env node
// The `hessweep` command that npm links. It is committed with its exec bit and lives outside dist/, because
// builds (tsc, turbo's cache restore) write dist/ files without the exec bit: a bin pointing into dist/ would
// become "Permission denied" after a rebuild.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(`hessweep: not built yet (${fileURLToPath(main)} is missing): run npm run build first\n`);
  process.exit(2);
}
await import(main.href);
