import { cycleChoice, fieldText, isChoiceField, moveField, withFieldText } from '../fork-form.ts';
import { moveCursor } from '../text-input.ts';
import { setOverlay, scrollPane, type Overlay, type PaneId, type TextInput, type TuiState } from '../state.ts';
import { paletteCompletions } from '../palette.ts';
import type { TuiActions } from './model.ts';

/** What the key commands share: applying a transition, scrolling a pane or an overlay, editing a text field. */

export const set = (a: TuiActions, t: (s: TuiState) => TuiState): void => a.store.set(t);
export const geometry = (a: TuiActions, id: string): { total: number; height: number } =>
  a.geometry.get(id) ?? { total: 0, height: 1 };
export const scrolling = (s: TuiState): PaneId => (s.focus === 'input' ? 'conversation' : s.focus);
export const scroll = (
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
export const editInput = (a: TuiActions, edit: (i: TextInput) => TextInput): void =>
  set(a, (s) => ({ ...s, input: edit(s.input) }));
export const editPalette = (a: TuiActions, edit: (i: TextInput) => TextInput): void =>
  set(a, (s) => {
    if (s.overlay?.kind !== 'palette') return s;
    const next = edit({ text: s.overlay.text, cursor: s.overlay.cursor });
    return setOverlay(s, { ...s.overlay, text: next.text, cursor: next.cursor, selected: 0 });
  });

export function scrollDiff(s: TuiState, a: TuiActions, move: number | 'page' | '-page' | 'top'): TuiState {
  if (s.overlay?.kind !== 'diff') return s;
  const g = geometry(a, 'diff');
  const page = Math.max(1, g.height - 1);
  const delta = move === 'page' ? page : move === '-page' ? -page : move === 'top' ? -s.overlay.scroll : move;
  const scroll = Math.min(Math.max(0, g.total - g.height), Math.max(0, s.overlay.scroll + delta));
  return setOverlay(s, { ...s.overlay, scroll });
}

export const editForm = (a: TuiActions, edit: (i: TextInput) => TextInput): void =>
  set(a, (s) => {
    if (s.overlay?.kind !== 'fork-form' || isChoiceField(s.overlay.field)) return s;
    const form = s.overlay;
    const next = edit({ text: fieldText(form), cursor: form.cursor });
    return setOverlay(s, withFieldText(form, next.text, next.cursor));
  });

/** A list cursor moved by `move` (±Infinity for the ends), kept on the list's `count` items. */
export function listCursor(cursor: number, move: number, count: number): number {
  return Math.min(Math.max(0, count - 1), Math.max(0, cursor + move));
}

export function moveFormField(s: TuiState, move: number): TuiState {
  return s.overlay?.kind === 'fork-form' ? setOverlay(s, moveField(s.overlay, move)) : s;
}

/** ← and → in the fork form: the next choice on a choice field, else the text cursor. */
export function formLeftRight(a: TuiActions, move: 1 | -1): void {
  const form = a.store.get().overlay;
  if (form?.kind !== 'fork-form') return;
  if (isChoiceField(form.field))
    set(a, (s) => (s.overlay?.kind === 'fork-form' ? setOverlay(s, cycleChoice(s.overlay, move)) : s));
  else editForm(a, (i) => moveCursor(i, move));
}

export function moveArtifacts(s: TuiState, move: number): TuiState {
  if (s.overlay?.kind !== 'artifacts') return s;
  return setOverlay(s, { ...s.overlay, cursor: listCursor(s.overlay.cursor, move, s.overlay.items.length) });
}

export function moveRewind(s: TuiState, move: number): TuiState {
  if (s.overlay?.kind !== 'rewind') return s;
  const count = s.open?.conversations.get(s.overlay.conversation)?.entries.length ?? 0;
  const cursor = listCursor(s.overlay.cursor, move, count);
  return setOverlay(s, { ...s.overlay, cursor });
}

export function moveRollouts(s: TuiState, move: number): TuiState {
  if (s.overlay?.kind !== 'rollouts') return s;
  return setOverlay(s, { ...s.overlay, cursor: listCursor(s.overlay.cursor, move, s.overlay.items.length) });
}

export function moveGrid(s: TuiState, rows: number, cols: number): TuiState {
  if (s.overlay?.kind !== 'grid') return s;
  const g = s.overlay.grid;
  const row = Math.max(0, Math.min(g.rows.length - 1, s.overlay.row + rows));
  const col = Math.max(0, Math.min(g.columns.length - 1, s.overlay.col + cols));
  return setOverlay(s, { ...s.overlay, row, col, repeat: 0 });
}

export function moveBranches(s: TuiState, move: number): TuiState {
  if (s.overlay?.kind !== 'branches') return s;
  return setOverlay(s, { ...s.overlay, cursor: listCursor(s.overlay.cursor, move, s.overlay.items.length) });
}

/** Forks at the entry under the rewind cursor; `checkout` makes it a rewind. */
export function forkAtCursor(a: TuiActions, s: TuiState, checkout: boolean): void {
  if (s.overlay?.kind !== 'rewind') return;
  const conv = s.open?.conversations.get(s.overlay.conversation);
  const entry = conv?.entries[s.overlay.cursor];
  set(a, (x) => setOverlay(x, null));
  if (conv === undefined || entry === undefined) return;
  a.bridge.branching.fork(entry.seq, `${conv.agent} #${s.overlay.cursor}`, checkout);
}

export function moveAgents(s: TuiState, move: number): TuiState {
  if (s.overlay?.kind !== 'agents') return s;
  return setOverlay(s, { kind: 'agents', cursor: listCursor(s.overlay.cursor, move, s.workspace.agents.length) });
}

export function movePaletteSelection(s: TuiState, move: number): TuiState {
  if (s.overlay?.kind !== 'palette') return s;
  const count = paletteCompletions(s.overlay.text).length;
  if (count === 0) return s;
  return setOverlay(s, { ...s.overlay, selected: (s.overlay.selected + move + count) % count });
}

export function scrollOverlay(s: TuiState, a: TuiActions, direction: 1 | -1): TuiState {
  const overlay = s.overlay;
  if (overlay === null || (overlay.kind !== 'help' && overlay.kind !== 'palette')) return s;
  const g = geometry(a, overlay.kind);
  const step = overlay.kind === 'help' ? 1 : Math.max(1, g.height - 1);
  const max = Math.max(0, g.total - g.height);
  const next: Overlay = { ...overlay, scroll: Math.min(max, Math.max(0, overlay.scroll + direction * step)) };
  return setOverlay(s, next);
}
