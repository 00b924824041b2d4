import { PANES, cycleFocus, focus, notify, pushOverlay, selectConversation, setOverlay } from '../state.ts';
import { deleteBack, deleteForward, moveCursor, deleteWord } from '../text-input.ts';
import { moveSessionsCursor, visibleSessions } from '../sessions-list.ts';
import { editInput, scroll, set } from './helpers.ts';
import type { TuiCommand } from './model.ts';

/** Keys everywhere, in the sessions list, in a session, its panes and the message input. */
export const SESSION_KEYS: readonly TuiCommand[] = [
  // Everywhere
  {
    id: 'help',
    title: 'help',
    keys: ['?'],
    scope: 'global',
    hint: 90,
    run: (a) => set(a, (s) => pushOverlay(s, { kind: 'help', scroll: 0 })),
  },
  {
    id: 'palette',
    title: 'command palette',
    keys: [':'],
    scope: 'global',
    hint: 91,
    run: (a) =>
      set(a, (s) =>
        pushOverlay(s, { kind: 'palette', text: '', cursor: 0, selected: 0, running: false, output: [], scroll: 0 }),
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
    when: (s) => visibleSessions(s).sessions.length > 0,
    run: (a, s) => {
      const session = visibleSessions(s).sessions[s.sessionsCursor];
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
    // Enter opens a pane's selected row in full (reading-keys.ts): one meaning per key, as in k9s.
    keys: ['i'],
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
    keys: ['t'],
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
    run: (a) => set(a, (s) => setOverlay(s, { kind: 'branches', cursor: 0, items: a.bridge.branching.branches() })),
  },
  {
    id: 'session-artifacts',
    title: 'artifacts: compare two',
    keys: ['A'],
    scope: 'session',
    when: (s) => s.open !== null,
    run: (a) =>
      set(a, (s) =>
        setOverlay(s, { kind: 'artifacts', cursor: 0, marked: null, items: a.bridge.branching.artifacts() }),
      ),
  },

  // Scrolling the focused pane: reading-keys.ts (one model for every pane, list and overlay).

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
];
