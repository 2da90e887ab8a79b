/** The bench's table, as printed and as pasted into the README (GitHub Markdown). */
import { type Figure } from './figure';

function number(value: number | null): string {
  if (value === null) return '—';
  if (Number.isInteger(value) || Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return Math.abs(value) >= 10 ? value.toFixed(1) : value.toFixed(2);
}

export function formatTable(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    f.name,
    `${number(f.ours)}${f.unit ? ` ${f.unit}` : ''}`,
    f.baseline === null ? '—' : `${number(f.baseline)}${f.unit ? ` ${f.unit}` : ''}${f.versus ? ` (${f.versus})` : ''}`,
    f.ratio === null ? '—' : f.ratio.toFixed(2),
    f.target ?? '',
    f.met === undefined ? '' : f.met ? 'met' : 'NOT met',
    String(f.runs),
  ]);
  const header = ['figure', 'ours', 'baseline', 'ratio', 'target', '', 'runs'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
