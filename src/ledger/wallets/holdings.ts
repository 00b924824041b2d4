import { UserError } from '../../core/errors.ts';
import { decimal, numericOverflow, type Decimal } from '../decimal.ts';
import { TEMPLATES } from '../templates.ts';
import type { ContractId, LedgerApi, PartyId } from '../types.ts';

/** How many small holdings a payment takes along beyond what it needs (merged into its change). */
const MERGE_EXTRA = 8;

/** A party's holdings: the money it owns, one contract per amount. */
export async function holdingsOf(
  ledger: LedgerApi,
  party: PartyId,
): Promise<{ contractId: ContractId; amount: Decimal }[]> {
  return (await ledger.activeContracts<{ owner: string; amount: string }>(party, [TEMPLATES.holding]))
    .filter((h) => h.payload.owner === party)
    .map((h) => ({ contractId: h.contractId, amount: h.payload.amount }));
}

/**
 * Holdings to spend, largest first, until they cover `value` (or a clear error when they cannot), plus up to
 * MERGE_EXTRA of the smallest others: their money comes back in the change, so a wallet that receives many small
 * payments is merged as it spends instead of growing without bound.
 */
export async function pickHoldings(
  ledger: LedgerApi,
  party: PartyId,
  value: Decimal,
  agent: string,
): Promise<ContractId[]> {
  const holdings = (await holdingsOf(ledger, party)).sort((a, b) => decimal.cmp(b.amount, a.amount));
  const picked: ContractId[] = [];
  let total = '0';
  let used = 0;
  for (const h of holdings) {
    if (decimal.cmp(total, value) >= 0) break;
    picked.push(h.contractId);
    total = decimal.add(total, h.amount);
    used += 1;
  }
  if (decimal.cmp(total, value) < 0) {
    throw new UserError('E_LEDGER_FUNDS', `${agent} has ${total}, cannot pay ${value}`, {
      hint: `Check with: p2tui ledger balance ${agent}`,
    });
  }
  // The inputs are added up as one Numeric 10 (the change): a wallet holding more than it fits (stored before the
  // limit) pays only what some of its holdings cover together.
  const overflow = numericOverflow(`the inputs of ${JSON.stringify(agent)}`, decimal.units(total));
  if (overflow !== undefined)
    throw new UserError('E_USAGE', `paying ${value} ${overflow}`, {
      hint: 'Pay a smaller amount, in several payments.',
    });
  const rest = holdings.slice(used);
  if (rest.length > MERGE_EXTRA)
    for (const h of rest.slice(-MERGE_EXTRA)) {
      if (numericOverflow('', decimal.units(total) + decimal.units(h.amount)) !== undefined) break;
      total = decimal.add(total, h.amount);
      picked.push(h.contractId);
    }
  return picked;
}

/** An amount to move: canonical and greater than zero. */
export function positive(amount: Decimal): Decimal {
  const value = decimal.canonical(amount);
  if (!decimal.isPositive(value)) throw new UserError('E_USAGE', `the amount must be greater than 0, got ${amount}`);
  return value;
}
