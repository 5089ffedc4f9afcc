/**
 * A spec, or a `--where` expression, with one or more problems; `problems` lists each, with its field path.
 * One problem is one line (`spec.yaml: grid.width[0]: …`); several are a count and a line each.
 */
export class SpecError extends Error {
  override readonly name = 'SpecError';
  readonly path: string;
  readonly problems: string[];

  constructor(path: string, problems: string[]) {
    const n = problems.length;
    super(n === 1 ? `${path}: ${problems[0]}` : `${path}: ${n} problems${problems.map((p) => `\n  ${p}`).join('')}`);
    this.path = path;
    this.problems = [...problems];
  }
}
