/**
 * deploy/: the files users copy to run hessweep on VMs, Docker Compose, Kubernetes and Slurm.
 *
 * Static checks (every YAML parses and has the keys its tool needs; the Dockerfiles have the shape the images
 * need), the NATS configs checked by the real server (`nats-server -t`), every worker and coordinator command
 * line in compose, the manifests and the sbatch script parsed by the real CLI, and end to end: the NATS
 * users/permissions of deploy/nats/auth.conf on a real server with the compose, Kubernetes and Slurm workers
 * launched exactly as those tools would launch them, and the 3-node cluster of deploy/nats/cluster running the
 * compose coordinator with --replicas 3.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { cli, exitWithin, hessweep, syntheticSpec, until } from './support.js';

/** The compiled file is packages/cli/dist/test/deploy.test.js. */
const root = fileURLToPath(new URL('../../../../', import.meta.url)).replace(/\/$/, '');
const deploy = join(root, 'deploy');

interface NatsServer {
  url: string;
  monitorUrl: string;
  readLog(): Promise<string>;
  cleanup(): Promise<void>;
}
interface Harness {
  startNatsServer(options?: { config?: string }): Promise<NatsServer>;
  findNatsServer(): Promise<string>;
  freePort(): Promise<number>;
}
const harness = (await import(new URL('../../../queue/dist/test/nats-server.js', import.meta.url).href)) as Harness;

// Passwords the NATS servers of these tests read from their environment (deploy/nats/auth.conf).
const COORDINATOR_PASSWORD = 'test-coordinator-secret';
const WORKER_PASSWORD = 'test-worker-secret';
const serverEnv = { ...process.env, HESSWEEP_COORDINATOR_PASSWORD: COORDINATOR_PASSWORD, HESSWEEP_WORKER_PASSWORD: WORKER_PASSWORD };
// What a user puts in deploy/docker/.env (and the Kubernetes Secret), for interpolating compose and manifests.
const secretByKey: Record<string, string> = { 'coordinator-password': COORDINATOR_PASSWORD, 'worker-password': WORKER_PASSWORD };

