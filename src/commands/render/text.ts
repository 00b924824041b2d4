import { createRequire } from 'node:module';
import { styleText } from 'node:util';
import { terminalText } from '../../core/terminal-text.ts';
import { formatUsd } from '../../core/money.ts';

/** Small text helpers for human output: colours (off without a terminal or with NO_COLOR) and aligned tables. */
export const STYLES = ['bold', 'dim', 'inverse', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'gray'] as const;
/** The styles `paint` knows; the terminal guard (core/terminal-text.ts, forTerminal) lets exactly their codes through. */
export type Style = (typeof STYLES)[number];

/** `string-width`, loaded on the first text that is not plain ASCII. */
let fullWidth: ((text: string) => number) | undefined;

/** Colour codes as `paint` writes them (SGR): no width on screen. */
// eslint-disable-next-line no-control-regex
const SGR = /\u001b\[[0-9;]*m/g;

/**
 * The columns `text` takes on a terminal. string-width compiles Unicode property patterns and a segmenter when it
 * loads (about a third of `p2tui session list`'s start), so text that is printable ASCII once colour codes are taken
 * out (the usual table cell) is measured here: one column a character, as string-width counts it.
 */
export function displayWidth(text: string): number {
  const plain = text.includes('\u001b') ? text.replace(SGR, '') : text;
  if (/^[\x20-\x7e]*$/.test(plain)) return plain.length;
  // A synchronous load, as the callers are: require() of an ES module (Node 22.12+).
  fullWidth ??= (createRequire(import.meta.url)('string-width') as { default: (text: string) => number }).default;
  return fullWidth(text);
}

/** `text` in `style` when colour is on (the caller decides: a terminal, no NO_COLOR, no --json). */
export function paint(enabled: boolean, style: Style, text: string): string {
  if (!enabled || text === '') return text;
  // Not node's own stream check (22.13+; older Node ignores the option and never checks): output may go to a
  // pager or a test's recorder, and the caller already decided.
  return styleText(style, text, { validateStream: false });
}

/** One line of at most `width` columns, cleaned for the terminal (what is cut this way is mostly quoted text). */
export function truncate(text: string, width: number): string {
  const flat = terminalText(text.replace(/\s+/g, ' ').trim());
  if (displayWidth(flat) <= width) return flat;
  let out = '';
  for (const ch of flat) {
    if (displayWidth(`${out}${ch}`) > width - 1) break;
    out += ch;
  }
  return `${out}…`;
}

/** A plain table: columns padded to their widest cell, the last column left ragged. */
export function table(rows: readonly (readonly string[])[], header?: readonly string[], color = false): string[] {
  const all = header === undefined ? rows : [header, ...rows];
  const widths: number[] = [];
  for (const row of all) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, displayWidth(cell))));
  const format = (row: readonly string[]): string =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - displayWidth(cell))))
      .join('  ')
      .trimEnd();
  const lines = all.map(format);
  if (header !== undefined) lines[0] = paint(color, 'bold', lines[0]!);
  return lines;
}

export function formatCost(usd: number, simulated: boolean): string {
  const text = formatUsd(usd);
  return simulated ? `${text} (simulated)` : text;
}

export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** "1 step", "2 steps" ("1 entry", "2 entries" with the plural given). */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
