import type { Clock } from '../../core/clock.ts';
import { systemClock } from '../../core/clock.ts';
import { randomBytes } from 'node:crypto';
import { sha256 } from '../../core/hash.ts';
import { canonicalJson } from '../../core/json.ts';
import type { ContractRow, LedgerRepository, UpdateFilter, UpdateRow } from '../../store/ledger.ts';
import type { Store } from '../../store/store.ts';
import { OPERATOR_HINT, TEMPLATES } from '../templates.ts';
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
} from '../types.ts';
import { GENESIS, chainBroken, changeIdOf, rowHash, stakeholdersOf, toTransaction, updateParties } from './chain.ts';
import { balanceOverflow, conservationBreak, valueOf } from './conservation.ts';
import { ChainGuard } from './guard.ts';

/**
 * The store's update filter is the port's query (the store cannot import the ledger's types): a field added to one
 * and not the other fails to compile here instead of being ignored.
 */
type SameFields<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : never) : never;
const _queryIsFilter: SameFields<UpdateQuery, UpdateFilter> = true;
import { interpret } from './interpret.ts';

/**
 * The default ledger, in the project's SQLite: every command is interpreted and committed in one immediate
 * transaction, so several p2tui processes sharing the database serialise their writes and a contract is spent at
 * most once. Each committed update extends a hash chain; a chain that no longer verifies blocks writes.
 */
export class EmbeddedLedger implements LedgerApi {
  readonly backend = 'embedded' as const;
  private readonly store: Store;
  private readonly repo: LedgerRepository;
  private readonly clock: Clock;
  private readonly userId: string;
  /** This process's view of the audit chain: what it verified, wrote and vouched for. */
  private readonly chain: ChainGuard;
  private operator: PartyId | undefined;
  /** A stored contract that is still active, vouched for before a command uses it (see ChainGuard.vouch). */
  private readonly activeContract = (cid: ContractId): ContractRow | undefined => {
    const row = this.repo.activeContract(cid);
    if (row !== undefined) this.chain.vouch(row);
    return row;
  };

  constructor(store: Store, options: { clock?: Clock; userId?: string } = {}) {
    this.store = store;
    this.repo = store.ledger;
    this.clock = options.clock ?? systemClock;
    this.userId = options.userId ?? 'p2tui';
    this.chain = new ChainGuard(store, this.clock, this.userId);
    // An exclusive transaction that rolled back (a queue's ingest) may have taken what this ledger learned with it.
    store.onRollback(() => {
      this.operator = undefined;
      this.chain.forget();
    });
  }

  async ledgerEnd(): Promise<Offset> {
    return this.repo.endOffset();
  }

