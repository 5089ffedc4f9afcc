import { readFileSync } from 'node:fs';

/** A product was asked of matrices whose shapes do not fit, or the module could not be loaded. */
export class KernelError extends Error {
  override name = 'KernelError';
}

// The slice of the WebAssembly JS API used here, declared locally: lib ES2022 and @types/node 20 lack it
// (lib.dom has it), and an ambient declaration would not travel with dist's .d.ts to packages importing this.
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const { WebAssembly: wasm } = globalThis as unknown as { WebAssembly: WasmApi };

/** The module's exports (assembly/index.ts). */
export interface KernelExports {
  memory: WasmMemory;
  heapBase(): number;
  matMulStrided(a: number, aRow: number, aCol: number, b: number, c: number, m: number, inner: number, n: number): void;
  matMulStridedAdd(a: number, aRow: number, aCol: number, b: number, c: number, m: number, inner: number, n: number): void;
  matMulTransposedB(a: number, b: number, c: number, m: number, inner: number, n: number): void;
  curvatureProducts(plan: number, count: number, secondOrder: number): void;
  backwardDeltas(plan: number): void;
  gradientAt(plan: number, out: number): void;
  forwardLogits(plan: number, params: number, logits: number, keep: boolean): void;
  traceTerms(plan: number, scratch: number, out: number, bias: boolean): void;
  projectedTerms(plan: number, count: number, adjoints: number, tangents: number, second: number): void;
  trainStep(plan: number, size: number, lr: number, beta1: number, beta2: number, eps: number, c1: number, c2: number): number;
}

// Built next to dist/src by `npm run build:wasm`.
const WASM_PATH = new URL('../kernels.wasm', import.meta.url);
const PAGE_BYTES = 65536;
// 16-byte alignment keeps every row start of a 4-multiple width on a v128 boundary.
const ALIGN_BYTES = 16;

// Compiled once per process: every instance after the first costs only its memory.
let compiled: object | null = null;

/** Instantiates the SIMD module from the package's dist folder; each call gives an independent memory. */
export function instantiateKernels(): KernelExports {
  if (compiled === null) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(WASM_PATH);
    } catch (error) {
      throw new KernelError(`cannot read ${WASM_PATH.pathname} (run npm run build): ${(error as Error).message}`);
    }
    compiled = new wasm.Module(bytes);
  }
  return new wasm.Instance(compiled, {}).exports as unknown as KernelExports;
}

/** A bump allocator over the module's memory from its heap base up, growing the memory as it goes. */
export class Arena {
  private top: number;

  constructor(private readonly exports: KernelExports) {
    this.top = this.base;
  }

  private get base(): number {
    return alignUp(this.exports.heapBase());
  }

  /** Byte offset of `bytes` fresh bytes, 16-byte aligned. */
  allocate(bytes: number): number {
    const pointer = this.top;
    this.top = alignUp(pointer + bytes);
    const shortfall = this.top - this.exports.memory.buffer.byteLength;
    if (shortfall > 0) this.exports.memory.grow(Math.ceil(shortfall / PAGE_BYTES));
    return pointer;
  }

  /** The arena's current top, to `release` back to. */
  mark(): number {
    return this.top;
  }

  /** Frees everything allocated after `mark` (everything by default); those pointers must not be used afterwards. */
  release(mark = this.base): void {
    this.top = mark;
  }
}

function alignUp(bytes: number): number {
  return Math.ceil(bytes / ALIGN_BYTES) * ALIGN_BYTES;
}