type Obj = Record<string, unknown>;
const obj = (v: unknown, what: string): Obj => {
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${what}: expected a mapping, got ${JSON.stringify(v)}`);
  return v as Obj;
};
const list = (v: unknown, what: string): unknown[] => {
  assert.ok(Array.isArray(v), `${what}: expected a list, got ${JSON.stringify(v)}`);
  return v;
};
const str = (v: unknown, what: string): string => {
  assert.equal(typeof v, 'string', `${what}: expected a string, got ${JSON.stringify(v)}`);
  return v as string;
};

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

const readText = (path: string) => readFileSync(join(deploy, path), 'utf8');
/** YAML 1.1 merge keys (`<<: *anchor`) as Docker Compose reads them. */
const readYaml = (path: string) => parse(readText(path), { merge: true }) as unknown;

/** Docker Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}. */
function interpolate(text: string, env: Record<string, string | undefined>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string) => {
    const value = env[name];
    if (op === ':-') return value ? value : arg;
    if (op === '-') return value ?? arg;
    if (op === ':?' || op === '?') {
      if (op === ':?' ? !value : value === undefined) throw new Error(`compose: ${name}: ${arg}`);
      return value!;
    }
    return value ?? '';
  });
}

// ---------------------------------------------------------------------------------------------------------
// Dockerfiles

interface Instruction {
  op: string;
  args: string;
}

/** Instructions of a Dockerfile: comments and parser directives dropped, continuation lines joined. */
function dockerInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && current === '')) continue;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    current += line;
    const [op, ...rest] = current.trim().split(/\s+/);
    out.push({ op: op.toUpperCase(), args: rest.join(' ') });
    current = '';
  }
  return out;
}

/** The instructions of the last stage (from its FROM on). */
function finalStage(instructions: Instruction[]): Instruction[] {
  const from = instructions.map((i) => i.op).lastIndexOf('FROM');
  return instructions.slice(from);
}

/** ENTRYPOINT + CMD of the final stage, both in exec (JSON) form. */
function imageCommand(dockerfile: string): { entrypoint: string[]; cmd: string[]; env: Record<string, string> } {
  const stage = finalStage(dockerInstructions(readText(dockerfile)));
  const json = (op: string) => {
    const i = stage.filter((x) => x.op === op).at(-1);
    assert.ok(i, `${dockerfile}: no ${op} in the final stage`);
    const value = JSON.parse(i.args) as unknown;
    assert.ok(Array.isArray(value) && value.every((v) => typeof v === 'string'), `${dockerfile}: ${op} must be exec form (a JSON list)`);
    return value as string[];
  };
  const env: Record<string, string> = {};
  for (const i of stage.filter((x) => x.op === 'ENV')) {
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
  }
  return { entrypoint: json('ENTRYPOINT'), cmd: json('CMD'), env };
}

/** The image's `node /app/packages/cli/dist/src/main.js` as this checkout's node and main.js. */
function localEntrypoint(entrypoint: string[]): string[] {
  assert.equal(entrypoint.length, 2, `entrypoint ${JSON.stringify(entrypoint)}`);
  assert.equal(entrypoint[0], 'node');
  assert.match(entrypoint[1], /^\/app\/packages\/cli\/dist\/src\/main\.js$/);
  return [join(root, entrypoint[1].slice('/app/'.length))];
}

test('deploy/: every YAML file parses', () => {
  const files = filesUnder(deploy).filter((f) => /\.ya?ml$/.test(f));
  assert.ok(files.length >= 9, `YAML files under deploy/: ${files.map((f) => relative(deploy, f)).join(', ')}`);
  for (const file of files) {
    const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
      assert.deepEqual(doc.errors.map((e) => e.message), [], relative(deploy, file));
      assert.ok(doc.toJS() !== null, `${relative(deploy, file)}: an empty document`);
    }
  }
});

test('Dockerfiles: node:20 CPU image and CUDA 11.2 GPU image, both built with npm ci and running the hessweep CLI', () => {
  for (const name of ['docker/Dockerfile', 'docker/Dockerfile.gpu']) {
    const all = dockerInstructions(readText(name));
    assert.equal(all[0].op, 'FROM', `${name}: the first instruction is FROM`);
    const runs = all.filter((i) => i.op === 'RUN').map((i) => i.args);
    assert.ok(runs.some((r) => /(^|\s)npm ci(\s|$)/.test(r)), `${name}: RUN npm ci`);
    assert.ok(runs.some((r) => /(^|\s)npm run build(\s|$)/.test(r)), `${name}: RUN npm run build`);
    assert.ok(all.some((i) => i.op === 'WORKDIR'), `${name}: WORKDIR`);
    // Every path COPY'd from the build context exists in the repository.
    for (const copy of all.filter((i) => i.op === 'COPY' && !/--from=/.test(i.args))) {
      const sources = copy.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1);
      for (const source of sources) assert.ok(existsSync(join(root, source)), `${name}: COPY ${source}: not in the repository`);
    }
    const stage = finalStage(all);
    assert.ok(stage.some((i) => i.op === 'WORKDIR'), `${name}: WORKDIR in the final stage`);
    const { entrypoint, cmd } = imageCommand(name);
    assert.match([...entrypoint, ...cmd].join(' '), /packages\/cli\/dist\/src\/main\.js/, `${name}: ENTRYPOINT/CMD run the CLI`);
    const user = stage.filter((i) => i.op === 'USER').at(-1);
    assert.ok(user && !/^(root|0)(:|$)/.test(user.args), `${name}: the final stage runs as a non-root USER`);
  }

  const cpu = finalStage(dockerInstructions(readText('docker/Dockerfile')));
  assert.match(cpu[0].args, /^node:20-bookworm-slim(\s|$)/, 'the CPU image is node:20-bookworm-slim');
  assert.ok(cpu.some((i) => i.op === 'VOLUME' && i.args.includes('/results')), 'a volume for results');

  const gpuAll = dockerInstructions(readText('docker/Dockerfile.gpu'));
  const gpu = finalStage(gpuAll);
  assert.match(gpu[0].args, /^nvidia\/cuda:11\.2\.\d+-cudnn8-runtime-ubuntu20\.04(\s|$)/, 'the GPU image is CUDA 11.2 + cuDNN 8 (libtensorflow 2.9.1)');
  assert.ok(
    gpuAll.some((i) => i.op === 'RUN' && /npm install .*@tensorflow\/tfjs-node-gpu@4\.22\.0/.test(i.args)),
    'the GPU image installs @tensorflow/tfjs-node-gpu@4.22.0',
  );
  const gpuImage = imageCommand('docker/Dockerfile.gpu');
  assert.equal(gpuImage.env.TF_FORCE_GPU_ALLOW_GROWTH, 'true');
  assert.deepEqual(gpuImage.cmd.slice(0, 3), ['worker', '--backend', 'tensorflow']);
});

// ---------------------------------------------------------------------------------------------------------
// Compose and Kubernetes

const compose = () => obj(readYaml('docker/docker-compose.yml'), 'docker-compose.yml');
const service = (name: string) => obj(obj(compose().services, 'services')[name], `services.${name}`);
const composeEnv = { HESSWEEP_COORDINATOR_PASSWORD: COORDINATOR_PASSWORD, HESSWEEP_WORKER_PASSWORD: WORKER_PASSWORD };

/** A compose service as Docker would start it: image entrypoint + command, environment; ${...} interpolated. */
function composeProcess(name: string) {
  const s = service(name);
  const build = obj(s.build, `services.${name}.build`);
  const dockerfile = relative(deploy, join(deploy, 'docker', str(build.context, 'build.context'), str(build.dockerfile, 'build.dockerfile')));
  const image = imageCommand(dockerfile);
  const command = list(s.command, `services.${name}.command`).map((a) => interpolate(String(a), composeEnv));
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(s.environment, `services.${name}.environment`))) environment[k] = interpolate(String(v), composeEnv);
  return { argv: [...localEntrypoint(image.entrypoint), ...command], env: { ...image.env, ...environment } };
}

test('docker-compose.yml: three NATS nodes from the cluster configs, a coordinator, a scalable worker', () => {
  const services = obj(compose().services, 'services');
  for (const name of ['nats-1', 'nats-2', 'nats-3', 'coordinator', 'worker']) assert.ok(services[name], `service ${name}`);
  for (const n of [1, 2, 3]) {
    const s = service(`nats-${n}`);
    assert.match(str(s.image, 'image'), /nats:/);
    assert.deepEqual(s.command, ['-c', `/etc/nats/cluster/nats-${n}.conf`]);
    assert.ok(list(s.volumes, 'volumes').includes('../nats:/etc/nats:ro'), 'deploy/nats mounted at /etc/nats');
    const env = obj(s.environment, 'environment');
    for (const v of ['HESSWEEP_COORDINATOR_PASSWORD', 'HESSWEEP_WORKER_PASSWORD']) assert.match(String(env[v]), new RegExp(`^\\$\\{${v}:\\?`), `nats-${n}: ${v} required`);
  }
  const urls = ['nats://nats-1:4222', 'nats://nats-2:4222', 'nats://nats-3:4222'];
  for (const name of ['coordinator', 'worker', 'worker-gpu']) {
    const s = service(name);
    assert.ok(Array.isArray(s.command) && s.command.length > 0, `${name}: command`);
    const env = obj(s.environment, `${name}.environment`);
    assert.deepEqual(str(env.NATS_URL, `${name}: NATS_URL`).split(','), urls, `${name}: NATS_URL lists the three nodes`);
    assert.ok(env.NATS_USER && env.NATS_PASSWORD, `${name}: NATS_USER and NATS_PASSWORD`);
  }
  assert.equal(obj(service('coordinator').environment, 'env').NATS_USER, 'coordinator');
  assert.equal(obj(service('worker').environment, 'env').NATS_USER, 'worker');
  assert.equal(list(service('worker').command, 'command')[0], 'worker');
  // Scalable with `docker compose up --scale worker=N`: no fixed container name, no host port.
  for (const key of ['container_name', 'ports']) assert.equal(service('worker')[key], undefined, `worker: ${key} prevents --scale`);
  const coordinator = service('coordinator');
  const volumes = list(coordinator.volumes, 'coordinator.volumes').map(String);
  assert.ok(volumes.some((v) => v.startsWith('./specs:/specs')), 'specs mounted from ./specs');
  assert.ok(volumes.includes('results:/results'), 'a results volume');
  assert.ok('results' in obj(compose().volumes, 'volumes'), 'the results volume is declared');
  const { argv } = composeProcess('coordinator');
  const spec = argv[argv.indexOf('coordinator') + 1];
  assert.ok(existsSync(join(deploy, 'docker', spec.replace(/^\/specs\//, 'specs/'))), `the coordinator's spec ${spec} is in deploy/docker/specs`);
  assert.equal(argv[argv.indexOf('--out') + 1], '/results');
  assert.equal(argv[argv.indexOf('--replicas') + 1], '3');
  assert.ok(obj(obj(service('worker-gpu').deploy, 'deploy').resources, 'resources'), 'worker-gpu reserves a GPU');
});

