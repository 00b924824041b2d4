import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { decimal, parseDecimal } from '../../src/ledger/decimal.ts';
import { EmbeddedLedger } from '../../src/ledger/embedded/ledger.ts';
import { TEMPLATES } from '../../src/ledger/templates.ts';
import { WalletService } from '../../src/ledger/wallets/service.ts';
import { P2Error } from '../../src/core/errors.ts';
import { Store } from '../../src/store/store.ts';
import { tempStore, tempWorkspace, testEngine } from '../helpers/workspace.ts';
import { readSession } from '../../src/engine/session-view.ts';
import { childEnv } from '../helpers/child-env.ts';
import { refusal } from '../helpers/ledger.ts';
import { withRawDb } from '../helpers/raw-db.ts';

const ROOT = join(import.meta.dirname, '../..');
const cleanups: (() => void)[] = [];
afterEach(() =>
  cleanups
    .splice(0)
    .reverse()
    .forEach((c) => c()),
);

function ledger(): { store: Store; ledger: EmbeddedLedger; wallets: WalletService } {
  const made = tempStore();
  cleanups.push(made.cleanup);
  const l = new EmbeddedLedger(made.store);
  return { store: made.store, ledger: l, wallets: new WalletService(l) };
}

describe('decimals', () => {
  it('are exact, canonical, and refuse what they cannot hold', () => {
    expect(decimal.add('0.1', '0.2')).toBe('0.3');
    expect(decimal.sum(Array.from({ length: 10 }, () => '0.1'))).toBe('1');
    expect(decimal.sub('100', '87.5000')).toBe('12.5');
    expect(decimal.canonical('0.0000000001')).toBe('0.0000000001');
    expect(decimal.canonical(100)).toBe('100');
    expect(() => parseDecimal('0.00000000001')).toThrow(
      "amount '0.00000000001' is not a decimal of at most 28 digits before the point and 10 after it",
    );
    // What YAML reads as a number past 2^53 is no longer the amount written: it is refused, not rounded.
    expect(() => decimal.canonical(Number('9007199254740993'))).toThrow('too large to be exact as a number; quote it');
    expect(() => parseDecimal('1e3', '--balance')).toThrow("--balance '1e3' is not a decimal");
  });
});

describe('the embedded ledger', () => {
  it('enforces signatories, controllers, ensure and consuming choices, and refuses a whole command on any failure', async () => {
    const { ledger: l } = ledger();
    const operator = await l.allocateParty('p2tui-operator');
    const alice = await l.allocateParty('alice');
    const bob = await l.allocateParty('bob');
    // An agent cannot issue itself money: a holding needs the operator's signature.
    expect(
      (
        await refusal(
          l.submit([{ kind: 'create', templateId: TEMPLATES.holding, args: { operator, owner: alice, amount: '5' } }], {
            commandId: 'c1',
            actAs: [alice],
          }),
        )
      ).ledgerCode,
    ).toBe('DAML_AUTHORIZATION_ERROR');
    // ensure amount > 0, checked on every create: the command writes nothing.
    const end = await l.ledgerEnd();
    const bad = await refusal(
      l.submit(
        [
          { kind: 'create', templateId: TEMPLATES.holding, args: { operator, owner: alice, amount: '5' } },
          { kind: 'create', templateId: TEMPLATES.holding, args: { operator, owner: bob, amount: '0' } },
        ],
        { commandId: 'c2', actAs: [operator] },
      ),
    );
    expect(bad.ledgerCode).toBe('TEMPLATE_PRECONDITION_VIOLATED');
    expect(await l.ledgerEnd()).toBe(end);
    expect(await l.activeContracts(alice, [TEMPLATES.holding])).toEqual([]);
    const minted = await l.submit(
      [{ kind: 'create', templateId: TEMPLATES.holding, args: { operator, owner: alice, amount: '5' } }],
      { commandId: 'c3', actAs: [operator] },
    );
    const cid = minted.events[0]!.contractId;
    // Only the owner controls Transfer.
    expect(
      (
        await refusal(
          l.submit(
            [
              {
                kind: 'exercise',
                templateId: TEMPLATES.holding,
                contractId: cid,
                choice: 'Transfer',
                arg: { receiver: bob, value: '1', reason: '', transferId: 't' },
              },
            ],
            { commandId: 'c4', actAs: [bob] },
          ),
        )
      ).ledgerCode,
    ).toBe('CONTRACT_NOT_FOUND');
    expect(
      (
        await refusal(
          l.submit(
            [
              {
                kind: 'exercise',
                templateId: TEMPLATES.holding,
                contractId: cid,
                choice: 'Transfer',
                arg: { receiver: bob, value: '1', reason: '', transferId: 't' },
              },
            ],
            { commandId: 'c5', actAs: [operator] },
          ),
        )
      ).ledgerCode,
    ).toBe('DAML_AUTHORIZATION_ERROR');
    // Overdraft: the assertion aborts the whole transfer.
    expect(
      (
        await refusal(
          l.submit(
            [
              {
                kind: 'exercise',
                templateId: TEMPLATES.holding,
                contractId: cid,
                choice: 'Transfer',
                arg: { receiver: bob, value: '6', reason: '', transferId: 't' },
              },
            ],
            { commandId: 'c6', actAs: [alice] },
          ),
        )
      ).message,
    ).toContain('insufficient funds: ' + alice);
    const paid = await l.submit(
      [
        {
          kind: 'exercise',
          templateId: TEMPLATES.holding,
          contractId: cid,
          choice: 'Transfer',
          arg: { receiver: bob, value: '2', reason: 'x', transferId: 't' },
        },
      ],
      { commandId: 'c7', actAs: [alice] },
    );
    expect(paid.events.map((e) => e.kind)).toEqual(['exercised', 'created', 'created', 'created']);
    expect(paid.events[0]).toMatchObject({ kind: 'exercised', consuming: true, lastDescendantNodeId: 3 });
    // Spent once: the same holding again is gone, and the same command id is a duplicate.
    expect(
      (
        await refusal(
          l.submit(
            [
              {
                kind: 'exercise',
                templateId: TEMPLATES.holding,
                contractId: cid,
                choice: 'Transfer',
                arg: { receiver: bob, value: '1', reason: '', transferId: 't2' },
              },
            ],
            { commandId: 'c8', actAs: [alice] },
          ),
        )
      ).ledgerCode,
    ).toBe('CONTRACT_NOT_FOUND');
    expect(await refusal(l.submit([], { commandId: 'c7', actAs: [alice] }))).toMatchObject({
      ledgerCode: 'DUPLICATE_COMMAND',
      details: { updateId: paid.updateId, offset: paid.offset },
    });
    // Visibility: alice sees her change and the record, not bob's holding.
    const seen = await l.updates(alice, { afterOffset: minted.offset });
    expect(seen).toHaveLength(1);
    expect(
      seen[0]!.events.filter((e) => e.kind === 'created').map((e) => e.kind === 'created' && e.templateId),
    ).toEqual([TEMPLATES.holding, TEMPLATES.record]);
  });
});

