import type { PaneItem } from './detail.ts';
import type { Line } from './lines.ts';

/**
 * One scrolling model for every pane, list and overlay: the same keys (j/k, g/G, Home/End, PgUp/PgDn, C-u/C-d) make
 * the same moves everywhere. Lines scroll a window; lists move a cursor and keep it in view.
 */
export type ScrollMove = 'down' | 'up' | 'page-down' | 'page-up' | 'half-down' | 'half-up' | 'top' | 'bottom';

/** What a place showed at its last render: read by keys (scrolling, search, Enter, y) at key time. */
export interface PaneGeometry {
  readonly total: number;
  readonly height: number;
  /** Its lines (for search). */
  readonly lines?: readonly Line[];
  /** Its selectable rows (for Enter and y). */
  readonly items?: readonly PaneItem[];
  /** The first line shown. */
  readonly start?: number;
}

export const SCROLL_MOVES: readonly {
  readonly move: ScrollMove;
  readonly keys: readonly string[];
  readonly title: string;
}[] = [
  { move: 'down', keys: ['j', 'down'], title: 'scroll down' },
  { move: 'up', keys: ['k', 'up'], title: 'scroll up' },
  { move: 'page-down', keys: ['pagedown', 'ctrl-f'], title: 'page down' },
  { move: 'page-up', keys: ['pageup', 'ctrl-b'], title: 'page up' },
  { move: 'half-down', keys: ['ctrl-d'], title: 'half a page down' },
  { move: 'half-up', keys: ['ctrl-u'], title: 'half a page up' },
  { move: 'top', keys: ['g', 'home'], title: 'top' },
  { move: 'bottom', keys: ['G', 'end'], title: 'bottom' },
];

/** A move in lines (or items) for a place `height` rows tall; ±Infinity for the ends. */
export function moveDelta(move: ScrollMove, height: number): number {
  const page = Math.max(1, height - 1);
  switch (move) {
    case 'down':
      return 1;
    case 'up':
      return -1;
    case 'page-down':
      return page;
    case 'page-up':
      return -page;
    case 'half-down':
      return Math.ceil(page / 2);
    case 'half-up':
      return -Math.ceil(page / 2);
    case 'top':
      return -Infinity;
    case 'bottom':
      return Infinity;
  }
}

/** A window's first line after a move: never past either end. */
export function scrolledTo(offset: number, move: ScrollMove, total: number, height: number): number {
  const max = Math.max(0, total - height);
  return Math.min(max, Math.max(0, offset + moveDelta(move, height)));
}

/** A list cursor after a move, on one of `count` items. */
export function cursorTo(cursor: number, move: ScrollMove, count: number, height: number): number {
  return Math.min(Math.max(0, count - 1), Math.max(0, cursor + moveDelta(move, height)));
}

/** The first line to show so that lines `from`..`to` (a selected row) are in view, moving the window as little as possible. */
export function keepInView(start: number, from: number, to: number, total: number, height: number): number {
  const max = Math.max(0, total - height);
  let s = Math.min(start, max);
  if (to >= s + height) s = to - height + 1;
  if (from < s) s = from;
  return Math.min(max, Math.max(0, s));
}

/** The reading state when the TUI starts: not zoomed, long lines cut, no search, rollout cells hidden, no row chosen. */
export const READING_DEFAULTS = {
  zoom: false,
  wrapLines: false,
  search: null,
  showCells: false,
  rowCursor: {},
} as const;
