import { geometry, set } from '../keymap/helpers.ts';
import type { TuiActions } from '../keymap/model.ts';
import { sessionLayout } from '../layout.ts';
import { moveSessionsCursor, visibleSessions } from '../sessions-list.ts';
import { itemAt } from '../detail.ts';
import { focus, scrollPane, setOverlay, type Overlay, type PaneId, type TuiState } from '../state.ts';
import { noticeLines } from '../views/chrome.tsx';
import { follow } from '../views/frame.tsx';
import { GRID_HEAD_LINES, gridColumns } from '../views/grid-marks.ts';
import { questionLines } from '../views/question.tsx';
import type { InputEvent } from './tokenizer.ts';

/** Lines one wheel notch scrolls. */
const WHEEL_LINES = 3;

interface Box {
  readonly pane: PaneId;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * The rows the screen's body has, as App.tsx draws it: the header takes row 0, the notice (wrapped, a quarter of the
 * screen at most) and the status bar the last rows.
 */
function bodyRows(s: TuiState): number {
  return s.rows - 2 - noticeLines(s.notice, s.columns, Math.max(2, Math.floor(s.rows / 4))).length;
}

/**
 * Where each pane of the session screen sits on the terminal, from the same layout the screen is drawn with
 * (screens.tsx): wide, the conversation on the left and the other panes stacked on the right; narrow, the
 * conversation on top, frames and stack below on the left, judge, wallets and events on the right. Below the panes:
 * an agent's question, then the input line.
 */
export function paneBoxes(s: TuiState): { boxes: Box[]; inputRow: number } {
  const full = bodyRows(s) - 1;
  const asked = questionLines(s.open, s.columns, Math.max(2, Math.floor(full / 3))).length;
  const height = full - asked;
  const layout = sessionLayout(s.columns, height + 3, s.open?.order.length ?? 1, s.tallPane);
  const p = layout.panes;
  const boxes: Box[] = [{ pane: 'conversation', x: 0, y: 1, ...p.conversation }];
  const column = (panes: readonly PaneId[], x: number, y: number): void => {
    for (const pane of panes) {
      boxes.push({ pane, x, y, ...p[pane] });
      y += p[pane].height;
    }
  };
  if (layout.wide) column(['frames', 'stack', 'judge', 'wallets', 'events'], p.conversation.width + 1, 1);
  else {
    const below = 1 + p.conversation.height;
    column(['frames', 'stack'], 0, below);
    column(['judge', 'wallets', 'events'], p.frames.width + 1, below);
  }
  return { boxes, inputRow: 1 + height + asked };
}

export function paneAt(s: TuiState, x: number, y: number): PaneId | undefined {
  return paneBoxes(s).boxes.find((b) => x >= b.x && x < b.x + b.width && y >= b.y && y < b.y + b.height)?.pane;
}

/**
 * A mouse report: the wheel scrolls the pane (or list) under the pointer, a click focuses the pane under it or selects
 * the row of the sessions list. Overlays take the wheel as ↑/↓ (`key` dispatches a key name as if typed).
 */
export function handleMouse(
  a: TuiActions,
  event: Extract<InputEvent, { kind: 'mouse' }>,
  key: (name: string) => void,
): void {
  const s = a.store.get();
  const wheel = event.action === 'wheel-up' ? -1 : event.action === 'wheel-down' ? 1 : 0;
  if (s.overlay !== null) {
    if (wheel !== 0) for (let i = 0; i < WHEEL_LINES; i++) key(wheel < 0 ? 'up' : 'down');
    else if (event.action === 'press') clickList(a, s, event.x, event.y);
    return;
  }
  if (s.screen === 'sessions') {
    if (wheel !== 0) set(a, (x) => moveSessionsCursor(x, wheel));
    else if (event.action === 'press') {
      // The table's header is on row 1; it scrolls so the cursor sits on its last visible row at most.
      // The rows shown: filtered, rollout cells hidden unless asked for (sessions-list.ts).
      const { sessions, hiddenCells } = visibleSessions(s);
      const shown = sessions.length;
      // The list's footer (cells hidden, a filter) takes the table's last row (screens.tsx).
      const footer = hiddenCells > 0 || s.search?.place === 'sessions' ? 1 : 0;
      const body = Math.max(0, bodyRows(s) - 1 - footer);
      const start = Math.max(0, Math.min(s.sessionsCursor - body + 1, shown - body));
      const row = start + event.y - 2;
      if (event.y >= 2 && row < shown) set(a, (x) => ({ ...x, sessionsCursor: row }));
    }
    return;
  }
  if (s.open === null) return;
  const pane = paneAt(s, event.x, event.y);
  if (pane === undefined) {
    if (event.action === 'press' && event.y === paneBoxes(s).inputRow) set(a, (x) => focus(x, 'input'));
    return;
  }
  if (wheel !== 0) {
    const g = geometry(a, pane);
    set(a, (x) => scrollPane(x, pane, wheel * WHEEL_LINES, g.total, g.height));
  } else if (event.action === 'press') set(a, (x) => focus(x, pane));
}

/**
 * A click on a row of a list overlay puts the cursor there. The list is drawn in a Frame (frame.tsx) under its title
 * rule on row 1, scrolled to keep the cursor in view. Branches, rollouts and artifacts give their Frame where each row
 * starts (a branch's changes and an artifact's preview take lines of their own), so the click finds its row there;
 * agents and rewind steps take one line each. A click on a grid cell selects that cell.
 */
function clickList(a: TuiActions, s: TuiState, x: number, y: number): void {
  const overlay = s.overlay;
  if (overlay === null) return;
  if (overlay.kind === 'grid') return clickGrid(a, overlay, x, y);
  const inner = Math.max(0, bodyRows(s) - 2);
  if (y < 2 || y >= 2 + inner) return;
  if (overlay.kind === 'branches' || overlay.kind === 'rollouts' || overlay.kind === 'artifacts') {
    const g = a.geometry.get(overlay.kind);
    const items = g?.items ?? [];
    const line = (g?.start ?? 0) + y - 2;
    if (items.length === 0 || line >= (g?.total ?? 0)) return;
    const row = itemAt(items, line);
    set(a, (x) => (x.overlay?.kind === overlay.kind ? setOverlay(x, { ...overlay, cursor: row }) : x));
    return;
  }
  const total =
    overlay.kind === 'agents'
      ? s.workspace.agents.length
      : overlay.kind === 'rewind'
        ? (s.open?.conversations.get(overlay.conversation)?.entries.length ?? 0)
        : 0;
  if (total === 0 || !('cursor' in overlay)) return;
  const scroll = overlay.kind === 'agents' ? 0 : follow(overlay.cursor, total, inner);
  const row = scroll + y - 2;
  if (row >= total) return;
  set(a, (x) => (x.overlay?.kind === overlay.kind ? setOverlay(x, { ...overlay, cursor: row }) : x));
}

/** A click on a cell of the rollout grid (its rows start under the counts and the column titles) selects it. */
function clickGrid(a: TuiActions, overlay: Extract<Overlay, { kind: 'grid' }>, x: number, y: number): void {
  const { label, cellWidth } = gridColumns(overlay.grid);
  const row = y - 2 - GRID_HEAD_LINES;
  const col = Math.floor((x - (label + 3)) / cellWidth);
  const cells = overlay.grid.rows[row]?.cells.length ?? 0;
  if (row < 0 || x < label + 3 || col >= cells) return;
  set(a, (s) => (s.overlay?.kind === 'grid' ? setOverlay(s, { ...s.overlay, row, col, repeat: 0 }) : s));
}