  /**
   * A party for a hint (`hint::1220<fingerprint>`); allocating a hint again returns the same party. The fingerprint
   * comes from a random namespace of this ledger (as Canton's participant namespace): a party id cannot be written
   * blind from its name. Parties allocated before (a database from an older p2tui) keep their ids.
   */
  async allocateParty(hint: string): Promise<PartyId> {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(hint))
      throw new LedgerError('PARTY_NOT_KNOWN', `party hint '${hint}' must be letters, digits, _, . and -`);
    return this.store.write(() => {
      const known = this.repo.partyByHint(hint);
      if (known !== undefined) return known;
      const namespace = this.repo.settingOnce('ledger.party_namespace', () => randomBytes(32).toString('hex'));
      const party = `${hint}::1220${sha256(`p2tui-ledger/party\n${namespace}\n${hint}`)}`;
      this.repo.addParty(party, hint, this.clock.now());
      return party;
    });
  }

  /** The operator's party once allocated (it never changes then): the only issuer of holdings, records, escrows. */
  private issuer(): PartyId | undefined {
    this.operator ??= this.repo.partyByHint(OPERATOR_HINT);
    return this.operator;
  }

  async findParty(hint: string): Promise<PartyId | undefined> {
    return this.repo.partyByHint(hint);
  }

  async parties(): Promise<{ party: PartyId; hint: string }[]> {
    return this.repo.parties();
  }

  /**
   * Group commit: commands submitted in the same tick (payments of agents running at once) share one SQLite
   * transaction, each in its own savepoint, so a refused one rolls back alone and the others commit together.
   */
  async submit(commands: readonly Command[], meta: CommandMeta): Promise<LedgerTransaction> {
    this.chain.prepare();
    try {
      return await this.store.commit(() => this.submitInTx(commands, meta));
    } catch (error) {
      // A break found by this command (its write rolled back) stops every later write, here and in other processes.
      if (error instanceof LedgerError && error.ledgerCode === 'AUDIT_CHAIN_BROKEN')
        this.chain.noteBroken({
          ok: false,
          entries: 0,
          head: null,
          ...(typeof error.details['firstBad'] === 'number' ? { firstBad: error.details['firstBad'] } : {}),
          reason: error.message.replace(/^AUDIT_CHAIN_BROKEN: /, ''),
        });
      throw error;
    }
  }

  /** Interprets and records a command inside the caller's transaction (a refusal throws before anything is kept). */
  private submitInTx(commands: readonly Command[], meta: CommandMeta): LedgerTransaction {
    this.chain.check();
    const actAs = [...new Set(meta.actAs)].sort();
    // As stored (and hashed): the JSON of the sorted acting parties.
    const actAsJson = JSON.stringify(actAs);
    const changeId = changeIdOf(meta.userId ?? this.userId, actAs, meta.commandId);
    const done = this.repo.completion(changeId);
    if (done !== undefined) {
      throw new LedgerError(
        'DUPLICATE_COMMAND',
        `command ${meta.commandId} was accepted already (update ${done.updateId} at offset ${done.offset})`,
        { updateId: done.updateId, offset: done.offset },
      );
    }
    // The accepted-command record could have been removed by hand: the updates say whether this command went in.
    const accepted = this.repo.acceptedOffset(meta.commandId, actAsJson);
    if (accepted !== undefined && (meta.userId ?? this.userId) === this.userId) {
      throw chainBroken({
        ok: false,
        entries: 0,
        head: null,
        firstBad: accepted,
        reason:
          `command ${meta.commandId} was accepted at offset ${accepted} but its accepted-command record is gone ` +
          '(removed by hand: it could be paid twice)',
      });
    }
    for (const p of actAs)
      if (!this.repo.isParty(p)) throw new LedgerError('PARTY_NOT_KNOWN', `party ${p} is not allocated on this ledger`);
    const offset = this.chain.nextOffset();
    const updateId = `1220${sha256(`p2tui-ledger/update\n${offset}\n${changeId}`).slice(0, 60)}`;
    const { events, created, archived } = interpret(commands, actAs, updateId, this.activeContract, this.issuer());
    // Templates conserve value by construction; this keeps a contract or template that would not from being written.
    // The consumed contracts, read once for both checks below.
    const read = new Map<ContractId, ContractRow | undefined>();
    const contract = (cid: ContractId): ContractRow | undefined => {
      if (!read.has(cid)) read.set(cid, this.repo.anyContract(cid));
      return read.get(cid);
    };
    const unbalanced = conservationBreak(events, actAs, this.issuer(), (cid) => {
      const c = contract(cid);
      return c === undefined ? undefined : valueOf(c.template_id, JSON.parse(c.payload) as Record<string, unknown>);
    });
    if (unbalanced !== undefined)
      throw new LedgerError('INTERPRETATION_ERROR', `command ${meta.commandId} does not conserve value: ${unbalanced}`);
    const overflow = balanceOverflow(created, archived, {
      holdings: (owner) => this.repo.activeContracts(owner, [TEMPLATES.holding]),
      bound: (owner) => this.repo.amountBound(owner, TEMPLATES.holding),
      contract,
    });
    if (overflow !== undefined)
      throw new LedgerError('TEMPLATE_PRECONDITION_VIOLATED', `command ${meta.commandId} ${overflow.message}`, {
        // Flat strings: the JSON API's error context carries them to a client's wallet service.
        overflowParty: overflow.party,
        overflowBalance: overflow.balance,
      });
    // Persist: every input still active (another process cannot have spent it: this is one immediate transaction).
    for (const cid of archived) {
      if (created.has(cid)) continue;
      if (!this.repo.archiveContract(cid, offset))
        throw new LedgerError('CONTRACT_NOT_FOUND', `contract ${cid} is no longer active`, { contractId: cid });
    }
    const active: ContractRow[] = [];
    for (const [cid, c] of created) {
      // A contract created and archived in the same update is transient: recorded, never active.
      const contract: ContractRow = {
        contract_id: cid,
        template_id: c.templateId,
        payload: canonicalJson(c.payload),
        signatories: JSON.stringify(c.signatories),
        observers: JSON.stringify(c.observers),
        created_offset: offset,
        archived_offset: archived.has(cid) ? offset : null,
      };
      this.repo.insertContract(contract);
      if (!archived.has(cid)) active.push(contract);
      if (archived.has(cid)) this.repo.markSpent(cid, offset);
      if (!archived.has(cid))
        for (const p of new Set([...c.signatories, ...c.observers])) this.repo.listContract(p, c.templateId, cid);
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
    const prev = this.repo.head()?.hash ?? GENESIS;
    const row: Omit<UpdateRow, 'hash'> = {
      offset,
      update_id: updateId,
      command_id: meta.commandId,
      act_as: actAsJson,
      workflow_id: tx.workflowId,
      effective_at: tx.effectiveAt,
      events: stored,
      prev_hash: prev,
    };
    const hash = rowHash(prev, row);
    this.repo.insertUpdate({ ...row, hash });
    for (const p of updateParties(tx.events)) this.repo.listUpdate(p, offset);
    this.repo.recordCompletion(changeId, updateId, offset);
    this.chain.wrote(offset, hash, active);
    return tx;
  }

  async activeContracts<T = Record<string, unknown>>(
    party: PartyId | '*',
    templateIds: readonly TemplateId[],
  ): Promise<ActiveContract<T>[]> {
    const rows = this.repo.activeContracts(party, templateIds);
    // What a balance shows is vouched for too: an edited amount is recorded as a break (and the balance warns).
    this.chain.vouchRead(rows);
    return rows.map((r) => ({
      contractId: r.contract_id,
      templateId: r.template_id,
      payload: JSON.parse(r.payload) as T,
      signatories: JSON.parse(r.signatories) as PartyId[],
      observers: JSON.parse(r.observers) as PartyId[],
      createdOffset: r.created_offset,
    }));
  }

  /** When the updates at these offsets took effect (the JSON API's `createdAt` of an active contract). */
  effectiveAt(offsets: readonly Offset[]): Map<Offset, string> {
    return this.repo.effectiveAt(offsets);
  }

  async updates(party: PartyId | '*', query: UpdateQuery = {}): Promise<LedgerTransaction[]> {
    return this.repo.updates(party, query).map((r) => {
      const tx = toTransaction(r);
      return party === '*' ? tx : { ...tx, events: tx.events.filter((e) => stakeholdersOf(e).includes(party)) };
    });
  }

  async updateById(updateId: string): Promise<LedgerTransaction | undefined> {
    return this.byId(updateId);
  }

  async completion(commandId: string, actAs: readonly PartyId[]): Promise<LedgerTransaction | undefined> {
    const done = this.repo.completion(changeIdOf(this.userId, actAs, commandId));
    return done === undefined ? undefined : this.byId(done.updateId);
  }

  /** Accepted commands acting as any of `parties`, after an offset (what the JSON API's completions stream shows). */
  async completions(
    parties: readonly PartyId[],
    afterOffset: Offset,
    limit = 1_000,
  ): Promise<{ commandId: string; updateId: string; actAs: PartyId[]; offset: Offset; recordTime: string }[]> {
    const out: { commandId: string; updateId: string; actAs: PartyId[]; offset: Offset; recordTime: string }[] = [];
    for (const r of this.repo.acceptedAfter(afterOffset)) {
      const actAs = JSON.parse(r.act_as) as PartyId[];
      if (actAs.some((p) => parties.includes(p)))
        out.push({
          commandId: r.command_id,
          updateId: r.update_id,
          actAs,
          offset: r.offset,
          recordTime: r.effective_at,
        });
      if (out.length >= limit) break;
    }
    return out;
  }

  async verifyChain(): Promise<AuditReport> {
    return this.verifyNow();
  }

  async auditTrail(limit: number): Promise<TrailEntry[]> {
    return this.repo.newestLinks(limit).map((r) => ({
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
    return this.chain.status();
  }

  /** How the chain is protected (keyed, or plain and why), as `ledger audit` says it. */
  chainMode(): string {
    return this.chain.mode();
  }

  /** `ledger rekey` (see ChainGuard.rekey): links the whole chain under a new key after verifying it in full. */
  async rekey(): Promise<{ report: AuditReport; keyId: string; keySource: string; previous: string }> {
    const { report, key, previous } = this.chain.rekey();
    return { report, keyId: key.id, keySource: key.source, previous };
  }

  /**
   * Recomputes every link (the first update whose content or link no longer matches is named), then checks that the
   * contracts (where balances are read), the accepted-command records (which refuse a second payment) and the
   * stakeholder index (through which a party reads) are exactly what the verified updates say: one pass over the
   * updates. The verdict is recorded: a broken one blocks every writer, a good one lets later processes verify only
   * what came after it.
   */
  verifyNow(): AuditReport {
    return this.chain.verifyNow();
  }

  private byId(updateId: string): LedgerTransaction | undefined {
    const row = this.repo.updateById(updateId);
    return row === undefined ? undefined : toTransaction(row);
  }
}
