import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineTool, z } from 'p2tui';

const outbox = (workspace: string): string => join(workspace, '.p2tui', 'invoices.jsonl');
const invoiceId = (key: string): string => `inv-${key.replace(/[^a-z0-9]/gi, '').slice(-6)}`;

/**
 * Issues an invoice for work an agent did (written to .p2tui/invoices.jsonl). Effectful with the strict dedup
 * policy: the same invoice twice in one conversation is refused. The ledger issue replaces this with real transfers.
 */
export const issueInvoice = defineTool({
  name: 'issue_invoice',
  description: 'Issue an invoice to pay an agent for work done: who is paid, the amount, and what for.',
  input: z.object({
    to: z.string().min(1).describe('The agent to pay, e.g. agent_beta'),
    amount: z.number().positive().max(100_000),
    memo: z.string().default('work done'),
  }),
  effect: 'effectful',
  dedup: 'strict',
  run({ to, amount, memo }, ctx) {
    mkdirSync(join(ctx.workspace, '.p2tui'), { recursive: true });
    appendFileSync(outbox(ctx.workspace), `${JSON.stringify({ key: ctx.key, from: ctx.agent, to, amount, memo })}\n`);
    return {
      invoice: invoiceId(ctx.key),
      to,
      amount,
      summary: `invoice ${invoiceId(ctx.key)}: ${amount} to ${to} for ${memo}`,
    };
  },
  // A rewind before the invoice does not unissue it; this credit note does, when the user asks
  // (p2tui session compensate <session> <key>). Keyed by the original call, so it is written once.
  compensate({ to, amount }, _result, ctx) {
    const file = outbox(ctx.workspace);
    const credit = `"credit_for":"${ctx.key}"`;
    if (existsSync(file) && readFileSync(file, 'utf8').includes(credit))
      return { credited: invoiceId(ctx.key), summary: 'already credited' };
    appendFileSync(
      file,
      `${JSON.stringify({ credit_for: ctx.key, from: ctx.agent, to, amount: -amount, memo: `credit note for ${invoiceId(ctx.key)}` })}\n`,
    );
    return {
      credited: invoiceId(ctx.key),
      amount: -amount,
      summary: `credit note for ${invoiceId(ctx.key)}: -${amount} to ${to}`,
    };
  },
  reconcile(_args, ctx) {
    const file = outbox(ctx.workspace);
    if (!existsSync(file)) return null;
    const line = readFileSync(file, 'utf8')
      .split('\n')
      .find((l) => l.includes(`"key":"${ctx.key}"`));
    if (line === undefined) return null;
    const invoice = JSON.parse(line) as { to: string; amount: number; memo: string };
    return {
      invoice: invoiceId(ctx.key),
      to: invoice.to,
      amount: invoice.amount,
      summary: `invoice ${invoiceId(ctx.key)}: ${invoice.amount} to ${invoice.to} for ${invoice.memo}`,
    };
  },
});
