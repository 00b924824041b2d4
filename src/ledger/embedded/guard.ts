import type { Clock } from '../../core/clock.ts';
import { fatalStorageFailureOf } from '../../core/errors.ts';
import { canonicalJson } from '../../core/json.ts';
import type { ContractRow, LedgerRepository, SealRow } from '../../store/ledger.ts';
import type { Store } from '../../store/store.ts';
import { OPERATOR_HINT } from '../templates.ts';
import { LedgerError, type AuditReport, type ContractId, type Offset, type PartyId } from '../types.ts';
import { GENESIS, chainBroken, rowHash, toTransaction, verifyAll, verifyFrom, type VerifyOptions } from './chain.ts';
import { KEY_ENV, createKey, findKey, keyFileOf, type LedgerKey, type NewKey } from './key.ts';
import { makeSeal, sealBreak, sealOf, updateMac } from './seal.ts';

/** What a contract row says (a vouched one whose row no longer says it was edited since). */
function fingerprint(row: ContractRow): string {
  return `${row.template_id}\n${row.created_offset}\n${row.signatories}\n${row.observers}\n${row.payload}`;
}

/**
 * What one ledger (one process) knows of the audit chain, and the checks it makes with it: writes are refused on a
 * broken chain, a contract is vouched for before it is used or shown, the chain's status is read incrementally,
 * and every verdict is recorded under the seal. The chain is keyed (see seal.ts): a database made by an earlier
 * p2tui is linked under a new key once its plain chain and value conservation verify in full.
 */
export class ChainGuard {
  private readonly store: Store;
  private readonly repo: LedgerRepository;
  private readonly clock: Clock;
  private readonly userId: string;
  /** Whether the key in force was found, or the ledger sealed or upgraded (once per process). */
  private prepared = false;
  private key: LedgerKey | undefined;
  /** Why the chain cannot be checked under a key (missing, or the ledger not linked under it): writes are refused. */
  private unsealed: string | undefined;
  /** A break this process found: every later write is refused without reading anything. */
  private broken: AuditReport | undefined;
  /** The chain is checked once per process before the first write (see check); later writes compare the seal. */
  private chainVerified = false;
  /** The seal as this process last checked or wrote it (unchanged: nothing to check again). */
  private seen: SealRow | undefined;
  /** The newest link status found good (its next call starts there). */
  private checkedHead: { offset: Offset; hash: string } | undefined;
  /**
   * Contracts checked against the update that created them (see vouch), with the row as it was checked: a row
   * edited since (in a long-running process) is checked again instead of trusted.
   */
  private readonly vouched = new Map<ContractId, string>();
  /** Contracts a read showed, checked the same way except whether they were spent (see inspect). */
  private readonly shown = new Map<ContractId, string>();
  private operator: PartyId | undefined;

  constructor(store: Store, clock: Clock, userId: string) {
    this.store = store;
    this.repo = store.ledger;
    this.clock = clock;
    this.userId = userId;
  }

  /** Forgets what it learned in a transaction that rolled back (seal, vouched contracts, operator); a break stays. */
  forget(): void {
    this.prepared = false;
    this.chainVerified = false;
    this.seen = undefined;
    this.checkedHead = undefined;
    this.operator = undefined;
    this.vouched.clear();
    this.shown.clear();
  }

  /** How the chain is protected, as `ledger audit` says it. */
  mode(): string {
    this.prepare();
    if (this.key !== undefined && this.unsealed === undefined)
      return `keyed: HMAC-SHA256 with the key from ${this.key.source} (key id ${this.key.id})`;
    return `plain: SHA-256 only (${this.unsealed ?? 'no key'})`;
  }

  private options(): VerifyOptions {
    this.operator ??= this.repo.partyByHint(OPERATOR_HINT);
    return { key: this.unsealed === undefined ? this.key : undefined, operator: this.operator };
  }

