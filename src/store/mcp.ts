import type { Statement } from 'better-sqlite3';
import { sha256 } from '../core/hash.ts';
import type { JsonValue } from '../core/json.ts';
import type { Db } from './database.ts';

/** One MCP server's tool listing as a session recorded it (the tools as JSON: names, descriptions, schemas). */
export interface McpListingRow {
  readonly server: string;
  readonly tools: JsonValue;
}

/**
 * The MCP tool listings each session started with, so a replay builds those tools without reaching the servers.
 * A listing is stored once by hash (thousands of rollout sessions share a few), and each session points to it.
 */
export class McpListingRepository {
  private readonly insertListing: Statement;
  private readonly insertRef: Statement;
  private readonly select: Statement;

  constructor(db: Db) {
    this.insertListing = db.prepare('INSERT OR IGNORE INTO mcp_listings (hash, tools, created_at) VALUES (?, ?, ?)');
    this.insertRef = db.prepare(
      'INSERT OR IGNORE INTO session_mcp_listings (session_id, server, hash) VALUES (?, ?, ?)',
    );
    this.select = db.prepare(
      `SELECT r.server, l.tools FROM session_mcp_listings r JOIN mcp_listings l ON l.hash = r.hash
       WHERE r.session_id = ? ORDER BY r.rowid`,
    );
  }

  /** Records a session's listings (inside the write that creates it); a server's first listing stays. */
  record(session: string, listings: readonly McpListingRow[], now: number): void {
    for (const { server, tools } of listings) {
      const json = JSON.stringify(tools);
      const hash = sha256(json);
      this.insertListing.run(hash, json, now);
      this.insertRef.run(session, server, hash);
    }
  }

  /** The listings a session recorded, by server, in the order the servers were listed. */
  listings(session: string): Map<string, McpListingRow> {
    const rows = this.select.all(session) as { server: string; tools: string }[];
    return new Map(rows.map((r) => [r.server, { server: r.server, tools: JSON.parse(r.tools) as JsonValue }]));
  }
}
