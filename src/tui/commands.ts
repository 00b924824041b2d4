import type { Clock } from '../core/clock.ts';
import type { TuiBridge } from './bridge.ts';
import { keyLabel, type KeyInput } from './keys.ts';
import { paletteCompletions } from './palette.ts';
import {
  PANES,
  cycleFocus,
  deleteBack,
  deleteForward,
  deleteWord,
  focus,
  insertText,
  moveCursor,
  moveSessionsCursor,
  notify,
  scrollPane,
  selectConversation,
  setOverlay,
  type Overlay,
  type PaneId,
  type TextInput,
  type TuiState,
} from './state.ts';
import type { TuiStore } from './store.ts';

/**
 * The TUI's command registry. Every key binding, status-bar hint, line of the `?` help and entry of the `:` palette
 * comes from this one list, so they cannot disagree.
 */
export type Scope =
  | 'global'
  | 'sessions'
  | 'session'
  | 'scroll'
  | PaneId
  | 'input'
  | 'help'
  | 'palette'
  | 'agents'
  | 'confirm'
  | 'rewind'
  | 'fork-form'
  | 'branches'
  | 'artifacts'
  | 'diff'
  | 'rollouts'
  | 'grid';

export const SCOPE_TITLES: Readonly<Record<Scope, string>> = {
  global: 'Everywhere',
  sessions: 'Sessions list',
  session: 'Session',
  scroll: 'Scrolling a pane',
  conversation: 'Conversation pane',
  frames: 'Frames pane',
  stack: 'Stack pane',
  events: 'Events pane',
  judge: 'Judge pane',
  wallets: 'Wallets pane',
  input: 'Message input',
  help: 'Help',
  palette: 'Command palette',
  agents: 'Choosing an agent',
  confirm: 'Confirmation',
  rewind: 'Rewinding to a step',
  'fork-form': 'Forking with other settings',
  branches: 'Branches',
  artifacts: 'Artifacts',
  diff: 'Comparing',
  rollouts: 'Rollouts',
  grid: 'Rollout grid',
};

export interface TuiActions {
  readonly store: TuiStore;
  readonly bridge: TuiBridge;
  /** Each pane's line count and height at the last render, for scrolling. */
  readonly geometry: Map<string, { total: number; height: number }>;
  /** The app's clock (ages, the double Ctrl-C's window). */
  readonly clock: Clock;
  quit(): void;
  runPalette(line: string): void;
  abortPalette(): void;
}

export interface TuiCommand {
  readonly id: string;
  readonly title: string;
  /** Key names; the first is shown in hints. */
  readonly keys: readonly string[];
  readonly scope: Scope;
  /** Status-bar priority (lower first); absent: not shown in the bar. */
  readonly hint?: number;
  when?(s: TuiState): boolean;
  run(a: TuiActions, s: TuiState): void;
}

const set = (a: TuiActions, t: (s: TuiState) => TuiState): void => a.store.set(t);
const geometry = (a: TuiActions, id: string): { total: number; height: number } =>
  a.geometry.get(id) ?? { total: 0, height: 1 };
const scrolling = (s: TuiState): PaneId => (s.focus === 'input' ? 'conversation' : s.focus);
const scroll = (
  a: TuiActions,
  s: TuiState,
  move: number | 'top' | 'bottom' | 'page-up' | 'page-down' | 'half-up' | 'half-down',
): void => {
  const pane = scrolling(s);
  const g = geometry(a, pane);
  const page = Math.max(1, g.height - 1);
  const delta =
    move === 'page-up'
      ? -page
      : move === 'page-down'
        ? page
        : move === 'half-up'
          ? -Math.ceil(page / 2)
          : move === 'half-down'
            ? Math.ceil(page / 2)
            : move;
  set(a, (x) => scrollPane(x, pane, delta, g.total, g.height));
};
const editInput = (a: TuiActions, edit: (i: TextInput) => TextInput): void =>
  set(a, (s) => ({ ...s, input: edit(s.input) }));
const editPalette = (a: TuiActions, edit: (i: TextInput) => TextInput): void =>
  set(a, (s) => {
    if (s.overlay?.kind !== 'palette') return s;
    const next = edit({ text: s.overlay.text, cursor: s.overlay.cursor });
    return setOverlay(s, { ...s.overlay, text: next.text, cursor: next.cursor, selected: 0 });
  });

