import stringWidth from 'string-width';
import { LinesView } from './LineView.tsx';
import { seg, visibleRange, type Color, type Line } from '../lines.ts';
import { terminalText } from '../../core/terminal-text.ts';
import { highlight } from '../search.ts';

/**
 * A table of text cells: column widths from the widest visible cell (by display width, so wide characters align),
 * the last column taking what is left, a sticky header, the cursor row highlighted and kept in view.
 * (ink-table cannot load with modern Ink, and this is all p2tui needs.)
 */
export function Table({
  header,
  rows,
  width,
  height,
  cursor,
  color,
  tone,
  query,
}: {
  header: readonly string[];
  rows: readonly (readonly string[])[];
  width: number;
  height: number;
  cursor: number;
  color: boolean;
  tone?: (row: readonly string[], column: number) => Color | undefined;
  /** A search's text, highlighted where it occurs. */
  query?: string;
}) {
  const bodyHeight = Math.max(0, height - 1);
  // Keep the cursor in the window: start so that it sits on the last visible row at most.
  const start = Math.max(0, Math.min(cursor - bodyHeight + 1, rows.length - bodyHeight));
  const { end } = visibleRange(rows.length, bodyHeight, Math.max(0, start), false);
  const visible = rows.slice(Math.max(0, start), end);
  const widths = tableWidths([header, ...visible], width);
  const render = (
    row: readonly string[],
    styleOf: (i: number) => { color?: Color; bold?: boolean; inverse?: boolean },
  ): Line =>
    row.flatMap((cell, i) => {
      const w = widths[i] ?? 0;
      const text = cut(terminalText(cell), w);
      const padded = text + ' '.repeat(Math.max(0, w - stringWidth(text)));
      return i < row.length - 1 ? [seg(padded, styleOf(i)), seg('  ', styleOf(-1))] : [seg(padded, styleOf(i))];
    });
  const lines: Line[] = [
    render(header, () => ({ bold: true })),
    ...visible.map((row, i) => {
      const selected = Math.max(0, start) + i === cursor;
      return render(row, (column) => {
        const c = column >= 0 ? tone?.(row, column) : undefined;
        return { ...(c === undefined ? {} : { color: c }), ...(selected ? { inverse: true } : {}) };
      });
    }),
  ];
  return (
    <LinesView
      lines={query === undefined ? lines : lines.map((l) => highlight(l, query))}
      width={width}
      height={height}
      color={color}
    />
  );
}

/** Column widths for rows at a total width: each column as wide as its widest cell, the last one the rest. */
export function tableWidths(rows: readonly (readonly string[])[], width: number): number[] {
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const widths: number[] = [];
  for (let i = 0; i < columns; i++) widths.push(Math.min(40, Math.max(0, ...rows.map((r) => stringWidth(r[i] ?? '')))));
  const fixed = widths.slice(0, -1).reduce((a, b) => a + b + 2, 0);
  if (columns > 0) widths[columns - 1] = Math.max(0, width - fixed);
  return widths;
}

function cut(text: string, width: number): string {
  if (stringWidth(text) <= width) return text;
  let out = '';
  for (const ch of text) {
    if (stringWidth(out + ch) > width - 1) break;
    out += ch;
  }
  return `${out}…`;
}
