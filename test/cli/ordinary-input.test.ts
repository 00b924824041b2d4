import { unavailable } from '../helpers/host-tools.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childEnv } from '../helpers/child-env.ts';

/**
 * Ordinary input that p2tui used to report as "This is a bug in p2tui": each gets its own error code, exit code and
 * hint. Real processes, as a user runs them.
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

function p2tui(args: string[], options: { cwd?: string; timeout?: number } = {}): Result {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    cwd: options.cwd ?? ROOT,
    input: '',
    encoding: 'utf8',
    env: childEnv(),
    timeout: options.timeout ?? 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-input-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Not a bug: the code, the exit code, a hint, and no "bug in p2tui" line. */
function expectReported(r: Result, code: string, exit: number): void {
  expect(r.stderr).toContain(`error ${code}:`);
  expect(r.stderr).toContain('hint: ');
  expect(r.stderr).not.toContain('bug in p2tui');
  expect(r.code).toBe(exit);
}

/** A demo database holding one finished session. */
let db = '';
beforeAll(() => {
  db = join(mkdtempSync(join(tmpdir(), 'p2tui-input-db-')), 'p2tui.db');
  expect(p2tui(['run', 'agent_beta', 'Calculate 1 + 1', '--temperature', '0', '--db', db]).code).toBe(0);
}, 60_000);
afterAll(() => rmSync(join(db, '..'), { recursive: true, force: true }));

/** Runs `fn` with a path that even root cannot write below (the immutable flag), or skips. */
function immutableFolder(skip: (why: string) => void): string | undefined {
  const dir = join(tempDir(), 'locked');
  mkdirSync(dir);
  const set = spawnSync('chattr', ['+i', dir], { encoding: 'utf8' });
  if (set.status !== 0) {
    unavailable(skip, `chattr +i is not available here: ${set.stderr}`);
    return undefined;
  }
  cleanups.push(() => spawnSync('chattr', ['-i', dir]));
  return dir;
}

