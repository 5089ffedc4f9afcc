// A single-node Slurm on this machine for tests: munged, slurmctld and slurmd started from a temp dir of their
// own (munge key and socket, slurm.conf, state and spool dirs, pid and log files, free ports), so a system Slurm,
// if there is one, is never touched. Client commands reach it through SLURM_CONF (`cluster.env`). Needs root
// (CI runs as root) and Debian's slurm-wlm and munge; `slurmUnavailable()` says why not otherwise.
//
// Every process of a cluster (the daemons, slurmstepd, the jobs' processes when submitted with `cluster.env`)
// carries MARKER=<owner pid>:<dir> in its environment. That finds them by pid: for `destroy`, for the process
// 'exit' hook, and for the next `SlurmCluster.start` when the process that owned a cluster died before cleanup.
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alive } from './processes.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { until } = await import(join(root, 'packages/cli/dist/test/support.js'));
const { freePort, retryWhilePortTaken } = await import(join(root, 'packages/queue/dist/test/nats-server.js'));

const MARKER = 'HESSWEEP_SLURM_TEST';
const BINARIES = ['munged', 'mungekey', 'slurmctld', 'slurmd', 'sbatch', 'srun', 'scancel', 'scontrol', 'squeue'];
/** Slurm's own default, written out: how long a job's processes have between SIGTERM and SIGKILL on cancel/requeue. */
export const KILL_WAIT_S = 30;

/** The path of executable `name` on PATH or in the sbin directories (where Debian puts the daemons), or null. */
function which(name) {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/bin', '/sbin'];
  for (const dir of dirs) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here: try the next directory
    }
  }
  return null;
}

/** Why a cluster cannot be started here (not root, binaries missing), or null when it can. */
export function slurmUnavailable() {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'slurmd and munged need root (CI runs as root)';
  const missing = BINARIES.filter((name) => which(name) === null);
  return missing.length > 0 ? `${missing.join(', ')} not found (apt-get install slurm-wlm munge)` : null;
}

function kill(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** Every process with MARKER in its environment: `{ pid, ppid, value }` (processes that end meanwhile are skipped). */
function markedProcesses() {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const variable = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').find((v) => v.startsWith(`${MARKER}=`));
      if (variable === undefined) continue;
      const ppid = Number(/^\S+ \(.*\) \S (\d+)/s.exec(readFileSync(`/proc/${entry}/stat`, 'utf8'))[1]);
      found.push({ pid: Number(entry), ppid, value: variable.slice(MARKER.length + 1) });
    } catch {
      // Ended while we looked, or not ours to read.
    }
  }
  return found;
}

/** Kills what is left of clusters whose owning process is gone (a test killed before its cleanup), and their dirs. */
function removeOrphans() {
  for (const { pid, value } of markedProcesses()) {
    const [owner, dir] = [Number(value.split(':')[0]), value.slice(value.indexOf(':') + 1)];
    if (alive(owner)) continue;
    kill(pid, 'SIGKILL');
    if (dir.startsWith(join(tmpdir(), 'hessweep-slurm-'))) rmSync(dir, { recursive: true, force: true });
  }
}

function tail(file, lines = 25) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(none)';
  }
}

function slurmConf({ dir, host, ctldPort, slurmdPort, cpus, memoryMiB }) {
  return `# A single-node test cluster; everything it writes is under ${dir}.
ClusterName=hessweep-test
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=${ctldPort}
SlurmdPort=${slurmdPort}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${dir}/munge.socket
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool
SlurmctldPidFile=${dir}/slurmctld.pid
SlurmdPidFile=${dir}/slurmd.pid
SlurmctldLogFile=${dir}/slurmctld.log
SlurmdLogFile=${dir}/slurmd.log
PlugStackConfig=${dir}/plugstack.conf
MailProg=/bin/true
# No cgroups: processes are tracked by their parents, tasks are not bound to CPUs.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
# Pending jobs are looked at every second (default 60): a job whose BeginTime has come starts at once.
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
KillWait=${KILL_WAIT_S}
ReturnToService=2
# The node is declared with what the job asks for, not what this machine has: slurmd takes the config's word.
SlurmdParameters=config_overrides
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${memoryMiB} State=UNKNOWN
PartitionName=test Nodes=${host} Default=YES MaxTime=INFINITE State=UP
`;
}

export class SlurmCluster {
  constructor(dir) {
    this.dir = dir;
    this.host = hostname().split('.')[0];
    this.marker = `${process.pid}:${dir}`;
    /** What client commands and submitted jobs need in their environment. */
    this.env = { SLURM_CONF: join(dir, 'slurm.conf'), [MARKER]: this.marker };
    /** @type {Map<string, import('node:child_process').ChildProcess>} */
    this.daemons = new Map();
    this.onExit = () => this.destroySync();
  }

  /**
   * Starts munged, slurmctld and slurmd for one node of `cpus` CPUs and `memoryMiB` MiB, and waits until the node
   * is idle. A port picked free but taken before its daemon bound it means a start on fresh ports (up to 3 tries).
   */
  static async start({ cpus, memoryMiB }) {
    removeOrphans();
    return retryWhilePortTaken(async () => {
      const cluster = new SlurmCluster(await mkdtemp(join(tmpdir(), 'hessweep-slurm-')));
      process.once('exit', cluster.onExit);
      try {
        await cluster.startDaemons({ cpus, memoryMiB });
        return cluster;
      } catch (error) {
        await cluster.destroy();
        throw error;
      }
    });
  }

