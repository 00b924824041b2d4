// Long because it holds every SQL statement of the embedded ledger's tables (parties, contracts, updates, the keyed
// chain, verdicts, locks): one repository, whose SQL would otherwise be scattered.
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.ts';

/** A contract as stored: payload, signatories and observers are the JSON the update that created it recorded. */
export interface ContractRow {
  contract_id: string;
  template_id: string;
  payload: string;
  signatories: string;
  observers: string;
  created_offset: number;
  archived_offset: number | null;
}

/** A committed update as stored: `act_as` and `events` are canonical JSON, hashed as they are into the chain. */
export interface UpdateRow {
  offset: number;
  update_id: string;
  command_id: string;
  act_as: string;
  workflow_id: string | null;
  effective_at: string;
  events: string;
  prev_hash: string;
  hash: string;
}

/** A recorded verdict of a verification of the chain (ok: 1 good up to `offset`, 0 broken at `offset`). */
export interface AuditRow {
  id: number;
  offset: number;
  hash: string;
  ok: number;
  reason: string | null;
  verified_at: number;
}

/** The seal of the keyed chain: the newest offset written and its hash, the newest verdict, under one MAC. */
export interface SealRow {
  key_id: string;
  high_offset: number;
  high_hash: string;
  audit_id: number;
  audit_digest: string;
  mac: string;
}

/** An accepted command, as the completions stream shows it. */
export type Accepted = Pick<UpdateRow, 'offset' | 'update_id' | 'command_id' | 'act_as' | 'effective_at'>;

/** What `updates` reads (the ledger's update query, as the store sees it). */
export interface UpdateFilter {
  /** Only updates after this offset (0: from the start). */
  readonly afterOffset?: number;
  /** Only updates before this offset. */
  readonly beforeOffset?: number;
  readonly limit?: number;
  readonly newestFirst?: boolean;
  readonly workflowId?: string;
  /** Only updates effective at or after this ISO time. */
  readonly since?: string;
  /** Only updates this party submitted alone. */
  readonly submittedBy?: string;
}

/**
 * The embedded ledger's persistence: parties, contracts and their stakeholder index, updates with their hash-chain
 * columns and who sees them, accepted-command records, spent contracts, audit verdicts and payment locks. Every
 * statement of those tables lives here; the ledger's semantics (templates, authorization, the chain's rules) stay in
 * src/ledger/. Writes must run inside the caller's transaction (`Store.write` or `Store.commit`).
 */
export class LedgerRepository {
  private readonly db: Db;
  /** Prepared statements by their SQL, prepared on first use (preparing is a third of a transfer's time otherwise). */
  private readonly statements = new Map<string, Statement>();

  constructor(db: Db) {
    this.db = db;
  }

