import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import stringWidth from 'string-width';
import { runCli, type CliResult } from '../../helpers/cli.ts';
import { payerOfWriter, tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';

/** The answer: one line of ~190 characters, different on each branch (its reference and offset). */
const REPLY =
  'Paid for the report, as agreed with the writer before the work started; the receipt follows for the records ' +
  'of the team and for the audit at the end of the quarter: {{result}}.';

let ws: TempWorkspace;
let session: string;
let other: string;
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

type Listed = { hash: string; kind: string; branch: string | null };

beforeAll(async () => {
  ws = tempWorkspace();
  payerOfWriter(ws, REPLY, 'pay');
  expect((await p2tui('ledger', 'init')).code).toBe(0);
  const first = await p2tui('run', 'payer', 'hello', '--json');
  other = (JSON.parse(first.stdout) as { session: string }).session;
  const run = await p2tui('run', 'payer', 'pay the writer', '--approval', 'approve', '--json');
  expect(run.code, run.stderr).toBe(0);
  session = (JSON.parse(run.stdout) as { session: string }).session;
  // A branch that pays again from the first message: its answer differs from main's in the reference and offset.
  expect((await p2tui('session', 'fork', session, '--step', '0', '--label', 'again', '--checkout')).code).toBe(0);
  expect((await p2tui('session', 'resume', session, '--approval', 'approve')).code).toBe(0);
}, 30_000);
afterAll(() => ws.cleanup());

async function answers(): Promise<[string, string]> {
  const listed = await p2tui('artifacts', 'list', 'last', '--entries', '--all-branches', '--json');
  const found = (JSON.parse(listed.stdout) as Listed[]).filter((r) => r.kind === 'assistant_message');
  expect(found).toHaveLength(2);
  return [found[0]!.hash, found[1]!.hash];
}

describe('artifacts list --entries --all-branches', () => {
  it("lists every branch's entries once, with their branch; without it only the checked-out branch", async () => {
    const all = await p2tui('artifacts', 'list', 'last', '--entries', '--all-branches');
    expect(all.code, all.stderr).toBe(0);
    const rows = all.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^hash {7}branch {2}name {3}kind {15}mime {14}size {3}created$/);
    expect(rows.slice(1).map((r) => r.split(/\s+/).slice(1, 4).join(' '))).toEqual([
      'main payer user_message',
      'main payer tool_call',
      'main payer tool_result',
      'main payer assistant_message',
      'again payer tool_call',
      'again payer tool_result',
      'again payer assistant_message',
    ]);
    const head = await p2tui('artifacts', 'list', 'last', '--entries', '--json');
    expect((JSON.parse(head.stdout) as Listed[]).map((r) => r.kind)).toEqual([
      'user_message',
      'tool_call',
      'tool_result',
      'assistant_message',
    ]);
    const alone = await p2tui('artifacts', 'list', 'last', '--all-branches');
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('error E_USAGE: --all-branches lists entries: give it with --entries');
  });
});

describe('artifacts diff <session> <a> <b>', () => {
  it('takes the session first, as artifacts list does ("last" too), and wraps long lines at the width given', async () => {
    const [a, b] = await answers();
    const diff = await p2tui('artifacts', 'diff', 'last', a, b, '--side-by-side', '--width', '200');
    expect(diff.code, diff.stderr).toBe(1);
    const lines = diff.stdout.trimEnd().split('\n');
    for (const line of lines) expect(stringWidth(line)).toBeLessThanOrEqual(200);
    expect(diff.stdout).not.toContain('…');
    // Each side's answer is all there, wrapped in its column of 98.
    const left = lines.map((l) => l.slice(0, 98).trimEnd()).join('');
    expect(left).toMatch(
      /^Paid for the report, .* end of the quarter: paid 15, to writer, reference e_\w+, offset 2\.$/,
    );
    const right = lines.map((l) => l.slice(101)).join('');
    expect(right).toMatch(
      /^Paid for the report, .* end of the quarter: paid 15, to writer, reference e_\w+, offset 3\.$/,
    );
    expect(lines[0]!.slice(98, 101)).toBe(' | ');
  });

  it('refuses an entry of another session, with E_USAGE', async () => {
    const [a] = await answers();
    const theirs = await p2tui('artifacts', 'list', other, '--entries', '--json');
    const foreign = (JSON.parse(theirs.stdout) as Listed[]).find((r) => r.kind === 'assistant_message')!.hash;
    const diff = await p2tui('artifacts', 'diff', session.slice(0, 6), a, foreign);
    expect(diff.code).toBe(2);
    expect(diff.stderr).toContain(`error E_USAGE: entry '${foreign}' is not in session ${session}`);
  });
});

describe('session diff --side-by-side --width 200', () => {
  it('uses the whole width and cuts nothing', async () => {
    const diff = await p2tui('session', 'diff', 'last', 'main', 'again', '-y', '--width', '200');
    expect(diff.code, diff.stderr).toBe(0);
    const lines = diff.stdout.trimEnd().split('\n');
    for (const line of lines) expect(stringWidth(line)).toBeLessThanOrEqual(200);
    expect(diff.stdout).not.toContain('…');
    expect(lines.some((l) => stringWidth(l) > 190)).toBe(true);
  });
});
