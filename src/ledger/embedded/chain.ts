import { fatalStorageFailureOf } from '../../core/errors.ts';
import { sha256 } from '../../core/hash.ts';
import { canonicalJson } from '../../core/json.ts';
import type { LedgerRepository, UpdateRow } from '../../store/ledger.ts';
import { conservationBreak, valueOf } from './conservation.ts';
import type { LedgerKey } from './key.ts';
import { updateMac } from './seal.ts';
import {
  LedgerError,
  type AuditReport,
  type ContractId,
  type LedgerEvent,
  type LedgerTransaction,
  type Offset,
  type PartyId,
} from '../types.ts';

/** The previous hash of the first update. */
export const GENESIS = '0'.repeat(64);

/** Canton's change id: the user, the set of acting parties and the command id (what deduplication is keyed on). */
export function changeIdOf(userId: string, actAs: readonly PartyId[], commandId: string): string {
  return sha256(`${userId}\n${[...new Set(actAs)].sort().join(',')}\n${commandId}`);
}

export function stakeholdersOf(e: LedgerEvent): readonly PartyId[] {
  return e.kind === 'created' ? [...e.signatories, ...e.observers] : e.stakeholders;
}

/** The parties an update is visible to: the stakeholders of any of its events. */
export function updateParties(events: readonly LedgerEvent[]): Set<PartyId> {
  return new Set(events.flatMap((e) => stakeholdersOf(e)));
}

export function toTransaction(r: UpdateRow): LedgerTransaction {
  return {
    updateId: r.update_id,
    commandId: r.command_id,
    workflowId: r.workflow_id,
    offset: r.offset,
    effectiveAt: r.effective_at,
    events: JSON.parse(r.events) as LedgerEvent[],
  };
}

/**
 * A link of the audit chain: the previous hash and the canonical JSON of the update with its acting parties
 * (`{actAs, commandId, effectiveAt, events, offset, updateId, workflowId}`, keys sorted). Composed from the stored
 * columns, which hold canonical JSON already, instead of parsing and serialising the events again; a column edited
 * even into equivalent JSON no longer matches.
 */
export function rowHash(prev: string, r: Omit<UpdateRow, 'hash'>): string {
  const json =
    `{"actAs":${r.act_as},"commandId":${JSON.stringify(r.command_id)},` +
    `"effectiveAt":${JSON.stringify(r.effective_at)},"events":${r.events},"offset":${r.offset},` +
    `"updateId":${JSON.stringify(r.update_id)},"workflowId":${JSON.stringify(r.workflow_id)}}`;
  return sha256(`p2tui-ledger/audit/v1\n${prev}\n${json}`);
}

export function chainBroken(report: AuditReport): LedgerError {
  return new LedgerError(
    'AUDIT_CHAIN_BROKEN',
    `the ledger's audit chain is broken at offset ${report.firstBad ?? '?'}: ${report.reason ?? ''}; writes are refused`,
    { firstBad: report.firstBad },
    'Run p2tui ledger audit --verify for details, and restore the database from a backup; nothing more was written.',
  );
}

/** What a verification checks beyond the plain chain: the MACs (with the key in force), and who issues money. */
export interface VerifyOptions {
  readonly key?: LedgerKey | undefined;
  /** The operator's party: the only one whose updates may create money from nothing. */
  readonly operator?: PartyId | undefined;
}

/** Why an update is not what its MAC vouches for, or undefined (no key: nothing to check). */
function macBreak(options: VerifyOptions, r: UpdateRow, stored: string | undefined): string | undefined {
  if (options.key === undefined || stored === updateMac(options.key, r.offset, r.hash)) return undefined;
  return stored === undefined
    ? `update ${r.update_id} at offset ${r.offset} has no MAC (added without the key)`
    : `update ${r.update_id} at offset ${r.offset} does not match its MAC (altered and re-hashed without the key)`;
}

/**
 * The links after a verified update: it still has its verified hash, and each later one follows and matches, has
 * its MAC, and conserves value (what it consumed is read from the contracts table).
 */
