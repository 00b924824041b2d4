import type { PaneId } from './state.ts';

/**
 * Where each pane goes for a terminal size: a pure function, so every size from 80×24 up is tested without a
 * terminal. Each pane's height includes its title row.
 */
export interface Rect {
  readonly width: number;
  readonly height: number;
}

export interface SessionLayout {
  /** Side by side (wide) or stacked (narrow). */
  readonly wide: boolean;
  readonly panes: Readonly<Record<PaneId, Rect>>;
  /** Height of the pane area (between the header and the input line). */
  readonly body: number;
}

export const MIN_COLUMNS = 80;
export const MIN_ROWS = 24;
/** Rows outside the panes: header, input line, status bar. */
export const CHROME_ROWS = 3;

/**
 * `tall`: the side pane drawn tall (the `+` key cycles it): the other panes of its column keep a few rows each, and
 * in the stacked layout the conversation gives it room too.
 */
export function sessionLayout(
  columns: number,
  rows: number,
  conversations: number,
  tall: PaneId | null = null,
): SessionLayout {
  const body = Math.max(6, rows - CHROME_ROWS);
  const framesRows = (room: number): number =>
    Math.max(3, Math.min(1 + Math.max(1, conversations), Math.floor(room / 3)));
  if (columns >= 110) {
    // Conversation on the left; frames, stack, judge, wallets and events stacked on the right, one column between.
    const left = Math.floor(columns * 0.58);
    const right = columns - left - 1;
    const frames = framesRows(body);
    const rest = body - frames;
    const events = Math.max(3, Math.floor(rest * 0.24));
    const judge = Math.max(3, Math.floor(rest * 0.2));
    // Balances (one per agent), the chain's line and the latest payments: more room than one row per agent.
    const wallets = Math.max(4, Math.min(2 + Math.max(1, conversations) + 4, Math.floor(rest * 0.2)));
    const side = column(
      body,
      ['frames', 'stack', 'judge', 'wallets', 'events'],
      [frames, rest - events - judge - wallets, judge, wallets, events],
      tall,
    );
    return {
      wide: true,
      body,
      panes: {
        conversation: { width: left, height: body },
        frames: { width: right, height: side.frames },
        stack: { width: right, height: side.stack },
        judge: { width: right, height: side.judge },
        wallets: { width: right, height: side.wallets },
        events: { width: right, height: side.events },
      },
    };
  }
  // Conversation on top; below it frames and stack on the left, judge, wallets and events on the right. Half and half,
  // so each side pane shows a few lines at 80×24 (Wallets three at least); a tall side pane takes more.
  const top = Math.max(4, Math.floor(body * (tall === null ? 0.5 : 0.35)));
  const bottom = body - top;
  const left = Math.floor(columns / 2);
  const right = columns - left - 1;
  const frames = Math.max(2, Math.min(framesRows(bottom), bottom - 3));
  const lefts = column(bottom, ['frames', 'stack'], [frames, bottom - frames], tall);
  const judge = Math.max(3, Math.floor(bottom * 0.3));
  const wallets = Math.max(4, Math.floor(bottom * 0.35));
  const rights =
    bottom - judge - wallets >= 3
      ? column(bottom, ['judge', 'wallets', 'events'], [judge, wallets, bottom - judge - wallets], tall)
      : column(bottom, ['judge', 'wallets', 'events'], thirds(bottom), tall);
  return {
    wide: false,
    body,
    panes: {
      conversation: { width: columns, height: top },
      frames: { width: left, height: lefts.frames },
      stack: { width: left, height: lefts.stack },
      judge: { width: right, height: rights.judge },
      wallets: { width: right, height: rights.wallets },
      events: { width: right, height: rights.events },
    },
  };
}

/** A column of panes: the given heights, or, with one of them tall, a few rows for each other and the rest for it. */
function column<P extends PaneId>(
  total: number,
  panes: readonly P[],
  heights: readonly number[],
  tall: PaneId | null,
): Record<P, number> {
  const out = {} as Record<P, number>;
  const i = tall === null ? -1 : panes.indexOf(tall as P);
  if (i < 0) {
    panes.forEach((p, k) => (out[p] = heights[k]!));
    return out;
  }
  const others = panes.length - 1;
  const each = total - 3 * others >= 6 ? 3 : 2;
  panes.forEach((p, k) => (out[p] = k === i ? total - each * others : each));
  return out;
}

/** Three heights that add up to `total`, as even as can be. */
function thirds(total: number): number[] {
  const a = Math.floor(total / 3);
  return [a, total - 2 * a, a];
}
