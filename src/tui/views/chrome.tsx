import { basename } from 'node:path';
import { Text } from 'ink';
import { useTui, useTuiContext } from '../hooks.ts';
import { hints } from '../keymap/keymap.ts';
import { LineView } from '../components/LineView.tsx';
import { seg, type Line, type Segment } from '../lines.ts';

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

/** The bottom line: the keys that work here (or a notice), and the model, steps, tokens and cost. */
export function StatusBar({ width }: { width: number }) {
  const { color } = useTuiContext();
  const state = useTui((s) => s);
  useTui((s) => s.open?.infoVersion);
  const open = state.open;
  const model = open?.model ?? open?.usage.lastModel ?? state.workspace.model;
  const simulated =
    open === null ? model.startsWith('scripted/') : open.usage.simulated || model.startsWith('scripted/');
  const right: string[] = [`${model}${simulated ? ' (simulated)' : ''}`];
  if (open !== null) {
    right.push(
      `${open.usage.calls} step${open.usage.calls === 1 ? '' : 's'}`,
      `${compact(open.usage.tokensIn + open.usage.tokensOut)} tok`,
      cost(open.usage.costUsd, simulated),
    );
  }
  const rightText = ` ${right.join(' · ')} `;
  const room = Math.max(0, width - rightText.length);
  const notice = state.notice;
  const left: Line =
    notice !== null
      ? [
          seg(` ${notice.text}`, {
            color: notice.tone === 'error' ? 'red' : notice.tone === 'warn' ? 'yellow' : 'cyan',
            bold: notice.tone !== 'info',
          }),
        ]
      : [seg(` ${fitHints(hints(state), room - 1)}`, { dim: true })];
  return (
    <Text>
      <LineView line={left} width={room} color={color} />
      <LineView line={[seg(rightText, { inverse: true })]} width={Math.min(width, rightText.length)} color={color} />
    </Text>
  );
}

/** As many hints as fit, in priority order; `? help` always keeps its place at the end when it applies. */
function fitHints(all: readonly string[], room: number): string {
  const help = all.find((h) => h.startsWith('? '));
  const budget = help === undefined ? room : room - help.length - 2;
  let out = '';
  for (const h of all) {
    if (h === help) continue;
    const next = out === '' ? h : `${out}  ${h}`;
    if (next.length > budget) break;
    out = next;
  }
  if (help === undefined) return out;
  return out === '' ? help : `${out}  ${help}`;
}

function compact(n: number): string {
  return n >= 1_000_000 ? `${(n / 1_000_000).toFixed(1)}M` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}

function cost(usd: number, simulated: boolean): string {
  const text = usd === 0 ? '$0' : usd < 0.01 ? `$${usd.toFixed(5)}` : `$${usd.toFixed(3)}`;
  return simulated ? `${text} sim` : text;
}

function statusColor(status: string): 'green' | 'red' | 'yellow' | 'cyan' {
  if (status === 'finished') return 'green';
  if (status === 'failed' || status === 'cancelled') return 'red';
  if (status === 'waiting' || status === 'paused') return 'yellow';
  return 'cyan';
}
