import type { Db } from './database.ts';

/**
 * The embedded ledger's persistence: parties, contracts and their stakeholder index, updates with their hash-chain
 * columns and who sees them, accepted-command records, spent contracts, audit verdicts and payment locks. Every
 * statement of those tables lives here; the ledger's semantics (templates, authorization, the chain's rules) stay in
 * src/ledger/.
 */
export class LedgerRepository {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }
}
