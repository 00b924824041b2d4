import { UserError } from '../core/errors.ts';
import type { ApprovalPolicy } from '../bus/events.ts';
import type { SpendPolicy } from '../agents/persona.ts';
import { decimal, type Decimal } from './decimal.ts';
import { TEMPLATES } from './templates.ts';
import type { WalletService } from './wallet.ts';

/** What a payment by an agent is checked against: its persona's spend policy and the session's approval policy. */
export interface Spending {
  readonly policy: SpendPolicy;
  readonly approval: ApprovalPolicy;
  /** The persona file, named in refusals. */
  readonly source: string;
}

/**
 * Refuses a payment its agent's spend policy does not allow: over the per-payment limit, over what is left of the
 * session's or the day's budget, or above the approval threshold when the session's approval policy does not
 * approve. Payments count once they are on the ledger (escrows too).
 */
export function checkSpend(wallets: WalletService, agent: string, session: string, amount: Decimal, spending: Spending, now: number): void {
  const p = spending.policy;
  const where = `(policies.spend in ${spending.source})`;
  const value = decimal.canonical(amount);
  const over = (limit: string | number | undefined): limit is string | number => limit !== undefined && decimal.cmp(value, decimal.canonical(limit)) > 0;
  if (over(p.per_transfer)) throw new UserError('E_LEDGER_FUNDS', `${agent} may pay at most ${decimal.canonical(p.per_transfer)} at once ${where}; ${value} was refused`);
  if (p.per_session !== undefined || p.per_day !== undefined) {
    const day = new Date(now).toISOString().slice(0, 10);
    const spent = spentBy(wallets, agent, (tx) => ({ session: tx.workflowId === session, today: tx.effectiveAt.slice(0, 10) === day }));
    const check = (limit: string | number | undefined, used: Decimal, what: string): void => {
      if (limit === undefined) return;
      const left = decimal.sub(decimal.canonical(limit), used);
      if (decimal.cmp(value, left) > 0) throw new UserError('E_LEDGER_FUNDS', `${agent} has ${decimal.cmp(left, '0') > 0 ? left : '0'} left of its ${what} budget of ${decimal.canonical(limit)} ${where}; ${value} was refused`);
    };
    check(p.per_session, spent.session, 'per-session');
    check(p.per_day, spent.today, 'daily');
  }
  if (over(p.approval_above)) {
    if (spending.approval === 'approve') return;
    const why = spending.approval === 'deny' ? "the session's approval policy (deny) refused it" : 'it needs a person\'s approval, which p2tui cannot ask for a payment yet';
    throw new UserError('E_LEDGER_FUNDS', `${value} is above ${agent}'s approval threshold of ${decimal.canonical(p.approval_above)} ${where}: ${why}`, {
      hint: 'Run with --approval approve to let such payments through, or raise the threshold.',
    });
  }
}

/** What an agent has paid out (transfers and escrows it opened), in this session and today. */
function spentBy(wallets: WalletService, agent: string, scope: (tx: { workflowId: string | null; effectiveAt: string }) => { session: boolean; today: boolean }): { session: Decimal; today: Decimal } {
  const party = wallets.walletOf(agent);
  let session = '0';
  let today = '0';
  for (const tx of wallets.ledger.updates(party, 0, 1_000_000)) {
    const s = scope(tx);
    if (!s.session && !s.today) continue;
    // What the agent itself did: a Transfer it exercised (its record), or a Lock (the escrow). Escrow settlements
    // are the operator's doing and were counted when the escrow was locked.
    const root = tx.events[0];
    if (root?.kind !== 'exercised' || root.templateId !== TEMPLATES.holding || !root.actingParties.includes(party)) continue;
    for (const e of tx.events) {
      if (e.kind !== 'created') continue;
      const paid =
        root.choice === 'Transfer' && e.templateId === TEMPLATES.record ? String(e.payload['value']) : root.choice === 'Lock' && e.templateId === TEMPLATES.escrow ? String(e.payload['amount']) : undefined;
      if (paid === undefined) continue;
      if (s.session) session = decimal.add(session, paid);
      if (s.today) today = decimal.add(today, paid);
    }
  }
  return { session, today };
}
