import { systemClock, type Clock } from '../core/clock.ts';
import type { StoredEvent } from '../core/events.ts';
import { messageOf } from '../core/errors.ts';
import type { WalletService } from './wallets/service.ts';
import type { Store } from '../store/store.ts';
import { isDryRun, scratchScope } from '../core/scratch-scope.ts';

/** p2tui.yaml's `ledger.escrow`: which evaluator's score settles an escrow, and the score that releases it. */
export interface EscrowRule {
  readonly evaluator: string;
  readonly threshold: number;
}

/**
 * Settles escrows by the judge: when the configured evaluator scores a delegate's conversation, the escrows its
 * caller opened for it in that session (open_escrow) are released at or above the threshold and refunded below.
 * Settling is idempotent on the escrow's reference, so two processes seeing the same score pay once.
 */
export class EscrowArbiter {
  private readonly store: Store;
  private readonly wallets: () => WalletService;
  private readonly rule: EscrowRule | undefined;
  private unsubscribe: (() => void) | undefined;
  private pending: Promise<void> = Promise.resolve();

  private readonly clock: Clock;

  /** `wallets` is asked for only when there is a rule to apply. */
  constructor(store: Store, wallets: () => WalletService, rule: EscrowRule | undefined, clock: Clock = systemClock) {
    this.clock = clock;
    this.store = store;
    this.wallets = wallets;
    this.rule = rule;
  }

  start(): void {
    if (this.rule === undefined || this.unsubscribe !== undefined) return;
    this.unsubscribe = this.store.onCommit((events) => {
      // After the commit that recorded the score (not inside it): settling writes to the ledger.
      for (const e of events)
        if (e.type === 'score.recorded' && e.payload.sample === 0) this.later(() => this.onScore(e));
    });
    // Scores recorded while no process could settle (a crash, another process): settle what they decide now.
    this.later(() => this.settleOpen());
  }

  /** Resolves when every score seen so far has been acted on. */
  settled(): Promise<void> {
    return this.pending;
  }

  stop(): void {
    this.unsubscribe?.();
  }

  /** One at a time, after the current commit; a failure is said where it happened (settleFor logs its errors). */
  private later(fn: () => Promise<void>): void {
    this.pending = this.pending.then(
      () =>
        new Promise<void>((resolve) =>
          setImmediate(
            () =>
              void fn()
                .catch(() => undefined)
                .finally(resolve),
          ),
        ),
    );
  }

  /** The wallets a session's agents pay from: the workspace's, or its rollout cell's own parties. */
  private walletsFor(session?: string): WalletService {
    const scope = session === undefined ? undefined : this.store.sessions.get(session)?.options.ledgerScope;
    return this.wallets().scoped(scope);
  }

  private async onScore(event: Extract<StoredEvent, { type: 'score.recorded' }>): Promise<void> {
    const rule = this.rule;
    const p = event.payload;
    if (
      rule === undefined ||
      this.store.isClosed ||
      p.evaluator !== rule.evaluator ||
      p.target.kind !== 'conversation' ||
      event.session === null ||
      p.job === null
    )
      return;
    const payee = this.store.sessions.conversation(p.target.id)?.agent;
    if (payee !== undefined) await this.settleFor(event.session, payee, p.target.id, this.verdict(p.job));
  }

  /** The job's verdict: the mean of its samples that succeeded (null when the judge failed: the escrow stays). */
  private verdict(job: string): number | null {
    const values = this.store.scores
      .scores({ job })
      .flatMap((s) => (s.status === 'ok' && s.value !== null ? [s.value] : []));
    return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
  }

  /** Every open escrow of a session's delegate whose work the evaluator has judged already. */
  private async settleOpen(): Promise<void> {
    const rule = this.rule;
    if (rule === undefined || this.store.isClosed) return;
    for (const escrow of await this.walletsFor().escrows()) {
      const [session, payee] = escrow.reference.split(':');
      if (session === undefined || payee === undefined || this.store.sessions.get(session) === undefined) continue;
      const conversations = new Set(
        this.store.sessions
          .conversations(session)
          .filter((c) => c.agent === payee)
          .map((c) => c.id),
      );
      const scored = this.store.scores
        .scores({ session, evaluator: rule.evaluator })
        .filter((s) => s.targetKind === 'conversation' && conversations.has(s.targetId));
      const last = scored.at(-1);
      if (last?.job !== null && last !== undefined)
        await this.settleFor(session, payee, last.targetId, this.verdict(last.job));
    }
  }

  /**
   * The scratch wallets of a session's dry-run branches, with their branch: escrows opened there settle there (by
   * the same verdict), never in the real scope.
   */
  private scratchWallets(session: string): { wallets: WalletService; branch: string }[] {
    const row = this.store.sessions.get(session);
    if (row === undefined) return [];
    return this.store.sessions
      .branches(session)
      .filter((b) => isDryRun(row.options.effects, b.overrides))
      .map((b) => ({ wallets: this.wallets().scoped(scratchScope(row.options.ledgerScope, b.id)), branch: b.id }));
  }

  private async settleFor(session: string, payee: string, conversation: string, value: number | null): Promise<void> {
    if (value === null) return;
    const headBranch = this.store.sessions.get(session)?.headBranch ?? null;
    await this.settleIn(this.walletsFor(session), headBranch, session, payee, conversation, value);
    for (const scratch of this.scratchWallets(session))
      await this.settleIn(scratch.wallets, scratch.branch, session, payee, conversation, value);
  }

  private async settleIn(
    wallets: WalletService,
    branch: string | null,
    session: string,
    payee: string,
    conversation: string,
    value: number,
  ): Promise<void> {
    const rule = this.rule!;
    const prefix = `${session}:${payee}:`;
    // This scope's own escrows: another scope's (the real one's, seen from a scratch copy) has look-alike names.
    const open = await wallets.escrows(undefined, 'own');
    for (const escrow of open.filter((e) => e.reference.startsWith(prefix) && e.payee === payee)) {
      const outcome = value >= rule.threshold ? 'release' : 'refund';
      let error: string | undefined;
      try {
        await wallets.settleEscrow(escrow.reference, outcome, escrow.payer);
      } catch (e) {
        // Settled meanwhile by another process (the escrow is gone) is fine; anything else is said in the log.
        if (!(await wallets.escrows(undefined, 'own')).some((x) => x.contractId === escrow.contractId)) continue;
        error = messageOf(e);
      }
      this.store.write(() =>
        this.store.append(
          {
            type: 'escrow.settled',
            payload: {
              reference: escrow.reference,
              payee,
              amount: escrow.amount,
              outcome: error === undefined ? outcome : 'error',
              evaluator: rule.evaluator,
              value,
              threshold: rule.threshold,
              ...(error === undefined ? {} : { error }),
            },
            session,
            branch,
            conversation,
          },
          this.clock.now(),
        ),
      );
    }
  }
}
