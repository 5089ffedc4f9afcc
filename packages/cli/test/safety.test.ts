/**
 * Data safety of a sweep directory against storage faults and operator mistakes, with the real CLI, real
 * files and real mounts: a full disk (a small tmpfs), a read-only directory (a read-only bind mount), a second
 * writer, damaged and foreign part files, broken manifests. Every test ends with the sweep complete and every
 * cell exactly once. Mount tests need root (CI runs as root); where mounting is impossible they are skipped
 * with the reason printed.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rename, truncate, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tableFromIPC } from 'apache-arrow';
import { cli, exitWithin, hessweep, start, syntheticSpec, until, type Result, withDir } from './support.js';

const exec = promisify(execFile);

interface NatsServer {
  url: string;
  cleanup(): Promise<void>;
}
const harness = (await import(new URL('../../../queue/dist/test/nats-server.js', import.meta.url).href)) as { startNatsServer(): Promise<NatsServer> };
const WIDTHS = [4, 8];
const SEEDS = [0, 1, 2, 3];

/** Runs `fn` with `dir` mounted as a tmpfs of `size`; unmounted afterwards whatever happens. Null when mounting is impossible. */
async function withTmpfs(t: TestContext, dir: string, size: string, fn: () => Promise<void>): Promise<void> {
  await mkdir(dir, { recursive: true });
  try {
    await exec('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  } catch (error) {
    t.skip(`cannot mount a tmpfs here (${(error as Error).message.split('\n')[0]}); needs root`);
    return;
  }
  try {
    await fn();
  } finally {
    await exec('umount', ['-l', dir]);
  }
}

/** A refusal or failure: the exit code, exactly one line on stderr matching `pattern`, no stack trace. */
function assertOneLine(result: Result, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, `exit code ${result.code}; stderr:\n${result.stderr}`);
  assert.ok(!/\n\s+at /.test(result.stderr), `a stack trace:\n${result.stderr}`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `more than one line:\n${result.stderr}`);
  assert.match(lines[0]!, pattern);
}

/**
 * The ok rows of every regular part file in `sweepDir/parts`, read with apache-arrow directly: each (width, seed)
 * of the grid has exactly one ok row in the whole directory, and no part is a temp file.
 */
function assertEachCellOnce(sweepDir: string, widths = WIDTHS, seeds = SEEDS): void {
  const parts = join(sweepDir, 'parts');
  const names = readdirSync(parts);
  assert.deepEqual(names.filter((n) => n.includes('.tmp-')), [], 'no temp files');
  const cells: string[] = [];
  for (const name of names.filter((n) => n.endsWith('.arrow'))) {
    assert.ok(statSync(join(parts, name)).isFile(), `${name} is a regular file`);
    const table = tableFromIPC(readFileSync(join(parts, name)));
    assert.ok(table.numRows > 0, `${name} holds rows`);
    for (const row of table.toArray()) if (row.status === 'ok') cells.push(`${row.width}/${row.seed}`);
  }
  const expected = widths.flatMap((w) => seeds.map((s) => `${w}/${s}`));
  assert.deepEqual(cells.sort(), expected.sort(), 'every cell has exactly one ok row');
}

async function assertStatusComplete(sweepDir: string, cwd: string, cells = WIDTHS.length * SEEDS.length): Promise<void> {
  const status = await hessweep(['status', sweepDir, '--json'], cwd);
  assert.equal(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout);
  assert.deepEqual({ cells: report.cells, ok: report.ok, failed: report.failed, missing: report.missing, damaged: report.damaged_files }, { cells, ok: cells, failed: 0, missing: 0, damaged: [] });
}

const SPEC = syntheticSpec('safe', WIDTHS, SEEDS);