export const COMMANDS: readonly TuiCommand[] = [
  // Everywhere
  {
    id: 'help',
    title: 'help',
    keys: ['?'],
    scope: 'global',
    hint: 90,
    run: (a) => set(a, (s) => setOverlay(s, { kind: 'help', scroll: 0 })),
  },
  {
    id: 'palette',
    title: 'command palette',
    keys: [':'],
    scope: 'global',
    hint: 91,
    run: (a) =>
      set(a, (s) =>
        setOverlay(s, { kind: 'palette', text: '', cursor: 0, selected: 0, running: false, output: [], scroll: 0 }),
      ),
  },
  {
    id: 'quit-twice',
    title: 'quit (press twice)',
    keys: ['ctrl-c'],
    scope: 'global',
    run: (a, s) => {
      if (s.quitArmedAt !== null && a.clock.now() - s.quitArmedAt < 1500) return a.quit();
      set(a, (x) => ({ ...notify(x, 'press Ctrl-C again to quit', 'warn'), quitArmedAt: a.clock.now() }));
    },
  },

  // Sessions list
  {
    id: 'sessions-down',
    title: 'next session',
    keys: ['j', 'down'],
    scope: 'sessions',
    run: (a) => set(a, (s) => moveSessionsCursor(s, 1)),
  },
  {
    id: 'sessions-up',
    title: 'previous session',
    keys: ['k', 'up'],
    scope: 'sessions',
    run: (a) => set(a, (s) => moveSessionsCursor(s, -1)),
  },
  {
    id: 'sessions-top',
    title: 'first session',
    keys: ['g', 'home'],
    scope: 'sessions',
    run: (a) => set(a, (s) => moveSessionsCursor(s, 'top')),
  },
  {
    id: 'sessions-bottom',
    title: 'last session',
    keys: ['G', 'end'],
    scope: 'sessions',
    run: (a) => set(a, (s) => moveSessionsCursor(s, 'bottom')),
  },
  {
    id: 'sessions-page-down',
    title: 'page down',
    keys: ['pagedown', 'ctrl-d'],
    scope: 'sessions',
    run: (a) => set(a, (s) => moveSessionsCursor(s, 10)),
  },
  {
    id: 'sessions-page-up',
    title: 'page up',
    keys: ['pageup', 'ctrl-u'],
    scope: 'sessions',
    run: (a) => set(a, (s) => moveSessionsCursor(s, -10)),
  },
  {
    id: 'sessions-open',
    title: 'open',
    keys: ['enter', 'o'],
    scope: 'sessions',
    hint: 1,
    when: (s) => s.sessions.length > 0,
    run: (a, s) => {
      const session = s.sessions[s.sessionsCursor];
      if (session !== undefined) a.bridge.open(session.id);
    },
  },
  {
    id: 'new-session',
    title: 'new session',
    keys: ['n'],
    scope: 'sessions',
    hint: 0,
    run: (a) => set(a, (s) => setOverlay(s, { kind: 'agents', cursor: 0 })),
  },
  { id: 'quit', title: 'quit', keys: ['q'], scope: 'sessions', hint: 99, run: (a) => a.quit() },

  // A session
  {
    id: 'back',
    title: 'back to sessions',
    keys: ['escape', 'q'],
    scope: 'session',
    hint: 80,
    run: (a) => a.bridge.close(),
  },
  {
    id: 'focus-next',
    title: 'next pane',
    keys: ['tab'],
    scope: 'session',
    hint: 10,
    run: (a) => set(a, (s) => cycleFocus(s, 1)),
  },
  {
    id: 'focus-previous',
    title: 'previous pane',
    keys: ['shift-tab'],
    scope: 'session',
    run: (a) => set(a, (s) => cycleFocus(s, -1)),
  },
  ...PANES.map((pane, i): TuiCommand => ({
    id: `focus-${pane}`,
    title: `go to the ${pane} pane`,
    keys: [String(i + 1)],
    scope: 'session',
    run: (a) => set(a, (s) => focus(s, pane)),
  })),
  {
    id: 'focus-input',
    title: 'write a message',
    keys: ['i', 'enter'],
    scope: 'session',
    hint: 0,
    run: (a) => set(a, (s) => focus(s, 'input')),
  },
  {
    id: 'session-new',
    title: 'new session',
    keys: ['n'],
    scope: 'session',
    run: (a) => set(a, (s) => setOverlay(s, { kind: 'agents', cursor: 0 })),
  },
  {
    id: 'session-cancel',
    title: 'cancel the session',
    keys: ['c'],
    scope: 'session',
    hint: 40,
    when: (s) => s.open !== null && !['finished', 'cancelled'].includes(s.open.status),
    run: (a, s) =>
      set(a, (x) =>
        setOverlay(x, {
          kind: 'confirm',
          message: `Cancel session ${s.open?.id}? Running steps and calls stop.`,
          action: 'cancel-session',
        }),
      ),
  },
  {
    id: 'session-pause',
    title: 'pause / resume',
    keys: ['p'],
    scope: 'session',
    hint: 41,
    when: (s) => s.open !== null && ['running', 'waiting', 'paused'].includes(s.open.status),
    run: (a) => a.bridge.togglePause(),
  },
  {
    id: 'session-retry',
    title: 'retry what failed',
    keys: ['R'],
    scope: 'session',
    hint: 42,
    when: (s) => s.open?.status === 'failed',
    run: (a) => a.bridge.retry(),
  },
  {
    id: 'session-rewind',
    title: 'rewind to a step (of the conversation chosen in frames)',
    keys: ['r'],
    scope: 'session',
    hint: 43,
    when: (s) => s.open !== null && s.open.root !== null,
    run: (a, s) => {
      const conversation = s.selectedConversation ?? s.open?.root ?? null;
      const entries = conversation === null ? [] : (s.open?.conversations.get(conversation)?.entries ?? []);
      if (conversation === null || entries.length === 0) return;
      set(a, (x) => setOverlay(x, { kind: 'rewind', conversation, cursor: entries.length - 1 }));
    },
  },
  {
    id: 'session-branches',
    title: 'branches',
    keys: ['b'],
    scope: 'session',
    hint: 44,
    when: (s) => s.open !== null,
    run: (a) => set(a, (s) => setOverlay(s, { kind: 'branches', cursor: 0, items: a.bridge.branches() })),
  },
  {
    id: 'session-artifacts',
    title: 'artifacts: compare two',
    keys: ['A'],
    scope: 'session',
    when: (s) => s.open !== null,
    run: (a) =>
      set(a, (s) => setOverlay(s, { kind: 'artifacts', cursor: 0, marked: null, items: a.bridge.artifacts() })),
  },

  // Scrolling the focused pane
  {
    id: 'scroll-down',
    title: 'scroll down',
    keys: ['j', 'down'],
    scope: 'scroll',
    hint: 20,
    run: (a, s) => scroll(a, s, 1),
  },
  { id: 'scroll-up', title: 'scroll up', keys: ['k', 'up'], scope: 'scroll', run: (a, s) => scroll(a, s, -1) },
  {
    id: 'scroll-page-down',
    title: 'page down',
    keys: ['pagedown', 'ctrl-f'],
    scope: 'scroll',
    run: (a, s) => scroll(a, s, 'page-down'),
  },
  {
    id: 'scroll-page-up',
    title: 'page up',
    keys: ['pageup', 'ctrl-b'],
    scope: 'scroll',
    run: (a, s) => scroll(a, s, 'page-up'),
  },
  {
    id: 'scroll-half-down',
    title: 'half a page down',
    keys: ['ctrl-d'],
    scope: 'scroll',
    run: (a, s) => scroll(a, s, 'half-down'),
  },
  {
    id: 'scroll-half-up',
    title: 'half a page up',
    keys: ['ctrl-u'],
    scope: 'scroll',
    run: (a, s) => scroll(a, s, 'half-up'),
  },
  {
    id: 'scroll-top',
    title: 'top',
    keys: ['g', 'home'],
    scope: 'scroll',
    hint: 21,
    run: (a, s) => scroll(a, s, 'top'),
  },
  {
    id: 'scroll-bottom',
    title: 'bottom (follow new lines)',
    keys: ['G', 'end'],
    scope: 'scroll',
    hint: 22,
    run: (a, s) => scroll(a, s, 'bottom'),
  },

  // Frames: choose the conversation the stack pane shows
  {
    id: 'judge-detail',
    title: 'criteria and reasons',
    keys: ['c'],
    scope: 'judge',
    hint: 22,
    run: (a) => set(a, (s) => ({ ...s, judgeDetail: !s.judgeDetail })),
  },
  {
    id: 'ledger-trail',
    title: 'audit trail / wallets',
    keys: ['a'],
    scope: 'wallets',
    hint: 22,
    run: (a) => a.bridge.toggleLedgerView(),
  },
  {
    id: 'ledger-verify',
    title: 'verify the whole chain',
    keys: ['v'],
    scope: 'wallets',
    hint: 23,
    run: (a) => a.bridge.verifyLedger(),
  },
  {
    id: 'frame-down',
    title: 'next conversation',
    keys: ['j', 'down'],
    scope: 'frames',
    hint: 20,
    run: (a) => set(a, (s) => selectConversation(s, 1)),
  },
  {
    id: 'frame-up',
    title: 'previous conversation',
    keys: ['k', 'up'],
    scope: 'frames',
    run: (a) => set(a, (s) => selectConversation(s, -1)),
  },
  {
    id: 'frame-show',
    title: 'show its stack',
    keys: ['enter', 'l'],
    scope: 'frames',
    hint: 21,
    run: (a) => set(a, (s) => focus(s, 'stack')),
  },

  // The message input
  {
    id: 'input-submit',
    title: 'send / answer',
    keys: ['enter'],
    scope: 'input',
    hint: 0,
    run: (a, s) => {
      const text = s.input.text.trim();
      if (text === '') return;
      const question = s.open?.firstQuestion();
      set(a, (x) => ({ ...x, input: { text: '', cursor: 0 } }));
      if (s.open === null && s.newSessionAgent !== null) a.bridge.startSession(s.newSessionAgent, text);
      else if (question !== undefined) a.bridge.answer(question.callId, text);
      else a.bridge.send(text);
    },
  },
  {
    id: 'input-leave',
    title: 'leave the input',
    keys: ['escape'],
    scope: 'input',
    hint: 1,
    run: (a, s) => (s.open === null ? a.bridge.close() : set(a, (x) => focus(x, 'conversation'))),
  },
  {
    id: 'input-next-pane',
    title: 'next pane',
    keys: ['tab'],
    scope: 'input',
    run: (a, s) => s.open !== null && set(a, (x) => cycleFocus(x, 1)),
  },
  { id: 'input-back', title: 'delete back', keys: ['backspace'], scope: 'input', run: (a) => editInput(a, deleteBack) },
  {
    id: 'input-delete',
    title: 'delete',
    keys: ['delete', 'ctrl-d'],
    scope: 'input',
    run: (a) => editInput(a, deleteForward),
  },
  {
    id: 'input-left',
    title: 'cursor left',
    keys: ['left', 'ctrl-b'],
    scope: 'input',
    run: (a) => editInput(a, (i) => moveCursor(i, -1)),
  },
  {
    id: 'input-right',
    title: 'cursor right',
    keys: ['right', 'ctrl-f'],
    scope: 'input',
    run: (a) => editInput(a, (i) => moveCursor(i, 1)),
  },
  {
    id: 'input-home',
    title: 'start of line',
    keys: ['home', 'ctrl-a'],
    scope: 'input',
    run: (a) => editInput(a, (i) => moveCursor(i, 'start')),
  },
  {
    id: 'input-end',
    title: 'end of line',
    keys: ['end', 'ctrl-e'],
    scope: 'input',
    run: (a) => editInput(a, (i) => moveCursor(i, 'end')),
  },
  { id: 'input-word', title: 'delete word', keys: ['ctrl-w'], scope: 'input', run: (a) => editInput(a, deleteWord) },
  {
    id: 'input-clear',
    title: 'clear',
    keys: ['ctrl-u'],
    scope: 'input',
    run: (a) => editInput(a, () => ({ text: '', cursor: 0 })),
  },
  {
    id: 'input-scroll-up',
    title: 'scroll the conversation up',
    keys: ['pageup'],
    scope: 'input',
    run: (a, s) => scroll(a, s, 'page-up'),
  },
  {
    id: 'input-scroll-down',
    title: 'scroll the conversation down',
    keys: ['pagedown'],
    scope: 'input',
    run: (a, s) => scroll(a, s, 'page-down'),
  },

  // Overlays
  {
    id: 'help-close',
    title: 'close help',
    keys: ['escape', '?', 'q'],
    scope: 'help',
    hint: 0,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },
  {
    id: 'help-down',
    title: 'scroll down',
    keys: ['j', 'down', 'pagedown'],
    scope: 'help',
    hint: 1,
    run: (a) => set(a, (s) => scrollOverlay(s, a, 1)),
  },
  {
    id: 'help-up',
    title: 'scroll up',
    keys: ['k', 'up', 'pageup'],
    scope: 'help',
    run: (a) => set(a, (s) => scrollOverlay(s, a, -1)),
  },

  {
    id: 'agents-down',
    title: 'next agent',
    keys: ['j', 'down'],
    scope: 'agents',
    run: (a) => set(a, (s) => moveAgents(s, 1)),
  },
  {
    id: 'agents-up',
    title: 'previous agent',
    keys: ['k', 'up'],
    scope: 'agents',
    run: (a) => set(a, (s) => moveAgents(s, -1)),
  },
  {
    id: 'agents-choose',
    title: 'talk to this agent',
    keys: ['enter'],
    scope: 'agents',
    hint: 0,
    run: (a, s) => {
      const agent = s.overlay?.kind === 'agents' ? s.workspace.agents[s.overlay.cursor] : undefined;
      if (agent === undefined) return;
      a.bridge.close();
      set(a, (x) => ({
        ...setOverlay(x, null),
        screen: 'session',
        focus: 'input',
        newSessionAgent: agent.id,
        input: { text: '', cursor: 0 },
      }));
    },
  },
  {
    id: 'agents-close',
    title: 'close',
    keys: ['escape', 'q'],
    scope: 'agents',
    hint: 1,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },

  {
    id: 'rewind-down',
    title: 'next step',
    keys: ['j', 'down'],
    scope: 'rewind',
    run: (a) => set(a, (s) => moveRewind(s, 1)),
  },
  {
    id: 'rewind-up',
    title: 'previous step',
    keys: ['k', 'up'],
    scope: 'rewind',
    run: (a) => set(a, (s) => moveRewind(s, -1)),
  },
  {
    id: 'rewind-top',
    title: 'first step',
    keys: ['g', 'home'],
    scope: 'rewind',
    run: (a) => set(a, (s) => moveRewind(s, -Infinity)),
  },
  {
    id: 'rewind-bottom',
    title: 'last step',
    keys: ['G', 'end'],
    scope: 'rewind',
    run: (a) => set(a, (s) => moveRewind(s, Infinity)),
  },
  {
    id: 'rewind-here',
    title: 'rewind here (fork and check out)',
    keys: ['enter'],
    scope: 'rewind',
    hint: 0,
    run: (a, s) => forkAtCursor(a, s, true),
  },
  {
    id: 'rewind-fork',
    title: 'fork here (keep this branch checked out)',
    keys: ['f'],
    scope: 'rewind',
    hint: 1,
    run: (a, s) => forkAtCursor(a, s, false),
  },
  {
    id: 'rewind-form',
    title: 'fork here with another model, temperature or system prompt',
    keys: ['o'],
    scope: 'rewind',
    hint: 2,
    run: (a, s) => {
      if (s.overlay?.kind !== 'rewind') return;
      const conv = s.open?.conversations.get(s.overlay.conversation);
      const entry = conv?.entries[s.overlay.cursor];
      if (conv === undefined || entry === undefined) return;
      set(a, (x) =>
        setOverlay(x, {
          kind: 'fork-form',
          atSeq: entry.seq,
          step: `${conv.agent} #${s.overlay?.kind === 'rewind' ? s.overlay.cursor : 0}`,
          agent: conv.agent,
          values: ['', '', '', ''],
          field: 0,
          cursor: 0,
        }),
      );
    },
  },
  {
    id: 'rewind-close',
    title: 'close',
    keys: ['escape', 'q'],
    scope: 'rewind',
    hint: 3,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },

  {
    id: 'form-next',
    title: 'next field',
    keys: ['tab', 'down'],
    scope: 'fork-form',
    hint: 1,
    run: (a) => set(a, (s) => moveFormField(s, 1)),
  },
  {
    id: 'form-previous',
    title: 'previous field',
    keys: ['shift-tab', 'up'],
    scope: 'fork-form',
    run: (a) => set(a, (s) => moveFormField(s, -1)),
  },
  {
    id: 'form-submit',
    title: 'fork and check out',
    keys: ['enter'],
    scope: 'fork-form',
    hint: 0,
    run: (a, s) => {
      if (s.overlay?.kind !== 'fork-form') return;
      const form = s.overlay;
      set(a, (x) => setOverlay(x, null));
      a.bridge.forkWith(form.atSeq, form.step, form.agent, form.values);
    },
  },
  {
    id: 'form-cancel',
    title: 'cancel',
    keys: ['escape'],
    scope: 'fork-form',
    hint: 2,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },
  {
    id: 'form-back',
    title: 'delete back',
    keys: ['backspace'],
    scope: 'fork-form',
    run: (a) => editForm(a, deleteBack),
  },
  {
    id: 'form-left',
    title: 'cursor left',
    keys: ['left'],
    scope: 'fork-form',
    run: (a) => editForm(a, (i) => moveCursor(i, -1)),
  },
  {
    id: 'form-right',
    title: 'cursor right',
    keys: ['right'],
    scope: 'fork-form',
    run: (a) => editForm(a, (i) => moveCursor(i, 1)),
  },
  {
    id: 'form-clear',
    title: 'clear the field',
    keys: ['ctrl-u'],
    scope: 'fork-form',
    run: (a) => editForm(a, () => ({ text: '', cursor: 0 })),
  },

  {
    id: 'rollouts-open',
    title: 'rollouts',
    keys: ['R'],
    scope: 'sessions',
    hint: 30,
    run: (a) => set(a, (s) => setOverlay(s, { kind: 'rollouts', cursor: 0, items: a.bridge.rollouts() })),
  },
  {
    id: 'session-rollouts',
    title: 'rollouts',
    keys: ['R'],
    scope: 'session',
    run: (a) => set(a, (s) => setOverlay(s, { kind: 'rollouts', cursor: 0, items: a.bridge.rollouts() })),
  },
  {
    id: 'rollouts-down',
    title: 'next rollout',
    keys: ['j', 'down'],
    scope: 'rollouts',
    run: (a) => set(a, (s) => moveRollouts(s, 1)),
  },
  {
    id: 'rollouts-up',
    title: 'previous rollout',
    keys: ['k', 'up'],
    scope: 'rollouts',
    run: (a) => set(a, (s) => moveRollouts(s, -1)),
  },
  {
    id: 'rollouts-grid',
    title: 'open its grid',
    keys: ['enter'],
    scope: 'rollouts',
    hint: 0,
    run: (a, s) => {
      const item = s.overlay?.kind === 'rollouts' ? s.overlay.items[s.overlay.cursor] : undefined;
      if (item !== undefined) a.bridge.openGrid(item.id);
    },
  },
  {
    id: 'rollouts-close',
    title: 'close',
    keys: ['escape', 'q'],
    scope: 'rollouts',
    hint: 2,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },

  {
    id: 'grid-down',
    title: 'next variant',
    keys: ['j', 'down'],
    scope: 'grid',
    run: (a) => set(a, (s) => moveGrid(s, 1, 0)),
  },
  {
    id: 'grid-up',
    title: 'previous variant',
    keys: ['k', 'up'],
    scope: 'grid',
    run: (a) => set(a, (s) => moveGrid(s, -1, 0)),
  },
  {
    id: 'grid-right',
    title: 'next column',
    keys: ['l', 'right'],
    scope: 'grid',
    run: (a) => set(a, (s) => moveGrid(s, 0, 1)),
  },
  {
    id: 'grid-left',
    title: 'previous column',
    keys: ['h', 'left'],
    scope: 'grid',
    run: (a) => set(a, (s) => moveGrid(s, 0, -1)),
  },
  {
    id: 'grid-repeat',
    title: 'next repeat (what Enter opens)',
    keys: ['.'],
    scope: 'grid',
    run: (a) =>
      set(a, (s) => (s.overlay?.kind === 'grid' ? setOverlay(s, { ...s.overlay, repeat: s.overlay.repeat + 1 }) : s)),
  },
  {
    id: 'grid-open',
    title: 'open the cell’s session',
    keys: ['enter'],
    scope: 'grid',
    hint: 0,
    run: (a, s) => a.bridge.openGridCell(s),
  },
  {
    id: 'grid-metric',
    title: 'next metric',
    keys: ['m'],
    scope: 'grid',
    hint: 1,
    run: (a) =>
      a.bridge.regrid((o, g) => ({
        ...o,
        metric: g.metrics[(g.metrics.indexOf(g.metric ?? '') + 1) % Math.max(1, g.metrics.length)] ?? '',
      })),
  },
  {
    id: 'grid-columns',
    title: 'columns: scenarios / metrics',
    keys: ['c'],
    scope: 'grid',
    hint: 2,
    run: (a) => a.bridge.regrid((o) => ({ ...o, by: o.by === 'scenarios' ? 'metrics' : 'scenarios' })),
  },
  {
    id: 'grid-sort',
    title: 'sort: spec order / best first',
    keys: ['s'],
    scope: 'grid',
    hint: 3,
    run: (a) => a.bridge.regrid((o) => ({ ...o, sort: o.sort === 'spec' ? 'score' : 'spec' })),
  },
  {
    id: 'grid-close',
    title: 'back to the rollouts',
    keys: ['escape', 'q'],
    scope: 'grid',
    hint: 4,
    run: (a) => set(a, (s) => setOverlay(s, { kind: 'rollouts', cursor: 0, items: a.bridge.rollouts() })),
  },

  {
    id: 'branches-down',
    title: 'next branch',
    keys: ['j', 'down'],
    scope: 'branches',
    run: (a) => set(a, (s) => moveBranches(s, 1)),
  },
  {
    id: 'branches-up',
    title: 'previous branch',
    keys: ['k', 'up'],
    scope: 'branches',
    run: (a) => set(a, (s) => moveBranches(s, -1)),
  },
  {
    id: 'branches-checkout',
    title: 'check out',
    keys: ['enter'],
    scope: 'branches',
    hint: 0,
    run: (a, s) => {
      const item = s.overlay?.kind === 'branches' ? s.overlay.items[s.overlay.cursor] : undefined;
      set(a, (x) => setOverlay(x, null));
      if (item !== undefined && !item.checkedOut) a.bridge.checkout(item.id);
    },
  },
  {
    id: 'branches-diff',
    title: 'compare with the checked-out branch',
    keys: ['d'],
    scope: 'branches',
    hint: 1,
    run: (a, s) => {
      const item = s.overlay?.kind === 'branches' ? s.overlay.items[s.overlay.cursor] : undefined;
      if (item === undefined) return;
      const overlay = a.bridge.diff(item.id);
      if (overlay !== undefined) set(a, (x) => setOverlay(x, overlay));
    },
  },
  {
    id: 'branches-close',
    title: 'close',
    keys: ['escape', 'q', 'b'],
    scope: 'branches',
    hint: 2,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },

  {
    id: 'artifacts-down',
    title: 'next',
    keys: ['j', 'down'],
    scope: 'artifacts',
    run: (a) => set(a, (s) => moveArtifacts(s, 1)),
  },
  {
    id: 'artifacts-up',
    title: 'previous',
    keys: ['k', 'up'],
    scope: 'artifacts',
    run: (a) => set(a, (s) => moveArtifacts(s, -1)),
  },
  {
    id: 'artifacts-mark',
    title: 'mark (the one to compare from)',
    keys: ['m'],
    scope: 'artifacts',
    hint: 0,
    run: (a) =>
      set(a, (s) => (s.overlay?.kind === 'artifacts' ? setOverlay(s, { ...s.overlay, marked: s.overlay.cursor }) : s)),
  },
  {
    id: 'artifacts-diff',
    title: 'compare the marked one with this one',
    keys: ['d', 'enter'],
    scope: 'artifacts',
    hint: 1,
    run: (a, s) => {
      if (s.overlay?.kind !== 'artifacts' || s.overlay.marked === null)
        return set(a, (x) => notify(x, 'mark one first (m), then d on another', 'warn'));
      const from = s.overlay.items[s.overlay.marked];
      const to = s.overlay.items[s.overlay.cursor];
      if (from === undefined || to === undefined) return;
      const overlay = a.bridge.diffArtifacts(from, to);
      if (overlay !== undefined) set(a, (x) => setOverlay(x, overlay));
    },
  },
  {
    id: 'artifacts-close',
    title: 'close',
    keys: ['escape', 'q'],
    scope: 'artifacts',
    hint: 2,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },

  {
    id: 'diff-down',
    title: 'scroll down',
    keys: ['j', 'down'],
    scope: 'diff',
    run: (a) => set(a, (s) => scrollDiff(s, a, 1)),
  },
  {
    id: 'diff-up',
    title: 'scroll up',
    keys: ['k', 'up'],
    scope: 'diff',
    run: (a) => set(a, (s) => scrollDiff(s, a, -1)),
  },
  {
    id: 'diff-page-down',
    title: 'page down',
    keys: ['pagedown', 'ctrl-f'],
    scope: 'diff',
    hint: 1,
    run: (a) => set(a, (s) => scrollDiff(s, a, 'page')),
  },
  {
    id: 'diff-page-up',
    title: 'page up',
    keys: ['pageup', 'ctrl-b'],
    scope: 'diff',
    run: (a) => set(a, (s) => scrollDiff(s, a, '-page')),
  },
  {
    id: 'diff-top',
    title: 'top',
    keys: ['g', 'home'],
    scope: 'diff',
    run: (a) => set(a, (s) => scrollDiff(s, a, 'top')),
  },
  {
    id: 'diff-mode',
    title: 'side by side / unified',
    keys: ['u'],
    scope: 'diff',
    hint: 0,
    run: (a) =>
      set(a, (s) =>
        s.overlay?.kind === 'diff'
          ? setOverlay(s, { ...s.overlay, mode: s.overlay.mode === 'side' ? 'unified' : 'side', scroll: 0 })
          : s,
      ),
  },
  {
    id: 'diff-close',
    title: 'close',
    keys: ['escape', 'q'],
    scope: 'diff',
    hint: 2,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },

  {
    id: 'confirm-yes',
    title: 'yes',
    keys: ['y', 'enter'],
    scope: 'confirm',
    hint: 0,
    run: (a, s) => {
      const action = s.overlay?.kind === 'confirm' ? s.overlay.action : undefined;
      set(a, (x) => setOverlay(x, null));
      if (action === 'cancel-session') a.bridge.cancel();
      else if (action === 'quit') a.quit();
    },
  },
  {
    id: 'confirm-no',
    title: 'no',
    keys: ['n', 'escape', 'q'],
    scope: 'confirm',
    hint: 1,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },

  {
    id: 'palette-run',
    title: 'run (or complete)',
    keys: ['enter'],
    scope: 'palette',
    hint: 0,
    run: (a, s) => {
      if (s.overlay?.kind !== 'palette' || s.overlay.running) return;
      const typed = s.overlay.text.trim();
      const exact = paletteCompletions(typed).some((c) => typed === c.text || typed.startsWith(`${c.text} `));
      const selected = paletteCompletions(s.overlay.text)[s.overlay.selected];
      if (!exact && selected !== undefined)
        editPalette(a, () => ({ text: `${selected.text} `, cursor: selected.text.length + 1 }));
      else if (typed !== '') a.runPalette(typed);
    },
  },
  {
    id: 'palette-complete',
    title: 'complete',
    keys: ['tab'],
    scope: 'palette',
    hint: 1,
    run: (a, s) => {
      if (s.overlay?.kind !== 'palette') return;
      const completion = paletteCompletions(s.overlay.text)[s.overlay.selected];
      if (completion !== undefined)
        editPalette(a, () => ({ text: `${completion.text} `, cursor: completion.text.length + 1 }));
    },
  },
  {
    id: 'palette-next',
    title: 'next suggestion',
    keys: ['down', 'ctrl-n'],
    scope: 'palette',
    run: (a) => set(a, (s) => movePaletteSelection(s, 1)),
  },
  {
    id: 'palette-previous',
    title: 'previous suggestion',
    keys: ['up', 'ctrl-p'],
    scope: 'palette',
    run: (a) => set(a, (s) => movePaletteSelection(s, -1)),
  },
  {
    id: 'palette-scroll-down',
    title: 'scroll output',
    keys: ['pagedown'],
    scope: 'palette',
    run: (a) => set(a, (s) => scrollOverlay(s, a, 1)),
  },
  {
    id: 'palette-scroll-up',
    title: 'scroll output',
    keys: ['pageup'],
    scope: 'palette',
    run: (a) => set(a, (s) => scrollOverlay(s, a, -1)),
  },
  {
    id: 'palette-close',
    title: 'close (stop a running command)',
    keys: ['escape'],
    scope: 'palette',
    hint: 2,
    run: (a, s) => {
      if (s.overlay?.kind === 'palette' && s.overlay.running) a.abortPalette();
      set(a, (x) => setOverlay(x, null));
    },
  },
  {
    id: 'palette-back',
    title: 'delete back',
    keys: ['backspace'],
    scope: 'palette',
    run: (a) => editPalette(a, deleteBack),
  },
  {
    id: 'palette-left',
    title: 'cursor left',
    keys: ['left'],
    scope: 'palette',
    run: (a) => editPalette(a, (i) => moveCursor(i, -1)),
  },
  {
    id: 'palette-right',
    title: 'cursor right',
    keys: ['right'],
    scope: 'palette',
    run: (a) => editPalette(a, (i) => moveCursor(i, 1)),
  },
  {
    id: 'palette-word',
    title: 'delete word',
    keys: ['ctrl-w'],
    scope: 'palette',
    run: (a) => editPalette(a, deleteWord),
  },
  {
    id: 'palette-clear',
    title: 'clear',
    keys: ['ctrl-u'],
    scope: 'palette',
    run: (a) => editPalette(a, () => ({ text: '', cursor: 0 })),
  },
];

