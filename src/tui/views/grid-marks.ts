import type { GridCell } from '../../rollout/grid.ts';

export const STATUS_GLYPH = { done: '●', failed: '✗', running: '◌', pending: '·' } as const;
const ORDER = ['done', 'failed', 'running', 'pending'] as const;

/**
 * A grid cell's repeats: one mark each when `room` allows, else a count per status (`4● 1✗`), so every repeat is
 * accounted for. (Cut to the room, 5 repeats showed as 4 marks and a failed 5th was invisible.)
 */
export function cellMarks(cell: GridCell, room: number): string {
  const glyphs = cell.runs.map((r) => STATUS_GLYPH[r.status]).join('');
  if (cell.runs.length <= room) return glyphs;
  return countMarks(cell);
}

/** `4● 1✗`: how many repeats are in each status, in the order done, failed, running, waiting. */
export function countMarks(cell: GridCell): string {
  return ORDER.map((status) => [status, cell.runs.filter((r) => r.status === status).length] as const)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n}${STATUS_GLYPH[status]}`)
    .join(' ');
}

/** A row label cut to `width` with … when longer: the caller keeps a space after it, so it never runs into a score. */
export function fitLabel(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text.padEnd(width);
}
