import { z } from 'zod';
import { UserError } from '../../core/errors.ts';
import { defineTool, type Tool, type ToolContext } from '../define.ts';
import type { WalletService } from '../../ledger/wallets/service.ts';
import { checkSpend, needsApproval, type Spending } from '../../ledger/wallets/spend.ts';
import { decimal } from '../../ledger/decimal.ts';

/**
 * The agents' ledger tools. The paying or asking agent is always the one whose conversation calls the tool
 * (`ctx.agent`), never an argument the model could change; a payment's reference is the call's idempotency key, so a
 * retried or recovered call returns the first receipt instead of paying twice.
 */
function wallets(ctx: ToolContext): WalletService {
  if (ctx.wallets === undefined) throw new UserError('E_SESSION_STATE', 'no ledger is available to this tool call');
  return ctx.wallets;
}

/**
 * Why a payment needs a person's yes: it is above the agent's approval threshold, not paid already (a retried call
 * returns its receipt), and allowed by everything else in the spend policy (a payment refused anyway is not asked).
 */
async function approvalFor(
  ctx: ToolContext,
  value: string,
  kind: 'transfer' | 'mint' | 'escrow',
  reference: string,
  agent = ctx.agent,
): Promise<string | undefined> {
  const why = needsApproval(ctx.spending, value);
  if (why === undefined || ctx.wallets === undefined) return why;
  if ((await ctx.wallets.done(kind, agent, reference)) !== undefined) return undefined;
  try {
    const spending = { ...ctx.spending!, approved: true };
    await checkSpend(
      ctx.wallets,
      ctx.agent,
      ctx.session,
      value,
      kind === 'mint' ? forReward(spending) : spending,
      ctx.now(),
    );
  } catch {
    return undefined;
  }
  return why;
}

/** A reward is new money, not the agent's: its budgets do not apply, its per-payment limit and approval do. */
function forReward(spending: Spending): Spending {
  return { ...spending, policy: { ...spending.policy, per_session: undefined, per_day: undefined } };
}

/** The call's spending, marked approved when a person (or the approval policy) approved the call before it ran. */
function spendingOf(ctx: ToolContext): Spending {
  return ctx.approved === true ? { ...ctx.spending!, approved: true } : ctx.spending!;
}

const amount = z
  .union([z.string(), z.number()])
  .describe('A decimal amount, e.g. 12.5')
  .transform((v) => String(v));

export const checkBalance = defineTool({
  name: 'check_balance',
  description: "Your wallet's balance: spendable, and locked in escrows you opened.",
  input: z.object({}),
  effect: 'idempotent',
  run: async (_args, ctx) => {
    const view = await wallets(ctx).balance(ctx.agent);
    return { agent: view.agent, balance: view.balance, locked: view.locked };
  },
});

const transferInput = z.object({
  to: z.string().min(1).describe('The agent to pay'),
  amount,
  reason: z.string().default('').describe('What the payment is for'),
});

/** A payment by the calling agent (the call's key is its reference: a retried call returns the first receipt). */
async function pay(args: z.output<typeof transferInput>, ctx: ToolContext): Promise<unknown> {
  const { to, amount: value, reason } = args;
  const w = wallets(ctx);
  // One unit per paying agent: the spend check and the payment it allows (two calls at once cannot both pass it).
  const receipt = await w.exclusive(ctx.agent, async () => {
    // A retry of a call already paid returns its receipt; a new payment is checked against the spend policy.
    if (ctx.spending !== undefined && (await w.done('transfer', ctx.agent, ctx.key)) === undefined)
      await checkSpend(w, ctx.agent, ctx.session, value, spendingOf(ctx), ctx.now());
    return w.transfer({ from: ctx.agent, to, amount: value, reason, reference: ctx.key, workflowId: ctx.session });
  });
  return {
    paid: receipt.amount,
    to: receipt.to,
    reference: receipt.transferId,
    offset: receipt.offset,
    ...(receipt.duplicate ? { note: 'already paid for this call' } : {}),
  };
}

