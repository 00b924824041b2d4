import type { Grid, GridCell } from '../../rollout/grid.ts';

/** Up to this many repeats a grid cell shows one mark each; more show as counts per status. */
export const MARKS_ROOM = 6;

/** The grid overlay's first lines before its rows: the counts, a blank line, the column titles. */
export const GRID_HEAD_LINES = 3;

/**
 * How the grid overlay lays out its columns (overlays.tsx draws it, a click finds a cell with it): a row's name
 * (`› ` + the label + a space), then one cell per column.
 */
export function gridColumns(grid: Grid): {
  nameOf: (r: Grid['rows'][number]) => string;
  label: number;
  marks: string[][];
  cellWidth: number;
} {
  // A row whose cells did not run live says so after its name ([dry-run], [ask], or both policies it ran under).
  const nameOf = (r: Grid['rows'][number]): string =>
    `${r.team}/${r.variant}${r.effects === undefined || r.effects === '' || r.effects === 'live' ? '' : ` [${r.effects}]`}`;
  const label = Math.min(36, Math.max(8, ...grid.rows.map((r) => nameOf(r).length)));
  // Every repeat shows: a mark each up to MARKS_ROOM repeats, counts per status (`4● 1✗`) beyond; the cell is as wide
  // as its widest marks plus the mean and a space, so a cell never runs into the next.
  const marks = grid.rows.map((row) => row.cells.map((cell) => cellMarks(cell, MARKS_ROOM)));
  const widest = Math.max(0, ...marks.flat().map((m) => m.length));
  const cellWidth = Math.max(10, Math.min(18, ...grid.columns.map((c) => c.length + 2)), 5 + widest + 1);
  return { nameOf, label, marks, cellWidth };
}

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
