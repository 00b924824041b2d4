import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../../src/app/app.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { createTuiApp } from '../../src/tui/run.tsx';
import { childEnv } from '../helpers/child-env.ts';
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
});
