import { Box, Text } from 'ink';
import { useTui, useTuiContext } from '../hooks.ts';
import { LinesView } from '../components/LineView.tsx';
import { seg, visibleRange, wrap, type Line } from '../lines.ts';
import { TimelineLines, eventItems, frameLines, judgeItems, stackItems, streamingLines } from '../render-lines.ts';
import { selectedItem, type PaneItem } from '../detail.ts';
import { highlight, searchLabel } from '../search.ts';
import { keepInView } from '../scrolling.ts';
import type { SessionProjection } from '../projection.ts';
import { PANE_TITLES, type LedgerPaneState, type PaneId, type TuiState } from '../state.ts';
import { terminalText } from '../../core/terminal-text.ts';

/**
 * A pane: a title row (inverse when focused) and a window of lines that follows new lines unless scrolled. With
 * `items`, its rows can be selected (the selected one inverse while the pane has focus; Enter opens it, y copies it);
 * the matches of a search in it are highlighted.
 */
function Pane({
  id,
  width,
  height,
  lines,
  note,
  items,
}: {
  id: PaneId;
  width: number;
  height: number;
  lines: readonly Line[];
  note?: string;
  items?: readonly PaneItem[];
}) {
  const { actions, color } = useTuiContext();
  const focused = useTui((s) => s.focus === id);
  const scroll = useTui((s) => s.scroll[id]);
  const cursor = useTui((s) => s.rowCursor[id]);
  const search = useTui((s) => (s.search?.place === id ? s.search : null));
  const query = search?.query ?? '';
  const contentHeight = Math.max(0, height - 1);
  const range = visibleRange(lines.length, contentHeight, scroll.offset, scroll.follow);
  const selected =
    items === undefined ? undefined : selectedItem(items, cursor, id === 'conversation' ? range.end - 1 : null);
  // A selected row stays in view when the lines change under it (w rewraps them, new ones arrive).
  const start =
    cursor === undefined || selected === undefined || items === undefined
      ? range.start
      : keepInView(
          range.start,
          items[selected]!.line,
          (items[selected + 1]?.line ?? lines.length) - 1,
          lines.length,
          contentHeight,
        );
  const end = Math.min(lines.length, start + contentHeight);
  // Scroll, search and selection commands read this at key time: the pane's current size, lines and rows.
  actions.geometry.set(id, { total: lines.length, height: contentHeight, lines, start, ...(items ? { items } : {}) });
  let shown = lines.slice(start, end);
  if (focused && selected !== undefined && items !== undefined && id !== 'conversation') {
    const from = items[selected]!.line;
    const to = items[selected + 1]?.line ?? lines.length;
    shown = shown.map((l, i) => (start + i >= from && start + i < to ? l.map((x) => ({ ...x, inverse: true })) : l));
  }
  if (query !== '') shown = shown.map((l) => highlight(l, query));
  const position = lines.length > contentHeight ? ` ${end}/${lines.length}${scroll.follow ? '' : ' (scrolled)'}` : '';
  const found = search === null ? '' : ` · ${searchLabel(search, lines)}`;
  const title = ` ${PANE_TITLES[id]}${note === undefined ? '' : ` · ${note}`}${position}${found} `;
  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text inverse={focused} bold={focused} dimColor={!focused} wrap="truncate-end">
        {(focused ? `▌${title}` : ` ${title}`).padEnd(width).slice(0, width)}
      </Text>
      <LinesView lines={shown} width={width} height={contentHeight} color={color} />
    </Box>
  );
}

const TIMELINES = new WeakMap<SessionProjection, Map<number, TimelineLines>>();