  async startDaemons({ cpus, memoryMiB }) {
    const { dir } = this;
    for (const sub of ['state', 'spool']) mkdirSync(join(dir, sub));
    writeFileSync(join(dir, 'plugstack.conf'), '');
    const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
    writeFileSync(this.env.SLURM_CONF, slurmConf({ dir, host: this.host, ctldPort, slurmdPort, cpus, memoryMiB }));
    await this.command('mungekey', ['--create', '--keyfile', join(dir, 'munge.key')]);
    // --force: munged refuses to run as root otherwise; its files are all in the cluster's dir.
    this.daemon('munged', ['--foreground', '--force', `--socket=${dir}/munge.socket`, `--key-file=${dir}/munge.key`, `--pid-file=${dir}/munged.pid`, `--log-file=${dir}/munged.log`, `--seed-file=${dir}/munged.seed`]);
    await this.waitFor(() => existsSync(join(dir, 'munge.socket')), 'munged to create its socket', 30_000);
    this.daemon('slurmctld', ['-D', '-f', this.env.SLURM_CONF]);
    await this.waitFor(async () => /is UP/.test(await this.command('scontrol', ['ping']).catch(() => '')), 'slurmctld to answer `scontrol ping`', 60_000);
    this.daemon('slurmd', ['-D', '-f', this.env.SLURM_CONF, '-N', this.host]);
    await this.waitFor(async () => /State=IDLE\b/.test(await this.command('scontrol', ['show', 'node', this.host, '-o'])), `node ${this.host} to be idle`, 60_000);
  }

  /** Starts daemon `name` in the foreground, its stdout and stderr in <dir>/<name>.out. */
  daemon(name, args) {
    const out = openSync(join(this.dir, `${name}.out`), 'a');
    try {
      const child = spawn(which(name), args, { env: { ...process.env, ...this.env }, stdio: ['ignore', out, out] });
      child.unref();
      this.daemons.set(name, child);
    } finally {
      closeSync(out);
    }
  }

  /** Runs client command `name args` against this cluster to its end; its stdout, or an error with its stderr. */
  command(name, args, { cwd = this.dir, env = {} } = {}) {
    return new Promise((resolve, reject) => {
      execFile(which(name) ?? name, args, { cwd, env: { ...process.env, ...env, ...this.env }, timeout: 30_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${name} ${args.join(' ')}: ${stderr.trim() || error.message}`));
        else resolve(stdout);
      });
    });
  }

  /** Job `id` as `scontrol show job` has it: state, exit code (`0:0`), restarts. */
  async job(id) {
    const line = await this.command('scontrol', ['show', 'job', String(id), '-o']);
    const field = (name) => new RegExp(`\\b${name}=(\\S+)`).exec(line)?.[1];
    return { state: field('JobState'), exitCode: field('ExitCode'), restarts: Number(field('Restarts')) };
  }

  /** Pids of the processes of this cluster's jobs (slurmstepd, the batch script, its steps); not the daemons. */
  jobProcesses() {
    const daemons = new Set([...this.daemons.values()].map((child) => child.pid));
    // The daemons' own helpers (slurmctld's slurmscriptd) are their children; slurmstepd is re-parented.
    return markedProcesses()
      .filter(({ value, pid, ppid }) => value === this.marker && !daemons.has(pid) && !daemons.has(ppid))
      .map(({ pid }) => pid);
  }

  /** Pids of every process of this cluster still running (empty after `destroy`). */
  leftovers() {
    const marked = markedProcesses().filter(({ value }) => value === this.marker).map(({ pid }) => pid);
    const daemons = [...this.daemons.values()].map((child) => child.pid).filter(alive);
    return [...new Set([...marked, ...daemons])];
  }

  /** The daemons' log tails, for failure messages. */
  logs() {
    return ['munged.out', 'slurmctld.out', 'slurmctld.log', 'slurmd.out', 'slurmd.log'].map((name) => `--- ${name}:\n${tail(join(this.dir, name))}`).join('\n');
  }

  /** The one poll of `until`, failing at once when a daemon has died, and with the daemons' logs (and `more()`). */
  async waitFor(condition, what, ms, more = () => '') {
    const check = async () => {
      const dead = [...this.daemons].find(([, child]) => child.exitCode !== null || child.signalCode !== null);
      if (dead) throw new Error(`${dead[0]} exited (${dead[1].exitCode ?? dead[1].signalCode}) while waiting for ${what}`);
      return condition();
    };
    try {
      await until(check, what, ms);
    } catch (error) {
      throw new Error(`${error.message}\n${more()}\n${this.logs()}`);
    }
  }

  /**
   * Cancels every job and waits for their processes (a job that ignores SIGTERM is SIGKILLed by slurmd after
   * KillWait, and by us after that), stops the daemons, removes the dir. Safe to call again.
   */
  async destroy() {
    const ctld = this.daemons.get('slurmctld');
    if (ctld && ctld.exitCode === null && ctld.signalCode === null) {
      const jobs = (await this.command('squeue', ['-h', '-o', '%i']).catch(() => '')).split('\n').filter(Boolean);
      if (jobs.length > 0) await this.command('scancel', jobs).catch(() => undefined);
      await until(() => this.jobProcesses().length === 0, "the jobs' processes to end", (KILL_WAIT_S + 15) * 1000).catch(() => undefined);
    }
    for (const pid of this.jobProcesses()) kill(pid, 'SIGKILL');
    for (const name of ['slurmd', 'slurmctld', 'munged']) {
      const child = this.daemons.get(name);
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const late = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(late);
    }
    this.destroySync();
  }

  /** Kills by pid whatever of this cluster still runs and removes its dir (also the process 'exit' hook). */
  destroySync() {
    for (const pid of this.leftovers()) kill(pid, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
    process.removeListener('exit', this.onExit);
  }
}
