import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import { sha256 } from '../core/hash.ts';
import { canonicalJson } from '../core/json.ts';
import type { Statement } from 'better-sqlite3';
import type { Store } from '../store/store.ts';
import { TEMPLATE_DEFS, type ChoiceContext } from './templates.ts';
import {
  LedgerError,
  type ActiveContract,
  type AuditReport,
  type Command,
  type CommandMeta,
  type ContractId,
  type LedgerApi,
  type LedgerEvent,
  type LedgerTransaction,
  type Offset,
  type PartyId,
  type TemplateId,
  type TrailEntry,
  type UpdateQuery,
} from './types.ts';

const GENESIS = '0'.repeat(64);

interface ContractRow {
  contract_id: string;
  template_id: string;
  payload: string;
  signatories: string;
  observers: string;
  created_offset: number;
  archived_offset: number | null;
}

interface UpdateRow {
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

interface Live {
  readonly templateId: TemplateId;
  readonly payload: Record<string, unknown>;
  readonly signatories: readonly PartyId[];
  readonly observers: readonly PartyId[];
}

/**
 * The default ledger, in the project's SQLite: every command is interpreted and committed in one immediate
 * transaction, so several p2tui processes sharing the database serialise their writes and a contract is spent at
 * most once. Each committed update extends a hash chain; a chain that no longer verifies blocks writes.
 */
export class EmbeddedLedger implements LedgerApi {
  readonly backend = 'embedded' as const;
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly userId: string;
  /** The chain is checked once per process before the first write (see checkChain); later writes check the newest link. */
  private chainVerified = false;
  /** Prepared statements by their SQL (preparing is a third of a transfer's time otherwise). */
  private readonly statements = new Map<string, Statement>();
  /** The newest link chainStatus found good (its next call starts there). */
  private checkedHead: { offset: Offset; hash: string } | undefined;
  /** The newest link this process wrote (its next write need not read it back). */
  private lastWritten: { offset: Offset; hash: string } | undefined;
  /** Contracts checked against the update that created them (see vouch). */
  private readonly vouched = new Set<ContractId>();

  constructor(store: Store, options: { clock?: Clock; userId?: string } = {}) {
    this.store = store;
    this.clock = options.clock ?? systemClock;
    this.userId = options.userId ?? 'p2tui';
  }

