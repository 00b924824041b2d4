import stringWidth from 'string-width';
import { terminalText } from '../core/terminal-text.ts';

/**
 * Styled text as the panes draw it: a line is a list of segments, each with a style. Everything here is pure, so
 * wrapping and windowing are tested without a terminal. Every pane's text passes `wrap` or `fit` (LineView draws
 * through it), and both clean it for the terminal (core/terminal-text.ts): model, tool and MCP text is shown, never
 * obeyed, and Ink alone writes escape codes.
 */
export type Color = 'red' | 'green' | 'yellow' | 'blue' | 'magenta' | 'cyan' | 'gray' | 'white';

export interface Segment {
  readonly text: string;
  readonly color?: Color;
  readonly bold?: boolean;
  readonly dim?: boolean;
  readonly inverse?: boolean;
}

export type Line = readonly Segment[];

export const seg = (text: string, style: Omit<Segment, 'text'> = {}): Segment => ({ text, ...style });

export function lineWidth(line: Line): number {
  let w = 0;
  for (const s of line) w += stringWidth(s.text);
  return w;
}

export function lineText(line: Line): string {
  return line.map((s) => s.text).join('');
}

/**
 * Wraps segments to `width` columns, breaking at spaces where it can and inside long words where it must.
 * Continuation lines start with `indent` spaces. Newlines in the text start new lines.
 */
export function wrap(segments: readonly Segment[], width: number, indent = 0): Line[] {
  const max = Math.max(1, width);
  const pad = Math.min(indent, Math.max(0, max - 1));
  const lines: Line[] = [];
  let current: Segment[] = [];
  let used = 0;
  // Nothing but the continuation indent on the current line yet (a line never starts with a space).
  let fresh = true;
  const push = (text: string, style: Segment): void => {
    if (text === '') return;
    if (/\S/.test(text)) fresh = false;
    const last = current[current.length - 1];
    if (last !== undefined && sameStyle(last, style)) current[current.length - 1] = { ...last, text: last.text + text };
    else current.push({ ...style, text });
    used += stringWidth(text);
  };
  const newline = (): void => {
    lines.push(trimEnd(current));
    current = pad > 0 ? [{ text: ' '.repeat(pad) }] : [];
    used = pad;
    fresh = true;
  };
  // Whitespace at the very start is indentation and stays; elsewhere a line never starts with a space.
  let leading = true;
  for (const segment of segments) {
    const parts = terminalText(segment.text).replace(/\t/g, '  ').split('\n');
    parts.forEach((part, index) => {
      if (index > 0) newline();
      for (const token of part.match(/\S+|\s+/g) ?? []) {
        const tokenWidth = stringWidth(token);
        const isSpace = /^\s+$/.test(token);
        if (isSpace && leading && used + tokenWidth < max) {
          push(token, segment);
          continue;
        }
        leading = false;
        if (isSpace) {
          if (used + tokenWidth <= max && !fresh) push(token, segment);
          else if (used + tokenWidth > max && !fresh) newline();
          continue;
        }
        if (used + tokenWidth <= max) {
          push(token, segment);
          continue;
        }
        if (!fresh && tokenWidth <= max - pad) {
          newline();
          push(token, segment);
          continue;
        }
        // A word longer than a line: cut it by characters.
        for (const ch of token) {
          const w = stringWidth(ch);
          if (used + w > max) newline();
          push(ch, segment);
        }
      }
    });
  }
  lines.push(trimEnd(current));
  return lines;
}

/** Cuts a line to `width` columns, with an ellipsis when something was cut. */
export function clip(line: Line, width: number): Line {
  if (width <= 0) return [];
  if (lineWidth(line) <= width) return line;
  const out: Segment[] = [];
  let used = 0;
  for (const s of line) {
    let text = '';
    for (const ch of s.text) {
      const w = stringWidth(ch);
      if (used + w > width - 1) break;
      text += ch;
      used += w;
    }
    if (text !== '') out.push({ ...s, text });
    if (used >= width - 1) break;
  }
  out.push({ text: '…', dim: true });
  return out;
}

/** Pads (or clips) a line to exactly `width` columns. */
export function fit(line: Line, width: number): Line {
  const clipped = clip(clean(line), width);
  const w = lineWidth(clipped);
  return w < width ? [...clipped, { text: ' '.repeat(width - w) }] : clipped;
}

/**
 * The slice of `total` lines a pane of `height` rows shows. With `follow`, the last lines; otherwise from `offset`,
 * clamped so the pane is never scrolled past either end.
 */
export function visibleRange(
  total: number,
  height: number,
  offset: number,
  follow: boolean,
): { start: number; end: number } {
  const h = Math.max(0, height);
  const maxStart = Math.max(0, total - h);
  const start = follow ? maxStart : Math.min(Math.max(0, offset), maxStart);
  return { start, end: Math.min(total, start + h) };
}

/**
 * The line with its text cleaned, and kept to one row: a newline or tab that did not pass `wrap` (a table cell, a
 * title) would break the frame's layout, so it becomes spaces. The same line (no copy) when nothing needed it.
 */
function clean(line: Line): Line {
  let out: Segment[] | undefined;
  line.forEach((s, i) => {
    const text = terminalText(s.text).replace(/\t/g, '  ').replace(/\n/g, ' ');
    if (text === s.text && out === undefined) return;
    out ??= line.slice(0, i);
    out.push(text === s.text ? s : { ...s, text });
  });
  return out ?? line;
}

function sameStyle(a: Segment, b: Segment): boolean {
  return a.color === b.color && a.bold === b.bold && a.dim === b.dim && a.inverse === b.inverse;
}

function trimEnd(line: Segment[]): Line {
  const out = [...line];
  while (out.length > 0) {
    const last = out[out.length - 1]!;
    const trimmed = last.text.replace(/\s+$/, '');
    if (trimmed === '') out.pop();
    else {
      out[out.length - 1] = { ...last, text: trimmed };
      break;
    }
  }
  return out;
}
