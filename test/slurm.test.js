// deploy/slurm/hessweep-workers.sbatch on a real Slurm (issue 13 item 7): a single-node cluster of the test's own
// (test/slurm.js), the project's script submitted unchanged, preempted twice — a signal only (`scancel
// --signal=TERM`, what the script's --signal=TERM@600 does before the time limit) and a requeue of the running
// job (what preemption with PreemptMode=REQUEUE does: SIGTERM, KillWait, SIGKILL) — and requeued each time.
// The worker finishes the cell it is computing and takes no more; the sweep ends with every cell once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SlurmCluster, slurmUnavailable } from './slurm.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sbatch = join(root, 'deploy/slurm/hessweep-workers.sbatch');
// The CLI tests' helpers: a spec, the rows of a sweep, the exit wait with a deadline, a child `hessweep` (the one poll,
// `until`, through `cluster.waitFor`, which adds the daemons' logs to its failure).
const { syntheticSpec, partRows, exitWithin, start } = await import(join(root, 'packages/cli/dist/test/support.js'));
const { startNatsServer } = await import(join(root, 'packages/queue/dist/test/nats-server.js'));
// Where it cannot run (not root, no Slurm) the test is skipped; the reason is in its SKIP line.
const unavailable = slurmUnavailable();

const cleanups = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** What the script asks for per task (`#SBATCH --cpus-per-task` and `--mem-per-cpu`): the test's node offers that. */
function scriptShape(script) {
  const cpus = /^#SBATCH --cpus-per-task=(\d+)$/m.exec(script);
  const memory = /^#SBATCH --mem-per-cpu=(\d+)([MG])$/m.exec(script);
  assert.ok(cpus && memory, 'the sbatch script has #SBATCH --cpus-per-task=N and --mem-per-cpu=<n>M|G lines');
  const cpusPerTask = Number(cpus[1]);
  return { cpus: cpusPerTask, memoryMiB: cpusPerTask * Number(memory[1]) * (memory[2] === 'G' ? 1024 : 1) };
}

/** The job's output split into its runs: each begins with the script's `hessweep workers: job N` line. */
function runsOf(text) {
  return text.split(/^(?=hessweep workers: job )/m).filter((run) => run.startsWith('hessweep workers: job '));
}

/** One run's worker lines: cells started and done (in order), and where its SIGTERM line is (-1: none). */
function eventsOf(run) {
  const lines = run.split('\n');
  const cells = (re) => lines.flatMap((line, at) => (re.exec(line) ? [{ cell: re.exec(line)[1], at }] : []));
  return {
    started: cells(/ start slurm\/(\w+) attempt 1$/),
    retried: cells(/ start slurm\/(\w+) attempt [2-9]/),
    done: cells(/ done {2}slurm\/(\w+) in /),
    term: lines.findIndex((line) => / SIGTERM: finishing running cells/.test(line)),
  };
}

/** A run whose worker has finished a cell and is computing another: the moment to preempt it. */
function insideSecondCell(run) {
  const { started, done } = eventsOf(run ?? '');
  return done.length >= 1 && started.length > done.length;
}

/** A preempted run drained: a cell was running at the signal, it finished after it, and nothing started after it. */
function assertDrained(run, what) {
  const { started, done, term } = eventsOf(run);
  assert.ok(term >= 0, `${what}: the worker got SIGTERM\n${run}`);
  const running = started.filter((s) => s.at < term && !done.some((d) => d.cell === s.cell && d.at < term));
  assert.ok(running.length >= 1, `${what}: a cell was running when SIGTERM came\n${run}`);
  for (const { cell } of running) assert.ok(done.some((d) => d.cell === cell && d.at > term), `${what}: cell ${cell} finished after SIGTERM\n${run}`);
  assert.ok(started.every((s) => s.at < term), `${what}: no cell started after SIGTERM\n${run}`);
}