function scrollDiff(s: TuiState, a: TuiActions, move: number | 'page' | '-page' | 'top'): TuiState {
  if (s.overlay?.kind !== 'diff') return s;
  const g = geometry(a, 'diff');
  const page = Math.max(1, g.height - 1);
  const delta = move === 'page' ? page : move === '-page' ? -page : move === 'top' ? -s.overlay.scroll : move;
  const scroll = Math.min(Math.max(0, g.total - g.height), Math.max(0, s.overlay.scroll + delta));
  return setOverlay(s, { ...s.overlay, scroll });
}

const editForm = (a: TuiActions, edit: (i: TextInput) => TextInput): void =>
  set(a, (s) => {
    if (s.overlay?.kind !== 'fork-form') return s;
    const form = s.overlay;
    const next = edit({ text: form.values[form.field] ?? '', cursor: form.cursor });
    return setOverlay(s, {
      ...form,
      values: form.values.map((v, i) => (i === form.field ? next.text : v)),
      cursor: next.cursor,
    });
  });

/** A list cursor moved by `move` (±Infinity for the ends), kept on the list's `count` items. */
function listCursor(cursor: number, move: number, count: number): number {
  return Math.min(Math.max(0, count - 1), Math.max(0, cursor + move));
}

function moveFormField(s: TuiState, move: number): TuiState {
  if (s.overlay?.kind !== 'fork-form') return s;
  const field = (s.overlay.field + move + s.overlay.values.length) % s.overlay.values.length;
  return setOverlay(s, { ...s.overlay, field, cursor: (s.overlay.values[field] ?? '').length });
}

