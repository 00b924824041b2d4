import { UserError } from '../../core/errors.ts';
import type { JsonValue } from '../../core/json.ts';
import type { Store } from '../../store/store.ts';
import type { WalletView } from '../../ledger/wallets/service.ts';
import { defineCommand } from '../define.ts';
import { paint, table } from '../render/text.ts';
import { EXIT } from '../types.ts';
import { walletService, warnIfBroken } from './service.ts';
import { terminalText } from '../../core/terminal-text.ts';

/** The agents' wallets: opening them, balances, paying, and each agent's payments. */

export const ledgerInitCommand = defineCommand({
  path: ['ledger', 'init'],
  summary: "Give every agent of the workspace a wallet, funded with its persona's balance (or --balance); idempotent",
  options: {
    balance: {
      type: 'string',
      value: '<amount>',
      description: 'Starting balance for agents whose persona names none (default 0)',
    },
  },
  examples: ['p2tui ledger init', 'p2tui ledger init --balance 100'],
  async run(ctx, input) {
    const { decimal } = await import('../../ledger/decimal.ts');
    const workspace = await ctx.workspace();
    const service = await walletService(ctx, false);
    const fallback =
      input.options.balance === undefined ? undefined : decimal.canonical(input.options.balance, '--balance');
    // A wallet starts with money issued to it: a negative start is no balance at all (and would have exited 0).
    if (fallback !== undefined && fallback.startsWith('-'))
      throw new UserError('E_USAGE', `--balance must be 0 or more, got ${fallback}`, {
        hint: 'Give the starting balance of agents whose persona names none, e.g. --balance 100.',
      });
    const views: WalletView[] = [];
    for (const p of workspace.personas.values()) views.push(await service.createWallet(p.id, p.balance ?? fallback));
    if (ctx.output.json) return { exitCode: EXIT.ok, json: views.map((v) => ({ ...v })) as JsonValue };
    for (const line of table(
      views.map((v) => [v.agent, v.balance, v.party]),
      ['agent', 'balance', 'party'],
      ctx.output.color,
    ))
      ctx.output.line(line);
    ctx.output.line(
      paint(ctx.output.color, 'gray', 'Running init again adds nothing: each initial balance is paid once.'),
    );
    return { exitCode: EXIT.ok };
  },
});

export const ledgerBalanceCommand = defineCommand({
  path: ['ledger', 'balance'],
  summary: "An agent's balance (spendable and locked in escrow), or every agent's",
  args: {
    agent: { description: 'The agent (default: every agent with a wallet)' },
  },
  async run(ctx, input) {
    const service = await walletService(ctx);
    const agent = input.args.agent;
    const views =
      agent === undefined
        ? await Promise.all((await service.agents()).map((a) => service.balance(a)))
        : [await service.balance(agent)];
    // After the reads: a holding they showed that is not what the ledger recorded is a break found now.
    const chain = await warnIfBroken(ctx, service);
    if (ctx.output.json)
      return {
        exitCode: EXIT.ok,
        json: (agent === undefined
          ? views.map((v) => ({ ...v }))
          : { ...views[0]!, ...(chain === null || chain.ok ? {} : { chain }) }) as JsonValue,
      };
    if (views.length === 0) {
      // No header over no rows: the sentence is the whole answer.
      ctx.output.line('no wallets yet (create them with: p2tui ledger init)');
      return { exitCode: EXIT.ok };
    }
    // A "locked" column only when some money is in escrow, and then with its name: never a blank heading.
    const anyLocked = views.some((v) => v.locked !== '0');
    for (const line of table(
      views.map((v) => [v.agent, v.balance, ...(anyLocked ? [v.locked === '0' ? '' : v.locked] : [])]),
      ['agent', 'balance', ...(anyLocked ? ['locked'] : [])],
      ctx.output.color,
    ))
      ctx.output.line(line);
    return { exitCode: EXIT.ok };
  },
});

