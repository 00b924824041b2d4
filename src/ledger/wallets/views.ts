import type { Decimal } from '../decimal.ts';
import type { ContractId, Offset, PartyId } from '../types.ts';

/** What the wallet service answers with: plain values, the same from either ledger backend. */
export interface WalletView {
  readonly agent: string;
  readonly party: PartyId;
  /** Spendable: the sum of its holdings. */
  readonly balance: Decimal;
  /** In escrows it pays into, not yet released or refunded. */
  readonly locked: Decimal;
  readonly holdings: number;
}

export interface TransferReceipt {
  readonly updateId: string;
  readonly offset: Offset;
  readonly transferId: string;
  readonly from: string;
  readonly to: string;
  readonly amount: Decimal;
  /** The same reference was paid before: this is that payment's receipt, nothing moved now. */
  readonly duplicate: boolean;
}

export interface HistoryLine {
  readonly offset: Offset;
  readonly at: string;
  readonly from: string;
  readonly to: string;
  readonly amount: Decimal;
  readonly reason: string;
  readonly transferId: string;
  /** The update's workflow id: the session a payment was made in, when an agent's tool made it. */
  readonly workflowId: string | null;
}

export interface EscrowView {
  readonly contractId: ContractId;
  readonly payer: string;
  readonly payee: string;
  readonly amount: Decimal;
  readonly reference: string;
}

/** Payments, volume and escrows of a ledger, overall and per agent. */
export interface LedgerMetrics {
  readonly updates: number;
  readonly payments: number;
  readonly volume: Decimal;
  readonly issued: Decimal;
  readonly escrowsOpen: number;
  readonly escrowsReleased: number;
  readonly escrowsRefunded: number;
  readonly agents: { agent: string; sent: Decimal; received: Decimal; payments: number }[];
}
