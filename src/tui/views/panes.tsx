import { Box, Text } from 'ink';
import { useRef } from 'react';
import { useTui, useTuiContext } from '../hooks.ts';
import { LinesView } from '../components/LineView.tsx';
import { seg, visibleRange, wrap, type Line } from '../lines.ts';
import { TimelineLines, frameLines, stackLines, streamingLines } from '../render-lines.ts';
import type { SessionProjection } from '../projection.ts';
import { PANE_TITLES, type LedgerPaneState, type PaneId, type TuiState } from '../state.ts';
import { terminalText } from '../../core/terminal-text.ts';

/** A pane: a title row (inverse when focused) and a window of lines that follows new lines unless scrolled. */
function Pane({
  id,
  width,
  height,
  lines,
  note,
}: {
  id: PaneId;
  width: number;
  height: number;
  lines: readonly Line[];
  note?: string;
}) {
  const { actions, color } = useTuiContext();
  const focused = useTui((s) => s.focus === id);
  const scroll = useTui((s) => s.scroll[id]);
  const contentHeight = Math.max(0, height - 1);
  // Scroll commands read this at key time: the pane's current size and length.
  actions.geometry.set(id, { total: lines.length, height: contentHeight });
  const { start, end } = visibleRange(lines.length, contentHeight, scroll.offset, scroll.follow);
  const position = lines.length > contentHeight ? ` ${end}/${lines.length}${scroll.follow ? '' : ' (scrolled)'}` : '';
  const title = ` ${PANE_TITLES[id]}${note === undefined ? '' : ` · ${note}`}${position} `;
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text inverse={focused} bold={focused} dimColor={!focused} wrap="truncate-end">
        {(focused ? `▌${title}` : ` ${title}`).padEnd(width).slice(0, width)}
      </Text>
      <LinesView lines={lines.slice(start, end)} width={width} height={contentHeight} color={color} />
    </Box>
  );
}

export function ConversationPane({ width, height }: { width: number; height: number }) {
  const projection = useTui((s) => s.open);
  useTui((s) => s.tick);
  const cache = useRef<{ projection: SessionProjection; lines: TimelineLines } | null>(null);
  if (projection === null) return <EmptyPane id="conversation" width={width} height={height} />;
  // A new projection (another session, or the same one after a checkout) starts the lines afresh.
  if (cache.current?.projection !== projection) cache.current = { projection, lines: new TimelineLines() };
  const lines = cache.current.lines.update(projection, width);
  const streaming = streamingLines(projection, width);
  return (
    <Pane
      id="conversation"
      width={width}
      height={height}
      lines={streaming.length === 0 ? lines : [...lines, ...streaming]}
    />
  );
}

export function FramesPane({ width, height }: { width: number; height: number }) {
  const projection = useTui((s) => s.open);
  const selected = useTui((s) => s.selectedConversation);
  useTui((s) => s.open?.framesVersion);
  // The title counts the frames marked ▶ (working now), so the marker explains itself.
  const working =
    projection === null
      ? 0
      : projection.order.filter((id) => projection.isActive(projection.conversations.get(id)!)).length;
  return (
    <Pane
      id="frames"
      width={width}
      height={height}
      lines={projection === null ? [] : frameLines(projection, selected)}
      {...(working > 0 ? { note: `▶ ${working} working` } : {})}
    />
  );
}

export function StackPane({ width, height }: { width: number; height: number }) {
  const projection = useTui((s) => s.open);
  const selected = useTui((s) => s.selectedConversation);
  useTui((s) => s.open?.framesVersion);
  const conv = projection === null ? undefined : projection.conversations.get(selected ?? projection.root ?? '');
  const note =
    conv === undefined
      ? undefined
      : `${conv.agent} · ${conv.parent === null ? 'root' : conv.path} · ${conv.state.phase}`;
  return (
    <Pane id="stack" width={width} height={height} lines={stackLines(conv)} {...(note === undefined ? {} : { note })} />
  );
}

export function EventsPane({ width, height }: { width: number; height: number }) {
  const projection = useTui((s) => s.open);
  useTui((s) => s.open?.eventsVersion);
  const lines = projection === null ? [] : eventLines(projection);
  return <Pane id="events" width={width} height={height} lines={lines} />;
}

