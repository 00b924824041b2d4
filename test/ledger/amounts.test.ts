import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { EmbeddedLedger } from '../../src/ledger/embedded/ledger.ts';
import { TEMPLATES } from '../../src/ledger/templates.ts';
import { pickHoldings } from '../../src/ledger/wallets/holdings.ts';
import { WalletService } from '../../src/ledger/wallets/service.ts';
import type { LedgerApi } from '../../src/ledger/types.ts';
import { P2Error } from '../../src/core/errors.ts';
import { Store } from '../../src/store/store.ts';
import { runCli } from '../helpers/cli.ts';
import { refusal } from '../helpers/ledger.ts';
import { openAIServer, type ModelServer } from '../helpers/model-servers.ts';
import { countingTool } from '../helpers/tools.ts';
import { tempStore, tempWorkspace, testEngine } from '../helpers/workspace.ts';

/** 28 digits: the most Daml's Numeric 10 holds before the point. */
const NINES = '9999999999999999999999999999';
const TEN_TO_28 = '10000000000000000000000000000';
const LIMIT = "(29 digits before the point); Daml's Numeric 10 holds at most 28";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Result = { tool: string; status: string; output?: unknown; error?: string };
type Call = { tool: string; args: unknown };

/** Issues `amount` to `owner` as the operator, straight on the ledger (as an operator's client of `ledger serve` can). */
async function issueDirectly(ledger: EmbeddedLedger, owner: string, amount: string, id: string): Promise<void> {
  const operator = await ledger.allocateParty('p2tui-operator');
  await ledger.submit([{ kind: 'create', templateId: TEMPLATES.holding, args: { operator, owner, amount } }], {
    commandId: id,
    actAs: [operator],
  });
}

