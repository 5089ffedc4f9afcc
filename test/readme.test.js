// Keeps the README true: its set-up block runs a real sweep with `npx hessweep …`, then `npm test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'packages/cli/dist/src/main.js');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const setup = readme.split('## Set-up')[1]?.match(/```sh\n([\s\S]*?)```/)?.[1].trim().split('\n') ?? [];

test('the README set-up is two commands: a real job, then npm test', () => {
  assert.equal(setup.length, 2, `set-up block: ${JSON.stringify(setup)}`);
  assert.match(setup[0], /^npm ci && npm run build && npx hessweep run \S+$/);
  assert.equal(setup[1], 'npm test');
});

test("the README's sweep runs every cell and `status` agrees", async () => {
  const job = setup[0].slice(setup[0].indexOf('npx hessweep ') + 'npx hessweep '.length).split(/\s+/);
  const out = await mkdtemp(join(tmpdir(), 'hessweep-readme-'));
  try {
    execFileSync(process.execPath, [cli, ...job, '--out', out, '--quiet'], { cwd: root, stdio: 'pipe' });
    const status = JSON.parse(execFileSync(process.execPath, [cli, 'status', join(out, 'quick'), '--json'], { encoding: 'utf8' }));
    assert.ok(status.cells >= 12, `cells: ${status.cells}`);
    assert.equal(status.ok, status.cells);
    assert.equal(status.failed + status.missing, 0);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
