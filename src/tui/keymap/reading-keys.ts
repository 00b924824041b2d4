import { copiedNotice, osc52 } from '../clipboard.ts';
import { itemAt, selectedItem } from '../detail.ts';
import {
  cursorTo,
  keepInView,
  moveDelta,
  scrolledTo,
  SCROLL_MOVES,
  type PaneGeometry,
  type ScrollMove,
} from '../scrolling.ts';
import { matchingLines, nextMatch } from '../search.ts';
import { PANES, notify, scrollPane, selectConversation, setOverlay, type PaneId, type TuiState } from '../state.ts';
import { scrolling, set } from './helpers.ts';
import type { Scope, TuiActions, TuiCommand } from './model.ts';

/**
 * Keys for reading: one scrolling model everywhere, zoom, wrap, search, the detail view and copying. They come first
 * in the keymap, so n/N and Esc mean "next match" and "clear the search" while a search is shown.
 */

/** Where the keys act now: an overlay, the sessions list, or the focused pane (the conversation from the input). */
export const placeOf = (s: TuiState): string =>
  s.overlay !== null ? s.overlay.kind : s.screen === 'sessions' ? 'sessions' : scrolling(s);

const geometryOf = (a: TuiActions, place: string): PaneGeometry => a.geometry.get(place) ?? { total: 0, height: 1 };

/** Panes whose rows are selected by j/k (the conversation scrolls by line, and its row is the entry at the bottom). */
const ROW_PANES: readonly PaneId[] = ['stack', 'events', 'judge', 'wallets'];

/** Scrolls the focused pane: a window of lines, or the selected row of a pane with rows (kept in view). */
export function scrollFocused(a: TuiActions, s: TuiState, move: ScrollMove): void {
  const pane = scrolling(s);
  const g = geometryOf(a, pane);
  const items = g.items ?? [];
  if (ROW_PANES.includes(pane) && items.length > 0) {
    const next = cursorTo(selectedItem(items, s.rowCursor[pane], null)!, move, items.length, g.height);
    return set(a, (x) => selectRow(x, pane, next, g));
  }
  const delta = move === 'top' ? 'top' : move === 'bottom' ? 'bottom' : moveDelta(move, g.height);
  set(a, (x) => scrollPane(x, pane, delta, g.total, g.height));
}

/** Selects a row of a pane and scrolls it into view; the newest row follows new ones again. */
function selectRow(s: TuiState, pane: PaneId, row: number, g: PaneGeometry): TuiState {
  const items = g.items ?? [];
  if (row >= items.length - 1) {
    const { [pane]: _dropped, ...rest } = s.rowCursor;
    return { ...s, rowCursor: rest, scroll: { ...s.scroll, [pane]: { offset: 0, follow: true } } };
  }
  const from = items[row]!.line;
  const to = (items[row + 1]?.line ?? g.total) - 1;
  const offset = keepInView(g.start ?? 0, from, to, g.total, g.height);
  return {
    ...s,
    rowCursor: { ...s.rowCursor, [pane]: row },
    scroll: { ...s.scroll, [pane]: { offset, follow: false } },
  };
}

/** Scrolls an overlay that shows a window of lines (help, detail). */
function scrollWindow(a: TuiActions, move: ScrollMove): void {
  set(a, (s) => {
    const o = s.overlay;
    if (o === null || (o.kind !== 'help' && o.kind !== 'detail' && o.kind !== 'diff')) return s;
    const g = geometryOf(a, o.kind);
    return setOverlay(s, { ...o, scroll: scrolledTo(o.scroll, move, g.total, g.height) });
  });
}

/** Moves the cursor of a list overlay (agents, steps, branches, rollouts, artifacts). */
function moveList(a: TuiActions, move: ScrollMove): void {
  set(a, (s) => {
    const o = s.overlay;
    const page = Math.max(1, s.rows - 6);
    if (o?.kind === 'agents')
      return setOverlay(s, { ...o, cursor: cursorTo(o.cursor, move, s.workspace.agents.length, page) });
    if (o?.kind === 'rewind') {
      const count = s.open?.conversations.get(o.conversation)?.entries.length ?? 0;
      return setOverlay(s, { ...o, cursor: cursorTo(o.cursor, move, count, page) });
    }
    if (o?.kind === 'branches' || o?.kind === 'rollouts' || o?.kind === 'artifacts')
      return setOverlay(s, { ...o, cursor: cursorTo(o.cursor, move, o.items.length, page) } as typeof o);
    return s;
  });
}

/** The scrolling commands of one place: the same keys everywhere, each place's own way of moving. */
function scrollKeys(
  scope: Scope,
  run: (a: TuiActions, s: TuiState, move: ScrollMove) => void,
  options: { skip?: readonly ScrollMove[]; hints?: Partial<Record<ScrollMove, number>> } = {},
): TuiCommand[] {
  return SCROLL_MOVES.filter((m) => !(options.skip ?? []).includes(m.move)).map((m): TuiCommand => ({
    id: `${scope}-${m.move}`,
    title: m.move === 'bottom' && scope === 'scroll' ? 'bottom (follow new lines)' : m.title,
    keys: m.keys,
    scope,
    ...(options.hints?.[m.move] === undefined ? {} : { hint: options.hints[m.move]! }),
    run: (a, s) => run(a, s, m.move),
  }));
}

