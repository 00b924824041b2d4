import type { Decimal } from '../decimal.ts';
import { TEMPLATES } from '../templates.ts';
import type { LedgerTransaction, Offset } from '../types.ts';
import type { WalletReader } from './reports.ts';
import type { LedgerEventKind } from './event-kinds.ts';

/**
 * The ledger's events as P2Engine's `ledger audit` listed them (it showed wallet_created and transfer_executed rows
 * of its audit trail): one per update, by kind, read from the updates themselves.
 */

export interface LedgerEventLine {
  readonly offset: Offset;
  readonly at: string;
  readonly kind: LedgerEventKind;
  readonly from: string;
  readonly to: string;
  readonly amount: Decimal;
  readonly reason: string;
  readonly reference: string;
  /** The session a payment was made in, when an agent's tool made it. */
  readonly workflowId: string | null;
}

/** The event an update is, or undefined for one that moves no money (none is written today). */
export function eventOf(wallets: Pick<WalletReader, 'nameOf'>, tx: LedgerTransaction): LedgerEventLine | undefined {
  const root = tx.events[0];
  const created = tx.events.filter((e) => e.kind === 'created');
  const record = created.find((e) => e.templateId === TEMPLATES.record)?.payload as
    { sender: string; receiver: string; value: string; reason: string; transferId: string } | undefined;
  const base = { offset: tx.offset, at: tx.effectiveAt, workflowId: tx.workflowId };
  if (root?.kind === 'exercised' && root.templateId === TEMPLATES.escrow && record !== undefined) {
    return {
      ...base,
      kind: root.choice === 'Refund' ? 'escrow_refunded' : 'escrow_released',
      from: 'escrow',
      to: wallets.nameOf(record.receiver),
      amount: record.value,
      reason: record.reason,
      reference: record.transferId,
    };
  }
  if (root?.kind === 'exercised' && root.templateId === TEMPLATES.holding && root.choice === 'Lock') {
    const escrow = created.find((e) => e.templateId === TEMPLATES.escrow)?.payload;
    if (escrow === undefined) return undefined;
    return {
      ...base,
      kind: 'escrow_opened',
      from: wallets.nameOf(String(escrow['payer'])),
      to: `escrow for ${wallets.nameOf(String(escrow['payee']))}`,
      amount: String(escrow['amount']),
      reason: 'escrow locked',
      reference: String(escrow['reference']),
    };
  }
  if (record === undefined) return undefined;
  const issued = root?.kind === 'created';
  return {
    ...base,
    // An issue by the operator is a wallet's initial balance (what P2Engine called wallet_created) or a reward.
    kind: !issued ? 'transfer' : record.reason === 'initial balance' ? 'wallet_created' : 'reward',
    from: wallets.nameOf(record.sender),
    to: wallets.nameOf(record.receiver),
    amount: record.value,
    reason: record.reason,
    reference: record.transferId,
  };
}

/**
 * The ledger's events effective at or after `since` (every one without it), of the kinds given (every kind when
 * empty), oldest first; the newest `limit` of them.
 */
export async function ledgerEvents(
  wallets: WalletReader,
  query: { since?: string; kinds: readonly LedgerEventKind[]; limit: number },
): Promise<LedgerEventLine[]> {
  const lines: LedgerEventLine[] = [];
  for (let after = 0; ;) {
    const page = await wallets.ledger.updates('*', {
      afterOffset: after,
      limit: 1_000,
      ...(query.since === undefined ? {} : { since: query.since }),
    });
    if (page.length === 0) break;
    after = page.at(-1)!.offset;
    for (const tx of page) {
      const line = eventOf(wallets, tx);
      if (line !== undefined && (query.kinds.length === 0 || query.kinds.includes(line.kind))) lines.push(line);
    }
    // Only the newest `limit` are shown: older ones need not be kept while reading on.
    if (lines.length > query.limit * 2) lines.splice(0, lines.length - query.limit);
  }
  return lines.slice(-query.limit);
}
