import type { Entry, EntryDraft } from '../core/entries.ts';
import type { Line } from './lines.ts';

/**
 * What a pane's selectable rows are: each item starts at a line of the pane and opens in full (Enter) or is copied
 * (y) as its `text`. Pure, so the detail view's text is tested without a terminal.
 */
export interface PaneItem {
  /** The pane line the item starts at. */
  readonly line: number;
  readonly title: string;
  /** Built when asked (Enter, y), not on every frame. */
  readonly text: () => string;
}

/** Lines grouped by item, flattened: the pane's lines and where each item starts. */
export function flattenItems(groups: readonly { lines: readonly Line[]; title: string; text: () => string }[]): {
  lines: Line[];
  items: PaneItem[];
} {
  const lines: Line[] = [];
  const items: PaneItem[] = [];
  for (const g of groups) {
    items.push({ line: lines.length, title: g.title, text: g.text });
    for (const l of g.lines) lines.push(l);
  }
  return { lines, items };
}

/** The index of the item a pane line belongs to (-1 before the first). */
export function itemAt(items: readonly PaneItem[], line: number): number {
  let lo = 0;
  let hi = items.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid]!.line <= line) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Text that is JSON (an object or array) pretty-printed with two spaces; other text as it is. */
export function pretty(text: string): string {
  const t = text.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return text;
  try {
    return JSON.stringify(JSON.parse(t), null, 2);
  } catch {
    return text;
  }
}

/** An entry in full: its kind and step, then its text (or its JSON payload, pretty-printed). */
export function entryText(e: EntryDraft | Entry): string {
  const p = e.payload as unknown as Record<string, unknown>;
  const main =
    typeof p['text'] === 'string' && Object.keys(p).every((k) => ['text', 'modelCall', 'by'].includes(k))
      ? pretty(p['text'])
      : JSON.stringify(p, (_k, v: unknown) => (typeof v === 'string' ? pretty(v) : v), 2).replace(/\\n/g, '\n');
  return main;
}

/**
 * The selected row of a pane: the cursor's, else (the conversation) the entry at the window's last line, else the
 * newest. Undefined when the pane has no rows.
 */
export function selectedItem(
  items: readonly PaneItem[],
  cursor: number | undefined,
  bottomLine: number | null,
): number | undefined {
  if (items.length === 0) return undefined;
  if (cursor !== undefined) return Math.min(cursor, items.length - 1);
  if (bottomLine !== null) return Math.max(0, itemAt(items, bottomLine));
  return items.length - 1;
}
