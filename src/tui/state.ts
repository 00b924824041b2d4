import type { Grid } from '../rollout/grid.ts';
import type { DiffOp } from '../core/diff.ts';
import type { SessionSource, SessionStatus } from '../core/events.ts';
import type { SessionProjection } from './projection.ts';
import type { EffectsPolicy } from '../engine/effects-policy.ts';
import type { ForkForm } from './fork-form.ts';
import type { SearchState } from './search.ts';
import { READING_DEFAULTS } from './scrolling.ts';

/**
 * The TUI's state and its transitions. Transitions are pure functions from state to state; the one mutable part is
 * the open session's projection (see projection.ts), which carries its own version numbers.
 */
export type Screen = 'sessions' | 'session';
export type PaneId = 'conversation' | 'frames' | 'stack' | 'events' | 'judge' | 'wallets';
/** In the order they are shown (and focused by Tab, and numbered for the keys 1–6). */
export const PANES: readonly PaneId[] = ['conversation', 'frames', 'stack', 'judge', 'wallets', 'events'];
export type Focus = PaneId | 'input';

export const PANE_TITLES: Readonly<Record<PaneId, string>> = {
  conversation: 'Conversation',
  frames: 'Frames',
  stack: 'Stack',
  events: 'Events',
  judge: 'Judge',
  wallets: 'Wallets',
};

export type Overlay =
  | { readonly kind: 'help'; readonly scroll: number }
  | { readonly kind: 'agents'; readonly cursor: number }
  /** Steps of one conversation to rewind to (or fork at). */
  | { readonly kind: 'rewind'; readonly conversation: string; readonly cursor: number }
  /** Fork at a step with other settings, for every agent or one agent each (see fork-form.ts). */
  | ForkForm
  /** The session's branches as a tree, to check one out; `marked` (m) is the one d compares with the cursor's. */
  | {
      readonly kind: 'branches';
      readonly cursor: number;
      readonly items: readonly BranchItem[];
      readonly marked?: number | null;
    }
  /** Rollouts run in this workspace, newest first, to open one's grid. */
  | { readonly kind: 'rollouts'; readonly cursor: number; readonly items: readonly RolloutItem[] }
  /** One rollout as a grid: variants × scenarios (or metrics), live while it runs. */
  | {
      readonly kind: 'grid';
      readonly rollout: string;
      readonly title: string;
      readonly grid: Grid;
      readonly row: number;
      readonly col: number;
      /** Which repeat Enter opens. */
      readonly repeat: number;
      readonly options: {
        readonly metric?: string;
        readonly by: 'scenarios' | 'metrics';
        readonly sort: 'spec' | 'score';
      };
    }
  /** Artifacts (and entries) of the session, to compare two: mark one, then d on another. */
  | {
      readonly kind: 'artifacts';
      readonly cursor: number;
      readonly marked: number | null;
      readonly items: readonly { readonly ref: string; readonly label: string }[];
      readonly allBranches?: boolean; // every branch's entries (a), as the CLI's --all-branches
    }
  /** Two branches (or artifacts) compared, side by side (both columns scroll together) or unified. */
  | {
      readonly kind: 'diff';
      readonly title: string;
      readonly divergesAt: string | null;
      readonly sections: readonly { readonly title: string; readonly ops: readonly DiffOp[] }[];
      readonly mode: 'side' | 'unified';
      readonly scroll: number;
    }
  | { readonly kind: 'confirm'; readonly message: string; readonly action: 'cancel-session' | 'quit' }
  | {
      readonly kind: 'palette';
      readonly text: string;
      readonly cursor: number;
      readonly selected: number;
      readonly running: boolean;
      readonly output: readonly string[];
      readonly scroll: number;
      readonly hscroll?: number; // columns its table rows are scrolled sideways (C-f / C-b): cut, never wrapped
    }
  /** Every notice, warning and error of this TUI session, with its time (`!`). */
  | { readonly kind: 'notices'; readonly scroll: number }
  /** One entry, event, score or payment in full: wrapped, JSON pretty-printed, scrollable (Enter on a pane's row). */
  | { readonly kind: 'detail'; readonly title: string; readonly text: string; readonly scroll: number };