// ---------------------------------------------------------------------------------------------------------------
// Search

function editSearch(a: TuiActions, edit: (q: string) => string): void {
  set(a, (s) =>
    s.search === null ? s : { ...s, search: { ...s.search, query: edit(s.search.query), at: null }, sessionsCursor: 0 },
  );
}

/** Types into the search (the keymap sends typed text here while a search is typed). */
export const typeSearch = (a: TuiActions, text: string): void => editSearch(a, (q) => q + text.replace(/[\r\n]/g, ''));

/** Moves to the next (or previous) match of the search: the pane scrolls to it, a pane with rows selects it. */
export function jumpToMatch(a: TuiActions, direction: 1 | -1): void {
  const s = a.store.get();
  const search = s.search;
  if (search === null || search.place === 'sessions' || search.query === '') return;
  const g = geometryOf(a, search.place);
  const matches = matchingLines(g.lines ?? [], search.query);
  const from = search.at ?? (direction === 1 ? (g.start ?? 0) - 1 : (g.start ?? 0) + g.height);
  const target = nextMatch(matches, from, direction);
  if (target === undefined) return set(a, (x) => notify(x, `no match for “${search.query}”`, 'warn'));
  set(a, (x) => {
    const next = { ...x, search: { ...search, at: target } };
    const o = x.overlay;
    if (o !== null && (o.kind === 'help' || o.kind === 'detail'))
      return setOverlay(next, { ...o, scroll: Math.min(Math.max(0, g.total - g.height), Math.max(0, target - 1)) });
    // A list overlay: the cursor goes to the row the matching line belongs to (the list scrolls to keep it in view).
    if (o !== null && (o.kind === 'branches' || o.kind === 'rollouts' || o.kind === 'artifacts'))
      return g.items === undefined || g.items.length === 0
        ? next
        : setOverlay(next, { ...o, cursor: itemAt(g.items, target) });
    const pane = search.place as PaneId;
    if (ROW_PANES.includes(pane) && g.items !== undefined) return selectRow(next, pane, itemAt(g.items, target), g);
    const offset = Math.min(Math.max(0, g.total - g.height), Math.max(0, target - 1));
    return { ...next, scroll: { ...next.scroll, [pane]: { offset, follow: false } } };
  });
}

/** Where / starts a search (the session's panes share one '/'), and where n/N/Esc then act on it. */
const LIST_OVERLAYS: readonly Scope[] = ['branches', 'rollouts', 'artifacts'];
const SEARCH_STARTS: readonly Scope[] = ['session', 'sessions', 'help', 'detail', ...LIST_OVERLAYS];
const SEARCH_PLACES: readonly Scope[] = ['sessions', 'help', 'detail', ...PANES, ...LIST_OVERLAYS];
const searching = (s: TuiState): boolean => s.search !== null && !s.search.editing && s.search.place === placeOf(s);

function searchStart(scope: Scope): TuiCommand {
  return {
    id: `${scope}-search`,
    title: scope === 'sessions' ? 'filter the list (search)' : 'search',
    keys: scope === 'sessions' ? ['/', 'f'] : ['/'],
    scope,
    run: (a) => set(a, (s) => ({ ...s, search: { place: placeOf(s), query: '', editing: true, at: null } })),
  };
}

