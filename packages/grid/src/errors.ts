/** A spec, or a `--where` expression, with one or more problems; `problems` lists each, with its field path. */
export class SpecError extends Error {
  override readonly name = 'SpecError';
  readonly path: string;
  readonly problems: string[];

  constructor(path: string, problems: string[]) {
    const n = problems.length;
    super(`${path}: ${n} problem${n === 1 ? '' : 's'}${problems.map((p) => `\n  ${p}`).join('')}`);
    this.path = path;
    this.problems = [...problems];
  }
}
