import { UserError } from '../../core/errors.ts';
import type { ApprovalPolicy } from '../../core/events.ts';
import { decimal, type Decimal } from '../decimal.ts';
import type { WalletService } from './service.ts';

/**
 * An agent's spend limits (a persona's `policies.spend`), as decimal amounts; an absent limit does not apply. Declared
 * here, where payments are checked, so the ledger needs nothing of the persona format.
 */
export interface SpendLimits {
  readonly per_transfer?: string | number | undefined;
  readonly per_session?: string | number | undefined;
  readonly per_day?: string | number | undefined;
  readonly approval_above?: string | number | undefined;
}

/** What a payment by an agent is checked against: its persona's spend policy and the session's approval policy. */
export interface Spending {
  readonly policy: SpendLimits;
  readonly approval: ApprovalPolicy;
  /** The persona file, named in refusals. */
  readonly source: string;
  /** A person (or the approval policy) approved this payment when asked: the threshold no longer refuses it. */
  readonly approved?: boolean;
}

/**
 * Refuses a payment its agent's spend policy does not allow: over the per-payment limit, over what is left of the
 * session's or the day's budget, or above the approval threshold unless approved (by a person, or by the session's
 * approval policy). Payments count once they are on the ledger (escrows too); only the agent's updates of this
 * session and of today are read.
 */
export async function checkSpend(
  wallets: WalletService,
  agent: string,
  session: string,
  amount: Decimal,
  spending: Spending,
  now: number,
): Promise<void> {
  const p = spending.policy;
  const where = `(policies.spend in ${spending.source})`;
  const value = decimal.canonical(amount);
  const over = (limit: string | number | undefined): limit is string | number =>
    limit !== undefined && decimal.cmp(value, decimal.canonical(limit)) > 0;
  if (over(p.per_transfer)) {
    throw new UserError(
      'E_LEDGER_FUNDS',
      `${agent} may pay at most ${decimal.canonical(p.per_transfer)} at once ${where}; ${value} was refused`,
      { hint: `Pay less at once, or raise per_transfer in ${spending.source}.` },
    );
  }
  if (p.per_session !== undefined || p.per_day !== undefined) {
    const dayStart = `${new Date(now).toISOString().slice(0, 10)}T00:00:00.000Z`;
    const spent = await wallets.spent(agent, {
      ...(p.per_session === undefined ? {} : { session }),
      ...(p.per_day === undefined ? {} : { since: dayStart }),
    });
    const check = (limit: string | number | undefined, used: Decimal, what: string): void => {
      if (limit === undefined) return;
      const left = decimal.sub(decimal.canonical(limit), used);
      if (decimal.cmp(value, left) > 0) {
        throw new UserError(
          'E_LEDGER_FUNDS',
          `${agent} has ${decimal.cmp(left, '0') > 0 ? left : '0'} left of its ${what} budget of ${decimal.canonical(limit)} ${where}; ${value} was refused`,
          {
            hint:
              what === 'daily'
                ? `Wait for the next UTC day, or raise per_day in ${spending.source}.`
                : `Start a new session, or raise per_session in ${spending.source}.`,
          },
        );
      }
    };
    check(p.per_session, spent.session, 'per-session');
    check(p.per_day, spent.since, 'daily');
  }
  if (over(p.approval_above)) {
    if (spending.approval === 'approve' || spending.approved === true) return;
    const why = spending.approval === 'deny' ? "the session's approval policy (deny) refused it" : 'nobody approved it';
    throw new UserError(
      'E_LEDGER_FUNDS',
      `${value} is above ${agent}'s approval threshold of ${decimal.canonical(p.approval_above)} ${where}: ${why}`,
      {
        hint: 'Approve it when asked, run with --approval approve to let such payments through, or raise the threshold.',
      },
    );
  }
}

/** Whether a payment of `amount` needs a person's approval under `spending` (above the agent's threshold). */
export function needsApproval(spending: Spending | undefined, amount: Decimal): string | undefined {
  const limit = spending?.policy.approval_above;
  if (limit === undefined) return undefined;
  return decimal.cmp(decimal.canonical(amount), decimal.canonical(limit)) > 0
    ? `above the approval threshold of ${decimal.canonical(limit)} (policies.spend in ${spending!.source})`
    : undefined;
}