test('the sbatch script on a real Slurm, preempted by scancel --signal=TERM and by scontrol requeue: running cells finish, every cell once and ok', { skip: unavailable ?? false, timeout: 420_000 }, async () => {
  const cluster = await SlurmCluster.start(scriptShape(readFileSync(sbatch, 'utf8')));
  cleanups.push(() => cluster.destroy());
  const nats = await startNatsServer();
  cleanups.push(() => nats.cleanup());
  // The sweep's files and the job's output in the cluster's dir: removed with it, also as an orphan's.
  const work = join(cluster.dir, 'sweep');
  await mkdir(work);

  // Eight cells of about 1–4 s each: enough for two preemptions, each inside a cell, and a run after them.
  await writeFile(join(work, 's.yaml'), syntheticSpec('slurm', [4, 6, 8, 10], [0, 1], { epochs: 800, sampleSize: 6000 }));
  const coordinator = start(['coordinator', 's.yaml', '--nats', nats.url, '--out', 'out', '--ack-wait', '10'], work);
  cleanups.push(async () => {
    coordinator.child.kill('SIGKILL');
    await coordinator.exited;
  });
  // The job gets this environment (sbatch passes it on): no credentials file, one cell at a time on this 2-core machine.
  const jobEnv = { NATS_URL: nats.url, HESSWEEP_HOME: root, HESSWEEP_CONCURRENCY: '1', HESSWEEP_ENV_FILE: join(work, 'no-credentials-file') };
  const submitted = await cluster.command('sbatch', [sbatch], { cwd: work, env: jobEnv });
  const job = /^Submitted batch job (\d+)$/m.exec(submitted)?.[1];
  assert.ok(job, `sbatch said: ${submitted}`);
  const outputFile = join(work, `hessweep-workers-${job}.out`);
  const output = () => (existsSync(outputFile) ? readFileSync(outputFile, 'utf8') : '');
  const runs = () => runsOf(output());
  const wait = (condition, what, ms) => cluster.waitFor(condition, what, ms, () => `--- job ${job} output:\n${output()}\n--- coordinator:\n${coordinator.output()}`);
  const state = async () => (await cluster.job(job)).state;
  // Slurm holds a requeued job back (BeginTime about two minutes on); it may start two seconds after its last run
  // ended: slurmd refuses a launch whose credential is from the second it revoked the job's ("Job N already killed").
  const requeueSoon = async () => {
    await cluster.command('scontrol', ['requeue', job]);
    await wait(async () => (await state()) === 'PENDING' && cluster.jobProcesses().length === 0, `job ${job} to be pending again with none of its processes left`, 90_000);
    await cluster.command('scontrol', ['update', `JobId=${job}`, 'StartTime=now+2']);
  };

  // Run 1: SIGTERM only. The worker drains and exits 0, so the job completes.
  await wait(() => insideSecondCell(runs()[0]), 'the job to finish a cell and start another', 180_000);
  await cluster.command('scancel', ['--signal=TERM', job]);
  await wait(async () => (await state()) === 'COMPLETED', `job ${job} to complete after SIGTERM`, 90_000);
  assert.equal((await cluster.job(job)).exitCode, '0:0', 'the drained worker, and so the job, exit 0');
  assertDrained(runs()[0], 'run 1 (scancel --signal=TERM)');

  // Run 2: the completed job requeued; then preempted by requeueing it while it runs (SIGTERM, KillWait, SIGKILL).
  await requeueSoon();
  await wait(() => runs().length === 2 && insideSecondCell(runs()[1]), 'the requeued job to finish a cell and start another', 180_000);
  await requeueSoon();
  assertDrained(runs()[1], 'run 2 (scontrol requeue of the running job)');

  // Run 3 serves the rest of the sweep.
  await wait(() => runs().length === 3, 'the job to run a third time', 120_000);
  assert.equal(await exitWithin(coordinator, 240_000, 'the coordinator'), 0, coordinator.output());
  assert.equal((await cluster.job(job)).restarts, 2, 'the job was requeued twice');

  const rows = await partRows(join(work, 'out', 'slurm'));
  assert.equal(rows.length, 8, 'one row per cell');
  assert.equal(new Set(rows.map((r) => r.cell_id)).size, 8, 'no cell twice');
  assert.ok(rows.every((r) => r.status === 'ok'), `statuses: ${rows.map((r) => `${r.status} ${r.error ?? ''}`).join('; ')}`);
  // The job's output has the worker's lines of every cell: each started once (attempt 1, none redelivered) and done once.
  const events = runs().map(eventsOf);
  const started = events.flatMap((e) => e.started.map((s) => s.cell));
  const done = events.flatMap((e) => e.done.map((d) => d.cell));
  assert.deepEqual(events.flatMap((e) => e.retried), [], `no cell delivered twice\n${output()}`);
  assert.deepEqual([...started].sort(), rows.map((r) => r.cell_id).sort(), `every cell started once by the job\n${output()}`);
  assert.deepEqual([...done].sort(), rows.map((r) => r.cell_id).sort(), `every cell done once by the job\n${output()}`);

  // The job never ends by itself: cancel it, then stop everything the test started.
  await cluster.command('scancel', [job]);
  await wait(async () => (await state()) === 'CANCELLED' && cluster.jobProcesses().length === 0, `job ${job} to be cancelled with none of its processes left`, 90_000);
  const natsPid = nats.process.pid;
  await cluster.destroy();
  await nats.cleanup();
  assert.deepEqual(cluster.leftovers(), [], 'no process of the Slurm cluster is left');
  assert.throws(() => process.kill(natsPid, 0), { code: 'ESRCH' }, 'nats-server is gone');
  assert.equal(existsSync(cluster.dir), false, "the cluster's temp dir is removed");
});
