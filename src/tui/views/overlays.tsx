import { useTui, useTuiContext } from '../hooks.ts';
import { helpSections } from '../keymap/keymap.ts';
import { keyLabel } from '../keys.ts';
import { paletteCompletions } from '../palette.ts';
import { seg, wrap, type Line } from '../lines.ts';
import { describeEntry } from '../../core/describe-entry.ts';
import { Frame, follow } from './frame.tsx';
import { ForkFormOverlay } from './fork-form.tsx';
import { DetailOverlay } from './detail.tsx';
import { DiffOverlay } from './diff-view.tsx';
import { fitLabel, gridColumns, MARKS_ROOM } from './grid-marks.ts';
import type { PaneItem } from '../detail.ts';
import { NoticeLogOverlay } from './notice-log.tsx';

/** A list overlay's row as its Frame's geometry holds it: where it starts, for a click or a search (/) to select it. */
const listItem = (line: number, title: string): PaneItem => ({ line, title, text: () => title });

/**
 * Overlays draw over the screen's body (the header and status bar stay). Each fills the body's rows exactly, so
 * nothing of the screen below shows through.
 */
export function OverlayView({ width, height }: { width: number; height: number }) {
  const kind = useTui((s) => s.overlay?.kind);
  if (kind === 'help') return <HelpOverlay width={width} height={height} />;
  if (kind === 'palette') return <PaletteOverlay width={width} height={height} />;
  if (kind === 'agents') return <AgentsOverlay width={width} height={height} />;
  if (kind === 'confirm') return <ConfirmOverlay width={width} height={height} />;
  if (kind === 'rewind') return <RewindOverlay width={width} height={height} />;
  if (kind === 'branches') return <BranchesOverlay width={width} height={height} />;
  if (kind === 'rollouts') return <RolloutsOverlay width={width} height={height} />;
  if (kind === 'grid') return <GridOverlay width={width} height={height} />;
  if (kind === 'diff') return <DiffOverlay width={width} height={height} />;
  if (kind === 'artifacts') return <ArtifactsOverlay width={width} height={height} />;
  if (kind === 'fork-form') return <ForkFormOverlay width={width} height={height} />;
  if (kind === 'notices') return <NoticeLogOverlay width={width} height={height} />;
  if (kind === 'detail') return <DetailOverlay width={width} height={height} />;
  return null;
}

function HelpOverlay({ width, height }: { width: number; height: number }) {
  const state = useTui((s) => s);
  const scroll = state.overlay?.kind === 'help' ? state.overlay.scroll : 0;
  const lines: Line[] = [];
  for (const section of helpSections(state)) {
    lines.push([seg(section.title, { bold: true, color: 'cyan' })]);
    const keyWidth = Math.min(24, Math.max(...section.rows.map((r) => r.keys.length)));
    for (const row of section.rows)
      lines.push([seg(`  ${row.keys.padEnd(keyWidth)}  `, { bold: true }), seg(row.title)]);
    lines.push([]);
  }
  lines.push([
    seg('Everything the keys do can also be typed in the : palette, with the same words as the p2tui command line.', {
      dim: true,
    }),
  ]);
  return (
    <Frame title="Keys (Esc closes)" lines={lines} width={width} height={height} scroll={scroll} geometryId="help" />
  );
}

function PaletteOverlay({ width, height }: { width: number; height: number }) {
  const overlay = useTui((s) => (s.overlay?.kind === 'palette' ? s.overlay : undefined));
  if (overlay === undefined) return null;
  const before = overlay.text.slice(0, overlay.cursor);
  const at = overlay.text[overlay.cursor] ?? ' ';
  const after = overlay.text.slice(overlay.cursor + 1);
  const inputLine: Line = [
    seg(': ', { bold: true, color: 'cyan' }),
    seg(before),
    seg(at, { inverse: true }),
    seg(after),
  ];
  const lines: Line[] = [inputLine, []];
  if (overlay.output.length > 0 || overlay.running) {
    if (overlay.running) lines.push([seg('running… (Esc stops it)', { dim: true })]);
    // A table row (columns apart by two or more spaces) stays one row, cut with … at the edge: wrapped, a wide
    // table's columns fell apart. Prose (errors, hints) still wraps.
    const shift = overlay.hscroll ?? 0;
    for (const text of overlay.output)
      lines.push(...(/\S {2,}\S/.test(text) ? [[seg(text.slice(shift))]] : wrap([seg(text)], width)));
  } else {
    const completions = paletteCompletions(overlay.text);
    if (completions.length === 0) lines.push([seg('no command starts like that', { dim: true })]);
    completions.forEach((c, i) => {
      const selected = i === overlay.selected;
      lines.push([
        seg(`${selected ? '›' : ' '} ${c.text.padEnd(20)} `, { bold: selected, inverse: selected }),
        seg(c.summary, { dim: !selected }),
      ]);
    });
  }
  const wide = overlay.output.some((t) => t.length > width);
  // The input stays on top; output scrolls below it.
  const body = [inputLine, ...lines.slice(1).slice(overlay.scroll)];
  return (
    <Frame
      title={`Command palette — the p2tui commands (${keyLabel('tab')} completes, Enter runs${wide ? ', C-f/C-b scroll sideways' : ''})`}
      lines={body}
      width={width}
      height={height}
      geometryId="palette"
    />
  );
}