interface K8sDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  [key: string]: unknown;
}

function k8sDocs(): Map<string, K8sDoc[]> {
  const docs = new Map<string, K8sDoc[]>();
  for (const file of filesUnder(join(deploy, 'k8s')).filter((f) => /\.ya?ml$/.test(f) && !f.endsWith('nats-values.yaml'))) {
    const parsed = parseAllDocuments(readFileSync(file, 'utf8'));
    docs.set(
      relative(join(deploy, 'k8s'), file),
      (Array.isArray(parsed) ? parsed : [parsed]).map((d) => d.toJS() as K8sDoc).filter((d) => d !== null),
    );
  }
  return docs;
}

const podSpec = (doc: K8sDoc) => obj(obj(obj(doc.spec, 'spec').template, 'spec.template').spec, 'spec.template.spec');
const containers = (doc: K8sDoc) => list(podSpec(doc).containers, `${doc.metadata.name}: containers`).map((c) => obj(c, 'container'));

/** A Kubernetes container as the kubelet starts it: image entrypoint + args; env with Secret references resolved. */
function k8sProcess(file: string) {
  const [doc] = k8sDocs().get(file)!;
  const [container] = containers(doc);
  const dockerfile = /gpu/.test(str(container.image, 'image')) ? 'docker/Dockerfile.gpu' : 'docker/Dockerfile';
  const image = imageCommand(dockerfile);
  assert.equal(container.command, undefined, `${file}: the image's ENTRYPOINT runs (no command override)`);
  const args = list(container.args, `${file}: args`).map(String);
  const env: Record<string, string> = { ...image.env };
  for (const entry of list(container.env ?? [], 'env').map((e) => obj(e, 'env entry'))) {
    const name = str(entry.name, 'env name');
    if (entry.value !== undefined) env[name] = String(entry.value);
    else {
      const ref = obj(obj(entry.valueFrom, `${name}.valueFrom`).secretKeyRef, `${name}.secretKeyRef`);
      assert.equal(ref.name, 'hessweep-nats');
      env[name] = secretByKey[str(ref.key, 'secret key')];
    }
  }
  return { argv: [...localEntrypoint(image.entrypoint), ...args], env, doc, container };
}

test('Kubernetes manifests: apiVersion, kind, name; images and args; Secret, ConfigMap and PVC references resolve', () => {
  const docs = k8sDocs();
  for (const file of ['worker-deployment.yaml', 'worker-gpu-deployment.yaml', 'coordinator-job.yaml', 'results-pvc.yaml', 'secret.example.yaml', 'spec-configmap.yaml']) {
    assert.ok(docs.has(file), `deploy/k8s/${file}`);
  }
  const byKind = new Map<string, K8sDoc>();
  for (const [file, list_] of docs) {
    for (const doc of list_) {
      assert.ok(doc.apiVersion && doc.kind && doc.metadata?.name, `${file}: apiVersion, kind and metadata.name`);
      byKind.set(`${doc.kind}/${doc.metadata.name}`, doc);
      if (doc.kind === 'Deployment' || doc.kind === 'Job') {
        for (const c of containers(doc)) {
          assert.ok(typeof c.image === 'string' && c.image.length > 0, `${file}: container image`);
          assert.ok(Array.isArray(c.args) && c.args.length > 0, `${file}: container args`);
        }
      }
    }
  }
  const secret = byKind.get('Secret/hessweep-nats');
  assert.ok(secret, 'Secret hessweep-nats');
  for (const key of Object.keys(secretByKey)) assert.ok(key in obj(secret.stringData, 'stringData'), `Secret key ${key}`);

  const cpu = k8sProcess('worker-deployment.yaml');
  assert.equal(cpu.doc.kind, 'Deployment');
  assert.equal(cpu.argv[1], 'worker');
  assert.equal(cpu.env.NATS_USER, 'worker');
  const gpu = k8sProcess('worker-gpu-deployment.yaml');
  assert.equal(gpu.doc.kind, 'Deployment');
  const limits = obj(obj(gpu.container.resources, 'resources').limits, 'limits');
  assert.equal(Number(limits['nvidia.com/gpu']), 1, 'the GPU worker requests nvidia.com/gpu: 1');
  assert.match(str(gpu.container.image, 'image'), /gpu/);
  assert.deepEqual(gpu.argv.slice(1, 4), ['worker', '--backend', 'tensorflow']);
  // The worker password only: workers never see the coordinator's.
  for (const w of [cpu, gpu]) assert.equal(w.env.NATS_PASSWORD, WORKER_PASSWORD);

  const job = k8sProcess('coordinator-job.yaml');
  assert.equal(job.doc.kind, 'Job');
  assert.equal(job.env.NATS_USER, 'coordinator');
  const pod = podSpec(job.doc);
  const volumes = list(pod.volumes, 'volumes').map((v) => obj(v, 'volume'));
  const mounts = list(job.container.volumeMounts, 'volumeMounts').map((m) => obj(m, 'mount'));
  const mountOf = (volume: Obj) => mounts.find((m) => m.name === volume.name)!;
  const specVolume = volumes.find((v) => v.configMap)!;
  const configMap = byKind.get(`ConfigMap/${str(obj(specVolume.configMap, 'configMap').name, 'configMap.name')}`);
  assert.ok(configMap, 'the Job mounts the spec ConfigMap of spec-configmap.yaml');
  const specArg = job.argv[job.argv.indexOf('coordinator') + 1];
  const specKey = relative(str(mountOf(specVolume).mountPath, 'mountPath'), specArg);
  assert.ok(specKey in obj(configMap.data, 'data'), `the spec ${specArg} is a key of the ConfigMap`);
  const resultsVolume = volumes.find((v) => v.persistentVolumeClaim)!;
  assert.ok(byKind.get(`PersistentVolumeClaim/${str(obj(resultsVolume.persistentVolumeClaim, 'pvc').claimName, 'claimName')}`), 'the results PVC of results-pvc.yaml');
  assert.equal(job.argv[job.argv.indexOf('--out') + 1], mountOf(resultsVolume).mountPath, '--out is the results volume');
});

