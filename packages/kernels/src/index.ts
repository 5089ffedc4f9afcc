import { readFile } from 'node:fs/promises';

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
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: object } }>;
}
const { WebAssembly: wasm } = globalThis as unknown as { WebAssembly: WasmApi };

interface KernelExports {
  memory: WasmMemory;
  heapBase(): number;
  matMulStrided(a: number, aRow: number, aCol: number, b: number, c: number, m: number, inner: number, n: number): void;
  matMulTransposedB(a: number, b: number, c: number, m: number, inner: number, n: number): void;
}

// Built next to dist/src by `npm run build:wasm`.
const WASM_PATH = new URL('../kernels.wasm', import.meta.url);
const PAGE_BYTES = 65536;
// 16-byte alignment keeps every row start of a 4-multiple width on a v128 boundary.
const ALIGN_BYTES = 16;

/** A row-major float32 matrix living in the module's memory; its view is rebuilt on access since growth detaches buffers. */
export class Slot {
  constructor(
    private readonly memory: WasmMemory,
    readonly pointer: number,
    readonly rows: number,
    readonly cols: number,
  ) {}

  get values(): Float32Array {
    return new Float32Array(this.memory.buffer, this.pointer, this.rows * this.cols);
  }

  write(source: Float32Array): void {
    if (source.length !== this.rows * this.cols) throw new KernelError(`write: ${source.length} values into a ${this.rows}×${this.cols} slot`);
    this.values.set(source);
  }

  /** A copy, safe to keep after the arena is reset or grown. */
  read(): Float32Array {
    return this.values.slice();
  }
}

/**
 * The dense-layer products of one module instance, on a bump arena in its memory: allocate slots once,
 * write operands, call products, read results. Not shared across threads.
 */
export class DenseKernels {
  private top: number;

  constructor(private readonly exports: KernelExports) {
    this.top = alignUp(exports.heapBase());
  }

  allocate(rows: number, cols: number): Slot {
    const pointer = this.top;
    this.top = alignUp(pointer + rows * cols * 4);
    const shortfall = this.top - this.exports.memory.buffer.byteLength;
    if (shortfall > 0) this.exports.memory.grow(Math.ceil(shortfall / PAGE_BYTES));
    return new Slot(this.exports.memory, pointer, rows, cols);
  }

  /** Frees every slot at once; earlier slots must not be used afterwards. */
  reset(): void {
    this.top = alignUp(this.exports.heapBase());
  }

  /** y = x·w (forward of a dense layer). */
  matMul(x: Slot, w: Slot, y: Slot): void {
    requireShapes('matMul', x.cols === w.rows && y.rows === x.rows && y.cols === w.cols, x, w, y);
    this.exports.matMulStrided(x.pointer, x.cols, 1, w.pointer, y.pointer, x.rows, x.cols, w.cols);
  }

  /** dw = xᵀ·dy (weight gradient), reading x transposed in place. */
  matMulTransposedA(x: Slot, dy: Slot, dw: Slot): void {
    requireShapes('matMulTransposedA', x.rows === dy.rows && dw.rows === x.cols && dw.cols === dy.cols, x, dy, dw);
    this.exports.matMulStrided(x.pointer, 1, x.cols, dy.pointer, dw.pointer, x.cols, x.rows, dy.cols);
  }

  /** dx = dy·wᵀ (input gradient). */
  matMulTransposedB(dy: Slot, w: Slot, dx: Slot): void {
    requireShapes('matMulTransposedB', dy.cols === w.cols && dx.rows === dy.rows && dx.cols === w.rows, dy, w, dx);
    this.exports.matMulTransposedB(dy.pointer, w.pointer, dx.pointer, dy.rows, dy.cols, w.rows);
  }
}

function requireShapes(product: string, fits: boolean, a: Slot, b: Slot, out: Slot): void {
  if (!fits) throw new KernelError(`${product}: shapes ${shape(a)}, ${shape(b)} → ${shape(out)} do not fit`);
}

function shape(slot: Slot): string {
  return `[${slot.rows}×${slot.cols}]`;
}

function alignUp(bytes: number): number {
  return Math.ceil(bytes / ALIGN_BYTES) * ALIGN_BYTES;
}

/** Instantiates the SIMD module from the package's dist folder; each call gives an independent memory. */
export async function loadKernels(): Promise<DenseKernels> {
  let bytes: Buffer;
  try {
    bytes = await readFile(WASM_PATH);
  } catch (error) {
    throw new KernelError(`cannot read ${WASM_PATH.pathname} (run npm run build): ${(error as Error).message}`);
  }
  const { instance } = await wasm.instantiate(bytes, {});
  return new DenseKernels(instance.exports as unknown as KernelExports);
}