export function JudgePane({ width, height }: { width: number; height: number }) {
  const projection = useTui((s) => s.open);
  const detail = useTui((s) => s.judgeDetail);
  useTui((s) => s.open?.judgeVersion);
  const lines = projection === null ? [] : judgeLines(projection, detail, width);
  const pending = projection === null ? 0 : [...projection.scores.values()].filter((v) => v.pending).length;
  return (
    <Pane
      id="judge"
      width={width}
      height={height}
      lines={lines}
      {...(pending > 0 ? { note: `${pending} judging` } : {})}
    />
  );
}

export function WalletsPane({ width, height }: { width: number; height: number }) {
  const wallets = useTui((s) => s.wallets);
  const ledger = useTui((s) => s.ledger);
  return (
    <Pane
      id="wallets"
      width={width}
      height={height}
      lines={walletLines(wallets, ledger, width)}
      {...(ledger.view === 'trail' ? { note: 'audit trail' } : {})}
    />
  );
}

/**
 * The Wallets pane: the chain's state on top (broken in red: writes are refused), then the balances of the
 * session's agents and their latest payments; or (a) the audit trail, newest link first.
 */
export function walletLines(wallets: TuiState['wallets'], ledger: LedgerPaneState, width: number): Line[] {
  const lines: Line[] = [];
  const chain = ledger.chain;
  // A broken chain comes first (writes are refused); a good one is said after the balances.
  const chainLine: Line | undefined = ledger.verifying
    ? [seg('verifying every link…', { dim: true })]
    : chain === null || !chain.ok
      ? undefined
      : [
          seg('chain ok', { color: 'green' }),
          seg(
            ` · ${chain.full ? 'every link verified' : 'new links checked (v: all)'} · ${chain.entries} updates` +
              (chain.head === null ? '' : ` · head ${chain.head.slice(0, 12)}`),
            { dim: true },
          ),
        ];
  if (chain !== null && !chain.ok && !ledger.verifying)
    lines.push(
      ...wrap(
        [seg(`AUDIT CHAIN BROKEN at ${chain.reason ?? ''} — writes are refused`, { color: 'red', bold: true })],
        width,
      ),
    );
  if (ledger.view === 'trail') {
    if (chainLine !== undefined) lines.push(chainLine);
    if (ledger.trail.length === 0)
      lines.push([seg(chain !== null && chain.entries > 0 ? 'reading the trail…' : 'no updates yet', { dim: true })]);
    for (const t of ledger.trail) {
      lines.push([
        seg(`${String(t.offset).padStart(6)} `, { dim: true }),
        seg(`${t.hash.slice(0, 12)} ← ${t.prevHash.slice(0, 8)} `),
        seg(`${t.at.slice(11, 19)} `, { dim: true }),
        seg(t.command),
      ]);
    }
    return lines;
  }
  if (wallets.length === 0) lines.push([seg('no wallets (p2tui ledger init)', { dim: true })]);
  const name = Math.min(16, Math.max(0, ...wallets.map((w) => w.agent.length)));
  for (const w of wallets)
    lines.push([
      seg(`${w.agent.padEnd(name)} `, { bold: true }),
      seg(w.balance.padStart(10)),
      seg(w.locked === '0' ? '' : `  ${w.locked} locked`, { dim: true }),
    ]);
  if (chainLine !== undefined) lines.push(chainLine);
  if (ledger.recent.length > 0) lines.push([seg('latest payments', { dim: true })]);
  for (const r of ledger.recent) {
    lines.push([
      seg(`${String(r.offset).padStart(6)} `, { dim: true }),
      seg(`${r.from} → ${r.to} `),
      seg(r.amount, { bold: true }),
      seg(r.reason === '' ? '' : `  ${r.reason}`, { dim: true }),
    ]);
  }
  return lines;
}

