import { UserError } from '../core/errors.ts';
import type { Store } from './store.ts';

/**
 * A session as one self-contained JSON bundle: its rows from every table (events of every branch, branches and
 * their segments, conversations, heads, model-call recordings, intents, artifacts with their bytes), so another
 * database can load it and replay it with no network. Seqs are renumbered on import (they are positions in one
 * database's log); everything that refers to a seq is mapped.
 */
export const BUNDLE_FORMAT = 'p2tui-session-bundle';
export const BUNDLE_VERSION = 1;

type Row = Record<string, unknown>;

export interface SessionBundle {
  readonly format: typeof BUNDLE_FORMAT;
  readonly version: number;
  readonly exportedAt: string;
  readonly appVersion: string;
  readonly session: Row;
  readonly branches: Row[];
  readonly segments: Row[];
  readonly conversations: Row[];
  readonly heads: Row[];
  readonly events: Row[];
  readonly modelCalls: Row[];
  readonly intents: Row[];
  readonly artifacts: Row[];
  readonly artifactRefs: Row[];
  /** The judge's jobs and scores of the session (absent in bundles written before they were included). */
  readonly evalJobs?: Row[];
  readonly scores?: Row[];
}

export function exportSession(store: Store, sessionId: string, appVersion: string): SessionBundle {
  const db = store.db;
  const all = (sql: string, ...params: unknown[]): Row[] => db.prepare(sql).all(...params) as Row[];
  const session = db.prepare('SELECT * FROM sessions WHERE id = ?').get(sessionId) as Row | undefined;
  if (session === undefined) throw new UserError('E_UNKNOWN_SESSION', `no session '${sessionId}' in this database`);
  const refs = all('SELECT * FROM artifact_refs WHERE session_id = ? ORDER BY rowid', sessionId);
  const hashes = [...new Set(refs.map((r) => String(r['hash'])))];
  const artifacts = hashes.map((hash) => {
    const row = db.prepare('SELECT * FROM artifacts WHERE hash = ?').get(hash) as Row;
    return { ...row, data: (row['data'] as Buffer).toString('base64') };
  });
  return {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    exportedAt: new Date().toISOString(),
    appVersion,
    session,
    branches: all('SELECT * FROM branches WHERE session_id = ? ORDER BY rowid', sessionId),
    segments: all(
      'SELECT s.* FROM branch_segments s JOIN branches b ON b.id = s.branch_id WHERE b.session_id = ?',
      sessionId,
    ),
    conversations: all('SELECT * FROM conversations WHERE session_id = ? ORDER BY rowid', sessionId),
    heads: all('SELECT * FROM heads WHERE session_id = ?', sessionId),
    events: all('SELECT * FROM events WHERE session_id = ? ORDER BY seq', sessionId),
    modelCalls: all(
      'SELECT m.* FROM model_calls m JOIN conversations c ON c.id = m.conversation_id WHERE c.session_id = ? ORDER BY m.rowid',
      sessionId,
    ),
    intents: all('SELECT * FROM intents WHERE session_id = ? ORDER BY rowid', sessionId),
    artifacts,
    artifactRefs: refs,
    evalJobs: all('SELECT * FROM eval_jobs WHERE session_id = ? ORDER BY rowid', sessionId),
    scores: all('SELECT * FROM scores WHERE session_id = ? ORDER BY rowid', sessionId),
  };
}

/** Checks a parsed bundle's shape before anything is written. */
export function parseBundle(value: unknown, file: string): SessionBundle {
  const bundle = value as Partial<SessionBundle> | null;
  if (bundle === null || typeof bundle !== 'object' || bundle.format !== BUNDLE_FORMAT) {
    throw new UserError('E_USAGE', `${file} is not a p2tui session bundle`, {
      hint: 'Make one with: p2tui session export <id> --out <file>',
    });
  }
  if (typeof bundle.version !== 'number' || bundle.version > BUNDLE_VERSION) {
    throw new UserError(
      'E_DB_NEWER_SCHEMA',
      `${file} is bundle version ${String(bundle.version)}; this p2tui reads up to version ${BUNDLE_VERSION}`,
      { hint: 'Upgrade p2tui to import it.' },
    );
  }
  for (const key of [
    'session',
    'branches',
    'segments',
    'conversations',
    'heads',
    'events',
    'modelCalls',
    'intents',
    'artifacts',
    'artifactRefs',
  ] as const) {
    if (bundle[key] === undefined)
      throw new UserError('E_USAGE', `${file} has no '${key}': the bundle is incomplete`, { hint: 'Export it again.' });
  }
  return bundle as SessionBundle;
}