function searchKeys(scope: Scope): TuiCommand[] {
  return [
    {
      id: `${scope}-search-next`,
      title: 'next match',
      keys: ['n'],
      scope,
      when: searching,
      run: (a) => jumpToMatch(a, 1),
    },
    {
      id: `${scope}-search-previous`,
      title: 'previous match',
      keys: ['N'],
      scope,
      when: searching,
      run: (a) => jumpToMatch(a, -1),
    },
    {
      id: `${scope}-search-clear`,
      title: 'clear the search',
      keys: ['escape'],
      scope,
      when: searching,
      run: (a) => set(a, (s) => ({ ...s, search: null })),
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Detail and copy

/** The selected row of the focused pane, as the detail view shows it. */
function selectedOf(a: TuiActions, s: TuiState): { title: string; text: string } | undefined {
  const pane = scrolling(s);
  const g = geometryOf(a, pane);
  const items = g.items ?? [];
  const end = Math.min(g.total, (g.start ?? 0) + g.height);
  const i = selectedItem(items, s.rowCursor[pane], pane === 'conversation' ? end - 1 : null);
  const item = i === undefined ? undefined : items[i];
  return item === undefined ? undefined : { title: item.title, text: item.text() };
}

/** Copies text to the terminal's clipboard (OSC 52), with a notice. */
export function copy(a: TuiActions, text: string): void {
  if (a.writeTerminal === undefined) return set(a, (s) => notify(s, 'copying needs a terminal', 'warn'));
  a.writeTerminal(osc52(text));
  set(a, (s) => notify(s, copiedNotice(text)));
}

/** The open comparison as unified text (what y copies from a diff). */
function diffText(s: TuiState): string {
  if (s.overlay?.kind !== 'diff') return '';
  const out = [`compare ${s.overlay.title}`];
  for (const section of s.overlay.sections) {
    out.push(`== ${section.title}`);
    for (const op of section.ops) out.push(`${op.kind === 'add' ? '+' : op.kind === 'del' ? '-' : ' '}${op.text}`);
  }
  return out.join('\n');
}

const DETAIL_PANES: readonly PaneId[] = ['conversation', 'stack', 'events', 'judge', 'wallets'];

export const READING_KEYS: readonly TuiCommand[] = [
  // Typing a search: text goes to the query (the keymap routes it); these keys finish it.
  {
    id: 'search-done',
    title: 'search (then n / N)',
    keys: ['enter'],
    scope: 'search',
    hint: 0,
    run: (a) => {
      set(a, (s) => (s.search === null ? s : { ...s, search: { ...s.search, editing: false } }));
      jumpToMatch(a, 1);
    },
  },
  {
    id: 'search-cancel',
    title: 'cancel the search',
    keys: ['escape'],
    scope: 'search',
    hint: 1,
    run: (a) => set(a, (s) => ({ ...s, search: null })),
  },
  {
    id: 'search-back',
    title: 'delete back',
    keys: ['backspace'],
    scope: 'search',
    run: (a) => editSearch(a, (q) => q.slice(0, -1)),
  },
  ...SEARCH_STARTS.map(searchStart),
  ...SEARCH_PLACES.flatMap(searchKeys),

  {
    id: 'zoom',
    title: 'zoom the pane / back',
    keys: ['z'],
    scope: 'session',
    run: (a) => set(a, (s) => ({ ...s, zoom: !s.zoom })),
  },
  {
    id: 'wrap',
    title: 'wrap long lines / cut them (stack, events)',
    keys: ['w'],
    scope: 'session',
    run: (a) => set(a, (s) => ({ ...s, wrapLines: !s.wrapLines })),
  },
  {
    id: 'sessions-cells',
    title: 'show / hide rollout cells',
    keys: ['C'],
    scope: 'sessions',
    run: (a) => set(a, (s) => ({ ...s, showCells: !s.showCells, sessionsCursor: 0 })),
  },
  ...DETAIL_PANES.flatMap((pane): TuiCommand[] => [
    {
      id: `${pane}-open-row`,
      title: 'open the selected row in full',
      keys: ['enter'],
      scope: pane,
      run: (a, s) => {
        const item = selectedOf(a, s);
        if (item !== undefined)
          set(a, (x) => setOverlay(x, { kind: 'detail', title: item.title, text: item.text, scroll: 0 }));
      },
    },
    {
      id: `${pane}-copy`,
      title: 'copy the selected row (OSC 52)',
      keys: ['y'],
      scope: pane,
      run: (a, s) => {
        const item = selectedOf(a, s);
        if (item !== undefined) copy(a, item.text);
      },
    },
  ]),
  {
    id: 'detail-copy',
    title: 'copy it (OSC 52)',
    keys: ['y'],
    scope: 'detail',
    hint: 1,
    run: (a, s) => s.overlay?.kind === 'detail' && copy(a, s.overlay.text),
  },
  {
    id: 'detail-close',
    title: 'close',
    keys: ['escape', 'q'],
    scope: 'detail',
    hint: 0,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },
  {
    id: 'diff-copy',
    title: 'copy the comparison (OSC 52)',
    keys: ['y'],
    scope: 'diff',
    run: (a, s) => copy(a, diffText(s)),
  },

  // One scrolling model: the same keys in every pane, list and overlay.
  ...scrollKeys('scroll', scrollFocused),
  ...scrollKeys('help', (a, _s, move) => scrollWindow(a, move), { hints: { down: 1 } }),
  ...scrollKeys('detail', (a, _s, move) => scrollWindow(a, move), { hints: { down: 2 } }),
  ...(['agents', 'branches', 'rollouts', 'artifacts'] as const).flatMap((scope) =>
    scrollKeys(scope, (a, _s, move) => moveList(a, move), { skip: ['down', 'up'] }),
  ),
  // The comparison's own keys move by line, page and to the top; these add the rest.
  ...scrollKeys('diff', (a, _s, move) => scrollWindow(a, move), {
    skip: ['down', 'up', 'page-down', 'page-up', 'top'],
  }),
  // Frames: j/k choose the conversation; the other moves too.
  ...scrollKeys(
    'frames',
    (a, _s, move) => set(a, (x) => selectConversation(x, moveDelta(move, geometryOf(a, 'frames').height))),
    {
      skip: ['down', 'up'],
    },
  ),
  ...scrollKeys('rewind', (a, _s, move) => moveList(a, move), { skip: ['down', 'up', 'top', 'bottom'] }),
];