function AgentsOverlay({ width, height }: { width: number; height: number }) {
  const agents = useTui((s) => s.workspace.agents);
  const cursor = useTui((s) => (s.overlay?.kind === 'agents' ? s.overlay.cursor : 0));
  const lines: Line[] = agents.map((a, i) => {
    const selected = i === cursor;
    return [
      seg(`${selected ? '›' : ' '} ${a.id.padEnd(16)} `, { bold: true, inverse: selected }),
      seg(`${a.model}${a.model.startsWith('scripted/') ? ' (sim)' : ''}  `, { dim: true }),
      seg(a.description),
    ];
  });
  if (agents.length === 0)
    lines.push([
      seg('This workspace has no personas: add personas/<id>.yaml, or run p2tui init.', { color: 'yellow' }),
    ]);
  return <Frame title="New session: choose an agent (Enter)" lines={lines} width={width} height={height} />;
}

function RewindOverlay({ width, height }: { width: number; height: number }) {
  const overlay = useTui((s) => (s.overlay?.kind === 'rewind' ? s.overlay : undefined));
  const conv = useTui((s) =>
    s.overlay?.kind === 'rewind' ? s.open?.conversations.get(s.overlay.conversation) : undefined,
  );
  if (overlay === undefined || conv === undefined) return null;
  const lines: Line[] = conv.entries.map((e, i) => {
    const selected = i === overlay.cursor;
    const text = describeEntry(e).replace(/\s+/g, ' ');
    return [
      seg(`${selected ? '›' : ' '} #${String(i).padEnd(4)}`, { bold: true, inverse: selected }),
      seg(`seq ${String(e.seq).padEnd(6)} `, { dim: true }),
      seg(`${e.kind.padEnd(19)}`, { color: e.kind === 'failed' ? 'red' : e.kind === 'finished' ? 'green' : 'cyan' }),
      seg(text.length > width - 40 ? `${text.slice(0, Math.max(0, width - 41))}…` : text),
    ];
  });
  const title = `Rewind ${conv.agent} (${conv.path}): Enter rewinds to the step (fork + check out), f forks there; the old branch stays`;
  return (
    <Frame
      title={title}
      lines={lines}
      width={width}
      height={height}
      scroll={follow(overlay.cursor, lines.length, height - 2)}
    />
  );
}