  /**
   * Finds the key in force, once per process. A fresh ledger is sealed with it (a key file is written if there is
   * none); a ledger made by an earlier p2tui (updates, no seal, no key yet) is verified in full, plain chain and
   * value conservation, then linked under a new key. A ledger with no seal while a key exists, or sealed with a key
   * that is missing, is left as it is: writes are refused until `ledger rekey` (or the key is restored). Called
   * outside a command's transaction (a refused command would roll the seal back with it).
   */
  prepare(): void {
    if (this.prepared) return;
    const made: NewKey[] = [];
    const newKey = (): LedgerKey => {
      const created = createKey(this.store.path, this.clock.now());
      made.push(created);
      return created.key;
    };
    const decide = (): void => {
      const seal = this.repo.seal();
      const key = findKey(this.store.path);
      this.key = key;
      this.unsealed = undefined;
      if (seal !== undefined) {
        // Nothing is recorded under a key that is not the sealed one (restoring the right key must be enough).
        if (key === undefined)
          this.unsealed = `the ledger key is missing (${keyFileOf(this.store.path)}, or ${KEY_ENV}): restore it, or re-key the ledger with p2tui ledger rekey`;
        else if (seal.key_id !== key.id)
          this.unsealed =
            `the chain was sealed with another key (id ${seal.key_id}) than the one in force (id ${key.id}, from ${key.source}): ` +
            'restore that key, or re-key the ledger with p2tui ledger rekey';
        return;
      }
      if (this.repo.isEmpty()) {
        this.key = key ?? newKey();
        this.repo.putSeal(makeSeal(this.key, { offset: 0, hash: GENESIS }, this.repo.latestAudit()));
        return;
      }
      if (key !== undefined) {
        this.unsealed =
          `this ledger's chain is not linked under the key in force (from ${key.source}); ` +
          'if an earlier p2tui made it, link it with p2tui ledger rekey';
        return;
      }
      const report = verifyAll(this.repo, this.userId, this.options());
      if (!report.ok) {
        this.unsealed = `the chain made by an earlier p2tui does not verify, so it was not linked under a key: ${report.reason ?? ''}`;
        return;
      }
      this.key = newKey();
      this.linkAll(
        this.key,
        `upgraded: linked under the key ${this.key.id} after a full verification of ${report.entries} updates ` +
          '(plain chain and value conservation)',
      );
    };
    // A sealed ledger needs no write here (a read-only database can still be read); sealing or upgrading one does.
    try {
      if (this.repo.seal() !== undefined) decide();
      else this.store.write(decide);
    } catch (error) {
      // The seal was not written: a key made for it would make the next process refuse the ledger as linked under
      // another key (and ask for a rekey) instead of sealing or upgrading it again.
      for (const created of made) created.undo();
      this.key = undefined;
      throw error;
    }
    this.prepared = true;
  }

  /** Writes every update's MAC under a key, records why as a verdict, and seals (inside the caller's transaction). */
  private linkAll(key: LedgerKey, reason: string): void {
    for (const r of this.repo.allLinks()) this.repo.putMac(r.offset, updateMac(key, r.offset, r.hash));
    const head = this.repo.head() ?? { offset: 0, hash: GENESIS };
    this.repo.recordAudit({ offset: head.offset, hash: head.hash, ok: true, reason, verifiedAt: this.clock.now() });
    this.repo.putSeal(makeSeal(key, head, this.repo.latestAudit()));
  }

  /** The seal's break, the unsealed state, or a failed newest verdict, as a report (undefined: none). */
  private sealProblem(): AuditReport | undefined {
    if (this.broken !== undefined) return this.broken;
    if (this.unsealed !== undefined || this.key === undefined)
      return { ok: false, entries: 0, head: null, reason: this.unsealed ?? 'no ledger key' };
    const seal = this.repo.seal();
    if (seal === undefined) return { ok: false, entries: 0, head: null, reason: 'the seal of the chain was removed' };
    const problem = sealBreak(this.repo, this.key, seal);
    if (problem !== undefined) return { ok: false, entries: 0, head: null, ...problem };
    const verdict = this.repo.latestAudit();
    if (verdict !== undefined && verdict.ok !== 1)
      return {
        ok: false,
        entries: 0,
        head: null,
        firstBad: verdict.offset,
        reason: verdict.reason ?? 'the last verification failed',
      };
    return undefined;
  }

