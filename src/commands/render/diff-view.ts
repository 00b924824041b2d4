import stringWidth from 'string-width';
import { sideBySide, unifiedHunks, wordDiff, type DiffOp, type WordPart } from '../../core/diff.ts';
import { paint } from './text.ts';
import { terminalTexts } from '../../core/terminal-text.ts';

/**
 * Diffs for the terminal: unified (`-`/`+` lines, changed words highlighted inside replaced lines) or side by side
 * (two columns of `width`). Colour off: the same layout, with `[-…-]`/`{+…+}` around changed words.
 */
export function unifiedLines(ops: readonly DiffOp[], color: boolean, context = 3): string[] {
  const out: string[] = [];
  // The lines compared are artifacts and entries, model and tool text: shown cleaned for the terminal.
  for (const hunk of unifiedHunks(terminalTexts(ops), context)) {
    out.push(paint(color, 'cyan', hunk.header));
    const lines = hunk.lines;
    for (let i = 0; i < lines.length;) {
      const op = lines[i]!;
      if (op.kind === 'same') {
        out.push(` ${op.text}`);
        i++;
        continue;
      }
      const dels: string[] = [];
      const adds: string[] = [];
      while (i < lines.length && lines[i]!.kind !== 'same') {
        (lines[i]!.kind === 'del' ? dels : adds).push(lines[i]!.text);
        i++;
      }
      const pairs = Math.min(dels.length, adds.length);
      const words = Array.from({ length: pairs }, (_, j) => wordDiff(dels[j]!, adds[j]!));
      dels.forEach((text, j) =>
        out.push(paint(color, 'red', `-${j < pairs ? highlight(words[j]!.from, color, 'del') : text}`)),
      );
      adds.forEach((text, j) =>
        out.push(paint(color, 'green', `+${j < pairs ? highlight(words[j]!.to, color, 'add') : text}`)),
      );
    }
  }
  return out;
}

function highlight(parts: readonly WordPart[], color: boolean, side: 'del' | 'add'): string {
  return parts
    .map((p) => {
      if (p.kind === 'same') return p.text;
      if (color) return paint(true, 'inverse', p.text);
      return side === 'del' ? `[-${p.text}-]` : `{+${p.text}+}`;
    })
    .join('');
}

/**
 * Two columns, `width` characters in all; unchanged runs longer than 2 × context are folded. A line longer than its
 * column wraps onto the next rows of that column (nothing is cut: the width given is the width used).
 */
export function sideBySideLines(ops: readonly DiffOp[], width: number, color: boolean, context = 3): string[] {
  const column = Math.max(10, Math.floor((width - 3) / 2));
  const rows = sideBySide(terminalTexts(ops));
  const out: string[] = [];
  const pad = (text: string): string => text + ' '.repeat(Math.max(0, column - stringWidth(text)));
  /** The pieces of a line, each at most `column` wide. */
  const wrap = (text: string): string[] => {
    const pieces: string[] = [];
    let piece = '';
    for (const ch of text.replace(/\t/g, '  ')) {
      if (stringWidth(piece + ch) > column) {
        pieces.push(piece);
        piece = '';
      }
      piece += ch;
    }
    return [...pieces, piece];
  };
  /** One diff row as terminal lines: the mark on the first, blank marks on the rows the longer side wraps onto. */
  const lines = (left: string | undefined, right: string | undefined, mark: string, painted: boolean): string[] => {
    const l = left === undefined ? [] : wrap(left);
    const r = right === undefined ? [] : wrap(right);
    return Array.from({ length: Math.max(l.length, r.length, 1) }, (_, i) => {
      const lp = l[i] === undefined ? ' '.repeat(column) : pad(l[i]!);
      const rp = r[i] ?? '';
      const shownLeft = painted && l[i] !== undefined ? paint(color, 'red', lp) : lp;
      const shownRight = painted && r[i] !== undefined ? paint(color, 'green', rp) : rp;
      const m = i === 0 && mark !== ' ' ? paint(color, 'yellow', mark) : ' ';
      return `${shownLeft} ${m} ${shownRight}`.trimEnd();
    });
  };
  let folded = false;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    if (row.kind === 'same') {
      // Fold long unchanged stretches, keeping `context` rows next to each change.
      const near = rows.slice(Math.max(0, i - context), i + context + 1).some((r) => r.kind !== 'same');
      if (!near) {
        if (!folded) out.push(paint(color, 'gray', '⋯'));
        folded = true;
        continue;
      }
      folded = false;
      out.push(...lines(row.left ?? '', row.right ?? '', ' ', false));
      continue;
    }
    folded = false;
    // As diff -y marks them: | changed, < only on the left, > only on the right.
    const mark = row.kind === 'changed' ? '|' : row.kind === 'del' ? '<' : '>';
    out.push(...lines(row.left, row.right, mark, true));
  }
  return out;
}
