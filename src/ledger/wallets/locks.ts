import { systemClock, type Clock } from '../../core/clock.ts';
import { randomUUID } from 'node:crypto';
import { UserError } from '../../core/errors.ts';
import type { Store } from '../../store/store.ts';

/**
 * Makes a check and the write it allows one unit: a spend check and the payment it lets through, so two payments
 * by one agent at once cannot both fit in what is left of its budget. Works on any ledger backend (the lock lives
 * in the project's store, not on the ledger).
 */
export interface PaymentLocks {
  hold<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

/** Within one process: calls with the same name run one after another. */
export class LocalLocks implements PaymentLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  async hold<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(name) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.tails.set(name, tail);
    try {
      return await run;
    } finally {
      if (this.tails.get(name) === tail) this.tails.delete(name);
    }
  }
}

/**
 * Across processes sharing one database: a short lease row per name, taken in its own transaction (never held
 * across an await), renewed by nobody: `ttlMs` bounds how long a killed holder blocks the others.
 */
export class StoreLocks implements PaymentLocks {
  private readonly local = new LocalLocks();
  private readonly store: Store;
  private readonly ttlMs: number;
  private readonly waitMs: number;
  private readonly owner = `${process.pid}:${randomUUID()}`;
  private readonly clock: Clock;

  constructor(store: Store, options: { ttlMs?: number; waitMs?: number; clock?: Clock } = {}) {
    this.store = store;
    this.clock = options.clock ?? systemClock;
    this.ttlMs = options.ttlMs ?? 15_000;
    this.waitMs = options.waitMs ?? 30_000;
  }

  hold<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.local.hold(name, async () => {
      const deadline = this.clock.now() + this.waitMs;
      for (let pause = 2; !this.take(name); pause = Math.min(pause * 2, 50)) {
        if (this.clock.now() > deadline) {
          throw new UserError(
            'E_LEDGER_BUSY',
            `another p2tui process has held the payment lock '${name}' for over ${Math.round(this.waitMs / 1000)} s`,
            {
              hint: 'Nothing was paid. Try again; a killed process releases it within 15 s.',
            },
          );
        }
        await this.clock.sleep(pause);
      }
      // Renewed while held: a slow check and payment (a remote ledger) must not outlive its lease and let another in.
      const renew = this.clock.interval(() => this.renew(name), Math.max(1_000, Math.floor(this.ttlMs / 3)));
      try {
        return await fn();
      } finally {
        renew.cancel();
        this.release(name);
      }
    });
  }

  private take(name: string): boolean {
    const now = this.clock.now();
    return this.store.write(() => this.store.ledger.takeLock(name, this.owner, now, now + this.ttlMs));
  }

  private renew(name: string): void {
    try {
      if (!this.store.isClosed)
        this.store.write(() => this.store.ledger.renewLock(name, this.owner, this.clock.now() + this.ttlMs));
    } catch {
      // A busy database: the next renewal (a third of the lease later) tries again.
    }
  }

  /** Never throws: the payment is done by now, and a lease left behind expires on its own. */
  private release(name: string): void {
    try {
      if (!this.store.isClosed) this.store.write(() => this.store.ledger.releaseLock(name, this.owner));
    } catch {
      // Locked past the busy timeout: the lease runs out within ttlMs.
    }
  }
}
