import type { SessionSummary, TuiState } from './state.ts';

/** The sessions list: what it shows (filtered, rollout cells hidden) and its cursor, kept on the same session. */

/**
 * The sessions the list shows: rollout cells are hidden unless asked for (C) (a rollout of 20 cells would bury the
 * rest; R lists the rollouts), and a search typed in the list (/) keeps the sessions whose row contains it.
 */
export function visibleSessions(s: Pick<TuiState, 'sessions' | 'showCells' | 'search'>): {
  sessions: readonly SessionSummary[];
  hiddenCells: number;
} {
  const query = s.search?.place === 'sessions' ? s.search.query.toLowerCase() : '';
  let hiddenCells = 0;
  const sessions = s.sessions.filter((x) => {
    if (x.source === 'rollout' && !s.showCells) {
      hiddenCells += 1;
      return false;
    }
    return query === '' || [x.id, x.status, x.agent, x.title].join(' ').toLowerCase().includes(query);
  });
  return { sessions: hiddenCells === 0 && query === '' ? s.sessions : sessions, hiddenCells };
}

export function moveSessionsCursor(s: TuiState, move: number | 'top' | 'bottom'): TuiState {
  const last = Math.max(0, visibleSessions(s).sessions.length - 1);
  const cursor = move === 'top' ? 0 : move === 'bottom' ? last : Math.min(last, Math.max(0, s.sessionsCursor + move));
  return { ...s, sessionsCursor: cursor };
}

/** Keeps the cursor on the same session when the list changes under it. */
export function setSessions(s: TuiState, sessions: readonly SessionSummary[]): TuiState {
  const current = visibleSessions(s).sessions[s.sessionsCursor]?.id;
  const shown = visibleSessions({ ...s, sessions }).sessions;
  const index = current === undefined ? -1 : shown.findIndex((x) => x.id === current);
  return {
    ...s,
    sessions,
    sessionsCursor: index >= 0 ? index : Math.min(s.sessionsCursor, Math.max(0, shown.length - 1)),
  };
}
