import type { OptionDefs } from '../define.ts';
import { displayWidth, paint, table, truncate, type Style } from './text.ts';

/**
 * A table that fits a width: when its columns do not fit side by side, the table is stacked into blocks that each
 * repeat the key columns (what names a row) and take as many of the other columns, in order, as fit; a column too
 * wide for any block gets a block of its own with its cells cut to fit. Nothing wraps, and with no width (`--wide`)
 * it is one table as before.
 */

/** `--wide` and `--width` of the commands that print a wide table (the rollout statistics). */
export const TABLE_OPTIONS = {
  wide: { type: 'boolean', description: 'Every column in one table, however wide' },
  width: {
    type: 'number',
    integer: true,
    min: 40,
    max: 10_000,
    value: '<n>',
    description: 'Fit the table to n columns (default: the terminal, else 120)',
  },
} as const satisfies OptionDefs;

/** The width a table fits (as the diff commands choose theirs), or null for `--wide`. */
export function tableWidth(options: { readonly wide: boolean; readonly width: number | undefined }): number | null {
  return options.wide ? null : (options.width ?? process.stdout.columns ?? 120);
}

export interface Column {
  readonly header: string;
  /** Plain text, one per row (painted with `style` after the layout is chosen, so widths are the visible ones). */
  readonly cells: readonly string[];
  readonly style?: Style;
  /** Repeated at the left of every block. */
  readonly key?: boolean;
  /** Placed before the other columns (into the first block), though shown in its place: short, always wanted. */
  readonly first?: boolean;
}

export interface FittedTable {
  readonly lines: string[];
  /** How many blocks the table was stacked into (1: it fit as it is). */
  readonly blocks: number;
  /** Whether some column was too wide for any block and had its cells cut (`--wide` shows them whole). */
  readonly cut: boolean;
}

const GAP = 2;
/** The least a cut column keeps (with its '…'). */
const MIN_CUT = 6;

export function fitTable(columns: readonly Column[], width: number | null, color: boolean): FittedTable {
  const keys = columns.filter((c) => c.key === true);
  const rest = columns.filter((c) => c.key !== true);
  const widthOf = (c: Column): number => Math.max(displayWidth(c.header), ...c.cells.map((s) => displayWidth(s)));
  if (width === null) return { lines: render([...keys, ...rest], color), blocks: 1, cut: false };
  const keyWidth = (list: readonly Column[]): number => list.reduce((sum, c) => sum + widthOf(c) + GAP, 0);
  // Keys wider than the width leave no room: the widest key is cut until one cut column fits beside them.
  let fittedKeys = [...keys];
  while (keyWidth(fittedKeys) + MIN_CUT > width) {
    const widest = fittedKeys.reduce((w, c, i) => (widthOf(c) > widthOf(fittedKeys[w]!) ? i : w), 0);
    const column = fittedKeys[widest];
    if (column === undefined || widthOf(column) <= MIN_CUT) break;
    fittedKeys = fittedKeys.map((c, i) => (i === widest ? cut(c, widthOf(c) - 1) : c));
  }
  let wasCut = fittedKeys.some((c, i) => c !== keys[i]);
  const room = width - keyWidth(fittedKeys);
  // First fit: a narrow column (cost, steps) joins the first block with room for it. Blocks show their columns in
  // the table's order, whatever order they were placed in.
  const blocks: { columns: { column: Column; at: number }[]; used: number }[] = [];
  const placing = rest.map((column, at) => ({ column, at }));
  for (const { column, at } of [...placing.filter((p) => p.column.first), ...placing.filter((p) => !p.column.first)]) {
    const w = widthOf(column) + GAP;
    const block = blocks.find((b) => b.used + w <= room + GAP);
    if (block !== undefined) {
      block.columns.push({ column, at });
      block.used += w;
    } else if (w <= room + GAP) blocks.push({ columns: [{ column, at }], used: w });
    else {
      blocks.push({ columns: [{ column: cut(column, Math.max(room, MIN_CUT)), at }], used: room + GAP });
      wasCut = true;
    }
  }
  if (blocks.length === 0) return { lines: render(fittedKeys, color), blocks: 1, cut: wasCut };
  const shown = (b: (typeof blocks)[number]): Column[] =>
    [...b.columns].sort((x, y) => x.at - y.at).map((p) => p.column);
  const lines = blocks.flatMap((b, i) => [...(i === 0 ? [] : ['']), ...render([...fittedKeys, ...shown(b)], color)]);
  return { lines, blocks: blocks.length, cut: wasCut };
}

function cut(column: Column, width: number): Column {
  return { ...column, header: truncate(column.header, width), cells: column.cells.map((s) => truncate(s, width)) };
}

function render(columns: readonly Column[], color: boolean): string[] {
  const rows = (columns[0]?.cells ?? []).map((_, r) =>
    columns.map((c) => (c.style === undefined ? c.cells[r]! : paint(color, c.style, c.cells[r]!))),
  );
  return table(
    rows,
    columns.map((c) => c.header),
    color,
  );
}