/** A rollout as the rollouts overlay lists it. */
export interface RolloutItem {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly cells: number;
  readonly done: number;
  readonly failed: number;
  readonly age: string;
}

/** A branch as the branches overlay lists it (depth: its distance from the first branch, for the tree). */
export interface BranchItem {
  readonly id: string;
  readonly label: string | null;
  readonly forkSeq: number | null;
  readonly entries: number;
  readonly checkedOut: boolean;
  readonly depth: number;
  /** What its overrides change, per agent (describeChanges in fork-form.ts); '' when nothing. */
  readonly changes: string;
  /** What effectful calls do on it: its own policy, else the session's. */
  readonly effects: EffectsPolicy;
  /** The judge's weighted overall score of the branch, when it has been scored. */
  readonly score: number | null;
}

export interface SessionSummary {
  readonly id: string;
  readonly status: SessionStatus;
  readonly agent: string;
  readonly title: string;
  readonly source: SessionSource;
  readonly createdAt: number;
  /** Which process drives it: this one, another one, or none. */
  readonly driver: 'here' | 'elsewhere' | 'none';
}

export interface AgentSummary {
  readonly id: string;
  readonly description: string;
  readonly model: string;
}

export interface Scroll {
  /** First visible line, when not following. */
  readonly offset: number;
  /** Stick to the newest lines (a pane follows until the user scrolls up, and again after G). */
  readonly follow: boolean;
}

export interface TextInput {
  readonly text: string;
  readonly cursor: number;
}

export interface TuiState {
  readonly columns: number;
  readonly rows: number;
  readonly screen: Screen;
  readonly focus: Focus;
  readonly overlay: Overlay | null;
  readonly sessions: readonly SessionSummary[];
  readonly sessionsCursor: number;
  /** The open session (mutated in place; see its version numbers). */
  readonly open: SessionProjection | null;
  /** Grows whenever the open projection changed (coalesced): the screen's cue to redraw. */
  readonly tick: number;
  readonly driver: 'here' | 'elsewhere' | 'none';
  readonly selectedConversation: string | null;
  readonly scroll: Readonly<Record<PaneId, Scroll>>;
  readonly input: TextInput;
  /** An agent chosen for a new session: the next message typed starts it. */
  readonly newSessionAgent: string | null;
  readonly notice: { readonly text: string; readonly tone: 'info' | 'warn' | 'error' } | null;
  /** When the first Ctrl-C was pressed (a second one within 1.5 s quits). */
  readonly quitArmedAt: number | null;
  readonly workspace: { readonly root: string; readonly model: string; readonly agents: readonly AgentSummary[] };
  readonly quitting: boolean;
  /** The judge pane shows each score's criteria and reasons (`c` toggles). */
  readonly judgeDetail: boolean;
  /** The open session's agents' wallets (balance, locked), read from the ledger as it changes. */
  readonly wallets: readonly { readonly agent: string; readonly balance: string; readonly locked: string }[];
  /** The ledger's audit chain is broken (writes are refused): shown in the Wallets pane. */
  readonly ledgerBroken: string | null;
  /** The ledger as the Wallets pane shows it besides the balances: recent payments, the chain, its newest links. */
  readonly ledger: LedgerPaneState;
  /** Every notice of this TUI session, oldest first, the newest NOTICE_LOG_LIMIT kept (the `!` log). */
  readonly noticeLog: readonly NoticeRecord[];
  /** The overlays under the current one, the nearest last: Esc goes back to it (compare → branches, say). */
  readonly overlayBack: readonly Overlay[];
  /** The overlay the open session was opened from (a rollout grid's cell): leaving the session goes back to it. */
  readonly sessionFrom: Overlay | null;
  /** The side pane drawn tall (`+` cycles through them), or null for the usual shares. */
  readonly tallPane: PaneId | null;
  /** The focused pane fills the screen (z); the header, input and hints stay. */
  readonly zoom: boolean;
  /** Long lines of the stack and events panes wrap (w) instead of being cut. */
  readonly wrapLines: boolean;
  /** The search of the focused place (/): typed, then n/N move between its matches. */
  readonly search: SearchState | null;
  /** The sessions list shows rollout cells one by one (C); by default one row per rollout stands for them. */
  readonly showCells: boolean;
  /** The selected row of the panes that have one (stack, events, judge, wallets); absent: the newest. */
  readonly rowCursor: Readonly<Partial<Record<PaneId, number>>>;
}

