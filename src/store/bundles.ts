import { UserError } from '../core/errors.ts';
import { BUNDLE_FORMAT, BUNDLE_ROWS, BUNDLE_VERSION, type BundleTable, type SessionBundle } from './bundle.ts';
import type { Db } from './database.ts';
import type { McpListingRepository } from './mcp.ts';
import type { SessionRepository } from './sessions.ts';

type Row = Record<string, unknown>;

/**
 * Moving sessions between databases and removing them: export to a bundle, import one (renumbering its seqs), and
 * delete a session from every table.
 */
export class BundleRepository {
  private readonly db: Db;
  private readonly sessions: SessionRepository;
  private readonly mcp: McpListingRepository;
  private readonly write: <T>(fn: () => T) => T;

  constructor(db: Db, sessions: SessionRepository, mcp: McpListingRepository, write: <T>(fn: () => T) => T) {
    this.db = db;
    this.sessions = sessions;
    this.mcp = mcp;
    this.write = write;
  }

  /** A session and everything of it, as a bundle (`appVersion`: the p2tui that wrote it; `now`: when). */
  export(sessionId: string, appVersion: string, now: number): SessionBundle {
    // Rows as stored: the bundle's row types are the tables' columns.
    const all = <R>(sql: string, ...params: unknown[]): R[] => this.db.prepare(sql).all(...params) as R[];
    const session = this.db.prepare('SELECT * FROM sessions WHERE id = ?').get(sessionId) as
      SessionBundle['session'] | undefined;
    if (session === undefined) throw new UserError('E_UNKNOWN_SESSION', `no session '${sessionId}' in this database`);
    const refs = all<NonNullable<SessionBundle['artifactRefs']>[number]>(
      'SELECT * FROM artifact_refs WHERE session_id = ? ORDER BY rowid',
      sessionId,
    );
    const hashes = [...new Set(refs.map((r) => r.hash))];
    const artifacts = hashes.map((hash) => {
      const row = this.db.prepare('SELECT * FROM artifacts WHERE hash = ?').get(hash) as Row & { data: Buffer };
      return { ...row, data: row.data.toString('base64') } as SessionBundle['artifacts'][number];
    });
    return {
      format: BUNDLE_FORMAT,
      version: BUNDLE_VERSION,
      exportedAt: new Date(now).toISOString(),
      appVersion,
      session,
      branches: all<NonNullable<SessionBundle['branches']>[number]>(
        'SELECT * FROM branches WHERE session_id = ? ORDER BY rowid',
        sessionId,
      ),
      segments: all<NonNullable<SessionBundle['segments']>[number]>(
        'SELECT s.* FROM branch_segments s JOIN branches b ON b.id = s.branch_id WHERE b.session_id = ?',
        sessionId,
      ),
      conversations: all<NonNullable<SessionBundle['conversations']>[number]>(
        'SELECT * FROM conversations WHERE session_id = ? ORDER BY rowid',
        sessionId,
      ),
      heads: all<NonNullable<SessionBundle['heads']>[number]>('SELECT * FROM heads WHERE session_id = ?', sessionId),
      events: all<NonNullable<SessionBundle['events']>[number]>(
        'SELECT * FROM events WHERE session_id = ? ORDER BY seq',
        sessionId,
      ),
      modelCalls: all<NonNullable<SessionBundle['modelCalls']>[number]>(
        'SELECT m.* FROM model_calls m JOIN conversations c ON c.id = m.conversation_id WHERE c.session_id = ? ORDER BY m.rowid',
        sessionId,
      ),
      intents: all<NonNullable<SessionBundle['intents']>[number]>(
        'SELECT * FROM intents WHERE session_id = ? ORDER BY rowid',
        sessionId,
      ),
      artifacts,
      artifactRefs: refs,
      evalJobs: all<NonNullable<SessionBundle['evalJobs']>[number]>(
        'SELECT * FROM eval_jobs WHERE session_id = ? ORDER BY rowid',
        sessionId,
      ),
      scores: all<NonNullable<SessionBundle['scores']>[number]>(
        'SELECT * FROM scores WHERE session_id = ? ORDER BY rowid',
        sessionId,
      ),
      mcpListings: [...this.mcp.listings(sessionId).values()],
    };
  }