test('Helm values for the NATS chart: 3 replicas, JetStream on file storage PVCs, hessweep auth', () => {
  const values = obj(readYaml('k8s/nats-values.yaml'), 'nats-values.yaml');
  const config = obj(values.config, 'config');
  const cluster = obj(config.cluster, 'config.cluster');
  assert.equal(cluster.enabled, true);
  assert.equal(cluster.replicas, 3);
  const jetstream = obj(config.jetstream, 'config.jetstream');
  assert.equal(jetstream.enabled, true);
  const fileStore = obj(jetstream.fileStore, 'config.jetstream.fileStore');
  assert.equal(fileStore.enabled, true);
  assert.equal(obj(fileStore.pvc, 'fileStore.pvc').enabled, true);
  assert.ok(Object.entries(obj(config.merge, 'config.merge')).some(([k, v]) => k.endsWith('$include') && v === 'hessweep-auth.conf'), 'auth.conf included');
  const env = obj(obj(values.container, 'container').env, 'container.env');
  for (const [name, key] of [['HESSWEEP_COORDINATOR_PASSWORD', 'coordinator-password'], ['HESSWEEP_WORKER_PASSWORD', 'worker-password']]) {
    const ref = obj(obj(obj(env[name], name).valueFrom, 'valueFrom').secretKeyRef, 'secretKeyRef');
    assert.deepEqual([ref.name, ref.key], ['hessweep-nats', key]);
  }
});

// ---------------------------------------------------------------------------------------------------------
// NATS configs, checked by the real server

const natsServer = await harness.findNatsServer();

test('nats-server -t accepts the single-server config and each cluster node, and needs the passwords', () => {
  const configs = ['nats/nats-server.conf', 'nats/cluster/nats-1.conf', 'nats/cluster/nats-2.conf', 'nats/cluster/nats-3.conf'];
  for (const config of configs) {
    const ok = spawnSync(natsServer, ['-c', join(deploy, config), '-t'], { env: serverEnv, encoding: 'utf8' });
    assert.equal(ok.status, 0, `${config}: ${ok.stdout}${ok.stderr}`);
    assert.match(ok.stdout + ok.stderr, /is valid/);
    // No password is written in the files: without the environment the server refuses to start.
    const { HESSWEEP_COORDINATOR_PASSWORD: _c, HESSWEEP_WORKER_PASSWORD: _w, ...bare } = serverEnv;
    const refused = spawnSync(natsServer, ['-c', join(deploy, config), '-t'], { env: bare, encoding: 'utf8' });
    assert.notEqual(refused.status, 0, `${config} starts without the password variables`);
    assert.match(refused.stderr, /HESSWEEP_COORDINATOR_PASSWORD/);
  }
  const nodes = [1, 2, 3].map((n) => readText(`nats/cluster/nats-${n}.conf`));
  const one = (text: string, re: RegExp, what: string) => {
    const m = re.exec(text);
    assert.ok(m, what);
    return m[1];
  };
  assert.deepEqual(nodes.map((t) => one(t, /^server_name:\s*(\S+)/m, 'server_name')), ['nats-1', 'nats-2', 'nats-3']);
  assert.equal(new Set(nodes.map((t) => one(t, /store_dir:\s*"([^"]+)"/, 'store_dir'))).size, 3, 'a store_dir per node');
  assert.equal(new Set(nodes.map((t) => one(t, /cluster\s*\{[^}]*?name:\s*(\S+)/, 'cluster name'))).size, 1, 'one cluster name');
  nodes.forEach((text, i) => {
    const routes = [...text.matchAll(/nats-route:\/\/nats-(\d):6222/g)].map((m) => Number(m[1])).sort();
    assert.deepEqual(routes, [1, 2, 3].filter((n) => n !== i + 1), `nats-${i + 1} routes to the other two`);
    assert.match(text, /^include \.\.\/auth\.conf$/m);
  });
  assert.match(readText('nats/nats-server.conf'), /^include \.\/auth\.conf$/m);
  const header = readText('nats/nats-server.conf');
  assert.match(header, /2\.9/);
  assert.match(header, /CVE-2023-47090/);
});

// ---------------------------------------------------------------------------------------------------------
// Command lines, checked by the real CLI

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number>;
}

function launch(argv: string[], env: Record<string, string>, options: { cwd?: string; detached?: boolean } = {}): Proc {
  // Only what a container or batch job would have: no NATS_* or other settings leak in from this process.
  const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir() };
  const child = spawn(argv[0].endsWith('.js') ? process.execPath : argv[0], argv[0].endsWith('.js') ? argv : argv.slice(1), {
    cwd: options.cwd ?? tmpdir(),
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached,
  });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (signal === 'SIGKILL' ? 9 : 15) : -1))));
  return { child, output: () => text, exited };
}

