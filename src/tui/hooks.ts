import { createContext, useContext, useSyncExternalStore } from 'react';
import type { TuiActions } from './keymap/model.ts';
import type { TuiState } from './state.ts';

/** What every view reaches: the actions (store, bridge, geometry) and whether colours are on. */
export interface TuiContextValue {
  readonly actions: TuiActions;
  readonly color: boolean;
}

export const TuiContext = createContext<TuiContextValue | null>(null);

export function useTuiContext(): TuiContextValue {
  const value = useContext(TuiContext);
  if (value === null) throw new Error('TUI views must be rendered inside <TuiContext.Provider>');
  return value;
}

/** Selects from the store; the view re-renders only when the selected value changes (compare primitives). */
export function useTui<T>(selector: (s: TuiState) => T): T {
  const { actions } = useTuiContext();
  return useSyncExternalStore(actions.store.subscribe, () => selector(actions.store.get()));
}