  /** The chain's state without reading all of it: the seal, the newest verdict, and the updates since. */
  status(): AuditReport {
    this.prepare();
    const mode = this.mode();
    // One snapshot: a writer in another process between reading the seal and the head is not a break.
    const { problem, report, end } = this.repo.snapshot(() => {
      const end = this.repo.endOffset();
      const problem = this.sealProblem();
      if (problem !== undefined) return { problem, report: undefined, end };
      const verdict = this.repo.latestAudit();
      const base =
        verdict === undefined ? { offset: 0, hash: GENESIS } : { offset: verdict.offset, hash: verdict.hash };
      // From the newest point known good: the verdict, or what this process checked since (asked every tick, it
      // reads only the updates since the last time).
      const from = this.checkedHead !== undefined && this.checkedHead.offset > base.offset ? this.checkedHead : base;
      return { problem, report: verifyFrom(this.repo, from.offset, from.hash, this.options()), end };
    });
    if (problem !== undefined || report === undefined) return { ...(problem ?? report!), entries: end, mode };
    if (report.ok && report.head !== null) this.checkedHead = report.head;
    // Found by a reader: recorded, so writers (whose quick check compares only the seal) stop too.
    if (!report.ok) this.noteBroken(report);
    // Offsets run 1..n here: the end is the number of updates.
    return { ...report, entries: end, mode };
  }

  /**
   * A full verification: the plain chain, every MAC, value conservation and the tables (see verifyAll), then the
   * seal. The verdict is recorded under the seal: a broken one blocks every writer, a good one lets later processes
   * verify only what came after it.
   */
  verifyNow(): AuditReport {
    this.prepare();
    const mode = this.mode();
    if (this.unsealed !== undefined || this.key === undefined) {
      const plain = verifyAll(this.repo, this.userId, this.options());
      return plain.ok ? { ...plain, ok: false, reason: this.unsealed ?? 'no ledger key', mode } : { ...plain, mode };
    }
    const key = this.key;
    // Every table read in one snapshot (a payment another process commits meanwhile is not a break), recorded after.
    const report = this.repo.snapshot((): AuditReport => {
      const all = verifyAll(this.repo, this.userId, this.options());
      if (!all.ok) return all;
      const seal = this.repo.seal();
      const problem =
        seal === undefined
          ? { reason: 'the seal of the chain was removed', firstBad: 0 }
          : sealBreak(this.repo, key, seal);
      return problem === undefined ? all : { ...all, ok: false, ...problem };
    });
    this.record(report);
    if (report.ok) this.broken = undefined;
    return { ...report, mode };
  }

  /**
   * Records a verdict and seals it. A good one moves the seal to the head; a failed one keeps the sealed head (what
   * the key last vouched for), so the damage is not blessed and removing the verdict no longer matches the seal.
   */
  private record(report: AuditReport): void {
    const key = this.key;
    this.store.write(() => {
      this.repo.recordAudit({
        offset: report.ok ? (report.head?.offset ?? 0) : (report.firstBad ?? 0),
        hash: report.ok ? (report.head?.hash ?? GENESIS) : '',
        ok: report.ok,
        reason: report.reason ?? null,
        verifiedAt: this.clock.now(),
      });
      if (key === undefined || this.unsealed !== undefined) return;
      // The head the key last vouched for (a writer moves it with each update it seals), never what is there now: a
      // failed verdict does not bless the damage, a good one changes nothing of it.
      const old = this.repo.seal();
      const high =
        old === undefined
          ? (this.repo.head() ?? { offset: 0, hash: GENESIS })
          : { offset: old.high_offset, hash: old.high_hash };
      this.repo.putSeal(makeSeal(key, high, this.repo.latestAudit()));
      // The next write reads the seal again (and verifies from this verdict, cheaply: it is at the head).
      this.seen = undefined;
    });
  }