function moveArtifacts(s: TuiState, move: number): TuiState {
  if (s.overlay?.kind !== 'artifacts') return s;
  return setOverlay(s, { ...s.overlay, cursor: listCursor(s.overlay.cursor, move, s.overlay.items.length) });
}

function moveRewind(s: TuiState, move: number): TuiState {
  if (s.overlay?.kind !== 'rewind') return s;
  const count = s.open?.conversations.get(s.overlay.conversation)?.entries.length ?? 0;
  const cursor = listCursor(s.overlay.cursor, move, count);
  return setOverlay(s, { ...s.overlay, cursor });
}

function moveRollouts(s: TuiState, move: number): TuiState {
  if (s.overlay?.kind !== 'rollouts') return s;
  return setOverlay(s, { ...s.overlay, cursor: listCursor(s.overlay.cursor, move, s.overlay.items.length) });
}

function moveGrid(s: TuiState, rows: number, cols: number): TuiState {
  if (s.overlay?.kind !== 'grid') return s;
  const g = s.overlay.grid;
  const row = Math.max(0, Math.min(g.rows.length - 1, s.overlay.row + rows));
  const col = Math.max(0, Math.min(g.columns.length - 1, s.overlay.col + cols));
  return setOverlay(s, { ...s.overlay, row, col, repeat: 0 });
}

