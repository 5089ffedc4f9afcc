/** What the tests share: orthogonal matrices and small networks on random data, and a temp directory of files. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { initParams, mlpArchitecture, type Architecture, type Params } from '../src/model.js';
import { Rng } from '../src/random.js';

/** Rows of a random n × n orthogonal matrix: Gram–Schmidt (twice) of standard normal vectors. */
export function randomOrthogonal(n: number, rng: Rng): Float64Array[] {
  const q: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const v = Float64Array.from({ length: n }, () => rng.normal());
    for (let pass = 0; pass < 2; pass++) {
      for (const u of q) {
        let c = 0;
        for (let j = 0; j < n; j++) c += u[j] * v[j];
        for (let j = 0; j < n; j++) v[j] -= c * u[j];
      }
    }
    const norm = Math.hypot(...v);
    q.push(v.map((x) => x / norm));
  }
  return q;
}

export interface RandomNetwork {
  arch: Architecture;
  params: Params;
  /** m × 6 inputs in [-1, 1], float32-representable. */
  x: Float32Array;
  y: Int32Array;
  m: number;
}

/** A net [6, width (depth + 1 times), 3] on m random samples, weights scaled ×2.5 so the Hessian is far from the GGN. */
export function randomNetwork(seed: number, depth: number, bias: boolean, m = 24, width = 5): RandomNetwork {
  const rng = new Rng(seed);
  const arch = mlpArchitecture(6, width, depth, 3, bias);
  const params = initParams(arch, 'uniform', rng);
  for (const w of params.weights) for (let i = 0; i < w.length; i++) w[i] *= 2.5;
  const x = Float32Array.from({ length: m * 6 }, () => 2 * rng.uniform() - 1);
  const y = Int32Array.from({ length: m }, () => rng.int(3));
  return { arch, params, x, y, m };
}

/**
 * A temp directory for the calling test file (made before its tests, removed after them) and `put`, which
 * writes a file under it (creating subdirectories) and returns its path.
 */
export function tempFiles(prefix: string): { readonly dir: string; put(name: string, contents: Uint8Array | string): Promise<string> } {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    async put(name, contents) {
      const path = join(dir, name);
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, contents);
      return path;
    },
  };
}