export const ledgerTransferCommand = defineCommand({
  path: ['ledger', 'transfer'],
  summary: 'Pay an amount from one agent to another (exact decimals; a repeated --reference returns the first receipt)',
  args: {
    from: { description: 'The paying agent', required: true },
    to: { description: 'The receiving agent', required: true },
    amount: { description: 'A decimal, e.g. 12.5', required: true },
  },
  options: {
    reason: { type: 'string', value: '<text>', description: 'Why (kept in the record)' },
    reference: {
      type: 'string',
      value: '<id>',
      description:
        'What it pays for (a task, a reward id): paying it twice is refused as a duplicate (default: a new one)',
    },
  },
  examples: [
    'p2tui ledger transfer agent_alpha agent_beta 10 --reason "for the weather report"',
    'p2tui ledger transfer treasurer agent_helper 2.5 --reference task-42',
  ],
  async run(ctx, input) {
    const service = await walletService(ctx);
    const reference =
      input.options.reference ?? `cli:${ctx.clock.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}`;
    const receipt = await service.transfer({
      from: input.args.from,
      to: input.args.to,
      amount: input.args.amount,
      reason: input.options.reason ?? '',
      reference,
    });
    if (ctx.output.json) return { exitCode: EXIT.ok, json: { ...receipt } };
    ctx.output.line(
      receipt.duplicate
        ? paint(
            ctx.output.color,
            'yellow',
            `already paid: ${receipt.from} → ${receipt.to} ${receipt.amount} for ${receipt.transferId} (offset ${receipt.offset}); nothing moved now`,
          )
        : `${receipt.from} → ${receipt.to} ${receipt.amount} ` +
            `(reference ${receipt.transferId}, offset ${receipt.offset}, update ${receipt.updateId.slice(0, 16)}…)`,
    );
    return { exitCode: EXIT.ok };
  },
});

export const ledgerHistoryCommand = defineCommand({
  path: ['ledger', 'history'],
  summary: "An agent's payments in and out, newest first",
  args: {
    agent: { description: 'The agent', required: true },
  },
  options: {
    limit: { type: 'number', integer: true, min: 1, value: '<n>', description: 'How many (default 20)' },
  },
  async run(ctx, input) {
    const service = await walletService(ctx);
    const store = await ctx.store({ existing: true });
    const agent = input.args.agent;
    const lines = (await service.history(agent, input.options.limit ?? 20)).map((l) => ({
      ...l,
      ...paymentOrigin(store, l.transferId, l.workflowId),
    }));
    if (ctx.output.json) return { exitCode: EXIT.ok, json: lines.map((l) => ({ ...l })) as JsonValue };
    if (lines.length === 0) ctx.output.line(`${agent} has no payments yet`);
    const rows = lines.map((l) => [
      String(l.offset),
      l.at.slice(0, 19).replace('T', ' '),
      l.from === agent ? `→ ${l.to}` : `← ${l.from}`,
      l.from === agent ? `-${l.amount}` : `+${l.amount}`,
      l.session ?? '',
      l.branch === null ? '' : (l.branchLabel ?? l.branch),
      // The memo and the reference are what an agent wrote (a tool's arguments): shown, not obeyed.
      terminalText(l.reason),
      terminalText(l.transferId),
    ]);
    const header = ['offset', 'at (UTC)', 'with', 'amount', 'session', 'branch', 'reason', 'reference'];
    for (const line of table(rows, header, ctx.output.color)) ctx.output.line(line);
    return { exitCode: EXIT.ok };
  },
});

/**
 * Where a payment came from: an agent's payment is referenced by its tool call's key (the tool_call entry's id, on
 * the branch it ran on); an escrow's reference is `<session>:<payee>:<key>`; else the update's workflow id names the
 * session. A payment a person made (`ledger transfer`, the funding) has neither.
 */
function paymentOrigin(
  store: Store,
  reference: string,
  workflowId: string | null,
): { session: string | null; branch: string | null; branchLabel: string | null } {
  const escrow = /^([^:]+):[^:]+:(.+)$/.exec(reference);
  const entry = store.log.get(escrow?.[2] ?? reference) ?? store.log.get(reference);
  if (entry !== undefined && entry.type === 'entry') {
    const label = store.sessions.branch(entry.branch ?? '')?.label ?? null;
    return { session: entry.session, branch: entry.branch, branchLabel: label };
  }
  const session = [escrow?.[1], workflowId].find((id) => id != null && store.sessions.get(id) !== undefined);
  return { session: session ?? null, branch: null, branchLabel: null };
}
