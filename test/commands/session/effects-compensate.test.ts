import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';
import { cliIn, deskWorkspace } from '../../helpers/effects-desk.ts';

/**
 * Effects on branches (issue 17, point 2), the other half of effects.test.ts: `--effects ask` on a fork, and
 * `session compensate` of the built-in ledger tools.
 */
let ws: TempWorkspace | undefined;
const { p2tui, ok, keys, wallets } = cliIn(() => ws!);
afterEach(() => ws?.cleanup());

describe('session fork --effects ask', () => {
  it('puts every effectful call before a person; the deny policy refuses it, the reason names the policy', async () => {
    ws = deskWorkspace();
    await ok('ledger', 'init');
    await ok('run', 'payer', 'pay and save', '--approval', 'approve');
    rmSync(join(ws.dir, 'report.md'));
    const paid = await wallets();

    await ok('session', 'fork', 'last', '--step', '0', '--effects', 'ask', '--checkout');
    const waiting = await p2tui('session', 'resume', 'last', '--approval', 'ask');
    expect(waiting.code).toBe(4);
    expect(waiting.stdout).toContain(
      'payer asks: approve transfer_funds? payer calls transfer_funds {"amount":"15","reason":"the report","to":"writer"} (effects: ask on this branch)',
    );
    expect(await wallets()).toEqual(paid);
    // A person's yes, from another process, lets that one call run: the payment is made again on this branch.
    const answered = await p2tui('session', 'respond', 'last', 'yes');
    expect([0, 4], answered.stderr).toContain(answered.code);
    const after = await wallets();
    const balanceOf = (w: typeof paid, agent: string): number =>
      Number(w.wallets.find((x) => x.agent === agent)!.balance);
    expect(balanceOf(after, 'writer')).toBe(balanceOf(paid, 'writer') + 15);

    await ok('session', 'fork', 'last', '--step', '0', '--effects', 'ask', '--checkout');
    const denied = await ok('session', 'resume', 'last', '--approval', 'deny');
    expect(denied.stdout).toContain(
      "← save_report (error) not run: the session's approval policy (deny) refused it: payer calls save_report",
    );
    expect(await wallets()).toEqual(after);
    expect(existsSync(join(ws.dir, 'report.md'))).toBe(false);
  }, 40_000);
});

describe('session compensate of the built-in ledger tools', () => {
  function ledgerWorkspace(steps: object[]): TempWorkspace {
    const w = tempWorkspace();
    w.persona({
      id: 'payer',
      description: 'Pays.',
      tools: ['transfer_funds', 'open_escrow', 'reward_agent'],
      balance: 100,
      script: [{ when: '.', steps: [...steps, { reply: 'done' }] }],
    });
    w.persona({ id: 'writer', description: 'Writes.', balance: 0 });
    w.persona({ id: 'other', description: 'Someone else.', balance: 0 });
    return w;
  }

  it('pays a transfer back and refunds an open escrow, restoring the balances; a rewind offers both', async () => {
    ws = ledgerWorkspace([
      { call: 'transfer_funds', args: { to: 'writer', amount: '15', reason: 'the report' } },
      { call: 'open_escrow', args: { payee: 'writer', amount: '10' } },
    ]);
    await ok('ledger', 'init');
    const start = await wallets();
    const run = await ok('run', 'payer', 'pay', '--approval', 'approve', '--json');
    const session = (JSON.parse(run.stdout) as { session: string }).session;
    expect((await wallets()).wallets.filter((w) => w.agent !== 'other')).toEqual([
      { agent: 'payer', balance: '75', locked: '10' },
      { agent: 'writer', balance: '15', locked: '0' },
    ]);
    const k = await keys(session);
    const rewind = await ok('session', 'rewind', session, '0', '--json');
    const offered = (JSON.parse(rewind.stdout) as { effects: { tool: string; compensable: boolean }[] }).effects;
    expect(offered.map((e) => [e.tool, e.compensable])).toEqual([
      ['transfer_funds', true],
      ['open_escrow', true],
    ]);
    const back = await ok('session', 'compensate', session, k['transfer_funds']!, '--json');
    expect(JSON.parse(back.stdout)).toMatchObject({
      status: 'ok',
      output: { paidBack: '15', from: 'writer', to: 'payer' },
    });
    const refund = await ok('session', 'compensate', session, k['open_escrow']!, '--json');
    expect(JSON.parse(refund.stdout)).toMatchObject({ status: 'ok', output: { refunded: '10', to: 'payer' } });
    expect(await wallets()).toEqual(start);
  }, 30_000);

  it('says plainly when it cannot: the payee spent the money; a reward is new money', async () => {
    ws = ledgerWorkspace([
      { call: 'transfer_funds', args: { to: 'writer', amount: '15', reason: 'the report' } },
      { call: 'reward_agent', args: { to: 'writer', amount: '5', reason: 'well done' } },
    ]);
    await ok('ledger', 'init');
    const run = await ok('run', 'payer', 'pay', '--approval', 'approve', '--json');
    const session = (JSON.parse(run.stdout) as { session: string }).session;
    const k = await keys(session);
    // The writer passes the 20 it got on: it no longer holds the 15 to pay back.
    await ok('ledger', 'transfer', 'writer', 'other', '20');
    const back = await p2tui('session', 'compensate', session, k['transfer_funds']!, '--json');
    expect(back.code).toBe(1);
    expect(JSON.parse(back.stdout)).toMatchObject({
      status: 'error',
      error: '"writer" no longer holds the 15 it was paid (it holds 0): the payment was not paid back',
    });
    const reward = await p2tui('session', 'compensate', session, k['reward_agent']!);
    expect(reward.code).toBe(1);
    expect(reward.stderr).toContain(
      'E_SESSION_STATE: reward_agent is not compensable: it issued new money to the agent, and p2tui does not take a reward back',
    );
    expect(reward.stderr).not.toContain('defineTool');
  }, 30_000);
});
