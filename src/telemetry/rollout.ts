import type { CellRow, RolloutRow } from '../store/rollouts.ts';
import type { Store } from '../store/store.ts';
import { readSessionLog } from './log.ts';
import { type MapOptions, type SpanRef, type TraceSpan, sessionSpans, spanIdOf, traceIdOf } from './spans.ts';

/**
 * A rollout as traces: one span of its own (`rollout <name>`, its own trace), and one trace per cell (its session's),
 * whose root spans link to the rollout's span. Ids are hashes of the rollout and the sessions, like a session's.
 */
export function rolloutSpans(
  store: Store,
  rollout: RolloutRow,
  cells: readonly CellRow[],
  options: MapOptions = {},
): TraceSpan[] {
  const { traceId, spanId } = rolloutSpanRef(rollout.id);
  const ran = cells.filter((c) => c.session !== null);
  const start = Math.min(rollout.createdAt, ...ran.map((c) => c.startedAt ?? rollout.createdAt));
  const end = Math.max(rollout.finishedAt ?? start, ...ran.map((c) => c.finishedAt ?? start));
  const root: TraceSpan = {
    traceId,
    spanId,
    parentSpanId: null,
    name: `rollout ${rollout.name}`,
    kind: 'internal',
    start,
    end,
    attributes: {
      'p2tui.rollout.id': rollout.id,
      'p2tui.rollout.name': rollout.name,
      'p2tui.rollout.status': rollout.status,
      'p2tui.rollout.cells': cells.length,
      'p2tui.cost_usd': cells.reduce((sum, c) => sum + (c.metrics?.costUsd ?? 0), 0),
    },
    events: [],
    links: [],
    status: { code: 'unset' },
  };
  const spans: TraceSpan[] = [root];
  const seen = new Set<string>();
  for (const cell of ran) {
    const session = cell.session!;
    // A fork_from cell runs on a branch of its source session: that session is one trace, exported once.
    if (seen.has(session)) continue;
    seen.add(session);
    spans.push(...cellSpans(store, session, cell, options));
  }
  return spans;
}

/** The span a rollout's cells link to: the root of the rollout's own trace. */
export function rolloutSpanRef(rollout: string): SpanRef {
  const scope = `rollout:${rollout}`;
  return { traceId: traceIdOf(scope), spanId: spanIdOf(scope, 'rollout') };
}

/** A cell's session as its trace: root spans linked to the rollout's span and tagged with the cell (live export too). */
export function cellSpans(store: Store, session: string, cell: CellRow, options: MapOptions = {}): TraceSpan[] {
  const spans = sessionSpans(readSessionLog(store, session), { ...options, linkTo: rolloutSpanRef(cell.rollout) });
  for (const span of spans) {
    if (span.parentSpanId !== null) continue;
    Object.assign(span.attributes, {
      'p2tui.rollout.id': cell.rollout,
      'p2tui.cell.id': cell.id,
      'p2tui.cell.team': cell.team,
      'p2tui.cell.variant': cell.variant,
      'p2tui.cell.scenario': cell.scenario,
      'p2tui.cell.repeat': cell.repeat,
    });
  }
  return spans;
}
