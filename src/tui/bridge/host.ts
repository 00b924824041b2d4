import type { App } from '../../app/app.ts';
import type { Engine } from '../../engine/engine.ts';
import type { TuiStore } from '../store.ts';

/** What the bridge's parts (branching, the rollout grid, the wallets feed) use of the bridge. */
export interface BridgeHost {
  readonly app: App;
  readonly engine: Engine;
  readonly store: TuiStore;
  /** Runs an action; an error becomes a notice, never a crash of the screen. */
  act(fn: () => void): void;
  actAsync(fn: () => Promise<void>): Promise<void>;
  /** Shows an error as a notice. */
  report(error: unknown): void;
  /** Opens a session's view. */
  open(sessionId: string): void;
  refreshSessions(): void;
}
