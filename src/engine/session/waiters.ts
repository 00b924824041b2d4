import type { SessionStatus } from '../../core/events.ts';
import type { SessionState } from './state.ts';

/**
 * Who waits on a session: for it to come to rest (`idle`: finished, waiting for the user, failed, paused,
 * cancelled or stopped) and for its next change of status (a front end following a paused session, say).
 */
export class Waiters {
  private readonly state: SessionState;
  private idleWaiters: (() => void)[] = [];
  private statusWaiters: (() => void)[] = [];

  constructor(state: SessionState) {
    this.state = state;
  }

  /** Whether nothing is running or runnable. */
  isIdle(): boolean {
    const { state } = this;
    if (state.detached || state.error !== undefined) return true;
    if (state.status === 'running' || state.cancelled !== undefined) return false;
    for (const conv of state.conversations.values()) if (conv.inFlight) return false;
    return true;
  }

  /** Resolves at rest, with the status then. */
  idle(): Promise<SessionStatus> {
    if (this.isIdle()) return Promise.resolve(this.state.status);
    return new Promise((resolve) => this.idleWaiters.push(() => resolve(this.state.status)));
  }

  /** Resolves at the next change of status. */
  nextStatus(): Promise<SessionStatus> {
    return new Promise((resolve) => this.statusWaiters.push(() => resolve(this.state.status)));
  }

  wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Wakes who waits for a change of status: at once, or (`afterCommit`) on the loop's next turn. */
  wakeStatus(afterCommit = false): void {
    const waiters = this.statusWaiters;
    this.statusWaiters = [];
    if (waiters.length === 0) return;
    if (afterCommit) setImmediate(() => waiters.forEach((wake) => wake()));
    else waiters.forEach((wake) => wake());
  }
}