export type NoticeTone = 'info' | 'warn' | 'error';
export interface NoticeRecord {
  /** When it was shown (ms since the epoch, the store's clock). */
  readonly at: number;
  readonly text: string;
  readonly tone: NoticeTone;
}
/** How many notices the `!` log keeps: a long session's warnings, bounded. */
export const NOTICE_LOG_LIMIT = 500;

export interface LedgerPaneState {
  /** The latest payments in and out of the session's agents, newest first. */
  readonly recent: readonly {
    readonly offset: number;
    readonly from: string;
    readonly to: string;
    readonly amount: string;
    readonly reason: string;
  }[];
  /** The audit chain: ok or broken, how many updates, its head; `full` when the whole chain was verified (v). */
  readonly chain: {
    readonly ok: boolean;
    readonly entries: number;
    readonly head: string | null;
    readonly reason: string | null;
    readonly full: boolean;
  } | null;
  /** The newest links of the chain (the audit trail view, `a`). */
  readonly trail: readonly {
    readonly offset: number;
    readonly hash: string;
    readonly prevHash: string;
    readonly command: string;
    readonly at: string;
  }[];
  /** Balances and payments, or the audit trail. */
  readonly view: 'wallets' | 'trail';
  /** A full verification was asked for (v) and runs. */
  readonly verifying: boolean;
}

export const EMPTY_LEDGER: LedgerPaneState = { recent: [], chain: null, trail: [], view: 'wallets', verifying: false };

const FOLLOW: Scroll = { offset: 0, follow: true };