describe('amounts past Numeric 10', () => {
  it('reward_agent is refused, as the model sees it, when a balance or the money issued would pass 28 digits', async () => {
    const t = await testEngine([
      {
        id: 'treasurer',
        description: 'Rewards.',
        tools: ['reward_agent'],
        script: [
          {
            when: '.',
            steps: [
              { call: 'reward_agent', args: { to: 'agent_x', amount: NINES } },
              { call: 'reward_agent', args: { to: 'agent_x', amount: '1' } },
              { call: 'reward_agent', args: { to: 'agent_y', amount: '1' } },
              { reply: 'done' },
            ],
          },
        ],
      },
    ]);
    cleanups.push(() => t.close());
    for (const agent of ['treasurer', 'agent_x', 'agent_y']) await t.app.wallets.createWallet(agent);
    const run = t.engine.start({ agent: 'treasurer', message: 'reward them', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    const results = t.engine.store.log
      .read(0, { session: run.id, kinds: ['tool_result'] }, 10)
      .map((e) => e.payload as Result);
    expect(results.map((r) => r.status)).toEqual(['ok', 'error', 'error']);
    expect(results[1]!.error).toBe(`issuing 1 to "agent_x" would make the balance of "agent_x" ${TEN_TO_28} ${LIMIT}`);
    expect(results[2]!.error).toBe(`issuing 1 to "agent_y" would make the money issued ${TEN_TO_28} ${LIMIT}`);
    expect((await t.app.wallets.balance('agent_x')).balance).toBe(NINES);
    expect((await t.app.wallets.balance('agent_y')).balance).toBe('0');
    expect((await t.app.wallets.overview()).issued).toBe(NINES);
  });

  it('the embedded ledger itself refuses an update that grows a balance past 28 digits, naming the limit', async () => {
    const made = tempStore();
    cleanups.push(made.cleanup);
    const ledger = new EmbeddedLedger(made.store);
    const operator = await ledger.allocateParty('p2tui-operator');
    const alice = await ledger.allocateParty('alice');
    const bob = await ledger.allocateParty('bob');
    await issueDirectly(ledger, alice, NINES, 'm1');
    const second = await refusal(issueDirectly(ledger, alice, '1', 'm2'));
    expect(second.ledgerCode).toBe('TEMPLATE_PRECONDITION_VIOLATED');
    expect(second.message).toBe(
      `TEMPLATE_PRECONDITION_VIOLATED: command m2 would make the balance of ${alice} ${TEN_TO_28} ${LIMIT}`,
    );
    // A payment into a full wallet: refused whole, nothing moves.
    await issueDirectly(ledger, bob, '5', 'm3');
    const [bobs] = await ledger.activeContracts(bob, [TEMPLATES.holding]);
    const pay = await refusal(
      ledger.submit(
        [
          {
            kind: 'exercise',
            templateId: TEMPLATES.holding,
            contractId: bobs!.contractId,
            choice: 'Transfer',
            arg: { receiver: alice, value: '1', reason: '', transferId: 't1' },
          },
        ],
        { commandId: 't1', actAs: [bob] },
      ),
    );
    expect(pay.message).toBe(
      `TEMPLATE_PRECONDITION_VIOLATED: command t1 would make the balance of ${alice} ${TEN_TO_28} ${LIMIT}`,
    );
    const tooLong = await refusal(issueDirectly(ledger, bob, TEN_TO_28, 'm4'));
    expect(tooLong.message).toContain(
      "amount: a decimal of at most 28 digits before the point and 10 after it (Daml's Numeric 10)",
    );
    expect((await ledger.activeContracts(bob, [TEMPLATES.holding])).map((h) => h.payload['amount'])).toEqual(['5']);
    expect(operator).toContain('p2tui-operator::');
  });

  it('the CLI refuses amounts past the limit (exit 2) and still shows a ledger that holds more than one Numeric 10', async () => {
    const ws = tempWorkspace();
    cleanups.push(() => ws.cleanup());
    const db = join(ws.dir, 'p2tui.db');
    const p2tui = (...args: string[]) => runCli([...args, '--workspace', ws.dir, '--db', db], { cwd: ws.dir });
    ws.persona({ id: 'alpha', description: 'Pays.' });
    ws.persona({ id: 'beta', description: 'Is paid.' });
    // Each wallet holds the most one Numeric 10 holds, issued by an operator's own client: the money issued is 29
    // digits (what ledgers written before the limits can hold too).
    const store = new Store({ path: db });
    const ledger = new EmbeddedLedger(store);
    const wallets = new WalletService(ledger);
    for (const agent of ['alpha', 'beta']) await wallets.createWallet(agent);
    await issueDirectly(ledger, (await wallets.balance('alpha')).party, NINES, 'big-alpha');
    await issueDirectly(ledger, (await wallets.balance('beta')).party, NINES, 'big-beta');
    await wallets.openEscrow({ payer: 'alpha', payee: 'beta', amount: '1', reference: 'job-1' });
    store.close();

    const overview = await p2tui('ledger', 'overview', '--json');
    expect(overview.stderr).toBe('');
    expect(overview.code).toBe(0);
    expect(JSON.parse(overview.stdout)).toMatchObject({ issued: '19999999999999999999999999998', escrowed: '1' });

    const pay = await p2tui('ledger', 'transfer', 'alpha', 'beta', '1');
    expect(pay.code).toBe(2);
    expect(pay.stderr).toContain(`E_USAGE: paying 1 to "beta" would make the balance of "beta" ${TEN_TO_28} ${LIMIT}`);

    const release = await p2tui('ledger', 'escrow', 'release', 'job-1');
    expect(release.code).toBe(2);
    expect(release.stderr).toContain(
      `E_USAGE: releasing 1 to "beta" would make the balance of "beta" ${TEN_TO_28} ${LIMIT}`,
    );

    const huge = await p2tui('ledger', 'transfer', 'alpha', 'beta', `1${TEN_TO_28}`);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toContain(
      `E_USAGE: amount '1${TEN_TO_28}' has 30 digits before the point; Daml's Numeric 10 holds at most 28`,
    );

    const typo = await p2tui('ledger', 'transfer', 'alpha', 'bеta ', '1');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('E_USAGE: no wallet "bеta "; the wallets are "alpha", "beta"');

    const balance = await p2tui('ledger', 'balance', '--json');
    expect(balance.code).toBe(0);
    expect((JSON.parse(balance.stdout) as { balance: string }[]).map((w) => w.balance)).toEqual([
      '9999999999999999999999999998',
      NINES,
    ]);
  });

  it('ledger init refuses a starting balance that would make the money issued pass 28 digits (exit 2)', async () => {
    const ws = tempWorkspace();
    cleanups.push(() => ws.cleanup());
    const db = join(ws.dir, 'p2tui.db');
    ws.persona({ id: 'a1', description: 'One.' });
    ws.persona({ id: 'a2', description: 'Two.' });
    const init = await runCli(['ledger', 'init', '--balance', NINES, '--workspace', ws.dir, '--db', db], {
      cwd: ws.dir,
    });
    expect(init.code).toBe(2);
    expect(init.stderr).toContain(
      `E_USAGE: issuing ${NINES} to "a2" would make the money issued 19999999999999999999999999998 ${LIMIT}`,
    );
  });
});

describe('a wallet stored holding more than one Numeric 10 (written before the limits)', () => {
  it('pays what some of its holdings cover, and refuses a payment that needs them all with the real limit', async () => {
    // Two holdings of 28 nines: what a ledger written by an earlier p2tui can hold (this one refuses to grow it).
    const holdings = [NINES, NINES].map((amount, i) => ({ contractId: `h${i}`, payload: { owner: 'a::1', amount } }));
    const ledger = { activeContracts: () => Promise.resolve(holdings) } as unknown as LedgerApi;
    expect(await pickHoldings(ledger, 'a::1', '5', 'agent_a')).toEqual(['h0']);
    const error = await pickHoldings(ledger, 'a::1', `${NINES}.5`, 'agent_a').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(P2Error);
    expect((error as P2Error).code).toBe('E_USAGE');
    expect((error as P2Error).message).toBe(
      `paying ${NINES}.5 would make the inputs of "agent_a" 19999999999999999999999999998 ${LIMIT}`,
    );
  });
});

describe('names in ledger refusals', () => {
  it('are quoted, and the tool error the model sees lists the wallets', async () => {
    const t = await testEngine([
      {
        id: 'payer',
        description: 'Pays.',
        tools: ['transfer_funds', 'open_escrow', 'reward_agent'],
        script: [
          {
            when: '.',
            steps: [
              // A Cyrillic е and a trailing space: read the same as agent_beta, shown apart.
              { call: 'transfer_funds', args: { to: 'agent_bеta ', amount: '1' } },
              { call: 'open_escrow', args: { payee: 'payer', amount: '1' } },
              { call: 'reward_agent', args: { to: 'payer', amount: '1' } },
              { call: 'open_escrow', args: { payee: 'agent_beta', amount: TEN_TO_28 } },
              { reply: 'done' },
            ],
          },
        ],
      },
    ]);
    cleanups.push(() => t.close());
    await t.app.wallets.createWallet('payer', '10');
    await t.app.wallets.createWallet('agent_beta');
    const run = t.engine.start({ agent: 'payer', message: 'pay', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    const errors = t.engine.store.log
      .read(0, { session: run.id, kinds: ['tool_result'] }, 10)
      .map((e) => (e.payload as Result).error);
    expect(errors).toEqual([
      'no wallet "agent_bеta "; the wallets are "agent_beta", "payer"',
      '"payer" cannot lock an escrow for itself',
      '"payer" cannot reward itself',
      `amount '${TEN_TO_28}' has 29 digits before the point; Daml's Numeric 10 holds at most 28`,
    ]);
    expect((await t.app.wallets.balance('payer')).balance).toBe('10');
  });
});

describe('numbers in tool arguments', () => {
  it('a number that would not arrive as written (rounded, or Infinity) is refused and stored as the model sent it', async () => {
    const server: ModelServer = await openAIServer();
    cleanups.push(() => server.close());
    const big = '{"to":"payee","amount":9007199254740993}';
    const fraction = '{"to":"payee","amount":123456789.123456789}';
    const infinite = '{"n":1e309}';
    server.queue(
      {
        kind: 'reply',
        toolCalls: [
          { id: 'c1', name: 'transfer_funds', arguments: big },
          { id: 'c2', name: 'transfer_funds', arguments: fraction },
          { id: 'c3', name: 'probe', arguments: infinite },
          { id: 'c4', name: 'transfer_funds', arguments: '{"to":"payee","amount":"9007199254740993"}' },
        ],
      },
      { kind: 'reply', text: 'done' },
    );
    const probe = countingTool('probe');
    const t = await testEngine(
      [{ id: 'payer', description: 'Pays.', model: 'openai/m', tools: ['transfer_funds', 'probe'] }],
      {
        tools: [probe],
        files: {
          'p2tui.yaml': stringify({ providers: { openai: { base_url: `${server.url}/v1`, retry_base_ms: 5 } } }),
        },
        load: { env: {} },
      },
    );
    cleanups.push(() => t.close());
    await t.app.wallets.createWallet('payer', '10000000000000000000');
    await t.app.wallets.createWallet('payee');
    const run = t.engine.start({ agent: 'payer', message: 'pay', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    const read = <T>(kind: 'tool_call' | 'tool_result'): T[] =>
      t.engine.store.log.read(0, { session: run.id, kinds: [kind] }, 10).map((e) => e.payload as T);
    const results = read<Result>('tool_result');
    expect(results.map((r) => [r.tool, r.status])).toEqual([
      ['transfer_funds', 'error'],
      ['transfer_funds', 'error'],
      ['probe', 'error'],
      ['transfer_funds', 'ok'],
    ]);
    expect(results[0]!.error).toBe(
      'invalid arguments: argument "amount": the number 9007199254740993 cannot be held exactly as a JSON number ' +
        '(it would arrive as 9007199254740992); send it as a string, e.g. "9007199254740993", or with fewer digits',
    );
    expect(results[1]!.error).toBe(
      'invalid arguments: argument "amount": the number 123456789.123456789 cannot be held exactly as a JSON number ' +
        '(it would arrive as 123456789.12345679); send it as a string, e.g. "123456789.123456789", or with fewer digits',
    );
    expect(results[2]!.error).toBe(
      'invalid arguments: argument "n": the number 1e309 is out of range (it would arrive as Infinity); ' +
        'send a finite number, or the value as a string',
    );
    expect(results[3]!.output).toMatchObject({ paid: '9007199254740993', to: 'payee' });
    // Stored as given: the text the model sent, not null or a rounded number.
    expect(read<Call>('tool_call').map((c) => c.args)).toEqual([
      big,
      fraction,
      infinite,
      { to: 'payee', amount: '9007199254740993' },
    ]);
    expect(probe.calls).toEqual([]);
    expect((await t.app.wallets.balance('payee')).balance).toBe('9007199254740993');
    // The model was told, in the tool messages of its next request.
    const tools = (server.requests.at(-1)!.body['messages'] as { role: string; content: string }[]).filter(
      (m) => m.role === 'tool',
    );
    expect(tools[0]!.content).toContain('send it as a string, e.g. \\"9007199254740993\\"');
  });
});