  /**
   * A break found by a refused command or a read (an edited contract, a removed record): recorded as a failed
   * verdict once, so every writer, in this process and others, stops until the database is restored.
   */
  noteBroken(report: AuditReport): void {
    if (this.broken !== undefined) return;
    this.broken = { ...report, ok: false };
    this.chainVerified = false;
    if (this.unsealed !== undefined || this.key === undefined) return;
    const latest = this.repo.latestAudit();
    if (latest !== undefined && latest.ok !== 1) return;
    try {
      this.record(this.broken);
    } catch {
      // A database that cannot be written (read-only, full) keeps no verdict: this process still refuses every write,
      // and the others find the same break where they check.
    }
  }

  /** The next offset: past the newest update and past the newest offset ever sealed (offsets are never reused). */
  nextOffset(): Offset {
    return Math.max(this.repo.endOffset(), this.seen?.high_offset ?? 0) + 1;
  }

  /**
   * Refuses writes on a broken chain. Once per process, before its first write: the seal must vouch for the head
   * and the newest verdict, that verdict must be good, and the updates after it must verify (link, content, MAC,
   * conservation). Later writes compare the seal and the head with what this process saw; when another process
   * wrote since, its updates are verified the same way. A full verification of everything is `ledger audit --verify`.
   */
  check(): void {
    this.prepare();
    if (this.chainVerified && this.seen !== undefined) {
      const seal = this.repo.seal();
      const head = this.repo.head() ?? { offset: 0, hash: GENESIS };
      const same =
        seal !== undefined &&
        seal.mac === this.seen.mac &&
        head.offset === seal.high_offset &&
        (head.offset === 0 || head.hash === seal.high_hash);
      if (same) return;
    }
    const problem = this.sealProblem();
    if (problem !== undefined) throw chainBroken(problem);
    const verdict = this.repo.latestAudit();
    // From what this process saw last, unless that was rolled back since (a commit that failed as a whole).
    const seen = this.seen;
    const stillThere =
      seen !== undefined && (seen.high_offset === 0 || this.repo.hashAt(seen.high_offset) === seen.high_hash);
    const from =
      this.chainVerified && seen !== undefined && stillThere
        ? { offset: seen.high_offset, hash: seen.high_hash }
        : verdict === undefined
          ? { offset: 0, hash: GENESIS }
          : { offset: verdict.offset, hash: verdict.hash };
    const report = verifyFrom(this.repo, from.offset, from.hash, this.options());
    // Every writer finds the same break here; it is recorded once the refused write has rolled back (see noteBroken).
    if (!report.ok) throw chainBroken(report);
    // What was just checked need not be checked again by the next process (or the TUI): a verdict at the head.
    if (!this.chainVerified && report.head !== null && report.head.offset > (verdict?.offset ?? 0))
      this.record({ ...report, reason: 'links checked since the previous verdict' });
    this.seen = this.repo.seal();
    this.chainVerified = true;
  }

  /**
   * Whether a stored contract is what the update that created it says, that update still matches its hash and
   * MAC, is linked to by the next one, and the contract was not spent. Each contract is checked once per process.
   */
  inspect(row: ContractRow, forSpending = true): boolean {
    const cache = forSpending ? this.vouched : this.shown;
    if (cache.get(row.contract_id) === fingerprint(row) || this.vouched.get(row.contract_id) === fingerprint(row))
      return true;
    const [created, next] = this.repo.updateAndNext(row.created_offset);
    let ok = false;
    try {
      if (created !== undefined && created.offset === row.created_offset) {
        const tx = toTransaction(created);
        const event = tx.events.find((e) => e.kind === 'created' && e.contractId === row.contract_id);
        const { key } = this.options();
        ok =
          event?.kind === 'created' &&
          event.templateId === row.template_id &&
          canonicalJson(event.payload) === row.payload &&
          JSON.stringify(event.signatories) === row.signatories &&
          JSON.stringify(event.observers) === row.observers &&
          // A read outside a transaction may see a contract another process spends meanwhile: only a spend checks it.
          (!forSpending || !this.repo.isSpent(row.contract_id)) &&
          rowHash(created.prev_hash, created) === created.hash &&
          (key === undefined || this.repo.macAt(created.offset) === updateMac(key, created.offset, created.hash)) &&
          (next === undefined || next.prev_hash === created.hash);
      }
    } catch (error) {
      // A page SQLite cannot read (damaged, an I/O error) says nothing about tampering: E_DB_*, and no verdict.
      if (fatalStorageFailureOf(error) !== undefined) throw error;
      ok = false;
    }
    if (ok) {
      if (cache.size > 100_000) cache.clear();
      cache.set(row.contract_id, fingerprint(row));
    }
    return ok;
  }

