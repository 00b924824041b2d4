import { TEMPLATES } from '../templates.ts';
import { LedgerError, type LedgerApi, type LedgerTransaction, type PartyId } from '../types.ts';
import type { TransferReceipt } from './views.ts';

/**
 * Command ids of money movements, from their business reference: the same reference is the same change, so a
 * retry after a crash or a timeout finds the first one's completion instead of paying twice.
 */
export const commandIds = {
  transfer: (reference: string, payer: PartyId): string => `xfer:${reference}:${payer}`,
  mint: (reference: string, receiver: PartyId): string => `mint:${reference}:${receiver}`,
  escrowOpen: (reference: string, payer: PartyId): string => `escrow-open:${reference}:${payer}`,
  escrowSettle: (reference: string, payer: PartyId): string => `escrow-settle:${payer}:${reference}`,
};

/** What a receipt needs from the wallets: the ledger and the agent names of parties. */
export interface ReceiptSource {
  readonly ledger: LedgerApi;
  nameOf(party: PartyId): string;
}

/**
 * The receipt of a command: the one accepted before (duplicate), or the new one `submit` makes. `checked`: the
 * caller looked for an earlier completion itself.
 */
export async function receiptOf(
  source: ReceiptSource,
  commandId: string,
  actAs: readonly PartyId[],
  submit: () => Promise<LedgerTransaction>,
  checked = false,
): Promise<TransferReceipt> {
  const before = checked ? undefined : await source.ledger.completion(commandId, actAs);
  if (before !== undefined) return { ...describeReceipt(source, before), duplicate: true };
  try {
    return { ...describeReceipt(source, await submit()), duplicate: false };
  } catch (error) {
    // Accepted by another process between the check and the submit: its receipt is this one's.
    if (error instanceof LedgerError && error.ledgerCode === 'DUPLICATE_COMMAND') {
      const done = await source.ledger.completion(commandId, actAs);
      if (done !== undefined) return { ...describeReceipt(source, done), duplicate: true };
    }
    throw error;
  }
}

/** A money movement as a receipt, read from the transfer record it created. */
export function describeReceipt(source: ReceiptSource, tx: LedgerTransaction): Omit<TransferReceipt, 'duplicate'> {
  const record = tx.events.find((e) => e.kind === 'created' && e.templateId === TEMPLATES.record);
  const p = (record?.kind === 'created' ? record.payload : {}) as {
    sender?: string;
    receiver?: string;
    value?: string;
    transferId?: string;
  };
  return {
    updateId: tx.updateId,
    offset: tx.offset,
    transferId: p.transferId ?? tx.commandId,
    from: p.sender === undefined ? '' : source.nameOf(p.sender),
    to: p.receiver === undefined ? '' : source.nameOf(p.receiver),
    amount: p.value ?? '0',
  };
}
