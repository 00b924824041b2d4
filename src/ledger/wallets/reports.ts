import { decimal, type Decimal } from '../decimal.ts';
import { TEMPLATES } from '../templates.ts';
import type { LedgerApi, LedgerTransaction, Offset, PartyId } from '../types.ts';
import type { EscrowView, HistoryLine, LedgerMetrics } from './views.ts';

/**
 * What the wallets' history says: payments in and out, totals, what an agent spent. Read-only, from the updates in
 * pages; the wallet service answers with these (kept apart from the code that moves money).
 */

/** The part of the wallet service the reports read through. */
export interface WalletReader {
  readonly ledger: LedgerApi;
  walletOf(agent: string): Promise<PartyId>;
  nameOf(party: PartyId): string;
  operator(): Promise<PartyId>;
  escrows(payer?: string, which?: 'all' | 'own'): Promise<EscrowView[]>;
  /** Whether a party is one of this scope's wallets (not a rollout cell's, nor a dry-run branch's scratch copy). */
  owns(party: PartyId): boolean;
}

/** Whether an update moves money of this scope's wallets (a payment, a mint, an escrow of another scope's does not). */
function ownUpdate(wallets: WalletReader, tx: LedgerTransaction): boolean {
  return tx.events.some(
    (e) =>
      e.kind === 'created' &&
      ['sender', 'receiver', 'owner', 'payer', 'payee'].some((k) => {
        const party = e.payload[k];
        return typeof party === 'string' && party !== '' && wallets.owns(party);
      }),
  );
}

/** An agent's payments in and out, newest first (from the updates it is a party to, read newest first). */
export async function paymentHistory(wallets: WalletReader, agent: string, limit: number): Promise<HistoryLine[]> {
  const party = await wallets.walletOf(agent);
  const lines: HistoryLine[] = [];
  let before: Offset | undefined;
  while (lines.length < limit) {
    const page = await wallets.ledger.updates(party, {
      newestFirst: true,
      limit: Math.max(limit, 50),
      ...(before === undefined ? {} : { beforeOffset: before }),
    });
    for (const tx of page) lines.push(...linesOf(wallets, tx, party, agent).reverse());
    if (page.length === 0) break;
    before = page.at(-1)!.offset;
  }
  return lines.slice(0, limit);
}

/** Payments, volume and escrows, overall and per agent (sent and received): one pass over the updates, in pages. */
export async function ledgerMetrics(wallets: WalletReader): Promise<LedgerMetrics> {
  const operator = await wallets.operator();
  const perAgent = new Map<string, { sent: Decimal; received: Decimal; payments: number }>();
  const of = (name: string): { sent: Decimal; received: Decimal; payments: number } => {
    let m = perAgent.get(name);
    if (m === undefined) perAgent.set(name, (m = { sent: '0', received: '0', payments: 0 }));
    return m;
  };
  let updates = 0;
  let payments = 0;
  let volume = '0';
  let issued = '0';
  let released = 0;
  let refunded = 0;
  for (let after = 0; ;) {
    const page = await wallets.ledger.updates('*', { afterOffset: after, limit: 1_000 });
    if (page.length === 0) break;
    after = page.at(-1)!.offset;
    for (const tx of page) {
      // This scope's figures only: a dry-run branch's scratch payments (or a rollout cell's) are not its money.
      if (!ownUpdate(wallets, tx)) continue;
      updates += 1;
      for (const e of tx.events) {
        if (e.kind === 'exercised' && e.templateId === TEMPLATES.escrow && e.choice === 'Release') released += 1;
        if (e.kind === 'exercised' && e.templateId === TEMPLATES.escrow && e.choice === 'Refund') refunded += 1;
        if (e.kind !== 'created' || e.templateId !== TEMPLATES.record) continue;
        const p = e.payload as { sender: string; receiver: string; value: string; reason: string };
        if (p.sender === operator) {
          issued = decimal.add(issued, p.value);
          continue;
        }
        if (p.reason === 'escrow release' || p.reason === 'escrow refund') continue;
        payments += 1;
        volume = decimal.add(volume, p.value);
        const from = of(wallets.nameOf(p.sender));
        from.sent = decimal.add(from.sent, p.value);
        from.payments += 1;
        const to = of(wallets.nameOf(p.receiver));
        to.received = decimal.add(to.received, p.value);
      }
    }
  }
  return {
    updates,
    payments,
    volume,
    issued,
    escrowsOpen: (await wallets.escrows(undefined, 'own')).length,
    escrowsReleased: released,
    escrowsRefunded: refunded,
    agents: [...perAgent].map(([agent, m]) => ({ agent, ...m })).sort((a, b) => a.agent.localeCompare(b.agent)),
  };
}

