import type { Statement } from 'better-sqlite3';
import { createHash, type Hash } from 'node:crypto';
import { UserError } from '../core/errors.ts';
import { BundleChecker, quote } from './bundle-check.ts';
import { BUNDLE_ROWS, BUNDLE_SECTIONS, type BundleSection, type BundleSink, type BundleTable } from './bundle-rows.ts';
import type { Db } from './database.ts';
import type { McpListingRow } from './mcp.ts';

type Row = Record<string, unknown>;

/** Artifacts up to this size are stored inline (artifacts.data); larger ones in chunks (artifact_chunks). */
export const INLINE_BYTES = 4 * 1024 * 1024;

/** The artifact being read: its hash so far, and what is held of it. */
interface Bytes {
  readonly hash: string | undefined;
  readonly store: boolean;
  readonly hasher: Hash;
  length: number;
  held: Buffer[];
  heldBytes: number;
  chunks: number;
}

/** Tables whose rows are found by one text id: an id the database has already refuses the import. */
const ID_COLUMN: { readonly [T in BundleTable]?: string } = {
  events: 'id',
  sessions: 'id',
  branches: 'id',
  conversations: 'id',
  model_calls: 'id',
  intents: 'key',
  artifact_refs: 'id',
  eval_jobs: 'id',
  scores: 'id',
};

/**
 * Writes a bundle's rows as they arrive, each checked first (BundleChecker), inside the caller's one transaction:
 * any refusal throws and nothing stays. Columns come from the schema, never from the row's keys. Seqs are
 * renumbered (they are positions in one database's log): events get new ones as they are inserted, and the few rows
 * that point at seqs (branches, their segments, heads) arrive before the events, so they are held and written last.
 */
export class BundleImport implements BundleSink {
  private readonly db: Db;
  private readonly checker: BundleChecker;
  private readonly statements = new Map<string, Statement>();
  private readonly held: { table: 'branches' | 'branch_segments' | 'heads'; row: Row }[] = [];
  private readonly oldSeqs: number[] = [];
  private readonly newSeqs: number[] = [];
  readonly listings: McpListingRow[] = [];
  private bytes: Bytes | undefined;

  constructor(db: Db, file: string) {
    this.db = db;
    this.checker = new BundleChecker(file);
  }

  /** What was imported (once `end` has passed). */
  result(): { session: string; events: number; createdAt: number } {
    return { session: this.checker.sessionId, events: this.checker.count('events'), createdAt: this.createdAt };
  }
  private createdAt = 0;

  key(key: string, kind: string): void {
    this.checker.key(key, kind);
  }

  head(key: 'format' | 'version' | 'exportedAt' | 'appVersion', value: unknown): void {
    this.checker.head(key, value);
  }

  session(value: unknown): void {
    const row = this.checker.session(value);
    if (this.statement('SELECT 1 FROM sessions WHERE id = ?').get(row.id) !== undefined) {
      throw new UserError('E_BUNDLE_CONFLICT', `session ${row.id} is already in this database; nothing was imported`, {
        hint: `Delete it first (p2tui session delete ${row.id}) to import it again.`,
      });
    }
    this.createdAt = row.created_at;
    // A session that was running arrives paused: no process drives it here.
    this.insert('sessions', { ...row, status: row.status === 'running' ? 'paused' : row.status });
  }

  row(section: BundleSection, index: number, value: unknown): void {
    const row = this.checker.row(section, index, value) as Row;
    const table = BUNDLE_SECTIONS[section];
    const column = ID_COLUMN[table];
    if (
      column !== undefined &&
      this.statement(`SELECT 1 FROM ${table} WHERE ${column} = ?`).get(row[column]) !== undefined
    ) {
      throw new UserError(
        'E_BUNDLE_CONFLICT',
        `${this.checker.file}: ${section}[${index}].${column}: ${quote(row[column])} is already in this database (a row of another session); nothing was imported`,
        { hint: 'An imported session brings its own ids; this bundle reuses one the database has.' },
      );
    }
    if (table === 'events') {
      this.oldSeqs.push(row['seq'] as number);
      this.newSeqs.push(this.insert('events', row, ['seq']));
    } else if (table === 'branches' || table === 'branch_segments' || table === 'heads') this.held.push({ table, row });
    else if (table === 'eval_jobs') {
      // A judge's job it had claimed arrives pending again; its upto_seq is a position in the log, mapped.
      const reopened = row['status'] === 'running' ? { status: 'pending', claimed_by: null, claim_expires: null } : {};
      this.insert('eval_jobs', { ...row, upto_seq: this.mapSeq(row['upto_seq'] as number | null), ...reopened });
    } else if (table === 'mcp_listings') this.listings.push(row as unknown as McpListingRow);
    else this.insert(table, row);
  }

