import { afterEach, describe, expect, it } from 'vitest';
import { scratchScope } from '../../src/core/scratch-scope.ts';
import { testEngine, type TestEngine } from '../helpers/workspace.ts';

let t: TestEngine | undefined;
afterEach(() => t?.close());

/**
 * A dry-run branch's escrow (open_escrow's simulate) is opened in the branch's scratch copy of the wallets, and the
 * judge settles it there: the real wallets, the real overview and the money issued never see it.
 */
describe('escrows on a dry-run branch', () => {
  it('are opened and settled by the judge in the scratch copy, seeded with the real balances', async () => {
    const yaml = {
      effects: 'dry-run',
      judge: { evaluators: [{ id: 'delivery', kind: 'assert', agents: ['w'], assert: [{ contains: 'done' }] }] },
      ledger: { escrow: { evaluator: 'delivery', threshold: 1 } },
    };
    t = await testEngine(
      [
        {
          id: 'lead',
          description: 'Hires.',
          tools: ['open_escrow', 'check_balance'],
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
        { id: 'w', description: 'Works.', script: [{ when: '.', steps: [{ reply: 'all done' }] }] },
      ],
      { files: { 'p2tui.yaml': JSON.stringify(yaml) } },
    );
    const wallets = t.app.wallets;
    await wallets.createWallet('lead', '20');
    await wallets.createWallet('w');
    const before = await wallets.overview();
    const run = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    await t.app.judge.drain(run.id);
    await t.app.arbiter.settled();

    const settled = t.engine.store.log
      .read(0, { session: run.id, types: ['escrow.settled'] }, 10)
      .map((e) => e.payload);
    expect(settled).toEqual([expect.objectContaining({ payee: 'w', amount: '5', outcome: 'release' })]);
    const branch = t.engine.store.sessions.resolve(run.id).headBranch;
    const scratch = wallets.scoped(scratchScope(undefined, branch));
    expect(await scratch.balance('lead')).toMatchObject({ balance: '15', locked: '0' });
    expect((await scratch.balance('w')).balance).toBe('5');
    // The real wallets: as they were, no escrow, the same money issued.
    const after = await wallets.overview();
    expect(after.wallets.map((w) => [w.agent, w.balance, w.locked])).toEqual([
      ['lead', '20', '0'],
      ['w', '0', '0'],
    ]);
    expect([after.issued, after.escrowed]).toEqual([before.issued, before.escrowed]);
    expect(await wallets.escrows(undefined, 'own')).toEqual([]);
  });
});

describe("a dry-run branch's scratch copy and the money issued", () => {
  it('its escrows do not count against the real scope when the real scope issues money (Numeric 10)', async () => {
    t = await testEngine([
      { id: 'lead', description: 'Hires.' },
      { id: 'w', description: 'Works.' },
    ]);
    const wallets = t.app.wallets;
    // 28 digits less 10: the real scope may still issue 10.
    const almost = '9999999999999999999999999989';
    await wallets.createWallet('lead', almost);
    await wallets.createWallet('w');
    const scratch = wallets.scoped(scratchScope(undefined, 'b_test'));
    await scratch.seedFrom(wallets);
    expect((await scratch.balance('lead')).balance).toBe(almost);
    await scratch.openEscrow({ payer: 'lead', payee: 'w', amount: almost, reference: 's:w:k' });
    // Seeding again changes nothing: the lead's scratch money is in escrow, not issued twice.
    await scratch.seedFrom(wallets);
    expect(await scratch.balance('lead')).toMatchObject({ balance: '0', locked: almost });
    const reward = await wallets.mint('w', '5', 'a reward', 'r1');
    expect(reward.amount).toBe('5');
    expect((await wallets.overview()).issued).toBe('9999999999999999999999999994');
  });
});
