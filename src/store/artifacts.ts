import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';
import { createHash } from 'node:crypto';
import { sha256, utf8Pieces } from '../core/hash.ts';
import { nextEventId } from '../core/ids.ts';

export interface ArtifactRef {
  readonly id: string;
  readonly hash: string;
  readonly session: string | null;
  readonly branch: string | null;
  readonly conversation: string | null;
  readonly entry: string | null;
  readonly kind: string;
  readonly name: string;
  readonly mime: string;
  readonly size: number;
  readonly createdAt: number;
}

/**
 * An artifact's bytes: inline in artifacts.data, or (imported large ones) in artifact_chunks, where its data is empty
 * and its size says how many bytes the chunks hold.
 */
export function artifactBytes(db: Db, row: { hash: string; size: number; data: Buffer }): Buffer {
  if (row.data.length === row.size) return row.data;
  const chunks = db.prepare('SELECT data FROM artifact_chunks WHERE hash = ? ORDER BY n').all(row.hash) as {
    data: Buffer;
  }[];
  return Buffer.concat(chunks.map((c) => c.data));
}

/** Bytes above this size are stored in pieces in artifact_chunks (as session import does with large artifacts). */
export const CHUNKED_ABOVE = 4 * 1024 * 1024;

/** Pieces of at most 1 MB of a buffer, without copying it. */
function* bytePieces(bytes: Buffer): Generator<Buffer> {
  for (let at = 0; at < bytes.length; at += 1 << 20) yield bytes.subarray(at, at + (1 << 20));
}

/** Content-addressed blobs: the same bytes are stored once whatever produced them. */
/** Where an artifact appeared: what it is, and the session, branch, conversation and entry it belongs to. */
interface RefMeta {
  readonly kind: string;
  readonly name: string;
  readonly session?: string;
  readonly branch?: string;
  readonly conversation?: string;
  readonly entry?: string;
}

export class ArtifactRepository {
  private readonly insertBlob: Statement;
  private readonly insertRef: Statement;
  private readonly selectBlob: Statement;
  private readonly selectSize: Statement;
  private readonly insertChunk: Statement;

  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
    this.insertBlob = db.prepare(
      'INSERT OR IGNORE INTO artifacts (hash, size, mime, data, created_at) VALUES (?, ?, ?, ?, ?)',
    );
    this.insertRef = db.prepare(
      `INSERT INTO artifact_refs (id, hash, session_id, branch_id, conversation_id, entry_id, kind, name, meta, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.selectBlob = db.prepare('SELECT hash, size, mime, data FROM artifacts WHERE hash = ?');
    this.selectSize = db.prepare('SELECT size, mime FROM artifacts WHERE hash = ?');
    this.insertChunk = db.prepare('INSERT OR REPLACE INTO artifact_chunks (hash, n, data) VALUES (?, ?, ?)');
  }

  /** Stores bytes (once) and a reference saying where they appeared. Must run inside a write transaction. */
  put(data: string | Uint8Array, meta: RefMeta & { mime: string }, now: number): ArtifactRef {
    const large =
      typeof data === 'string'
        ? data.length * 3 > CHUNKED_ABOVE && Buffer.byteLength(data) > CHUNKED_ABOVE
        : data.byteLength > CHUNKED_ABOVE;
    if (large) return this.putInPieces(data, meta, now);
    // A Buffer is stored as it is: copying a large output's bytes once more is what made it cost memory.
    const bytes =
      typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const hash = sha256(bytes);
    this.insertBlob.run(hash, bytes.length, meta.mime, bytes, now);
    return this.addRef(hash, meta, { mime: meta.mime, size: bytes.length }, now);
  }

  /**
   * Large bytes go to artifact_chunks piece by piece (the layout a large imported artifact has; `get` joins them):
   * one blob would be copied twice more by SQLite while it is inserted, and a text would be encoded whole first.
   */
  private putInPieces(data: string | Uint8Array, meta: RefMeta & { mime: string }, now: number): ArtifactRef {
    const pieces = (): Iterable<Buffer> =>
      typeof data === 'string'
        ? utf8Pieces(data)
        : bytePieces(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    const hasher = createHash('sha256');
    let size = 0;
    for (const piece of pieces()) {
      hasher.update(piece);
      size += piece.length;
    }
    const hash = hasher.digest('hex');
    if (this.selectSize.get(hash) === undefined) {
      let n = 0;
      for (const piece of pieces()) this.insertChunk.run(hash, n++, piece);
      this.insertBlob.run(hash, size, meta.mime, Buffer.alloc(0), now);
    }
    return this.addRef(hash, meta, { mime: meta.mime, size }, now);
  }

  /** A new reference to bytes already stored (a replay showing a recorded output); undefined if they are gone. */
  reference(hash: string, meta: RefMeta, now: number): ArtifactRef | undefined {
    const blob = this.selectSize.get(hash) as { size: number; mime: string } | undefined;
    return blob === undefined ? undefined : this.addRef(hash, meta, blob, now);
  }

  private addRef(hash: string, meta: RefMeta, blob: { mime: string; size: number }, now: number): ArtifactRef {
    const id = nextEventId('a_');
    const where = {
      session: meta.session ?? null,
      branch: meta.branch ?? null,
      conversation: meta.conversation ?? null,
      entry: meta.entry ?? null,
    };
    this.insertRef.run(
      id,
      hash,
      where.session,
      where.branch,
      where.conversation,
      where.entry,
      meta.kind,
      meta.name,
      '{}',
      now,
    );
    return { id, hash, ...where, kind: meta.kind, name: meta.name, mime: blob.mime, size: blob.size, createdAt: now };
  }

  /** Whether these bytes are stored. */
  has(hash: string): boolean {
    return this.selectSize.get(hash) !== undefined;
  }

  get(hash: string): { hash: string; size: number; mime: string; data: Buffer } | undefined {
    const row = this.selectBlob.get(hash) as { hash: string; size: number; mime: string; data: Buffer } | undefined;
    return row === undefined ? undefined : { ...row, data: artifactBytes(this.db, row) };
  }

  /** Finds artifacts by a unique hash prefix. */
  resolve(prefix: string): string[] {
    return (
      this.db
        .prepare('SELECT hash FROM artifacts WHERE hash LIKE ? LIMIT 5')
        .all(`${prefix.replace(/[%_]/g, '')}%`) as { hash: string }[]
    ).map((r) => r.hash);
  }

  list(session: string): ArtifactRef[] {
    return (
      this.db
        .prepare(
          'SELECT r.*, a.mime AS mime, a.size AS size FROM artifact_refs r JOIN artifacts a ON a.hash = r.hash ' +
            'WHERE r.session_id = ? ORDER BY r.created_at, r.rowid',
        )
        .all(session) as {
        id: string;
        hash: string;
        session_id: string | null;
        branch_id: string | null;
        conversation_id: string | null;
        entry_id: string | null;
        kind: string;
        name: string;
        mime: string;
        size: number;
        created_at: number;
      }[]
    ).map((r) => ({
      id: r.id,
      hash: r.hash,
      session: r.session_id,
      branch: r.branch_id,
      conversation: r.conversation_id,
      entry: r.entry_id,
      kind: r.kind,
      name: r.name,
      mime: r.mime,
      size: r.size,
      createdAt: r.created_at,
    }));
  }
}
