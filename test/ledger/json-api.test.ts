import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedLedger } from '../../src/ledger/embedded/ledger.ts';
import { CantonJsonLedger } from '../../src/ledger/json-api/client.ts';
import { OPERATOR_HINT, TEMPLATES } from '../../src/ledger/templates.ts';
import type { LedgerApi } from '../../src/ledger/types.ts';
import { WalletService } from '../../src/ledger/wallets/service.ts';
import { checkSpend } from '../../src/ledger/wallets/spend.ts';
import { tempStore } from '../helpers/workspace.ts';
import { ledgerServeForSuite, refusal, SERVE_TOKEN } from '../helpers/ledger.ts';

/**
 * The ledger adapter's contract: what the wallet service relies on, run against every backend that speaks it.
 * Here: the embedded ledger in process, and the JSON Ledger API v2 adapter over HTTP against `p2tui ledger serve`'s
 * facade. Against a real Canton participant when CANTON_JSON_API_URL is set (with the p2tui-ledger DAR uploaded).
 */
function contract(name: string, make: () => LedgerApi) {
  describe(name, () => {
    const run = Date.now().toString(36);

    it('allocates parties, creates and exercises, deduplicates, refuses double spends, ensure and missing authority', async () => {
      const l = make();
      const operator = await l.allocateParty(OPERATOR_HINT);
      const alice = await l.allocateParty(`alice-${run}`);
      const bob = await l.allocateParty(`bob-${run}`);
      expect(await l.allocateParty(`alice-${run}`)).toBe(alice);
      expect(await l.findParty(`alice-${run}`)).toBe(alice);
      const start = await l.ledgerEnd();
      const minted = await l.submit(
        [{ kind: 'create', templateId: TEMPLATES.holding, args: { operator, owner: alice, amount: '10', meta: {} } }],
        { commandId: `mint-${run}`, actAs: [operator] },
      );
      expect(minted.offset).toBeGreaterThan(start);
      const created = minted.events.find((e) => e.kind === 'created')!;
      expect(created).toMatchObject({
        kind: 'created',
        templateId: TEMPLATES.holding,
        signatories: [operator],
        observers: [alice],
      });
      const holdings = await l.activeContracts<{ amount: string }>(alice, [TEMPLATES.holding]);
      expect(holdings.map((h) => [h.contractId, h.payload.amount])).toEqual([[created.contractId, '10']]);
      const paid = await l.submit(
        [
          {
            kind: 'exercise',
            templateId: TEMPLATES.holding,
            contractId: created.contractId,
            choice: 'Transfer',
            arg: { receiver: bob, value: '2.5', reason: 'work', transferId: `t-${run}`, extraInputs: [] },
          },
        ],
        { commandId: `xfer-${run}`, actAs: [alice] },
      );
      expect(paid.events[0]).toMatchObject({
        kind: 'exercised',
        choice: 'Transfer',
        consuming: true,
        actingParties: [alice],
      });
      expect(
        (await l.activeContracts<{ amount: string }>(bob, [TEMPLATES.holding])).map((h) => h.payload.amount),
      ).toEqual(['2.5']);
      expect(
        (
          await refusal(
            l.submit(
              [
                {
                  kind: 'create',
                  templateId: TEMPLATES.holding,
                  args: { operator, owner: alice, amount: '10', meta: {} },
                },
              ],
              { commandId: `mint-${run}`, actAs: [operator] },
            ),
          )
        ).ledgerCode,
      ).toBe('DUPLICATE_COMMAND');
      const again = [
        {
          kind: 'exercise' as const,
          templateId: TEMPLATES.holding,
          contractId: created.contractId,
          choice: 'Transfer',
          arg: { receiver: bob, value: '1', reason: '', transferId: `t2-${run}`, extraInputs: [] },
        },
      ];
      expect((await refusal(l.submit(again, { commandId: `xfer2-${run}`, actAs: [alice] }))).ledgerCode).toBe(
        'CONTRACT_NOT_FOUND',
      );
      expect(
        (
          await refusal(
            l.submit(
              [
                {
                  kind: 'create',
                  templateId: TEMPLATES.holding,
                  args: { operator, owner: bob, amount: '0', meta: {} },
                },
              ],
              { commandId: `zero-${run}`, actAs: [operator] },
            ),
          )
        ).ledgerCode,
      ).toBe('TEMPLATE_PRECONDITION_VIOLATED');
      expect(
        (
          await refusal(
            l.submit(
              [
                {
                  kind: 'create',
                  templateId: TEMPLATES.holding,
                  args: { operator, owner: bob, amount: '5', meta: {} },
                },
              ],
              { commandId: `self-${run}`, actAs: [bob] },
            ),
          )
        ).ledgerCode,
      ).toBe('DAML_AUTHORIZATION_ERROR');
      // Alice sees her transfer; the updates after the mint are what she is a stakeholder of.
      const seen = await l.updates(alice, { afterOffset: minted.offset });
      expect(seen.map((tx) => tx.updateId)).toContain(paid.updateId);
      expect(seen.every((tx) => tx.offset > minted.offset)).toBe(true);
    });
  });
}

