import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { childEnv } from '../../helpers/child-env.ts';
import { MAIN } from '../../helpers/cli.ts';
import { until } from '../../helpers/manual-clock.ts';
import { tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';
import { cliIn, deskWorkspace, type DeskEntry } from '../../helpers/effects-desk.ts';

/**
 * Effects on branches (issue 17, point 2), as a user drives them from the CLI: p2tui.yaml's `effects:`, `--effects`
 * on `session fork` and `session rewind`, what a dry run, `ask` and `ctx.prior` do, and `session compensate` of the
 * built-in ledger tools.
 */
let ws: TempWorkspace | undefined;
const { p2tui, ok, entries, keys, wallets } = cliIn(() => ws!);
afterEach(() => ws?.cleanup());

/** The tool results on the session's checked-out branch, in order. */
async function toolResults(session: string): Promise<DeskEntry[]> {
  return (await entries(session)).filter((e) => e.kind === 'tool_result');
}

describe('effects in p2tui.yaml', () => {
  it('is stored with every new session (live by default); a bad value is a config error naming the field', async () => {
    ws = tempWorkspace();
    ws.persona({ id: 'a', description: 'A.', script: [{ when: '.', steps: [{ reply: 'hi' }] }] });
    const options = async (): Promise<unknown> => {
      await ok('run', 'a', 'hello', '--json');
      const show = await ok('session', 'show', 'last', '--json');
      return (JSON.parse(show.stdout) as { options: { effects?: string } }).options.effects;
    };
    expect(await options()).toBe('live');
    ws.write('p2tui.yaml', 'effects: dry-run\n');
    expect(await options()).toBe('dry-run');
    ws.write('p2tui.yaml', 'effects: maybe\n');
    const bad = await p2tui('run', 'a', 'hello');
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('E_CONFIG');
    expect(bad.stderr).toContain('effects: Invalid option: expected one of "live"|"dry-run"|"ask"');
  }, 20_000);

  it('a session that starts as a dry run pays in a scratch copy seeded with the real balances and writes no file', async () => {
    ws = deskWorkspace('effects: dry-run\n');
    await ok('ledger', 'init');
    const before = await wallets();
    const run = await ok('run', 'payer', 'pay and save', '--approval', 'approve', '--json');
    const session = (JSON.parse(run.stdout) as { session: string }).session;
    expect(await wallets()).toEqual(before);
    expect(existsSync(join(ws.dir, 'report.md'))).toBe(false);
    const results = await toolResults(session);
    expect(results.map((r) => [r.tool, r.status, r.simulated ?? false])).toEqual([
      ['check_balance', 'ok', false],
      ['transfer_funds', 'ok', true],
      ['save_report', 'skipped', true],
      ['notify', 'ok', true],
      ['check_balance', 'ok', false],
    ]);
    expect(results[0]!.output).toEqual({ agent: 'payer', balance: '100', locked: '0' });
    expect(results[4]!.output).toEqual({ agent: 'payer', balance: '85', locked: '0' });
  }, 30_000);
});

describe('a dry run recorded', () => {
  it('is replayed: its simulated and skipped results are served back, nothing runs', async () => {
    ws = deskWorkspace('effects: dry-run\n');
    const run = await ok('run', 'saver', 'save it', '--json');
    const session = (JSON.parse(run.stdout) as { session: string }).session;
    const replay = await p2tui('session', 'replay', session);
    expect(replay.code, replay.stdout + replay.stderr).toBe(0);
    expect(replay.stdout).toContain('← save_report (skipped, simulated) E_DRY_RUN');
    const replayed = JSON.parse((await ok('session', 'show', 'last', '--json')).stdout) as { session: string };
    expect(replayed.session).not.toBe(session);
    expect((await toolResults(replayed.session)).map((r) => [r.tool, r.status, r.simulated])).toEqual([
      ['save_report', 'skipped', true],
      ['notify', 'ok', true],
    ]);
    expect(existsSync(join(ws.dir, 'report.md'))).toBe(false);
  }, 30_000);
});

describe('a dry run killed mid-call', () => {
  it('simulates the call again on resume: no real effect, one simulated result', async () => {
    ws = tempWorkspace({
      'p2tui.yaml': 'effects: dry-run\n',
      'tools/slow.ts': `import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineTool, z } from 'p2tui';

export const publish = defineTool({
  name: 'publish', description: 'Publishes.', effect: 'effectful', input: z.object({}),
  run(_args, ctx) { writeFileSync(join(ctx.workspace, 'published'), 'yes'); return { published: true }; },
  async simulate(_args, ctx) {
    const log = join(ctx.workspace, 'simulations.log');
    // The first simulation is the one killed mid-call: it outlasts the kill however slow the machine (a fixed 1.5 s
    // could end before a loaded test process sent SIGKILL).
    const first = !existsSync(log);
    appendFileSync(log, process.pid + '\\n');
    await new Promise((r) => setTimeout(r, first ? 60000 : 100));
    return { wouldPublish: true };
  },
});
`,
    });
    ws.persona({
      id: 'publisher',
      description: 'Publishes.',
      tools: ['publish'],
      script: [{ when: '.', steps: [{ call: 'publish', args: {} }, { reply: 'published' }] }],
    });
    const child = spawn(process.execPath, [MAIN, 'run', 'publisher', 'publish it'], {
      cwd: ws.dir,
      env: childEnv(),
      stdio: 'ignore',
    });
    const log = join(ws.dir, 'simulations.log');
    await until(() => existsSync(log), 'the simulation to start', 15_000);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    const resumed = await ok('session', 'resume', 'last');
    expect(resumed.stdout).toContain('← publish (ok, simulated,');
    expect(existsSync(join(ws.dir, 'published'))).toBe(false);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(2);
    const session = (JSON.parse((await ok('session', 'show', 'last', '--json')).stdout) as { session: string }).session;
    expect((await toolResults(session)).map((r) => [r.tool, r.status, r.simulated, r.output])).toEqual([
      ['publish', 'ok', true, { wouldPublish: true }],
    ]);
  }, 30_000);
});

describe('session rewind --effects dry-run', () => {
  it('runs the branch on without a real payment or a written file; simulated entries, E_DRY_RUN, ctx.prior', async () => {
    ws = deskWorkspace();
    await ok('ledger', 'init');
    const run = await ok('run', 'payer', 'pay and save', '--approval', 'approve', '--json');
    const session = (JSON.parse(run.stdout) as { session: string }).session;
    expect(existsSync(join(ws.dir, 'report.md'))).toBe(true);
    rmSync(join(ws.dir, 'report.md'));
    const paid = await wallets();
    expect(paid.wallets).toEqual([
      { agent: 'payer', balance: '85', locked: '0' },
      { agent: 'saver', balance: '0', locked: '0' },
      { agent: 'writer', balance: '15', locked: '0' },
    ]);

    const rewind = await ok('session', 'rewind', session, '0', '--effects', 'dry-run', '--json');
    const branch = (JSON.parse(rewind.stdout) as { branch: string }).branch;
    // Seeded at the fork: a real payment made after it is not in the branch's scratch copy.
    await ok('ledger', 'transfer', 'payer', 'saver', '10', '--reference', 'after the fork');
    const real = await wallets();
    const metrics = JSON.parse((await ok('ledger', 'metrics', '--json')).stdout) as unknown;
    const resumed = await ok('session', 'resume', session, '--approval', 'approve');
    expect(resumed.stdout).toContain('← transfer_funds (ok, simulated,');
    expect(resumed.stdout).toContain('← save_report (skipped, simulated) E_DRY_RUN: save_report was not executed');

    // No real balance changed, nothing was written, and the scratch wallets are not in the real overview.
    expect(await wallets()).toEqual(real);
    expect(existsSync(join(ws.dir, 'report.md'))).toBe(false);
    const history = JSON.parse((await ok('ledger', 'history', 'payer', '--json')).stdout) as unknown[];
    expect(history).toHaveLength(3);
    expect(JSON.parse((await ok('ledger', 'metrics', '--json')).stdout)).toEqual(metrics);

    const results = await toolResults(session);
    expect(results.map((r) => [r.tool, r.status, r.simulated ?? false])).toEqual([
      ['check_balance', 'ok', false],
      ['transfer_funds', 'ok', true],
      ['save_report', 'skipped', true],
      ['notify', 'ok', true],
      ['check_balance', 'ok', false],
    ]);
    // The scratch copy starts at the real balances, and the simulated payment is paid there.
    expect(results[0]!.output).toEqual({ agent: 'payer', balance: '85', locked: '0' });
    expect(results[4]!.output).toEqual({ agent: 'payer', balance: '70', locked: '0' });
    expect(results[2]!.error).toMatch(
      /^E_DRY_RUN: save_report was not executed because this branch is a dry run \(effects: dry-run\)/,
    );
    // notify's simulate saw what the same call returned on the branch the rewind came from.
    expect(results[3]!.output).toEqual({
      wouldSend: 'done',
      prior: { status: 'ok', output: { sent: 'done', prior: null } },
    });

    const branches = JSON.parse((await ok('session', 'branches', session, '--json')).stdout) as {
      id: string;
      overrides: Record<string, unknown>;
    }[];
    expect(branches.find((b) => b.id === branch)?.overrides).toEqual({ effects: 'dry-run' });

    // A dry run's calls are nothing to undo.
    const undo = await p2tui('session', 'compensate', session, (await keys(session))['transfer_funds']!);
    expect(undo.code).toBe(1);
    expect(undo.stderr).toContain('E_SESSION_STATE: the call ');
    expect(undo.stderr).toContain(
      '(transfer_funds) ran on a dry-run branch: it changed nothing real, there is no effect to undo',
    );
  }, 40_000);

  it('refuses a value that is not a policy, naming the flag and the three values', async () => {
    ws = deskWorkspace();
    await ok('run', 'payer', 'pay and save', '--approval', 'deny');
    for (const command of [
      ['session', 'rewind', 'last', '0'],
      ['session', 'fork', 'last'],
    ]) {
      const bad = await p2tui(...command, '--effects', 'maybe');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("E_USAGE: --effects must be one of live, dry-run, ask, got 'maybe'");
    }
  }, 20_000);
});