export function verifyFrom(
  repo: LedgerRepository,
  offset: Offset,
  hash: string,
  options: VerifyOptions = {},
): AuditReport {
  let prev = GENESIS;
  if (offset > 0) {
    const at = repo.hashAt(offset);
    if (at !== hash)
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
  for (const r of repo.updatesAfter(offset)) {
    entries += 1;
    let good: boolean;
    let conserved: string | undefined;
    try {
      good = r.prev_hash === prev && rowHash(prev, r) === r.hash;
      conserved = good
        ? conservationBreak(
            JSON.parse(r.events) as LedgerEvent[],
            JSON.parse(r.act_as) as PartyId[],
            options.operator,
            (cid) => {
              const c = repo.anyContract(cid);
              return c === undefined
                ? undefined
                : valueOf(c.template_id, JSON.parse(c.payload) as Record<string, unknown>);
            },
          )
        : undefined;
    } catch (error) {
      // A page SQLite cannot read (damaged, an I/O error) is the disk's failure, not an altered update: E_DB_*.
      if (fatalStorageFailureOf(error) !== undefined) throw error;
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
    const unkeyed = macBreak(options, r, repo.macAt(r.offset));
    if (unkeyed !== undefined) return { ok: false, entries, head, firstBad: r.offset, reason: unkeyed };
    if (conserved !== undefined)
      return {
        ok: false,
        entries,
        head,
        firstBad: r.offset,
        reason: `update ${r.update_id} at offset ${r.offset} breaks value conservation: ${conserved}`,
      };
    prev = r.hash;
    head = { offset: r.offset, hash: r.hash };
  }
  return { ok: true, entries, head };
}

/**
 * Recomputes every link (the first update whose content or link no longer matches is named), then checks that the
 * contracts (where balances are read), the accepted-command records (which refuse a second payment) and the
 * stakeholder index (through which a party reads) are exactly what the verified updates say: one pass over the
 * updates. `userId` is the ledger's own (the accepted-command records are keyed on it).
 */
export function verifyAll(repo: LedgerRepository, userId: string, options: VerifyOptions = {}): AuditReport {
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
      value: bigint;
    }
  >();
  const macs = options.key === undefined ? new Map<Offset, string>() : repo.allMacs();
  const completions = new Set<string>();
  const sees = new Set<string>();
  for (const r of repo.allUpdates()) {
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
    const unkeyed = macBreak(options, r, macs.get(r.offset));
    if (unkeyed !== undefined) return { ok: false, entries, head, firstBad: r.offset, reason: unkeyed };
    const conserved = conservationBreak(tx.events, actAs, options.operator, (cid) => expected.get(cid)?.value);
    if (conserved !== undefined)
      return {
        ok: false,
        entries,
        head,
        firstBad: r.offset,
        reason: `update ${r.update_id} at offset ${r.offset} breaks value conservation: ${conserved}`,
      };
    prev = r.hash;
    head = { offset: r.offset, hash: r.hash };
    completions.add(`${changeIdOf(userId, actAs, r.command_id)}\n${r.update_id}`);
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
          value: valueOf(e.templateId, e.payload),
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
  for (const c of repo.allContracts()) {
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
      const archived = want.archivedAt !== c.archived_offset ? ' or archived' : '';
      return bad(
        `contract ${c.contract_id} differs from what update ${want.createdAt} created${archived} (edited by hand)`,
        want.createdAt,
      );
    }
    if (want.archivedAt === null) for (const p of want.parties) listed.add(`${p}\n${c.template_id}\n${c.contract_id}`);
  }
  if (rows !== expected.size)
    return bad(
      `${expected.size - rows} contracts the updates created are missing from the contracts table (deleted by hand)`,
    );
  const stored = repo.allCompletions();
  if (stored.length !== completions.size || stored.some((c) => !completions.has(`${c.change_id}\n${c.update_id}`))) {
    return bad(
      'the accepted-command records do not match the updates (a record was removed or edited: a payment could be made twice)',
    );
  }
  const index = repo.allUpdateParties();
  if (index.length !== sees.size || index.some((i) => !sees.has(`${i.party}\n${i.offset}`))) {
    return bad(
      "the index of who sees which update does not match the updates (edited by hand: a party's history or spending would read wrong)",
    );
  }
  const spentRows = repo.allSpent();
  const archivedCount = [...expected.values()].filter((c) => c.archivedAt !== null).length;
  if (
    spentRows.length !== archivedCount ||
    spentRows.some((r) => expected.get(r.contract_id)?.archivedAt !== r.offset)
  ) {
    return bad(
      'the record of spent contracts does not match the updates (edited by hand: a spent holding could be spent again)',
    );
  }
  const owners = repo.allContractParties();
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