/**
 * The wallet service, written once against the port: the same payments, refusals, retries, escrows, history and
 * spend checks on every backend (in process, and over HTTP through the Canton adapter).
 */
function wallets(name: string, make: () => LedgerApi) {
  describe(name, () => {
    it("names the agent when the ledger refuses a payment that would grow its balance past Daml's Numeric 10", async () => {
      const run = Date.now().toString(36);
      const ledger = make();
      // A scope of its own: the money issued here is not the other tests' wallets'.
      const w = new WalletService(ledger).scoped(`big${run}`);
      await w.createWallet('payer', '5');
      const full = (await w.createWallet('full')).party;
      // Filled by the operator's own client (the wallet service refuses to issue past the limit itself).
      const operator = await w.operator();
      await ledger.submit(
        [{ kind: 'create', templateId: TEMPLATES.holding, args: { operator, owner: full, amount: '9'.repeat(28) } }],
        { commandId: `fill-${run}`, actAs: [operator] },
      );
      const error = await w
        .transfer({ from: 'payer', to: 'full', amount: '1', reason: '', reference: `over-${run}` })
        .catch((e: unknown) => e as { code: string; message: string });
      expect(error).toMatchObject({
        code: 'E_USAGE',
        message:
          `paying 1 to "full" would make the balance of "full" 1${'0'.repeat(28)} (29 digits before the point); ` +
          "Daml's Numeric 10 holds at most 28",
      });
      expect((await w.balance('payer')).balance).toBe('5');
    });
    it('pays, refuses an overdraft, returns the first receipt for a retried reference, settles escrows, and reads history and spending', async () => {
      const run = Date.now().toString(36);
      const w = new WalletService(make());
      const [lead, worker] = [`lead${run}`, `worker${run}`];
      expect(await w.createWallet(lead, '50')).toMatchObject({ agent: lead, balance: '50', locked: '0' });
      await w.createWallet(worker);
      const paid = await w.transfer({
        from: lead,
        to: worker,
        amount: '12.5',
        reason: 'report',
        reference: `task-${run}`,
        workflowId: `s-${run}`,
      });
      expect(paid).toMatchObject({ from: lead, to: worker, amount: '12.5', duplicate: false });
      // A retry after a timeout: the ledger knows the command, nothing moves again.
      expect(
        await w.transfer({ from: lead, to: worker, amount: '12.5', reason: 'report', reference: `task-${run}` }),
      ).toEqual({ ...paid, duplicate: true });
      expect((await w.done('transfer', lead, `task-${run}`))?.updateId).toBe(paid.updateId);
      await expect(
        w.transfer({ from: lead, to: worker, amount: '40', reason: '', reference: `big-${run}` }),
      ).rejects.toThrow(`${lead} has 37.5, cannot pay 40`);
      const escrow = await w.openEscrow({
        payer: lead,
        payee: worker,
        amount: '7',
        reference: `job-${run}`,
        workflowId: `s-${run}`,
      });
      expect(await w.balance(lead)).toMatchObject({ balance: '30.5', locked: '7' });
      expect((await w.settleEscrow(escrow.reference, 'release', lead)).amount).toBe('7');
      expect((await w.balance(worker)).balance).toBe('19.5');
      expect((await w.history(lead, 5)).map((l) => [l.to, l.amount])).toEqual([
        [`escrow for ${worker}`, '7'],
        [worker, '12.5'],
        [lead, '50'],
      ]);
      expect(await w.spent(lead, { session: `s-${run}`, since: '2000-01-01T00:00:00.000Z' })).toEqual({
        session: '19.5',
        since: '19.5',
      });
      await expect(
        checkSpend(
          w,
          lead,
          `s-${run}`,
          '1',
          { policy: { per_session: '20' }, approval: 'deny', source: 'personas/lead.yaml' },
          Date.now(),
        ),
      ).rejects.toThrow(`${lead} has 0.5 left of its per-session budget of 20`);
      const overview = await w.overview();
      expect(overview.wallets.filter((v) => v.agent === lead || v.agent === worker).map((v) => v.balance)).toEqual([
        '30.5',
        '19.5',
      ]);
    });
  });
}

