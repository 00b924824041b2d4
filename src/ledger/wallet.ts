import { UserError } from '../core/errors.ts';
import type { Store } from '../store/store.ts';
import { EmbeddedLedger } from './embedded.ts';
import { decimal, type Decimal } from './decimal.ts';
import { TEMPLATES } from './templates.ts';
import { LedgerError, type AuditReport, type ContractId, type LedgerApi, type LedgerTransaction, type Offset, type PartyId } from './types.ts';

/** The operator: issues holdings (mints, rewards) and arbitrates escrows. One per ledger. */
export const OPERATOR_HINT = 'p2tui-operator';
const AGENT_PREFIX = 'agent-';

export interface WalletView {
  readonly agent: string;
  readonly party: PartyId;
  /** Spendable: the sum of its holdings. */
  readonly balance: Decimal;
  /** In escrows it pays into, not yet released or refunded. */
  readonly locked: Decimal;
  readonly holdings: number;
}

export interface TransferReceipt {
  readonly updateId: string;
  readonly offset: Offset;
  readonly transferId: string;
  readonly from: string;
  readonly to: string;
  readonly amount: Decimal;
  /** The same reference was paid before: this is that payment's receipt, nothing moved now. */
  readonly duplicate: boolean;
}

export interface HistoryLine {
  readonly offset: Offset;
  readonly at: string;
  readonly from: string;
  readonly to: string;
  readonly amount: Decimal;
  readonly reason: string;
  readonly transferId: string;
}

export interface EscrowView {
  readonly contractId: ContractId;
  readonly payer: string;
  readonly payee: string;
  readonly amount: Decimal;
  readonly reference: string;
}

/**
 * Agent wallets on any ledger backend: each agent is a party, its money is holdings the operator issued, a transfer
 * spends holdings (the change comes back as a new one) and leaves a transfer record. Every money movement has a
 * command id derived from its business reference (task, step, reward), so a retry after a crash or a timeout returns
 * the first receipt and never pays twice.
 */
export class WalletService {
  readonly ledger: LedgerApi;

  constructor(ledger: LedgerApi) {
    this.ledger = ledger;
  }

  get operator(): PartyId {
    return this.ledger.findParty(OPERATOR_HINT) ?? this.ledger.allocateParty(OPERATOR_HINT);
  }

  /** The agent's party (allocated on first use: for creating a wallet). */
  partyOf(agent: string): PartyId {
    const hint = `${AGENT_PREFIX}${agent}`;
    return this.ledger.findParty(hint) ?? this.ledger.allocateParty(hint);
  }

  /** The party of an agent that has a wallet; a name without one (a typo, an invented agent) is refused. */
  walletOf(agent: string): PartyId {
    const party = this.ledger.findParty(`${AGENT_PREFIX}${agent}`);
    if (party === undefined) {
      const known = this.ledger.parties().flatMap((p) => (p.hint.startsWith(AGENT_PREFIX) ? [p.hint.slice(AGENT_PREFIX.length)] : []));
      throw new UserError('E_USAGE', `${agent} has no wallet`, { hint: known.length === 0 ? 'Create the wallets with: p2tui ledger init' : `Wallets: ${known.join(', ')}. Create more with: p2tui ledger init` });
    }
    return party;
  }

  /** The agent id of a party (the operator is `operator`). */
  nameOf(party: PartyId): string {
    const hint = party.split('::')[0]!;
    return hint === OPERATOR_HINT ? 'operator' : hint.startsWith(AGENT_PREFIX) ? hint.slice(AGENT_PREFIX.length) : hint;
  }

  /**
   * The update an earlier money movement with this reference was accepted as, if any (what a retried or recovered
   * call returns instead of moving money again). `agent`: the payer (for a mint, the receiver).
   */
  done(kind: 'transfer' | 'mint' | 'escrow', agent: string, reference: string): LedgerTransaction | undefined {
    const party = this.walletOf(agent);
    return kind === 'mint' ? this.ledger.completion(mintId(reference, party), [this.operator]) : this.ledger.completion(kind === 'transfer' ? transferId(reference, party) : escrowOpenId(reference, party), [party]);
  }

  /** An agent's wallet, funded once with `initial` (a second call with the same agent adds nothing). */
  createWallet(agent: string, initial?: Decimal): WalletView {
    this.partyOf(agent);

    if (initial !== undefined && decimal.isPositive(decimal.canonical(initial))) this.mint(agent, initial, 'initial balance', `init:${agent}`);
    return this.balance(agent);
  }

