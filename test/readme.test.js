// Keeps the README true: its set-up block runs a real job with `npx hessweep …` and names `npm test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const setup = readme.split('## Set-up')[1]?.match(/```sh\n([\s\S]*?)```/)?.[1].trim().split('\n') ?? [];

test('the README set-up is two commands: a real job, then npm test', () => {
  assert.equal(setup.length, 2, `set-up block: ${JSON.stringify(setup)}`);
  assert.match(setup[0], /npx hessweep \w+/);
  assert.equal(setup[1], 'npm test');
});

test("the README's job runs and trains a network that learns", () => {
  const job = setup[0].slice(setup[0].indexOf('npx hessweep ') + 'npx hessweep '.length).split(/\s+/);
  const out = execFileSync(process.execPath, [join(root, 'packages/cli/dist/src/main.js'), ...job, '--json', '--quiet'], { encoding: 'utf8' });
  const row = JSON.parse(out);
  assert.equal(row.status, 'ok');
  assert.ok(row.train_accuracy > 0.7, `train accuracy ${row.train_accuracy}`);
  assert.equal(row.hessian_top.length, 5);
});
