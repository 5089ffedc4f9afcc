/** Adam with PyTorch's defaults (β1 0.9, β2 0.999, ε 1e-8, bias-corrected), over host parameter arrays. */
export class Adam {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;

  constructor(
    params: Float32Array[],
    private readonly lr: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
  ) {
    this.m = params.map((p) => new Float32Array(p.length));
    this.v = params.map((p) => new Float32Array(p.length));
  }

  /**
   * One step; grads[i] matches params[i]. A gradient given transposed (`transposed[i] = [rows, cols]` of the
   * parameter) is read as its transpose, so a layer whose gradient was computed as Wᵀ needs no copy.
   */
  step(params: Float32Array[], grads: Float32Array[], transposed: ([number, number] | null)[] = []): void {
    this.t++;
    const c1 = 1 / (1 - this.beta1 ** this.t);
    const c2 = 1 / (1 - this.beta2 ** this.t);
    const { lr, beta1, beta2, eps } = this;
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      const g = grads[i];
      const m = this.m[i];
      const v = this.v[i];
      const shape = transposed[i];
      // A transposed gradient is walked column by column, so that j still runs over p in order.
      const rows = shape ? shape[0] : 1;
      const cols = shape ? shape[1] : p.length;
      for (let r = 0, j = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++, j++) {
          const gj = shape ? g[c * rows + r] : g[j];
          const mj = beta1 * m[j] + (1 - beta1) * gj;
          const vj = beta2 * v[j] + (1 - beta2) * gj * gj;
          m[j] = mj;
          v[j] = vj;
          p[j] -= (lr * (mj * c1)) / (Math.sqrt(vj * c2) + eps);
        }
      }
    }
  }
}