  /**
   * Loads a bundle (checked by parseBundle) in one transaction; refuses a session id that exists already. A running
   * session arrives paused, and a judge's job it had claimed arrives pending again.
   */
  import(bundle: SessionBundle): { session: string; events: number } {
    const id = bundle.session.id;
    if (this.db.prepare('SELECT 1 FROM sessions WHERE id = ?').get(id) !== undefined) {
      throw new UserError('E_SESSION_STATE', `session ${id} is already in this database`, {
        hint: `Delete it first (p2tui session delete ${id}) to import it again.`,
      });
    }
    return this.write(() => {
      const seqs = new Map<number, number>();
      for (const event of bundle.events) {
        const { seq, ...rest } = event;
        seqs.set(seq, this.insert('events', rest, ['seq']));
      }
      // A seq that is no event of this session (a fork point, say) maps to the newest event at or before it.
      const sorted = [...seqs.keys()].sort((a, b) => a - b);
      const mapSeq = (old: number | null): number | null => {
        if (old === null) return null;
        let best = 0;
        for (const s of sorted) if (s <= old) best = seqs.get(s)!;
        return best;
      };
      const status = bundle.session.status === 'running' ? 'paused' : bundle.session.status;
      this.insert('sessions', { ...bundle.session, status });
      for (const b of bundle.branches) {
        const segments =
          typeof b.segments === 'string'
            ? JSON.stringify(
                (JSON.parse(b.segments) as { branch: string; maxSeq: number }[]).map((s) => ({
                  branch: s.branch,
                  maxSeq: mapSeq(s.maxSeq),
                })),
              )
            : (b.segments ?? null);
        this.insert('branches', { ...b, fork_seq: mapSeq(b.fork_seq), segments });
      }
      for (const s of bundle.segments) this.insert('branch_segments', { ...s, max_seq: mapSeq(s.max_seq) ?? 0 });
      for (const c of bundle.conversations) this.insert('conversations', c);
      for (const h of bundle.heads) this.insert('heads', { ...h, head_seq: mapSeq(h.head_seq) ?? 0 });
      for (const m of bundle.modelCalls) this.insert('model_calls', m);
      for (const i of bundle.intents) this.insert('intents', i);
      const blob = this.db.prepare(
        'INSERT OR IGNORE INTO artifacts (hash, size, mime, data, created_at) VALUES (?, ?, ?, ?, ?)',
      );
      for (const a of bundle.artifacts) blob.run(a.hash, a.size, a.mime, Buffer.from(a.data, 'base64'), a.created_at);
      for (const r of bundle.artifactRefs) this.insert('artifact_refs', r);
      // A job's upto_seq is a position in the log it was written in: mapped like every other seq.
      for (const j of bundle.evalJobs ?? []) {
        const reopened = j.status === 'running' ? { status: 'pending', claimed_by: null, claim_expires: null } : {};
        this.insert('eval_jobs', { ...j, upto_seq: mapSeq(j.upto_seq), ...reopened });
      }
      for (const sc of bundle.scores ?? []) this.insert('scores', sc);
      this.mcp.record(id, bundle.mcpListings ?? [], bundle.session.created_at);
      this.sessions.forgetSegments();
      return { session: id, events: bundle.events.length };
    });
  }

  /** Removes a session from every table; artifacts no other session refers to go too. */
  remove(sessionId: string): void {
    const { db } = this;
    this.write(() => {
      const hashes = (
        db.prepare('SELECT DISTINCT hash FROM artifact_refs WHERE session_id = ?').all(sessionId) as { hash: string }[]
      ).map((r) => r.hash);
      db.prepare(
        'DELETE FROM model_calls WHERE conversation_id IN (SELECT id FROM conversations WHERE session_id = ?)',
      ).run(sessionId);
      db.prepare('DELETE FROM branch_segments WHERE branch_id IN (SELECT id FROM branches WHERE session_id = ?)').run(
        sessionId,
      );
      const tables = ['events', 'intents', 'heads', 'conversations', 'branches', 'artifact_refs', 'leases', 'scores'];
      for (const table of [...tables, 'eval_jobs', 'session_mcp_listings'])
        db.prepare(`DELETE FROM ${table} WHERE session_id = ?`).run(sessionId);
      db.prepare('DELETE FROM sessions WHERE id = ?').run(sessionId);
      // Listings are shared by content: one no session points to any more goes with its last session.
      db.prepare('DELETE FROM mcp_listings WHERE hash NOT IN (SELECT hash FROM session_mcp_listings)').run();
      this.sessions.forgetSegments();
      for (const hash of hashes)
        db.prepare(
          'DELETE FROM artifacts WHERE hash = ? AND NOT EXISTS (SELECT 1 FROM artifact_refs WHERE hash = ?)',
        ).run(hash, hash);
    });
  }

  /**
   * One row of `table`: the columns are the table's as the bundle schema lists them (never the row's own keys), an
   * absent optional column is NULL. Returns the new rowid. `skip`: columns the database assigns.
   */
  private insert(table: BundleTable, row: Row, skip: readonly string[] = []): number {
    const columns = Object.keys(BUNDLE_ROWS[table].shape).filter((c) => !skip.includes(c));
    const sql = `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;
    const values = columns.map((c) => (row[c] === undefined ? null : row[c]));
    return Number(this.db.prepare(sql).run(...values).lastInsertRowid);
  }
}