test('the disk fills up during a run: exit 1 with one line naming the directory and the cause, nothing partial on disk; after space is freed the rerun loses nothing and duplicates nothing', async (t) => {
  await withDir('safety', async (dir) => {
    await writeFile(join(dir, 'safe.yaml'), SPEC);
    const out = join(dir, 'out');
    await withTmpfs(t, out, '24k', async () => {
      const full = await hessweep(['run', 'safe.yaml', '--out', 'out', '--concurrency', '2', '--quiet'], dir);
      assertOneLine(full, 1, /^hessweep: out\/safe\/parts\/part-[^ ]+\.arrow: cannot write: no space left on the device \(ENOSPC\); the sweep stopped/);
      const sweepDir = join(out, 'safe');
      // Whatever reached the disk is whole: every part reads, no temp file, no stale lock.
      const names = await readdir(join(sweepDir, 'parts'));
      assert.deepEqual(names.filter((n) => n.includes('.tmp-')), []);
      for (const name of names) assert.ok(tableFromIPC(readFileSync(join(sweepDir, 'parts', name))).numRows > 0, name);
      assert.ok(!existsSync(join(sweepDir, 'lock.json')), 'the lock is released');
      const status = await hessweep(['status', sweepDir, '--json'], dir);
      assert.equal(status.code, 0, status.stderr);
      assert.ok(JSON.parse(status.stdout).missing > 0, 'cells are left to run');

      await exec('mount', ['-o', 'remount,size=4m', out]);
      const again = await hessweep(['run', 'safe.yaml', '--out', 'out', '--concurrency', '2', '--quiet'], dir);
      assert.equal(again.code, 0, again.stderr);
      assertEachCellOnce(sweepDir);
      await assertStatusComplete(sweepDir, dir);
    });
  });
});

test('the coordinator\'s disk fills up: exit 1 with one line, its rows stay unacknowledged in the results stream, and the next coordinator writes every cell exactly once', async (t) => {
  await withDir('safety', async (dir) => {
    await writeFile(join(dir, 'safe.yaml'), SPEC);
    const out = join(dir, 'out');
    const server = await harness.startNatsServer();
    const worker = spawn(process.execPath, [cli, 'worker', '--nats', server.url, '--dry-run', '--quiet', '--concurrency', '2'], { stdio: 'ignore' });
    try {
      // Room for the lock and the manifest, not for one part file.
      await withTmpfs(t, out, '16k', async () => {
        const coordinate = () => hessweep(['coordinator', 'safe.yaml', '--nats', server.url, '--out', 'out', '--quiet'], dir);
        assertOneLine(await coordinate(), 1, /^hessweep: out\/safe\/parts\/part-[^ ]+\.arrow: cannot write: no space left on the device \(ENOSPC\); the sweep stopped/);
        const sweepDir = join(out, 'safe');
        assert.deepEqual(await readdir(join(sweepDir, 'parts')), [], 'no part, not even a partial one');
        await exec('mount', ['-o', 'remount,size=4m', out]);
        const again = await coordinate();
        assert.equal(again.code, 0, again.stderr);
        assertEachCellOnce(sweepDir);
        await assertStatusComplete(sweepDir, dir);
      });
    } finally {
      worker.kill('SIGKILL');
      await server.cleanup();
    }
  });
});