describe('wallets', () => {
  it('never go negative, pay across several holdings, and pay a reference once', async () => {
    const { wallets } = ledger();
    await wallets.createWallet('alpha', '10');
    await wallets.createWallet('alpha', '10');
    await wallets.createWallet('beta');
    // A name without a wallet (a typo, an agent a model made up) is refused, not created.
    await expect(
      wallets.transfer({ from: 'alpha', to: 'btea', amount: '1', reason: '', reference: 'typo' }),
    ).rejects.toThrow('no wallet "btea"; the wallets are "alpha", "beta"');
    expect((await wallets.balance('alpha')).balance).toBe('10');
    await wallets.mint('alpha', '0.3', 'reward', 'reward-1');
    await wallets.mint('alpha', '0.3', 'reward', 'reward-1');
    expect(await wallets.balance('alpha')).toMatchObject({ balance: '10.3', holdings: 2 });
    // 10.2 needs both holdings: one transfer spends them and returns the change.
    const receipt = await wallets.transfer({
      from: 'alpha',
      to: 'beta',
      amount: '10.2',
      reason: 'work',
      reference: 'task-1',
    });
    expect(receipt).toMatchObject({
      from: 'alpha',
      to: 'beta',
      amount: '10.2',
      transferId: 'task-1',
      duplicate: false,
    });
    expect(await wallets.balance('alpha')).toMatchObject({ balance: '0.1', holdings: 1 });
    // A retry after a timeout or a crash returns the first receipt, even with no money left for a second payment.
    expect(
      await wallets.transfer({ from: 'alpha', to: 'beta', amount: '10.2', reason: 'work', reference: 'task-1' }),
    ).toEqual({ ...receipt, duplicate: true });
    // The same reference with other terms is a mistake, not a retry.
    await expect(
      wallets.transfer({ from: 'alpha', to: 'beta', amount: '3', reason: 'work', reference: 'task-1' }),
    ).rejects.toThrow('reference task-1 already paid 10.2 from alpha to beta');
    expect((await wallets.balance('beta')).balance).toBe('10.2');
    const broke = await (async () => {
      try {
        await wallets.transfer({ from: 'alpha', to: 'beta', amount: '0.2', reason: 'more', reference: 'task-2' });
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(broke).toBeInstanceOf(P2Error);
    expect((broke as P2Error).code).toBe('E_LEDGER_FUNDS');
    expect((broke as P2Error).message).toBe('alpha has 0.1, cannot pay 0.2');
    expect((await wallets.history('beta')).map((l) => [l.from, l.to, l.amount, l.transferId])).toEqual([
      ['alpha', 'beta', '10.2', 'task-1'],
    ]);
    expect(await wallets.metrics()).toMatchObject({
      payments: 1,
      volume: '10.2',
      issued: '10.3',
      escrowsOpen: 0,
      agents: [
        { agent: 'alpha', sent: '10.2', received: '0', payments: 1 },
        { agent: 'beta', sent: '0', received: '10.2', payments: 0 },
      ],
    });
  });

  it('escrow: locks the payer’s money, then the operator releases it to the payee or refunds it', async () => {
    const { wallets } = ledger();
    await wallets.createWallet('lead', '50');
    await wallets.createWallet('worker');
    const escrow = await wallets.openEscrow({ payer: 'lead', payee: 'worker', amount: '20', reference: 'job-1' });
    expect(escrow).toMatchObject({ payer: 'lead', payee: 'worker', amount: '20', reference: 'job-1' });
    expect(
      (await wallets.openEscrow({ payer: 'lead', payee: 'worker', amount: '20', reference: 'job-1' })).contractId,
    ).toBe(escrow.contractId);
    expect(await wallets.balance('lead')).toMatchObject({ balance: '30', locked: '20' });
    await wallets.settleEscrow('job-1', 'release');
    expect((await wallets.settleEscrow('job-1', 'release', 'lead')).duplicate).toBe(true);
    expect((await wallets.balance('worker')).balance).toBe('20');
    await wallets.openEscrow({ payer: 'lead', payee: 'worker', amount: '5', reference: 'job-2' });
    await wallets.settleEscrow('job-2', 'refund');
    expect(await wallets.balance('lead')).toMatchObject({ balance: '30', locked: '0' });
    // An escrow to oneself is refused as a transfer to oneself is: released, it would pay the agent its own money.
    await expect(wallets.openEscrow({ payer: 'lead', payee: 'lead', amount: '5', reference: 'job-3' })).rejects.toThrow(
      '"lead" cannot lock an escrow for itself',
    );
    expect(await wallets.balance('lead')).toMatchObject({ balance: '30', locked: '0' });
  });
});

describe('ledger tools', () => {
  it('an agent pays from its own wallet (never as someone else), once per call, and sees its balance', async () => {
    const t = await testEngine([
      {
        id: 'payer',
        description: 'Pays.',
        tools: ['transfer_funds', 'check_balance', 'transaction_history'],
        script: [
          {
            when: '.',
            steps: [
              // A model naming another payer: the argument is not part of the tool, the session's agent pays.
              { call: 'transfer_funds', args: { to: 'payee', amount: '2.5', reason: 'the report', from: 'rich' } },
              { call: 'transfer_funds', args: { to: 'payee', amount: 'lots' } },
              { call: 'check_balance' },
              { reply: 'balance: {{result}}' },
            ],
          },
        ],
      },
    ]);
    cleanups.push(() => t.close());
    const wallets = t.app.wallets;
    await wallets.createWallet('payer', '10');
    await wallets.createWallet('rich', '1000');
    await wallets.createWallet('payee');
    const run = t.engine.start({ agent: 'payer', message: 'pay the payee', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    expect((await wallets.balance('payer')).balance).toBe('7.5');
    expect((await wallets.balance('rich')).balance).toBe('1000');
    expect((await wallets.balance('payee')).balance).toBe('2.5');
    const results = t.engine.store.log
      .read(0, { session: run.id, kinds: ['tool_result'] }, 10)
      .map((e) => e.payload as { tool: string; status: string; output?: unknown; error?: string });
    expect(results[0]).toMatchObject({ tool: 'transfer_funds', status: 'ok', output: { paid: '2.5', to: 'payee' } });
    expect(results[1]).toMatchObject({ tool: 'transfer_funds', status: 'error' });
    expect(results[1]!.error).toContain("amount 'lots' is not a decimal");
    expect(results[2]).toMatchObject({
      tool: 'check_balance',
      status: 'ok',
      output: { agent: 'payer', balance: '7.5', locked: '0' },
    });
    // The payment's reference is the call's idempotency key: a recovery of the call finds it.
    const call = t.engine.store.log.read(0, { session: run.id, kinds: ['tool_call'] }, 10)[0]!.payload as {
      key: string;
    };
    expect((await wallets.history('payee'))[0]).toMatchObject({ from: 'payer', amount: '2.5', transferId: call.key });
  });
});

describe('spend policies', () => {
  it('refuse payments over the per-payment limit, the session budget, or the approval threshold unless the session approves', async () => {
    for (const approval of ['approve', 'deny'] as const) {
      const t = await testEngine([
        {
          id: 'payer',
          description: 'Pays.',
          tools: ['transfer_funds'],
          policies: { spend: { per_transfer: 5, per_session: '8', approval_above: 3 } },
          script: [
            {
              when: '.',
              steps: [6, 2.5, 4, 2]
                .map((n) => ({ call: 'transfer_funds', args: { to: 'payee', amount: String(n) } }))
                .concat([{ reply: 'done' }] as never[]),
            },
          ],
        },
      ]);
      cleanups.push(() => t.close());
      const wallets = t.app.wallets;
      await wallets.createWallet('payer', '100');
      await wallets.createWallet('payee');
      const run = t.engine.start({ agent: 'payer', message: 'pay', source: 'api', options: t.options({ approval }) });
      expect(await run.idle()).toBe('finished');
      const results = t.engine.store.log
        .read(0, { session: run.id, kinds: ['tool_result'] }, 10)
        .map((e) => e.payload as { status: string; error?: string });
      expect(results[0]!.error).toContain(
        'payer may pay at most 5 at once (policies.spend in personas/payer.yaml); 6 was refused',
      );
      expect(results[1]!.status).toBe('ok');
      if (approval === 'approve') {
        expect(results[2]!.status).toBe('ok');
        expect(results[3]!.error).toContain('payer has 1.5 left of its per-session budget of 8');
        expect((await wallets.balance('payer')).balance).toBe('93.5');
      } else {
        expect(results[2]!.error).toBe(
          "not run: the session's approval policy (deny) refused it: payer pays 4 to payee: above the approval threshold of 3 (policies.spend in personas/payer.yaml)",
        );
        expect(results[3]!.status).toBe('ok');
        expect((await wallets.balance('payer')).balance).toBe('95.5');
      }
    }
  });
});

describe('approvals', () => {
  const payer = (extra: Record<string, unknown> = {}) => ({
    id: 'payer',
    description: 'Pays.',
    tools: ['transfer_funds'],
    policies: { spend: { per_transfer: 50, approval_above: 3 } },
    script: [
      {
        when: '.',
        steps: [
          { call: 'transfer_funds', args: { to: 'payee', amount: '5' } },
          { call: 'transfer_funds', args: { to: 'payee', amount: '4' } },
          { call: 'transfer_funds', args: { to: 'payee', amount: '60' } },
          { reply: 'done' },
        ],
      },
    ],
    ...extra,
  });

  it('asks a person before a payment above the threshold, waits, pays on yes, refuses on no, and asks once across a restart', async () => {
    const t = await testEngine([payer()]);
    cleanups.push(() => t.close());
    const wallets = t.app.wallets;
    await wallets.createWallet('payer', '100');
    await wallets.createWallet('payee');
    const first = t.engine.start({
      agent: 'payer',
      message: 'pay',
      source: 'api',
      options: t.options({ approval: 'ask' }),
    });
    expect(await first.idle()).toBe('waiting');
    const [asked] = first.pendingQuestions();
    expect(asked?.question).toBe(
      'approve transfer_funds? payer pays 5 to payee: above the approval threshold of 3 (policies.spend in personas/payer.yaml) (yes/no)',
    );
    // Another terminal sees the same question (session show, session respond).
    expect(readSession(t.engine.store, first.id).questions).toEqual([
      expect.objectContaining({ callId: asked!.callId, question: asked!.question }),
    ]);
    expect((await wallets.balance('payee')).balance).toBe('0');
    // The process stops while it waits; a new one asks the same question again, without a second request.
    first.detach();
    const again = await t.engine.attach(first.id);
    expect(await again.idle()).toBe('waiting');
    expect(again.pendingQuestions().map((q) => q.callId)).toEqual([asked!.callId]);
    expect(t.engine.store.log.read(0, { session: first.id, types: ['approval.requested'] }, 10)).toHaveLength(1);
    await again.respond(asked!.callId, 'yes');
    expect(await again.idle()).toBe('waiting');
    const [second] = again.pendingQuestions();
    expect(second?.question).toContain('payer pays 4 to payee');
    await again.respond(second!.callId, 'no thanks');
    // 60 is over the per-payment limit: refused outright, nobody is asked about it.
    expect(await again.idle()).toBe('finished');
    const results = t.engine.store.log
      .read(0, { session: first.id, kinds: ['tool_result'] }, 10)
      .map((e) => e.payload as { status: string; error?: string });
    expect(results.map((r) => r.status)).toEqual(['ok', 'error', 'error']);
    expect(results[1]!.error).toBe(
      "not run: the user did not approve it (answered 'no thanks'): payer pays 4 to payee: above the approval threshold of 3 (policies.spend in personas/payer.yaml)",
    );
    expect(results[2]!.error).toContain('payer may pay at most 50 at once');
    expect((await wallets.balance('payee')).balance).toBe('5');
    const decided = t.engine.store.log
      .read(0, { session: first.id, types: ['approval.decided'] }, 10)
      .map((e) => e.type === 'approval.decided' && [e.payload.approved, e.payload.by]);
    expect(decided).toEqual([
      [true, 'user'],
      [false, 'user'],
    ]);
  });

  it('guards any tool a persona lists under approve_tools, and names an unknown one with its file and field', async () => {
    const t = await testEngine([payer({ policies: { approve_tools: ['transfer_funds'] } })]);
    cleanups.push(() => t.close());
    const wallets = t.app.wallets;
    await wallets.createWallet('payer', '100');
    await wallets.createWallet('payee');
    const run = t.engine.start({
      agent: 'payer',
      message: 'pay',
      source: 'api',
      options: t.options({ approval: 'deny' }),
    });
    expect(await run.idle()).toBe('finished');
    const results = t.engine.store.log
      .read(0, { session: run.id, kinds: ['tool_result'] }, 10)
      .map((e) => e.payload as { error?: string });
    expect(results.map((r) => r.error)).toEqual([
      'not run: the session\'s approval policy (deny) refused it: payer calls transfer_funds {"amount":"5","to":"payee"} (policies.approve_tools in personas/payer.yaml)',
      expect.stringContaining('payer calls transfer_funds'),
      expect.stringContaining('payer calls transfer_funds'),
    ]);
    expect((await wallets.balance('payer')).balance).toBe('100');
    // The persona is set aside as broken (the workspace's other agents would still run), and running it says why.
    const bad = await testEngine([payer({ policies: { approve_tools: ['send_email'] } })]);
    try {
      expect(() => bad.app.workspace.persona('payer')).toThrow(
        "policies.approve_tools[0]: 'send_email' is not one of this agent's tools (transfer_funds)",
      );
    } finally {
      bad.close();
    }
  });
});

describe('escrow settled by the judge', () => {
  it('pays the delegate when the judge scores its work at the threshold or more, and refunds the lead below it', async () => {
    const judge = {
      judge: { evaluators: [{ id: 'delivery', kind: 'assert', agents: ['w'], assert: [{ contains: 'done' }] }] },
      ledger: { escrow: { evaluator: 'delivery', threshold: 1 } },
    };
    for (const [reply, outcome] of [
      ['all done', 'release'],
      ['nope', 'refund'],
    ] as const) {
      const t = await testEngine(
        [
          {
            id: 'lead',
            description: 'Hires.',
            tools: ['open_escrow'],
            agents: ['w'],
            script: [
              {
                when: '.',
                steps: [
                  { call: 'open_escrow', args: { payee: 'w', amount: '5' } },
                  { delegate: 'w', message: 'work' },
                  { reply: 'ok' },
                ],
              },
            ],
          },
          { id: 'w', description: 'Works.', script: [{ when: '.', steps: [{ reply }] }] },
        ],
        { files: { 'p2tui.yaml': JSON.stringify(judge) } },
      );
      cleanups.push(() => t.close());
      const wallets = t.app.wallets;
      await wallets.createWallet('lead', '20');
      await wallets.createWallet('w');
      const run = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
      expect(await run.idle()).toBe('finished');
      await t.app.judge.drain(run.id);
      await t.app.arbiter.settled();
      const settled = t.engine.store.log
        .read(0, { session: run.id, types: ['escrow.settled'] }, 10)
        .map((e) => e.payload);
      expect(settled).toEqual([
        expect.objectContaining({ payee: 'w', amount: '5', outcome, evaluator: 'delivery', threshold: 1 }),
      ]);
      expect(await wallets.balance('lead')).toMatchObject(
        outcome === 'release' ? { balance: '15', locked: '0' } : { balance: '20', locked: '0' },
      );
      expect((await wallets.balance('w')).balance).toBe(outcome === 'release' ? '5' : '0');
      expect(await wallets.escrows()).toEqual([]);
    }
  });

  it('names ledger.escrow.evaluator when it is not an evaluator of the workspace', async () => {
    const ws = tempWorkspace({ 'p2tui.yaml': 'ledger:\n  escrow: { evaluator: nope, threshold: 0.5 }\n' });
    cleanups.push(() => ws.cleanup());
    const { loadWorkspace } = await import('../../src/app/workspace.ts');
    await expect(loadWorkspace(ws.dir)).rejects.toThrow(
      "p2tui.yaml: ledger.escrow.evaluator: no evaluator 'nope' under judge.evaluators",
    );
  });
});

describe('the audit chain', () => {
  it('names the first altered update, refuses writes from then on, and `ledger audit --verify` exits 1', () => {
    const ws = tempWorkspace();
    ws.persona({ id: 'alpha', description: 'A.', balance: 100 });
    ws.persona({ id: 'beta', description: 'B.', balance: 5 });
    cleanups.push(() => ws.cleanup());
    const db = join(ws.dir, 'p.db');
    const p2tui = (...args: string[]) =>
      spawnSync(process.execPath, [join(ROOT, 'src/cli/main.ts'), ...args, '--db', db], {
        cwd: ws.dir,
        encoding: 'utf8',
        env: childEnv(),
      });
    expect(p2tui('ledger', 'init').status).toBe(0);
    expect(p2tui('ledger', 'transfer', 'alpha', 'beta', '7.25', '--reference', 'r1').stdout).toContain(
      'alpha → beta 7.25 (reference r1',
    );
    expect(p2tui('ledger', 'transfer', 'alpha', 'beta', '1', '--reference', 'r2').status).toBe(0);
    // Without --verify: the head, and the updates since the last verdict checked.
    const quick = p2tui('ledger', 'audit');
    expect(quick.status).toBe(0);
    expect(quick.stdout).toMatch(/head: offset 4, hash [0-9a-f]{64} \(4 updates\)/);
    const ok = p2tui('ledger', 'audit', '--verify');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('chain ok: 4 updates, every link verified');
    // Someone edits the payment of r1 in the database by hand: 7.25 becomes 0.25.
    const row = withRawDb(db, (raw) => {
      const found = raw
        .prepare('SELECT "offset", events FROM ledger_updates WHERE command_id LIKE \'xfer:r1:%\'')
        .get() as { offset: number; events: string };
      raw
        .prepare('UPDATE ledger_updates SET events = ? WHERE "offset" = ?')
        .run(found.events.replaceAll('"7.25"', '"0.25"'), found.offset);
      return found;
    });
    const broken = p2tui('ledger', 'audit', '--verify');
    expect(broken.status).toBe(1);
    expect(broken.stdout).toContain(`chain BROKEN at offset ${row.offset}: update`);
    expect(broken.stdout).toContain('was altered after it was committed');
    const refused = p2tui('ledger', 'transfer', 'alpha', 'beta', '1', '--reference', 'r3');
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(
      `E_LEDGER_CHAIN: AUDIT_CHAIN_BROKEN: the ledger's audit chain is broken at offset ${row.offset}`,
    );
    expect(JSON.parse(p2tui('ledger', 'balance', 'beta', '--json').stdout)).toMatchObject({ balance: '13.25' });
  });

  it('refuses, at the next write of a new process, a balance edited, a spent holding made active again, or an accepted-command record removed; the audit names each', async () => {
    const unarchive =
      'UPDATE ledger_contracts SET archived_offset = NULL WHERE contract_id = (SELECT contract_id FROM ledger_spent LIMIT 1); ' +
      'INSERT INTO ledger_contract_parties (party, template_id, contract_id) SELECT p.value, c.template_id, c.contract_id FROM ledger_contracts c, json_each(c.observers) p WHERE c.contract_id = (SELECT contract_id FROM ledger_spent LIMIT 1)';
    const cases = [
      {
        tamper:
          'UPDATE ledger_contracts SET payload = replace(payload, \'"7"\', \'"1000"\') WHERE archived_offset IS NULL',
        act: (w: WalletService) => w.transfer({ from: 'a', to: 'b', amount: '5', reason: '', reference: 'after' }),
        audit: /contract 00\w+ differs from what update \d+ created \(edited by hand\)/,
      },
      {
        tamper: unarchive,
        act: (w: WalletService) => w.transfer({ from: 'a', to: 'b', amount: '8', reason: '', reference: 'after' }),
        audit: /contract 00\w+ differs from what update \d+ created or archived/,
      },
      {
        tamper: 'DELETE FROM ledger_completions WHERE "offset" = 1',
        act: (w: WalletService) => w.createWallet('a', '10'),
        audit: /accepted-command records do not match the updates/,
      },
    ];
    for (const c of cases) {
      const { store, ledger: l, wallets } = ledger();
      await wallets.createWallet('a', '10');
      await wallets.createWallet('b');
      await wallets.transfer({ from: 'a', to: 'b', amount: '3', reason: '', reference: 't1' });
      expect((await l.verifyChain()).ok).toBe(true);
      withRawDb(store.path, (raw) => raw.exec(c.tamper));
      // A new process, whose quick checks (not a full audit) refuse the write.
      await expect(c.act(new WalletService(new EmbeddedLedger(store)))).rejects.toThrow(/AUDIT_CHAIN_BROKEN/);
      const report = await new EmbeddedLedger(store).verifyChain();
      expect(report.ok).toBe(false);
      expect(report.reason).toMatch(c.audit);
    }
  });
});

describe('at scale', () => {
  it('a wallet that received many small payments is merged as it spends, and its balance stays exact', async () => {
    const { wallets } = ledger();
    await wallets.createWallet('payer', '100');
    await wallets.createWallet('hub');
    await wallets.createWallet('sink');
    for (let i = 0; i < 30; i++)
      await wallets.transfer({ from: 'payer', to: 'hub', amount: '0.5', reason: '', reference: `in-${i}` });
    expect(await wallets.balance('hub')).toMatchObject({ balance: '15', holdings: 30 });
    await wallets.transfer({ from: 'hub', to: 'sink', amount: '0.5', reason: '', reference: 'out-1' });
    // One holding spent, eight small ones merged into the change: 30 - 9 + 1.
    expect(await wallets.balance('hub')).toMatchObject({ balance: '14.5', holdings: 22 });
  });

  it('a database from before the stakeholder index gets it on opening, and it verifies', async () => {
    const made = tempStore();
    cleanups.push(made.cleanup);
    const wallets = new WalletService(new EmbeddedLedger(made.store));
    await wallets.createWallet('a', '10');
    await wallets.createWallet('b');
    await wallets.transfer({ from: 'a', to: 'b', amount: '4', reason: '', reference: 'r' });
    await wallets.openEscrow({ payer: 'a', payee: 'b', amount: '1', reference: 'e' });
    // As version 3 left it: no index tables, no audit verdicts.
    const path = made.store.path;
    made.store.close();
    withRawDb(path, (raw) =>
      raw.exec(
        'DROP TABLE ledger_update_parties; DROP TABLE ledger_contract_parties; DROP TABLE ledger_audits; DROP TABLE ledger_locks; DROP TABLE ledger_spent; DROP INDEX ledger_updates_command; DROP INDEX ledger_updates_workflow; DROP INDEX ledger_updates_time; DROP INDEX ledger_updates_submitter; DROP TABLE rollout_cells; DROP TABLE rollouts; DROP TABLE session_mcp_listings; DROP TABLE mcp_listings; ' +
          'ALTER TABLE leases DROP COLUMN fence; ALTER TABLE intents DROP COLUMN started_host; ' +
          'ALTER TABLE intents DROP COLUMN started_pid; ALTER TABLE intents DROP COLUMN started_fence; PRAGMA user_version = 3;',
      ),
    );
    const reopened = new Store({ path });
    cleanups.push(() => reopened.close());
    const again = new WalletService(new EmbeddedLedger(reopened));
    expect(await again.ledger.verifyChain!()).toMatchObject({ ok: true, entries: 3 });
    expect(await again.balance('a')).toMatchObject({ balance: '5', locked: '1' });
    expect((await again.history('b')).map((l) => l.amount)).toEqual(['4']);
  });
});

describe('properties', () => {
  type Op =
    | { kind: 'transfer'; from: number; to: number; cents: number; ref: number }
    | { kind: 'escrow'; from: number; to: number; cents: number; ref: number }
    | { kind: 'settle'; ref: number; release: boolean }
    | { kind: 'crash' };
  const agent = fc.integer({ min: 0, max: 2 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant('transfer' as const),
      from: agent,
      to: agent,
      cents: fc.integer({ min: 1, max: 3_000 }),
      ref: fc.integer({ min: 0, max: 11 }),
    }),
    fc.record({
      kind: fc.constant('escrow' as const),
      from: agent,
      to: agent,
      cents: fc.integer({ min: 1, max: 2_000 }),
      ref: fc.integer({ min: 0, max: 5 }),
    }),
    fc.record({ kind: fc.constant('settle' as const), ref: fc.integer({ min: 0, max: 5 }), release: fc.boolean() }),
    fc.constant({ kind: 'crash' as const }),
  );
  const names = ['a', 'b', 'c'];
  const cents = (n: number): string => decimal.canonical(`${Math.floor(n / 100)}.${String(n % 100).padStart(2, '0')}`);
  /** Refusals a caller must expect (no money, a reference reused with other terms, paying oneself, nothing to settle). */
  const expected = (error: unknown): boolean =>
    error instanceof P2Error && ['E_LEDGER_FUNDS', 'E_USAGE', 'E_SESSION_STATE'].includes(error.code);

  it('under random concurrent transfers, escrows, retries and restarts: supply is conserved, no balance is negative, each reference pays once, and the chain verifies; an altered row is named', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 40 }), fc.nat(), async (ops, pick) => {
        const { store } = ledger();
        let wallets = new WalletService(new EmbeddedLedger(store));
        for (const n of names) await wallets.createWallet(n, '50');
        // Four at a time: their reads and writes interleave like concurrent tool calls do.
        for (let i = 0; i < ops.length; i += 4) {
          const batch = ops.slice(i, i + 4);
          if (batch.some((o) => o.kind === 'crash')) wallets = new WalletService(new EmbeddedLedger(store));
          const w = wallets;
          await Promise.all(
            batch.map(async (o) => {
              try {
                if (o.kind === 'transfer')
                  await w.transfer({
                    from: names[o.from]!,
                    to: names[o.to]!,
                    amount: cents(o.cents),
                    reason: 'p',
                    reference: `t${o.ref}`,
                  });
                if (o.kind === 'escrow')
                  await w.openEscrow({
                    payer: names[o.from]!,
                    payee: names[(o.from + 1 + (o.to % 2)) % 3]!,
                    amount: cents(o.cents),
                    reference: `e${o.ref}`,
                  });
                if (o.kind === 'settle') await w.settleEscrow(`e${o.ref}`, o.release ? 'release' : 'refund');
              } catch (error) {
                if (!expected(error)) throw error;
              }
            }),
          );
        }
        const fresh = new WalletService(new EmbeddedLedger(store));
        const views = await Promise.all(names.map((n) => fresh.balance(n)));
        for (const v of views) expect(decimal.cmp(v.balance, '0')).toBeGreaterThanOrEqual(0);
        const escrowed = decimal.sum((await fresh.escrows()).map((e) => e.amount));
        expect(decimal.add(decimal.sum(views.map((v) => v.balance)), escrowed)).toBe('150');
        // Each reference paid at most once per payer, whatever the retries and races.
        const paid = new Map<string, number>();
        for (const tx of await fresh.ledger.updates('*', { limit: 100_000 })) {
          for (const e of tx.events) {
            if (
              e.kind !== 'created' ||
              e.templateId !== TEMPLATES.record ||
              e.payload['sender'] === (await fresh.operator())
            )
              continue;
            const k = `${String(e.payload['sender'])}:${String(e.payload['transferId'])}`;
            paid.set(k, (paid.get(k) ?? 0) + 1);
          }
        }
        for (const [k, n] of paid) expect(n, k).toBe(1);
        const report = await fresh.ledger.verifyChain!();
        expect(report).toMatchObject({ ok: true, entries: await fresh.ledger.ledgerEnd() });
        // Any altered update is found, and named.
        const offset = 1 + (pick % report.entries);
        withRawDb(store.path, (raw) => {
          raw
            .prepare('UPDATE ledger_updates SET events = replace(events, \'"p2tui\', \'"x2tui\') WHERE "offset" = ?')
            .run(offset);
          raw
            .prepare("UPDATE ledger_updates SET workflow_id = coalesce(workflow_id, '') || '!' WHERE \"offset\" = ?")
            .run(offset);
        });
        expect(await new EmbeddedLedger(store).verifyChain()).toMatchObject({ ok: false, firstBad: offset });
      }),
      { numRuns: 25 },
    );
  }, 120_000);
});