function moveBranches(s: TuiState, move: number): TuiState {
  if (s.overlay?.kind !== 'branches') return s;
  return setOverlay(s, { ...s.overlay, cursor: listCursor(s.overlay.cursor, move, s.overlay.items.length) });
}

/** Forks at the entry under the rewind cursor; `checkout` makes it a rewind. */
function forkAtCursor(a: TuiActions, s: TuiState, checkout: boolean): void {
  if (s.overlay?.kind !== 'rewind') return;
  const conv = s.open?.conversations.get(s.overlay.conversation);
  const entry = conv?.entries[s.overlay.cursor];
  set(a, (x) => setOverlay(x, null));
  if (conv === undefined || entry === undefined) return;
  a.bridge.fork(entry.seq, `${conv.agent} #${s.overlay.cursor}`, checkout);
}

function moveAgents(s: TuiState, move: number): TuiState {
  if (s.overlay?.kind !== 'agents') return s;
  return setOverlay(s, { kind: 'agents', cursor: listCursor(s.overlay.cursor, move, s.workspace.agents.length) });
}

function movePaletteSelection(s: TuiState, move: number): TuiState {
  if (s.overlay?.kind !== 'palette') return s;
  const count = paletteCompletions(s.overlay.text).length;
  if (count === 0) return s;
  return setOverlay(s, { ...s.overlay, selected: (s.overlay.selected + move + count) % count });
}