export function initialState(workspace: TuiState['workspace'], size: { columns: number; rows: number }): TuiState {
  return {
    columns: size.columns,
    rows: size.rows,
    screen: 'sessions',
    focus: 'conversation',
    overlay: null,
    sessions: [],
    sessionsCursor: 0,
    open: null,
    tick: 0,
    driver: 'none',
    selectedConversation: null,
    scroll: {
      conversation: FOLLOW,
      frames: { offset: 0, follow: false },
      stack: FOLLOW,
      events: FOLLOW,
      judge: { offset: 0, follow: false },
      wallets: { offset: 0, follow: false },
    },
    judgeDetail: false,
    wallets: [],
    ledgerBroken: null,
    ledger: EMPTY_LEDGER,
    input: { text: '', cursor: 0 },
    newSessionAgent: null,
    notice: null,
    quitArmedAt: null,
    workspace,
    quitting: false,
    noticeLog: [],
    overlayBack: [],
    sessionFrom: null,
    tallPane: null,
    ...READING_DEFAULTS,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Transitions

export const resize = (s: TuiState, columns: number, rows: number): TuiState => ({ ...s, columns, rows });

export const notify = (s: TuiState, text: string, tone: NoticeTone = 'info'): TuiState => ({
  ...s,
  notice: { text, tone },
});

/** Records the notice now shown in the log (the store calls it whenever the notice changes to a new one). */
export function logNotice(s: TuiState, at: number): TuiState {
  if (s.notice === null) return s;
  const log = [...s.noticeLog, { at, text: s.notice.text, tone: s.notice.tone }];
  return { ...s, noticeLog: log.length > NOTICE_LOG_LIMIT ? log.slice(log.length - NOTICE_LOG_LIMIT) : log };
}

export const clearNotice = (s: TuiState): TuiState => (s.notice === null ? s : { ...s, notice: null });

/** The focus order of the session screen: panes, then the input. */
export const FOCUS_ORDER: readonly Focus[] = [...PANES, 'input'];

export function cycleFocus(s: TuiState, direction: 1 | -1): TuiState {
  const i = FOCUS_ORDER.indexOf(s.focus);
  return { ...s, focus: FOCUS_ORDER[(i + direction + FOCUS_ORDER.length) % FOCUS_ORDER.length]! };
}

export const focus = (s: TuiState, target: Focus): TuiState => ({ ...s, focus: target });

/**
 * Scrolls a pane by `delta` lines (negative: up), or to the top or bottom. Scrolling to the bottom follows new
 * lines again; any scroll up stops following. `total` and `height` are the pane's current line count and size.
 */
export function scrollPane(
  s: TuiState,
  pane: PaneId,
  move: number | 'top' | 'bottom',
  total: number,
  height: number,
): TuiState {
  const max = Math.max(0, total - height);
  const current = s.scroll[pane];
  const from = current.follow ? max : Math.min(current.offset, max);
  let next: Scroll;
  if (move === 'top') next = { offset: 0, follow: false };
  else if (move === 'bottom') next = { offset: max, follow: true };
  else {
    const offset = Math.min(max, Math.max(0, from + move));
    next = { offset, follow: offset >= max && move > 0 };
  }
  return { ...s, scroll: { ...s.scroll, [pane]: next } };
}

export function selectConversation(s: TuiState, move: number): TuiState {
  const order = s.open?.order ?? [];
  if (order.length === 0) return s;
  const i = Math.max(0, order.indexOf(s.selectedConversation ?? order[0]!));
  const next = order[Math.min(order.length - 1, Math.max(0, i + move))]!;
  return { ...s, selectedConversation: next, scroll: { ...s.scroll, stack: FOLLOW } };
}

export function openSession(s: TuiState, projection: SessionProjection, driver: TuiState['driver']): TuiState {
  // The same session again (another branch checked out): the panels follow it, focus and the typed text stay.
  if (s.open?.id === projection.id)
    return {
      ...s,
      open: projection,
      driver,
      scroll: { ...s.scroll, conversation: FOLLOW, stack: FOLLOW, events: FOLLOW },
    };
  return {
    ...s,
    screen: 'session',
    open: projection,
    driver,
    // Navigation mode: keys are commands until i opens the input (Enter opens a pane's selected row), so b, d, r or q never become text.
    focus: 'conversation',
    selectedConversation: projection.root,
    scroll: {
      conversation: FOLLOW,
      frames: { offset: 0, follow: false },
      stack: FOLLOW,
      events: FOLLOW,
      judge: { offset: 0, follow: false },
      wallets: { offset: 0, follow: false },
    },
    judgeDetail: false,
    wallets: [],
    ledgerBroken: null,
    ledger: EMPTY_LEDGER,
    newSessionAgent: null,
    input: { text: '', cursor: 0 },
    rowCursor: {},
    search: null,
  };
}

/** Leaves the open session: back to the sessions list, or to the overlay it was opened from (a rollout grid). */
export const backToSessions = (s: TuiState): TuiState => ({
  ...s,
  search: null,
  overlay: s.sessionFrom,
  overlayBack: [],
  sessionFrom: null,
  screen: 'sessions',
  open: null,
  driver: 'none',
  newSessionAgent: null,
  focus: 'conversation',
  input: { text: '', cursor: 0 },
});

export const setInput = (s: TuiState, input: TextInput): TuiState => ({ ...s, input });

/** Replaces the current overlay (a cursor moved, say); closing (null) closes the overlays under it too. */
export function setOverlay(s: TuiState, overlay: Overlay | null): TuiState {
  return overlay === null ? { ...s, overlay, overlayBack: [] } : { ...s, overlay };
}

/** Opens an overlay over the current one: Esc (backOverlay) goes back to where it was opened from. */
export function pushOverlay(s: TuiState, overlay: Overlay): TuiState {
  return { ...s, overlay, overlayBack: s.overlay === null ? s.overlayBack : [...s.overlayBack, s.overlay] };
}

/** Closes the current overlay, back to the one it was opened from (or the screen). */
export function backOverlay(s: TuiState): TuiState {
  return { ...s, overlay: s.overlayBack.at(-1) ?? null, overlayBack: s.overlayBack.slice(0, -1) };
}