/** Loads a bundle in one transaction; refuses a session id that exists already. Returns the session id. */
export function importSession(store: Store, bundle: SessionBundle): { session: string; events: number } {
  const db = store.db;
  const id = String(bundle.session['id']);
  if (db.prepare('SELECT 1 FROM sessions WHERE id = ?').get(id) !== undefined) {
    throw new UserError('E_SESSION_STATE', `session ${id} is already in this database`, {
      hint: `Delete it first (p2tui session delete ${id}) to import it again.`,
    });
  }
  const insert = (table: string, row: Row): void => {
    const keys = Object.keys(row);
    db.prepare(`INSERT INTO ${table} (${keys.join(', ')}) VALUES (${keys.map(() => '?').join(', ')})`).run(
      ...keys.map((k) => row[k] as never),
    );
  };
  return store.write(() => {
    const seqs = new Map<number, number>();
    for (const event of bundle.events) {
      const { seq, ...rest } = event;
      const info = db
        .prepare(
          `INSERT INTO events (${Object.keys(rest).join(', ')}) VALUES (${Object.keys(rest)
            .map(() => '?')
            .join(', ')})`,
        )
        .run(...Object.values(rest).map((v) => v as never));
      seqs.set(Number(seq), Number(info.lastInsertRowid));
    }
    // A seq that is no event of this session (a fork point, say) maps to the newest event at or before it.
    const sorted = [...seqs.keys()].sort((a, b) => a - b);
    const mapSeq = (old: unknown): number | null => {
      if (old === null || old === undefined) return null;
      const n = Number(old);
      let best = 0;
      for (const s of sorted) if (s <= n) best = seqs.get(s)!;
      return best;
    };
    insert('sessions', {
      ...bundle.session,
      status: bundle.session['status'] === 'running' ? 'paused' : bundle.session['status'],
    });
    for (const b of bundle.branches) {
      const segments =
        typeof b['segments'] === 'string'
          ? (JSON.parse(b['segments']) as { branch: string; maxSeq: number }[]).map((s) => ({
              branch: s.branch,
              maxSeq: mapSeq(s.maxSeq),
            }))
          : null;
      insert('branches', {
        ...b,
        fork_seq: mapSeq(b['fork_seq']),
        ...(segments === null ? {} : { segments: JSON.stringify(segments) }),
      });
    }
    for (const s of bundle.segments) insert('branch_segments', { ...s, max_seq: mapSeq(s['max_seq']) });
    for (const c of bundle.conversations) insert('conversations', c);
    for (const h of bundle.heads) insert('heads', { ...h, head_seq: mapSeq(h['head_seq']) });
    for (const m of bundle.modelCalls) insert('model_calls', m);
    for (const i of bundle.intents) insert('intents', i);
    for (const a of bundle.artifacts)
      db.prepare('INSERT OR IGNORE INTO artifacts (hash, size, mime, data, created_at) VALUES (?, ?, ?, ?, ?)').run(
        a['hash'] as string,
        a['size'] as number,
        a['mime'] as string,
        Buffer.from(String(a['data']), 'base64'),
        a['created_at'] as number,
      );
    for (const r of bundle.artifactRefs) insert('artifact_refs', r);
    // A job's upto_seq is a position in the log it was written in: mapped like every other seq.
    for (const j of bundle.evalJobs ?? [])
      insert('eval_jobs', {
        ...j,
        upto_seq: mapSeq(j['upto_seq']),
        ...(j['status'] === 'running' ? { status: 'pending', claimed_by: null, claim_expires: null } : {}),
      });
    for (const sc of bundle.scores ?? []) insert('scores', sc);
    store.sessions.forgetSegments();
    return { session: id, events: bundle.events.length };
  });
}

/** Removes a session from every table; artifacts no other session refers to go too. */
export function deleteSession(store: Store, sessionId: string): void {
  const db = store.db;
  store.write(() => {
    const hashes = (
      db.prepare('SELECT DISTINCT hash FROM artifact_refs WHERE session_id = ?').all(sessionId) as { hash: string }[]
    ).map((r) => r.hash);
    db.prepare(
      'DELETE FROM model_calls WHERE conversation_id IN (SELECT id FROM conversations WHERE session_id = ?)',
    ).run(sessionId);
    db.prepare('DELETE FROM branch_segments WHERE branch_id IN (SELECT id FROM branches WHERE session_id = ?)').run(
      sessionId,
    );
    for (const table of [
      'events',
      'intents',
      'heads',
      'conversations',
      'branches',
      'artifact_refs',
      'leases',
      'scores',
      'eval_jobs',
    ])
      db.prepare(`DELETE FROM ${table} WHERE session_id = ?`).run(sessionId);
    db.prepare('DELETE FROM sessions WHERE id = ?').run(sessionId);
    store.sessions.forgetSegments();
    for (const hash of hashes)
      db.prepare(
        'DELETE FROM artifacts WHERE hash = ? AND NOT EXISTS (SELECT 1 FROM artifact_refs WHERE hash = ?)',
      ).run(hash, hash);
  });
}