function scrollOverlay(s: TuiState, a: TuiActions, direction: 1 | -1): TuiState {
  const overlay = s.overlay;
  if (overlay === null || (overlay.kind !== 'help' && overlay.kind !== 'palette')) return s;
  const g = geometry(a, overlay.kind);
  const step = overlay.kind === 'help' ? 1 : Math.max(1, g.height - 1);
  const max = Math.max(0, g.total - g.height);
  const next: Overlay = { ...overlay, scroll: Math.min(max, Math.max(0, overlay.scroll + direction * step)) };
  return setOverlay(s, next);
}

/** The scopes whose commands apply now, most specific first. */
export function activeScopes(s: TuiState): Scope[] {
  if (s.overlay !== null) return [s.overlay.kind];
  if (s.screen === 'sessions') return ['sessions', 'global'];
  if (s.focus === 'input' || (s.open === null && s.newSessionAgent !== null)) return ['input', 'global'];
  const scopes: Scope[] = [s.focus];
  if (s.focus !== 'frames') scopes.push('scroll');
  scopes.push('session', 'global');
  return scopes;
}

/** Text-entry scopes take typed characters that no command claims. */
const TEXT_SCOPES: readonly Scope[] = ['input', 'palette', 'fork-form'];

/** Handles one key input: each key name goes to the first command of the active scopes that binds it. */
export function dispatch(a: TuiActions, input: KeyInput): void {
  const state = a.store.get();
  const scopes = activeScopes(state);
  const texting = TEXT_SCOPES.includes(scopes[0]!);
  if (state.notice !== null && state.quitArmedAt === null) a.store.set((s) => ({ ...s, notice: null }));
  if (texting && input.text !== undefined) {
    // A text field takes what is typed (a paste stays one insertion); special keys still run commands.
    if (scopes[0] === 'palette') editPalette(a, (i) => insertText(i, input.text!));
    else if (scopes[0] === 'fork-form') editForm(a, (i) => insertText(i, input.text!));
    else editInput(a, (i) => insertText(i, input.text!));
    return;
  }
  for (const name of input.names) {
    const current = a.store.get();
    // Ctrl-C arms or quits from anywhere, even inside an overlay or the input.
    const layers = name === 'ctrl-c' ? (['global'] as Scope[]) : activeScopes(current);
    const command = COMMANDS.find(
      (c) => layers.includes(c.scope) && c.keys.includes(name) && (c.when?.(current) ?? true),
    );
    if (command !== undefined) {
      if (name !== 'ctrl-c' && current.quitArmedAt !== null)
        a.store.set((s) => ({ ...s, quitArmedAt: null, notice: null }));
      command.run(a, current);
    }
  }
}