/** Waits until the worker `w` says it is serving (connected, its SIGTERM handler installed); fails if it exits first. */
async function serving(w: Proc, what: string): Promise<void> {
  await until(() => /slot\(s\), serving /.test(w.output()) || w.child.exitCode !== null || w.child.signalCode !== null, `the ${what} worker to start serving`);
  assert.match(w.output(), /worker \S+: \d+ slot\(s\), serving /, `${what}: ${w.output()}`);
}

/** A fake `srun`: drops its own options, then prints the command (HESSWEEP_TEST_SRUN=print) or execs it. */
async function fakeSrun(dir: string): Promise<string> {
  const bin = join(dir, 'bin');
  await mkdir(bin, { recursive: true });
  const script = `#!/bin/bash
srun_opts=()
while [ $# -gt 0 ] && [ "\${1#-}" != "$1" ]; do srun_opts+=("$1"); shift; done
if [ "\${HESSWEEP_TEST_SRUN:-exec}" = print ]; then
  { printf '%s\\0' "\${srun_opts[@]}"; printf -- '--\\0'; printf '%s\\0' "$@"; } > "$HESSWEEP_TEST_SRUN_OUT"
  exit 0
fi
exec "$@"
`;
  await writeFile(join(bin, 'srun'), script);
  chmodSync(join(bin, 'srun'), 0o755);
  return bin;
}

const sbatch = join(deploy, 'slurm', 'hessweep-workers.sbatch');

