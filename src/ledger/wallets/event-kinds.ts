/*
 * The kinds of the ledger's events, apart from the code that reads them: `ledger audit`'s options name them, and the
 * CLI's start-up (every command's options are built for --help) must not load the ledger's templates and zod.
 */

/** The kinds of event, in the order help lists them. */
export const LEDGER_EVENT_KINDS = [
  'wallet_created',
  'transfer',
  'reward',
  'escrow_opened',
  'escrow_released',
  'escrow_refunded',
] as const;
export type LedgerEventKind = (typeof LEDGER_EVENT_KINDS)[number];

/** P2Engine's names of the same kinds (its artifacts' tags). */
export const LEDGER_EVENT_ALIASES: Readonly<Record<string, LedgerEventKind>> = {
  transfer_executed: 'transfer',
  mint: 'reward',
};
