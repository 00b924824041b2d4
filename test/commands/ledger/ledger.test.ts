import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ledgerAuditCommand } from '../../../src/commands/ledger/audit.ts';
import {
  ledgerBalanceCommand,
  ledgerHistoryCommand,
  ledgerInitCommand,
  ledgerTransferCommand,
} from '../../../src/commands/ledger/wallets.ts';
import { tempWorkspace } from '../../helpers/workspace.ts';
import { commandContext, type TestContext } from '../helpers.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Three agents: two with a starting balance in their persona, one without. */
function wallets(): TestContext {
  const ws = tempWorkspace();
  ws.persona({ id: 'alpha', description: 'A.', balance: 100 });
  ws.persona({ id: 'beta', description: 'B.', balance: 5 });
  ws.persona({ id: 'gamma', description: 'C.' });
  cleanups.push(() => ws.cleanup());
  const ctx = commandContext(ws.dir, { dbPath: join(ws.dir, 'p.db') });
  cleanups.push(() => ctx.close());
  return ctx;
}

describe('ledger init, transfer and balance', () => {
  it("funds every agent once (the persona's balance, else --balance), pays exactly, and shows the balances", async () => {
    const ctx = wallets();
    const init = await ctx.run(ledgerInitCommand, ['--balance', '3.50']);
    expect(init.exitCode).toBe(0);
    expect(init.lines.slice(1, 4).map((l) => l.split(/\s+/).slice(0, 2))).toEqual([
      ['alpha', '100'],
      ['beta', '5'],
      ['gamma', '3.5'],
    ]);
    expect(init.lines.at(-1)).toBe('Running init again adds nothing: each initial balance is paid once.');
    // Idempotent: a second init pays nothing more.
    expect((await ctx.run(ledgerInitCommand, ['--json'])).json).toMatchObject([
      { agent: 'alpha', balance: '100' },
      { agent: 'beta', balance: '5' },
      { agent: 'gamma', balance: '3.5' },
    ]);

    const paid = await ctx.run(ledgerTransferCommand, [
      'alpha',
      'beta',
      '7.25',
      '--reference',
      'r1',
      '--reason',
      'work',
    ]);
    expect(paid.exitCode).toBe(0);
    expect(paid.lines).toHaveLength(1);
    expect(paid.lines[0]).toMatch(/^alpha → beta 7\.25 \(reference r1, offset \d+, update [0-9a-f]{16}…\)$/);
    // The same reference again is the same payment: nothing moves.
    const again = await ctx.run(ledgerTransferCommand, [
      'alpha',
      'beta',
      '7.25',
      '--reference',
      'r1',
      '--reason',
      'work',
    ]);
    expect(again.lines[0]).toMatch(/^already paid: alpha → beta 7\.25 for r1 \(offset \d+\); nothing moved now$/);

    const all = await ctx.run(ledgerBalanceCommand);
    expect(all.exitCode).toBe(0);
    expect(all.lines.slice(1).map((l) => l.trim().split(/\s+/))).toEqual([
      ['alpha', '92.75'],
      ['beta', '12.25'],
      ['gamma', '3.5'],
    ]);
    expect((await ctx.run(ledgerBalanceCommand, ['beta', '--json'])).json).toMatchObject({
      agent: 'beta',
      balance: '12.25',
      locked: '0',
    });
    const history = await ctx.run(ledgerHistoryCommand, ['beta', '--json']);
    // Newest first: the payment, then the initial balance the operator paid.
    expect(history.json).toMatchObject([
      { from: 'alpha', to: 'beta', amount: '7.25', reason: 'work', transferId: 'r1' },
      { from: 'operator', to: 'beta', amount: '5', reason: 'initial balance' },
    ]);
    expect((await ctx.run(ledgerAuditCommand, ['--verify'])).lines).toEqual([
      expect.stringMatching(/^mode: keyed: HMAC-SHA256 with the key from .*\.ledger-key \(key id [0-9a-f]{16}\)$/),
      'chain ok: 4 updates, every link verified',
    ]);
  });

  it('refuses an overdraft with its code and message, and moves nothing', async () => {
    const ctx = wallets();
    await ctx.run(ledgerInitCommand);
    await expect(ctx.run(ledgerTransferCommand, ['beta', 'alpha', '5.01', '--reference', 'big'])).rejects.toMatchObject(
      {
        code: 'E_LEDGER_FUNDS',
        message: 'beta has 5, cannot pay 5.01',
      },
    );
    expect((await ctx.run(ledgerBalanceCommand, ['--json'])).json).toMatchObject([
      { agent: 'alpha', balance: '100' },
      { agent: 'beta', balance: '5' },
      { agent: 'gamma', balance: '0' },
    ]);
    const history = await ctx.run(ledgerHistoryCommand, ['beta']);
    expect(history.lines).toHaveLength(2);
    expect(history.lines[1]).toMatch(/← operator\s+\+5\s+initial balance\s+init:beta$/);
    // A count of payments is a whole number from 1: the declaration says so, before any wallet is read.
    await expect(ctx.run(ledgerHistoryCommand, ['beta', '--limit', '0'])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: '--limit must be at least 1, got 0',
    });
  });

  it('refuses a negative --balance for ledger init (usage error), opening no wallet', async () => {
    const ctx = wallets();
    await expect(ctx.run(ledgerInitCommand, ['--balance=-5'])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: '--balance must be 0 or more, got -5',
    });
    expect((await ctx.run(ledgerBalanceCommand, ['--json'])).json).toEqual([]);
  });
});
