import { systemClock, type Clock } from '../core/clock.ts';
import { UserError } from '../core/errors.ts';
import type { Store } from '../store/store.ts';
import { EmbeddedLedger } from './embedded/ledger.ts';
import { CantonJsonLedger } from './json-api/client.ts';
import { decimal, type Decimal } from './decimal.ts';
import { TEMPLATES } from './templates.ts';
import { LocalLocks, StoreLocks, type PaymentLocks } from './locks.ts';
import {
  LedgerError,
  type AuditReport,
  type ContractId,
  type LedgerApi,
  type LedgerTransaction,
  type Offset,
  type PartyId,
} from './types.ts';

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
 * the first receipt and never pays twice. Written once against the asynchronous port: the embedded ledger and a
 * Canton participant run the same code.
 */
export class WalletService {
  readonly ledger: LedgerApi;
  private readonly locks: PaymentLocks;
  /** Parties never change once allocated: each hint is looked up once per service. */
  private readonly known = new Map<string, PartyId>();

  /** Whose wallets: the workspace's (''), or a rollout cell's own parties (`agent-<scope>.<agent>`). */
  readonly scope: string;
  private readonly scopes = new Map<string, WalletService>();

  constructor(ledger: LedgerApi, options: { locks?: PaymentLocks; scope?: string } = {}) {
    this.ledger = ledger;
    this.locks = options.locks ?? new LocalLocks();
    this.scope = options.scope ?? '';
  }

  /** The same ledger, with the agents' wallets of one scope (a rollout cell's isolated parties). */
  scoped(scope: string | undefined): WalletService {
    if (scope === undefined || scope === this.scope) return this;
    let service = this.scopes.get(scope);
    if (service === undefined) {
      // Kept for the scopes in use (a rollout makes one per cell): bounded, the oldest dropped first.
      if (this.scopes.size >= 1_000) this.scopes.delete(this.scopes.keys().next().value!);
      service = new WalletService(this.ledger, { locks: this.locks, scope });
      this.scopes.set(scope, service);
    }
    return service;
  }

  /** The party hint of an agent's wallet in this scope. */
  private hintOf(agent: string): string {
    return this.scope === '' ? `${AGENT_PREFIX}${agent}` : `${AGENT_PREFIX}${this.scope}.${agent}`;
  }

  async operator(): Promise<PartyId> {
    return (await this.find(OPERATOR_HINT)) ?? this.allocate(OPERATOR_HINT);
  }

  /** The agent's party (allocated on first use: for creating a wallet). */
  async partyOf(agent: string): Promise<PartyId> {
    const hint = this.hintOf(agent);
    return (await this.find(hint)) ?? this.allocate(hint);
  }

  /** Whether an agent has a wallet here. */
  async has(agent: string): Promise<boolean> {
    return (await this.find(this.hintOf(agent))) !== undefined;
  }

  /** The party of an agent that has a wallet; a name without one (a typo, an invented agent) is refused. */
  async walletOf(agent: string): Promise<PartyId> {
    const party = await this.find(this.hintOf(agent));
    if (party === undefined) {
      const known = await this.agents();
      throw new UserError('E_USAGE', `${agent} has no wallet`, {
        hint:
          known.length === 0
            ? 'Create the wallets with: p2tui ledger init'
            : `Wallets: ${known.join(', ')}. Create more with: p2tui ledger init`,
      });
    }
    return party;
  }

  /** The agent id of a party (the operator is `operator`). */
  nameOf(party: PartyId): string {
    const hint = party.split('::')[0]!;
    if (hint === OPERATOR_HINT) return 'operator';
    const own = this.hintOf('');
    if (hint.startsWith(own)) return hint.slice(own.length);
    return hint.startsWith(AGENT_PREFIX) ? hint.slice(AGENT_PREFIX.length) : hint;
  }

  /**
   * Runs a check and the payment it allows as one unit for `agent` (across processes with store locks): two
   * payments by one agent at once cannot both pass a budget check that only one of them fits.
   */
  exclusive<T>(agent: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.hold(`pay:${agent}`, fn);
  }

  /**
   * The update an earlier money movement with this reference was accepted as, if any (what a retried or recovered
   * call returns instead of moving money again). `agent`: the payer (for a mint, the receiver).
   */
  async done(
    kind: 'transfer' | 'mint' | 'escrow',
    agent: string,
    reference: string,
  ): Promise<LedgerTransaction | undefined> {
    const party = await this.walletOf(agent);
    if (kind === 'mint') return this.ledger.completion(mintId(reference, party), [await this.operator()]);
    return this.ledger.completion(kind === 'transfer' ? transferId(reference, party) : escrowOpenId(reference, party), [
      party,
    ]);
  }