test('a second run on a directory that a live run is writing is refused, naming it; a stale lock is taken over with a note', async () => {
  await withDir('safety', async (dir) => {
    // Cells of about a second each, one at a time; once it holds the lock the first run is paused (SIGSTOP), so it
    // is certainly alive and writing-to-be when the second one starts, however fast this machine is.
    await writeFile(join(dir, 'safe.yaml'), syntheticSpec('safe', WIDTHS, SEEDS, { epochs: 100, sampleSize: 2000 }));
    const sweepDir = join(dir, 'out', 'safe');
    const first = start(['run', 'safe.yaml', '--out', 'out', '--concurrency', '1', '--quiet'], dir);
    try {
      await until(() => existsSync(join(sweepDir, 'lock.json')) && existsSync(join(sweepDir, 'manifest.json')), 'the first run to take the lock and write its manifest');
      first.child.kill('SIGSTOP');
      const second = await hessweep(['run', 'safe.yaml', '--out', 'out', '--quiet'], dir);
      assertOneLine(second, 2, new RegExp(`^hessweep: out/safe is being written by pid ${first.child.pid} on ${hostname()} since \\S+ \\(hessweep run safe\\.yaml\\)`));
      const status = await hessweep(['status', sweepDir], dir);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`being written by pid ${first.child.pid}`));
      first.child.kill('SIGCONT');
      first.child.kill('SIGTERM'); // drains: the running cell finishes and is written
      assert.ok([0, 130].includes(await exitWithin(first, 60_000, 'the first run after SIGTERM')), 'the first run stops cleanly');
    } finally {
      first.child.kill('SIGKILL');
    }

    // A lock left by a process that is gone from this host, and one from another host whose heartbeat stopped.
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => dead.on('exit', resolve));
    const lock = join(sweepDir, 'lock.json');
    await writeFile(lock, JSON.stringify({ pid: dead.pid, host: hostname(), since: '2026-01-01T00:00:00.000Z', command: 'hessweep run safe.yaml', token: 'feedfacefeedface' }));
    const resumed = await hessweep(['run', 'safe.yaml', '--out', 'out', '--concurrency', '2', '--where', 'seed<=1'], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`took over the lock of out/safe from pid ${dead.pid} on ${hostname()}.*: pid ${dead.pid} is no longer running`));

    await writeFile(lock, JSON.stringify({ pid: 1, host: 'another-host', since: '2026-01-01T00:00:00.000Z', command: 'hessweep run safe.yaml', token: 'cafebabecafebabe' }));
    const hourAgo = new Date(Date.now() - 3600_000);
    await utimes(lock, hourAgo, hourAgo);
    const finished = await hessweep(['run', 'safe.yaml', '--out', 'out', '--concurrency', '2'], dir);
    assert.equal(finished.code, 0, finished.stderr);
    assert.match(finished.stderr, /took over the lock of out\/safe from pid 1 on another-host .*: its heartbeat is \d+ s old \(lease 60 s\)/);
    assertEachCellOnce(sweepDir);
    await assertStatusComplete(sweepDir, dir);
  });
});

/** One way a part file can go bad: `apply` damages the sweep directory and returns the file name it broke. */
interface Damage {
  kind: string;
  /** What the one-line refusal says about the file. */
  reason: RegExp;
  apply: (parts: string) => Promise<string>;
}

/** The newest part file of a directory. */
async function lastPart(parts: string): Promise<string> {
  return (await readdir(parts)).filter((n) => n.startsWith('part-') && n.endsWith('.arrow')).sort().at(-1)!;
}