/**
 * What an agent itself paid out (transfers it made and escrows it opened) in one session and since a moment:
 * read from the agent's updates of that session and of that period only.
 */
export async function spentBy(
  wallets: WalletReader,
  agent: string,
  scope: { session?: string; since?: string },
): Promise<{ session: Decimal; since: Decimal }> {
  const party = await wallets.walletOf(agent);
  const total = async (query: { workflowId?: string; since?: string }): Promise<Decimal> => {
    let sum = '0';
    for (let after = 0; ;) {
      const page = await wallets.ledger.updates(party, {
        ...query,
        submittedBy: party,
        afterOffset: after,
        limit: 1_000,
      });
      if (page.length === 0) return sum;
      after = page.at(-1)!.offset;
      for (const tx of page) sum = decimal.add(sum, paidBy(tx, party));
    }
  };
  return {
    session: scope.session === undefined ? '0' : await total({ workflowId: scope.session }),
    since: scope.since === undefined ? '0' : await total({ since: scope.since }),
  };
}

function linesOf(wallets: WalletReader, tx: LedgerTransaction, party: PartyId, agent: string): HistoryLine[] {
  const lines: HistoryLine[] = [];
  for (const e of tx.events) {
    if (e.kind !== 'created') continue;
    if (e.templateId === TEMPLATES.escrow && e.payload['payer'] === party) {
      // Locking is when the money leaves the payer; a release or a refund then comes from the escrow.
      lines.push({
        offset: tx.offset,
        at: tx.effectiveAt,
        from: agent,
        to: `escrow for ${wallets.nameOf(e.payload['payee'] as string)}`,
        amount: e.payload['amount'] as string,
        reason: 'escrow locked',
        transferId: e.payload['reference'] as string,
        workflowId: tx.workflowId,
      });
      continue;
    }
    if (e.templateId !== TEMPLATES.record) continue;
    const p = e.payload as { sender: string; receiver: string; value: string; reason: string; transferId: string };
    const fromEscrow = p.reason === 'escrow release' || p.reason === 'escrow refund';
    if (fromEscrow && p.receiver !== party) continue;
    lines.push({
      offset: tx.offset,
      at: tx.effectiveAt,
      from: fromEscrow ? 'escrow' : wallets.nameOf(p.sender),
      to: wallets.nameOf(p.receiver),
      amount: p.value,
      reason: p.reason,
      transferId: p.transferId,
      workflowId: tx.workflowId,
    });
  }
  return lines;
}

/**
 * What `party` paid out in one update: a Transfer it exercised (its record) or a Lock (the escrow). Escrow
 * settlements are the operator's doing and were counted when the escrow was locked.
 */
function paidBy(tx: LedgerTransaction, party: PartyId): Decimal {
  const root = tx.events[0];
  if (root?.kind !== 'exercised' || root.templateId !== TEMPLATES.holding || !root.actingParties.includes(party))
    return '0';
  let paid = '0';
  for (const e of tx.events) {
    if (e.kind !== 'created') continue;
    if (root.choice === 'Transfer' && e.templateId === TEMPLATES.record)
      paid = decimal.add(paid, String(e.payload['value']));
    if (root.choice === 'Lock' && e.templateId === TEMPLATES.escrow)
      paid = decimal.add(paid, String(e.payload['amount']));
  }
  return paid;
}
