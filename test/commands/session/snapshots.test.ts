import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { App } from '../../../src/app/app.ts';
import { loadWorkspace } from '../../../src/app/workspace.ts';
import { PersonaKit } from '../../../src/engine/persona-kit.ts';
import { rebuildFromLog } from '../../../src/engine/rebuild.ts';
import { restoreConversations } from '../../../src/engine/snapshot.ts';
import { childEnv } from '../../helpers/child-env.ts';
import { runCli } from '../../helpers/cli.ts';
import { countRows, withRawDb } from '../../helpers/raw-db.ts';
import { tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';

/**
 * Conversation snapshots from the command line (issue 22, target 4): a database made before them (schema 9) still
 * opens and rewinds and gets them; a rewind from them goes on exactly as one from the log; deleting branches or
 * sessions deletes their snapshots; a process killed while writing them leaves a database that loads correctly.
 */
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  vi.unstubAllEnvs();
});

const dbOf = (dir: string): string => join(dir, '.p2tui', 'p2tui.db');
const snapshotRows = (dir: string): number => countRows(dbOf(dir), 'SELECT count(*) AS n FROM conversation_snapshots');

/** A workspace with one session of `turns` messages and replies (each reply `size` characters), made in process. */
async function sessionWith(turns: number, size = 20): Promise<{ ws: TempWorkspace; id: string }> {
  const ws = tempWorkspace();
  cleanups.push(() => ws.cleanup());
  ws.persona({
    id: 'helper',
    description: 'Helps.',
    policies: { max_steps: 1000 },
    script: [{ when: '.', steps: [{ reply: `${'r'.repeat(size)} {{task}}` }] }],
  });
  const app = new App({ workspace: await loadWorkspace(ws.dir) });
  try {
    const { engine } = app;
    const run = engine.start({ agent: 'helper', message: 'm0', source: 'api', options: engine.sessionOptions() });
    expect(await run.idle()).toBe('finished');
    for (let i = 1; i < turns; i++) {
      await run.send(`m${i}`);
      expect(await run.idle()).toBe('finished');
    }
    return { ws, id: run.id };
  } finally {
    app.close();
  }
}

/** The request hashes of a session's model calls, oldest first: what each step sent the model. */
const requestHashes = (dir: string, id: string): string[] =>
  withRawDb(dbOf(dir), (raw) =>
    (
      raw
        .prepare(
          'SELECT m.request_hash AS h FROM model_calls m JOIN conversations c ON c.id = m.conversation_id ' +
            'WHERE c.session_id = ? ORDER BY m.rowid',
        )
        .all(id) as { h: string }[]
    ).map((r) => r.h),
  );

