import { unavailable } from '../helpers/host-tools.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { App } from '../../src/app/app.ts';
import { keyFileOf } from '../../src/ledger/embedded/key.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { translateSqliteError } from '../../src/store/database.ts';
import { runPaletteLine } from '../../src/tui/palette.ts';
import { Store } from '../../src/store/store.ts';
import { childEnv } from '../helpers/child-env.ts';
import { withRawDb } from '../helpers/raw-db.ts';

/**
 * A database file damaged under p2tui, a full disk and a read-only database: every command says which (E_DB_*,
 * exit code 5, with a hint), a session whose step meets one stops with it instead of finishing, and `doctor` and
 * `ledger audit --verify` run SQLite's integrity check. Real processes over the demo workspace.
 */

const ROOT = new URL('../..', import.meta.url).pathname;
const MAIN = join(ROOT, 'src/cli/main.ts');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function p2tui(args: string[], db: string): Result {
  const r = spawnSync(process.execPath, [MAIN, ...args, '--db', db], {
    cwd: ROOT,
    input: '',
    encoding: 'utf8',
    env: childEnv(),
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-disk-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let template = '';
beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-disk-'));
  template = join(dir, 'p2tui.db');
  expect(p2tui(['ledger', 'init'], template).code).toBe(0);
  const paid = p2tui(['run', 'treasurer', 'transfer 5 to agent_beta', '--temperature', '0'], template);
  expect(paid.stdout).toContain('paid 5, to agent_beta');
  withRawDb(template, (raw) => raw.pragma('wal_checkpoint(TRUNCATE)'));
}, 60_000);
afterAll(() => rmSync(join(template, '..'), { recursive: true, force: true }));

/** A demo database with wallets and one payment made, the whole of it in the file (no WAL). */
function paidDatabase(dir: string): string {
  const db = join(dir, 'p2tui.db');
  copyFileSync(template, db);
  return db;
}

/** Overwrites the start of every page of a table (its b-tree page header) with garbage, as a bad sector would. */
function damageTable(db: string, table: string): void {
  const { pages, pageSize } = withRawDb(db, (raw) => ({
    pages: (raw.prepare('SELECT pageno FROM dbstat WHERE name = ?').all(table) as { pageno: number }[]).map(
      (r) => r.pageno,
    ),
    pageSize: Number(raw.pragma('page_size', { simple: true })),
  }));
  expect(pages.length).toBeGreaterThan(0);
  const fd = openSync(db, 'r+');
  try {
    for (const page of pages) writeSync(fd, Buffer.alloc(8, 0xee), 0, 8, (page - 1) * pageSize);
  } finally {
    closeSync(fd);
  }
}

describe('a damaged database', () => {
  it('run stops with E_DB_CORRUPT (exit 5) instead of finishing; balance, audit --verify and doctor say so too', () => {
    const db = paidDatabase(tempDir());
    damageTable(db, 'ledger_parties');

    const run = p2tui(['run', 'treasurer', 'transfer 5 to agent_beta', '--temperature', '0'], db);
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('error E_DB_CORRUPT');
    expect(run.stderr).toContain('database disk image is malformed');
    expect(run.stderr).toContain('hint: ');
    expect(run.stdout).not.toContain('✓ finished');
    expect(run.stdout).not.toContain('transfer_funds failed');

    const balance = p2tui(['ledger', 'balance'], db);
    expect(balance.code).toBe(5);
    expect(balance.stderr).toContain('error E_DB_CORRUPT');
    expect(balance.stderr).not.toContain('bug in p2tui');

    const audit = p2tui(['ledger', 'audit', '--verify'], db);
    expect(audit.code).toBe(5);
    expect(audit.stderr).toContain('error E_DB_CORRUPT');
    expect(audit.stderr).toContain("SQLite's integrity check found");
    expect(audit.stdout).not.toContain('chain ok');

    const doctor = p2tui(['doctor'], db);
    expect(doctor.code).toBe(5);
    expect(doctor.stdout).toMatch(/✗ database +E_DB_CORRUPT: /);
  }, 60_000);

  it("damage only SQLite's integrity check sees (an index page) fails audit --verify and doctor, not the chain", () => {
    const db = paidDatabase(tempDir());
    damageTable(db, 'ledger_updates_command');
    const audit = p2tui(['ledger', 'audit', '--verify'], db);
    expect(audit.code).toBe(5);
    expect(audit.stderr).toContain('error E_DB_CORRUPT');
    const doctor = p2tui(['doctor', '--json'], db);
    expect(doctor.code).toBe(5);
    const checks = (JSON.parse(doctor.stdout) as { checks: { name: string; ok: boolean; code?: string }[] }).checks;
    expect(checks.find((c) => c.name === 'database')).toMatchObject({ ok: false, code: 'E_DB_CORRUPT' });
  }, 60_000);

  it("the TUI's command palette says E_DB_CORRUPT too, not E_INTERNAL", async () => {
    const db = paidDatabase(tempDir());
    damageTable(db, 'ledger_parties');
    const workspace = await loadWorkspace(ROOT, { db });
    const app = new App({ workspace });
    try {
      const lines: string[] = [];
      const code = await runPaletteLine('ledger balance', app, new AbortController().signal, (l) => lines.push(l));
      expect(code).toBe(1);
      expect(lines.join('\n')).toContain('error E_DB_CORRUPT: ');
      expect(lines.join('\n')).toContain('hint: ');
    } finally {
      app.close();
      await workspace.close();
    }
  });

  it("a damaged page under the ledger's MACs is E_DB_CORRUPT, not tampering: once the page is back, the ledger works", () => {
    const dir = tempDir();
    const db = paidDatabase(dir);
    copyFileSync(keyFileOf(template), keyFileOf(db));
    const pageSize = withRawDb(db, (raw) => Number(raw.pragma('page_size', { simple: true })));
    const pages = withRawDb(db, (raw) => raw.prepare("SELECT pageno FROM dbstat WHERE name = 'ledger_macs'").all()) as {
      pageno: number;
    }[];
    const original = readFileSync(db);
    damageTable(db, 'ledger_macs');

    const run = p2tui(['run', 'treasurer', 'transfer 5 to agent_beta', '--temperature', '0'], db);
    expect(run.code, run.stdout + run.stderr).toBe(5);
    expect(run.stderr).toContain('error E_DB_CORRUPT');

    // The sector is repaired (the pages restored as they were): nothing was recorded as a break meanwhile.
    const fd = openSync(db, 'r+');
    try {
      for (const { pageno } of pages)
        writeSync(fd, original, (pageno - 1) * pageSize, pageSize, (pageno - 1) * pageSize);
    } finally {
      closeSync(fd);
    }
    const audit = p2tui(['ledger', 'audit', '--verify'], db);
    expect(audit.stdout + audit.stderr).toContain('chain ok');
    expect(audit.code).toBe(0);
  }, 60_000);

  it('a sound database passes the integrity check in doctor', () => {
    const db = paidDatabase(tempDir());
    const doctor = p2tui(['doctor'], db);
    expect(doctor.stdout).toMatch(/✓ database .*integrity check ok/);
  }, 60_000);
});

describe('a read-only database', () => {
  it('a run says E_DB_READONLY (exit 5) with a hint; reading still works', (ctx) => {
    const dir = tempDir();
    const db = paidDatabase(dir);
    const folder = join(dir, 'ro');
    mkdirSync(folder);
    const ro = join(folder, 'p2tui.db');
    copyFileSync(db, ro);
    // Tests run as root, which ignores file modes: the immutable flag is what stops root writing.
    const immutable = spawnSync('chattr', ['+i', ro], { encoding: 'utf8' });
    if (immutable.status !== 0)
      return unavailable((why) => ctx.skip(why), `chattr +i is not available here: ${immutable.stderr}`);
    cleanups.push(() => spawnSync('chattr', ['-i', ro]));
    // The approach really refuses writes, as root too.
    expect(() => withRawDb(ro, (raw) => raw.exec('CREATE TABLE x (y)'))).toThrow(/readonly/);

    const run = p2tui(['run', 'treasurer', 'transfer 5 to agent_beta', '--temperature', '0'], ro);
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('error E_DB_READONLY');
    expect(run.stderr).toContain('hint: ');
    expect(run.stderr).not.toContain('bug in p2tui');
    const list = p2tui(['session', 'list'], ro);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('treasurer');
  }, 60_000);
});

describe('a full disk', () => {
  it('SQLite reporting the file full maps to E_DB_FULL', () => {
    const raw = new Database(':memory:');
    try {
      raw.exec('CREATE TABLE t (x)');
      raw.pragma(`max_page_count = ${Number(raw.pragma('page_count', { simple: true }))}`);
      let thrown: unknown;
      try {
        raw.prepare('INSERT INTO t VALUES (?)').run('x'.repeat(100_000));
      } catch (error) {
        thrown = error;
      }
      expect(translateSqliteError(thrown, 'x.db')).toMatchObject({
        code: 'E_DB_FULL',
        hint: expect.stringContaining('full'),
      });
    } finally {
      raw.close();
    }
  });

  it('a run on a tiny tmpfs that fills up stops with E_DB_FULL (exit 5), never as a bug', (ctx) => {
    const mount = join(tempDir(), 'tiny');
    mkdirSync(mount);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=600k', 'tmpfs', mount], { encoding: 'utf8' });
    if (mounted.status !== 0)
      return unavailable((why) => ctx.skip(why), `cannot mount a tmpfs here (needs root): ${mounted.stderr}`);
    cleanups.push(() => spawnSync('umount', ['-l', mount]));
    const db = join(mount, 'p2tui.db');
    // A fresh database takes ~300 KB; fill the rest of the disk so the session's first writes do not fit.
    new Store({ path: db }).close();
    const fill = openSync(join(mount, 'filler'), 'w');
    try {
      for (;;) writeSync(fill, Buffer.alloc(4096));
    } catch {
      // ENOSPC: the disk is full now.
    } finally {
      closeSync(fill);
    }
    const run = p2tui(['run', 'agent_alpha', 'hello', '--temperature', '0'], db);
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(/error E_DB_(FULL|IO)/);
    expect(run.stderr).toContain('hint: ');
    expect(run.stderr).not.toContain('bug in p2tui');
  }, 60_000);
});