test('damaged and foreign part files are refused by run, status, aggregate, report and export with one line naming them; status lists them, --quarantine moves them aside, and their cells run again', async () => {
  await withDir('safety', async (dir) => {
    await writeFile(join(dir, 'safe.yaml'), SPEC);
    // Another sweep, and a sweep of the same name with another grid in another directory: sources of foreign parts.
    await writeFile(join(dir, 'other.yaml'), syntheticSpec('other', [4], [0]));
    await writeFile(join(dir, 'twin.yaml'), syntheticSpec('safe', [12], [0]));
    for (const [spec, out] of [['safe.yaml', 'out'], ['other.yaml', 'out'], ['twin.yaml', 'elsewhere']]) {
      const run = await hessweep(['run', spec!, '--out', out!, '--concurrency', '2', '--quiet'], dir);
      assert.equal(run.code, 0, run.stderr);
    }
    const sweepDir = join(dir, 'out', 'safe');
    const parts = join(sweepDir, 'parts');
    const copyIn = async (from: string, name: string) => {
      await copyFile(join(from, await lastPart(from)), join(parts, name));
      return name;
    };
    const damages: Damage[] = [
      {
        kind: 'truncated', reason: /not a complete Arrow IPC file \(truncated or corrupt\)/,
        apply: async (p) => {
          const name = await lastPart(p);
          await truncate(join(p, name), Math.floor(statSync(join(p, name)).size / 2));
          return name;
        },
      },
      {
        kind: 'bit-flipped', reason: /checksum mismatch: the rows were changed or damaged on disk/,
        apply: async (p) => {
          const name = await lastPart(p);
          const bytes = await readFile(join(p, name));
          bytes[Math.floor(bytes.length / 2)]! ^= 0x10;
          await writeFile(join(p, name), bytes);
          return name;
        },
      },
      {
        kind: '0-byte', reason: /empty file \(0 bytes\)/,
        apply: async (p) => {
          const name = await lastPart(p);
          await truncate(join(p, name), 0);
          return name;
        },
      },
      {
        kind: 'a directory', reason: /a directory, not a part file/,
        apply: async (p) => {
          await mkdir(join(p, 'part-x.arrow'));
          return 'part-x.arrow';
        },
      },
      { kind: 'another sweep', reason: /rows of sweep "other", not of "safe" \(copied from another sweep\?\)/, apply: () => copyIn(join(dir, 'out', 'other', 'parts'), 'part-99999999999999-1-000000.arrow') },
      { kind: 'another spec of the same name', reason: /written under spec [0-9a-f]{12}…, which this sweep never ran/, apply: () => copyIn(join(dir, 'elsewhere', 'safe', 'parts'), 'part-99999999999999-2-000000.arrow') },
    ];
    for (const damage of damages) {
      const name = await damage.apply(parts);
      const where = `(${damage.kind})`;
      const fileAndReason = new RegExp(`${name.replace(/\./g, '\\.')} \\(${damage.reason.source}`);
      for (const args of [['run', 'safe.yaml', '--out', 'out'], ['aggregate', sweepDir], ['report', sweepDir], ['export', sweepDir, '--to', 'csv']]) {
        const refused = await hessweep(args, dir);
        assertOneLine(refused, 2, fileAndReason);
        assert.match(refused.stderr, /hessweep status \S+ --quarantine/, `${args[0]} ${where} says what to do`);
      }
      const status = await hessweep(['status', sweepDir], dir);
      assert.equal(status.code, 2, `${where} status exits 2 while the file is there`);
      assert.match(status.stdout, new RegExp(`  ${name.replace(/\./g, '\\.')}: ${damage.reason.source}`), where);

      const quarantine = await hessweep(['status', sweepDir, '--quarantine'], dir);
      assert.equal(quarantine.code, 0, quarantine.stderr);
      assert.ok(existsSync(join(sweepDir, 'quarantine', name)), `${where} moved into quarantine/`);
      assert.ok(!existsSync(join(parts, name)), `${where} no longer among the parts`);

      const resumed = await hessweep(['run', 'safe.yaml', '--out', 'out', '--concurrency', '2', '--quiet'], dir);
      assert.equal(resumed.code, 0, `${where} ${resumed.stderr}`);
      assertEachCellOnce(sweepDir);
      await assertStatusComplete(sweepDir, dir);
    }
    // The analysis reads the whole sweep again.
    const aggregate = await hessweep(['aggregate', sweepDir, '--format', 'json'], dir);
    assert.equal(aggregate.code, 0, aggregate.stderr);
    assert.equal(JSON.parse(aggregate.stdout).cells, WIDTHS.length * SEEDS.length);
  });
});

