import { UserError } from '../../core/errors.ts';
import { decimal, numericOverflow, type Decimal } from '../decimal.ts';
import { LedgerError, type PartyId } from '../types.ts';

/** A name as a refusal shows it: JSON-quoted, so a trailing space or a look-alike letter (Cyrillic е) is visible. */
export function quoted(name: string): string {
  return JSON.stringify(name);
}

/**
 * The wallets a refusal lists (a model sees only the message, not the hint): quoted, the first 50 of a long list.
 */
export function walletList(agents: readonly string[]): string {
  if (agents.length === 0) return 'there are no wallets yet';
  const shown = agents.slice(0, 50).map(quoted).join(', ');
  return `the wallets are ${shown}${agents.length > 50 ? ` and ${agents.length - 50} more` : ''}`;
}

/**
 * Refuses a money movement that would take a balance or the money issued past Daml's `Numeric 10` (28 digits before
 * the point): such a balance could not be spent whole nor shown as one amount. `action` says what was asked
 * (`issuing 5 to "agent_x"`), `what` which total would overflow, `before` and `value` its amounts.
 */
export function refuseOverflow(action: string, what: string, before: Decimal, value: Decimal): void {
  const overflow = numericOverflow(what, decimal.units(before) + decimal.units(value));
  if (overflow !== undefined)
    throw new UserError('E_USAGE', `${action} ${overflow}`, {
      hint: 'Move a smaller amount: every balance and the money issued stay within 28 digits before the point.',
    });
}

/**
 * The embedded ledger's refusal of an update that would grow a balance past Numeric 10 (its details name the party
 * and the balance), as `<verb> <value> to "<agent>" would make the balance of "<agent>" …`; any other error as it is.
 */
export function overflowNamed(error: unknown, action: string, nameOf: (party: PartyId) => string): unknown {
  if (!(error instanceof LedgerError)) return error;
  const party = error.details['overflowParty'];
  const balance = error.details['overflowBalance'];
  if (typeof party !== 'string' || typeof balance !== 'string') return error;
  const who = quoted(nameOf(party));
  const overflow = numericOverflow(`the balance of ${who}`, decimal.units(balance));
  if (overflow === undefined) return error;
  return new UserError('E_USAGE', `${action} ${who} ${overflow}`, {
    hint: 'Move a smaller amount: every balance and the money issued stay within 28 digits before the point.',
    cause: error,
  });
}

/**
 * Refuses issuing `value` to `agent` when its balance, or the money issued to this scope's wallets (what they hold
 * plus what is in escrow, as `ledger overview` shows it: money enters only by a mint and never leaves), would pass
 * Numeric 10. `held`: each wallet's balance.
 */
export function refuseMint(
  agent: string,
  value: Decimal,
  held: ReadonlyMap<string, Decimal>,
  escrows: readonly { amount: Decimal }[],
): void {
  const action = `issuing ${value} to ${quoted(agent)}`;
  refuseOverflow(action, `the balance of ${quoted(agent)}`, held.get(agent) ?? '0', value);
  const issued = decimal.add(decimal.sum([...held.values()]), decimal.sum(escrows.map((e) => e.amount)));
  refuseOverflow(action, 'the money issued', issued, value);
}