/** One line per evaluator and target: score, a bar, who judged; with `detail`, each criterion and the reason. */
export function judgeLines(projection: SessionProjection, detail: boolean, width: number): Line[] {
  if (projection.scores.size === 0)
    return [[seg('no scores yet (evaluators: judge.evaluators in p2tui.yaml)', { dim: true })]];
  const name = Math.min(14, Math.max(...[...projection.scores.values()].map((v) => v.evaluator.length)));
  const out: Line[] = [];
  for (const v of projection.scores.values()) {
    const ok = v.values.filter((x): x is number => x !== null);
    const mean = ok.length === 0 ? null : ok.reduce((a, b) => a + b, 0) / ok.length;
    const judge = v.model === 'scripted/judge' ? 'scripted judge' : (v.model ?? '');
    const value =
      v.pending && v.values.length === 0
        ? seg('judging…', { dim: true })
        : mean === null
          ? seg('judge failed', { color: 'red' })
          : seg(`${mean.toFixed(2)}${ok.length > 1 ? `±${spread(ok).toFixed(2)}` : ''} ${bar(mean)}`, {
              color: mean >= 0.7 ? 'green' : mean >= 0.4 ? 'yellow' : 'red',
            });
    out.push([
      seg(`${v.evaluator.padEnd(name)} `, { bold: true }),
      value,
      seg(
        `  ${projection.targetLabel(v.target)}${judge === '' ? '' : ` · ${judge}`}${v.pending && v.values.length > 0 ? ' · judging again' : ''}`,
        { dim: true },
      ),
    ]);
    if (!detail) continue;
    if (v.criteria.length === 0 && v.reasoning !== '')
      out.push(...wrap([seg(`  ${v.reasoning}`, { dim: true })], width));
    for (const c of v.criteria)
      out.push(
        ...wrap(
          [seg(`  ${c.id} `), seg(c.score === null ? '–' : c.score.toFixed(2)), seg(`  ${c.reason}`, { dim: true })],
          width,
        ),
      );
  }
  return out;
}

function bar(value: number): string {
  const cells = Math.round(value * 8);
  return '█'.repeat(cells) + '·'.repeat(8 - cells);
}

function spread(values: readonly number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(1, values.length - 1));
}

function eventLines(projection: SessionProjection): Line[] {
  return projection.events.map((e): Line => [
    seg(`${String(e.seq).padStart(5)} `, { dim: true }),
    seg(`${(e.type.length > 18 ? `${e.type.slice(0, 17)}…` : e.type).padEnd(18)} `, { color: 'blue' }), // fixed width: a long type cut, not pushing
    seg(e.text),
  ]);
}

function EmptyPane({ id, width, height }: { id: PaneId; width: number; height: number }) {
  return <Pane id={id} width={width} height={height} lines={[]} />;
}

/** The line where messages are typed; it turns into the answer prompt when an agent asks something. */
export function InputBar({ width }: { width: number }) {
  const { color } = useTuiContext();
  const focused = useTui((s) => s.focus === 'input');
  const text = useTui((s) => s.input.text);
  const cursor = useTui((s) => s.input.cursor);
  const newAgent = useTui((s) => s.newSessionAgent);
  const projection = useTui((s) => s.open);
  useTui((s) => s.open?.framesVersion);
  const status = useTui((s) => s.open?.status);
  const question = projection?.firstQuestion();
  // The question itself is drawn whole above the input (question.tsx): the line keeps its room for the answer.
  const prompt =
    question !== undefined ? `answer ${question.agent} › ` : newAgent !== null ? `message to ${newAgent} › ` : '› ';
  if (!focused) {
    const idle =
      question !== undefined
        ? `${question.agent} asks (above) — press i to answer`
        : status === 'running'
          ? 'agents are working… (i to write the next message)'
          : 'press i (or Enter) to write a message';
    return (
      <Text
        dimColor={question === undefined}
        {...(color && question !== undefined ? { color: 'yellow' } : {})}
        wrap="truncate-end"
      >
        {` ${idle}`.padEnd(width).slice(0, width)}
      </Text>
    );
  }
  // Keep the cursor in view: show the end of a long line.
  const room = Math.max(10, width - prompt.length - 1);
  const from = Math.max(0, cursor - room + 1);
  // A pasted text's newlines show as ⏎ (one column each, so the cursor stays where it is).
  const shown = text.slice(from, from + room).replace(/\n/g, '⏎');
  const at = cursor - from;
  return (
    <Text wrap="truncate-end">
      <Text bold {...(color ? { color: question !== undefined ? 'yellow' : 'green' } : {})}>
        {prompt}
      </Text>
      {/* Typed or pasted text may hold C1 controls or bidi overrides (only C0 is dropped on input): shown cleaned. */}
      <Text>{terminalText(shown.slice(0, at))}</Text>
      <Text inverse>{terminalText(shown[at] ?? ' ')}</Text>
      <Text>{terminalText(shown.slice(at + 1))}</Text>
    </Text>
  );
}

/** Wraps a paragraph for an overlay or an empty screen. */
export function paragraph(text: string, width: number): Line[] {
  return wrap([seg(text)], width);
}
