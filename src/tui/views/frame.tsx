import { Box } from 'ink';
import { useTui, useTuiContext } from '../hooks.ts';
import { highlight, searchLabel } from '../search.ts';
import { LinesView } from '../components/LineView.tsx';
import { seg, type Line } from '../lines.ts';
import type { PaneItem } from '../detail.ts';

/** An overlay's frame: a rule with its title, its lines (from `scroll`), and a rule that says how far it scrolled. */
export function Frame({
  title,
  lines,
  width,
  height,
  scroll = 0,
  geometryId,
  items,
}: {
  title: string;
  lines: readonly Line[];
  width: number;
  height: number;
  scroll?: number;
  geometryId?: string;
  /** Where each row of a list starts among `lines` (a row may take several lines): a click or a search match selects it. */
  items?: readonly PaneItem[];
}) {
  const { actions, color } = useTuiContext();
  // A search in this overlay (/) highlights its matches.
  const search = useTui((s) => (s.search !== null && s.search.place === geometryId ? s.search : null));
  const query = search?.query ?? '';
  const inner = Math.max(0, height - 2);
  if (geometryId !== undefined)
    actions.geometry.set(geometryId, {
      total: lines.length,
      height: inner,
      lines,
      start: scroll,
      ...(items === undefined ? {} : { items }),
    });
  const window = lines.slice(scroll, scroll + inner);
  const shown = query === '' ? window : window.map((l) => highlight(l, query));
  // No label, no gap: an empty label drew `─  ───`, a border with a hole in it.
  const rule = (label: string): Line => [
    seg(label === '' ? '─'.repeat(width) : `─ ${label} ${'─'.repeat(Math.max(0, width - label.length - 3))}`, {
      bold: true,
    }),
  ];
  return (
    <Box flexDirection="column" width={width} height={height}>
      <LinesView lines={[rule(title)]} width={width} height={1} color={color} />
      <LinesView lines={shown} width={width} height={inner} color={color} />
      <LinesView
        lines={[
          rule(
            [
              lines.length > inner ? `${Math.min(lines.length, scroll + inner)}/${lines.length}` : '',
              search === null ? '' : searchLabel(search, lines),
            ]
              .filter((x) => x !== '')
              .join(' · '),
          ),
        ]}
        width={width}
        height={1}
        color={color}
      />
    </Box>
  );
}

/** Keeps the cursor's line in view: the first line shown for a list of `total` lines in `height` rows. */
export function follow(cursor: number, total: number, height: number): number {
  return Math.max(0, Math.min(cursor - Math.floor(height / 2), total - height));
}