export const transferFunds = defineTool({
  name: 'transfer_funds',
  description:
    'Pay another agent from your wallet, for work it did. Exact decimals; you cannot spend more than you hold.',
  input: transferInput,
  effect: 'effectful',
  approval: async ({ to, amount: value }, ctx) => {
    const why = await approvalFor(ctx, value, 'transfer', ctx.key);
    return why === undefined ? undefined : `${ctx.agent} pays ${decimal.canonical(value)} to ${to}: ${why}`;
  },
  run: (args, ctx) => pay(args, ctx),
  // On a dry-run branch the payment is made, in the branch's scratch copy of the wallets (ctx.wallets is that copy).
  simulate: (args, ctx) => pay(args, ctx),
  // Paid back by the payee, by its own reference (so a second try pays back once); refused if it no longer has it.
  compensate: async ({ to, amount: value }, _result, ctx) => {
    const w = wallets(ctx);
    if ((await w.done('transfer', ctx.agent, ctx.key)) === undefined)
      throw new UserError(
        'E_SESSION_STATE',
        `the payment of call ${ctx.key} is not on the ledger: there is nothing to pay back`,
      );
    const reference = `payback:${ctx.key}`;
    const amount = decimal.canonical(value);
    if ((await w.done('transfer', to, reference)) === undefined) {
      const held = (await w.balance(to)).balance;
      if (decimal.cmp(held, amount) < 0)
        throw new UserError(
          'E_LEDGER_FUNDS',
          `${JSON.stringify(to)} no longer holds the ${amount} it was paid (it holds ${held}): the payment was not paid back`,
          { hint: `Pay ${ctx.agent} back by hand once ${to} has the money, or settle it outside p2tui.` },
        );
    }
    const receipt = await w.transfer({
      from: to,
      to: ctx.agent,
      amount,
      reason: `pays back ${ctx.key}`,
      reference,
      workflowId: ctx.session,
    });
    return { paidBack: receipt.amount, from: to, to: ctx.agent, reference, offset: receipt.offset };
  },
  // After a crash mid-call: the ledger knows whether this call's payment (its key) went through.
  reconcile: async (_args, ctx) => {
    const done = await wallets(ctx).done('transfer', ctx.agent, ctx.key);
    return done === undefined ? null : { paid: true, offset: done.offset, reference: ctx.key };
  },
});

export const transactionHistory = defineTool({
  name: 'transaction_history',
  description: 'Your latest payments in and out, newest first.',
  input: z.object({ limit: z.number().int().min(1).max(100).default(10) }),
  effect: 'idempotent',
  run: async ({ limit }, ctx) =>
    (await wallets(ctx).history(ctx.agent, limit)).map((l) => ({
      from: l.from,
      to: l.to,
      amount: l.amount,
      reason: l.reason,
      reference: l.transferId,
      at: l.at,
    })),
});

const rewardInput = z.object({ to: z.string().min(1), amount, reason: z.string().default('') });

/** New money the operator issues to `to`, on the calling agent's word (idempotent on the call's key). */
async function reward(args: z.output<typeof rewardInput>, ctx: ToolContext): Promise<unknown> {
  const { to, amount: value, reason } = args;
  if (to === ctx.agent) throw new UserError('E_USAGE', `${JSON.stringify(ctx.agent)} cannot reward itself`);
  const w = wallets(ctx);
  // Rewards count against the rewarding agent's spend policy (per payment, approval threshold) like payments.
  if (ctx.spending !== undefined && (await w.done('mint', to, ctx.key)) === undefined) {
    await checkSpend(w, ctx.agent, ctx.session, value, forReward(spendingOf(ctx)), ctx.now());
  }
  const receipt = await w.mint(to, value, reason === '' ? `reward from ${ctx.agent}` : reason, ctx.key);
  return {
    rewarded: receipt.amount,
    to: receipt.to,
    reference: receipt.transferId,
    ...(receipt.duplicate ? { note: 'already rewarded for this call' } : {}),
  };
}

