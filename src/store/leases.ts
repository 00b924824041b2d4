import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';
import type { JsonValue } from '../core/json.ts';
import { processIsAlive } from '../core/host.ts';

export interface LeaseRow {
  readonly session: string;
  readonly owner: string;
  readonly host: string;
  readonly pid: number;
  readonly acquiredAt: number;
  readonly heartbeatAt: number;
  readonly expiresAt: number;
  /** The fencing token: one more on every claim of this lease, never reused. */
  readonly fence: number;
}

export interface LeaseClaim {
  readonly owner: string;
  readonly host: string;
  readonly pid: number;
}

/**
 * Whether a lease's holder still drives its session: the lease has not expired and, on this host, its process exists
 * (a `kill -9` frees a session at once instead of after the expiry). The one place this is decided.
 */
export function isHolderAlive(holder: LeaseRow | undefined, now: number): holder is LeaseRow {
  return holder !== undefined && holder.expiresAt > now && processIsAlive(holder.host, holder.pid);
}

/**
 * Leases: which process drives a session. Taken when free, expired, held by this owner, or held by a process on this
 * host that no longer exists (so a `kill -9` does not make the next process wait for the expiry).
 */
export class LeaseRepository {
  private readonly select: Statement;
  private readonly upsert: Statement;
  private readonly renew: Statement;
  private readonly remove: Statement;
  private readonly selectFence: Statement;

  constructor(db: Db) {
    this.selectFence = db.prepare('SELECT fence FROM leases WHERE session_id = ?');
    this.select = db.prepare('SELECT * FROM leases WHERE session_id = ?');
    this.upsert = db.prepare(
      `INSERT INTO leases (session_id, owner, host, pid, acquired_at, heartbeat_at, expires_at, fence) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (session_id) DO UPDATE SET owner = excluded.owner, host = excluded.host, pid = excluded.pid,
         acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at,
         fence = excluded.fence`,
    );
    this.renew = db.prepare(
      "UPDATE leases SET heartbeat_at = ?, expires_at = ? WHERE session_id = ? AND owner = ? AND owner != ''",
    );
    // Released, not deleted: the row keeps the fence, so the next claim's token is still higher than any before.
    this.remove = db.prepare(
      "UPDATE leases SET owner = '', pid = 0, expires_at = 0 WHERE session_id = ? AND owner = ? AND owner != ''",
    );
  }

  holder(session: string): LeaseRow | undefined {
    const r = this.select.get(session) as
      | {
          session_id: string;
          owner: string;
          host: string;
          pid: number;
          acquired_at: number;
          heartbeat_at: number;
          expires_at: number;
          fence: number;
        }
      | undefined;
    // A released lease (no owner) has no holder; its row only keeps the fence.
    if (r === undefined || r.owner === '') return undefined;
    return {
      session: r.session_id,
      owner: r.owner,
      host: r.host,
      pid: r.pid,
      acquiredAt: r.acquired_at,
      heartbeatAt: r.heartbeat_at,
      expiresAt: r.expires_at,
      fence: r.fence,
    };
  }

  /** The lease's fencing token as it stands (0: never claimed). */
  fence(session: string): number {
    return (this.selectFence.get(session) as { fence: number } | undefined)?.fence ?? 0;
  }

  /** Must run inside a write transaction. Returns the holder that kept it when the claim fails. */
  acquire(
    session: string,
    claim: LeaseClaim,
    ttlMs: number,
    now: number,
  ): { ok: true; fence: number } | { ok: false; holder: LeaseRow } {
    const current = this.holder(session);
    if (current !== undefined && current.owner !== claim.owner && isHolderAlive(current, now)) {
      return { ok: false, holder: current };
    }
    const fence = this.fence(session) + 1;
    this.upsert.run(session, claim.owner, claim.host, claim.pid, now, now, now + ttlMs, fence);
    return { ok: true, fence };
  }

  /** Returns false when the lease was taken over by another owner. */
  heartbeat(session: string, owner: string, ttlMs: number, now: number): boolean {
    return this.renew.run(now, now + ttlMs, session, owner).changes > 0;
  }

  release(session: string, owner: string): void {
    this.remove.run(session, owner);
  }

  isHeldBy(session: string, owner: string): boolean {
    return this.holder(session)?.owner === owner;
  }
}

/** Results of pure tools, cached by tool and canonical arguments. */
/** A pure tool's cached result: the output its entry held, and the artifact of a large one (stored once, there). */
export interface CachedResult {
  readonly output: JsonValue;
  readonly artifact?: string;
}

export class ToolCacheRepository {
  private readonly select: Statement;
  private readonly upsert: Statement;

  constructor(db: Db) {
    this.select = db.prepare('SELECT result FROM tool_cache WHERE key = ? AND expires_at > ?');
    this.upsert = db.prepare('INSERT OR REPLACE INTO tool_cache (key, tool, result, expires_at) VALUES (?, ?, ?, ?)');
  }

  /** What the cached result entry held: the output (a preview, for a large one) and the artifact holding it whole. */
  get(key: string, now: number): CachedResult | undefined {
    const row = this.select.get(key, now) as { result: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.result) as CachedResult);
  }

  put(key: string, tool: string, result: CachedResult, expiresAt: number): void {
    this.upsert.run(key, tool, JSON.stringify(result), expiresAt);
  }
}
