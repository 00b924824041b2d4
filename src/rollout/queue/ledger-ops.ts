import { TEMPLATES } from '../../ledger/templates.ts';
import type { LedgerTransaction } from '../../ledger/types.ts';
import type { WalletService } from '../../ledger/wallets/service.ts';
import type { LedgerOp } from './messages.ts';

/**
 * A cell's payments between ledgers: a worker reads them from its in-memory ledger as operations, the coordinator
 * applies them to its own, each idempotent on its reference (a cell retried after a worker died never pays twice).
 */

/** Replays a cell's payments on the coordinator's ledger, in order; each is idempotent on its reference. */
export async function applyLedgerOps(wallets: WalletService, ops: readonly LedgerOp[]): Promise<void> {
  for (const op of ops) {
    switch (op.kind) {
      case 'mint':
        await wallets.partyOf(op.to);
        await wallets.mint(op.to, op.amount, op.reason, op.reference);
        break;
      case 'transfer':
        await wallets.partyOf(op.from);
        await wallets.partyOf(op.to);
        await wallets.transfer({
          from: op.from,
          to: op.to,
          amount: op.amount,
          reason: op.reason,
          reference: op.reference,
          ...(op.workflowId === null ? {} : { workflowId: op.workflowId }),
        });
        break;
      case 'escrow':
        await wallets.partyOf(op.payer);
        await wallets.partyOf(op.payee);
        await wallets.openEscrow({
          payer: op.payer,
          payee: op.payee,
          amount: op.amount,
          reference: op.reference,
          ...(op.workflowId === null ? {} : { workflowId: op.workflowId }),
        });
        break;
      case 'settle':
        await wallets.settleEscrow(op.reference, op.outcome, op.payer);
        break;
    }
  }
}

/** The payments of one scope's wallets in some updates, as operations another ledger can apply. */
export function ledgerOpsOf(
  wallets: WalletService,
  updates: readonly LedgerTransaction[],
  operator: string,
): LedgerOp[] {
  const ops: LedgerOp[] = [];
  // Parties of this scope's wallets (`agent-<scope>.<agent>::…`), not the operator's nor another cell's.
  const ours = (party: unknown): boolean => typeof party === 'string' && party.startsWith(`agent-${wallets.scope}.`);
  for (const tx of updates) {
    const root = tx.events[0];
    const created = tx.events.filter(
      (e): e is Extract<LedgerTransaction['events'][number], { kind: 'created' }> => e.kind === 'created',
    );
    const record = created.find((e) => e.templateId === TEMPLATES.record)?.payload;
    if (root?.kind === 'created' && record !== undefined && record['sender'] === operator && ours(record['receiver'])) {
      ops.push({
        kind: 'mint',
        to: wallets.nameOf(String(record['receiver'])),
        amount: String(record['value']),
        reason: String(record['reason']),
        reference: String(record['transferId']),
      });
    } else if (
      root?.kind === 'exercised' &&
      root.templateId === TEMPLATES.holding &&
      root.choice === 'Transfer' &&
      record !== undefined &&
      ours(record['sender'])
    ) {
      ops.push({
        kind: 'transfer',
        from: wallets.nameOf(String(record['sender'])),
        to: wallets.nameOf(String(record['receiver'])),
        amount: String(record['value']),
        reason: String(record['reason']),
        reference: String(record['transferId']),
        workflowId: tx.workflowId,
      });
    } else if (root?.kind === 'exercised' && root.templateId === TEMPLATES.holding && root.choice === 'Lock') {
      const escrow = created.find((e) => e.templateId === TEMPLATES.escrow)?.payload;
      if (escrow !== undefined && ours(escrow['payer'])) {
        ops.push({
          kind: 'escrow',
          payer: wallets.nameOf(String(escrow['payer'])),
          payee: wallets.nameOf(String(escrow['payee'])),
          amount: String(escrow['amount']),
          reference: String(escrow['reference']),
          workflowId: tx.workflowId,
        });
      }
    } else if (
      root?.kind === 'exercised' &&
      root.templateId === TEMPLATES.escrow &&
      (root.choice === 'Release' || root.choice === 'Refund') &&
      record !== undefined &&
      ours(record['sender'])
    ) {
      ops.push({
        kind: 'settle',
        payer: wallets.nameOf(String(record['sender'])),
        reference: String(record['transferId']).replace(/^escrow (release|refund):/, ''),
        outcome: root.choice === 'Release' ? 'release' : 'refund',
      });
    }
  }
  return ops;
}
