import type { Command } from '../types.ts';
import { ledgerAuditCommand, ledgerMetricsCommand, ledgerOverviewCommand, ledgerRekeyCommand } from './audit.ts';
import { ledgerEscrowCommand } from './escrow.ts';
import { ledgerSandboxCommand } from './sandbox.ts';
import { ledgerServeCommand } from './serve.ts';
import { ledgerBalanceCommand, ledgerHistoryCommand, ledgerInitCommand, ledgerTransferCommand } from './wallets.ts';

/** The agents' wallets and the ledger under them, in the order help lists them. */
export const ledgerCommands: readonly Command[] = [
  ledgerInitCommand,
  ledgerBalanceCommand,
  ledgerTransferCommand,
  ledgerHistoryCommand,
  ledgerAuditCommand,
  ledgerRekeyCommand,
  ledgerOverviewCommand,
  ledgerMetricsCommand,
  ledgerEscrowCommand,
  ledgerServeCommand,
  ledgerSandboxCommand,
];
