import { UserError } from '../../core/errors.ts';
import { defineCommand } from '../define.ts';
import { EXIT } from '../types.ts';
import { walletService } from './service.ts';

export const ledgerEscrowCommand = defineCommand({
  path: ['ledger', 'escrow'],
  summary: 'Settle an open escrow by hand: release it to the payee or refund it to the payer (the operator acts)',
  args: {
    outcome: { description: 'release or refund', required: true },
    reference: { description: "The escrow's reference (see p2tui ledger overview)", required: true },
  },
  options: {
    payer: {
      type: 'string',
      value: '<agent>',
      description: 'The payer, when several escrows share the reference',
    },
  },
  examples: ['p2tui ledger escrow refund s_1a2b:agent_beta:e_9x'],
  async run(ctx, input) {
    const outcome = input.args.outcome;
    if (outcome !== 'release' && outcome !== 'refund')
      throw new UserError('E_USAGE', `'${outcome}' is neither release nor refund`, {
        hint: 'p2tui ledger escrow release|refund <reference>',
      });
    const service = await walletService(ctx);
    const receipt = await service.settleEscrow(input.args.reference, outcome, input.options.payer);
    if (ctx.output.json) return { exitCode: EXIT.ok, json: { ...receipt } };
    ctx.output.line(
      receipt.duplicate
        ? `already settled (offset ${receipt.offset}); nothing moved now`
        : `${outcome === 'release' ? 'released' : 'refunded'} ${receipt.amount} to ${receipt.to} (offset ${receipt.offset})`,
    );
    return { exitCode: EXIT.ok };
  },
});
