import { z } from 'zod';
import { decimal, formatDecimal, numericOverflow, parseDecimal } from './decimal.ts';
import type { ContractId, PartyId, TemplateId } from './types.ts';

/**
 * The templates the wallet service uses, written once here in TypeScript for the embedded ledger. Each mirrors its
 * counterpart in `daml/AgentLedger.daml` (for Canton 3.x: no contract keys) line by line: same template ids, fields,
 * signatories, observers, `ensure` and choices.
 */
/** The operator: the one party that issues holdings (mints, rewards) and arbitrates escrows. One per ledger. */
export const OPERATOR_HINT = 'p2tui-operator';

export const TEMPLATES = {
  holding: '#p2tui-ledger:AgentLedger:AgentHolding',
  record: '#p2tui-ledger:AgentLedger:TransferRecord',
  escrow: '#p2tui-ledger:AgentLedger:Escrow',
} as const;

/** What a choice body may do: the ledger checks authority, `ensure`, and that fetched contracts are active. */
export interface ChoiceContext {
  create(templateId: TemplateId, payload: Record<string, unknown>): ContractId;
  /** An active contract of a template (the body's authority must see it), or CONTRACT_NOT_FOUND. */
  fetch(contractId: ContractId, templateId: TemplateId): Record<string, unknown>;
  archive(contractId: ContractId, templateId: TemplateId): void;
  /** Daml's assertMsg: false aborts the whole command. */
  assert(condition: boolean, message: string): void;
}

export interface ChoiceDef {
  readonly consuming: boolean;
  readonly arg: z.ZodType<Record<string, unknown>>;
  controllers(payload: Record<string, unknown>, arg: Record<string, unknown>): PartyId[];
  run(
    ctx: ChoiceContext,
    self: { contractId: ContractId; payload: Record<string, unknown> },
    arg: Record<string, unknown>,
  ): unknown;
}

export interface TemplateDef {
  readonly id: TemplateId;
  readonly payload: z.ZodType<Record<string, unknown>>;
  signatories(payload: Record<string, unknown>): PartyId[];
  observers(payload: Record<string, unknown>): PartyId[];
  /** Daml's ensure: a message when the payload is not allowed (the whole command is refused). */
  ensure(payload: Record<string, unknown>): string | undefined;
  readonly choices: Readonly<Record<string, ChoiceDef>>;
}

const party = z.string().min(1);
const amount = z
  .string()
  .refine(
    (s) => /^-?\d{1,28}(\.\d{1,10})?$/.test(s),
    "a decimal of at most 28 digits before the point and 10 after it (Daml's Numeric 10)",
  );
const cids = z.array(z.string().min(1)).default([]);

type Holding = { operator: string; owner: string; amount: string; meta: Record<string, string> };

/** Sums this holding and the extra inputs (each fetched, owned by the same owner under the same operator, archived). */
function gather(ctx: ChoiceContext, self: Holding, extra: readonly string[]): bigint {
  let total = parseDecimal(self.amount);
  for (const cid of extra) {
    const other = ctx.fetch(cid, TEMPLATES.holding) as Holding;
    ctx.assert(
      other.owner === self.owner && other.operator === self.operator,
      `holding ${cid} belongs to ${other.owner}, not ${self.owner}`,
    );
    ctx.archive(cid, TEMPLATES.holding);
    total += parseDecimal(other.amount);
  }
  // Daml adds these as Numeric 10 and fails on an overflow: inputs that together exceed it cannot be spent together.
  const overflow = numericOverflow(`the inputs of ${self.owner}`, total);
  ctx.assert(overflow === undefined, overflow ?? '');
  return total;
}

