import { StoreError, UserError } from '../core/errors.ts';
import type { Clock, Timer } from '../core/clock.ts';
import type { Store } from '../store/store.ts';

export interface LeaseSettings {
  readonly owner: string;
  readonly host: string;
  readonly pid: number;
  readonly ttlMs: number;
  readonly heartbeatMs: number;
}

/**
 * The leases of every session this process drives: claimed in a write transaction, renewed together by one
 * heartbeat, and checked inside every commit. A lease is only taken over once it has expired (or its holder's pid is
 * gone), so while this process keeps renewing it, the check needs no query; close to expiry it asks the database.
 */
export class LeaseKeeper {
  private readonly validUntil = new Map<string, number>();
  private readonly fences = new Map<string, number>();
  private readonly onLost = new Map<string, (error: StoreError) => void>();
  private timer: Timer | undefined;
  readonly settings: LeaseSettings;
  private readonly store: Store;
  private readonly clock: Clock;

  constructor(store: Store, clock: Clock, settings: LeaseSettings) {
    this.store = store;
    this.clock = clock;
    this.settings = settings;
  }

  /** Takes a session's lease; must run inside a write transaction. */
  claim(session: string, now: number, onLost: (error: StoreError) => void): void {
    const { owner, host, pid, ttlMs } = this.settings;
    if (this.validUntil.has(session)) {
      // The same owner could re-take its own lease; two runtimes of one session in one process must not exist.
      throw new UserError('E_LEASE_HELD', `session ${session} is already driven by this process`, {
        hint: 'Use the runtime that drives it.',
      });
    }
    const result = this.store.leases.acquire(session, { owner, host, pid }, ttlMs, now);
    if (!result.ok) {
      const wait = Math.ceil((result.holder.expiresAt - now) / 1000);
      throw new UserError(
        'E_LEASE_HELD',
        `session ${session} is being driven by another p2tui (pid ${result.holder.pid} on ${result.holder.host})`,
        {
          hint:
            `Follow it with: p2tui session watch ${session}. ` +
            `If that process is gone, wait ${wait} s for its lease to expire.`,
        },
      );
    }
    this.validUntil.set(session, now + ttlMs);
    this.fences.set(session, result.fence);
    this.onLost.set(session, onLost);
    this.start();
  }

  /** The fencing token this process holds the session's lease under (0 when it holds none). */
  fence(session: string): number {
    return this.fences.get(session) ?? 0;
  }

  /**
   * Whether an effect may start now: the lease is this process's and valid for at least half its lifetime more. Near
   * that point it is renewed first, synchronously, so nothing can run between the check and the effect's start. A
   * lease found taken over is reported as lost (its session stops, its tools' signals abort); false then.
   */
  ensure(session: string): boolean {
    const until = this.validUntil.get(session);
    if (until === undefined || this.store.isClosed) return false;
    const now = this.clock.now();
    if (until - now >= this.settings.ttlMs / 2) return true;
    let renewed: boolean;
    try {
      renewed = this.store.write(() =>
        this.store.leases.heartbeat(session, this.settings.owner, this.settings.ttlMs, now),
      );
    } catch {
      // A busy database: the lease cannot be confirmed, so the effect does not start.
      return false;
    }
    if (renewed) {
      this.validUntil.set(session, now + this.settings.ttlMs);
      return true;
    }
    this.lose(session);
    return false;
  }

  /** Throws E_LEASE_LOST unless this process still holds the session's lease; call inside the write transaction. */
  assert(session: string, now: number): void {
    const until = this.validUntil.get(session);
    // A margin of one heartbeat: near expiry, confirm with the database instead of trusting memory.
    if (until !== undefined && now < until - this.settings.heartbeatMs) return;
    const holder = this.store.leases.holder(session);
    if (holder?.owner === this.settings.owner) {
      // Still ours though past its expiry (a stalled event loop missed heartbeats): nobody took it over, and inside
      // this write transaction nobody can, so it is renewed rather than given up.
      if (holder.expiresAt > now) this.validUntil.set(session, holder.expiresAt);
      else if (this.store.leases.heartbeat(session, this.settings.owner, this.settings.ttlMs, now))
        this.validUntil.set(session, now + this.settings.ttlMs);
      return;
    }
    throw new StoreError(
      'E_LEASE_LOST',
      `this process no longer holds the lease of session ${session}; another process took it over`,
      {
        hint: `Follow it with: p2tui session watch ${session}`,
      },
    );
  }

  release(session: string, grouped = false): void {
    this.validUntil.delete(session);
    this.fences.delete(session);
    this.onLost.delete(session);
    if (this.store.isClosed) {
      // Nothing to write to: it expires on its own.
    } else if (grouped) {
      // Many sessions let go at once (a rollout's cells): one commit for all, a tick later. Until then the lease
      // names this process, which only this process treats as free.
      void this.store.commit(() => this.store.leases.release(session, this.settings.owner)).catch(() => undefined);
    } else {
      try {
        this.store.write(() => this.store.leases.release(session, this.settings.owner));
      } catch {
        // It expires on its own.
      }
    }
    if (this.validUntil.size === 0) this.stop();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private start(): void {
    if (this.timer !== undefined) return;
    this.timer = this.clock.interval(() => this.beat(), this.settings.heartbeatMs);
  }

  /** One heartbeat for every lease held. */
  private beat(): void {
    if (this.store.isClosed) return this.stop();
    const now = this.clock.now();
    const lost: string[] = [];
    try {
      this.store.write(() => {
        for (const session of this.validUntil.keys()) {
          if (this.store.leases.heartbeat(session, this.settings.owner, this.settings.ttlMs, now))
            this.validUntil.set(session, now + this.settings.ttlMs);
          else lost.push(session);
        }
      });
    } catch {
      return; // a busy database delays a heartbeat; leases have slack for that
    }
    for (const session of lost) this.lose(session);
  }

  /** Forgets a lease another process took over and tells its runtime (which stops and aborts its tools). */
  private lose(session: string): void {
    const notify = this.onLost.get(session);
    this.validUntil.delete(session);
    this.fences.delete(session);
    this.onLost.delete(session);
    notify?.(
      new StoreError('E_LEASE_LOST', `lost the lease of session ${session} to another process`, {
        hint: `Follow it with: p2tui session watch ${session}`,
      }),
    );
  }
}