  /** An agent's wallet, funded once with `initial` (a second call with the same agent adds nothing). */
  async createWallet(agent: string, initial?: Decimal): Promise<WalletView> {
    await this.partyOf(agent);
    if (initial !== undefined && decimal.isPositive(decimal.canonical(initial)))
      await this.mint(agent, initial, 'initial balance', `init:${agent}`);
    return this.balance(agent);
  }

  /** The operator issues new money to an agent (a reward, an initial balance). Idempotent on `reference`. */
  async mint(agent: string, amount: Decimal, reason: string, reference: string): Promise<TransferReceipt> {
    const value = positive(amount);
    const operator = await this.operator();
    const to = await this.walletOf(agent);
    const commandId = mintId(reference, to);
    return this.receipt(commandId, [operator], () =>
      this.ledger.submit(
        [
          {
            kind: 'create',
            templateId: TEMPLATES.holding,
            args: { operator, owner: to, amount: value, meta: { reason } },
          },
          {
            kind: 'create',
            templateId: TEMPLATES.record,
            args: { operator, sender: operator, receiver: to, value, reason, transferId: reference },
          },
        ],
        { commandId, actAs: [operator] },
      ),
    );
  }

  async balance(agent: string): Promise<WalletView> {
    const party = await this.walletOf(agent);
    const holdings = await this.holdings(party);
    const escrows = (
      await this.ledger.activeContracts<{ payer: string; amount: string }>(party, [TEMPLATES.escrow])
    ).filter((e) => e.payload.payer === party);
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
  async transfer(req: {
    from: string;
    to: string;
    amount: Decimal;
    reason: string;
    reference: string;
    workflowId?: string;
  }): Promise<TransferReceipt> {
    const value = positive(req.amount);
    if (req.from === req.to)
      throw new UserError('E_USAGE', `${req.from} cannot pay itself`, { hint: 'Name two different agents.' });
    if (req.reference.trim() === '')
      throw new UserError('E_USAGE', 'a transfer needs a reference (the task, step or reward it pays for)', {
        hint: 'It makes a retry return the first receipt instead of paying twice.',
      });
    const from = await this.walletOf(req.from);
    const to = await this.walletOf(req.to);
    const commandId = transferId(req.reference, from);
    const earlier = await this.ledger.completion(commandId, [from]);
    if (earlier !== undefined) {
      const paid = this.describe(earlier);
      // The same reference is the same payment: different terms are a mistake, not a retry.
      if (paid.to !== req.to || decimal.cmp(paid.amount, value) !== 0) {
        throw new UserError(
          'E_USAGE',
          `reference ${req.reference} already paid ${paid.amount} from ${req.from} to ${paid.to} (offset ${paid.offset}); it cannot also pay ${value} to ${req.to}`,
          {
            hint: 'Use a new reference for a new payment.',
          },
        );
      }
    }
    if (earlier !== undefined) return { ...this.describe(earlier), duplicate: true };
    return this.receipt(
      commandId,
      [from],
      async () => {
        for (let attempt = 0; ; attempt++) {
          const inputs = await this.pick(from, value, req.from);
          try {
            return await this.ledger.submit(
              [
                {
                  kind: 'exercise',
                  templateId: TEMPLATES.holding,
                  contractId: inputs[0]!,
                  choice: 'Transfer',
                  arg: {
                    receiver: to,
                    value,
                    reason: req.reason,
                    transferId: req.reference,
                    extraInputs: inputs.slice(1),
                  },
                },
              ],
              { commandId, actAs: [from], workflowId: req.workflowId ?? req.reference },
            );
          } catch (error) {
            // Another process spent one of these holdings first: pick again from what is left.
            if (error instanceof LedgerError && error.ledgerCode === 'CONTRACT_NOT_FOUND' && attempt < 8) continue;
            throw error;
          }
        }
      },
      true,
    );
  }

  /** Locks `amount` of the payer's money in an escrow the operator releases to the payee or refunds. */
  async openEscrow(req: {
    payer: string;
    payee: string;
    amount: Decimal;
    reference: string;
    workflowId?: string;
  }): Promise<EscrowView> {
    const value = positive(req.amount);
    const payer = await this.walletOf(req.payer);
    const payee = await this.walletOf(req.payee);
    const operator = await this.operator();
    const commandId = escrowOpenId(req.reference, payer);
    const done = await this.ledger.completion(commandId, [payer]);
    if (done === undefined) {
      for (let attempt = 0; ; attempt++) {
        const inputs = await this.pick(payer, value, req.payer);
        try {
          await this.ledger.submit(
            [
              {
                kind: 'exercise',
                templateId: TEMPLATES.holding,
                contractId: inputs[0]!,
                choice: 'Lock',
                arg: { payee, arbiter: operator, value, reference: req.reference, extraInputs: inputs.slice(1) },
              },
            ],
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
    const escrow = (await this.escrows(req.payer)).find((e) => e.reference === req.reference);
    if (escrow !== undefined) return escrow;
    // Opened before (a retry) and settled since: the escrow as it was opened, not a second one.
    const opened = await this.ledger.completion(commandId, [payer]);
    const created = opened?.events.find((e) => e.kind === 'created' && e.templateId === TEMPLATES.escrow);
    if (created?.kind === 'created')
      return {
        contractId: created.contractId,
        payer: req.payer,
        payee: req.payee,
        amount: String(created.payload['amount']),
        reference: req.reference,
      };
    throw new UserError('E_SESSION_STATE', `the escrow for ${req.reference} was opened and cannot be found`, {
      hint: 'See it with: p2tui ledger history ' + req.payer,
    });
  }

  /**
   * Settles a payer's escrow by its reference: `release` pays the payee, `refund` gives it back. Idempotent for a
   * given payer and reference. Without `payer`, the reference must name one open escrow.
   */
  async settleEscrow(reference: string, outcome: 'release' | 'refund', payer?: string): Promise<TransferReceipt> {
    const operator = await this.operator();
    const open = (await this.escrows(payer)).filter((e) => e.reference === reference);
    if (payer === undefined && open.length > 1) {
      throw new UserError(
        'E_USAGE',
        `several open escrows have reference '${reference}' (payers ${open.map((e) => e.payer).join(', ')})`,
        { hint: 'Name the payer (--payer).' },
      );
    }
    const payerName = payer ?? open[0]?.payer;
    if (payerName === undefined)
      throw new UserError('E_USAGE', `no open escrow with reference '${reference}'`, {
        hint: 'See the open ones with: p2tui ledger overview',
      });
    const commandId = `escrow-settle:${await this.walletOf(payerName)}:${reference}`;
    return this.receipt(commandId, [operator], async () => {
      const escrow = open[0];
      if (escrow === undefined)
        throw new UserError('E_USAGE', `no open escrow of ${payerName} with reference '${reference}'`, {
          hint: 'See the open ones with: p2tui ledger overview',
        });
      return this.ledger.submit(
        [
          {
            kind: 'exercise',
            templateId: TEMPLATES.escrow,
            contractId: escrow.contractId,
            choice: outcome === 'release' ? 'Release' : 'Refund',
            arg: {},
          },
        ],
        { commandId, actAs: [operator], workflowId: reference },
      );
    });
  }

  /** Open escrows: every one, or those one agent pays into (read through its own contracts). */
  async escrows(payer?: string): Promise<EscrowView[]> {
    const party = payer === undefined ? '*' : await this.walletOf(payer);
    const open = await this.ledger.activeContracts<{ payer: string; payee: string; amount: string; reference: string }>(
      party,
      [TEMPLATES.escrow],
    );
    return open
      .filter((e) => party === '*' || e.payload.payer === party)
      .map((e) => ({
        contractId: e.contractId,
        payer: this.nameOf(e.payload.payer),
        payee: this.nameOf(e.payload.payee),
        amount: e.payload.amount,
        reference: e.payload.reference,
      }));
  }

  /** An agent's payments in and out, newest first (from the updates it is a party to, read newest first). */
  async history(agent: string, limit = 20): Promise<HistoryLine[]> {
    const party = await this.walletOf(agent);
    const lines: HistoryLine[] = [];
    let before: Offset | undefined;
    while (lines.length < limit) {
      const page = await this.ledger.updates(party, {
        newestFirst: true,
        limit: Math.max(limit, 50),
        ...(before === undefined ? {} : { beforeOffset: before }),
      });
      for (const tx of page) lines.push(...this.linesOf(tx, party, agent).reverse());
      if (page.length === 0) break;
      before = page.at(-1)!.offset;
    }
    return lines.slice(0, limit);
  }

  /** Every agent's wallet, the money issued, and the chain's state (without reading every update). */
  async overview(): Promise<{
    wallets: WalletView[];
    issued: Decimal;
    escrowed: Decimal;
    ledgerEnd: Offset;
    audit: AuditReport | null;
  }> {
    const wallets = await Promise.all((await this.agents()).map((a) => this.balance(a)));
    const escrowed = decimal.sum((await this.escrows()).map((e) => e.amount));
    // Money enters only by a mint and never leaves: what was issued is what is held plus what is in escrow.
    const issued = decimal.add(decimal.sum(wallets.map((w) => w.balance)), escrowed);
    const audit = this.ledger.chainStatus === undefined ? null : await this.ledger.chainStatus();
    return { wallets, issued, escrowed, ledgerEnd: await this.ledger.ledgerEnd(), audit };
  }

  /** Payments, volume and escrows, overall and per agent (sent and received): one pass over the updates, in pages. */
  async metrics(): Promise<{
    updates: number;
    payments: number;
    volume: Decimal;
    issued: Decimal;
    escrowsOpen: number;
    escrowsReleased: number;
    escrowsRefunded: number;
    agents: { agent: string; sent: Decimal; received: Decimal; payments: number }[];
  }> {
    const operator = await this.operator();
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
      const page = await this.ledger.updates('*', { afterOffset: after, limit: 1_000 });
      if (page.length === 0) break;
      after = page.at(-1)!.offset;
      for (const tx of page) {
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
    }
    return {
      updates,
      payments,
      volume,
      issued,
      escrowsOpen: (await this.escrows()).length,
      escrowsReleased: released,
      escrowsRefunded: refunded,
      agents: [...perAgent].map(([agent, m]) => ({ agent, ...m })).sort((a, b) => a.agent.localeCompare(b.agent)),
    };
  }

  /** Agents with a wallet on this ledger. */
  async agents(): Promise<string[]> {
    // Every agent party is a wallet (allocated by createWallet): the parties say it without reading the updates.
    // This scope's agents only: a rollout cell's parties are not the workspace's wallets, nor another cell's.
    const own = this.hintOf('');
    return (await this.ledger.parties())
      .flatMap((p) => {
        if (!p.hint.startsWith(own)) return [];
        const name = p.hint.slice(own.length);
        return this.scope === '' && name.includes('.') ? [] : [name];
      })
      .sort();
  }

  /**
   * What an agent itself paid out (transfers it made and escrows it opened) in one session and since a moment:
   * read from the agent's updates of that session and of that period only.
   */
  async spent(
    agent: string,
    scope: { session?: string; since?: string },
  ): Promise<{ session: Decimal; since: Decimal }> {
    const party = await this.walletOf(agent);
    const total = async (query: { workflowId?: string; since?: string }): Promise<Decimal> => {
      let sum = '0';
      for (let after = 0; ;) {
        const page = await this.ledger.updates(party, {
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

  private linesOf(tx: LedgerTransaction, party: PartyId, agent: string): HistoryLine[] {
    const lines: HistoryLine[] = [];
    for (const e of tx.events) {
      if (e.kind !== 'created') continue;
      if (e.templateId === TEMPLATES.escrow && e.payload['payer'] === party) {
        // Locking is when the money leaves the payer; a release or a refund then comes from the escrow.
        lines.push({
          offset: tx.offset,
          at: tx.effectiveAt,
          from: agent,
          to: `escrow for ${this.nameOf(e.payload['payee'] as string)}`,
          amount: e.payload['amount'] as string,
          reason: 'escrow locked',
          transferId: e.payload['reference'] as string,
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
        from: fromEscrow ? 'escrow' : this.nameOf(p.sender),
        to: this.nameOf(p.receiver),
        amount: p.value,
        reason: p.reason,
        transferId: p.transferId,
      });
    }
    return lines;
  }

  private async find(hint: string): Promise<PartyId | undefined> {
    const cached = this.known.get(hint);
    if (cached !== undefined) return cached;
    const party = await this.ledger.findParty(hint);
    if (party !== undefined) this.known.set(hint, party);
    return party;
  }

  private async allocate(hint: string): Promise<PartyId> {
    const party = await this.ledger.allocateParty(hint);
    this.known.set(hint, party);
    return party;
  }

  private async holdings(party: PartyId): Promise<{ contractId: ContractId; amount: Decimal }[]> {
    return (await this.ledger.activeContracts<{ owner: string; amount: string }>(party, [TEMPLATES.holding]))
      .filter((h) => h.payload.owner === party)
      .map((h) => ({ contractId: h.contractId, amount: h.payload.amount }));
  }

  /**
   * Holdings to spend, largest first, until they cover `value` (or a clear error when they cannot), plus up to
   * MERGE_EXTRA of the smallest others: their money comes back in the change, so a wallet that receives many small
   * payments is merged as it spends instead of growing without bound.
   */
  private async pick(party: PartyId, value: Decimal, agent: string): Promise<ContractId[]> {
    const holdings = (await this.holdings(party)).sort((a, b) => decimal.cmp(b.amount, a.amount));
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
    const rest = holdings.slice(used);
    if (rest.length > MERGE_EXTRA) picked.push(...rest.slice(-MERGE_EXTRA).map((h) => h.contractId));
    return picked;
  }

  /** The receipt of a command: the one accepted before (duplicate), or the new one `submit` makes. */
  private async receipt(
    commandId: string,
    actAs: readonly PartyId[],
    submit: () => Promise<LedgerTransaction>,
    checked = false,
  ): Promise<TransferReceipt> {
    const before = checked ? undefined : await this.ledger.completion(commandId, actAs);
    if (before !== undefined) return { ...this.describe(before), duplicate: true };
    try {
      return { ...this.describe(await submit()), duplicate: false };
    } catch (error) {
      // Accepted by another process between the check and the submit: its receipt is this one's.
      if (error instanceof LedgerError && error.ledgerCode === 'DUPLICATE_COMMAND') {
        const done = await this.ledger.completion(commandId, actAs);
        if (done !== undefined) return { ...this.describe(done), duplicate: true };
      }
      throw error;
    }
  }

  private describe(tx: LedgerTransaction): Omit<TransferReceipt, 'duplicate'> {
    const record = tx.events.find((e) => e.kind === 'created' && e.templateId === TEMPLATES.record);
    const p = (record?.kind === 'created' ? record.payload : {}) as {
      sender?: string;
      receiver?: string;
      value?: string;
      transferId?: string;
    };
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

/** How many small holdings a payment takes along beyond what it needs (merged into its change). */
const MERGE_EXTRA = 8;

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

/** Command ids of money movements, from their business reference: the same reference is the same change. */
const transferId = (reference: string, payer: PartyId): string => `xfer:${reference}:${payer}`;
const mintId = (reference: string, receiver: PartyId): string => `mint:${reference}:${receiver}`;
const escrowOpenId = (reference: string, payer: PartyId): string => `escrow-open:${reference}:${payer}`;

/** Where the wallets live: `ledger.canton` of p2tui.yaml, or (without it) the embedded ledger in the store. */
export interface LedgerSettings {
  readonly canton?:
    { readonly url: string; readonly token_env?: string | undefined; readonly user?: string | undefined } | undefined;
}

/**
 * Opens the wallet service over a store: the embedded ledger in it, or a Canton participant when the settings name
 * one. Either way its payment locks live in the store, so processes sharing it check and pay as one unit. Its owner
 * (the app, or a command) keeps one per store: the embedded ledger checks its chain once per service.
 */
export function openWallets(store: Store, settings: LedgerSettings = {}, clock: Clock = systemClock): WalletService {
  const ledger = settings.canton === undefined ? new EmbeddedLedger(store, { clock }) : cantonLedger(settings.canton);
  return new WalletService(ledger, { locks: new StoreLocks(store, { clock }) });
}

function cantonLedger(canton: NonNullable<LedgerSettings['canton']>): CantonJsonLedger {
  const token = canton.token_env === undefined ? undefined : process.env[canton.token_env];
  if (canton.token_env !== undefined && (token === undefined || token === '')) {
    throw new UserError('E_CONFIG', `p2tui.yaml: ledger.canton.token_env names ${canton.token_env}, which is not set`, {
      hint: `Export the participant's JWT as ${canton.token_env}, or remove token_env for a sandbox without auth.`,
    });
  }
  return new CantonJsonLedger({
    url: canton.url,
    ...(token === undefined ? {} : { token }),
    ...(canton.user === undefined ? {} : { userId: canton.user }),
  });
}

function positive(amount: Decimal): Decimal {
  const value = decimal.canonical(amount);
  if (!decimal.isPositive(value)) throw new UserError('E_USAGE', `the amount must be greater than 0, got ${amount}`);
  return value;
}
