import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../../../src/app/app.ts';
import { loadWorkspace } from '../../../src/app/workspace.ts';
import { seqOfStep } from '../../../src/engine/branching.ts';
import { runCli, type CliResult } from '../../helpers/cli.ts';
import { countRows, withRawDb } from '../../helpers/raw-db.ts';
import { tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';

/**
 * `conversation prune <session>` (issue 19, §2): P2Engine's command, the one `conversation` command that is not
 * `session`'s. It deletes a session's old branches — not the first, not the checked-out one, no activity for
 * --keep-days (default 7), no kept branch forked from it — as a dry run unless --execute.
 */
let ws: TempWorkspace;
let db: string;
let session: string;
/** Branch ids by label (each forked from the first branch, `main`, unless said otherwise). */
const ids: Record<string, string> = {};
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });
const DAY = 86_400_000;

beforeAll(async () => {
  ws = tempWorkspace();
  db = join(ws.dir, '.p2tui', 'p2tui.db');
  ws.persona({ id: 'helper', description: 'Helps.', script: [{ when: '.', steps: [{ reply: 'Done.' }] }] });
  // The session and its branches are made in this process (the commands under test run as processes below).
  const app = new App({ workspace: await loadWorkspace(ws.dir) });
  const { engine } = app;
  try {
    const run = engine.start({ agent: 'helper', message: 'hello', source: 'api', options: engine.sessionOptions() });
    expect(await run.idle()).toBe('finished');
    session = run.id;
    run.detach();
    /** Forks `from` at step #0 (the user's message); with `reply`, checks it out and lets the agent answer there. */
    const fork = async (label: string, from: string, reply = false): Promise<void> => {
      const row = engine.store.sessions.resolve(session);
      const atSeq = seqOfStep(engine.store, row, 0, undefined, engine.store.sessions.branches(session)[0]!.id);
      const made = await engine.fork(session, { from, atSeq, label, createdBy: 'test', checkout: reply });
      ids[label] = made.branch.id;
      if (!reply) return;
      const runtime = await engine.attach(session);
      runtime.resume();
      expect(await runtime.idle()).toBe('finished');
      runtime.detach();
    };
    // old (a reply recorded on it: what --execute deletes includes entries and model calls) ← old-child;
    // parent ← recent-child; busy (its reply stays recent); current (checked out).
    await fork('old', 'main', true);
    await fork('old-child', 'old');
    await fork('parent', 'main');
    await fork('recent-child', 'parent');
    await fork('busy', 'main', true);
    await fork('current', 'main');
    await engine.checkout(session, ids['current']!);
  } finally {
    app.close();
  }
  // Thirty days pass for every branch but recent-child; busy's entries (its reply) stay as recent as they are.
  withRawDb(db, (raw) => {
    raw.prepare('UPDATE branches SET created_at = created_at - ? WHERE id != ?').run(30 * DAY, ids['recent-child']);
    raw.prepare('UPDATE events SET ts = ts - ? WHERE branch_id != ?').run(30 * DAY, ids['busy']);
  });
}, 40_000);
afterAll(() => ws.cleanup());

describe('conversation prune', () => {
  it('a dry run by default: lists the old branches (old and the branch forked from it) and why each other stays', async () => {
    const r = await p2tui('conversation', 'prune', session);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`would delete 2 old branches of ${session} (dry run):`);
    expect(lines[1]).toMatch(/^branch +label +last activity \(UTC\) +age$/);
    expect(lines.slice(2, 4).map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual([
      `${ids['old']} old`,
      `${ids['old-child']} old-child`,
    ]);
    expect(lines[2]).toMatch(/ 30d$/);
    expect(r.stdout).toContain(`${ids['parent']} (branch ${ids['recent-child']} is forked from it)`);
    expect(r.stdout).toContain(`${ids['recent-child']} (recent)`);
    expect(r.stdout).toContain(`${ids['busy']} (recent)`);
    expect(r.stdout).toContain(`${ids['current']} (checked out)`);
    expect(r.stdout).toContain('(the first branch)');
    expect(r.stdout).toContain(`delete them with: p2tui conversation prune ${session} --keep-days 7 --execute`);
    expect(countRows(db, 'SELECT count(*) AS n FROM branches WHERE session_id = ?', session)).toBe(7);
  }, 20_000);

  it('--keep-days widens what is recent; --execute and --dry-run together are a usage error', async () => {
    const [wide, both] = await Promise.all([
      p2tui('conversation', 'prune', session, '--keep-days', '60', '--json'),
      p2tui('conversation', 'prune', session, '--execute', '--dry-run'),
    ]);
    expect((JSON.parse(wide.stdout) as { wouldDelete: unknown[] }).wouldDelete).toEqual([]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('E_USAGE: give --execute or --dry-run, not both');
  }, 20_000);

  it('--execute deletes them and what was recorded on them; the session goes on; session prune is another command', async () => {
    const before = {
      events: countRows(db, 'SELECT count(*) AS n FROM events WHERE branch_id = ?', ids['old']),
      calls: countRows(db, 'SELECT count(*) AS n FROM model_calls WHERE branch_id = ?', ids['old']),
    };
    const r = await p2tui('conversation', 'prune', session, '--execute', '--json');
    expect(r.code, r.stderr).toBe(0);
    const done = JSON.parse(r.stdout) as { deleted: { branch: string }[] };
    expect(done.deleted.map((d) => d.branch)).toEqual([ids['old'], ids['old-child']]);
    expect(countRows(db, 'SELECT count(*) AS n FROM branches WHERE session_id = ?', session)).toBe(5);
    const gone = [ids['old']!, ids['old-child']!];
    // Recorded on old before: entries and a model call, all gone with it.
    expect(before.events).toBeGreaterThan(0);
    expect(before.calls).toBeGreaterThan(0);
    for (const table of ['events', 'heads', 'model_calls', 'intents', 'branch_segments'])
      expect(countRows(db, `SELECT count(*) AS n FROM ${table} WHERE branch_id IN (?, ?)`, ...gone)).toBe(0);
    const [again, show, sessionPrune] = await Promise.all([
      p2tui('conversation', 'prune', session),
      p2tui('session', 'branches', session),
      p2tui('session', 'prune', session),
    ]);
    expect(again.stdout).toContain(`no branch of ${session} is older than 7 days: nothing to prune`);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).not.toContain(ids['old']!);
    expect(show.stdout).toContain(ids['recent-child']!);
    // session prune deletes whole sessions and takes no session: the two are not confused.
    expect(sessionPrune.code).toBe(2);
    expect(countRows(db, 'SELECT count(*) AS n FROM sessions')).toBe(1);
    const resumed = await p2tui('session', 'resume', session);
    expect(resumed.code, resumed.stderr).toBe(0);
  }, 30_000);
});