const embedded = tempStore();
afterAll(() => embedded.cleanup());
contract('the embedded ledger, in process', () => new EmbeddedLedger(embedded.store));

const TOKEN = SERVE_TOKEN;
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const served = ledgerServeForSuite();
contract(
  'the JSON Ledger API v2 adapter, over HTTP, against p2tui ledger serve',
  () => new CantonJsonLedger({ url: served.url, token: TOKEN }),
);
wallets('wallets on the embedded ledger, in process', () => new EmbeddedLedger(embedded.store));
wallets(
  'wallets through the JSON Ledger API v2 adapter, over HTTP, against p2tui ledger serve',
  () => new CantonJsonLedger({ url: served.url, token: TOKEN }),
);

const canton = process.env['CANTON_JSON_API_URL'];
if (canton === undefined) {
  describe('a real Canton participant', () => {
    it.skip("runs when CANTON_JSON_API_URL points at a participant's JSON Ledger API v2 with the p2tui-ledger DAR uploaded (no Canton can be installed on this machine)", () =>
      undefined);
  });
} else {
  const participant = () =>
    new CantonJsonLedger({
      url: canton,
      ...(process.env['CANTON_TOKEN'] === undefined ? {} : { token: process.env['CANTON_TOKEN'] }),
    });
  contract(`a real Canton participant at ${canton}`, participant);
  wallets(`wallets on a real Canton participant at ${canton}`, participant);
}

describe('the facade', () => {
  it('answers routes it does not serve with a Canton-shaped error, and malformed commands with INVALID_ARGUMENT', async () => {
    const missing = await fetch(`${served.url}/v2/users`, { headers });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({
      code: 'NOT_FOUND',
      cause: "GET /v2/users is not served by p2tui's ledger facade",
    });
    const bad = await fetch(`${served.url}/v2/commands/submit-and-wait-for-transaction`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ commands: {} }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await fetch(`${served.url}/readyz`)).status).toBe(200);
  });

  it('checks every request body against the API before anything reaches the ledger, and caps its size', async () => {
    const post = (path: string, body: string): Promise<Response> =>
      fetch(`${served.url}${path}`, { method: 'POST', headers, body });
    const wrong = await post(
      '/v2/commands/submit-and-wait-for-transaction',
      JSON.stringify({ commands: { commands: [{ CreateCommand: { templateId: 7 } }], commandId: 'c', actAs: [] } }),
    );
    expect(wrong.status).toBe(400);
    const { cause } = (await wrong.json()) as { cause: string };
    expect(cause).toMatch(/^invalid request body: commands\.commands\.0: /);
    expect(cause).toContain('commands.actAs: Too small');
    expect((await post('/v2/parties', JSON.stringify({ partyIdHint: ['x'] }))).status).toBe(400);
    expect((await post('/v2/updates', '{not json')).status).toBe(400);
    const huge = await post('/v2/parties', JSON.stringify({ partyIdHint: 'x'.repeat(5 * 1024 * 1024) }));
    expect(huge.status).toBe(413);
    expect((await fetch(`${served.url}/readyz`)).status).toBe(200);
  });
});
