import type { WalletService } from '../../ledger/wallets/service.ts';
import type { CommandContext } from '../types.ts';

/** The wallet service of the workspace: its database's embedded ledger, or the Canton participant p2tui.yaml names. */
export async function walletService(ctx: CommandContext, existing = true): Promise<WalletService> {
  const workspace = await ctx.workspace();
  const store = await ctx.store({ existing });
  store.setDurability(workspace.config.durability);
  return ctx.wallets();
}
