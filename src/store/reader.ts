import { openDatabase, type Db, type OpenOptions } from './database.ts';
import { LeaseRepository } from './leases.ts';
import { SessionRepository } from './sessions.ts';

/**
 * The store's read side for a command that only reads sessions (`p2tui session list`): the database opened, checked
 * and migrated exactly as the Store opens it (openDatabase), with the same session and lease repositories, and none
 * of the write path. The Store's bundle checks load zod (a hundred modules, a third of that command's start) and its
 * checkpointer a worker thread; a list needs neither. The Store satisfies this shape too, so a context that has one
 * open hands that over instead.
 */
export interface SessionReading {
  readonly path: string;
  readonly sessions: SessionRepository;
  readonly leases: LeaseRepository;
}

export class StoreReader implements SessionReading {
  readonly path: string;
  readonly sessions: SessionRepository;
  readonly leases: LeaseRepository;
  private readonly db: Db;

  constructor(options: OpenOptions) {
    this.path = options.path;
    this.db = openDatabase(options);
    this.sessions = new SessionRepository(this.db);
    this.leases = new LeaseRepository(this.db);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
