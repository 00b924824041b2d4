import { UserError } from '../core/errors.ts';
import { BUNDLE_FORMAT, BUNDLE_VERSION, walkBundle, type SessionBundle } from './bundle.ts';
import { readBundleFile } from './bundle-file.ts';
import { BundleImport } from './bundle-import.ts';
import { artifactBytes } from './artifacts.ts';
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
      const row = this.db.prepare('SELECT * FROM artifacts WHERE hash = ?').get(hash) as Row & {
        hash: string;
        size: number;
        data: Buffer;
      };
      return { ...row, data: artifactBytes(this.db, row).toString('base64') } as SessionBundle['artifacts'][number];
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
   * Loads a bundle held in memory (a worker's result, checked by parseBundle) in one transaction, checking it again
   * row by row. A running session arrives paused, and a judge's job it had claimed arrives pending again.
   */
  import(
    bundle: SessionBundle,
    file = `the bundle of session ${bundle.session.id}`,
  ): { session: string; events: number } {
    return this.load(file, (sink) => walkBundle(bundle, sink));
  }

  /** Loads a bundle file, streamed row by row (memory holds one row or one artifact, not the file). */
  importFile(path: string, file = path): { session: string; events: number } {
    return this.load(file, (sink) => readBundleFile(path, file, sink));
  }

  /**
   * Every row checked before it is written, and every write in one transaction: any refusal (E_BUNDLE_INVALID,
   * E_BUNDLE_CONFLICT) leaves the database as it was.
   */
  private load(file: string, feed: (sink: BundleImport) => void): { session: string; events: number } {
    return this.write(() => {
      const sink = new BundleImport(this.db, file);
      feed(sink);
      const done = sink.result();
      this.mcp.record(done.session, sink.listings, done.createdAt);
      this.sessions.forgetSegments();
      return { session: done.session, events: done.events };
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
      for (const table of [...tables, 'eval_jobs', 'session_mcp_listings', 'conversation_snapshots'])
        db.prepare(`DELETE FROM ${table} WHERE session_id = ?`).run(sessionId);
      db.prepare('DELETE FROM sessions WHERE id = ?').run(sessionId);
      // Listings are shared by content: one no session points to any more goes with its last session.
      db.prepare('DELETE FROM mcp_listings WHERE hash NOT IN (SELECT hash FROM session_mcp_listings)').run();
      this.sessions.forgetSegments();
      this.dropUnreferencedArtifacts(hashes);
    });
  }

  /** When each branch of a session last changed: its newest event's time, or when it was made if it has none. */
  branchActivity(sessionId: string): Map<string, number> {
    const rows = this.db
      .prepare(
        `SELECT b.id AS id, MAX(b.created_at, COALESCE((SELECT MAX(e.ts) FROM events e WHERE e.session_id = b.session_id
           AND e.branch_id = b.id), 0)) AS last FROM branches b WHERE b.session_id = ?`,
      )
      .all(sessionId) as { id: string; last: number }[];
    return new Map(rows.map((r) => [r.id, r.last]));
  }

  /**
   * Deletes some branches of a session and what was recorded on them (entries, conversations begun there, heads,
   * model calls, intents, scores, evaluation jobs, artifact references; artifacts no one else references). The
   * caller chooses branches no kept branch descends from (a kept branch sees its ancestors' entries); the root and
   * the checked-out branch are refused here too, so a wrong choice cannot break the session.
   */
  removeBranches(sessionId: string, branchIds: readonly string[]): void {
    const { db } = this;
    const session = db.prepare('SELECT head_branch FROM sessions WHERE id = ?').get(sessionId) as
      { head_branch: string } | undefined;
    if (session === undefined) throw new UserError('E_UNKNOWN_SESSION', `no session '${sessionId}' in this database`);
    this.write(() => {
      for (const id of branchIds) {
        const row = db.prepare('SELECT parent_id FROM branches WHERE id = ? AND session_id = ?').get(id, sessionId) as
          { parent_id: string | null } | undefined;
        if (row === undefined || row.parent_id === null || id === session.head_branch)
          throw new UserError(
            'E_USAGE',
            `branch ${id} of ${sessionId} cannot be pruned (not a branch of it, its root, or checked out)`,
          );
      }
      const hashes = new Set<string>();
      for (const id of branchIds) {
        for (const r of db
          .prepare('SELECT DISTINCT hash FROM artifact_refs WHERE session_id = ? AND branch_id = ?')
          .all(sessionId, id) as { hash: string }[])
          hashes.add(r.hash);
        db.prepare('DELETE FROM branch_segments WHERE branch_id = ?').run(id);
        for (const table of [
          'events',
          'intents',
          'heads',
          'model_calls',
          'artifact_refs',
          'scores',
          'eval_jobs',
          'conversations',
          'conversation_snapshots',
        ])
          db.prepare(`DELETE FROM ${table} WHERE session_id = ? AND branch_id = ?`).run(sessionId, id);
        db.prepare('DELETE FROM branches WHERE id = ?').run(id);
      }
      this.sessions.forgetSegments();
      this.dropUnreferencedArtifacts(hashes);
    });
  }

  /** Artifacts (and their chunks) among `hashes` that no reference points to any more; inside the caller's write. */
  private dropUnreferencedArtifacts(hashes: Iterable<string>): void {
    for (const hash of hashes) {
      this.db
        .prepare('DELETE FROM artifacts WHERE hash = ? AND NOT EXISTS (SELECT 1 FROM artifact_refs WHERE hash = ?)')
        .run(hash, hash);
      this.db
        .prepare('DELETE FROM artifact_chunks WHERE hash = ? AND NOT EXISTS (SELECT 1 FROM artifacts WHERE hash = ?)')
        .run(hash, hash);
    }
  }
}