describe('ordinary input is not a bug in p2tui', () => {
  it('--limit 99999999999999999999 is a usage error (exit 2)', () => {
    for (const args of [
      ['session', 'list'],
      ['events', 'tail'],
    ]) {
      const r = p2tui([...args, '--limit', '99999999999999999999', '--db', db]);
      expectReported(r, 'E_USAGE', 2);
      expect(r.stderr).toContain('--limit is too large');
    }
  });

  it('ledger serve --port 99999 is a usage error (exit 2)', () => {
    const r = p2tui(['ledger', 'serve', '--port', '99999', '--db', db], { timeout: 20_000 });
    expect(r.stderr).toContain('error E_USAGE: --port must be between 0 and 65535, got 99999');
    expect(r.code).toBe(2);
  });

  it('a YAML alias bomb in p2tui.yaml is an invalid config (E_CONFIG, exit 3), refused at once', () => {
    const ws = tempDir();
    mkdirSync(join(ws, 'personas'));
    const lines = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    const names = 'bcdefghi';
    for (let i = 0; i < names.length; i++)
      lines.push(
        `${names[i]}: &${names[i]} [${Array(9)
          .fill(`*${i === 0 ? 'a' : names[i - 1]}`)
          .join(', ')}]`,
      );
    writeFileSync(join(ws, 'p2tui.yaml'), `${lines.join('\n')}\n`);
    const r = p2tui(['agents', 'list', '--workspace', ws], { timeout: 20_000 });
    expectReported(r, 'E_CONFIG', 3);
    expect(r.stderr).toContain('p2tui.yaml:1:1: YAML aliases expand to too many nodes');
  });

  it('init onto an existing file says so (E_FILE_EXISTS, exit 6) and writes nothing', () => {
    const file = join(tempDir(), 'taken');
    writeFileSync(file, 'mine\n');
    const r = p2tui(['init', file]);
    expectReported(r, 'E_FILE_EXISTS', 6);
    expect(r.stderr).toContain(`init: ${file} is a file, not a folder; nothing was written`);
  });

  it('init into a folder that cannot be written says so (E_FILE_ACCESS, exit 6)', (ctx) => {
    const locked = immutableFolder((why) => ctx.skip(why));
    if (locked === undefined) return;
    const r = p2tui(['init', join(locked, 'team')]);
    expectReported(r, 'E_FILE_ACCESS', 6);
    expect(r.stderr).toContain(`init: cannot write ${join(locked, 'team')}`);
  });

  it('--out into a missing folder says which folder (E_FILE_NOT_FOUND, exit 6), for every command with --out', () => {
    const missing = join(tempDir(), 'no', 'such', 'folder');
    for (const args of [
      ['session', 'export', 'last', '--out', join(missing, 'x.p2tui.json')],
      ['events', 'export', '--out', join(missing, 'x.jsonl')],
      ['rollout', 'export', 'last', '--out', join(missing, 'x.csv')],
    ]) {
      const r = p2tui([...args, '--db', db]);
      expectReported(r, 'E_FILE_NOT_FOUND', 6);
      expect(r.stderr).toContain(`the folder ${missing} does not exist`);
    }
  });

  it('--out that is a folder, or in a folder that cannot be written, is the file error it is (exit 6)', (ctx) => {
    const folder = tempDir();
    expectReported(p2tui(['session', 'export', 'last', '--out', folder, '--db', db]), 'E_FILE_TYPE', 6);
    const locked = immutableFolder((why) => ctx.skip(why));
    if (locked === undefined) return;
    expectReported(
      p2tui(['session', 'export', 'last', '--out', join(locked, 'x.json'), '--db', db]),
      'E_FILE_ACCESS',
      6,
    );
  });

  it('a full disk under --out is E_FILE_DISK_FULL (exit 6)', (ctx) => {
    const mount = join(tempDir(), 'tiny');
    mkdirSync(mount);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mount], { encoding: 'utf8' });
    if (mounted.status !== 0)
      return unavailable((why) => ctx.skip(why), `cannot mount a tmpfs here (needs root): ${mounted.stderr}`);
    cleanups.push(() => spawnSync('umount', ['-l', mount]));
    const fill = openSync(join(mount, 'filler'), 'w');
    try {
      for (;;) writeSync(fill, Buffer.alloc(4096));
    } catch {
      // ENOSPC: full.
    } finally {
      closeSync(fill);
    }
    const r = p2tui(['session', 'export', 'last', '--out', join(mount, 'x.p2tui.json'), '--db', db]);
    expectReported(r, 'E_FILE_DISK_FULL', 6);
    expect(r.stderr).toContain('no space left on the disk');
  });

  it('database: /proc/nope/x.db in p2tui.yaml fails at once (E_DB_OPEN, exit 5) instead of hanging', () => {
    const ws = tempDir();
    mkdirSync(join(ws, 'personas'));
    writeFileSync(join(ws, 'personas', 'solo.yaml'), 'id: solo\ndescription: Answers.\n');
    writeFileSync(join(ws, 'p2tui.yaml'), 'database: /proc/nope/x.db\n');
    const started = Date.now();
    const r = p2tui(['session', 'show', 'last', '--workspace', ws], { timeout: 15_000 });
    expect(Date.now() - started).toBeLessThan(15_000);
    const run = p2tui(['ledger', 'init', '--workspace', ws], { timeout: 15_000 });
    expectReported(run, 'E_DB_OPEN', 5);
    expect(run.stderr).toContain('/proc/nope');
    expect(r.code).not.toBeNull();
  });

  it('a YAML error at the end of a file names a line the file has', () => {
    const spec = join(tempDir(), 'broken.yaml');
    writeFileSync(spec, 'teams:\n  t:\n    variants: [{ id: a\n');
    const r = p2tui(['rollout', 'run', spec, '--db', db]);
    expectReported(r, 'E_ROLLOUT_SPEC', 3);
    expect(r.stderr).toContain(`${spec}:3:`);
    expect(r.stderr).not.toContain(`${spec}:4:`);
  });
});
