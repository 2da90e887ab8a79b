/**
 * Slack markup is written in lib/slack only: everything else says what it says as prose
 * (lib/prose.ts) and lib/slack renders it. This reads every string and template literal in lib/
 * outside lib/slack with the TypeScript parser (comments do not count) and fails on a code span's
 * backtick or a Slack mention (`<@…>`, `<#…>`, `<!subteam^…>`, `<!channel>`, ...).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const ROOT = join(__dirname, '..', '..');
const LIB = join(ROOT, 'lib');
/** Generated from the Cloud API's OpenAPI document, never written by hand. */
const GENERATED = new Set(['lib/cluster-admin/cloud/openapi.gen.ts']);
const MARKUP = /`|<[@#]|<!(?:subteam|channel|here|everyone|date)/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return path === join(LIB, 'slack') ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every piece of literal text in a file (string literals and the text parts of templates), with its line. */
function literalTexts(path: string): { line: number; text: string }[] {
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: { line: number; text: string }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) {
      // Import specifiers are module paths, not text; a lone backtick is a character compared with, not a mark.
      if (!ts.isImportDeclaration(node.parent) && !ts.isExportDeclaration(node.parent) && node.text !== '`') {
        found.push({ line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1, text: node.text });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('Slack markup outside lib/slack', () => {
  const files = sourceFiles(LIB).filter((path) => !GENERATED.has(relative(ROOT, path)));

  it('reads a meaningful number of files', () => {
    expect(files.length).toBeGreaterThan(50);
  });

  it('is nowhere: the domain returns prose, and lib/slack renders it', () => {
    const offenders = files.flatMap((path) => literalTexts(path).filter(({ text }) => MARKUP.test(text)).map(({ line, text }) => `${relative(ROOT, path)}:${line}: ${text.slice(0, 80)}`));
    expect(offenders).toEqual([]);
  });

  it('would be found: the check sees a mention and a code span in a template', () => {
    const probe = join(ROOT, 'test', 'unit', 'slack-markup-boundary.test.ts');
    const texts = literalTexts(probe).map(({ text }) => text);
    expect(texts.some((text) => MARKUP.test(text))).toBe(true);
    expect(MARKUP.test('held by <@')).toBe(true);
    expect(MARKUP.test('run `audit`')).toBe(true);
    expect(MARKUP.test('<!subteam^S1>')).toBe(true);
    expect(MARKUP.test('<!doctype html>')).toBe(false);
  });
});