const holding: TemplateDef = {
  id: TEMPLATES.holding,
  payload: z.object({ operator: party, owner: party, amount, meta: z.record(z.string(), z.string()).default({}) }),
  signatories: (p) => [p['operator'] as string],
  observers: (p) => [p['owner'] as string],
  ensure: (p) =>
    decimal.isPositive(p['amount'] as string)
      ? undefined
      : `a holding's amount must be > 0, got ${String(p['amount'])}`,
  choices: {
    // Spends this holding (and extra inputs of the same owner): the receiver's holding, the sender's change, and a
    // record of the transfer. The receiver's holdings are not touched, so payments to one agent never contend.
    Transfer: {
      consuming: true,
      arg: z.object({
        receiver: party,
        value: amount,
        reason: z.string(),
        transferId: z.string().min(1),
        extraInputs: cids,
      }),
      controllers: (p) => [p['owner'] as string],
      run(ctx, self, arg) {
        const h = self.payload as Holding;
        const value = parseDecimal(arg['value'] as string);
        const total = gather(ctx, h, arg['extraInputs'] as string[]);
        ctx.assert(value > 0n, `the value must be > 0, got ${formatDecimal(value)}`);
        ctx.assert(
          value <= total,
          `insufficient funds: ${h.owner} holds ${formatDecimal(total)} in these inputs, cannot pay ${formatDecimal(value)}`,
        );
        const receiverHolding = ctx.create(TEMPLATES.holding, {
          operator: h.operator,
          owner: arg['receiver'],
          amount: formatDecimal(value),
          meta: {},
        });
        const senderChange =
          value < total
            ? ctx.create(TEMPLATES.holding, {
                operator: h.operator,
                owner: h.owner,
                amount: formatDecimal(total - value),
                meta: h.meta,
              })
            : null;
        const record = ctx.create(TEMPLATES.record, {
          operator: h.operator,
          sender: h.owner,
          receiver: arg['receiver'],
          value: formatDecimal(value),
          reason: arg['reason'],
          transferId: arg['transferId'],
        });
        return { receiverHolding, senderChange, record };
      },
    },
    // Locks value in an escrow an arbiter releases to the payee or refunds to the payer.
    Lock: {
      consuming: true,
      arg: z.object({ payee: party, arbiter: party, value: amount, reference: z.string().min(1), extraInputs: cids }),
      controllers: (p) => [p['owner'] as string],
      run(ctx, self, arg) {
        const h = self.payload as Holding;
        const value = parseDecimal(arg['value'] as string);
        const total = gather(ctx, h, arg['extraInputs'] as string[]);
        ctx.assert(
          value > 0n && value <= total,
          `insufficient funds: ${h.owner} holds ${formatDecimal(total)} in these inputs, cannot lock ${formatDecimal(value)}`,
        );
        // The operator arbitrates: a payer naming itself could refund after the work was delivered.
        ctx.assert(arg['arbiter'] === h.operator, 'the arbiter of an escrow is the operator');
        const escrow = ctx.create(TEMPLATES.escrow, {
          operator: h.operator,
          payer: h.owner,
          payee: arg['payee'],
          arbiter: arg['arbiter'],
          amount: formatDecimal(value),
          reference: arg['reference'],
        });
        const senderChange =
          value < total
            ? ctx.create(TEMPLATES.holding, {
                operator: h.operator,
                owner: h.owner,
                amount: formatDecimal(total - value),
                meta: h.meta,
              })
            : null;
        return { escrow, senderChange };
      },
    },
  },
};

const record: TemplateDef = {
  id: TEMPLATES.record,
  payload: z.object({
    operator: party,
    sender: party,
    receiver: party,
    value: amount,
    reason: z.string(),
    transferId: z.string(),
  }),
  signatories: (p) => [p['operator'] as string],
  observers: (p) => [...new Set([p['sender'] as string, p['receiver'] as string])],
  ensure: (p) => (decimal.isPositive(p['value'] as string) ? undefined : 'a transfer moves a value > 0'),
  choices: {},
};

function settleEscrow(to: 'payee' | 'payer', reason: string): ChoiceDef {
  return {
    consuming: true,
    arg: z.object({}),
    controllers: (p) => [p['arbiter'] as string],
    run(ctx, self) {
      const e = self.payload as { operator: string; payer: string; payee: string; amount: string; reference: string };
      const holdingId = ctx.create(TEMPLATES.holding, {
        operator: e.operator,
        owner: e[to],
        amount: e.amount,
        meta: {},
      });
      const recordId = ctx.create(TEMPLATES.record, {
        operator: e.operator,
        sender: e.payer,
        receiver: e[to],
        value: e.amount,
        reason,
        transferId: `${reason}:${e.reference}`,
      });
      return { holding: holdingId, record: recordId };
    },
  };
}

const escrow: TemplateDef = {
  id: TEMPLATES.escrow,
  payload: z.object({
    operator: party,
    payer: party,
    payee: party,
    arbiter: party,
    amount,
    reference: z.string().min(1),
  }),
  signatories: (p) => [p['operator'] as string],
  observers: (p) => [...new Set([p['payer'] as string, p['payee'] as string, p['arbiter'] as string])],
  ensure: (p) => (decimal.isPositive(p['amount'] as string) ? undefined : 'an escrow holds an amount > 0'),
  choices: { Release: settleEscrow('payee', 'escrow release'), Refund: settleEscrow('payer', 'escrow refund') },
};

export const TEMPLATE_DEFS: ReadonlyMap<TemplateId, TemplateDef> = new Map(
  [holding, record, escrow].map((t) => [t.id, t]),
);
