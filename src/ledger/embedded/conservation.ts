import type { ContractRow } from '../../store/ledger.ts';
import { formatDecimal, numericOverflow, parseDecimal } from '../decimal.ts';
import { TEMPLATES } from '../templates.ts';
import type { ContractId, LedgerEvent, PartyId, TemplateId } from '../types.ts';

/** The money a contract holds: a holding's or an escrow's amount; a transfer record holds none. */
export function valueOf(templateId: TemplateId, payload: Record<string, unknown>): bigint {
  try {
    if (templateId === TEMPLATES.holding) return parseDecimal(String(payload['amount']));
    if (templateId === TEMPLATES.escrow) return parseDecimal(String(payload['amount']));
  } catch {
    // An amount that is not a decimal holds nothing a wallet could spend; the payload checks name it.
  }
  return 0n;
}

/**
 * Why an update breaks value conservation, or undefined: the money its created contracts hold equals the money of
 * the contracts it consumed, except an issuance, which consumes nothing and is submitted by the operator alone.
 * `consumed` gives what a consumed contract held (undefined: no update created it, which is itself a break).
 */
export function conservationBreak(
  events: readonly LedgerEvent[],
  actAs: readonly PartyId[],
  operator: PartyId | undefined,
  consumed: (cid: ContractId) => bigint | undefined,
): string | undefined {
  let created = 0n;
  let spent = 0n;
  const here = new Map<ContractId, bigint>();
  for (const e of events) {
    if (e.kind === 'created') {
      const v = valueOf(e.templateId, e.payload);
      here.set(e.contractId, v);
      created += v;
    } else if (e.kind === 'exercised' && e.consuming) {
      const v = here.get(e.contractId) ?? consumed(e.contractId);
      if (v === undefined) return `it consumes contract ${e.contractId}, which no earlier update created`;
      spent += v;
    }
  }
  if (created === spent) return undefined;
  const issuance =
    spent === 0n && created > 0n && operator !== undefined && actAs.length === 1 && actAs[0] === operator;
  if (issuance) return undefined;
  return (
    `it creates ${formatDecimal(created)} of money from ${formatDecimal(spent)} consumed` +
    (spent === 0n ? ', and only the operator issues money' : ' (value is not conserved)')
  );
}

/**
 * Why an update would leave a party holding more than one Daml `Numeric 10` (28 digits before the point), or
 * undefined. Daml checks each value, not a party's sum; but a balance past it cannot be spent whole (the inputs'
 * sum overflows) nor shown as one amount, so the ledger refuses the update that grows a balance past it. A balance
 * that shrinks (a payment out of one stored before the limit) is not refused. `stored`: the party's active holdings,
 * those this update consumes included.
 */
export function balanceOverflow(
  created: ReadonlyMap<ContractId, { readonly templateId: TemplateId; readonly payload: Record<string, unknown> }>,
  archived: ReadonlySet<ContractId>,
  stored: (owner: PartyId) => readonly ContractRow[],
): { party: PartyId; balance: string; message: string } | undefined {
  const gained = new Map<PartyId, bigint>();
  for (const [cid, c] of created) {
    if (c.templateId !== TEMPLATES.holding || archived.has(cid)) continue;
    const owner = String(c.payload['owner']);
    gained.set(owner, (gained.get(owner) ?? 0n) + valueOf(c.templateId, c.payload));
  }
  for (const [owner, more] of gained) {
    let before = 0n;
    let spent = 0n;
    for (const row of stored(owner)) {
      const payload = JSON.parse(row.payload) as Record<string, unknown>;
      if (row.template_id !== TEMPLATES.holding || payload['owner'] !== owner) continue;
      const value = valueOf(row.template_id, payload);
      before += value;
      if (archived.has(row.contract_id)) spent += value;
    }
    const after = before - spent + more;
    if (after <= before) continue;
    const overflow = numericOverflow(`the balance of ${owner}`, after);
    if (overflow !== undefined) return { party: owner, balance: formatDecimal(after), message: overflow };
  }
  return undefined;
}
