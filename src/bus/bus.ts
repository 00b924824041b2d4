import { systemClock, type Clock } from '../core/clock.ts';
import type { Store } from '../store/store.ts';
import type { EphemeralEvent, EventFilter, StoredEvent } from '../core/events.ts';

export interface SubscribeOptions {
  /** Deliver events with seq greater than this (0 = from the beginning). */
  readonly fromSeq?: number;
  readonly filter?: EventFilter;
  readonly signal?: AbortSignal;
  /** How often to look for events written by other processes. */
  readonly pollMs?: number;
  /** Stop once the log holds nothing newer (for exports); otherwise follow live. */
  readonly follow?: boolean;
}

const DELTA_BUFFER = 2000;

/**
 * The event bus. Subscribers read the log themselves, from any seq, at their own pace: a late subscriber replays
 * from the store and then goes live without a gap or a duplicate, and a slow one holds nobody up because nothing
 * is queued for it. Commits in this process wake subscribers at once; writes by other processes are found by
 * polling the log by seq.
 *
 * Streaming deltas are ephemeral: pushed to live listeners, never stored, and dropped (oldest first) when a
 * listener does not keep up.
 */
export class EventBus {
  private readonly wakers = new Set<() => void>();
  private readonly deltaListeners = new Set<DeltaQueue>();

  private readonly store: Store;
  private readonly clock: Clock;

  /** `clock`: whose time the polls for other processes' writes take. */
  constructor(store: Store, clock: Clock = systemClock) {
    this.store = store;
    this.clock = clock;
    store.onCommit(() => this.wakeAll());
  }

  async *subscribe(options: SubscribeOptions = {}): AsyncGenerator<StoredEvent> {
    const { filter = {}, signal, pollMs = 200, follow = true } = options;
    let cursor = options.fromSeq ?? 0;
    // A function, so TypeScript does not assume the flag cannot change across a yield.
    const aborted = (): boolean => signal?.aborted === true;
    while (!this.store.isClosed) {
      if (aborted()) return;
      const upto = this.store.log.lastSeq();
      if (upto > cursor) {
        const batchSize = 500;
        const events = this.store.log.read(cursor, filter, batchSize, upto);
        for (const event of events) {
          cursor = event.seq;
          yield event;
          if (aborted()) return;
        }
        if (events.length < batchSize) cursor = upto;
        continue;
      }
      if (!follow) return;
      await this.nextWake(pollMs, signal);
    }
  }

  /** Live streaming deltas matching the filter, as an async iterable with a bounded buffer. */
  deltas(filter: { session?: string }, signal?: AbortSignal): AsyncIterable<EphemeralEvent> {
    const queue = new DeltaQueue(filter.session, () => this.deltaListeners.delete(queue));
    this.deltaListeners.add(queue);
    signal?.addEventListener('abort', () => queue.close(), { once: true });
    return queue;
  }

  emit(event: EphemeralEvent): void {
    for (const queue of this.deltaListeners) queue.push(event);
  }

  get hasDeltaListeners(): boolean {
    return this.deltaListeners.size > 0;
  }

  private wakeAll(): void {
    const wakers = [...this.wakers];
    this.wakers.clear();
    for (const wake of wakers) wake();
  }

  private nextWake(pollMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        timer.cancel();
        this.wakers.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      // Held open: a reader following the log (session watch) waits here and nowhere else.
      const timer = this.clock.timeout(done, pollMs, { keepAlive: true });
      this.wakers.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

class DeltaQueue implements AsyncIterable<EphemeralEvent> {
  private readonly items: EphemeralEvent[] = [];
  private waiting: ((result: IteratorResult<EphemeralEvent>) => void) | undefined;
  private closed = false;

  private readonly session: string | undefined;
  private readonly release: () => void;

  constructor(session: string | undefined, release: () => void) {
    this.session = session;
    this.release = release;
  }

  push(event: EphemeralEvent): void {
    if (this.closed || (this.session !== undefined && event.session !== this.session)) return;
    if (this.waiting !== undefined) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: event, done: false });
      return;
    }
    this.items.push(event);
    if (this.items.length > DELTA_BUFFER) this.items.shift();
  }

  close(): void {
    this.closed = true;
    this.release();
    if (this.waiting !== undefined) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<EphemeralEvent> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.waiting = resolve;
        });
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
