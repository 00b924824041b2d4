import type { OtherPayloads } from '../core/events.ts';
import { systemClock, type Clock, type Timer } from '../core/clock.ts';
import type { Store } from '../store/store.ts';

export type ControlRequest = OtherPayloads['session.control'];

const BATCH = 200;

/**
 * Requests other processes write to the log for sessions this process drives (cancel, pause, resume, answers).
 * One poll of the log by seq serves every session, however many this process drives.
 */
export class ControlPoller {
  private readonly handlers = new Map<string, (request: ControlRequest) => void>();
  private cursor = 0;
  private timer: Timer | undefined;
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly intervalMs: number;

  constructor(store: Store, clock: Clock = systemClock, intervalMs = 250) {
    this.store = store;
    this.clock = clock;
    this.intervalMs = intervalMs;
  }

  watch(session: string, handler: (request: ControlRequest) => void): void {
    if (this.timer === undefined) {
      this.cursor = this.store.log.lastSeq();
      this.timer = this.clock.interval(() => this.poll(), this.intervalMs);
    }
    this.handlers.set(session, handler);
  }

  unwatch(session: string): void {
    this.handlers.delete(session);
    if (this.handlers.size === 0) this.stop();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private poll(): void {
    if (this.store.isClosed) return this.stop();
    let events;
    let upto;
    try {
      // Up to a fixed seq, and the cursor moves there even when nothing matched: otherwise every poll would scan
      // the whole log written since the last control request (no index on type), slower the longer a process runs.
      upto = this.store.log.lastSeq();
      if (upto <= this.cursor) return;
      events = this.store.log.read(this.cursor, { types: ['session.control'] }, BATCH, upto);
    } catch {
      return;
    }
    for (const event of events) {
      this.cursor = event.seq;
      if (event.type !== 'session.control' || event.session === null) continue;
      this.handlers.get(event.session)?.(event.payload);
    }
    if (events.length < BATCH) this.cursor = upto;
  }
}