  /** The operator issues new money to an agent (a reward, an initial balance). Idempotent on `reference`. */
  mint(agent: string, amount: Decimal, reason: string, reference: string): TransferReceipt {
    const value = positive(amount);
    const operator = this.operator;
    const to = this.walletOf(agent);
    const commandId = mintId(reference, to);
    const submit = (): LedgerTransaction =>
      this.ledger.submit(
        [
          { kind: 'create', templateId: TEMPLATES.holding, args: { operator, owner: to, amount: value, meta: { reason } } },
          { kind: 'create', templateId: TEMPLATES.record, args: { operator, sender: operator, receiver: to, value, reason, transferId: reference } },
        ],
        { commandId, actAs: [operator] },
      );
    return this.receipt(commandId, [operator], submit);
  }

  balance(agent: string): WalletView {
    const party = this.walletOf(agent);
    const holdings = this.holdings(party);
    const escrows = this.ledger.activeContracts<{ payer: string; amount: string }>(party, [TEMPLATES.escrow]).filter((e) => e.payload.payer === party);
    return {
      agent,
      party,
      balance: decimal.sum(holdings.map((h) => h.amount)),
      locked: decimal.sum(escrows.map((e) => e.payload.amount)),
      holdings: holdings.length,
    };
  }

  /**
   * Pays `amount` from one agent to another. `reference` names the business reason to pay (a task, a step, a
   * reward): paying the same reference again returns the first receipt. Holdings another process spends meanwhile
   * are taken into account by trying again with what is left.
   */
  transfer(req: { from: string; to: string; amount: Decimal; reason: string; reference: string; workflowId?: string }): TransferReceipt {
    const value = positive(req.amount);
    if (req.from === req.to) throw new UserError('E_USAGE', `${req.from} cannot pay itself`, { hint: 'Name two different agents.' });
    if (req.reference.trim() === '') throw new UserError('E_USAGE', 'a transfer needs a reference (the task, step or reward it pays for)', { hint: 'It makes a retry return the first receipt instead of paying twice.' });
    const from = this.walletOf(req.from);
    const to = this.walletOf(req.to);
    const commandId = transferId(req.reference, from);
    const earlier = this.ledger.completion(commandId, [from]);
    if (earlier !== undefined) {
      const paid = this.describe(earlier);
      // The same reference is the same payment: different terms are a mistake, not a retry.
      if (paid.to !== req.to || decimal.cmp(paid.amount, value) !== 0) {
        throw new UserError('E_USAGE', `reference ${req.reference} already paid ${paid.amount} from ${req.from} to ${paid.to} (offset ${paid.offset}); it cannot also pay ${value} to ${req.to}`, {
          hint: 'Use a new reference for a new payment.',
        });
      }
    }
    return this.receipt(commandId, [from], () => {
      for (let attempt = 0; ; attempt++) {
        const inputs = this.pick(from, value, req.from);
        try {
          return this.ledger.submit(
            [{ kind: 'exercise', templateId: TEMPLATES.holding, contractId: inputs[0]!, choice: 'Transfer', arg: { receiver: to, value, reason: req.reason, transferId: req.reference, extraInputs: inputs.slice(1) } }],
            { commandId, actAs: [from], workflowId: req.workflowId ?? req.reference },
          );
        } catch (error) {
          // Another process spent one of these holdings first: pick again from what is left.
          if (error instanceof LedgerError && error.ledgerCode === 'CONTRACT_NOT_FOUND' && attempt < 8) continue;
          throw error;
        }
      }
    });
  }

  /** Locks `amount` of the payer's money in an escrow the operator releases to the payee or refunds. */
  openEscrow(req: { payer: string; payee: string; amount: Decimal; reference: string; workflowId?: string }): EscrowView {
    const value = positive(req.amount);
    const payer = this.walletOf(req.payer);
    const payee = this.walletOf(req.payee);
    const operator = this.operator;
    const commandId = escrowOpenId(req.reference, payer);
    const done = this.ledger.completion(commandId, [payer]);
    if (done === undefined) {
      for (let attempt = 0; ; attempt++) {
        const inputs = this.pick(payer, value, req.payer);
        try {
          this.ledger.submit(
            [{ kind: 'exercise', templateId: TEMPLATES.holding, contractId: inputs[0]!, choice: 'Lock', arg: { payee, arbiter: operator, value, reference: req.reference, extraInputs: inputs.slice(1) } }],
            { commandId, actAs: [payer], workflowId: req.workflowId ?? req.reference },
          );
          break;
        } catch (error) {
          if (error instanceof LedgerError && error.ledgerCode === 'DUPLICATE_COMMAND') break;
          if (error instanceof LedgerError && error.ledgerCode === 'CONTRACT_NOT_FOUND' && attempt < 8) continue;
          throw error;
        }
      }
    }
    const escrow = this.escrows().find((e) => e.reference === req.reference && e.payer === req.payer);
    if (escrow === undefined) throw new UserError('E_SESSION_STATE', `the escrow for ${req.reference} was opened and has already been settled`);
    return escrow;
  }

