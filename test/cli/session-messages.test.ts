import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { withRawDb } from '../helpers/raw-db.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

// Issue 19, point 5: messages that said something false, and labels that named more than one branch. Every check runs
// the real CLI in its own process, as a user would.

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function workspace(reply = 'The answer is 42.'): TempWorkspace {
  const ws = tempWorkspace();
  ws.persona({ id: 'solo', description: 'Answers.', script: [{ when: '.', steps: [{ reply }] }] });
  cleanups.push(() => ws.cleanup());
  return ws;
}

async function cli(ws: TempWorkspace, ...args: string[]): Promise<CliResult> {
  return runCli(args, { cwd: ws.dir });
}

/** Runs one session to its answer and returns its id. */
async function session(ws: TempWorkspace, question = 'hi'): Promise<string> {
  const r = await cli(ws, 'run', 'solo', question, '--json');
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { session: string }).session;
}

describe('session prune', () => {
  it('reports the size the database file really has after pruning (it shrank; it used to say it grew)', async () => {
    // Long replies, so the freed pages are many and the file shrinks for sure.
    const ws = workspace(`The answer is 42. ${'x'.repeat(20_000)}`);
    for (let i = 0; i < 4; i++) await session(ws, `question ${i}`);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const r = await cli(ws, 'session', 'prune', '--older-than', '1s');
    expect(r.code).toBe(0);
    const m = /^deleted 4 sessions; the database went from (\d+) to (\d+) bytes$/m.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const [before, after] = [Number(m![1]), Number(m![2])];
    expect(after).toBeLessThan(before);
    // The number printed is the file's size on disk once p2tui is done (no WAL left beside it).
    expect(after).toBe(statSync(join(ws.dir, '.p2tui', 'p2tui.db')).size);
    expect(statSync(join(ws.dir, '.p2tui', 'p2tui.db-wal'), { throwIfNoEntry: false })?.size ?? 0).toBe(0);
  });
});

describe('branch labels and session diff', () => {
  it('refuses a --label another branch of the session has (exit 2, naming it); generated labels are numbered', async () => {
    const ws = workspace();
    const id = await session(ws);
    const first = await cli(ws, 'session', 'fork', id, '--step', '1', '--label', 'cheaper', '--json');
    expect(first.code).toBe(0);
    const holder = (JSON.parse(first.stdout) as { branch: string }).branch;
    const again = await cli(ws, 'session', 'fork', id, '--step', '1', '--label', 'cheaper');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`error E_USAGE: session ${id} already has a branch labelled 'cheaper': ${holder}`);
    expect(again.stderr).toContain(
      `hint: Choose another --label, or check that branch out: p2tui session checkout ${id} ${holder}`,
    );
    // The root's label is taken too.
    expect((await cli(ws, 'session', 'fork', id, '--step', '1', '--label', 'main')).code).toBe(2);

    // Rewinding twice to the same step: the generated label is numbered, never refused.
    expect((await cli(ws, 'session', 'rewind', id, '1')).code).toBe(0);
    expect((await cli(ws, 'session', 'rewind', id, '1')).code).toBe(0);
    const list = await cli(ws, 'session', 'branches', id, '--json');
    const labels = (JSON.parse(list.stdout) as { label: string | null }[]).map((b) => b.label);
    expect(labels).toEqual(['main', 'cheaper', 'rewind to #1', 'rewind to #1 (2)']);
  });

  it('checkout by a label several branches share (an older database) is refused with the candidates, not a guess', async () => {
    const ws = workspace();
    const id = await session(ws);
    const ids: string[] = [];
    for (const label of ['a', 'b']) {
      const r = await cli(ws, 'session', 'fork', id, '--step', '1', '--label', label, '--json');
      ids.push((JSON.parse(r.stdout) as { branch: string }).branch);
    }
    // What an older p2tui let through: two branches with one label.
    withRawDb(join(ws.dir, '.p2tui', 'p2tui.db'), (db) =>
      db.prepare("UPDATE branches SET label = 'twin' WHERE id IN (?, ?)").run(...ids),
    );
    const r = await cli(ws, 'session', 'checkout', id, 'twin');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error E_AMBIGUOUS_ID: session ${id} has 2 branches labelled 'twin': ${ids.join(', ')}`);
    expect(r.stderr).toContain(
      `hint: Name one by its id (or a unique prefix of it); p2tui session branches ${id} lists them.`,
    );
    // By id it still works.
    expect((await cli(ws, 'session', 'checkout', id, ids[0]!)).code).toBe(0);
  });

  it('session diff with the root checked out says how many branches there are, not "has one branch"', async () => {
    const ws = workspace();
    const id = await session(ws);
    expect((await cli(ws, 'session', 'diff', id)).stderr).toContain(
      `error E_USAGE: session ${id} has one branch; there is nothing to compare it with`,
    );
    for (let i = 0; i < 2; i++) await cli(ws, 'session', 'fork', id, '--step', '1');
    const r = await cli(ws, 'session', 'diff', id);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('has one branch');
    expect(r.stderr).toMatch(
      new RegExp(
        `error E_USAGE: session ${id} has 3 branches, and the checked-out one \\(b_\\w+, main\\) is the first, with no parent`,
      ),
    );
    expect(r.stderr).toContain(`hint: Name the branches to compare: p2tui session diff ${id} <a> <b>`);
  });
});
