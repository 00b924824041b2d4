import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../../helpers/cli.ts';
import { tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';

/**
 * `ledger audit --since <time> --type <kind>` (issue 19, §2): as in P2Engine it lists the ledger's events (wallets
 * created, transfers, …), filtered by time and kind, and it still checks the audit chain, saying so.
 */
let ws: TempWorkspace;
/** When the transfer was recorded (the first test reads it). */
let transferAt = '';
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

type Event = { offset: number; at: string; kind: string; from: string; to: string; amount: string; reason: string };

beforeAll(async () => {
  ws = tempWorkspace();
  // A payment, a reward and an escrow (refunded by hand below): every kind of event but a release.
  ws.persona({
    id: 'payer',
    description: 'Pays for reports.',
    tools: ['transfer_funds', 'reward_agent', 'open_escrow'],
    balance: 100,
    script: [
      {
        when: '.',
        steps: [
          { call: 'transfer_funds', args: { to: 'writer', amount: '15', reason: 'the report' } },
          { call: 'reward_agent', args: { to: 'writer', amount: '2', reason: 'well done' } },
          { call: 'open_escrow', args: { payee: 'writer', amount: '3' } },
          { reply: 'Paid.' },
        ],
      },
    ],
  });
  ws.persona({ id: 'writer', description: 'Writes reports.' });
  expect((await p2tui('ledger', 'init')).code).toBe(0);
  const run = await p2tui('run', 'payer', 'pay the writer', '--approval', 'approve');
  expect(run.code, run.stderr).toBe(0);
  const overview = JSON.parse((await p2tui('ledger', 'overview', '--json')).stdout) as {
    escrows: { reference: string }[];
  };
  expect((await p2tui('ledger', 'escrow', 'refund', overview.escrows[0]!.reference)).code).toBe(0);
}, 20_000);
afterAll(() => ws.cleanup());

describe('ledger audit lists the ledger’s events', () => {
  it('every event, oldest first, then the chain check (said to be one); --json has both', async () => {
    const [text, json] = await Promise.all([p2tui('ledger', 'audit'), p2tui('ledger', 'audit', '--json')]);
    expect(text.code, text.stderr).toBe(0);
    const rows = text.stdout.split('\n');
    expect(rows[0]).toBe('ledger events:');
    expect(rows[1]).toMatch(/^offset +at \(UTC\) +kind +from +to +amount +reason +reference$/);
    expect(rows[2]).toMatch(/^1 +\S+ \S+ +wallet_created +operator +payer +100 +initial balance +init:payer$/);
    expect(rows[3]).toMatch(/^2 +\S+ \S+ +transfer +payer +writer +15 +the report +\S+$/);
    expect(rows[4]).toMatch(/^3 +\S+ \S+ +reward +operator +writer +2 +well done +\S+$/);
    expect(rows[5]).toMatch(
      /^4 +\S+ \S+ +escrow_opened +payer +escrow for writer +3 +escrow locked +s_\S+:writer:\S+$/,
    );
    expect(rows[6]).toMatch(
      /^5 +\S+ \S+ +escrow_refunded +escrow +payer +3 +escrow refund +escrow refund:s_\S+:writer:\S+$/,
    );
    expect(rows[7]).toBe('audit chain (checked as well):');
    expect(text.stdout).toContain('chain ok since the last full verification');
    const report = JSON.parse(json.stdout) as { ok: boolean; events: Event[] };
    transferAt = report.events[1]!.at;
    expect(report.ok).toBe(true);
    expect(report.events.map((e) => `${e.kind} ${e.from}→${e.to} ${e.amount}`)).toEqual([
      'wallet_created operator→payer 100',
      'transfer payer→writer 15',
      'reward operator→writer 2',
      'escrow_opened payer→escrow for writer 3',
      'escrow_refunded escrow→payer 3',
    ]);
  }, 30_000);

  it('--type filters by kind (P2Engine’s transfer_executed too); --since by time, ISO or ago', async () => {
    const [byKind, p2engine, sinceIso, future] = await Promise.all([
      p2tui('ledger', 'audit', '--type', 'wallet_created', '--type', 'escrow_refunded', '--json'),
      p2tui('ledger', 'audit', '--type', 'transfer_executed,reward', '--since', '1h'),
      p2tui('ledger', 'audit', '--since', transferAt, '--json'),
      p2tui('ledger', 'audit', '--since', '2999-01-01'),
    ]);
    expect((JSON.parse(byKind.stdout) as { events: Event[] }).events.map((e) => e.kind)).toEqual([
      'wallet_created',
      'escrow_refunded',
    ]);
    expect(p2engine.code, p2engine.stderr).toBe(0);
    expect(p2engine.stdout).toMatch(/^ledger events of kind transfer, reward since \S+ \S+ UTC:$/m);
    expect(p2engine.stdout).toMatch(/^2 .* transfer /m);
    expect(p2engine.stdout).toMatch(/^3 .* reward /m);
    expect(p2engine.stdout).not.toMatch(/wallet_created|escrow_/);
    expect((JSON.parse(sinceIso.stdout) as { events: Event[] }).events.map((e) => e.offset)).toEqual([2, 3, 4, 5]);
    expect(future.code).toBe(0);
    expect(future.stdout).toContain(
      'ledger events since 2999-01-01 00:00:00 UTC:\n  none\naudit chain (checked as well):',
    );
  }, 30_000);

  it('a bad time or an unknown kind is a usage error (exit 2) naming the value, with a suggestion', async () => {
    const [time, kind] = await Promise.all([
      p2tui('ledger', 'audit', '--since', 'yesterday'),
      p2tui('ledger', 'audit', '--type', 'transfr'),
    ]);
    expect(time.code).toBe(2);
    expect(time.stderr).toContain("E_USAGE: --since 'yesterday' is neither an ISO time nor a time ago");
    expect(kind.code).toBe(2);
    expect(kind.stderr).toContain("E_USAGE: --type 'transfr' is not a kind of ledger event");
    expect(kind.stderr).toContain("Did you mean 'transfer'?");
  }, 30_000);
});