  /** A contract's break, as a report (see inspect). */
  private contractBroken(row: ContractRow): AuditReport {
    return {
      ok: false,
      entries: 0,
      head: null,
      firstBad: row.created_offset,
      reason: `contract ${row.contract_id} is not what update ${row.created_offset} created, was spent already, or that update was altered`,
    };
  }

  /** Before a command uses a contract: refused unless inspect vouches for it (so an edited balance is not spent). */
  vouch(row: ContractRow): void {
    if (!this.inspect(row)) throw chainBroken(this.contractBroken(row));
  }

  /** Before a read shows contracts: one that does not pass inspect is recorded as a break (balances then warn). */
  vouchRead(rows: readonly ContractRow[]): void {
    this.prepare();
    for (const row of rows) if (!this.inspect(row, false)) return this.noteBroken(this.contractBroken(row));
  }

  /**
   * Keys an update this process wrote, inside its transaction: its MAC and the seal moved to it (the newest offset
   * ever written). The contracts it created (active ones) need no check before this process spends them.
   */
  wrote(offset: Offset, hash: string, created: Iterable<ContractRow>): void {
    const key = this.key;
    if (key === undefined) throw new LedgerError('AUDIT_CHAIN_BROKEN', 'no ledger key in force: nothing is written');
    this.repo.putMac(offset, updateMac(key, offset, hash));
    // The verdict sealed stays the one check() found sealed (in this transaction): no verdict is written between.
    const base = this.seen ?? this.repo.seal();
    const seal =
      base === undefined
        ? makeSeal(key, { offset, hash }, this.repo.latestAudit())
        : sealOf(key, { offset, hash }, { id: base.audit_id, digest: base.audit_digest });
    this.repo.putSeal(seal);
    this.seen = seal;
    if (this.vouched.size > 100_000) this.vouched.clear();
    for (const row of created) this.vouched.set(row.contract_id, fingerprint(row));
  }

  /**
   * `ledger rekey`: the way back from a lost key (or a ledger an earlier p2tui made while a key existed). The plain
   * chain, value conservation and the tables must verify in full first; then a new key is made (the old key file
   * kept beside it as `.old-<time>`; with P2TUI_LEDGER_KEY set, that key), every update is linked under it, and a
   * verdict records that it happened and with which keys.
   */
  rekey(): { report: AuditReport; key: LedgerKey; previous: string } {
    const made: NewKey[] = [];
    try {
      return this.rekeyOnce(made);
    } catch (error) {
      // Not re-keyed: the previous key file is back in force, as the database still says.
      for (const created of made) created.undo();
      this.prepared = false;
      throw error;
    }
  }

  private rekeyOnce(made: NewKey[]): { report: AuditReport; key: LedgerKey; previous: string } {
    return this.store.write(() => {
      this.operator ??= this.repo.partyByHint(OPERATOR_HINT);
      const report = verifyAll(this.repo, this.userId, { operator: this.operator });
      if (!report.ok) throw chainBroken({ ...report, reason: `${report.reason ?? ''}; nothing was re-keyed` });
      const previous = this.repo.seal()?.key_id ?? 'none';
      const created = createKey(this.store.path, this.clock.now());
      made.push(created);
      const key = created.key;
      this.linkAll(
        key,
        `rekeyed: linked under the key ${key.id} (from ${key.source}; previous key ${previous}) after verifying the ` +
          `plain chain and value conservation of ${report.entries} updates`,
      );
      this.key = key;
      this.unsealed = undefined;
      this.broken = undefined;
      this.prepared = true;
      this.chainVerified = false;
      this.seen = undefined;
      this.vouched.clear();
      this.shown.clear();
      return { report, key, previous };
    });
  }
}
