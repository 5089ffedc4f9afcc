// Inspection of rendered figures: well-formed SVG, and the mark groups Vega draws for each named Vega-Lite unit.
import assert from 'node:assert/strict';

/** Well-formed enough: starts with <svg>, ends with </svg>, and open/close tags balance in order. */
export function assertSvg(svg: string): void {
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>$/);
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, close, name, selfClose] = m;
    if (selfClose) continue;
    if (close) assert.equal(stack.pop(), name, `unbalanced </${name}>`);
    else stack.push(name);
  }
  assert.deepEqual(stack, []);
  assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
}

/** The inner SVG of each mark group of Vega-Lite unit `name` with Vega mark type `type`. */
export function markGroups(svg: string, type: string, name: string): string[] {
  const re = new RegExp(`<g class="mark-${type} role-mark ${name}_marks"[^>]*>(.*?)</g>`, 'g');
  return [...svg.matchAll(re)].map((m) => m[1]);
}

export const count = (text: string, tag: string) => (text.match(new RegExp(`<${tag}[\\s>]`, 'g')) ?? []).length;
export const items = (svg: string, type: string, name: string, tag: string) =>
  markGroups(svg, type, name).reduce((n, g) => n + count(g, tag), 0);

