import { useTui } from '../hooks.ts';
import { seg, wrap, type Color, type Line } from '../lines.ts';
import type { NoticeRecord, NoticeTone } from '../state.ts';
import { Frame } from './frame.tsx';

/** The `!` overlay: every notice, warning and error of this TUI session, newest first, each with its time. */
export function NoticeLogOverlay({ width, height }: { width: number; height: number }) {
  const log = useTui((s) => s.noticeLog);
  const scroll = useTui((s) => (s.overlay?.kind === 'notices' ? s.overlay.scroll : 0));
  const lines = noticeLogLines(log, width);
  return (
    <Frame
      title={`Notices (${log.length}, newest first; Esc goes back)`}
      lines={lines}
      width={width}
      height={height}
      scroll={scroll}
      geometryId="notices"
    />
  );
}

/** The log's lines: time, tone and the whole text, wrapped under its first line. */
export function noticeLogLines(log: readonly NoticeRecord[], width: number): Line[] {
  if (log.length === 0) return [[seg('No notices yet in this session.', { dim: true })]];
  const lines: Line[] = [];
  for (let i = log.length - 1; i >= 0; i--) {
    const n = log[i]!;
    const head = `${clockTime(n.at)} ${TONE_LABEL[n.tone]} `;
    // The text wrapped beside its time and tone, every line of it under the first.
    const text = wrap([seg(n.text, { color: toneColor(n.tone), bold: n.tone !== 'info' })], width - head.length);
    text.forEach((line, k) => lines.push([seg(k === 0 ? head : ' '.repeat(head.length), { dim: true }), ...line]));
  }
  return lines;
}

const TONE_LABEL: Readonly<Record<NoticeTone, string>> = { info: 'info ', warn: 'warn ', error: 'error' };

export function toneColor(tone: NoticeTone): Color {
  return tone === 'error' ? 'red' : tone === 'warn' ? 'yellow' : 'cyan';
}

/** Local wall-clock time, to the second: when a notice was shown (today's session, so no date). */
function clockTime(at: number): string {
  const d = new Date(at);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}
