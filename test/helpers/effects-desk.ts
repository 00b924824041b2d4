import { expect } from 'vitest';
import { runCli, type CliResult } from './cli.ts';
import { tempWorkspace, type TempWorkspace } from './workspace.ts';

/**
 * The workspace of the effects-on-branches tests (issue 17, point 2): a payer that pays the writer and saves a report
 * with effectful workspace tools, one with `simulate` and one without, driven through the real CLI.
 */

/** The tools: save_report writes report.md (effectful, no simulate); notify has a simulate and shows ctx.prior. */
export const DESK_TOOLS = `import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineTool, z } from 'p2tui';

export const saveReport = defineTool({
  name: 'save_report', description: 'Saves the report.', effect: 'effectful',
  input: z.object({ text: z.string() }),
  run({ text }, ctx) { writeFileSync(join(ctx.workspace, 'report.md'), text); return { saved: 'report.md' }; },
});

export const notify = defineTool({
  name: 'notify', description: 'Tells the team.', effect: 'effectful',
  input: z.object({ text: z.string() }),
  run({ text }, ctx) { return { sent: text, prior: ctx.prior ?? null }; },
  simulate({ text }, ctx) { return { wouldSend: text, prior: ctx.prior ?? null }; },
});
`;

/** A payer (100) that reads its balance, pays the writer 15, saves the report, notifies, reads its balance again. */
export function deskWorkspace(yaml = ''): TempWorkspace {
  const w = tempWorkspace({ 'tools/desk.ts': DESK_TOOLS, ...(yaml === '' ? {} : { 'p2tui.yaml': yaml }) });
  w.persona({
    id: 'payer',
    description: 'Pays the writer and saves the report.',
    tools: ['check_balance', 'transfer_funds', 'save_report', 'notify'],
    balance: 100,
    script: [
      {
        when: '.',
        steps: [
          { call: 'check_balance', args: {} },
          { call: 'transfer_funds', args: { to: 'writer', amount: '15', reason: 'the report' } },
          { call: 'save_report', args: { text: 'the report' } },
          { call: 'notify', args: { text: 'done' } },
          { call: 'check_balance', args: {} },
          { reply: 'paid and saved' },
        ],
      },
    ],
  });
  w.persona({ id: 'writer', description: 'Writes reports.' });
  w.persona({
    id: 'saver',
    description: 'Saves the report and notifies.',
    tools: ['save_report', 'notify'],
    script: [
      {
        when: '.',
        steps: [
          { call: 'save_report', args: { text: 'the report' } },
          { call: 'notify', args: { text: 'done' } },
          { reply: 'saved' },
        ],
      },
    ],
  });
  return w;
}

/** One entry of `session stack --json` (its payload's fields beside its kind). */
export interface DeskEntry {
  kind: string;
  tool?: string;
  key?: string;
  status?: string;
  output?: unknown;
  error?: string;
  simulated?: boolean;
}

/** The workspace's wallets and money issued, as `ledger overview --json` gives them. */
export interface Wallets {
  wallets: { agent: string; balance: string; locked: string }[];
  issued: string;
}

/** The CLI in the workspace `current()` gives: `ok` fails the test on a non-zero exit, `entries` reads the stack. */
export function cliIn(current: () => TempWorkspace): {
  p2tui: (...args: string[]) => Promise<CliResult>;
  ok: (...args: string[]) => Promise<CliResult>;
  entries: (session: string) => Promise<DeskEntry[]>;
  keys: (session: string) => Promise<Record<string, string>>;
  wallets: () => Promise<Wallets>;
} {
  const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: current().dir });
  const ok = async (...args: string[]): Promise<CliResult> => {
    const r = await p2tui(...args);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };
  /** The entries of the session's checked-out branch, in order. */
  const entries = async (session: string): Promise<DeskEntry[]> =>
    (JSON.parse((await ok('session', 'stack', session, '--json')).stdout) as { entries: DeskEntry[] }).entries;
  /** The keys of the session's effectful calls on its checked-out branch, by tool. */
  const keys = async (session: string): Promise<Record<string, string>> => {
    const calls = (await entries(session)).filter((e) => e.kind === 'tool_call');
    return Object.fromEntries(calls.map((e) => [e.tool!, e.key!]));
  };
  /** Every wallet of the workspace as `ledger overview --json` shows it. */
  const wallets = async (): Promise<Wallets> => {
    const o = JSON.parse((await ok('ledger', 'overview', '--json')).stdout) as Wallets;
    return {
      wallets: o.wallets.map((w) => ({ agent: w.agent, balance: w.balance, locked: w.locked })),
      issued: o.issued,
    };
  };
  return { p2tui, ok, entries, keys, wallets };
}
