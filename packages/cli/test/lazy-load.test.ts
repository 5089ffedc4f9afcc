/**
 * The binary loads a package only when the command given uses it: `--version`, `--help` and each command's
 * `--help` load none of the heavy ones (tfjs, Arrow, nats.js, vega and parquet-wasm are behind them), `cell`
 * loads landscape, and results only with --out, `status` of a directory loads results alone, and so on. Seen by
 * running the real binary under module hooks (load-hooks.js) that record every module it loads.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cli, syntheticSpec } from './support.js';

const execFileAsync = promisify(execFile);
const HOOKS = new URL('./load-hooks.js', import.meta.url).href;
const REGISTER = `data:text/javascript,import { register } from 'node:module'; register(${JSON.stringify(HOOKS)});`;

/** The workspace packages that load slowly or pull in libraries that do. */
const HEAVY_PACKAGES = ['analysis', 'coordinator', 'landscape', 'queue', 'results', 'worker'];
/** The libraries behind them, which nothing else may load either. */
const HEAVY_LIBRARIES = ['@tensorflow', 'apache-arrow', 'nats', 'vega', 'vega-lite', 'parquet-wasm'];
const COMMANDS = ['run', 'plan', 'status', 'coordinator', 'worker', 'cancel', 'aggregate', 'report', 'export', 'compact', 'doctor', 'cell', 'spectrum'];
const CELL = ['cell', '--dataset', 'synthetic', '--width', '4', '--depth', '1', '--sample-size', '64', '--epochs', '1', '--quiet'];

let dir: string;
let runs = 0;

/** Runs `hessweep args…` in `dir`; the heavy packages and libraries it loaded (sorted), its exit code and its output. */
async function loads(args: string[]): Promise<{ packages: string[]; libraries: string[]; code: number; output: string }> {
  const log = join(dir, `loads-${++runs}.txt`);
  await writeFile(log, '');
  let code = 0;
  let output: string;
  try {
    const r = await execFileAsync(process.execPath, ['--import', REGISTER, cli, ...args], { cwd: dir, env: { ...process.env, HESSWEEP_LOAD_LOG: log }, maxBuffer: 1 << 24 });
    output = r.stdout + r.stderr;
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    [code, output] = [e.code, e.stdout + e.stderr];
  }
  const urls = (await readFile(log, 'utf8')).split('\n').filter((url) => url !== '');
  // A run that recorded nothing would pass every check below: the hooks must have seen the binary itself.
  assert.ok(urls.some((url) => url.endsWith('/cli/dist/src/main.js')), `the load hooks recorded no main.js for ${args.join(' ')}:\n${output}`);
  return {
    packages: HEAVY_PACKAGES.filter((name) => urls.some((url) => url.endsWith(`/packages/${name}/dist/src/index.js`))),
    libraries: HEAVY_LIBRARIES.filter((name) => urls.some((url) => url.includes(`/node_modules/${name}/`))),
    code,
    output,
  };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hessweep-lazy-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('hessweep loads no heavy package for its version and help', { concurrency: 4 }, () => {
  for (const args of [['--version'], ['--help'], [], ...COMMANDS.map((command) => [command, '--help'])]) {
    test(`hessweep ${args.join(' ') || '(no command)'}`, async () => {
      const r = await loads(args);
      assert.equal(r.code, args.length === 0 ? 2 : 0, r.output);
      assert.deepEqual(r.packages, [], r.output);
      assert.deepEqual(r.libraries, [], r.output);
    });
  }
});

describe('each command loads the packages it uses', () => {
  test('cell: landscape; results only with --out', async () => {
    const plain = await loads(CELL);
    assert.equal(plain.code, 0, plain.output);
    assert.deepEqual(plain.packages, ['landscape']);
    const out = await loads([...CELL, '--out', join(dir, 'row.arrow')]);
    assert.equal(out.code, 0, out.output);
    assert.deepEqual(out.packages, ['landscape', 'results']);
  });

  test('plan: none; run --dry-run: coordinator, queue, results, worker; then status, compact: results; aggregate, export: analysis and results', async () => {
    const spec = join(dir, 'tiny.yaml');
    await writeFile(spec, syntheticSpec('tiny', [4], [1, 2]));
    const plan = await loads(['plan', spec]);
    assert.equal(plan.code, 0, plan.output);
    assert.deepEqual(plan.packages, []);
    assert.deepEqual(plan.libraries, []);

    const run = await loads(['run', spec, '--out', join(dir, 'results'), '--dry-run', '--quiet']);
    assert.equal(run.code, 0, run.output);
    // landscape is loaded by the cell threads, which a dry run does not start.
    assert.deepEqual(run.packages, ['coordinator', 'queue', 'results', 'worker']);

    const sweep = join(dir, 'results', 'tiny');
    for (const [args, packages] of [
      [['status', sweep], ['results']],
      [['aggregate', sweep], ['analysis', 'results']],
      [['export', sweep, '--to', 'csv'], ['analysis', 'results']],
      [['compact', sweep, '--quiet'], ['results']],
    ] as const) {
      const r = await loads([...args]);
      assert.equal(r.code, 0, `${args.join(' ')}\n${r.output}`);
      assert.deepEqual(r.packages, packages, args.join(' '));
    }
  });

  test("failures are classified without loading the failing class's package, or with only that one", async () => {
    const spec = await loads(['plan', join(dir, 'missing.yaml')]);
    assert.equal(spec.code, 2, spec.output);
    assert.deepEqual(spec.packages, []);
    // DataError is landscape's: exit 2 (bad input) with nothing else loaded.

    const r = await loads(['spectrum', '--problem', join(dir, 'missing.json')]);
    assert.equal(r.code, 2, r.output);
    assert.match(r.output, /missing\.json: cannot read the problem file \(ENOENT\)/);
    assert.deepEqual(r.packages, ['landscape']);
  });
});
