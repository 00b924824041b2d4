import type { Clock } from '../../core/clock.ts';
import type { TuiBridge } from '../bridge/bridge.ts';
import type { PaneId, TuiState } from '../state.ts';
import type { TuiStore } from '../store.ts';
import type { PaneGeometry } from '../scrolling.ts';

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
  | 'grid'
  | 'notices'
  | 'detail'
  | 'search';

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
  notices: 'Notification log',
  detail: 'Detail view',
  search: 'Typing a search',
};

export interface TuiActions {
  readonly store: TuiStore;
  readonly bridge: TuiBridge;
  /** Each pane's line count and height at the last render, for scrolling. */
  readonly geometry: Map<string, PaneGeometry>;
  /** The app's clock (ages, the double Ctrl-C's window). */
  readonly clock: Clock;
  quit(): void;
  runPalette(line: string): void;
  abortPalette(): void;
  /** Writes to the terminal outside Ink's frame (the OSC 52 clipboard sequence); absent: copying is unavailable. */
  readonly writeTerminal?: (data: string) => void;
}

export interface TuiCommand {
  readonly id: string;
  readonly title: string;
  /** Key names; the first is shown in hints. */
  readonly keys: readonly string[];
  readonly scope: Scope;
  /** Status-bar priority (lower first); absent: not shown in the bar (unless keymap/hints.ts gives one). */
  readonly hint?: number;
  /** A shorter title for the status bar (the help shows `title`). */
  readonly short?: string;
  when?(s: TuiState): boolean;
  run(a: TuiActions, s: TuiState): void;
}