/** The batch script run as Slurm would run it on a node (srun faked), in the given environment. */
async function sbatchProcess(dir: string, env: Record<string, string>): Promise<{ srun: string[]; argv: string[]; env: Record<string, string> }> {
  const bin = await fakeSrun(dir);
  const out = join(dir, `srun-${Math.random().toString(36).slice(2)}`);
  const full = { HOME: dir, HESSWEEP_ENV_FILE: join(dir, 'no-env-file'), SLURM_JOB_ID: '4242', SLURM_JOB_NODELIST: 'node001', HESSWEEP_HOME: root, ...env, PATH: `${bin}:${process.env.PATH}` };
  const run = spawnSync('bash', [sbatch], { env: { ...full, HESSWEEP_TEST_SRUN: 'print', HESSWEEP_TEST_SRUN_OUT: out }, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const words = readFileSync(out, 'utf8').split('\0').slice(0, -1);
  const sep = words.indexOf('--');
  const argv = words.slice(sep + 1);
  assert.equal(argv[0], 'node', `sbatch runs ${argv.join(' ')}`);
  return { srun: words.slice(0, sep), argv: argv.slice(1), env: full };
}

/** Every worker and coordinator command line that deploy/ ships, as [what, argv, env, cwd]. */
async function commandLines(dir: string, specDir: string): Promise<{ what: string; argv: string[]; env: Record<string, string> }[]> {
  const lines: { what: string; argv: string[]; env: Record<string, string> }[] = [];
  for (const name of ['worker', 'worker-gpu', 'coordinator']) lines.push({ what: `compose ${name}`, ...composeProcess(name) });
  for (const file of ['worker-deployment.yaml', 'worker-gpu-deployment.yaml', 'coordinator-job.yaml']) {
    const p = k8sProcess(file);
    lines.push({ what: `k8s ${file}`, argv: p.argv, env: p.env });
  }
  const cpu = await sbatchProcess(dir, { SLURM_CPUS_PER_TASK: '2', SLURM_NTASKS_PER_NODE: '1', SLURM_MEM_PER_CPU: '2048', NATS_URL: 'nats://login01:4222' });
  lines.push({ what: 'sbatch (CPU)', argv: cpu.argv, env: { NATS_URL: 'nats://login01:4222' } });
  const gpu = await sbatchProcess(dir, {
    SLURM_CPUS_PER_TASK: '4',
    SLURM_NTASKS_PER_NODE: '4',
    SLURM_GPUS_PER_TASK: '1',
    HESSWEEP_BACKEND: 'tensorflow',
    HESSWEEP_CONCURRENCY: '1',
    NATS_URL: 'nats://login01:4222',
  });
  lines.push({ what: 'sbatch (GPU)', argv: gpu.argv, env: { NATS_URL: 'nats://login01:4222' } });
  // Paths inside the containers, here: the spec the coordinator reads, the results directory it writes.
  return lines.map((l) => ({
    ...l,
    argv: l.argv.map((a) => (a.startsWith('/specs/') ? join(specDir, l.what.startsWith('k8s') ? 'k8s' : 'compose', a.slice('/specs/'.length)) : a === '/results' ? join(dir, 'results') : a)),
  }));
}

test('the sbatch script: one task per node with the job CPUs, or one per GPU; the worker args', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hessweep-deploy-'));
  try {
    const cpu = await sbatchProcess(dir, { SLURM_CPUS_PER_TASK: '8', NATS_URL: 'nats://login01:4222' });
    assert.deepEqual(cpu.srun, ['--ntasks-per-node=1', '--cpus-per-task=8', '--kill-on-bad-exit=0']);
    assert.deepEqual(cpu.argv, [join(root, 'packages/cli/dist/src/main.js'), 'worker', '--concurrency', '8', '--backend', 'auto']);
    const gpu = await sbatchProcess(dir, {
      SLURM_CPUS_PER_TASK: '4',
      SLURM_NTASKS_PER_NODE: '4',
      SLURM_GPUS_PER_TASK: '1',
      HESSWEEP_BACKEND: 'tensorflow',
      HESSWEEP_CONCURRENCY: '1',
      HESSWEEP_SWEEP: 'paper-mnist',
      NATS_URL: 'nats://login01:4222',
    });
    assert.deepEqual(gpu.srun, ['--ntasks-per-node=4', '--cpus-per-task=4', '--kill-on-bad-exit=0', '--gpus-per-task=1']);
    assert.deepEqual(gpu.argv.slice(1), ['worker', '--concurrency', '1', '--backend', 'tensorflow', '--sweep', 'paper-mnist']);
    // The job's memory (Slurm's MiB) goes to the worker as --memory: per CPU × CPUs, else per node ÷ tasks.
    const perCpu = await sbatchProcess(dir, { SLURM_CPUS_PER_TASK: '8', SLURM_MEM_PER_CPU: '2048', SLURM_MEM_PER_NODE: '999999', NATS_URL: 'nats://login01:4222' });
    assert.deepEqual(perCpu.argv.slice(1), ['worker', '--concurrency', '8', '--backend', 'auto', '--memory', '16384M']);
    const perNode = await sbatchProcess(dir, { SLURM_CPUS_PER_TASK: '4', SLURM_NTASKS_PER_NODE: '4', SLURM_MEM_PER_NODE: '65536', NATS_URL: 'nats://login01:4222' });
    assert.deepEqual(perNode.argv.slice(1), ['worker', '--concurrency', '4', '--backend', 'auto', '--memory', '16384M']);
    // --mem=0 (the whole node): the worker reads its cgroup limit itself.
    const wholeNode = await sbatchProcess(dir, { SLURM_CPUS_PER_TASK: '4', SLURM_MEM_PER_NODE: '0', NATS_URL: 'nats://login01:4222' });
    assert.ok(!wholeNode.argv.includes('--memory'), wholeNode.argv.join(' '));
    const text = readFileSync(sbatch, 'utf8');
    for (const directive of ['--requeue', '--ntasks-per-node=1']) assert.match(text, new RegExp(`^#SBATCH ${directive}$`, 'm'));
    assert.match(text, /^##SBATCH --gpus-per-task=1$/m, 'the per-GPU variant, commented');
    // Without NATS_URL the script stops before srun, saying what is missing.
    const bare = spawnSync('bash', [sbatch], { env: { PATH: process.env.PATH, HOME: dir, HESSWEEP_ENV_FILE: join(dir, 'none') }, encoding: 'utf8' });
    assert.notEqual(bare.status, 0);
    assert.match(bare.stderr, /NATS_URL/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Mebibytes of a Kubernetes quantity (Mi, Gi) or a Slurm size (M, G). */
function mebibytes(quantity: string, what: string): number {
  const match = /^(\d+)(Mi|Gi|M|G)$/.exec(quantity);
  assert.ok(match, `${what}: ${quantity} is not a size in Mi, Gi, M or G`);
  return Number(match[1]) * (match[2].startsWith('G') ? 1024 : 1);
}

/** `hessweep plan SPEC --memory-per-slot --slots N`, in MiB. */
async function memoryPerSlot(spec: string, slots: number, cwd: string): Promise<number> {
  const r = await hessweep(['plan', spec, '--memory-per-slot', '--slots', String(slots)], cwd);
  assert.equal(r.code, 0, r.stderr);
  return mebibytes(r.stdout.trim(), `plan ${spec}`);
}

test('the Slurm job and the Kubernetes worker ask for the memory `hessweep plan` gives their sweeps per slot', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hessweep-deploy-'));
  try {
    const examples = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => join(root, 'examples', f));
    assert.ok(examples.length >= 3, examples.join(', '));

    // Slurm: --mem-per-cpu covers every example at the script's CPUs per task; the header shows how to compute it.
    const text = readFileSync(sbatch, 'utf8');
    const cpus = Number(/^#SBATCH --cpus-per-task=(\d+)$/m.exec(text)?.[1]);
    const perCpu = mebibytes(/^#SBATCH --mem-per-cpu=(\S+)$/m.exec(text)?.[1] ?? '', '#SBATCH --mem-per-cpu');
    for (const spec of examples) assert.ok(perCpu >= (await memoryPerSlot(spec, cpus, dir)), `--mem-per-cpu=${perCpu}M for ${spec}`);
    assert.match(text, /--mem-per-cpu="\$\(node \S+main\.js plan SPEC \\\n#\s+--memory-per-slot --slots 16\)"/, 'the submit line computes --mem-per-cpu');

    // Kubernetes: as much memory requested as the limit, slots × the largest cell of the shipped spec and of the examples.
    const worker = k8sProcess('worker-deployment.yaml');
    const slots = Number(worker.argv[worker.argv.indexOf('--concurrency') + 1]);
    const resources = obj(worker.container.resources, 'resources');
    const requests = obj(resources.requests, 'requests');
    const limits = obj(resources.limits, 'limits');
    assert.equal(Number(requests.cpu), slots, 'a CPU per slot');
    assert.equal(requests.memory, limits.memory, 'memory requested = limit');
    const podMemory = mebibytes(str(limits.memory, 'limits.memory'), 'limits.memory');
    await writeFile(join(dir, 'shipped.yaml'), String(obj(k8sDocs().get('spec-configmap.yaml')![0].data, 'data')['sweep.yaml']));
    for (const spec of [join(dir, 'shipped.yaml'), ...examples]) {
      assert.ok(podMemory >= slots * (await memoryPerSlot(spec, slots, dir)), `${podMemory}Mi for ${slots} slots of ${spec}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('every worker and coordinator command line in deploy/ is a valid hessweep invocation', { timeout: 180_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hessweep-deploy-'));
  try {
    const specs = join(dir, 'specs');
    await mkdir(join(specs, 'k8s'), { recursive: true });
    for (const [key, text] of Object.entries(obj(k8sDocs().get('spec-configmap.yaml')![0].data, 'data'))) await writeFile(join(specs, 'k8s', key), String(text));
    await mkdir(join(specs, 'compose'), { recursive: true });
    for (const name of readdirSync(join(deploy, 'docker', 'specs'))) await writeFile(join(specs, 'compose', name), readText(join('docker', 'specs', name)));
    const lines = await commandLines(dir, specs);
    assert.equal(lines.length, 8);
    // A port nothing listens on: the arguments and the spec are accepted, then the connection is refused (exit
    // 2, "cannot connect"); a bad flag, value or spec would be exit 2 with another message, before connecting.
    const closed = `nats://127.0.0.1:${await harness.freePort()}`;
    await Promise.all(
      lines.map(async ({ what, argv, env }) => {
        assert.ok(['worker', 'coordinator'].includes(argv[1]), `${what}: ${argv.slice(1).join(' ')}`);
        const help = launch([...argv, '--help'], env);
        assert.equal(await exitWithin(help, 60_000, `${what} --help`), 0, `${what} --help: ${help.output()}`);
        const parsed = launch(argv, { ...env, NATS_URL: closed });
        assert.equal(await exitWithin(parsed, 60_000, `${what} against a closed port`), 2, `${what}: ${parsed.output()}`);
        assert.match(parsed.output(), /cannot connect to NATS at nats:\/\/127\.0\.0\.1/, `${what}: ${parsed.output()}`);
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------------------
// End to end

test('auth.conf on a real server: compose, Kubernetes and Slurm workers launched as those tools would serve a sweep and drain on SIGTERM', { timeout: 180_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hessweep-deploy-'));
  // The users and permissions exactly as shipped (the harness adds listen, monitoring and JetStream).
  const previous = { c: process.env.HESSWEEP_COORDINATOR_PASSWORD, w: process.env.HESSWEEP_WORKER_PASSWORD };
  process.env.HESSWEEP_COORDINATOR_PASSWORD = COORDINATOR_PASSWORD;
  process.env.HESSWEEP_WORKER_PASSWORD = WORKER_PASSWORD;
  let server: NatsServer;
  try {
    server = await harness.startNatsServer({ config: readText('nats/auth.conf') });
  } finally {
    for (const [k, v] of [['HESSWEEP_COORDINATOR_PASSWORD', previous.c], ['HESSWEEP_WORKER_PASSWORD', previous.w]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const procs: Proc[] = [];
  try {
    await writeFile(join(dir, 's.yaml'), syntheticSpec('deployed', [3, 4, 5], [0, 1], { epochs: 1, sampleSize: 200 }));
    const coordinator = launch([cli, 'coordinator', 's.yaml', '--out', 'out', '--ack-wait', '10'], {
      NATS_URL: server.url,
      NATS_USER: 'coordinator',
      NATS_PASSWORD: COORDINATOR_PASSWORD,
    }, { cwd: dir });
    procs.push(coordinator);
    // The worker user may use the streams and buckets, not create them: wait for the coordinator to have.
    await until(async () => {
      const jsz = await fetch(`${server.monitorUrl}/jsz?accounts=true&streams=true`).then((r) => r.text()).catch(() => '');
      return jsz.includes('KV_hessweep_workers') && jsz.includes('HESSWEEP_CELLS');
    }, 'the coordinator to create the streams and buckets');

    const compose = composeProcess('worker');
    assert.equal(compose.env.NATS_URL.split(',').length, 3);
    const k8s = k8sProcess('worker-deployment.yaml');
    const envFile = join(dir, 'nats.env');
    await writeFile(envFile, `NATS_URL=${server.url}\nNATS_USER=worker\nNATS_PASSWORD=${WORKER_PASSWORD}\n`, { mode: 0o600 });
    const bin = await fakeSrun(dir);
    const workers = {
      compose: launch(compose.argv, { ...compose.env, NATS_URL: server.url }),
      k8s: launch(k8s.argv, { ...k8s.env, NATS_URL: server.url }),
      // The batch script itself; srun execs the worker, so this process is the worker (its own group, as a job).
      slurm: launch(['bash', sbatch], { PATH: `${bin}:${process.env.PATH}`, HESSWEEP_HOME: root, HESSWEEP_ENV_FILE: envFile, SLURM_CPUS_PER_TASK: '2', SLURM_JOB_ID: '4242' }, { detached: true }),
    };
    procs.push(...Object.values(workers));
    for (const [what, w] of Object.entries(workers)) {
      await serving(w, what);
      assert.match(w.output(), /worker \S+: 2 slot\(s\), serving every running sweep/, `${what}: ${w.output()}`);
    }
    assert.equal(await exitWithin(coordinator, 120_000, 'the coordinator'), 0, coordinator.output());
    assert.match(coordinator.output(), /6 ok, 0 failed/);
    const done = Object.values(workers).map((w) => (w.output().match(/done {2}deployed\//g) ?? []).length);
    // At least once each (a delivery that outlived its lease under load may be computed twice; one row is kept).
    assert.ok(done.reduce((a, b) => a + b, 0) >= 6, `cells done per worker: ${done.join(', ')}`);
    // SIGTERM (docker stop, pod termination, Slurm preemption: to the whole job) drains: exit 0.
    workers.compose.child.kill('SIGTERM');
    workers.k8s.child.kill('SIGTERM');
    process.kill(-workers.slurm.child.pid!, 'SIGTERM');
    for (const [what, w] of Object.entries(workers)) {
      assert.equal(await exitWithin(w, 60_000, `the ${what} worker after SIGTERM`), 0, `${what}: ${w.output()}`);
      assert.match(w.output(), /SIGTERM: finishing running cells/, what);
    }
    // Nothing the coordinator or a worker did was refused (a refused ack or heartbeat does not fail a sweep,
    // it only shows up here and as redeliveries).
    const violations = (await server.readLog()).split('\n').filter((l) => /Violation/i.test(l));
    assert.deepEqual(violations, [], 'permission violations in the server log');
  } finally {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await server.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the 3-node cluster of deploy/nats/cluster runs the compose coordinator with --replicas 3', { timeout: 180_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hessweep-deploy-'));
  const procs: Proc[] = [];
  try {
    // The shipped configs with loopback addresses, free ports and temp stores (compose gives each node its own host).
    await mkdir(join(dir, 'cluster'));
    await writeFile(join(dir, 'auth.conf'), readText('nats/auth.conf'));
    const ports = await Promise.all([1, 2, 3].map(async () => ({ client: await harness.freePort(), http: await harness.freePort(), route: await harness.freePort() })));
    const replace = (text: string, re: RegExp, by: string | ((...m: string[]) => string), what: string) => {
      assert.match(text, re, what);
      return text.replace(re, by as string);
    };
    const nodes = [1, 2, 3].map((n) => {
      let text = readText(`nats/cluster/nats-${n}.conf`);
      const p = ports[n - 1];
      text = replace(text, /^listen: 0\.0\.0\.0:4222$/m, `listen: 127.0.0.1:${p.client}`, 'client listen');
      text = replace(text, /^http: 0\.0\.0\.0:8222$/m, `http: 127.0.0.1:${p.http}`, 'monitoring');
      text = replace(text, /^( {2}listen: )0\.0\.0\.0:6222$/m, `$1127.0.0.1:${p.route}`, 'route listen');
      text = replace(text, /nats-route:\/\/nats-(\d):6222/g, (_m, k) => `nats-route://127.0.0.1:${ports[Number(k) - 1].route}`, 'routes');
      text = replace(text, /store_dir: "\/data\/(nats-\d)"/, (_m, node) => `store_dir: "${join(dir, node)}"`, 'store_dir');
      return { file: join(dir, 'cluster', `nats-${n}.conf`), text, ...p };
    });
    for (const node of nodes) await writeFile(node.file, node.text);
    for (const node of nodes) procs.push(launch([natsServer, '-c', node.file], { HESSWEEP_COORDINATOR_PASSWORD: COORDINATOR_PASSWORD, HESSWEEP_WORKER_PASSWORD: WORKER_PASSWORD }));
    // /healthz is ok once a node's JetStream has a meta leader: the cluster has formed.
    for (const [i, node] of nodes.entries()) {
      await until(async () => {
        if (procs[i].child.exitCode !== null) throw new Error(`nats-${i + 1} exited: ${procs[i].output()}`);
        const res = await fetch(`http://127.0.0.1:${node.http}/healthz`).catch(() => null);
        return res !== null && res.ok && /"ok"/.test(await res.text());
      }, `nats-${i + 1} healthy`, 60_000);
    }
    const urls = nodes.map((n) => `nats://127.0.0.1:${n.client}`).join(',');

    // The compose coordinator exactly (its spec from deploy/docker/specs, --replicas 3), and two compose workers
    // with --dry-run added (the plumbing, not 24 real cells).
    const coordinatorLine = composeProcess('coordinator');
    const argv = coordinatorLine.argv.map((a) => (a.startsWith('/specs/') ? join(deploy, 'docker', 'specs', a.slice('/specs/'.length)) : a === '/results' ? join(dir, 'results') : a));
    assert.ok(argv.includes('--replicas') && argv[argv.indexOf('--replicas') + 1] === '3');
    const coordinator = launch(argv, { ...coordinatorLine.env, NATS_URL: urls });
    procs.push(coordinator);
    await until(async () => {
      const jsz = await fetch(`http://127.0.0.1:${nodes[0].http}/jsz?accounts=true&streams=true`).then((r) => r.text()).catch(() => '');
      return jsz.includes('KV_hessweep_workers') || coordinator.child.exitCode !== null;
    }, 'the coordinator to create the streams');
    const workerLine = composeProcess('worker');
    const workers = [1, 2].map(() => launch([...workerLine.argv, '--dry-run'], { ...workerLine.env, NATS_URL: urls }));
    procs.push(...workers);
    // Each is stopped below once serving: this test is about a serving worker draining on SIGTERM.
    for (const [i, w] of workers.entries()) await serving(w, `compose (dry-run) ${i + 1}`);
    assert.equal(await exitWithin(coordinator, 120_000, 'the coordinator'), 0, coordinator.output());
    assert.match(coordinator.output(), /24 ok, 0 failed/);
    // Every stream and bucket has three replicas, one per node.
    const jsz = await fetch(`http://127.0.0.1:${nodes[0].http}/jsz?accounts=true&streams=true&config=true`).then((r) => r.json()) as {
      account_details?: { stream_detail?: { name: string; config?: { num_replicas?: number } }[] }[];
    };
    const streams = (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []);
    for (const name of ['HESSWEEP_CELLS', 'HESSWEEP_RESULTS', 'KV_hessweep_sweeps', 'KV_hessweep_workers']) {
      const stream = streams.find((s) => s.name === name);
      assert.ok(stream, `stream ${name} on nats-1`);
      assert.equal(stream.config?.num_replicas, 3, `${name} replicas`);
    }
    for (const w of workers) w.child.kill('SIGTERM');
    for (const [i, w] of workers.entries()) assert.equal(await exitWithin(w, 60_000, `compose (dry-run) worker ${i + 1} after SIGTERM`), 0, w.output());
    const violations = procs.slice(0, 3).flatMap((p) => p.output().split('\n')).filter((l) => /Violation/i.test(l));
    assert.deepEqual(violations, [], 'permission violations in the servers\' logs');
  } finally {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await rm(dir, { recursive: true, force: true });
  }
});
