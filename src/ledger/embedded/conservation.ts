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

/** What the ledger reads to check balances: a party's holdings, a cheap bound on them, and a consumed contract. */
export interface BalanceReads {
  holdings(owner: PartyId): readonly ContractRow[];
  /** How many holdings the party reads and the longest amount text among them. */
  bound(owner: PartyId): { count: number; longest: number };
  contract(cid: ContractId): ContractRow | undefined;
}

/**
 * Why an update would leave a party holding more than one Daml `Numeric 10` (28 digits before the point), or
 * undefined. Daml checks each value, not a party's sum; but a balance past it cannot be spent whole (the inputs'
 * sum overflows) nor shown as one amount, so the ledger refuses the update that grows a balance past it. Only a party
 * whose holdings grow is read (a payer getting its change back is not), and only when a bound from the index (how
 * many holdings, the longest amount) does not already show it fits: a payment reads no rows in the usual case.
 */
export function balanceOverflow(
  created: ReadonlyMap<ContractId, { readonly templateId: TemplateId; readonly payload: Record<string, unknown> }>,
  archived: ReadonlySet<ContractId>,
  reads: BalanceReads,
): { party: PartyId; balance: string; message: string } | undefined {
  const net = new Map<PartyId, bigint>();
  const add = (templateId: TemplateId, payload: Record<string, unknown>, sign: bigint): void => {
    if (templateId !== TEMPLATES.holding) return;
    const owner = String(payload['owner']);
    net.set(owner, (net.get(owner) ?? 0n) + sign * valueOf(templateId, payload));
  };
  for (const [cid, c] of created) if (!archived.has(cid)) add(c.templateId, c.payload, 1n);
  for (const cid of archived) {
    if (created.has(cid)) continue;
    const row = reads.contract(cid);
    if (row !== undefined) add(row.template_id, JSON.parse(row.payload) as Record<string, unknown>, -1n);
  }
  for (const [owner, gained] of net) {
    if (gained <= 0n) continue;
    const { count, longest } = reads.bound(owner);
    if (numericOverflow('', gained + BigInt(count) * 10n ** BigInt(longest) * 10n ** 10n) === undefined) continue;
    let after = gained;
    for (const row of reads.holdings(owner)) {
      const payload = JSON.parse(row.payload) as Record<string, unknown>;
      if (row.template_id === TEMPLATES.holding && payload['owner'] === owner && !archived.has(row.contract_id))
        after += valueOf(row.template_id, payload);
    }
    const overflow = numericOverflow(`the balance of ${owner}`, after);
    if (overflow !== undefined) return { party: owner, balance: formatDecimal(after), message: overflow };
  }
  return undefined;
}
