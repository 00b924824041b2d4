import type { WalletService } from '../../ledger/wallets/service.ts';
import type { CommandContext } from '../types.ts';

/** The wallet service of the workspace: its database's embedded ledger, or the Canton participant p2tui.yaml names. */
export async function walletService(ctx: CommandContext, existing = true): Promise<WalletService> {
  const workspace = await ctx.workspace();
  const store = await ctx.store({ existing });
  store.setDurability(workspace.config.durability);
  return ctx.wallets();
}

/**
 * Warns while the ledger's audit chain is broken, before a read shows balances: what it shows may not be what the
 * ledger recorded. The report is returned for --json output (null on a participant, which keeps its own integrity).
 */
export async function warnIfBroken(
  ctx: CommandContext,
  service: WalletService,
): Promise<{ ok: boolean; firstBad?: number; reason?: string } | null> {
  if (service.ledger.chainStatus === undefined) return null;
  const status = await service.ledger.chainStatus();
  if (!status.ok)
    ctx.output.warn(
      `warning: the ledger's audit chain is BROKEN at offset ${status.firstBad ?? '?'} (${status.reason ?? ''}); ` +
        'these balances may not be what the ledger recorded (p2tui ledger audit --verify)',
    );
  return {
    ok: status.ok,
    ...(status.firstBad === undefined ? {} : { firstBad: status.firstBad }),
    ...(status.reason === undefined ? {} : { reason: status.reason }),
  };
}