/** The key hints the status bar shows now, most useful first. */
export function hints(s: TuiState): string[] {
  const scopes = activeScopes(s);
  const seen = new Set<string>();
  return COMMANDS.filter((c) => c.hint !== undefined && scopes.includes(c.scope) && (c.when?.(s) ?? true))
    .sort((x, y) => x.hint! - y.hint! || scopes.indexOf(x.scope) - scopes.indexOf(y.scope))
    .filter((c) => !seen.has(c.keys[0]!) && seen.add(c.keys[0]!))
    .map((c) => `${keyLabel(c.keys[0]!)} ${c.title}`);
}

/** Help: every command, grouped by where it applies, the current places first. */
export function helpSections(s: TuiState): { title: string; rows: { keys: string; title: string }[] }[] {
  const scopes = activeScopes(s.overlay?.kind === 'help' ? { ...s, overlay: null } : s);
  const order = [...scopes, ...(Object.keys(SCOPE_TITLES) as Scope[]).filter((x) => !scopes.includes(x))];
  return order
    .map((scope) => ({
      title: SCOPE_TITLES[scope],
      rows: COMMANDS.filter((c) => c.scope === scope).map((c) => ({
        keys: c.keys.map(keyLabel).join(' '),
        title: c.title,
      })),
    }))
    .filter((section) => section.rows.length > 0);
}