describe('several processes', () => {
  it('two processes paying from one wallet at once never overdraw it, and the chain stays whole', async () => {
    const { store, wallets } = ledger();
    await wallets.createWallet('payer', '40');
    await wallets.createWallet('payee');
    const path = store.path;
    const run = (tag: string) =>
      new Promise<{ paid: number; refused: number }>((resolve, reject) => {
        const child = spawn(process.execPath, [join(ROOT, 'test/fixtures/ledger-payer.ts'), path, tag, '30'], {
          env: childEnv(),
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code) =>
          code === 0
            ? resolve(JSON.parse(out) as { paid: number; refused: number })
            : reject(new Error(`payer ${tag} exited ${code}: ${err}`)),
        );
      });
    const [a, b] = await Promise.all([run('a'), run('b')]);
    expect(a.paid + b.paid).toBe(40);
    expect(a.refused + b.refused).toBe(20);
    expect((await wallets.balance('payer')).balance).toBe('0');
    expect((await wallets.balance('payee')).balance).toBe('40');
    expect(await wallets.ledger.verifyChain!()).toMatchObject({ ok: true, entries: 1 + 40 });
  }, 60_000);

  it('a process killed in the middle of its payments loses nothing, and its retry pays each reference once', async () => {
    const { store, wallets } = ledger();
    await wallets.createWallet('payer', '1000');
    await wallets.createWallet('payee');
    const path = store.path;
    const script = join(ROOT, 'test/fixtures/ledger-payer.ts');
    // Killed (SIGKILL: no cleanup) a moment after it starts paying, mid-transaction or between two.
    for (const delayMs of [40, 120]) {
      const child = spawn(process.execPath, [script, path, 'job', '400'], { env: childEnv() });
      await new Promise<void>((resolve) => child.stderr.once('data', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    const before = decimal.canonical((await wallets.balance('payee')).balance);
    expect(decimal.cmp(before, '400')).toBeLessThanOrEqual(0);
    // The retry: the same references again, to completion.
    const retry = spawnSync(process.execPath, [script, path, 'job', '400'], { env: childEnv(), encoding: 'utf8' });
    expect(retry.status).toBe(0);
    const out = JSON.parse(retry.stdout) as { paid: number; refused: number; duplicates: number };
    expect(out.duplicates).toBe(Number(before));
    expect(out.paid + out.duplicates).toBe(400);
    expect((await wallets.balance('payee')).balance).toBe('400');
    expect((await wallets.balance('payer')).balance).toBe('600');
    expect(await wallets.ledger.verifyChain!()).toMatchObject({ ok: true, entries: 1 + 400 });
  }, 60_000);
});