  /**
   * An artifact's bytes as they are decoded: hashed, and held up to INLINE_BYTES, past which they go to
   * artifact_chunks under the hash the row declares (checked once all are read; a mismatch throws and the
   * transaction takes the chunks back). Bytes the database has already are only hashed.
   */
  artifactData(_index: number, row: Row): (piece: Buffer) => void {
    const declared = typeof row['hash'] === 'string' && /^[0-9a-f]{64}$/.test(row['hash']) ? row['hash'] : undefined;
    const store =
      declared === undefined ||
      (!this.checker.hasArtifact(declared) &&
        this.statement('SELECT 1 FROM artifacts WHERE hash = ?').get(declared) === undefined);
    const bytes: Bytes = {
      hash: declared,
      store,
      hasher: createHash('sha256'),
      length: 0,
      held: [],
      heldBytes: 0,
      chunks: 0,
    };
    this.bytes = bytes;
    return (piece) => {
      bytes.hasher.update(piece);
      bytes.length += piece.length;
      if (!bytes.store) return;
      bytes.held.push(piece);
      bytes.heldBytes += piece.length;
      if (bytes.hash !== undefined && bytes.heldBytes > INLINE_BYTES) this.flush(bytes);
    };
  }

  artifact(index: number, value: Row, given: boolean): void {
    const bytes = given ? this.bytes : undefined;
    this.bytes = undefined;
    const row = this.checker.artifact(
      index,
      value,
      bytes === undefined ? undefined : { sha256: bytes.hasher.digest('hex'), length: bytes.length },
    );
    if (bytes === undefined || !bytes.store) return;
    const insert = this.statement('INSERT INTO artifacts (hash, size, mime, data, created_at) VALUES (?, ?, ?, ?, ?)');
    if (bytes.chunks === 0) insert.run(row.hash, row.size, row.mime, Buffer.concat(bytes.held), row.created_at);
    else {
      this.flush(bytes);
      insert.run(row.hash, row.size, row.mime, Buffer.alloc(0), row.created_at);
    }
  }

  private flush(bytes: Bytes): void {
    const chunk = this.statement('INSERT OR REPLACE INTO artifact_chunks (hash, n, data) VALUES (?, ?, ?)');
    for (const piece of bytes.held) chunk.run(bytes.hash, bytes.chunks++, piece);
    bytes.held = [];
    bytes.heldBytes = 0;
  }

  end(): void {
    this.checker.end();
    for (const { table, row } of this.held) {
      if (table === 'branch_segments')
        this.insert(table, { ...row, max_seq: this.mapSeq(row['max_seq'] as number) ?? 0 });
      else if (table === 'heads') this.insert(table, { ...row, head_seq: this.mapSeq(row['head_seq'] as number) ?? 0 });
      else {
        const segments =
          typeof row['segments'] === 'string'
            ? JSON.stringify(
                (JSON.parse(row['segments']) as { branch: string; maxSeq: number; afterSeq?: number }[]).map((s) => ({
                  branch: s.branch,
                  maxSeq: this.mapSeq(s.maxSeq),
                  ...(s.afterSeq === undefined ? {} : { afterSeq: this.mapSeq(s.afterSeq) }),
                })),
              )
            : (row['segments'] ?? null);
        this.insert(table, { ...row, fork_seq: this.mapSeq(row['fork_seq'] as number | null), segments });
      }
    }
  }

  /** A seq of the bundle's log as a seq here: the newest imported event at or before it (0 if none). */
  private mapSeq(old: number | null): number | null {
    if (old === null) return null;
    let lo = 0;
    let hi = this.oldSeqs.length - 1;
    let best = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.oldSeqs[mid]! <= old) {
        best = this.newSeqs[mid]!;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  }

  private statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) this.statements.set(sql, (statement = this.db.prepare(sql)));
    return statement;
  }

  /**
   * One row of `table`: the columns are the table's as the bundle schema lists them (never the row's own keys), an
   * absent optional column is NULL. Returns the new rowid. `skip`: columns the database assigns.
   */
  private insert(table: BundleTable, row: Row, skip: readonly string[] = []): number {
    const columns = Object.keys(BUNDLE_ROWS[table].shape).filter((c) => !skip.includes(c));
    const sql = `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;
    return Number(
      this.statement(sql).run(...columns.map((c) => (row[c] === undefined ? null : row[c]))).lastInsertRowid,
    );
  }
}
