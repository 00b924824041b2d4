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

/** Two columns, `width` characters in all; unchanged runs longer than 2 × context are folded. */
export function sideBySideLines(ops: readonly DiffOp[], width: number, color: boolean, context = 3): string[] {
  const column = Math.max(10, Math.floor((width - 3) / 2));
  const rows = sideBySide(terminalTexts(ops));
  const out: string[] = [];
  const fit = (text: string): string => {
    let shown = '';
    for (const ch of text.replace(/\t/g, '  ')) {
      if (stringWidth(shown + ch) > column - 1) return `${shown}…`;
      shown += ch;
    }
    return shown + ' '.repeat(Math.max(0, column - stringWidth(shown)));
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
      out.push(`${fit(row.left ?? '')}   ${fit(row.right ?? '')}`);
      continue;
    }
    folded = false;
    const left = row.left === undefined ? ' '.repeat(column) : paint(color, 'red', fit(row.left));
    const right = row.right === undefined ? '' : paint(color, 'green', fit(row.right));
    // As diff -y marks them: | changed, < only on the left, > only on the right.
    const mark = row.kind === 'changed' ? '|' : row.kind === 'del' ? '<' : '>';
    out.push(`${left} ${paint(color, 'yellow', mark)} ${right}`);
  }
  return out;
}
