import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../../helpers/cli.ts';
import { payerOfWriter, tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';

let ws: TempWorkspace;
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

beforeAll(() => {
  ws = tempWorkspace();
  payerOfWriter(ws, 'Paid.');
});
afterAll(() => ws.cleanup());

/** What `ledger history` printed, with the times (which change from run to run) as AT. */
const shown = (r: CliResult): string[] =>
  r.stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/, 'AT                 '));

describe('ledger history', () => {
  it('names the session and the branch each payment was made on', async () => {
    expect((await p2tui('ledger', 'init')).code).toBe(0);
    const run = await p2tui('run', 'payer', 'pay the writer', '--approval', 'approve', '--json');
    expect(run.code, run.stderr).toBe(0);
    const session = (JSON.parse(run.stdout) as { session: string }).session;
    // A fork before the payment, run on: the payment is made again, on the new branch.
    const fork = await p2tui('session', 'fork', session, '--step', '0', '--label', 'again', '--checkout');
    expect(fork.code, fork.stderr).toBe(0);
    const resumed = await p2tui('session', 'resume', session, '--approval', 'approve');
    expect(resumed.code, resumed.stderr).toBe(0);

    const history = await p2tui('ledger', 'history', 'payer');
    expect(history.code, history.stderr).toBe(0);
    const lines = shown(history);
    expect(lines.map((l) => l.replace(/e_\w+$/, 'KEY'))).toEqual([
      'offset  at (UTC)             with        amount  session     branch  reason           reference',
      `3       AT                   → writer    -15     ${session}  again   the report       KEY`,
      `2       AT                   → writer    -15     ${session}  main    the report       KEY`,
      '1       AT                   ← operator  +100                        initial balance  init:payer',
    ]);
    const json = await p2tui('ledger', 'history', 'payer', '--json');
    const rows = JSON.parse(json.stdout) as { session: string | null; branchLabel: string | null }[];
    expect(rows.map((r) => [r.session, r.branchLabel])).toEqual([
      [session, 'again'],
      [session, 'main'],
      [null, null],
    ]);
  }, 20_000);
});
