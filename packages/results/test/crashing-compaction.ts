/**
 * A compaction that dies as a crash would: it compacts argv[2] (final, minimum rows argv[5]) and kills its own
 * process (SIGKILL) when it makes file-system call argv[3] (`unlink`, `rename`) for the argv[4]-th time.
 * Used by compact.test.ts; run without arguments (the test runner loads every file under test/), it does nothing.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';

const require = createRequire(import.meta.url);
const fsp = require('node:fs/promises') as Record<string, (...args: unknown[]) => Promise<unknown>>;
const [dir, call, nth, minRows] = process.argv.slice(2);
if (dir !== undefined && call !== undefined) {
  const real = fsp[call]!;
  let calls = 0;
  fsp[call] = async (...args: unknown[]) => {
    if (++calls === Number(nth)) process.kill(process.pid, 'SIGKILL');
    return real(...args);
  };
  syncBuiltinESMExports();
  const { compactParts } = await import('../src/index.js');
  await compactParts(dir, { policy: { minPartRows: Number(minRows) } });
}