  /**
   * Settles a payer's escrow by its reference: `release` pays the payee, `refund` gives it back. Idempotent for a
   * given payer and reference. Without `payer`, the reference must name one open escrow.
   */
  settleEscrow(reference: string, outcome: 'release' | 'refund', payer?: string): TransferReceipt {
    const operator = this.operator;
    const open = this.escrows().filter((e) => e.reference === reference && (payer === undefined || e.payer === payer));
    if (payer === undefined && open.length > 1) {
      throw new UserError('E_USAGE', `several open escrows have reference '${reference}' (payers ${open.map((e) => e.payer).join(', ')})`, { hint: 'Name the payer (--payer).' });
    }
    const payerName = payer ?? open[0]?.payer;
    if (payerName === undefined) throw new UserError('E_USAGE', `no open escrow with reference '${reference}'`, { hint: 'See the open ones with: p2tui ledger overview' });
    const commandId = `escrow-settle:${this.walletOf(payerName)}:${reference}`;
    return this.receipt(commandId, [operator], () => {
      const escrow = open[0];
      if (escrow === undefined) throw new UserError('E_USAGE', `no open escrow of ${payerName} with reference '${reference}'`, { hint: 'See the open ones with: p2tui ledger overview' });
      return this.ledger.submit([{ kind: 'exercise', templateId: TEMPLATES.escrow, contractId: escrow.contractId, choice: outcome === 'release' ? 'Release' : 'Refund', arg: {} }], { commandId, actAs: [operator], workflowId: reference });
    });
  }

  escrows(): EscrowView[] {
    return this.ledger.activeContracts<{ payer: string; payee: string; amount: string; reference: string }>('*', [TEMPLATES.escrow]).map((e) => ({
      contractId: e.contractId,
      payer: this.nameOf(e.payload.payer),
      payee: this.nameOf(e.payload.payee),
      amount: e.payload.amount,
      reference: e.payload.reference,
    }));
  }

  /** An agent's payments in and out, newest first (from the transfer records it is a party to). */
  history(agent: string, limit = 20): HistoryLine[] {
    const party = this.walletOf(agent);
    const lines: HistoryLine[] = [];
    for (const tx of this.ledger.updates(party, 0, 1_000_000)) {
      for (const e of tx.events) {
        if (e.kind !== 'created') continue;
        if (e.templateId === TEMPLATES.escrow && e.payload['payer'] === party) {
          // Locking is when the money leaves the payer; a release or a refund then comes from the escrow.
          lines.push({ offset: tx.offset, at: tx.effectiveAt, from: agent, to: `escrow for ${this.nameOf(e.payload['payee'] as string)}`, amount: e.payload['amount'] as string, reason: 'escrow locked', transferId: e.payload['reference'] as string });
          continue;
        }
        if (e.templateId !== TEMPLATES.record) continue;
        const p = e.payload as { sender: string; receiver: string; value: string; reason: string; transferId: string };
        const fromEscrow = p.reason === 'escrow release' || p.reason === 'escrow refund';
        if (fromEscrow && p.receiver !== party) continue;
        lines.push({ offset: tx.offset, at: tx.effectiveAt, from: fromEscrow ? 'escrow' : this.nameOf(p.sender), to: this.nameOf(p.receiver), amount: p.value, reason: p.reason, transferId: p.transferId });
      }
    }
    return lines.reverse().slice(0, limit);
  }

  /** Every agent's wallet, the money issued, and the chain's state. */
  overview(): { wallets: WalletView[]; issued: Decimal; escrowed: Decimal; ledgerEnd: Offset; audit: AuditReport } {
    const agents = this.agents();
    const wallets = agents.map((a) => this.balance(a));
    const records = this.ledger.updates('*', 0, 1_000_000).flatMap((tx) => tx.events.filter((e) => e.kind === 'created' && e.templateId === TEMPLATES.record));
    const operator = this.operator;
    const issued = decimal.sum(records.flatMap((e) => (e.kind === 'created' && e.payload['sender'] === operator ? [e.payload['value'] as string] : [])));
    return { wallets, issued, escrowed: decimal.sum(this.escrows().map((e) => e.amount)), ledgerEnd: this.ledger.ledgerEnd(), audit: this.ledger.verifyChain() };
  }