describe('conversation snapshots from the command line', () => {
  it('a schema-9 database rewinds and gets snapshots; rewinds from them go on exactly as rewinds without them', async () => {
    const { ws, id } = await sessionWith(12);
    // As main's code left it: no snapshot table, schema version 9.
    withRawDb(dbOf(ws.dir), (raw) => raw.exec('DROP TABLE conversation_snapshots; PRAGMA user_version = 9;'));
    const twin = mkdtempSync(join(tmpdir(), 'p2tui-twin-'));
    cleanups.push(() => rmSync(twin, { recursive: true, force: true }));
    cpSync(ws.dir, twin, { recursive: true });
    const withSnapshots = { P2TUI_SNAPSHOT_EVERY: '1' };
    const without = { P2TUI_SNAPSHOT_EVERY: '1000000' };
    for (const [dir, env] of [
      [ws.dir, withSnapshots],
      [twin, without],
    ] as const) {
      // Back to the 11th message (#30: a turn is message, reply, finished), which replays the log (and in `ws`
      // writes snapshots), then to the 9th (#24), which in `ws` loads from them; then the session goes on.
      for (const step of ['30', '24']) {
        const rewound = await runCli(['session', 'rewind', id, step], { cwd: dir, env });
        expect(rewound.stderr).toBe('');
        expect(rewound.code).toBe(0);
      }
      const resumed = await runCli(['session', 'resume', id], { cwd: dir, env });
      expect(resumed.code, resumed.stderr).toBe(0);
    }
    expect(withRawDb(dbOf(ws.dir), (raw) => raw.pragma('user_version', { simple: true }))).toBe(10);
    expect(snapshotRows(ws.dir)).toBeGreaterThan(0);
    expect(snapshotRows(twin)).toBe(0);
    // The steps after each rewind sent the model the same requests (every message of the transcript is hashed).
    const hashes = requestHashes(ws.dir, id);
    expect(hashes).toHaveLength(13);
    expect(hashes).toEqual(requestHashes(twin, id));
    const shown = (dir: string) => runCli(['session', 'show', id], { cwd: dir, env: without });
    const strip = (text: string) => text.replace(/b_[0-9a-z]+/g, 'b_*').replace(/started \d+\w* ago/, 'started');
    expect(strip((await shown(ws.dir)).stdout)).toEqual(strip((await shown(twin)).stdout));
  });

  it('deleting a session deletes its snapshots, and pruning branches deletes theirs', async () => {
    vi.stubEnv('P2TUI_SNAPSHOT_EVERY', '1');
    const { ws, id } = await sessionWith(4);
    const env = { P2TUI_SNAPSHOT_EVERY: '1' };
    const main = withRawDb(dbOf(ws.dir), (raw) =>
      raw.prepare('SELECT head_branch AS b FROM sessions WHERE id = ?').get(id),
    ) as { b: string };
    expect((await runCli(['session', 'rewind', id, '3', '--label', 'old'], { cwd: ws.dir, env })).code).toBe(0);
    expect((await runCli(['session', 'resume', id], { cwd: ws.dir, env })).code).toBe(0);
    expect((await runCli(['session', 'checkout', id, main.b], { cwd: ws.dir, env })).code).toBe(0);
    const onOld = (): number =>
      countRows(
        dbOf(ws.dir),
        'SELECT count(*) AS n FROM conversation_snapshots s JOIN branches b ON b.id = s.branch_id WHERE b.label = ?',
        'old',
      );
    expect(onOld()).toBeGreaterThan(0);
    // Old enough to prune: its entries and its row a month back.
    withRawDb(dbOf(ws.dir), (raw) => {
      raw
        .prepare(
          "UPDATE events SET ts = ts - 2592000000 WHERE branch_id IN (SELECT id FROM branches WHERE label = 'old')",
        )
        .run();
      raw.prepare("UPDATE branches SET created_at = created_at - 2592000000 WHERE label = 'old'").run();
    });
    const pruned = await runCli(['conversation', 'prune', id, '--execute'], { cwd: ws.dir, env });
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(countRows(dbOf(ws.dir), "SELECT count(*) AS n FROM branches WHERE label = 'old'")).toBe(0);
    expect(
      countRows(
        dbOf(ws.dir),
        'SELECT count(*) AS n FROM conversation_snapshots WHERE branch_id NOT IN (SELECT id FROM branches)',
      ),
    ).toBe(0);
    expect(snapshotRows(ws.dir)).toBeGreaterThan(0);
    const deleted = await runCli(['session', 'delete', id], { cwd: ws.dir, env });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(snapshotRows(ws.dir)).toBe(0);
  });

  it('kill -9 while snapshots are being written leaves a database that opens, loads as the log says and rewinds', async () => {
    // Replies of 200 KB: each snapshot write is megabytes, most of the writer's time.
    const { ws, id } = await sessionWith(16, 200_000);
    const script = join(ws.dir, 'writer.ts');
    const src = new URL('../../../src/', import.meta.url).pathname;
    writeFileSync(
      script,
      [
        `import { App } from '${src}app/app.ts';`,
        `import { loadWorkspace } from '${src}app/workspace.ts';`,
        `import { PersonaKit } from '${src}engine/persona-kit.ts';`,
        `import { rebuildFromLog } from '${src}engine/rebuild.ts';`,
        `import { saveSnapshots } from '${src}engine/snapshot.ts';`,
        `const app = new App({ workspace: await loadWorkspace(${JSON.stringify(ws.dir)}) });`,
        'const { engine } = app;',
        'const kit = new PersonaKit(engine.ports.personas, engine.ports.tools);',
        `const row = engine.store.sessions.require(${JSON.stringify(id)});`,
        'const built = rebuildFromLog(engine.store, kit, row, (a) => engine.ports.personas.get(a));',
        'for (let i = 0; ; i++) {',
        // Written again and again, as if each time they had grown.
        '  for (const conv of built.conversations.values()) conv.snapshotEntries = -1_000_000;',
        '  saveSnapshots(engine.store, row.id, built.conversations.values());',
        "  if (i === 0) process.stdout.write('writing\\n');",
        '}',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [script], {
      cwd: ws.dir,
      env: childEnv({}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('writing')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`the writer stopped (${code})`)));
    });
    await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 200));
    const ended = new Promise((resolve) => child.on('exit', (_, signal) => resolve(signal)));
    child.kill('SIGKILL');
    expect(await ended).toBe('SIGKILL');
    expect(withRawDb(dbOf(ws.dir), (raw) => raw.pragma('integrity_check', { simple: true }))).toBe('ok');
    expect(snapshotRows(ws.dir)).toBeGreaterThan(0);
    const app = new App({ workspace: await loadWorkspace(ws.dir) });
    try {
      const { engine } = app;
      const kit = new PersonaKit(engine.ports.personas, engine.ports.tools);
      const row = engine.store.sessions.require(id);
      const persona = (agent: string) => engine.ports.personas.get(agent);
      const loaded = restoreConversations(engine.store, kit, row, persona);
      expect(loaded).toBeDefined();
      const root = loaded!.root;
      const truth = rebuildFromLog(engine.store, kit, row, persona).root;
      expect(JSON.stringify(root.transcript.messages)).toBe(JSON.stringify(truth.transcript.messages));
      expect([root.state, root.steps, root.headSeq]).toEqual([truth.state, truth.steps, truth.headSeq]);
    } finally {
      app.close();
    }
    const rewound = await runCli(['session', 'rewind', id, '4'], { cwd: ws.dir });
    expect(rewound.code, rewound.stderr).toBe(0);
    const resumed = await runCli(['session', 'resume', id], { cwd: ws.dir });
    expect(resumed.code, resumed.stderr).toBe(0);
  }, 30_000);
});
