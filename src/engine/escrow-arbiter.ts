import type { StoredEvent } from '../bus/events.ts';
import { walletsOf } from '../ledger/wallet.ts';
import type { Store } from '../store/store.ts';
import type { Workspace } from './workspace.ts';

/**
 * Settles escrows by the judge: when the configured evaluator scores a delegate's conversation, the escrows its
 * caller opened for it in that session (open_escrow) are released at or above the threshold and refunded below.
 * Settling is idempotent on the escrow's reference, so two processes seeing the same score pay once.
 */
export class EscrowArbiter {
  private readonly store: Store;
  private readonly workspace: Workspace;
  private unsubscribe: (() => void) | undefined;
  private pending: Promise<void> = Promise.resolve();

  constructor(store: Store, workspace: Workspace) {
    this.store = store;
    this.workspace = workspace;
  }

  start(): void {
    if (this.workspace.config.ledger.escrow === undefined || this.unsubscribe !== undefined) return;
    this.unsubscribe = this.store.onCommit((events) => {
      // After the commit that recorded the score (not inside it): settling writes to the ledger.
      for (const e of events) if (e.type === 'score.recorded') this.pending = this.pending.then(() => new Promise<void>((resolve) => setImmediate(() => (this.settle(e), resolve()))));
    });
  }

  /** Resolves when every score seen so far has been acted on. */
  settled(): Promise<void> {
    return this.pending;
  }

  stop(): void {
    this.unsubscribe?.();
  }

  private settle(event: Extract<StoredEvent, { type: 'score.recorded' }>): void {
    const rule = this.workspace.config.ledger.escrow;
    const p = event.payload;
    if (rule === undefined || this.store.isClosed || p.evaluator !== rule.evaluator || p.value === null || p.target.kind !== 'conversation' || event.session === null) return;
    const payee = this.store.sessions.conversation(p.target.id)?.agent;
    if (payee === undefined) return;
    const wallets = walletsOf(this.store);
    const prefix = `${event.session}:${payee}:`;
    for (const escrow of wallets.escrows().filter((e) => e.reference.startsWith(prefix) && e.payee === payee)) {
      const outcome = p.value >= rule.threshold ? 'release' : 'refund';
      try {
        wallets.settleEscrow(escrow.reference, outcome);
        this.store.write(() =>
          this.store.append(
            { type: 'escrow.settled', payload: { reference: escrow.reference, payee, amount: escrow.amount, outcome, evaluator: p.evaluator, value: p.value!, threshold: rule.threshold }, session: event.session, branch: event.branch, conversation: p.target.id },
            Date.now(),
          ),
        );
      } catch {
        // Settled meanwhile by another process (the escrow is gone), or the ledger refused: it stays as the ledger says.
      }
    }
  }
}
