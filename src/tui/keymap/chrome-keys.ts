import { PANES, backOverlay, pushOverlay, setOverlay, type PaneId, type TuiState } from '../state.ts';
import { geometry, set } from './helpers.ts';
import type { TuiActions, TuiCommand } from './model.ts';

/** Keys of the screen's chrome: the notification log (`!`) and which side pane is tall (`+`). */
export const CHROME_KEYS: readonly TuiCommand[] = [
  {
    id: 'notices-open',
    title: 'notification log: every notice, warning and error, with its time',
    short: 'notices',
    keys: ['!'],
    scope: 'global',
    hint: 79,
    run: (a) => set(a, (s) => pushOverlay(s, { kind: 'notices', scroll: 0 })),
  },
  {
    id: 'notices-close',
    title: 'back',
    keys: ['escape', '!', 'q'],
    scope: 'notices',
    hint: 0,
    run: (a) => set(a, backOverlay),
  },
  {
    id: 'notices-down',
    title: 'scroll down',
    keys: ['j', 'down'],
    scope: 'notices',
    hint: 1,
    run: (a) => set(a, (s) => scrollNotices(s, a, 1)),
  },
  {
    id: 'notices-up',
    title: 'scroll up',
    keys: ['k', 'up'],
    scope: 'notices',
    run: (a) => set(a, (s) => scrollNotices(s, a, -1)),
  },
  {
    id: 'notices-page-down',
    title: 'page down',
    keys: ['pagedown', 'ctrl-f', 'ctrl-d'],
    scope: 'notices',
    run: (a) => set(a, (s) => scrollNotices(s, a, 'page')),
  },
  {
    id: 'notices-page-up',
    title: 'page up',
    keys: ['pageup', 'ctrl-b', 'ctrl-u'],
    scope: 'notices',
    run: (a) => set(a, (s) => scrollNotices(s, a, '-page')),
  },
  {
    id: 'notices-top',
    title: 'newest',
    keys: ['g', 'home'],
    scope: 'notices',
    run: (a) => set(a, (s) => scrollNotices(s, a, -Infinity)),
  },
  {
    id: 'notices-bottom',
    title: 'oldest',
    keys: ['G', 'end'],
    scope: 'notices',
    run: (a) => set(a, (s) => scrollNotices(s, a, Infinity)),
  },
  {
    id: 'pane-tall',
    title: 'make the next side pane tall (Frames, Stack, Judge, Wallets, Events, then the usual sizes)',
    short: 'taller pane',
    keys: ['+'],
    scope: 'session',
    hint: 60,
    run: (a) => set(a, cycleTallPane),
  },
];

const SIDE_PANES: readonly PaneId[] = PANES.filter((p) => p !== 'conversation');

/** The next side pane to draw tall; after the last one, the usual sizes again. */
export function cycleTallPane(s: TuiState): TuiState {
  const i = s.tallPane === null ? -1 : SIDE_PANES.indexOf(s.tallPane);
  return { ...s, tallPane: SIDE_PANES[i + 1] ?? null };
}

function scrollNotices(s: TuiState, a: TuiActions, move: number | 'page' | '-page'): TuiState {
  if (s.overlay?.kind !== 'notices') return s;
  const g = geometry(a, 'notices');
  const page = Math.max(1, g.height - 1);
  const delta = move === 'page' ? page : move === '-page' ? -page : move;
  const scroll = Math.min(Math.max(0, g.total - g.height), Math.max(0, s.overlay.scroll + delta));
  return setOverlay(s, { ...s.overlay, scroll });
}
