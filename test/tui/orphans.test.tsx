import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../../src/app/app.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { createTuiApp } from '../../src/tui/run.tsx';
import { childEnv } from '../helpers/child-env.ts';
import { withRawDb } from '../helpers/raw-db.ts';
import { tempWorkspace } from '../helpers/workspace.ts';
import { renderSized } from './render.ts';

/**
 * A TUI that is open when a `p2tui run` dies takes its session over at once, not only the sessions orphaned before
 * it started: the run is a real process, killed with SIGKILL mid-way while the TUI watches the sessions list.
 */
const ROOT = new URL('../..', import.meta.url).pathname;
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const DEMO = "What's the weather in Paris and who leads the Premier League?";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

describe('sessions orphaned while the TUI is open', () => {
  it('a run killed with SIGKILL while the TUI is open is continued by the TUI, which says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2tui-tui-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const db = join(dir, 'p2tui.db');
    const app = new App({ workspace: await loadWorkspace(ROOT, { db }) });
    const size = { columns: 120, rows: 32 };
    const tui = createTuiApp(app, { ...size, color: false, quit: () => undefined });
    const screen = renderSized(tui.element, size);
    tui.bridge.start();
    cleanups.push(() => {
      screen.unmount();
      tui.dispose();
      app.close();
    });
    await screen.waitFor('No sessions yet');

    const run = spawn(
      process.execPath,
      [
        MAIN,
        'run',
        'agent_alpha',
        DEMO,
        '--model',
        'scripted/slow',
        '--temperature',
        '0',
        '--workspace',
        ROOT,
        '--db',
        db,
      ],
      { env: childEnv() },
    );
    const exited = new Promise<void>((resolve) => run.on('exit', () => resolve()));
    cleanups.push(() => run.kill('SIGKILL'));
    let out = '';
    run.stdout.on('data', (d: Buffer) => (out += d.toString()));
    run.stderr.on('data', (d: Buffer) => (out += d.toString()));
    // The TUI lists the session as driven by the run, then the run dies mid-way (a slow model call takes 300 ms).
    const listed = await screen.waitFor(/s_\w+/, 15_000);
    const id = /s_\w+/.exec(listed)![0];
    await screen.waitFor((f) => f.split('\n').some((l) => l.includes(id) && /\bother\b/.test(l)), 5_000);
    run.kill('SIGKILL');
    await exited;
    expect(app.store.sessions.require(id).status).toBe('running');

    // Well before a lease would expire (15 s): the holder's pid is gone, so the TUI adopts the session and finishes it.
    await screen.waitFor('continuing 1 session left by a process that stopped', 5_000);
    expect(app.engine.get(id)).toBeDefined();
    expect(await app.engine.get(id)!.idle()).toBe('finished');
    expect(app.store.sessions.require(id).status).toBe('finished');
    expect(out).not.toContain('finished');
  }, 30_000);

  it('a run stopped with SIGSTOP inside an effect is adopted once its lease expires, and the effect is not done twice', async () => {
    const ws = tempWorkspace({
      'p2tui.yaml': 'approval: deny\nproviders:\n  scripted:\n    latency_ms: 5\n',
      'tools/effects.ts': `import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineTool, z } from 'p2tui';

const log = (ws: string) => join(ws, 'effects.log');
export const record = defineTool({
  name: 'record', description: 'An effect that can be looked up afterwards.', effect: 'effectful',
  input: z.object({ n: z.number() }),
  async run({ n }, ctx) {
    await new Promise((r) => setTimeout(r, 400));
    appendFileSync(log(ctx.workspace), ctx.key + ' ' + process.pid + '\\n');
    return { n };
  },
  reconcile: (args: { n: number }, ctx) =>
    existsSync(log(ctx.workspace)) && readFileSync(log(ctx.workspace), 'utf8').includes(ctx.key + ' ') ? { n: args.n } : null,
});
`,
      'personas/worker.yaml':
        "id: worker\ndescription: Records.\ntemperature: 0\ntools: [record]\nscript:\n  - when: '.'\n    steps:\n" +
        "      - { call: record, args: { n: '{{round}}' }, repeat: 2 }\n      - reply: 'all done'\n",
    });
    cleanups.push(() => ws.cleanup());
    const db = join(ws.dir, 'p2tui.db');
    const app = new App({ workspace: await loadWorkspace(ws.dir, { db }) });
    const size = { columns: 120, rows: 32 };
    const tui = createTuiApp(app, { ...size, color: false, quit: () => undefined });
    const screen = renderSized(tui.element, size);
    tui.bridge.start();
    cleanups.push(() => {
      screen.unmount();
      tui.dispose();
      app.close();
    });
    await screen.waitFor('No sessions yet');
    const run = spawn(process.execPath, [MAIN, 'run', 'worker', 'go', '--workspace', ws.dir, '--db', db], {
      env: childEnv({ P2TUI_LEASE_MS: '300' }),
    });
    const exited = new Promise<void>((resolve) => run.on('exit', () => resolve()));
    cleanups.push(() => run.kill('SIGKILL'));
    // Stopped while its first effect runs (started, not yet written): a lookup now finds nothing.
    const running = (): boolean =>
      existsSync(db) &&
      withRawDb(db, (raw) => raw.prepare("SELECT 1 FROM intents WHERE status = 'running'").get() !== undefined);
    for (let i = 0; i < 400 && !running(); i++) await new Promise((r) => setTimeout(r, 10));
    run.kill('SIGSTOP');
    const id = withRawDb(db, (raw) => raw.prepare('SELECT id FROM sessions').pluck().get() as string);

    // The lease expires 300 ms later; the TUI takes the session over and finishes it, without the stopped call.
    await screen.waitFor('continuing 1 session left by a process that stopped', 5_000);
    expect(await app.engine.get(id)!.idle()).toBe('finished');
    run.kill('SIGCONT');
    await exited;
    const lines = readFileSync(join(ws.dir, 'effects.log'), 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    const keys = lines.map((l) => l.split(' ')[0]);
    expect(keys.length).toBe(new Set(keys).size);
    // The TUI did the second effect; the first is the stopped process's to do or not (it exits on its lost lease).
    expect(lines.filter((l) => l.split(' ')[1] === String(process.pid))).toHaveLength(1);
    const statuses = withRawDb(db, (raw) =>
      (raw.prepare('SELECT result FROM intents WHERE session_id = ? ORDER BY rowid').pluck().all(id) as string[]).map(
        (r) => (JSON.parse(r) as { payload: { status: string } }).payload.status,
      ),
    );
    expect(statuses).toEqual(['unknown', 'ok']);
  }, 30_000);
});
