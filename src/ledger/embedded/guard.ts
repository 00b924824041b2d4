import type { Clock } from '../../core/clock.ts';
import { canonicalJson } from '../../core/json.ts';
import type { ContractRow, LedgerRepository } from '../../store/ledger.ts';
import type { Store } from '../../store/store.ts';
import type { AuditReport, ContractId, Offset } from '../types.ts';
import { GENESIS, chainBroken, rowHash, toTransaction, verifyAll, verifyFrom } from './chain.ts';

/**
 * What one ledger (one process) knows of the audit chain, and the checks it makes with it: writes are refused on a
 * broken chain, a contract is vouched for before it is spent, the chain's status is read incrementally, and every
 * full verification's verdict is recorded.
 */
export class ChainGuard {
  private readonly store: Store;
  private readonly repo: LedgerRepository;
  private readonly clock: Clock;
  private readonly userId: string;
  /** The chain is checked once per process before the first write (see check); later writes check the newest link. */
  private chainVerified = false;
  /** The newest link status found good (its next call starts there). */
  private checkedHead: { offset: Offset; hash: string } | undefined;
  /** The newest link this process wrote (its next write need not read it back). */
  private lastWritten: { offset: Offset; hash: string } | undefined;
  /** Contracts checked against the update that created them (see vouch). */
  private readonly vouched = new Set<ContractId>();

  constructor(store: Store, clock: Clock, userId: string) {
    this.store = store;
    this.repo = store.ledger;
    this.clock = clock;
    this.userId = userId;
  }

  /** The chain's state without reading all of it: the newest verdict and the updates since. */
  status(): AuditReport {
    const verdict = this.repo.latestAudit();
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
    const report = verifyFrom(this.repo, from.offset, from.hash);
    if (report.ok && report.head !== null) this.checkedHead = report.head;
    // Offsets run 1..n here: the end is the number of updates.
    return { ...report, entries: this.repo.endOffset() };
  }

  /**
   * A full verification (see verifyAll). The verdict is recorded: a broken one blocks every writer, a good one lets
   * later processes verify only what came after it.
   */
  verifyNow(): AuditReport {
    const report = verifyAll(this.repo, this.userId);
    this.store.write(() =>
      this.repo.recordAudit({
        offset: report.ok ? (report.head?.offset ?? 0) : (report.firstBad ?? 0),
        hash: report.ok ? (report.head?.hash ?? GENESIS) : '',
        ok: report.ok,
        reason: report.reason ?? null,
        verifiedAt: this.clock.now(),
      }),
    );
    return report;
  }

  /**
   * Refuses writes on a broken chain. Once per process, before its first write: the newest recorded verdict must be
   * good, and the updates after it must verify (link and content); with no verdict yet, a full verification. Later
   * writes check the newest link. A full verification of everything is `ledger audit --verify`.
   */
  check(): void {
    if (!this.chainVerified) {
      const verdict = this.repo.latestAudit();
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
        const report = verifyFrom(this.repo, verdict.offset, verdict.hash);
        // Every writer finds the same break here (its refused write rolls back, so no verdict is recorded for it).
        if (!report.ok) throw chainBroken(report);
        // What was just checked need not be checked again by the next process (or the TUI): a verdict at the head.
        if (report.head !== null && report.head.offset > verdict.offset) {
          this.repo.recordAudit({
            offset: report.head.offset,
            hash: report.head.hash,
            ok: true,
            reason: 'links checked since the previous verdict',
            verifiedAt: this.clock.now(),
          });
        }
      }
      this.chainVerified = true;
      return;
    }
    const head = this.repo.head();
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
    const [last, before] = this.repo.newestUpdates(2);
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
  vouch(row: ContractRow): void {
    if (this.vouched.has(row.contract_id)) return;
    const [created, next] = this.repo.updateAndNext(row.created_offset);
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
          !this.repo.isSpent(row.contract_id) &&
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

  /** Notes an update this process wrote: its link, and the contracts it created (active ones) as vouched for. */
  wrote(offset: Offset, hash: string, created: Iterable<ContractId>): void {
    this.lastWritten = { offset, hash };
    // What this process created it need not check against the log before spending it (see vouch).
    if (this.vouched.size > 100_000) this.vouched.clear();
    for (const cid of created) this.vouched.add(cid);
  }
}
