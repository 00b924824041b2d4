import { formatDecimal, parseDecimal } from '../decimal.ts';
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