function BranchesOverlay({ width, height }: { width: number; height: number }) {
  const overlay = useTui((s) => (s.overlay?.kind === 'branches' ? s.overlay : undefined));
  if (overlay === undefined) return null;
  const lines: Line[] = [];
  const items: PaneItem[] = [];
  let cursorLine = 0;
  overlay.items.forEach((b, i) => {
    const selected = i === overlay.cursor;
    if (selected) cursorLine = lines.length;
    items.push(listItem(lines.length, b.id));
    const indent = `${'  '.repeat(b.depth)}${b.depth > 0 ? '└ ' : ''}`;
    lines.push([
      seg(`${selected ? '›' : ' '} ${overlay.marked === i ? '●' : ' '}${b.checkedOut ? '*' : ' '} `, {
        bold: true,
        inverse: selected,
      }),
      seg(`${indent}${b.id}`, { bold: b.checkedOut, inverse: selected }),
      seg(`  ${b.label ?? ''}`, { color: 'cyan' }),
      seg(
        `  ${b.forkSeq === null ? 'root' : `forked at seq ${b.forkSeq}`} · ${b.entries} ${b.entries === 1 ? 'entry' : 'entries'}`,
        { dim: true },
      ),
      ...(b.score === null
        ? []
        : [
            seg(`  score ${b.score.toFixed(2)}`, {
              color: b.score >= 0.7 ? 'green' : b.score >= 0.4 ? 'yellow' : 'red',
            }),
          ]),
    ]);
    // A policy that is not live, then what the branch changes per agent, on lines of their own (wrapped): at 80
    // columns they would be cut off the end of the branch's line.
    const pad = 4 + indent.length;
    const details = [
      ...(b.effects === 'live' ? [] : [seg(`effects ${b.effects}`, { color: 'yellow', bold: true })]),
      ...(b.effects !== 'live' && b.changes !== '' ? [seg(' · ', { dim: true })] : []),
      ...(b.changes === '' ? [] : [seg(b.changes, { dim: true })]),
    ];
    if (details.length > 0) lines.push(...wrap(details, width - pad).map((l) => [seg(' '.repeat(pad)), ...l]));
  });
  return (
    <Frame
      title={
        overlay.marked === null || overlay.marked === undefined
          ? 'Branches (* checked out): Enter checks one out, d compares with the checked-out one, m marks one'
          : `Branches: d compares the marked ● ${overlay.items[overlay.marked]?.id ?? ''} with the one under the cursor`
      }
      lines={lines}
      width={width}
      height={height}
      scroll={follow(cursorLine, lines.length, height - 2)}
      geometryId="branches"
      items={items}
    />
  );
}

function RolloutsOverlay({ width, height }: { width: number; height: number }) {
  const overlay = useTui((s) => (s.overlay?.kind === 'rollouts' ? s.overlay : undefined));
  if (overlay === undefined) return null;
  const lines: Line[] = overlay.items.map((r, i) => {
    const selected = i === overlay.cursor;
    return [
      seg(`${selected ? '›' : ' '} ${r.id} `, { bold: true, inverse: selected }),
      seg(` ${r.name}`, { bold: selected }),
      seg(`  ${r.status}`, { color: r.status === 'running' ? 'yellow' : r.status === 'finished' ? 'green' : 'red' }),
      seg(`  ${r.done}/${r.cells} done${r.failed > 0 ? ` · ${r.failed} failed` : ''} · ${r.age}`, { dim: true }),
    ];
  });
  if (lines.length === 0)
    lines.push([seg('No rollouts yet. Run one with: p2tui rollout run rollouts/temperature.yaml', { dim: true })]);
  return (
    <Frame
      title="Rollouts: Enter opens the grid"
      lines={lines}
      width={width}
      height={height}
      scroll={follow(overlay.cursor, lines.length, height - 2)}
      geometryId="rollouts"
      items={overlay.items.map((r, i) => listItem(i, r.id))}
    />
  );
}

/** A score with its colour: green from 0.7, yellow from 0.4, red below. */
function scoreSeg(value: number | null, text: string, selected: boolean): Line[number] {
  return seg(text, {
    ...(value === null ? { dim: true } : { color: value >= 0.7 ? 'green' : value >= 0.4 ? 'yellow' : 'red' }),
    inverse: selected,
  });
}

