// Deterministic uniform values in [-1, 1) (mulberry32), so a failure reproduces.
export function randomMatrix(length: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** Deterministic integers in [0, bound). */
export function randomIntegers(length: number, bound: number, seed: number): Int32Array {
  return Int32Array.from(randomMatrix(length, seed), (u) => Math.min(bound - 1, Math.floor(((u + 1) / 2) * bound)));
}