  private sql(text: string): Statement {
    let statement = this.statements.get(text);
    if (statement === undefined) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  /**
   * Runs reads as one snapshot (a deferred transaction: in WAL mode it sees one state of the database throughout),
   * so a check spanning several tables is not fooled by another process's write in between. Nested in a transaction,
   * it runs in that one.
   */
  snapshot<T>(fn: () => T): T {
    return this.db.inTransaction ? fn() : this.db.transaction(fn).deferred();
  }

  // The ledger's own settings, in the store's meta table.

  /** A setting under `key`, written once: the first value stays (another process's, if it wrote first). */
  settingOnce(key: string, make: () => string): string {
    this.sql('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run(key, make());
    return (this.sql('SELECT value FROM meta WHERE key = ?').get(key) as { value: string }).value;
  }

  // Parties.

  /** Records a party; one that exists already is left as it is (allocating a hint again is a no-op). */
  addParty(party: string, hint: string, createdAt: number): void {
    this.sql('INSERT OR IGNORE INTO ledger_parties (party, hint, created_at) VALUES (?, ?, ?)').run(
      party,
      hint,
      createdAt,
    );
  }

  partyByHint(hint: string): string | undefined {
    return (this.sql('SELECT party FROM ledger_parties WHERE hint = ?').get(hint) as { party: string } | undefined)
      ?.party;
  }

  isParty(party: string): boolean {
    return this.sql('SELECT 1 FROM ledger_parties WHERE party = ?').get(party) !== undefined;
  }

  /** Every party, in the order they were allocated. */
  parties(): { party: string; hint: string }[] {
    return this.sql('SELECT party, hint FROM ledger_parties ORDER BY created_at, rowid').all() as {
      party: string;
      hint: string;
    }[];
  }

  // Accepted commands.

  /** The update a change id (user, acting parties, command id) was accepted as, from the accepted-command records. */
  completion(changeId: string): { updateId: string; offset: number } | undefined {
    const row = this.sql('SELECT update_id, "offset" FROM ledger_completions WHERE change_id = ?').get(changeId) as
      { update_id: string; offset: number } | undefined;
    return row === undefined ? undefined : { updateId: row.update_id, offset: row.offset };
  }

  /**
   * The offset of an update of this command by these acting parties (`actAs` as stored: the JSON of the sorted
   * parties), from the updates themselves: says whether a command went in when its accepted-command record is gone.
   */
  acceptedOffset(commandId: string, actAs: string): number | undefined {
    return (
      this.sql('SELECT "offset" FROM ledger_updates WHERE command_id = ? AND act_as = ?').get(commandId, actAs) as
        { offset: number } | undefined
    )?.offset;
  }

  recordCompletion(changeId: string, updateId: string, offset: number): void {
    this.sql('INSERT INTO ledger_completions (change_id, update_id, "offset") VALUES (?, ?, ?)').run(
      changeId,
      updateId,
      offset,
    );
  }

  /** The updates after an offset, oldest first, with who submitted them (read lazily: the caller stops at its limit). */
  acceptedAfter(offset: number): IterableIterator<Accepted> {
    return this.sql(
      'SELECT "offset", update_id, command_id, act_as, effective_at FROM ledger_updates WHERE "offset" > ? ORDER BY "offset"',
    ).iterate(offset) as IterableIterator<Accepted>;
  }

  /** When the updates at these offsets took effect (what Canton calls a created event's `createdAt`). */
  effectiveAt(offsets: readonly number[]): Map<number, string> {
    const wanted = [...new Set(offsets)];
    const out = new Map<number, string>();
    // In chunks: SQLite caps the number of bound parameters.
    for (let i = 0; i < wanted.length; i += 500) {
      const chunk = wanted.slice(i, i + 500);
      const rows = this.sql(
        `SELECT "offset", effective_at FROM ledger_updates WHERE "offset" IN (${chunk.map(() => '?').join(',')})`,
      ).all(...chunk) as Pick<UpdateRow, 'offset' | 'effective_at'>[];
      for (const r of rows) out.set(r.offset, r.effective_at);
    }
    return out;
  }

  // Contracts.

  /** A contract by its id while it is active (an archived one reads as absent). */
  activeContract(contractId: string): ContractRow | undefined {
    return this.sql('SELECT * FROM ledger_contracts WHERE contract_id = ? AND archived_offset IS NULL').get(
      contractId,
    ) as ContractRow | undefined;
  }

  /** The active contracts of some templates, oldest first: a party's through its own index rows, '*' all of them. */
  activeContracts(party: string, templateIds: readonly string[]): ContractRow[] {
    if (templateIds.length === 0) return [];
    const templates = templateIds.map(() => '?').join(',');
    // A party's contracts through its own index rows; '*' (the operator's view) reads them all.
    return (
      party === '*'
        ? this.sql(
            `SELECT * FROM ledger_contracts WHERE archived_offset IS NULL AND template_id IN (${templates}) ORDER BY created_offset, rowid`,
          ).all(...templateIds)
        : this.sql(
            `SELECT c.* FROM ledger_contract_parties p JOIN ledger_contracts c ON c.contract_id = p.contract_id
               WHERE p.party = ? AND p.template_id IN (${templates}) AND c.archived_offset IS NULL ORDER BY c.created_offset, c.rowid`,
          ).all(party, ...templateIds)
    ) as ContractRow[];
  }

  insertContract(row: ContractRow): void {
    this.sql(
      'INSERT INTO ledger_contracts (contract_id, template_id, payload, signatories, observers, created_offset, archived_offset) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(
      row.contract_id,
      row.template_id,
      row.payload,
      row.signatories,
      row.observers,
      row.created_offset,
      row.archived_offset,
    );
  }

  /** Indexes an active contract under one of its stakeholders (how a party reads its holdings). */
  listContract(party: string, templateId: string, contractId: string): void {
    this.sql('INSERT OR IGNORE INTO ledger_contract_parties (party, template_id, contract_id) VALUES (?, ?, ?)').run(
      party,
      templateId,
      contractId,
    );
  }

  /**
   * Archives a contract at an offset if it is still active: off its stakeholders' index and recorded as spent. False
   * (and nothing changed) if it was archived already.
   */
  archiveContract(contractId: string, offset: number): boolean {
    if (
      this.sql('UPDATE ledger_contracts SET archived_offset = ? WHERE contract_id = ? AND archived_offset IS NULL').run(
        offset,
        contractId,
      ).changes !== 1
    )
      return false;
    this.sql('DELETE FROM ledger_contract_parties WHERE contract_id = ?').run(contractId);
    this.markSpent(contractId, offset);
    return true;
  }

  /** Records that an update archived a contract (a contract set active again by hand is caught where it is spent). */
  markSpent(contractId: string, offset: number): void {
    this.sql('INSERT INTO ledger_spent (contract_id, "offset") VALUES (?, ?)').run(contractId, offset);
  }

  isSpent(contractId: string): boolean {
    return this.sql('SELECT 1 FROM ledger_spent WHERE contract_id = ?').get(contractId) !== undefined;
  }

  // Updates.

  /** The newest update's offset, 0 on an empty ledger (offsets run 1..n). */
  endOffset(): number {
    return (this.sql('SELECT coalesce(max("offset"), 0) AS o FROM ledger_updates').get() as { o: number }).o;
  }

  /** The newest link of the chain. */
  head(): { offset: number; hash: string } | undefined {
    return this.sql('SELECT "offset", hash FROM ledger_updates ORDER BY "offset" DESC LIMIT 1').get() as
      { offset: number; hash: string } | undefined;
  }

  /** The hash of the update at an offset (whether a verified link is still there as it was). */
  hashAt(offset: number): string | undefined {
    return (this.sql('SELECT hash FROM ledger_updates WHERE "offset" = ?').get(offset) as { hash: string } | undefined)
      ?.hash;
  }

  insertUpdate(row: UpdateRow): void {
    this.sql(
      'INSERT INTO ledger_updates ("offset", update_id, command_id, act_as, workflow_id, effective_at, events, ' +
        'prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      row.offset,
      row.update_id,
      row.command_id,
      row.act_as,
      row.workflow_id,
      row.effective_at,
      row.events,
      row.prev_hash,
      row.hash,
    );
  }

  /** Indexes an update under a party that sees it (how a party reads its history). */
  listUpdate(party: string, offset: number): void {
    this.sql('INSERT OR IGNORE INTO ledger_update_parties (party, "offset") VALUES (?, ?)').run(party, offset);
  }

  updateById(updateId: string): UpdateRow | undefined {
    return this.sql('SELECT * FROM ledger_updates WHERE update_id = ?').get(updateId) as UpdateRow | undefined;
  }

  /**
   * Updates, oldest first unless `newestFirst`: those a party is a stakeholder of, or all of them with party '*';
   * at most `limit` (1,000 if not given).
   */
  updates(party: string, query: UpdateFilter = {}): UpdateRow[] {
    // Through the narrowest index: what one party submitted (its own payments), the updates one party is a
    // stakeholder of (its own index rows), or all of them.
    const via = query.submittedBy !== undefined ? 'submitter' : party !== '*' ? 'party' : 'all';
    const at = via === 'party' ? 'p."offset"' : 'u."offset"';
    const where: string[] = [`${at} > ?`];
    const params: (string | number)[] = [query.afterOffset ?? 0];
    if (via === 'party') {
      where.unshift('p.party = ?');
      params.unshift(party);
    }
    if (query.submittedBy !== undefined) {
      // As stored: the sorted acting parties; a payment is submitted by its payer alone.
      where.push('u.act_as = ?');
      params.push(JSON.stringify([query.submittedBy]));
    }
    if (query.beforeOffset !== undefined) {
      where.push(`${at} < ?`);
      params.push(query.beforeOffset);
    }
    if (query.workflowId !== undefined) {
      where.push('u.workflow_id = ?');
      params.push(query.workflowId);
    }
    if (query.since !== undefined) {
      where.push('u.effective_at >= ?');
      params.push(query.since);
    }
    const from =
      via === 'party' ? 'ledger_update_parties p JOIN ledger_updates u ON u."offset" = p."offset"' : 'ledger_updates u';
    return this.sql(
      `SELECT u.* FROM ${from} WHERE ${where.join(' AND ')} ORDER BY ${at} ${query.newestFirst === true ? 'DESC' : 'ASC'} LIMIT ?`,
    ).all(...params, query.limit ?? 1_000) as UpdateRow[];
  }

  /** The newest links of the chain, newest first, without their content. */
  newestLinks(limit: number): Omit<UpdateRow, 'events' | 'act_as'>[] {
    return this.sql(
      'SELECT "offset", update_id, command_id, workflow_id, effective_at, prev_hash, hash FROM ledger_updates ORDER BY "offset" DESC LIMIT ?',
    ).all(limit) as Omit<UpdateRow, 'events' | 'act_as'>[];
  }

  /** The newest updates, newest first (the newest link and the one it must follow). */
  newestUpdates(count: number): UpdateRow[] {
    return this.sql('SELECT * FROM ledger_updates ORDER BY "offset" DESC LIMIT ?').all(count) as UpdateRow[];
  }

  /** The update at an offset and the next one (which must link to it); fewer where the ledger ends or has gaps. */
  updateAndNext(offset: number): UpdateRow[] {
    return this.sql('SELECT * FROM ledger_updates WHERE "offset" >= ? ORDER BY "offset" LIMIT 2').all(
      offset,
    ) as UpdateRow[];
  }

  /** The updates after an offset, oldest first, read lazily. */
  updatesAfter(offset: number): IterableIterator<UpdateRow> {
    return this.sql('SELECT * FROM ledger_updates WHERE "offset" > ? ORDER BY "offset"').iterate(
      offset,
    ) as IterableIterator<UpdateRow>;
  }

  // Everything, for a full verification (each table read once).

  /** Every update, oldest first, read lazily (whatever its offset: one added by hand at offset 0 is read too). */
  allUpdates(): IterableIterator<UpdateRow> {
    return this.sql('SELECT * FROM ledger_updates ORDER BY "offset"').iterate() as IterableIterator<UpdateRow>;
  }

  /** Every contract, active or archived, read lazily. */
  allContracts(): IterableIterator<ContractRow> {
    return this.sql('SELECT * FROM ledger_contracts').iterate() as IterableIterator<ContractRow>;
  }

  allCompletions(): { change_id: string; update_id: string }[] {
    return this.sql('SELECT change_id, update_id FROM ledger_completions').all() as {
      change_id: string;
      update_id: string;
    }[];
  }

  /** The index of who sees which update. */
  allUpdateParties(): { party: string; offset: number }[] {
    return this.sql('SELECT party, "offset" FROM ledger_update_parties').all() as { party: string; offset: number }[];
  }

  /** The index of who holds which active contract. */
  allContractParties(): { party: string; template_id: string; contract_id: string }[] {
    return this.sql('SELECT party, template_id, contract_id FROM ledger_contract_parties').all() as {
      party: string;
      template_id: string;
      contract_id: string;
    }[];
  }

  allSpent(): { contract_id: string; offset: number }[] {
    return this.sql('SELECT contract_id, "offset" FROM ledger_spent').all() as {
      contract_id: string;
      offset: number;
    }[];
  }

  // Audit verdicts.

  latestAudit(): AuditRow | undefined {
    return this.sql('SELECT * FROM ledger_audits ORDER BY id DESC LIMIT 1').get() as AuditRow | undefined;
  }

  /** Records a verdict; its id (ids are never reused: AUTOINCREMENT). */
  recordAudit(verdict: {
    offset: number;
    hash: string;
    ok: boolean;
    reason: string | null;
    verifiedAt: number;
  }): number {
    return Number(
      this.sql('INSERT INTO ledger_audits ("offset", hash, ok, reason, verified_at) VALUES (?, ?, ?, ?, ?)').run(
        verdict.offset,
        verdict.hash,
        verdict.ok ? 1 : 0,
        verdict.reason,
        verdict.verifiedAt,
      ).lastInsertRowid,
    );
  }

  /** The verdicts that record a re-keying (`ledger rekey`), newest first. */
  rekeys(): AuditRow[] {
    return this.sql("SELECT * FROM ledger_audits WHERE reason LIKE 'rekeyed%' ORDER BY id DESC").all() as AuditRow[];
  }

  // The keyed chain.

  macAt(offset: number): string | undefined {
    return (this.sql('SELECT mac FROM ledger_macs WHERE "offset" = ?').get(offset) as { mac: string } | undefined)?.mac;
  }

  putMac(offset: number, mac: string): void {
    this.sql('INSERT OR REPLACE INTO ledger_macs ("offset", mac) VALUES (?, ?)').run(offset, mac);
  }

  /** Every MAC (a full verification reads them once, beside the updates). */
  allMacs(): Map<number, string> {
    const rows = this.sql('SELECT "offset", mac FROM ledger_macs').all() as { offset: number; mac: string }[];
    return new Map(rows.map((r) => [r.offset, r.mac]));
  }

  /** Every update's offset and hash, oldest first (read whole: they are written back as MACs while read). */
  allLinks(): { offset: number; hash: string }[] {
    return this.sql('SELECT "offset", hash FROM ledger_updates ORDER BY "offset"').all() as {
      offset: number;
      hash: string;
    }[];
  }

  seal(): SealRow | undefined {
    return this.sql(
      'SELECT key_id, high_offset, high_hash, audit_id, audit_digest, mac FROM ledger_seal WHERE id = 1',
    ).get() as SealRow | undefined;
  }

  putSeal(seal: SealRow): void {
    this.sql(
      'INSERT OR REPLACE INTO ledger_seal (id, key_id, high_offset, high_hash, audit_id, audit_digest, mac) VALUES (1, ?, ?, ?, ?, ?, ?)',
    ).run(seal.key_id, seal.high_offset, seal.high_hash, seal.audit_id, seal.audit_digest, seal.mac);
  }

  /** Whether the ledger holds anything at all (a fresh one is sealed from the start, with nothing to verify). */
  isEmpty(): boolean {
    return (
      this.sql('SELECT 1 FROM ledger_updates LIMIT 1').get() === undefined &&
      this.sql('SELECT 1 FROM ledger_contracts LIMIT 1').get() === undefined
    );
  }

  /** A contract by its id, active or archived (what a consumed contract held, for the conservation check). */
  /**
   * How many active contracts of a template a party reads, and the longest `amount` text among them: a bound on what
   * they hold together (each is below 10^longest) without reading them, for the ledger's Numeric 10 check.
   */
  amountBound(party: string, templateId: string): { count: number; longest: number } {
    return this.sql(
      `SELECT COUNT(*) AS count, COALESCE(MAX(length(json_extract(c.payload, '$.amount'))), 0) AS longest
         FROM ledger_contract_parties p JOIN ledger_contracts c ON c.contract_id = p.contract_id
         WHERE p.party = ? AND p.template_id = ? AND c.archived_offset IS NULL`,
    ).get(party, templateId) as { count: number; longest: number };
  }

  anyContract(contractId: string): ContractRow | undefined {
    return this.sql('SELECT * FROM ledger_contracts WHERE contract_id = ?').get(contractId) as ContractRow | undefined;
  }

  // Payment locks.

  /** Takes a named lock for an owner until `expiresAt`, unless another holds it unexpired at `now` (then false). */
  takeLock(name: string, owner: string, now: number, expiresAt: number): boolean {
    // An expired lease is taken over: its holder was killed or is past its time.
    this.sql('DELETE FROM ledger_locks WHERE name = ? AND expires_at < ?').run(name, now);
    return (
      this.sql('INSERT OR IGNORE INTO ledger_locks (name, owner, expires_at) VALUES (?, ?, ?)').run(
        name,
        owner,
        expiresAt,
      ).changes === 1
    );
  }

  /** Extends a lock this owner holds (a lock it no longer holds is left alone). */
  renewLock(name: string, owner: string, expiresAt: number): void {
    this.sql('UPDATE ledger_locks SET expires_at = ? WHERE name = ? AND owner = ?').run(expiresAt, name, owner);
  }

  /** Releases a lock this owner holds (one another owner took over is left alone). */
  releaseLock(name: string, owner: string): void {
    this.sql('DELETE FROM ledger_locks WHERE name = ? AND owner = ?').run(name, owner);
  }
}
