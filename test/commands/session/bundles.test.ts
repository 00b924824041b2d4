import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../../src/commands/run/run.ts';
import { listCommand } from '../../../src/commands/session/inspect.ts';
import { deleteCommand, exportCommand, importCommand, pruneCommand } from '../../../src/commands/session/bundles.ts';
import { EXIT } from '../../../src/commands/types.ts';
import { withRawDb } from '../../helpers/raw-db.ts';
import { tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';
import { commandContext, type TestContext } from '../helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function workspace(): TempWorkspace {
  const ws = tempWorkspace();
  ws.persona({ id: 'solo', description: 'Answers.', script: [{ when: '.', steps: [{ reply: 'The answer is 42.' }] }] });
  cleanups.push(() => ws.cleanup());
  return ws;
}

function context(dir: string, dbPath?: string): TestContext {
  const ctx = commandContext(dir, dbPath === undefined ? {} : { dbPath });
  cleanups.push(() => ctx.close());
  return ctx;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-bundles-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs one session to its answer and closes the process that drove it (as a finished `p2tui run` does). */
async function recordedSession(ws: TempWorkspace): Promise<string> {
  const ctx = commandContext(ws.dir);
  try {
    const r = await ctx.run(runCommand, ['solo', 'what is it?', '--json']);
    expect(r.exitCode).toBe(EXIT.ok);
    return (r.json as { session: string }).session;
  } finally {
    await ctx.close();
  }
}

describe('session export and import', () => {
  it('exports a session to a file and imports it into another database, where it is listed', async () => {
    const ws = workspace();
    const session = await recordedSession(ws);
    const file = join(tempDir(), 'run.p2tui.json');
    const exported = await context(ws.dir).run(exportCommand, ['last', '--out', file]);
    expect(exported.exitCode).toBe(EXIT.ok);
    expect(existsSync(file)).toBe(true);
    const facts = exported.json as { session: string; file: string; events: number; modelCalls: number; bytes: number };
    expect(facts).toMatchObject({ session, file, modelCalls: 1 });
    expect(facts.bytes).toBe(readFileSync(file).length);
    expect(exported.lines).toEqual([
      `exported ${session} to ${file}: ${facts.events} events, 1 model call, 0 artifacts (${facts.bytes} bytes)`,
    ]);

    const other = context(ws.dir, join(tempDir(), 'other.db'));
    const imported = await other.run(importCommand, [file]);
    expect(imported.exitCode).toBe(EXIT.ok);
    expect(imported.lines[0]).toBe(`imported ${session} (${facts.events} events)`);
    expect(imported.lines[1]).toBe(
      `see it: p2tui session show ${session} · replay it offline: p2tui session replay ${session}`,
    );
    const listed = await other.run(listCommand, ['--json']);
    expect(listed.json).toMatchObject([{ id: session, status: 'finished', agent: 'solo' }]);
  });

  it('import refuses a file that is not a bundle', async () => {
    const ws = workspace();
    const file = join(tempDir(), 'not-a-bundle.json');
    await expect(context(ws.dir).run(importCommand, [file])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: expect.stringContaining(`cannot read ${file}`),
    });
  });
});

describe('session delete and prune', () => {
  it('refuses to delete a session that another live process drives, and deletes it once nobody does', async () => {
    const ws = workspace();
    const session = await recordedSession(ws);
    const ctx = context(ws.dir);
    const store = await ctx.store({ existing: true });
    // Another process holds the session's lease, as a `p2tui run` still going would.
    const driver = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    cleanups.push(async () => {
      if (driver.exitCode === null && driver.signalCode === null) {
        driver.kill();
        await once(driver, 'exit');
      }
    });
    const now = Date.now();
    withRawDb(store.path, (db) =>
      db
        .prepare(
          'INSERT OR REPLACE INTO leases (session_id, owner, host, pid, acquired_at, heartbeat_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .run(session, 'other-process', hostname(), driver.pid, now, now, now + 600_000),
    );
    await expect(ctx.run(deleteCommand, [session])).rejects.toMatchObject({
      code: 'E_LEASE_HELD',
      message: `session ${session} is being driven by pid ${driver.pid} on ${hostname()}`,
      hint: `Cancel it first: p2tui session cancel ${session}`,
    });
    expect(store.sessions.resolve(session).id).toBe(session);

    // The driver is gone: its lease no longer counts.
    driver.kill();
    await once(driver, 'exit');
    const deleted = await ctx.run(deleteCommand, [session, '--json']);
    expect(deleted.exitCode).toBe(EXIT.ok);
    expect(deleted.json).toEqual({ deleted: [session] });
    expect((await ctx.run(listCommand, ['--json'])).json).toEqual([]);
  });

  it('delete wants a named session, not "last"', async () => {
    const ws = workspace();
    await recordedSession(ws);
    await expect(context(ws.dir).run(deleteCommand, ['last'])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: 'delete needs a session id, not "last"',
    });
  });

  it('prune needs --older-than, keeps sessions younger than the duration, lists with --dry-run, then deletes', async () => {
    const ws = workspace();
    const session = await recordedSession(ws);
    const ctx = context(ws.dir);
    await expect(ctx.run(pruneCommand, [])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: 'prune needs --older-than',
    });
    await expect(ctx.run(pruneCommand, ['--older-than', 'soon'])).rejects.toMatchObject({ code: 'E_USAGE' });
    const young = await ctx.run(pruneCommand, ['--older-than', '1d', '--dry-run']);
    expect(young.lines).toEqual(['nothing to prune']);
    expect(young.json).toEqual({ wouldDelete: [] });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const old = await ctx.run(pruneCommand, ['--older-than', '0.01s', '--dry-run']);
    expect(old.lines).toEqual([`would delete 1 session: ${session}`]);
    const pruned = await ctx.run(pruneCommand, ['--older-than', '0.01s']);
    expect(pruned.lines[0]).toMatch(/^deleted 1 session; the database went from \d+ to \d+ bytes$/);
    expect(pruned.json).toMatchObject({ deleted: [session] });
  });
});
