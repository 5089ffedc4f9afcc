// Dense-layer products in f32x4 SIMD over caller-placed operands in this module's linear memory.
// Pointers are byte offsets; every matrix is float32.

/**
 * C[m×n] = A·B with B row-major [inner×n] and A read through strides: A[r, c] = a[r·aRow + c·aCol].
 * (aRow, aCol) = (inner, 1) is the plain product X·W; (1, m) reads a row-major [inner×m] X as Xᵀ, so
 * Xᵀ·dY needs no transposed copy. Rows are taken 2 at a time against 16 columns: 8 accumulators, 4 B
 * vectors and a splat fit the 16 SIMD registers of x86-64 (4 rows × 16 columns spilled, 20–25 % slower).
 */
export function matMulStrided(a: usize, aRow: i32, aCol: i32, b: usize, c: usize, m: i32, inner: i32, n: i32): void {
  product(a, aRow, aCol, b, c, m, inner, n, false);
}

/**
 * C[m×n] += A·B, as matMulStrided otherwise: each entry's running sum starts from C's value, so summing a
 * product over consecutive row blocks of A and B (Xᵀ·R over chunks of samples) adds in the same order as
 * one product over all of them.
 */
export function matMulStridedAdd(a: usize, aRow: i32, aCol: i32, b: usize, c: usize, m: i32, inner: i32, n: i32): void {
  product(a, aRow, aCol, b, c, m, inner, n, true);
}

function product(a: usize, aRow: i32, aCol: i32, b: usize, c: usize, m: i32, inner: i32, n: i32, accumulate: bool): void {
  let i = 0;
  for (; i + 2 <= m; i += 2) {
    let j = 0;
    for (; j + 16 <= n; j += 16) block2x16(a, aRow, aCol, b, c, i, j, inner, n, accumulate);
    for (let r = i; r < i + 2; r++) rowTail(a, aRow, aCol, b, c, r, j, inner, n, accumulate);
  }
  for (; i < m; i++) rowTail(a, aRow, aCol, b, c, i, 0, inner, n, accumulate);
}

@inline function elementA(a: usize, aRow: i32, aCol: i32, r: i32, p: i32): f32 {
  return load<f32>(a + ((<usize>(r * aRow + p * aCol)) << 2));
}

@inline export function rowOf(base: usize, row: i32, cols: i32, col: i32): usize {
  return base + ((<usize>(row * cols + col)) << 2);
}

// Output rows i, i+1, columns j..j+15: each step over the inner index broadcasts 2 A values (loaded straight
// into all lanes, which costs no shuffle) against one 16-wide stretch of a B row. Pointers advance by
// their strides instead of being recomputed from indices.
function block2x16(a: usize, aRow: i32, aCol: i32, b: usize, c: usize, i: i32, j: i32, inner: i32, n: i32, accumulate: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  if (accumulate) {
    let cp = rowOf(c, i, n, j);
    c00 = v128.load(cp); c01 = v128.load(cp, 16); c02 = v128.load(cp, 32); c03 = v128.load(cp, 48);
    cp = rowOf(c, i + 1, n, j);
    c10 = v128.load(cp); c11 = v128.load(cp, 16); c12 = v128.load(cp, 32); c13 = v128.load(cp, 48);
  }
  let a0p = a + ((<usize>(i * aRow)) << 2);
  const a1Offset = (<usize>aRow) << 2;
  const aStep = (<usize>aCol) << 2;
  let bp = rowOf(b, 0, n, j);
  const bStep = (<usize>n) << 2;
  for (let p = 0; p < inner; p++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16), b2 = v128.load(bp, 32), b3 = v128.load(bp, 48);
    const a0 = v128.load32_splat(a0p);
    c00 = madd(a0, b0, c00); c01 = madd(a0, b1, c01);
    c02 = madd(a0, b2, c02); c03 = madd(a0, b3, c03);
    const a1 = v128.load32_splat(a0p + a1Offset);
    c10 = madd(a1, b0, c10); c11 = madd(a1, b1, c11);
    c12 = madd(a1, b2, c12); c13 = madd(a1, b3, c13);
    a0p += aStep;
    bp += bStep;
  }
  let cp = rowOf(c, i, n, j);
  v128.store(cp, c00); v128.store(cp, c01, 16); v128.store(cp, c02, 32); v128.store(cp, c03, 48);
  cp = rowOf(c, i + 1, n, j);
  v128.store(cp, c10); v128.store(cp, c11, 16); v128.store(cp, c12, 32); v128.store(cp, c13, 48);
}

// Output row r from column j0 on: 4 columns at a time, then the last n mod 4 one by one.
function rowTail(a: usize, aRow: i32, aCol: i32, b: usize, c: usize, r: i32, j0: i32, inner: i32, n: i32, accumulate: bool): void {
  const ap = a + ((<usize>(r * aRow)) << 2);
  const aStep = (<usize>aCol) << 2;
  const bStep = (<usize>n) << 2;
  let j = j0;
  for (; j + 4 <= n; j += 4) {
    let acc = accumulate ? v128.load(rowOf(c, r, n, j)) : f32x4.splat(0);
    let aq = ap, bq = rowOf(b, 0, n, j);
    for (let p = 0; p < inner; p++) {
      acc = madd(v128.load32_splat(aq), v128.load(bq), acc);
      aq += aStep;
      bq += bStep;
    }
    v128.store(rowOf(c, r, n, j), acc);
  }
  for (; j < n; j++) {
    let acc: f32 = accumulate ? load<f32>(rowOf(c, r, n, j)) : 0;
    for (let p = 0; p < inner; p++) acc += elementA(a, aRow, aCol, r, p) * load<f32>(rowOf(b, p, n, j));
    store<f32>(rowOf(c, r, n, j), acc);
  }
}

/**
 * C[m×n] = A·Bᵀ for row-major A [m×inner] and B [n×inner]: each entry is a dot product of two contiguous
 * rows (dX = dY·Wᵀ), summed 4 lanes wide and reduced once at the end.
 */
export function matMulTransposedB(a: usize, b: usize, c: usize, m: i32, inner: i32, n: i32): void {
  for (let i = 0; i < m; i++) {
    const ai = rowOf(a, i, inner, 0);
    for (let j = 0; j < n; j++) store<f32>(rowOf(c, i, n, j), dot(ai, rowOf(b, j, inner, 0), inner));
  }
}

@inline function dot(x: usize, y: usize, length: i32): f32 {
  let acc = f32x4.splat(0);
  let p = 0;
  for (; p + 4 <= length; p += 4) {
    const offset = (<usize>p) << 2;
    acc = madd(v128.load(x + offset), v128.load(y + offset), acc);
  }
  let sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; p < length; p++) sum += load<f32>(x + ((<usize>p) << 2)) * load<f32>(y + ((<usize>p) << 2));
  return sum;
}

// a·b + c in four lanes, rounded twice (a product, then a sum), as XNNPACK's and tfjs's kernels here: the
// fused multiply-add of relaxed SIMD measured only ~5 % faster per step on this CPU, and its rounding would
// depend on the machine (rows of one cell differing between workers).
@inline function madd(a: v128, b: v128, c: v128): v128 {
  return f32x4.add(c, f32x4.mul(a, b));
}
