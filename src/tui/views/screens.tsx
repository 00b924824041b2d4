import { Box, Text } from 'ink';
import { useTui, useTuiContext } from '../hooks.ts';
import { LinesView } from '../components/LineView.tsx';
import { Table } from '../components/Table.tsx';
import { seg, type Line } from '../lines.ts';
import { sessionLayout } from '../layout.ts';
import type { ReactElement } from 'react';
import type { PaneId } from '../state.ts';
import { visibleSessions } from '../sessions-list.ts';
import { questionLines } from './question.tsx';
import {
  ConversationPane,
  EventsPane,
  FramesPane,
  InputBar,
  JudgePane,
  StackPane,
  WalletsPane,
  paragraph,
} from './panes.tsx';

export function SessionScreen({ columns, height: full }: { columns: number; height: number }) {
  useTui((s) => s.open?.framesVersion);
  const asked = questionLines(
    useTui((s) => s.open),
    columns,
    Math.max(2, Math.floor(full / 3)),
  );
  const height = full - asked.length;
  const tall = useTui((s) => s.tallPane);
  const conversations = useTui((s) => s.open?.order.length ?? 1);
  const newAgent = useTui((s) => s.newSessionAgent);
  const open = useTui((s) => s.open !== null);
  const { color } = useTuiContext();
  const zoomed = useTui((s) => (s.zoom ? (s.focus === 'input' ? 'conversation' : s.focus) : null));
  const layout = sessionLayout(columns, height + 3, conversations, tall);
  const { panes } = layout;
  if (!open) {
    // A new session: its first message starts it.
    const intro: Line[] = [
      [seg(`New session with ${newAgent ?? '?'}`, { bold: true })],
      [],
      ...paragraph('Type the first message below and press Enter. Esc goes back to the sessions.', columns),
    ];
    return (
      <Box flexDirection="column" height={height + 1}>
        <LinesView lines={intro} width={columns} height={height} color={color} />
        <InputBar width={columns} />
      </Box>
    );
  }
  if (zoomed !== null) {
    // Zoom (z): the focused pane alone, as large as the panes' area; the header, input and hints stay.
    const Zoomed = PANE_VIEWS[zoomed];
    return (
      <Box flexDirection="column" height={height + 1}>
        <Zoomed width={columns} height={height} />
        <InputBar width={columns} />
      </Box>
    );
  }
  const right = (
    <Box flexDirection="column">
      <FramesPane width={panes.frames.width} height={panes.frames.height} />
      <StackPane width={panes.stack.width} height={panes.stack.height} />
    </Box>
  );
  return (
    <Box flexDirection="column" height={full + 1}>
      {layout.wide ? (
        <Box flexDirection="row" height={height}>
          <ConversationPane width={panes.conversation.width} height={panes.conversation.height} />
          <Separator height={height} />
          <Box flexDirection="column">
            {right}
            <JudgePane width={panes.judge.width} height={panes.judge.height} />
            <WalletsPane width={panes.wallets.width} height={panes.wallets.height} />
            <EventsPane width={panes.events.width} height={panes.events.height} />
          </Box>
        </Box>
      ) : (
        <Box flexDirection="column" height={height}>
          <ConversationPane width={panes.conversation.width} height={panes.conversation.height} />
          <Box flexDirection="row">
            {right}
            <Separator height={panes.judge.height + panes.wallets.height + panes.events.height} />
            <Box flexDirection="column">
              <JudgePane width={panes.judge.width} height={panes.judge.height} />
              <WalletsPane width={panes.wallets.width} height={panes.wallets.height} />
              <EventsPane width={panes.events.width} height={panes.events.height} />
            </Box>
          </Box>
        </Box>
      )}
      {asked.length > 0 && <LinesView lines={asked} width={columns} height={asked.length} color={color} />}
      <InputBar width={columns} />
    </Box>
  );
}

const PANE_VIEWS: Readonly<Record<PaneId, (p: { width: number; height: number }) => ReactElement>> = {
  conversation: ConversationPane,
  frames: FramesPane,
  stack: StackPane,
  events: EventsPane,
  judge: JudgePane,
  wallets: WalletsPane,
};

function Separator({ height }: { height: number }) {
  return (
    <Box flexDirection="column" width={1} height={height}>
      {Array.from({ length: height }, (_, i) => (
        <Text key={i} dimColor>
          │
        </Text>
      ))}
    </Box>
  );
}

export function SessionsScreen({ columns, height }: { columns: number; height: number }) {
  const all = useTui((s) => s.sessions);
  const showCells = useTui((s) => s.showCells);
  const search = useTui((s) => s.search);
  const { sessions, hiddenCells } = visibleSessions({ sessions: all, showCells, search });
  const cursor = useTui((s) => s.sessionsCursor);
  const { color, actions } = useTuiContext();
  const filter = search?.place === 'sessions' && search.query !== '' ? search.query : '';
  const typing = search?.place === 'sessions' && search.editing ? `filter: /${search.query}▍` : '';
  const footer: Line[] =
    hiddenCells > 0 || filter !== '' || typing !== ''
      ? [
          [
            seg(
              [
                typing,
                filter === ''
                  ? ''
                  : `${sessions.length} of ${all.length - hiddenCells} sessions match “${filter}” (Esc clears)`,
                hiddenCells === 0
                  ? ''
                  : `${hiddenCells} rollout cell session${hiddenCells === 1 ? '' : 's'} hidden (C shows them; R lists the rollouts)`,
              ]
                .filter((x) => x !== '')
                .join(' · '),
              { dim: true },
            ),
          ],
        ]
      : [];
  if (sessions.length === 0 && footer.length > 0)
    return (
      <LinesView
        lines={[[seg('No session matches.', { bold: true })], [], ...footer]}
        width={columns}
        height={height}
        color={color}
      />
    );
  if (sessions.length === 0) {
    const lines: Line[] = [
      [seg('No sessions yet.', { bold: true })],
      [],
      ...paragraph(
        'Press n to start one: pick an agent, type a message, and watch the agents work. ' +
          'Sessions started with p2tui run or p2tui chat in another terminal appear here too, live.',
        columns,
      ),
    ];
    return <LinesView lines={lines} width={columns} height={height} color={color} />;
  }
  const now = actions.clock.now();
  const rows = sessions.map((s) => [
    s.id,
    s.status,
    s.agent,
    s.driver === 'here' ? 'here' : s.driver === 'elsewhere' ? 'other' : '',
    age(now - s.createdAt),
    s.title,
  ]);
  return (
    <Box flexDirection="column" height={height}>
      <Table
        header={['SESSION', 'STATUS', 'AGENT', 'DRIVER', 'STARTED', 'TITLE']}
        rows={rows}
        width={columns}
        height={height - footer.length}
        cursor={cursor}
        color={color}
        tone={(row, column) => (column === 1 ? statusColor(row[1]!) : undefined)}
        {...(filter === '' ? {} : { query: filter })}
      />
      {footer.length > 0 ? <LinesView lines={footer} width={columns} height={1} color={color} /> : null}
    </Box>
  );
}

function statusColor(status: string): 'green' | 'red' | 'yellow' | 'cyan' {
  if (status === 'finished') return 'green';
  if (status === 'failed' || status === 'cancelled') return 'red';
  if (status === 'waiting' || status === 'paused') return 'yellow';
  return 'cyan';
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}
