import { useMemo } from 'react';
import { useTui, useTuiContext } from '../hooks.ts';
import { fit, seg, type Line, type Segment } from '../lines.ts';
import { sideBySide, wordDiff, type DiffOp, type WordPart } from '../../core/diff.ts';
import { Frame } from './frame.tsx';

/**
 * Entry kinds as a compared branch line starts (branch-diff.ts writes `<kind> <text>`), shortened to at most 6
 * columns: at 80 columns a side-by-side column is 38 wide, and `assistant_message ` alone took 18 of them.
 */
const KIND_ABBREVIATIONS: Readonly<Record<string, string>> = {
  user_message: 'user',
  assistant_message: 'asst',
  tool_call: 'call',
  tool_result: 'result',
  agent_call: 'deleg',
  agent_result: 'agent',
  user_input_request: 'ask',
  user_response: 'answer',
  waiting: 'wait',
  finished: 'done',
  failed: 'failed',
};
const KIND_WIDTH = 6;

/** A compared line as shown: a leading entry kind shortened and padded to one narrow column, other text as it is. */
export function shortenKind(text: string): string {
  const space = text.indexOf(' ');
  const kind = space === -1 ? text : text.slice(0, space);
  const short = KIND_ABBREVIATIONS[kind];
  if (short === undefined) return text;
  return `${short.padEnd(KIND_WIDTH)}${space === -1 ? '' : text.slice(space)}`;
}

/**
 * Changed words of a replaced line as segments: in colour, inverse on the side's colour; without colour the CLI's
 * `[-old-]` / `{+new+}` markers (diff-view.ts), so a change is visible on any terminal.
 */
function wordSegments(parts: readonly WordPart[], side: 'del' | 'add', color: boolean): Segment[] {
  const hue = side === 'del' ? 'red' : 'green';
  return parts.map((p) => {
    if (p.kind === 'same') return seg(p.text, { color: hue });
    if (color) return seg(p.text, { color: hue, inverse: true, bold: true });
    return seg(side === 'del' ? `[-${p.text}-]` : `{+${p.text}+}`, { bold: true });
  });
}

/** Side by side: left and right columns, replaced lines with their changed words marked. */
function sideLines(ops: readonly DiffOp[], width: number, color: boolean): Line[] {
  const column = Math.max(10, Math.floor((width - 3) / 2));
  const out: Line[] = [];
  for (const row of sideBySide(ops.map((op) => ({ ...op, text: shortenKind(op.text) })))) {
    let left: Segment[];
    let right: Segment[];
    if (row.kind === 'changed') {
      const words = wordDiff(row.left!, row.right!);
      left = wordSegments(words.from, 'del', color);
      right = wordSegments(words.to, 'add', color);
    } else {
      const style = row.kind === 'same' ? { dim: true } : {};
      left = row.left === undefined ? [] : [seg(row.left, row.kind === 'same' ? style : { color: 'red' })];
      right = row.right === undefined ? [] : [seg(row.right, row.kind === 'same' ? style : { color: 'green' })];
    }
    const mark = seg(row.kind === 'same' ? '  ' : row.kind === 'changed' ? '| ' : row.kind === 'del' ? '< ' : '> ', {
      color: 'yellow',
    });
    out.push([...fit(left, column - 1), seg(' '), mark, ...fit(right, column - 1)]);
  }
  return out;
}

/** Unified: `-` then `+` lines; a run of deleted lines is paired with the added lines after it for the word marks. */
function unifiedLines(ops: readonly DiffOp[], color: boolean): Line[] {
  const out: Line[] = [];
  const shown = ops.map((op) => ({ ...op, text: shortenKind(op.text) }));
  for (let i = 0; i < shown.length;) {
    const op = shown[i]!;
    if (op.kind === 'same') {
      out.push([seg(` ${op.text}`, { dim: true })]);
      i++;
      continue;
    }
    const dels: string[] = [];
    const adds: string[] = [];
    while (i < shown.length && shown[i]!.kind !== 'same') {
      (shown[i]!.kind === 'del' ? dels : adds).push(shown[i]!.text);
      i++;
    }
    const pairs = Math.min(dels.length, adds.length);
    const words = Array.from({ length: pairs }, (_, j) => wordDiff(dels[j]!, adds[j]!));
    dels.forEach((text, j) =>
      out.push([
        seg('-', { color: 'red' }),
        ...(j < pairs ? wordSegments(words[j]!.from, 'del', color) : [seg(text, { color: 'red' })]),
      ]),
    );
    adds.forEach((text, j) =>
      out.push([
        seg('+', { color: 'green' }),
        ...(j < pairs ? wordSegments(words[j]!.to, 'add', color) : [seg(text, { color: 'green' })]),
      ]),
    );
  }
  return out;
}

/** Two branches (or artifacts) compared: sections per conversation; both columns scroll as one. */
export function DiffOverlay({ width, height }: { width: number; height: number }) {
  const overlay = useTui((s) => (s.overlay?.kind === 'diff' ? s.overlay : undefined));
  const { color } = useTuiContext();
  const sections = overlay?.sections;
  const mode = overlay?.mode;
  const divergesAt = overlay?.divergesAt ?? null;
  // Built once per comparison, mode, width and colour: scrolling (a keypress) only moves the window over them, and
  // the word diffs of a long comparison are not computed again for every frame.
  const lines = useMemo(() => {
    const out: Line[] = [
      [
        seg(divergesAt === null ? 'no differences in the steps' : `they diverge in ${divergesAt}`, {
          bold: true,
          color: divergesAt === null ? 'green' : 'yellow',
        }),
      ],
    ];
    for (const section of sections ?? []) {
      out.push([], [seg(`== ${section.title}`, { bold: true, color: 'cyan' })]);
      out.push(...(mode === 'unified' ? unifiedLines(section.ops, color) : sideLines(section.ops, width, color)));
    }
    return out;
  }, [sections, mode, divergesAt, width, color]);
  if (overlay === undefined) return null;
  const title = `Compare ${overlay.title}: ${overlay.mode === 'side' ? 'side by side' : 'unified'} (u switches, j/k scroll, Esc closes)`;
  return <Frame title={title} lines={lines} width={width} height={height} scroll={overlay.scroll} geometryId="diff" />;
}
