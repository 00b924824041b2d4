import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { unavailable } from '../helpers/host-tools.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

// Issue 19, point 5: doctor called a database it could not write "writable", and created a database at a mistyped --db.

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

const NOBODY = 65534;

/** A workspace whose database exists (one session run in it). */
async function workspaceWithDb(): Promise<{ ws: TempWorkspace; db: string }> {
  const ws = tempWorkspace();
  ws.persona({ id: 'solo', description: 'Answers.', script: [{ when: '.', steps: [{ reply: 'The answer is 42.' }] }] });
  cleanups.push(() => ws.cleanup());
  expect((await runCli(['run', 'solo', 'hi'], { cwd: ws.dir })).code).toBe(0);
  return { ws, db: join(ws.dir, '.p2tui', 'p2tui.db') };
}

describe('doctor on a database it cannot write', () => {
  it('a file under chattr +i (read-only even for root) fails the database check with E_DB_READONLY, exit 5', async (ctx) => {
    const { ws, db } = await workspaceWithDb();
    const set = spawnSync('chattr', ['+i', db], { encoding: 'utf8' });
    if (set.status !== 0) return unavailable((why) => ctx.skip(why), `chattr +i is not available here: ${set.stderr}`);
    cleanups.push(() => spawnSync('chattr', ['-i', db]));
    const r = await runCli(['doctor'], { cwd: ws.dir });
    expect(r.code).toBe(5);
    expect(r.stdout).toMatch(/^✗ database\s+E_DB_READONLY: database \S+p2tui\.db is read-only/m);
    expect(r.stdout).not.toMatch(/✓ database/);
  });

  it('mode 0444 as a user who is not root: E_DB_READONLY, exit 5; as root: says only root can write it', async () => {
    const { ws, db } = await workspaceWithDb();
    // Root runs doctor as another user (and then as root); anyone else is that user already.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      // The other user owns the folder and the file (so SQLite can keep its -shm there), but the mode forbids writing.
      chmodSync(ws.dir, 0o755);
      const folder = join(ws.dir, '.p2tui');
      for (const file of [folder, ...readdirSync(folder).map((f) => join(folder, f))]) chownSync(file, NOBODY, NOBODY);
    }
    chmodSync(db, 0o444);
    const other = await runCli(['doctor'], {
      cwd: ws.dir,
      ...(asRoot ? { uid: NOBODY, env: { HOME: ws.dir } } : {}),
    });
    expect(other.code).toBe(5);
    expect(other.stdout).toMatch(/^✗ database\s+E_DB_READONLY: database \S+p2tui\.db is read-only/m);
    if (!asRoot) return;

    const root = await runCli(['doctor'], { cwd: ws.dir });
    expect(root.code).toBe(0);
    expect(root.stdout).toMatch(
      /^✓ database\s+.*, writable only because p2tui runs as root \(mode 0444\), integrity check ok$/m,
    );
  });
});

describe('doctor --db at a path with no database', () => {
  it('says there is none (exit 1) and does not create one', async () => {
    const { ws } = await workspaceWithDb();
    const typo = join(ws.dir, '.p2tui', 'p2tiu.db');
    const r = await runCli(['doctor', '--db', typo], { cwd: ws.dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`✗ database          there is no database at ${typo}`);
    expect(r.stdout).toContain('  Check the --db path; the first run or chat with this --db creates the file.');
    expect(existsSync(typo)).toBe(false);
  });
});