test('an invalid or hand-edited manifest is one line and exit 2 for run, status and report; moved away, the sweep resumes without recomputing', async () => {
  await withDir('safety', async (dir) => {
    await writeFile(join(dir, 'safe.yaml'), SPEC);
    const first = await hessweep(['run', 'safe.yaml', '--out', 'out', '--concurrency', '2', '--quiet'], dir);
    assert.equal(first.code, 0, first.stderr);
    const sweepDir = join(dir, 'out', 'safe');
    const path = join(sweepDir, 'manifest.json');
    const good = await readFile(path, 'utf8');
    const edited = JSON.parse(good);
    edited.spec.grid.width = [4, 8, 16];
    edited.spec.grids[0].width = [4, 8, 16];
    const typed = { ...JSON.parse(good), cell_count: 'eight' };
    const cases: [string, string, RegExp][] = [
      ['invalid JSON', '{"sweep": "safe", ', /manifest\.json: not valid JSON/],
      ['hand-edited spec', JSON.stringify(edited), /manifest\.json: the spec it holds does not match its spec_hash \(edited by hand, or damaged\)/],
      ['wrong field type', JSON.stringify(typed), /manifest\.json: field "cell_count" must be a non-negative integer, got "eight"/],
      ['not an object', '[]', /manifest\.json: not a hessweep manifest/],
    ];
    for (const [kind, text, message] of cases) {
      await writeFile(path, text);
      for (const args of [['run', 'safe.yaml', '--out', 'out'], ['status', sweepDir], ['report', sweepDir]]) {
        assertOneLine(await hessweep(args, dir), 2, message);
      }
      assert.equal(await readFile(path, 'utf8'), text, `${kind}: the refused manifest is left as it was`);
    }
    await rename(path, `${path}.broken`);
    const parts = (await readdir(join(sweepDir, 'parts'))).sort();
    const resumed = await hessweep(['run', 'safe.yaml', '--out', 'out', '--quiet'], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual((await readdir(join(sweepDir, 'parts'))).sort(), parts, 'nothing computed again');
    // The new manifest knows the spec the parts were written under.
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')).spec_hashes, [JSON.parse(good).spec_hash]);
    assertEachCellOnce(sweepDir);
    await assertStatusComplete(sweepDir, dir);
  });
});

test('operator mistakes are one line and exit 2: --out that is a file, a read-only sweep directory, a 300-character sweep name, a status target that is no directory', async (t) => {
  await withDir('safety', async (dir) => {
    await writeFile(join(dir, 'safe.yaml'), SPEC);
    await writeFile(join(dir, 'afile'), 'not a directory');
    assertOneLine(await hessweep(['run', 'safe.yaml', '--out', 'afile'], dir), 2, /^hessweep: cannot use afile\/safe for results: .*\(ENOTDIR\)/);

    await writeFile(join(dir, 'long.yaml'), syntheticSpec('x'.repeat(300), [4], [0]));
    assertOneLine(await hessweep(['run', 'long.yaml', '--out', 'out'], dir), 2, /^hessweep: long\.yaml: name: must be at most 64 characters/);
    for (const target of ['>', '*', 'no/such/dir']) {
      assertOneLine(await hessweep(['status', target], dir), 2, /no such directory/);
    }

    const first = await hessweep(['run', 'safe.yaml', '--out', 'out', '--concurrency', '2', '--quiet', '--where', 'seed=0'], dir);
    assert.equal(first.code, 0, first.stderr);
    const sweepDir = join(dir, 'out', 'safe');
    try {
      await exec('mount', ['--bind', sweepDir, sweepDir]);
    } catch (error) {
      t.skip(`cannot bind-mount here (${(error as Error).message.split('\n')[0]}); needs root`);
      return;
    }
    try {
      await exec('mount', ['-o', 'remount,bind,ro', sweepDir]);
      assertOneLine(await hessweep(['run', 'safe.yaml', '--out', 'out'], dir), 2, /^hessweep: cannot use out\/safe for results: .*read-only \(EROFS\)/);
      // Reading needs no writing.
      const status = await hessweep(['status', sweepDir, '--json'], dir);
      assert.equal(status.code, 0, status.stderr);
      assert.equal(JSON.parse(status.stdout).ok, WIDTHS.length);
    } finally {
      await exec('umount', [sweepDir]);
    }
    const rest = await hessweep(['run', 'safe.yaml', '--out', 'out', '--concurrency', '2', '--quiet'], dir);
    assert.equal(rest.code, 0, rest.stderr);
    assertEachCellOnce(sweepDir);
    await assertStatusComplete(sweepDir, dir);
  });
});
