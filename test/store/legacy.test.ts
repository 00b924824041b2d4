import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/store/store.ts';
import { parseBundle } from '../../src/store/bundle.ts';
import { childEnv } from '../helpers/child-env.ts';

/**
 * Files made by p2tui before the re-cut of issue 14 (commit 6d3234b; see test/fixtures/legacy/README.md): a user's
 * database and the bundles they exported must still open, verify, replay and import with this code.
 */
const ROOT = new URL('../..', import.meta.url).pathname;
const LEGACY = join(ROOT, 'test/fixtures/legacy');
const dir = mkdtempSync(join(tmpdir(), 'p2tui-legacy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function p2tui(db: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [join(ROOT, 'src/cli/main.ts'), ...args, '--db', db], {
    cwd: ROOT,
    encoding: 'utf8',
    env: childEnv(),
  });
}

describe('files made by an earlier p2tui (6d3234b)', () => {
  it('a database opens with its sessions, branches, scores, ledger and rollout, and its sessions replay', () => {
    const db = join(dir, 'old.db');
    copyFileSync(join(LEGACY, 'p2tui-6d3234b.db'), db);
    const list = JSON.parse(p2tui(db, 'session', 'list', '--cells', '--json').stdout) as {
      id: string;
      agent: string;
    }[];
    expect(list.map((s) => s.agent).sort()).toEqual([
      'agent_alpha',
      'agent_helper',
      'agent_helper',
      'agent_helper',
      'agent_helper',
      'treasurer',
    ]);
    const alpha = list.find((s) => s.agent === 'agent_alpha')!.id;
    const replayed = p2tui(db, 'session', 'replay', alpha);
    expect(replayed.stderr).toBe('');
    expect(replayed.status).toBe(0);
    expect(replayed.stdout).toContain('✓ identical');
    const treasurer = list.find((s) => s.agent === 'treasurer')!.id;
    expect(p2tui(db, 'session', 'branches', treasurer).stdout).toMatch(/b_\w+.*\n.*b_\w+/);
    expect(p2tui(db, 'eval', 'show', treasurer).stdout).toContain('delivery');
    const audit = p2tui(db, 'ledger', 'audit', '--verify');
    expect(audit.stdout).toContain('chain ok');
    expect(p2tui(db, 'ledger', 'balance', 'treasurer').stdout).toContain('987.5');
    expect(p2tui(db, 'rollout', 'list').stdout).toMatch(/tiny-fixture.*finished/);
  }, 60_000);

  it('bundles import into a fresh database, with their artifacts and scores, and replay offline', () => {
    const db = join(dir, 'fresh.db');
    const imported = p2tui(db, 'session', 'import', join(LEGACY, 'bundle-6d3234b.p2tui.json'), '--json');
    expect(imported.status).toBe(0);
    const { session } = JSON.parse(imported.stdout) as { session: string };
    const replayed = p2tui(db, 'session', 'replay', session);
    expect(replayed.status).toBe(0);
    expect(replayed.stdout).toContain('✓ identical');
    expect(p2tui(db, 'session', 'import', join(LEGACY, 'bundle-artifacts-6d3234b.p2tui.json')).status).toBe(0);
    const bundle = parseBundle(
      JSON.parse(readFileSync(join(LEGACY, 'bundle-artifacts-6d3234b.p2tui.json'), 'utf8')),
      'bundle',
    );
    const store = new Store({ path: db });
    try {
      const [ref] = store.artifacts.list(bundle.session.id);
      expect(ref?.name).toBe('Quarterly.md');
      expect(store.artifacts.get(ref!.hash)?.data.toString()).toBe('# Quarterly\n\nAll well.\n');
      expect(store.scores.scores({ session: bundle.session.id }).map((s) => [s.evaluator, s.value])).toEqual([
        ['filed', 1],
      ]);
    } finally {
      store.close();
    }
  }, 60_000);
});
