import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../../src/commands/run/run.ts';
import { branchesCommand, compensateCommand, diffCommand } from '../../../src/commands/session/branches.ts';
import { checkoutCommand, forkCommand, rewindCommand } from '../../../src/commands/session/fork.ts';
import { EXIT } from '../../../src/commands/types.ts';
import { tempWorkspace } from '../../helpers/workspace.ts';
import { commandContext, type TestContext } from '../helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface BranchJson {
  id: string;
  label: string | null;
  parent: string | null;
  forkSeq: number | null;
  checkedOut: boolean;
  overrides: Record<string, unknown>;
  createdBy: string;
}

/** A finished session of a scripted persona (its root branch is labelled main). */
async function finishedSession(): Promise<{ ctx: TestContext; session: string }> {
  const ws = tempWorkspace();
  ws.persona({
    id: 'solo',
    description: 'Answers at once.',
    script: [{ when: '.', steps: [{ reply: 'The answer is 42.' }] }],
  });
  const ctx = commandContext(ws.dir);
  cleanups.push(() => ws.cleanup());
  cleanups.push(() => ctx.close());
  const run = await ctx.run(runCommand, ['solo', 'what is it?', '--json']);
  expect(run.exitCode).toBe(EXIT.ok);
  return { ctx, session: (run.json as { session: string }).session };
}

async function branches(ctx: TestContext, session: string): Promise<BranchJson[]> {
  const r = await ctx.run(branchesCommand, [session, '--json']);
  expect(r.exitCode).toBe(EXIT.ok);
  return r.json as unknown as BranchJson[];
}

describe('session fork, rewind and checkout', () => {
  it('fork makes a new branch with its label and overrides; --checkout checks it out', async () => {
    const { ctx, session } = await finishedSession();
    const [main] = await branches(ctx, session);
    const r = await ctx.run(forkCommand, [
      'last',
      '--step',
      '0',
      '--label',
      'hotter',
      '--temperature',
      '0.9',
      '--system',
      'solo=You are terse.',
    ]);
    expect(r.exitCode).toBe(EXIT.ok);
    const made = r.json as { session: string; branch: string; parent: string; checkedOut: boolean };
    expect(made).toMatchObject({ session, parent: main!.id, checkedOut: false });
    expect(r.lines[0]).toMatch(new RegExp(`^forked ${main!.id} at seq \\d+: branch ${made.branch}$`));
    const list = await branches(ctx, session);
    expect(list.map((b) => [b.id, b.label, b.checkedOut])).toEqual([
      [main!.id, 'main', true],
      [made.branch, 'hotter', false],
    ]);
    expect(list[1]!.overrides).toEqual({ temperature: 0.9, personas: { solo: { system: 'You are terse.' } } });
    expect(list[1]!.createdBy).toBe('cli');

    const checkedOut = await ctx.run(forkCommand, [session, '--label', 'kept', '--checkout']);
    expect(checkedOut.lines).toEqual([
      expect.stringMatching(/^forked b_\S+ at seq \d+: branch b_\S+ \(checked out\)$/),
      `continue it with: p2tui session resume ${session}`,
    ]);
    expect((await branches(ctx, session)).find((b) => b.checkedOut)?.label).toBe('kept');
  });

  it('fork refuses --at with --step, and an empty --system', async () => {
    const { ctx, session } = await finishedSession();
    await expect(ctx.run(forkCommand, [session, '--at', '1', '--step', '0'])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: 'give --at or --step, not both',
    });
    await expect(ctx.run(forkCommand, [session, '--system', 'solo='])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: "--system for solo needs a system prompt, not ''",
    });
    await expect(ctx.run(forkCommand, [session, '--temperature', '2.5'])).rejects.toMatchObject({ code: 'E_USAGE' });
  });

  it('rewind forks at a step and checks the new branch out, labelled by the step; checkout goes back by label', async () => {
    const { ctx, session } = await finishedSession();
    const [main] = await branches(ctx, session);
    const r = await ctx.run(rewindCommand, [session, '0']);
    expect(r.exitCode).toBe(EXIT.ok);
    const rewound = r.json as { branch: string; previous: string; status: string };
    expect(rewound.previous).toBe(main!.id);
    expect(r.lines[0]).toMatch(
      new RegExp(
        `^rewound ${session} to step #0 \\(seq \\d+\\): branch ${rewound.branch} checked out, ${main!.id} kept$`,
      ),
    );
    const list = await branches(ctx, session);
    expect(list.find((b) => b.checkedOut)).toMatchObject({ id: rewound.branch, label: 'rewind to #0' });

    const back = await ctx.run(checkoutCommand, [session, main!.id]);
    expect(back.exitCode).toBe(EXIT.ok);
    expect(back.json).toMatchObject({ branch: main!.id });
    expect(back.lines).toEqual([`checked out ${main!.id} (main); session ${(back.json as { status: string }).status}`]);
    expect((await branches(ctx, session)).find((b) => b.checkedOut)?.id).toBe(main!.id);

    const byLabel = await ctx.run(checkoutCommand, [session, 'rewind to #0']);
    expect(byLabel.lines[0]).toMatch(new RegExp(`^checked out ${rewound.branch} \\(rewind to #0\\); session `));
  });

  it('rewind refuses a step that is not a whole number', async () => {
    const { ctx, session } = await finishedSession();
    await expect(ctx.run(rewindCommand, [session, 'two'])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: "step 'two' is not a whole number",
    });
  });

  it('branches lists each branch, * on the checked-out one; diff compares a rewind with its parent', async () => {
    const { ctx, session } = await finishedSession();
    await expect(ctx.run(diffCommand, [session])).rejects.toMatchObject({ code: 'E_USAGE' });
    await ctx.run(rewindCommand, [session, '0', '--label', 'again']);
    const list = await ctx.run(branchesCommand, [session]);
    expect(list.lines[0]).toMatch(/^branch\s+label\s+forked from\s+length\s+score\s+overrides\s+created$/);
    expect(list.lines.filter((l) => l.startsWith('* '))).toEqual([expect.stringContaining('again')]);
    expect(list.lines.at(-1)).toBe(`check one out with: p2tui session checkout ${session} <branch>`);

    const diff = await ctx.run(diffCommand, [session, '--json']);
    expect(diff.exitCode).toBe(EXIT.ok);
    expect(diff.json).toMatchObject({ same: false, answers: { a: 'The answer is 42.', b: '' } });
    const text = await ctx.run(diffCommand, [session]);
    expect(text.lines[0]).toMatch(/ \(again\): diverge in /);
    expect(text.stdout).toContain('== ');
  });

  it('compensate refuses a key the session has no call with', async () => {
    const { ctx, session } = await finishedSession();
    await expect(ctx.run(compensateCommand, [session, 'e_nothing'])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: `session ${session} has no call with key 'e_nothing'`,
    });
  });
});