export function ConversationPane({ width, height }: { width: number; height: number }) {
  const projection = useTui((s) => s.open);
  useTui((s) => s.tick);
  if (projection === null) return <EmptyPane id="conversation" width={width} height={height} />;
  // Per projection (a new one, another session or a checkout, starts afresh) and per width, so zooming (z) and back
  // reuses the lines already wrapped instead of wrapping every entry again.
  let byWidth = TIMELINES.get(projection);
  if (byWidth === undefined) TIMELINES.set(projection, (byWidth = new Map()));
  let timeline = byWidth.get(width);
  if (timeline === undefined) {
    // Two widths are kept (zoomed and not); a resize drops the others.
    if (byWidth.size >= 2) byWidth.clear();
    byWidth.set(width, (timeline = new TimelineLines()));
  }
  const lines = timeline.update(projection, width);
  const streaming = streamingLines(projection, width);
  return (
    <Pane
      id="conversation"
      width={width}
      height={height}
      lines={streaming.length === 0 ? lines : [...lines, ...streaming]}
      items={timeline.items}
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
  const wrapped = useTui((s) => s.wrapLines);
  const { lines, items } = stackItems(conv, wrapped ? width : null);
  return (
    <Pane
      id="stack"
      width={width}
      height={height}
      lines={lines}
      items={items}
      {...(note === undefined ? {} : { note })}
    />
  );
}

export function EventsPane({ width, height }: { width: number; height: number }) {
  const projection = useTui((s) => s.open);
  useTui((s) => s.open?.eventsVersion);
  const wrapped = useTui((s) => s.wrapLines);
  const { lines, items } =
    projection === null ? { lines: [], items: [] } : eventItems(projection, wrapped ? width : null);
  return <Pane id="events" width={width} height={height} lines={lines} items={items} />;
}

export function JudgePane({ width, height }: { width: number; height: number }) {
  const projection = useTui((s) => s.open);
  const detail = useTui((s) => s.judgeDetail);
  useTui((s) => s.open?.judgeVersion);
  const { lines, items } = projection === null ? { lines: [], items: [] } : judgeItems(projection, detail, width);
  const pending = projection === null ? 0 : [...projection.scores.values()].filter((v) => v.pending).length;
  return (
    <Pane
      id="judge"
      width={width}
      height={height}
      lines={lines}
      items={items}
      {...(pending > 0 ? { note: `${pending} judging` } : {})}
    />
  );
}

export function WalletsPane({ width, height }: { width: number; height: number }) {
  const wallets = useTui((s) => s.wallets);
  const ledger = useTui((s) => s.ledger);
  const { lines, items } = walletLines(wallets, ledger, width);
  return (
    <Pane
      id="wallets"
      width={width}
      height={height}
      lines={lines}
      items={items}
      {...(ledger.view === 'trail' ? { note: 'audit trail' } : {})}
    />
  );
}

/**
 * The Wallets pane: the chain's state on top (broken in red: writes are refused), then the balances of the
 * session's agents and their latest payments; or (a) the audit trail, newest link first.
 */
export function walletLines(
  wallets: TuiState['wallets'],
  ledger: LedgerPaneState,
  width: number,
): { lines: Line[]; items: PaneItem[] } {
  const lines: Line[] = [];
  // Payments and links are the pane's rows (Enter opens one, y copies it).
  const items: PaneItem[] = [];
  const row = (title: string, value: object): void => {
    items.push({ line: lines.length, title, text: () => JSON.stringify(value, null, 2) });
  };
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
      row(`audit link ${t.offset}`, t);
      lines.push([
        seg(`${String(t.offset).padStart(6)} `, { dim: true }),
        seg(`${t.hash.slice(0, 12)} ← ${t.prevHash.slice(0, 8)} `),
        seg(`${t.at.slice(11, 19)} `, { dim: true }),
        seg(t.command),
      ]);
    }
    return { lines, items };
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
    row(`payment ${r.offset} · ${r.from} → ${r.to}`, r);
    lines.push([
      seg(`${String(r.offset).padStart(6)} `, { dim: true }),
      seg(`${r.from} → ${r.to} `),
      seg(r.amount, { bold: true }),
      seg(r.reason === '' ? '' : `  ${r.reason}`, { dim: true }),
    ]);
  }
  return { lines, items };
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
          : 'press i to write a message (Enter opens the selected row)';
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