  /** Payments, volume and escrows, overall and per agent (sent and received). */
  metrics(): { updates: number; payments: number; volume: Decimal; issued: Decimal; escrowsOpen: number; escrowsReleased: number; escrowsRefunded: number; agents: { agent: string; sent: Decimal; received: Decimal; payments: number }[] } {
    const operator = this.operator;
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
    for (const tx of this.ledger.updates('*', 0, 10_000_000)) {
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
        const from = of(this.nameOf(p.sender));
        from.sent = decimal.add(from.sent, p.value);
        from.payments += 1;
        const to = of(this.nameOf(p.receiver));
        to.received = decimal.add(to.received, p.value);
      }
    }
    return {
      updates, payments, volume, issued, escrowsOpen: this.escrows().length, escrowsReleased: released, escrowsRefunded: refunded,
      agents: [...perAgent].map(([agent, m]) => ({ agent, ...m })).sort((a, b) => a.agent.localeCompare(b.agent)),
    };
  }

  /** Agents with a wallet on this ledger. */
  agents(): string[] {
    // Every agent party is a wallet (allocated by createWallet): the parties say it without reading the updates.
    return this.ledger
      .parties()
      .flatMap((p) => (p.hint.startsWith(AGENT_PREFIX) ? [p.hint.slice(AGENT_PREFIX.length)] : []))
      .sort();
  }

  private holdings(party: PartyId): { contractId: ContractId; amount: Decimal }[] {
    return this.ledger
      .activeContracts<{ owner: string; amount: string }>(party, [TEMPLATES.holding])
      .filter((h) => h.payload.owner === party)
      .map((h) => ({ contractId: h.contractId, amount: h.payload.amount }));
  }

  /** Holdings to spend, largest first, until they cover `value` (or a clear error when they cannot). */
  private pick(party: PartyId, value: Decimal, agent: string): ContractId[] {
    const holdings = this.holdings(party).sort((a, b) => decimal.cmp(b.amount, a.amount));
    const picked: ContractId[] = [];
    let total = '0';
    for (const h of holdings) {
      if (decimal.cmp(total, value) >= 0) break;
      picked.push(h.contractId);
      total = decimal.add(total, h.amount);
    }
    if (decimal.cmp(total, value) < 0) {
      throw new UserError('E_LEDGER_FUNDS', `${agent} has ${total}, cannot pay ${value}`, { hint: `Check with: p2tui ledger balance ${agent}` });
    }
    return picked;
  }

  /** The receipt of a command: the one accepted before (duplicate), or the new one `submit` makes. */
  private receipt(commandId: string, actAs: readonly PartyId[], submit: () => LedgerTransaction): TransferReceipt {
    const before = this.ledger.completion(commandId, actAs);
    if (before !== undefined) return { ...this.describe(before), duplicate: true };
    try {
      return { ...this.describe(submit()), duplicate: false };
    } catch (error) {
      // Accepted by another process between the check and the submit: its receipt is this one's.
      if (error instanceof LedgerError && error.ledgerCode === 'DUPLICATE_COMMAND') {
        const done = this.ledger.completion(commandId, actAs);
        if (done !== undefined) return { ...this.describe(done), duplicate: true };
      }
      throw error;
    }
  }

  private describe(tx: LedgerTransaction): Omit<TransferReceipt, 'duplicate'> {
    const record = tx.events.find((e) => e.kind === 'created' && e.templateId === TEMPLATES.record);
    const p = (record?.kind === 'created' ? record.payload : {}) as { sender?: string; receiver?: string; value?: string; transferId?: string };
    return {
      updateId: tx.updateId,
      offset: tx.offset,
      transferId: p.transferId ?? tx.commandId,
      from: p.sender === undefined ? '' : this.nameOf(p.sender),
      to: p.receiver === undefined ? '' : this.nameOf(p.receiver),
      amount: p.value ?? '0',
    };
  }
}

/** Command ids of money movements, from their business reference: the same reference is the same change. */
const transferId = (reference: string, payer: PartyId): string => `xfer:${reference}:${payer}`;
const mintId = (reference: string, receiver: PartyId): string => `mint:${reference}:${receiver}`;
const escrowOpenId = (reference: string, payer: PartyId): string => `escrow-open:${reference}:${payer}`;

const BY_STORE = new WeakMap<Store, WalletService>();

/** The wallet service over a store's embedded ledger (one per store, so its chain check runs once). */
export function walletsOf(store: Store): WalletService {
  let service = BY_STORE.get(store);
  if (service === undefined) {
    service = new WalletService(new EmbeddedLedger(store));
    BY_STORE.set(store, service);
  }
  return service;
}

function positive(amount: Decimal): Decimal {
  const value = decimal.canonical(amount);
  if (!decimal.isPositive(value)) throw new UserError('E_USAGE', `the amount must be greater than 0, got ${amount}`);
  return value;
}
