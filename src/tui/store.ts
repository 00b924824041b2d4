import { systemClock, type Clock, type Timer } from '../core/clock.ts';
import { logNotice, type TuiState } from './state.ts';

/**
 * The TUI's store: plain TypeScript, no React. Changes from the keyboard notify at once; changes from the engine
 * (bus events, streaming) are coalesced to about 30 notifications a second, so a flood of events costs a bounded
 * number of React renders and input is never queued behind them.
 */
export const COALESCE_MS = 33;

export class TuiStore {
  private state: TuiState;
  private readonly listeners = new Set<() => void>();
  private timer: Timer | undefined;
  private readonly clock: Clock;
  /** Notifications sent (for the benchmarks). */
  notifications = 0;

  constructor(initial: TuiState, clock: Clock = systemClock) {
    this.state = initial;
    this.clock = clock;
  }

  get = (): TuiState => this.state;

  /** Applies a transition; `later` coalesces the notification with others (engine-driven changes). */
  set(transition: (s: TuiState) => TuiState, later = false): void {
    let next = transition(this.state);
    if (next === this.state) return;
    // Every notice shown goes to the `!` log with its time, whoever set it.
    if (next.notice !== null && next.notice !== this.state.notice) next = logNotice(next, this.clock.now());
    this.state = next;
    if (later) this.schedule();
    else this.flush();
  }

  /** The open projection changed in place: bump the tick, coalesced. */
  touch(): void {
    this.state = { ...this.state, tick: this.state.tick + 1 };
    this.schedule();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  dispose(): void {
    this.timer?.cancel();
    this.listeners.clear();
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    // Held open like a screen refresh: the terminal is drawn until the user quits.
    this.timer = this.clock.timeout(() => this.flush(), COALESCE_MS, { keepAlive: true });
  }

  private flush(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.notifications += 1;
    for (const listener of this.listeners) listener();
  }
}
