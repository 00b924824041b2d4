import { basename } from 'node:path';
import { Text } from 'ink';
import { useTui, useTuiContext } from '../hooks.ts';
import { hints } from '../keymap/keymap.ts';
import { LineView, LinesView } from '../components/LineView.tsx';
import { seg, wrap, type Line, type Segment } from '../lines.ts';
import type { TuiState } from '../state.ts';
import { toneColor } from './notice-log.tsx';
import { formatUsd } from '../../core/money.ts';

/** The top line: where you are. */
export function Header({ width }: { width: number }) {
  const { color } = useTuiContext();
  const root = useTui((s) => s.workspace.root);
  const screen = useTui((s) => s.screen);
  const open = useTui((s) => s.open);
  useTui((s) => s.open?.infoVersion);
  const newAgent = useTui((s) => s.newSessionAgent);
  const driver = useTui((s) => s.driver);
  const line: Segment[] = [seg(' p2tui ', { bold: true, inverse: true }), seg(` ${basename(root)}`, { bold: true })];
  if (screen === 'sessions') line.push(seg('  sessions', { dim: true }));
  else if (open !== null) {
    line.push(
      seg(`  ${open.id}`, { bold: true }),
      seg(` ${open.agent}`),
      seg(` ${open.status}`, { color: statusColor(open.status) }),
    );
    if (open.statusReason !== null && open.status !== 'running')
      line.push(seg(` (${open.statusReason})`, { dim: true }));
    line.push(seg(`  branch ${open.branch.slice(0, 10) || 'main'}`, { dim: true }));
    // Effectful calls on this branch are not run, or wait for approval: say so where it cannot be missed.
    const policy = open.branchPolicy();
    if (policy !== 'live') line.push(seg(` effects ${policy}`, { color: 'yellow', bold: true }));
    if (driver === 'elsewhere') line.push(seg('  driven by another process', { color: 'yellow' }));
  } else if (newAgent !== null) line.push(seg(`  new session with ${newAgent}`));
  return <LineView line={line} width={width} color={color} />;
}

/**
 * The bottom line: the keys that work here, most important first, and the model, steps, tokens and cost (which give
 * way first when the keys need the room).
 */
export function StatusBar({ width }: { width: number }) {
  const { color } = useTuiContext();
  const state = useTui((s) => s);
  useTui((s) => s.open?.infoVersion);
  const all = hints(state);
  const rightText = usageText(state, width - hintsWidth(all));
  const room = Math.max(0, width - rightText.length);
  return (
    <Text>
      <LineView line={[seg(` ${fitHints(all, room - 1)}`, { dim: true })]} width={room} color={color} />
      <LineView line={[seg(rightText, { inverse: true })]} width={Math.min(width, rightText.length)} color={color} />
    </Text>
  );
}

/** The model, steps, tokens and cost: the longest form that fits in `room`, else the shortest that says anything. */
function usageText(state: TuiState, room: number): string {
  const open = state.open;
  const model = open?.model ?? open?.usage.lastModel ?? state.workspace.model;
  const simulated =
    open === null ? model.startsWith('scripted/') : open.usage.simulated || model.startsWith('scripted/');
  const shown = `${model}${simulated ? ' (simulated)' : ''}`;
  const forms: string[][] = [[shown], [model]];
  if (open !== null) {
    const steps = `${open.usage.calls} step${open.usage.calls === 1 ? '' : 's'}`;
    const tokens = `${compact(open.usage.tokensIn + open.usage.tokensOut)} tok`;
    const money = cost(open.usage.costUsd, simulated);
    forms.splice(
      0,
      2,
      [shown, steps, tokens, money],
      [model, steps, tokens, money],
      [steps, tokens, money],
      [tokens, money],
      [money],
    );
  }
  const texts = forms.map((f) => ` ${f.join(' · ')} `);
  return texts.find((t) => t.length <= room) ?? (open === null ? '' : texts.at(-1)!);
}

/** The room the first keys (the important ones, and help) need: the usage gives way to them, not to every key. */
const hintsWidth = (all: readonly string[]): number => {
  const first = [...all.filter((h) => !h.startsWith('? ')).slice(0, 6), ...all.filter((h) => h.startsWith('? '))];
  return first.length === 0 ? 0 : first.join('  ').length + 2;
};

/**
 * The notice shown now, whole: wrapped onto as many lines as it needs above the status bar (at most `max`; the `!`
 * log has every notice in full).
 */
export function noticeLines(notice: TuiState['notice'], width: number, max: number): Line[] {
  if (notice === null) return [];
  const style = { color: toneColor(notice.tone), bold: notice.tone !== 'info' };
  const lines = wrap([seg(notice.text, style)], Math.max(10, width - 2), 0).map((l): Line => [seg(' '), ...l]);
  if (lines.length <= max) return lines;
  return [
    ...lines.slice(0, Math.max(0, max - 1)),
    [seg(' … the rest in the notification log: press !', { dim: true })],
  ];
}

/** The notice above the status bar (nothing when there is none). */
export function NoticeArea({ width, lines }: { width: number; lines: readonly Line[] }) {
  const { color } = useTuiContext();
  if (lines.length === 0) return null;
  return <LinesView lines={lines} width={width} height={lines.length} color={color} />;
}

/** As many hints as fit, in priority order; `? help` always keeps its place at the end when it applies. */
function fitHints(all: readonly string[], room: number): string {
  const help = all.find((h) => h.startsWith('? '));
  const budget = help === undefined ? room : room - help.length - 2;
  let out = '';
  for (const h of all) {
    if (h === help) continue;
    const next = out === '' ? h : `${out}  ${h}`;
    // A long one that does not fit leaves room for shorter ones after it.
    if (next.length > budget) continue;
    out = next;
  }
  if (help === undefined) return out;
  return out === '' ? help : `${out}  ${help}`;
}

function compact(n: number): string {
  return n >= 1_000_000 ? `${(n / 1_000_000).toFixed(1)}M` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}

function cost(usd: number, simulated: boolean): string {
  const text = formatUsd(usd);
  return simulated ? `${text} sim` : text;
}

function statusColor(status: string): 'green' | 'red' | 'yellow' | 'cyan' {
  if (status === 'finished') return 'green';
  if (status === 'failed' || status === 'cancelled') return 'red';
  if (status === 'waiting' || status === 'paused') return 'yellow';
  return 'cyan';
}
