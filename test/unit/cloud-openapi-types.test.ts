/**
 * The committed Cloud API types must be exactly what `npm run generate:cloud-types` produces from
 * the vendored spec, so nobody hand-edits them and a spec update cannot be half-applied.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(__dirname, '..', '..');

describe('generated Cloud API types', () => {
  it('equal what openapi-typescript generates from reference/cockroach-cloud-openapi.json', async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    // Regenerate with the same arguments as the npm script, into a temporary file.
    const script = /^openapi-typescript (\S+) -o (\S+)$/.exec(pkg.scripts['generate:cloud-types'] ?? '');
    expect(script?.slice(1)).toEqual(['reference/cockroach-cloud-openapi.json', 'lib/cluster-admin/cloud/openapi.gen.ts']);
    const [, input = '', committedPath = ''] = script ?? [];

    const dir = await mkdtemp(join(tmpdir(), 'cloud-types-'));
    try {
      const generatedPath = join(dir, 'openapi.gen.ts');
      // The CLI the npm script runs (jest's resolver does not follow the package's `./*` export).
      const cli = join(root, 'node_modules', 'openapi-typescript', 'bin', 'cli.js');
      await run(process.execPath, [cli, input, '-o', generatedPath], { cwd: root });
      const generated = (await readFile(generatedPath, 'utf8')).split('\n');
      const committed = (await readFile(join(root, committedPath), 'utf8')).split('\n');
      // Report the first differing line rather than two 600 kB strings.
      const line = generated.findIndex((text, i) => text !== committed[i]);
      const firstDifference =
        line === -1 && generated.length === committed.length ? null : { line: line + 1, generated: generated[line], committed: committed[line] };
      expect(firstDifference).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
