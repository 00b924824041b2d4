// Long because it is the one wallet API over both ledgers: wallets, payments, escrows, receipts and their caches.
import { UserError } from '../../core/errors.ts';
import { decimal, type Decimal } from '../decimal.ts';
import { OPERATOR_HINT, TEMPLATES } from '../templates.ts';
import { LocalLocks, type PaymentLocks } from './locks.ts';
import { holdingsOf, pickHoldings, positive } from './holdings.ts';
import { overflowNamed, quoted, refuseMint, walletList } from './limits.ts';
import { commandIds, describeReceipt, receiptOf } from './receipts.ts';
import { ledgerMetrics, paymentHistory, spentBy } from './reports.ts';
import type { EscrowView, HistoryLine, LedgerMetrics, TransferReceipt, WalletView } from './views.ts';

export type { EscrowView, HistoryLine, LedgerMetrics, TransferReceipt, WalletView } from './views.ts';
import {
  LedgerError,
  type AuditReport,
  type LedgerApi,
  type LedgerTransaction,
  type Offset,
  type PartyId,
} from '../types.ts';

export { OPERATOR_HINT } from '../templates.ts';
const AGENT_PREFIX = 'agent-';

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

  /** Forgets the parties it found (here and in its scopes): a transaction that allocated some rolled back. */
  forgetParties(): void {
    this.known.clear();
    for (const service of this.scopes.values()) service.forgetParties();
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

  /**
   * Gives this scope's wallets the balances `source`'s wallets hold now (a dry-run branch's scratch copy of the real
   * ones): a wallet per agent, its balance issued once. An agent that has a wallet here already was seeded (by the
   * fork, or at the branch's first payment): seeding again changes nothing, even after the real balance changed.
   */
  async seedFrom(source: WalletService): Promise<void> {
    for (const agent of await source.agents()) {
      if (await this.has(agent)) continue;
      const { balance } = await source.balance(agent);
      await this.partyOf(agent);
      if (decimal.isPositive(decimal.canonical(balance)))
        await this.mint(agent, balance, `dry-run copy of ${agent}'s balance`, `dry-run-seed:${agent}`);
    }
  }

  /** Whether a party is one of this scope's wallets (not a rollout cell's, nor a dry-run branch's scratch copy). */
  owns(party: string): boolean {
    const own = this.hintOf('');
    const hint = party.split('::')[0]!;
    return hint.startsWith(own) && !(this.scope === '' && hint.slice(own.length).includes('.'));
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
      // The list is in the message: a model calling a tool sees the message only.
      throw new UserError('E_USAGE', `no wallet ${quoted(agent)}; ${walletList(known)}`, {
        hint: `Create ${known.length === 0 ? 'the' : 'more'} wallets with: p2tui ledger init`,
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
    if (kind === 'mint') return this.ledger.completion(commandIds.mint(reference, party), [await this.operator()]);
    return this.ledger.completion(
      kind === 'transfer' ? commandIds.transfer(reference, party) : commandIds.escrowOpen(reference, party),
      [party],
    );
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
    const commandId = commandIds.mint(reference, to);
    return receiptOf(this, commandId, [operator], async () => {
      // Checked only for a new mint: a retried one returns its receipt even though the money it added is counted now.
      const sumOf = async (a: string): Promise<Decimal> =>
        decimal.sum((await holdingsOf(this.ledger, await this.walletOf(a))).map((h) => h.amount));
      const held = await Promise.all((await this.agents()).map(async (a) => [a, await sumOf(a)] as const));
      // Escrows as the operator reads them (it arbitrates every one): no read-as-any-party right needed.
      // This scope's only: another scope's money (a dry-run branch's scratch copy, say) is not issued to this one.
      const escrows = await this.ledger.activeContracts<{ payer: string; amount: string }>(operator, [
        TEMPLATES.escrow,
      ]);
      refuseMint(
        agent,
        value,
        new Map(held),
        escrows.filter((e) => this.owns(e.payload.payer)).map((e) => e.payload),
      );
      return this.ledger.submit(
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
      );
    });
  }

  async balance(agent: string): Promise<WalletView> {
    const party = await this.walletOf(agent);
    const holdings = await holdingsOf(this.ledger, party);
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
      throw new UserError('E_USAGE', `${quoted(req.from)} cannot pay itself`, { hint: 'Name two different agents.' });
    if (req.reference.trim() === '')
      throw new UserError('E_USAGE', 'a transfer needs a reference (the task, step or reward it pays for)', {
        hint: 'It makes a retry return the first receipt instead of paying twice.',
      });
    const from = await this.walletOf(req.from);
    const to = await this.walletOf(req.to);
    const commandId = commandIds.transfer(req.reference, from);
    const earlier = await this.ledger.completion(commandId, [from]);
    if (earlier !== undefined) {
      const paid = describeReceipt(this, earlier);
      // The same reference is the same payment: different terms are a mistake, not a retry.
      if (paid.to !== req.to || decimal.cmp(paid.amount, value) !== 0) {
        throw new UserError(
          'E_USAGE',
          `reference ${req.reference} already paid ${paid.amount} from ${req.from} to ${paid.to} ` +
            `(offset ${paid.offset}); it cannot also pay ${value} to ${req.to}`,
          {
            hint: 'Use a new reference for a new payment.',
          },
        );
      }
    }
    if (earlier !== undefined) return { ...describeReceipt(this, earlier), duplicate: true };
    return receiptOf(
      this,
      commandId,
      [from],
      async () => {
        for (let attempt = 0; ; attempt++) {
          const inputs = await pickHoldings(this.ledger, from, value, req.from);
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
            // The receiver's balance is the ledger's to check (the payer may not read it): said with agent names.
            throw overflowNamed(error, `paying ${value} to`, (party) => this.nameOf(party));
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
    // Released, an escrow to oneself would pay the agent its own money as earned work, as a transfer to itself would.
    if (req.payer === req.payee)
      throw new UserError('E_USAGE', `${quoted(req.payer)} cannot lock an escrow for itself`, {
        hint: 'Name the agent you delegate the work to as the payee.',
      });
    const payer = await this.walletOf(req.payer);
    const payee = await this.walletOf(req.payee);
    const operator = await this.operator();
    const commandId = commandIds.escrowOpen(req.reference, payer);
    const done = await this.ledger.completion(commandId, [payer]);
    if (done === undefined) {
      for (let attempt = 0; ; attempt++) {
        const inputs = await pickHoldings(this.ledger, payer, value, req.payer);
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
    const commandId = commandIds.escrowSettle(reference, await this.walletOf(payerName));
    return receiptOf(this, commandId, [operator], async () => {
      const escrow = open[0];
      if (escrow === undefined)
        throw new UserError('E_USAGE', `no open escrow of ${payerName} with reference '${reference}'`, {
          hint: 'See the open ones with: p2tui ledger overview',
        });
      const verb = `${outcome === 'release' ? 'releasing' : 'refunding'} ${escrow.amount} to`;
      return this.ledger
        .submit(
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
        )
        .catch((error: unknown) => {
          throw overflowNamed(error, verb, (party) => this.nameOf(party));
        });
    });
  }

  /**
   * Open escrows: every one, or those one agent pays into (read through its own contracts). `own`: only those this
   * scope's wallets pay into (not a rollout cell's nor a dry-run branch's scratch escrows).
   */
  async escrows(payer?: string, which: 'all' | 'own' = 'all'): Promise<EscrowView[]> {
    const party = payer === undefined ? '*' : await this.walletOf(payer);
    const open = await this.ledger.activeContracts<{ payer: string; payee: string; amount: string; reference: string }>(
      party,
      [TEMPLATES.escrow],
    );
    return open
      .filter((e) => (party === '*' || e.payload.payer === party) && (which === 'all' || this.owns(e.payload.payer)))
      .map((e) => ({
        contractId: e.contractId,
        payer: this.nameOf(e.payload.payer),
        payee: this.nameOf(e.payload.payee),
        amount: e.payload.amount,
        reference: e.payload.reference,
      }));
  }

  /** An agent's payments in and out, newest first. */
  history(agent: string, limit = 20): Promise<HistoryLine[]> {
    return paymentHistory(this, agent, limit);
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
    const escrowed = decimal.sum((await this.escrows(undefined, 'own')).map((e) => e.amount));
    // Money enters only by a mint and never leaves: what was issued is what is held plus what is in escrow.
    const issued = decimal.add(decimal.sum(wallets.map((w) => w.balance)), escrowed);
    const audit = this.ledger.chainStatus === undefined ? null : await this.ledger.chainStatus();
    return { wallets, issued, escrowed, ledgerEnd: await this.ledger.ledgerEnd(), audit };
  }

  /** Payments, volume and escrows, overall and per agent (sent and received): one pass over the updates, in pages. */
  metrics(): Promise<LedgerMetrics> {
    return ledgerMetrics(this);
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

  /** What an agent itself paid out (transfers it made, escrows it opened) in one session and since a moment. */
  spent(agent: string, scope: { session?: string; since?: string }): Promise<{ session: Decimal; since: Decimal }> {
    return spentBy(this, agent, scope);
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
}
