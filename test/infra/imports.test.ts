/**
 * The CDK app loads what describes the stack, not the runtime: reading infra/ must not load a
 * Lambda handler, the state store or a composition root (issue 14: "table layout a leaf module
 * infra can import without loading the runtime"). Followed from infra/app.ts through every
 * relative import that is kept at run time (type-only imports are erased).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/** Relative modules `file` loads at run time. */
function runtimeImports(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of source.matchAll(/^(import|export)\s+(type\s+)?(\{[^}]*\}|\*\s+as\s+\w+|\w+(?:\s*,\s*\{[^}]*\})?)?\s*(?:from\s+)?'(\.[^']+)'/gm)) {
    const [, , typeOnly, names = '', spec = ''] = match;
    if (typeOnly !== undefined) continue;
    // `{ type A, type B }`: erased as a whole.
    if (names.startsWith('{') && names.slice(1, -1).split(',').map((n) => n.trim()).filter(Boolean).every((n) => n.startsWith('type '))) continue;
    found.push(path.resolve(path.dirname(file), spec.endsWith('.js') ? spec.slice(0, -3) : spec));
  }
  return found.map((base) => (base.endsWith('.json') ? base : `${base}.ts`));
}

function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop() ?? '';
    if (seen.has(file) || file.endsWith('.json')) continue;
    seen.add(file);
    queue.push(...runtimeImports(file));
  }
  return seen;
}

describe('what the CDK app loads', () => {
  const loaded = [...reachable(path.join(ROOT, 'infra', 'app.ts'))].map((f) => path.relative(ROOT, f)).sort();

  it('includes the table layout and the job settings it builds from', () => {
    expect(loaded).toEqual(expect.arrayContaining(['lib/requests/table-layout.ts', 'lib/requests/jobs.ts', 'lib/requests/outbox.ts']));
  });

  it('loads no handler, no state store, no runtime and no Slack code', () => {
    expect(loaded.filter((f) => f.startsWith('handlers/') || f.startsWith('lib/slack/') || ['lib/requests/dynamo-store.ts', 'lib/compose/runtime.ts', 'lib/compose/ack-runtime.ts'].includes(f))).toEqual([]);
  });
});
