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

export function sessionLayout(columns: number, rows: number, conversations: number): SessionLayout {
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
    const wallets = Math.max(2, Math.min(2 + Math.max(1, conversations) + 4, Math.floor(rest * 0.2)));
    const stack = rest - events - judge - wallets;
    return {
      wide: true,
      body,
      panes: {
        conversation: { width: left, height: body },
        frames: { width: right, height: frames },
        stack: { width: right, height: stack },
        judge: { width: right, height: judge },
        wallets: { width: right, height: wallets },
        events: { width: right, height: events },
      },
    };
  }
  // Conversation on top; below it frames and stack on the left, judge, wallets and events on the right.
  const top = Math.max(4, Math.floor(body * 0.55));
  const bottom = body - top;
  const left = Math.floor(columns / 2);
  const right = columns - left - 1;
  const frames = Math.max(2, Math.min(framesRows(bottom), bottom - 3));
  return {
    wide: false,
    body,
    panes: {
      conversation: { width: columns, height: top },
      frames: { width: left, height: frames },
      stack: { width: left, height: bottom - frames },
      // Judge, wallets and events on the right.
      judge: { width: right, height: Math.max(2, Math.floor(bottom * 0.4)) },
      wallets: { width: right, height: Math.max(2, Math.floor(bottom * 0.25)) },
      events: {
        width: right,
        height: bottom - Math.max(2, Math.floor(bottom * 0.4)) - Math.max(2, Math.floor(bottom * 0.25)),
      },
    },
  };
}