export const rewardAgent = defineTool({
  name: 'reward_agent',
  description: 'Reward an agent for good work with new money issued by the operator (not from your wallet).',
  input: rewardInput,
  effect: 'effectful',
  approval: async ({ to, amount: value }, ctx) => {
    const why = await approvalFor(ctx, value, 'mint', ctx.key, to);
    return why === undefined ? undefined : `${ctx.agent} rewards ${to} with ${decimal.canonical(value)}: ${why}`;
  },
  run: (args, ctx) => reward(args, ctx),
  // On a dry-run branch the reward is issued in the branch's scratch copy of the wallets. Not compensable: it issued
  // new money, and p2tui does not take it back.
  simulate: (args, ctx) => reward(args, ctx),
  reconcile: async ({ to }, ctx) => {
    const done = await wallets(ctx).done('mint', to, ctx.key);
    return done === undefined ? null : { rewarded: true, offset: done.offset, reference: ctx.key };
  },
});

/** The reference of an escrow paying `payee` for its work in `session` (the judge settles it by this prefix). */
export function escrowReference(session: string, payee: string, key: string): string {
  return `${session}:${payee}:${key}`;
}

const escrowInput = z.object({ payee: z.string().min(1).describe('The agent you will delegate to'), amount });

/** An escrow the calling agent locks for `payee` (the judge releases or refunds it; idempotent on the call's key). */
async function lock(args: z.output<typeof escrowInput>, ctx: ToolContext): Promise<unknown> {
  const { payee, amount: value } = args;
  const w = wallets(ctx);
  const reference = escrowReference(ctx.session, payee, ctx.key);
  const escrow = await w.exclusive(ctx.agent, async () => {
    if (ctx.spending !== undefined && (await w.done('escrow', ctx.agent, reference)) === undefined)
      await checkSpend(w, ctx.agent, ctx.session, value, spendingOf(ctx), ctx.now());
    return w.openEscrow({ payer: ctx.agent, payee, amount: value, reference, workflowId: ctx.session });
  });
  return {
    escrow: escrow.reference,
    payee: escrow.payee,
    amount: escrow.amount,
    paid: 'when the judge scores the delivery',
  };
}

export const openEscrow = defineTool({
  name: 'open_escrow',
  description:
    'Lock a payment for an agent you delegate to in this session: it is paid when the judge scores its work well enough, and refunded to you otherwise.',
  input: escrowInput,
  effect: 'effectful',
  approval: async ({ payee, amount: value }, ctx) => {
    const why = await approvalFor(ctx, value, 'escrow', escrowReference(ctx.session, payee, ctx.key));
    return why === undefined
      ? undefined
      : `${ctx.agent} locks ${decimal.canonical(value)} in escrow for ${payee}: ${why}`;
  },
  run: (args, ctx) => lock(args, ctx),
  // On a dry-run branch the escrow is opened in the scratch copy of the wallets (and the judge settles it there).
  simulate: (args, ctx) => lock(args, ctx),
  // Refunded to the payer if it is still open; one the judge released or refunded already cannot be.
  compensate: async ({ payee }, _result, ctx) => {
    const w = wallets(ctx);
    const reference = escrowReference(ctx.session, payee, ctx.key);
    const open = (await w.escrows(ctx.agent)).find((e) => e.reference === reference);
    if (open === undefined)
      throw new UserError(
        'E_SESSION_STATE',
        `the escrow ${reference} is not open (settled already by the judge, or never opened): there is nothing to refund`,
        { hint: `See what happened to it with: p2tui ledger history ${ctx.agent}` },
      );
    const receipt = await w.settleEscrow(reference, 'refund', ctx.agent);
    return { refunded: receipt.amount, to: ctx.agent, escrow: reference, offset: receipt.offset };
  },
  // After a crash mid-call: the ledger knows whether this call's escrow was opened.
  reconcile: async ({ payee }, ctx) => {
    const done = await wallets(ctx).done('escrow', ctx.agent, escrowReference(ctx.session, payee, ctx.key));
    return done === undefined ? null : { escrow: escrowReference(ctx.session, payee, ctx.key), offset: done.offset };
  },
});

export const LEDGER_TOOLS: readonly Tool[] = [checkBalance, transferFunds, transactionHistory, rewardAgent, openEscrow];