function GridOverlay({ width, height }: { width: number; height: number }) {
  const overlay = useTui((s) => (s.overlay?.kind === 'grid' ? s.overlay : undefined));
  if (overlay === undefined) return null;
  const { grid } = overlay;
  const { nameOf, label, marks, cellWidth } = gridColumns(grid);
  const lines: Line[] = [];
  const c = grid.counts;
  lines.push([
    seg(`${c.done}/${c.total} done`, { bold: true }),
    seg(
      `${c.failed > 0 ? ` · ${c.failed} failed` : ''}${c.running > 0 ? ` · ${c.running} running` : ''}${c.pending > 0 ? ` · ${c.pending} waiting` : ''}`,
      { color: c.failed > 0 ? 'red' : 'yellow' },
    ),
    seg(
      `   metric ${grid.metric ?? '–'} (m) · columns: ${overlay.options.by} (c) · ${overlay.options.sort === 'score' ? 'best first' : 'spec order'} (s)`,
      { dim: true },
    ),
  ]);
  lines.push([]);
  lines.push([
    seg(''.padEnd(label + 3)),
    ...grid.columns.map((col) => seg(col.slice(0, cellWidth - 1).padEnd(cellWidth), { bold: true })),
    seg('mean ± 95% CI', { bold: true }),
  ]);
  grid.rows.forEach((row, r) => {
    const line: Line[number][] = [
      seg(`${r === overlay.row ? '›' : ' '} ${fitLabel(nameOf(row), label)} `, {
        bold: r === overlay.row,
      }),
    ];
    row.cells.forEach((cell, k) => {
      const selected = r === overlay.row && k === overlay.col;
      const glyphs = marks[r]![k]!;
      const text = `${cell.mean === null ? '  – ' : cell.mean.toFixed(2)} ${glyphs}`.padEnd(cellWidth);
      line.push(scoreSeg(cell.mean, text, selected));
    });
    const a = row.aggregate;
    line.push(
      scoreSeg(
        a.mean,
        a.mean === null
          ? '–'
          : a.ci === null
            ? a.mean.toFixed(2)
            : `${a.mean.toFixed(2)} ± ${((a.ci[1] - a.ci[0]) / 2).toFixed(2)} (n=${a.n})`,
        false,
      ),
    );
    lines.push(line);
  });
  const cell = grid.rows[overlay.row]?.cells[overlay.col];
  if (cell !== undefined) {
    lines.push([]);
    const runs = cell.runs;
    const shown = runs.filter((x) => x.session !== null);
    lines.push([
      seg(`${grid.rows[overlay.row]!.team}/${grid.rows[overlay.row]!.variant} · ${grid.columns[overlay.col]}: `, {
        bold: true,
      }),
      seg(
        runs.map((x) => `seed ${x.seed} ${x.status}${x.value === null ? '' : ` ${x.value.toFixed(2)}`}`).join(' · '),
        { dim: true },
      ),
    ]);
    if (shown.length > 0)
      lines.push([
        seg(`Enter opens session ${shown[overlay.repeat % shown.length]!.session} (. next repeat)`, { dim: true }),
      ]);
  }
  const counted = grid.rows.some((row) => row.cells.some((cell) => cell.runs.length > MARKS_ROOM));
  lines.push([
    seg(`● done  ✗ failed  ◌ running  · waiting${counted ? '  (7● 1✗: 7 repeats done, 1 failed)' : ''}`, { dim: true }),
  ]);
  return <Frame title={`Rollout ${overlay.title}`} lines={lines} width={width} height={height} />;
}

function ArtifactsOverlay({ width, height }: { width: number; height: number }) {
  const overlay = useTui((s) => (s.overlay?.kind === 'artifacts' ? s.overlay : undefined));
  const { actions } = useTuiContext();
  if (overlay === undefined) return null;
  const lines: Line[] = [];
  const items: PaneItem[] = [];
  let cursorLine = 0;
  overlay.items.forEach((item, i) => {
    const selected = i === overlay.cursor;
    if (selected) cursorLine = lines.length;
    items.push(listItem(lines.length, item.ref));
    lines.push([
      seg(`${selected ? '›' : ' '} ${overlay.marked === i ? '●' : ' '} `, { bold: true, inverse: selected }),
      seg(item.ref.length > 16 ? item.ref.slice(0, 12) : item.ref.padEnd(12), { dim: true }),
      seg(`  ${item.label}`, { bold: selected }),
    ]);
    // The selected item's content starts on the line under it, so d is not needed just to see what it holds.
    if (selected) {
      const preview = actions.bridge.branching.preview(item.ref);
      lines.push([
        seg('     ⎿ ', { dim: true }),
        seg(preview === '' ? '(no text to preview)' : preview, { color: 'cyan' }),
      ]);
    }
  });
  if (lines.length === 0)
    lines.push([seg('Nothing to compare yet: no artifacts, messages or tool results on this branch.', { dim: true })]);
  const which =
    overlay.allBranches === true ? 'every branch (a: checked-out only)' : 'checked-out branch (a: every branch)';
  return (
    <Frame
      title={`Artifacts and results, ${which}: m marks one, d compares it with the one under the cursor`}
      lines={lines}
      width={width}
      height={height}
      scroll={follow(cursorLine, lines.length, height - 2)}
      geometryId="artifacts"
      items={items}
    />
  );
}

function ConfirmOverlay({ width, height }: { width: number; height: number }) {
  const message = useTui((s) => (s.overlay?.kind === 'confirm' ? s.overlay.message : ''));
  const lines: Line[] = [
    [],
    ...wrap([seg(message, { bold: true })], width - 2),
    [],
    [seg('y', { bold: true }), seg(' yes   '), seg('n', { bold: true }), seg(' no')],
  ];
  return <Frame title="Confirm" lines={lines} width={width} height={Math.min(height, lines.length + 2)} />;
}