  private sql(text: string): Statement {
    let statement = this.statements.get(text);
    if (statement === undefined) {
      statement = this.store.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  async ledgerEnd(): Promise<Offset> {
    return this.end();
  }

  /** A party for a hint (`hint::1220<fingerprint>`); allocating a hint again returns the same party. */
  async allocateParty(hint: string): Promise<PartyId> {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(hint))
      throw new LedgerError('PARTY_NOT_KNOWN', `party hint '${hint}' must be letters, digits, _, . and -`);
    const party = `${hint}::1220${sha256(`p2tui-ledger/party\n${hint}`)}`;
    this.store.write(() =>
      this.sql('INSERT OR IGNORE INTO ledger_parties (party, hint, created_at) VALUES (?, ?, ?)').run(
        party,
        hint,
        this.clock.now(),
      ),
    );
    return party;
  }

  async findParty(hint: string): Promise<PartyId | undefined> {
    return (this.sql('SELECT party FROM ledger_parties WHERE hint = ?').get(hint) as { party: string } | undefined)
      ?.party;
  }

  async parties(): Promise<{ party: PartyId; hint: string }[]> {
    return this.sql('SELECT party, hint FROM ledger_parties ORDER BY created_at, rowid').all() as {
      party: PartyId;
      hint: string;
    }[];
  }

  /**
   * Group commit: commands submitted in the same tick (payments of agents running at once) share one SQLite
   * transaction, each in its own savepoint, so a refused one rolls back alone and the others commit together.
   */
  async submit(commands: readonly Command[], meta: CommandMeta): Promise<LedgerTransaction> {
    return this.store.commit(() => this.submitInTx(commands, meta));
  }

  /** Interprets and records a command inside the caller's transaction (a refusal throws before anything is kept). */
  private submitInTx(commands: readonly Command[], meta: CommandMeta): LedgerTransaction {
    this.checkChain();
    const actAs = [...new Set(meta.actAs)].sort();
    const changeId = changeIdOf(meta.userId ?? this.userId, actAs, meta.commandId);
    const done = this.sql('SELECT update_id, "offset" FROM ledger_completions WHERE change_id = ?').get(changeId) as
      { update_id: string; offset: number } | undefined;
    if (done !== undefined) {
      throw new LedgerError(
        'DUPLICATE_COMMAND',
        `command ${meta.commandId} was accepted already (update ${done.update_id} at offset ${done.offset})`,
        { updateId: done.update_id, offset: done.offset },
      );
    }
    // The accepted-command record could have been removed by hand: the updates say whether this command went in.
    const accepted = this.sql('SELECT "offset" FROM ledger_updates WHERE command_id = ? AND act_as = ?').get(
      meta.commandId,
      JSON.stringify(actAs),
    ) as { offset: number } | undefined;
    if (accepted !== undefined && (meta.userId ?? this.userId) === this.userId) {
      throw chainBroken({
        ok: false,
        entries: 0,
        head: null,
        firstBad: accepted.offset,
        reason: `command ${meta.commandId} was accepted at offset ${accepted.offset} but its accepted-command record is gone (removed by hand: it could be paid twice)`,
      });
    }
    const knownParty = this.sql('SELECT 1 FROM ledger_parties WHERE party = ?');
    for (const p of actAs)
      if (knownParty.get(p) === undefined)
        throw new LedgerError('PARTY_NOT_KNOWN', `party ${p} is not allocated on this ledger`);
    const offset = this.end() + 1;
    const updateId = `1220${sha256(`p2tui-ledger/update\n${offset}\n${changeId}`).slice(0, 60)}`;
    const { events, created, archived } = this.interpret(commands, actAs, updateId);
    // Persist: every input still active (another process cannot have spent it: this is one immediate transaction).
    const archive = this.sql(
      'UPDATE ledger_contracts SET archived_offset = ? WHERE contract_id = ? AND archived_offset IS NULL',
    );
    const unlist = this.sql('DELETE FROM ledger_contract_parties WHERE contract_id = ?');
    const spend = this.sql('INSERT INTO ledger_spent (contract_id, "offset") VALUES (?, ?)');
    for (const cid of archived) {
      if (created.has(cid)) continue;
      if (archive.run(offset, cid).changes !== 1)
        throw new LedgerError('CONTRACT_NOT_FOUND', `contract ${cid} is no longer active`, { contractId: cid });
      unlist.run(cid);
      spend.run(cid, offset);
    }
    const insert = this.sql(
      'INSERT INTO ledger_contracts (contract_id, template_id, payload, signatories, observers, created_offset, archived_offset) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    const list = this.sql(
      'INSERT OR IGNORE INTO ledger_contract_parties (party, template_id, contract_id) VALUES (?, ?, ?)',
    );
    for (const [cid, c] of created) {
      // A contract created and archived in the same update is transient: recorded, never active.
      insert.run(
        cid,
        c.templateId,
        canonicalJson(c.payload),
        JSON.stringify(c.signatories),
        JSON.stringify(c.observers),
        offset,
        archived.has(cid) ? offset : null,
      );
      if (archived.has(cid)) spend.run(cid, offset);
      if (!archived.has(cid))
        for (const p of new Set([...c.signatories, ...c.observers])) list.run(p, c.templateId, cid);
    }
    // Hashed exactly as stored (canonical JSON read back), so a verification later recomputes the same value.
    const stored = canonicalJson(events);
    const tx: LedgerTransaction = {
      updateId,
      commandId: meta.commandId,
      workflowId: meta.workflowId ?? null,
      offset,
      effectiveAt: new Date(this.clock.now()).toISOString(),
      events: JSON.parse(stored) as LedgerEvent[],
    };
    const prev =
      (this.sql('SELECT hash FROM ledger_updates ORDER BY "offset" DESC LIMIT 1').get() as { hash: string } | undefined)
        ?.hash ?? GENESIS;
    const row = {
      offset,
      update_id: updateId,
      command_id: meta.commandId,
      act_as: JSON.stringify(actAs),
      workflow_id: tx.workflowId,
      effective_at: tx.effectiveAt,
      events: stored,
      prev_hash: prev,
    };
    const hash = rowHash(prev, row);
    this.sql(
      'INSERT INTO ledger_updates ("offset", update_id, command_id, act_as, workflow_id, effective_at, events, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(offset, updateId, meta.commandId, row.act_as, tx.workflowId, tx.effectiveAt, stored, prev, hash);
    const sees = this.sql('INSERT OR IGNORE INTO ledger_update_parties (party, "offset") VALUES (?, ?)');
    for (const p of updateParties(tx.events)) sees.run(p, offset);
    this.sql('INSERT INTO ledger_completions (change_id, update_id, "offset") VALUES (?, ?, ?)').run(
      changeId,
      updateId,
      offset,
    );
    this.lastWritten = { offset, hash };
    // What this process created it need not check against the log before spending it (see vouch).
    if (this.vouched.size > 100_000) this.vouched.clear();
    for (const cid of created.keys()) if (!archived.has(cid)) this.vouched.add(cid);
    return tx;
  }

  async activeContracts<T = Record<string, unknown>>(
    party: PartyId | '*',
    templateIds: readonly TemplateId[],
  ): Promise<ActiveContract<T>[]> {
    if (templateIds.length === 0) return [];
    const templates = templateIds.map(() => '?').join(',');
    // A party's contracts through its own index rows; '*' (the operator's view) reads them all.
    const rows = (
      party === '*'
        ? this.sql(
            `SELECT * FROM ledger_contracts WHERE archived_offset IS NULL AND template_id IN (${templates}) ORDER BY created_offset, rowid`,
          ).all(...templateIds)
        : this.sql(
            `SELECT c.* FROM ledger_contract_parties p JOIN ledger_contracts c ON c.contract_id = p.contract_id
               WHERE p.party = ? AND p.template_id IN (${templates}) AND c.archived_offset IS NULL ORDER BY c.created_offset, c.rowid`,
          ).all(party, ...templateIds)
    ) as ContractRow[];
    return rows.map((r) => ({
      contractId: r.contract_id,
      templateId: r.template_id,
      payload: JSON.parse(r.payload) as T,
      signatories: JSON.parse(r.signatories) as PartyId[],
      observers: JSON.parse(r.observers) as PartyId[],
      createdOffset: r.created_offset,
    }));
  }

  async updates(party: PartyId | '*', query: UpdateQuery = {}): Promise<LedgerTransaction[]> {
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
    const rows = this.sql(
      `SELECT u.* FROM ${from} WHERE ${where.join(' AND ')} ORDER BY ${at} ${query.newestFirst === true ? 'DESC' : 'ASC'} LIMIT ?`,
    ).all(...params, query.limit ?? 1_000) as UpdateRow[];
    return rows.map((r) => {
      const tx = toTransaction(r);
      return party === '*' ? tx : { ...tx, events: tx.events.filter((e) => stakeholdersOf(e).includes(party)) };
    });
  }

  async updateById(updateId: string): Promise<LedgerTransaction | undefined> {
    return this.byId(updateId);
  }

  async completion(commandId: string, actAs: readonly PartyId[]): Promise<LedgerTransaction | undefined> {
    const changeId = changeIdOf(this.userId, actAs, commandId);
    const done = this.sql('SELECT update_id FROM ledger_completions WHERE change_id = ?').get(changeId) as
      { update_id: string } | undefined;
    return done === undefined ? undefined : this.byId(done.update_id);
  }

  /** Accepted commands acting as any of `parties`, after an offset (what the JSON API's completions stream shows). */
  async completions(
    parties: readonly PartyId[],
    afterOffset: Offset,
    limit = 1_000,
  ): Promise<{ commandId: string; updateId: string; actAs: PartyId[]; offset: Offset }[]> {
    const rows = this.sql(
      'SELECT "offset", update_id, command_id, act_as FROM ledger_updates WHERE "offset" > ? ORDER BY "offset"',
    ).iterate(afterOffset) as IterableIterator<Pick<UpdateRow, 'offset' | 'update_id' | 'command_id' | 'act_as'>>;
    const out: { commandId: string; updateId: string; actAs: PartyId[]; offset: Offset }[] = [];
    for (const r of rows) {
      const actAs = JSON.parse(r.act_as) as PartyId[];
      if (actAs.some((p) => parties.includes(p)))
        out.push({ commandId: r.command_id, updateId: r.update_id, actAs, offset: r.offset });
      if (out.length >= limit) break;
    }
    return out;
  }

  async verifyChain(): Promise<AuditReport> {
    return this.verifyNow();
  }

  async auditTrail(limit: number): Promise<TrailEntry[]> {
    const rows = this.sql(
      'SELECT "offset", update_id, command_id, workflow_id, effective_at, prev_hash, hash FROM ledger_updates ORDER BY "offset" DESC LIMIT ?',
    ).all(limit) as Omit<UpdateRow, 'events' | 'act_as'>[];
    return rows.map((r) => ({
      offset: r.offset,
      updateId: r.update_id,
      prevHash: r.prev_hash,
      hash: r.hash,
      commandId: r.command_id,
      workflowId: r.workflow_id,
      effectiveAt: r.effective_at,
    }));
  }

  async chainStatus(): Promise<AuditReport> {
    const verdict = this.sql('SELECT * FROM ledger_audits ORDER BY id DESC LIMIT 1').get() as
      { offset: number; hash: string; ok: number; reason: string | null } | undefined;
    if (verdict === undefined) return this.verifyNow();
    if (verdict.ok !== 1)
      return {
        ok: false,
        entries: 0,
        head: null,
        firstBad: verdict.offset,
        reason: verdict.reason ?? 'the last verification failed',
      };
    // From the newest point known good: the verdict, or what this process checked since (asked every tick, it reads
    // only the updates since the last time).
    const from =
      this.checkedHead !== undefined && this.checkedHead.offset > verdict.offset
        ? this.checkedHead
        : { offset: verdict.offset, hash: verdict.hash };
    const report = this.verifyFrom(from.offset, from.hash);
    if (report.ok && report.head !== null) this.checkedHead = report.head;
    // Offsets run 1..n here: the end is the number of updates.
    return { ...report, entries: this.end() };
  }

  private end(): Offset {
    return (this.sql('SELECT coalesce(max("offset"), 0) AS o FROM ledger_updates').get() as { o: number }).o;
  }

  private byId(updateId: string): LedgerTransaction | undefined {
    const row = this.sql('SELECT * FROM ledger_updates WHERE update_id = ?').get(updateId) as UpdateRow | undefined;
    return row === undefined ? undefined : toTransaction(row);
  }

  /**
   * Recomputes every link (the first update whose content or link no longer matches is named), then checks that the
   * contracts (where balances are read), the accepted-command records (which refuse a second payment) and the
   * stakeholder index (through which a party reads) are exactly what the verified updates say: one pass over the
   * updates. The verdict is recorded: a broken one blocks every writer, a good one lets later processes verify only
   * what came after it.
   */
  verifyNow(): AuditReport {
    const report = this.fullVerification();
    this.store.write(() =>
      this.sql('INSERT INTO ledger_audits ("offset", hash, ok, reason, verified_at) VALUES (?, ?, ?, ?, ?)').run(
        report.ok ? (report.head?.offset ?? 0) : (report.firstBad ?? 0),
        report.ok ? (report.head?.hash ?? GENESIS) : '',
        report.ok ? 1 : 0,
        report.reason ?? null,
        this.clock.now(),
      ),
    );
    return report;
  }

  private fullVerification(): AuditReport {
    let prev = GENESIS;
    let entries = 0;
    let head: AuditReport['head'] = null;
    const expected = new Map<
      ContractId,
      {
        templateId: string;
        payload: string;
        archivedAt: Offset | null;
        createdAt: Offset;
        parties: readonly PartyId[];
        signatories: string;
        observers: string;
      }
    >();
    const completions = new Set<string>();
    const sees = new Set<string>();
    for (const r of this.sql(
      'SELECT * FROM ledger_updates ORDER BY "offset"',
    ).iterate() as IterableIterator<UpdateRow>) {
      entries += 1;
      if (r.prev_hash !== prev)
        return {
          ok: false,
          entries,
          head,
          firstBad: r.offset,
          reason: `update ${r.update_id} at offset ${r.offset} does not link to the update before it (an update was removed or reordered)`,
        };
      let tx: LedgerTransaction;
      let actAs: string[];
      try {
        tx = toTransaction(r);
        actAs = JSON.parse(r.act_as) as string[];
      } catch {
        return {
          ok: false,
          entries,
          head,
          firstBad: r.offset,
          reason: `update ${r.update_id} at offset ${r.offset} cannot be read (its stored JSON was altered)`,
        };
      }
      if (rowHash(prev, r) !== r.hash)
        return {
          ok: false,
          entries,
          head,
          firstBad: r.offset,
          reason: `update ${r.update_id} at offset ${r.offset} was altered after it was committed (its content no longer matches its hash)`,
        };
      prev = r.hash;
      head = { offset: r.offset, hash: r.hash };
      completions.add(`${changeIdOf(this.userId, actAs, r.command_id)}\n${r.update_id}`);
      for (const p of updateParties(tx.events)) sees.add(`${p}\n${r.offset}`);
      for (const e of tx.events) {
        if (e.kind === 'created') {
          expected.set(e.contractId, {
            templateId: e.templateId,
            payload: canonicalJson(e.payload),
            archivedAt: null,
            createdAt: tx.offset,
            parties: [...new Set([...e.signatories, ...e.observers])],
            signatories: JSON.stringify(e.signatories),
            observers: JSON.stringify(e.observers),
          });
        } else if (e.kind === 'exercised' && e.consuming) {
          const c = expected.get(e.contractId);
          if (c !== undefined) c.archivedAt = tx.offset;
        }
      }
    }
    const chain: AuditReport = { ok: true, entries, head };
    const bad = (reason: string, offset?: Offset): AuditReport => ({
      ...chain,
      ok: false,
      ...(offset === undefined ? {} : { firstBad: offset }),
      reason,
    });
    let rows = 0;
    const listed = new Set<string>();
    for (const c of this.sql('SELECT * FROM ledger_contracts').iterate() as IterableIterator<ContractRow>) {
      rows += 1;
      const want = expected.get(c.contract_id);
      if (want === undefined)
        return bad(
          `contract ${c.contract_id} is in the contracts table but no update created it (added by hand)`,
          c.created_offset,
        );
      if (
        want.payload !== c.payload ||
        want.templateId !== c.template_id ||
        want.archivedAt !== c.archived_offset ||
        want.signatories !== c.signatories ||
        want.observers !== c.observers
      ) {
        return bad(
          `contract ${c.contract_id} differs from what update ${want.createdAt} created${want.archivedAt !== c.archived_offset ? ' or archived' : ''} (edited by hand)`,
          want.createdAt,
        );
      }
      if (want.archivedAt === null)
        for (const p of want.parties) listed.add(`${p}\n${c.template_id}\n${c.contract_id}`);
    }
    if (rows !== expected.size)
      return bad(
        `${expected.size - rows} contracts the updates created are missing from the contracts table (deleted by hand)`,
      );
    const stored = this.sql('SELECT change_id, update_id FROM ledger_completions').all() as {
      change_id: string;
      update_id: string;
    }[];
    if (stored.length !== completions.size || stored.some((c) => !completions.has(`${c.change_id}\n${c.update_id}`))) {
      return bad(
        'the accepted-command records do not match the updates (a record was removed or edited: a payment could be made twice)',
      );
    }
    const index = this.sql('SELECT party, "offset" AS o FROM ledger_update_parties').all() as {
      party: string;
      o: number;
    }[];
    if (index.length !== sees.size || index.some((i) => !sees.has(`${i.party}\n${i.o}`))) {
      return bad(
        "the index of who sees which update does not match the updates (edited by hand: a party's history or spending would read wrong)",
      );
    }
    const spentRows = this.sql('SELECT contract_id, "offset" AS o FROM ledger_spent').all() as {
      contract_id: string;
      o: number;
    }[];
    const archivedCount = [...expected.values()].filter((c) => c.archivedAt !== null).length;
    if (spentRows.length !== archivedCount || spentRows.some((r) => expected.get(r.contract_id)?.archivedAt !== r.o)) {
      return bad(
        'the record of spent contracts does not match the updates (edited by hand: a spent holding could be spent again)',
      );
    }
    const owners = this.sql('SELECT party, template_id, contract_id FROM ledger_contract_parties').all() as {
      party: string;
      template_id: string;
      contract_id: string;
    }[];
    if (
      owners.length !== listed.size ||
      owners.some((o) => !listed.has(`${o.party}\n${o.template_id}\n${o.contract_id}`))
    ) {
      return bad(
        'the index of who holds which active contract does not match the contracts (edited by hand: a balance would read wrong)',
      );
    }
    return chain;
  }

  /**
   * Refuses writes on a broken chain. Once per process, before its first write: the newest recorded verdict must be
   * good, and the updates after it must verify (link and content); with no verdict yet, a full verification. Later
   * writes check the newest link. A full verification of everything is `ledger audit --verify`.
   */
  private checkChain(): void {
    if (!this.chainVerified) {
      const verdict = this.sql('SELECT * FROM ledger_audits ORDER BY id DESC LIMIT 1').get() as
        { offset: number; hash: string; ok: number; reason: string | null } | undefined;
      if (verdict === undefined) {
        const report = this.verifyNow();
        if (!report.ok) throw chainBroken(report);
      } else if (verdict.ok !== 1) {
        throw chainBroken({
          ok: false,
          entries: 0,
          head: null,
          firstBad: verdict.offset,
          reason: verdict.reason ?? 'the last verification failed',
        });
      } else {
        const report = this.verifyFrom(verdict.offset, verdict.hash);
        // Every writer finds the same break here (its refused write rolls back, so no verdict is recorded for it).
        if (!report.ok) throw chainBroken(report);
        // What was just checked need not be checked again by the next process (or the TUI): a verdict at the head.
        if (report.head !== null && report.head.offset > verdict.offset) {
          this.sql('INSERT INTO ledger_audits ("offset", hash, ok, reason, verified_at) VALUES (?, ?, 1, ?, ?)').run(
            report.head.offset,
            report.head.hash,
            'links checked since the previous verdict',
            this.clock.now(),
          );
        }
      }
      this.chainVerified = true;
      return;
    }
    const head = this.sql('SELECT "offset", hash FROM ledger_updates ORDER BY "offset" DESC LIMIT 1').get() as
      { offset: number; hash: string } | undefined;
    // Updates this process wrote are gone: the newest ones were removed by hand.
    if (this.lastWritten !== undefined && (head === undefined || head.offset < this.lastWritten.offset)) {
      throw chainBroken({
        ok: false,
        entries: 0,
        head: null,
        firstBad: this.lastWritten.offset,
        reason: `the ledger ends at offset ${head?.offset ?? 0}, before update ${this.lastWritten.offset} this process wrote (the newest updates were removed)`,
      });
    }
    if (head === undefined) return;
    // The newest link is the one this process wrote (hashed as it was written): nothing to read again. Another
    // process's newest link is checked in full; `ledger audit --verify` recomputes everything.
    if (this.lastWritten?.offset === head.offset && this.lastWritten.hash === head.hash) return;
    const [last, before] = this.sql('SELECT * FROM ledger_updates ORDER BY "offset" DESC LIMIT 2').all() as UpdateRow[];
    if (last === undefined) return;
    let ok: boolean;
    try {
      // The newest link: its own content, and that it follows the one before it.
      ok = rowHash(last.prev_hash, last) === last.hash && last.prev_hash === (before?.hash ?? GENESIS);
    } catch {
      ok = false;
    }
    if (!ok)
      throw chainBroken({
        ok: false,
        entries: 0,
        head: null,
        firstBad: last.offset,
        reason: `update ${last.update_id} at offset ${last.offset} was altered after it was committed`,
      });
  }

  /**
   * Before a command uses a contract: the contract is what the update that created it says, and that update still
   * matches its hash and is linked to by the next one. So a balance edited by hand is refused where it would be
   * spent, without verifying the whole chain (each contract is vouched for once per process).
   */
  private vouch(row: ContractRow): void {
    if (this.vouched.has(row.contract_id)) return;
    const [created, next] = this.sql('SELECT * FROM ledger_updates WHERE "offset" >= ? ORDER BY "offset" LIMIT 2').all(
      row.created_offset,
    ) as UpdateRow[];
    let ok = false;
    try {
      if (created !== undefined && created.offset === row.created_offset) {
        const tx = toTransaction(created);
        const event = tx.events.find((e) => e.kind === 'created' && e.contractId === row.contract_id);
        ok =
          event?.kind === 'created' &&
          event.templateId === row.template_id &&
          canonicalJson(event.payload) === row.payload &&
          JSON.stringify(event.signatories) === row.signatories &&
          JSON.stringify(event.observers) === row.observers &&
          this.sql('SELECT 1 FROM ledger_spent WHERE contract_id = ?').get(row.contract_id) === undefined &&
          rowHash(created.prev_hash, created) === created.hash &&
          (next === undefined || next.prev_hash === created.hash);
      }
    } catch {
      ok = false;
    }
    if (!ok) {
      throw chainBroken({
        ok: false,
        entries: 0,
        head: null,
        firstBad: row.created_offset,
        reason: `contract ${row.contract_id} is not what update ${row.created_offset} created, was spent already, or that update was altered`,
      });
    }
    this.vouched.add(row.contract_id);
  }

  /** The links after a verified update: it still has its verified hash, and each later one follows and matches. */
  private verifyFrom(offset: Offset, hash: string): AuditReport {
    let prev = GENESIS;
    if (offset > 0) {
      const at = this.sql('SELECT hash FROM ledger_updates WHERE "offset" = ?').get(offset) as
        { hash: string } | undefined;
      if (at?.hash !== hash)
        return {
          ok: false,
          entries: 0,
          head: null,
          firstBad: offset,
          reason: `update at offset ${offset} no longer has the hash the last verification saw (removed or rewritten)`,
        };
      prev = hash;
    }
    let entries = 0;
    let head: AuditReport['head'] = offset > 0 ? { offset, hash } : null;
    for (const r of this.sql('SELECT * FROM ledger_updates WHERE "offset" > ? ORDER BY "offset"').iterate(
      offset,
    ) as IterableIterator<UpdateRow>) {
      entries += 1;
      let good: boolean;
      try {
        good = r.prev_hash === prev && rowHash(prev, r) === r.hash;
      } catch {
        good = false;
      }
      if (!good)
        return {
          ok: false,
          entries,
          head,
          firstBad: r.offset,
          reason: `update ${r.update_id} at offset ${r.offset} was altered or does not link to the one before it`,
        };
      prev = r.hash;
      head = { offset: r.offset, hash: r.hash };
    }
    return { ok: true, entries, head };
  }

  private interpret(
    commands: readonly Command[],
    actAs: readonly PartyId[],
    updateId: string,
  ): { events: LedgerEvent[]; created: Map<ContractId, Live>; archived: Set<ContractId> } {
    const events: LedgerEvent[] = [];
    const created = new Map<ContractId, Live>();
    const archived = new Set<ContractId>();
    let nextNode = 0;
    const selectContract = this.sql('SELECT * FROM ledger_contracts WHERE contract_id = ? AND archived_offset IS NULL');
    const lookup = (cid: ContractId): Live | undefined => {
      if (archived.has(cid)) return undefined;
      const here = created.get(cid);
      if (here !== undefined) return here;
      const row = selectContract.get(cid) as ContractRow | undefined;
      if (row === undefined) return undefined;
      this.vouch(row);
      return {
        templateId: row.template_id,
        payload: JSON.parse(row.payload) as Record<string, unknown>,
        signatories: JSON.parse(row.signatories) as string[],
        observers: JSON.parse(row.observers) as string[],
      };
    };
    const stakeholders = (c: Live): PartyId[] => [...new Set([...c.signatories, ...c.observers])];
    const notFound = (cid: ContractId, templateId: TemplateId): LedgerError =>
      new LedgerError(
        'CONTRACT_NOT_FOUND',
        `contract ${cid} (${templateId.split(':').at(-1)}) is not active, or not visible to the submitting parties`,
        { contractId: cid },
      );
    const authorize = (needed: readonly PartyId[], authorizers: ReadonlySet<PartyId>, what: string): void => {
      const missing = needed.filter((p) => !authorizers.has(p));
      if (missing.length > 0)
        throw new LedgerError(
          'DAML_AUTHORIZATION_ERROR',
          `${what} needs the authority of ${missing.join(', ')}, which the submission does not have`,
          { missing },
        );
    };

    const create = (
      templateId: TemplateId,
      raw: Record<string, unknown>,
      authorizers: ReadonlySet<PartyId>,
    ): ContractId => {
      const def = TEMPLATE_DEFS.get(templateId);
      if (def === undefined) throw new LedgerError('UNKNOWN_TEMPLATE', `no template ${templateId} on this ledger`);
      const parsed = def.payload.safeParse(raw);
      if (!parsed.success)
        throw new LedgerError(
          'INTERPRETATION_ERROR',
          `create ${templateId}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        );
      const payload = parsed.data;
      const violated = def.ensure(payload);
      if (violated !== undefined)
        throw new LedgerError('TEMPLATE_PRECONDITION_VIOLATED', `${templateId.split(':').at(-1)}: ${violated}`);
      const signatories = def.signatories(payload);
      authorize(signatories, authorizers, `creating ${templateId.split(':').at(-1)}`);
      const nodeId = nextNode++;
      const contractId = `00${sha256(`${updateId}:${nodeId}`)}`;
      const live: Live = {
        templateId,
        payload,
        signatories,
        observers: def.observers(payload).filter((p) => !signatories.includes(p)),
      };
      created.set(contractId, live);
      events.push({
        kind: 'created',
        nodeId,
        contractId,
        templateId,
        payload,
        signatories: live.signatories,
        observers: live.observers,
      });
      return contractId;
    };

    const exercise = (
      templateId: TemplateId,
      cid: ContractId,
      choiceName: string,
      rawArg: Record<string, unknown>,
      authorizers: ReadonlySet<PartyId>,
      submitters?: readonly PartyId[],
    ): unknown => {
      const contract = lookup(cid);
      // The submitters must see the contract: a stakeholder of it (Canton reports an unknown one the same way).
      if (
        contract === undefined ||
        contract.templateId !== templateId ||
        (submitters !== undefined && !stakeholders(contract).some((p) => submitters.includes(p)))
      ) {
        throw notFound(cid, templateId);
      }
      const def = TEMPLATE_DEFS.get(templateId)!;
      const choice = def.choices[choiceName];
      if (choice === undefined)
        throw new LedgerError(
          'INTERPRETATION_ERROR',
          `template ${templateId} has no choice ${choiceName} (it has ${Object.keys(def.choices).join(', ') || 'none'})`,
        );
      const parsedArg = choice.arg.safeParse(rawArg);
      if (!parsedArg.success)
        throw new LedgerError(
          'INTERPRETATION_ERROR',
          `${choiceName}: ${parsedArg.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        );
      const arg = parsedArg.data;
      const controllers = choice.controllers(contract.payload, arg);
      authorize(controllers, authorizers, `exercising ${choiceName}`);
      const nodeId = nextNode++;
      const at = events.length;
      events.push({
        kind: 'exercised',
        nodeId,
        contractId: cid,
        templateId,
        choice: choiceName,
        arg,
        actingParties: controllers,
        consuming: choice.consuming,
        lastDescendantNodeId: nodeId,
        result: null,
        stakeholders: stakeholders(contract),
      });
      // A consuming choice archives its contract before the body runs: the body cannot spend it twice.
      if (choice.consuming) archived.add(cid);
      const bodyAuthority = new Set([...contract.signatories, ...controllers]);
      const ctx: ChoiceContext = {
        create: (t, p) => create(t, p, bodyAuthority),
        fetch: (other, t) => {
          const c = lookup(other);
          if (c === undefined || c.templateId !== t || !stakeholders(c).some((p) => bodyAuthority.has(p)))
            throw notFound(other, t);
          return c.payload;
        },
        archive: (other, t) => {
          const c = lookup(other);
          if (c === undefined || c.templateId !== t) throw notFound(other, t);
          authorize(c.signatories, bodyAuthority, `archiving ${t.split(':').at(-1)}`);
          const n = nextNode++;
          events.push({
            kind: 'exercised',
            nodeId: n,
            contractId: other,
            templateId: t,
            choice: 'Archive',
            arg: {},
            actingParties: [...c.signatories],
            consuming: true,
            lastDescendantNodeId: n,
            result: null,
            stakeholders: stakeholders(c),
          });
          archived.add(other);
        },
        assert: (condition, message) => {
          if (!condition) throw new LedgerError('INTERPRETATION_ERROR', message);
        },
      };
      const result = choice.run(ctx, { contractId: cid, payload: contract.payload }, arg);
      const node = events[at] as Extract<LedgerEvent, { kind: 'exercised' }>;
      events[at] = { ...node, lastDescendantNodeId: nextNode - 1, result: result ?? null };
      return result;
    };

    const top = new Set(actAs);
    for (const command of commands) {
      if (command.kind === 'create') create(command.templateId, { ...command.args }, top);
      else exercise(command.templateId, command.contractId, command.choice, { ...command.arg }, top, actAs);
    }
    return { events, created, archived };
  }
}

/** Canton's change id: the user, the set of acting parties and the command id (what deduplication is keyed on). */
function changeIdOf(userId: string, actAs: readonly PartyId[], commandId: string): string {
  return sha256(`${userId}\n${[...new Set(actAs)].sort().join(',')}\n${commandId}`);
}

function stakeholdersOf(e: LedgerEvent): readonly PartyId[] {
  return e.kind === 'created' ? [...e.signatories, ...e.observers] : e.stakeholders;
}

/** The parties an update is visible to: the stakeholders of any of its events. */
function updateParties(events: readonly LedgerEvent[]): Set<PartyId> {
  return new Set(events.flatMap((e) => stakeholdersOf(e)));
}

function toTransaction(r: UpdateRow): LedgerTransaction {
  return {
    updateId: r.update_id,
    commandId: r.command_id,
    workflowId: r.workflow_id,
    offset: r.offset,
    effectiveAt: r.effective_at,
    events: JSON.parse(r.events) as LedgerEvent[],
  };
}

/** A link of the audit chain: the previous hash and the canonical JSON of the update (acting parties included). */
/**
 * A link of the audit chain: the previous hash and the canonical JSON of the update with its acting parties
 * (`{actAs, commandId, effectiveAt, events, offset, updateId, workflowId}`, keys sorted). Composed from the stored
 * columns, which hold canonical JSON already, instead of parsing and serialising the events again; a column edited
 * even into equivalent JSON no longer matches.
 */
function rowHash(prev: string, r: Omit<UpdateRow, 'hash'>): string {
  const json = `{"actAs":${r.act_as},"commandId":${JSON.stringify(r.command_id)},"effectiveAt":${JSON.stringify(r.effective_at)},"events":${r.events},"offset":${r.offset},"updateId":${JSON.stringify(r.update_id)},"workflowId":${JSON.stringify(r.workflow_id)}}`;
  return sha256(`p2tui-ledger/audit/v1\n${prev}\n${json}`);
}

function chainBroken(report: AuditReport): LedgerError {
  return new LedgerError(
    'AUDIT_CHAIN_BROKEN',
    `the ledger's audit chain is broken at offset ${report.firstBad ?? '?'}: ${report.reason ?? ''}; writes are refused`,
    { firstBad: report.firstBad },
    'Run p2tui ledger audit --verify for details, and restore the database from a backup; nothing more was written.',
  );
}
