/**
 * The status bar's order and short words for commands that live in other key lists: the bar shows the keys of the
 * focused place, most important first, as many as fit. Lower comes first; `? help` always keeps its place at the end.
 * A command's own `hint`/`short` count when it has no row here.
 */
export const HINTS: Readonly<Record<string, { readonly hint: number; readonly short?: string }>> = {
  // Sessions list
  'new-session': { hint: 0, short: 'new session' },
  'sessions-open': { hint: 1, short: 'open' },
  'rollouts-open': { hint: 2, short: 'rollouts' },
  quit: { hint: 99, short: 'quit' },
  // A session: what you do with it before how you move around it.
  'focus-input': { hint: 0, short: 'write' },
  'session-retry': { hint: 1, short: 'retry' },
  'session-rewind': { hint: 2, short: 'rewind' },
  'session-branches': { hint: 3, short: 'branches' },
  'session-pause': { hint: 4, short: 'pause/resume' },
  'session-artifacts': { hint: 5, short: 'compare' },
  'focus-next': { hint: 6, short: 'next pane' },
  'session-rollouts': { hint: 7, short: 'rollouts' },
  'session-cancel': { hint: 8, short: 'cancel' },
  'judge-detail': { hint: 9, short: 'reasons' },
  'ledger-trail': { hint: 9, short: 'audit trail' },
  'ledger-verify': { hint: 10, short: 'verify' },
  'frame-down': { hint: 9, short: 'next conversation' },
  'frame-show': { hint: 10, short: 'its stack' },
  // Scrolling works the same in every pane: shown when there is room to spare.
  'scroll-down': { hint: 85, short: 'scroll' },
  'scroll-top': { hint: 86, short: 'top' },
  'scroll-bottom': { hint: 87, short: 'bottom' },
  back: { hint: 80, short: 'back' },
  // Overlays
  'help-close': { hint: 0, short: 'back' },
  'diff-mode': { hint: 0, short: 'side/unified' },
  'diff-page-down': { hint: 1, short: 'page' },
  'diff-close': { hint: 2, short: 'back' },
  'branches-diff': { hint: 1, short: 'compare' },
  'branches-close': { hint: 2, short: 'close' },
  'artifacts-mark': { hint: 0, short: 'mark' },
  'artifacts-diff': { hint: 1, short: 'compare' },
  'form-cancel': { hint: 2, short: 'back' },
  'form-choose-next': { hint: 3, short: 'next choice' },
  'rewind-here': { hint: 0, short: 'rewind here' },
  'rewind-fork': { hint: 1, short: 'fork here' },
  'rewind-form': { hint: 2, short: 'fork with settings' },
  'grid-open': { hint: 0, short: 'open cell' },
  'grid-close': { hint: 4, short: 'back' },
  palette: { hint: 91, short: 'palette' },
};
