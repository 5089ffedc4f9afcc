// The `hessweep` command stays executable through rebuilds: npm links a committed launcher (mode 755), not a
// file under dist/ that tsc or turbo's cache rewrite without the exec bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const launcher = join(root, 'packages/cli/bin/hessweep.js');
const linked = join(root, 'node_modules/.bin/hessweep');
const version = JSON.parse(readFileSync(join(root, 'packages/cli/package.json'), 'utf8')).version;

test('the launcher has the owner exec bit and both package.json bins point at it', () => {
  assert.ok(statSync(launcher).mode & 0o100, `mode ${(statSync(launcher).mode & 0o777).toString(8)}`);
  const rootBin = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).bin.hessweep;
  const cliBin = JSON.parse(readFileSync(join(root, 'packages/cli/package.json'), 'utf8')).bin.hessweep;
  assert.equal(join(root, rootBin), launcher);
  assert.equal(join(root, 'packages/cli', cliBin), launcher);
  assert.equal(realpathSync(linked), realpathSync(launcher), 'npm ci links node_modules/.bin/hessweep to the launcher');
});

test('after two builds, node_modules/.bin/hessweep and the launcher run as programs', () => {
  for (let build = 0; build < 2; build++) {
    const result = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
    assert.equal(result.status, 0, `npm run build: ${result.stderr}`);
  }
  for (const program of [linked, launcher]) {
    // Executed directly, not through `node`: this is what fails when the file lacks its exec bit.
    assert.equal(execFileSync(program, ['--version'], { cwd: root, encoding: 'utf8' }).trim(), version);
  }
});

test('without dist/ the launcher says to build, in one line, and exits 2', () => {
  const copy = mkdtempSync(join(tmpdir(), 'hessweep-bin-'));
  try {
    mkdirSync(join(copy, 'bin'));
    copyFileSync(launcher, join(copy, 'bin/hessweep.js'));
    const result = spawnSync(process.execPath, [join(copy, 'bin/hessweep.js'), '--version'], { encoding: 'utf8' });
    assert.equal(result.status, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^hessweep: not built yet \(.*dist\/src\/main\.js is missing\): run npm run build first\n$/);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});
