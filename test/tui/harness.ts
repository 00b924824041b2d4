import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../../src/app/app.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import type { Engine } from '../../src/engine/engine.ts';
import type { ModelProvider } from '../../src/models/provider.ts';
import { RolloutRunner } from '../../src/rollout/runner.ts';
import { parseRolloutSpec } from '../../src/rollout/spec.ts';
import { createTuiApp, type TuiApp } from '../../src/tui/run.tsx';
import { KEYS, renderSized, type Rendered } from './render.ts';

/**
 * The TUI over this repository's demo workspace with a fresh database, in a fake terminal of a given size (ink's
 * testing renderer): what the in-process TUI tests drive. Call `closeTuis` in afterEach.
 */
export const ROOT = new URL('../..', import.meta.url).pathname;

export interface Harness {
  /** The workspace wired to the database (what the TUI drives). */
  readonly app: App;
  readonly engine: Engine;
  /** The TUI: its store, bridge and element. */
  readonly tui: TuiApp;
  readonly screen: Rendered;
  /** What the TUI wrote to the terminal outside its frames (the clipboard sequences). */
  readonly written: string[];
  /** How many times the TUI asked to quit. */
  quits: number;
}

const cleanups: (() => void)[] = [];

/** Runs `close` after the test, with the TUIs (another App on the same database, a temporary folder, …). */
export function onClose(close: () => void): void {
  cleanups.push(close);
}

/** Unmounts the TUIs opened by the test and removes their databases. */
export function closeTuis(): void {
  for (const c of cleanups.splice(0).reverse()) c();
}

export async function openTui(
  size: { columns: number; rows: number } = { columns: 120, rows: 32 },
  options: { color?: boolean; db?: string; providers?: readonly ModelProvider[] } = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-tui-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const workspace = await loadWorkspace(ROOT, {
    db: options.db ?? join(dir, 'p2tui.db'),
    configure: (providers) => options.providers?.forEach((p) => providers.register(p)),
  });
  const app = new App({ workspace });
  const written: string[] = [];
  const counter = { quits: 0 };
  const tui = createTuiApp(app, {
    ...size,
    color: options.color ?? true,
    quit: () => (counter.quits += 1),
    writeTerminal: (d) => written.push(d),
  });
  const screen = renderSized(tui.element, size);
  tui.bridge.start();
  cleanups.push(() => {
    screen.unmount();
    tui.dispose();
    app.close();
  });
  return Object.assign(counter, { app, engine: app.engine, tui, screen, written });
}

/** Starts a session through the keyboard: n, pick the agent, type, Enter. */
export async function startSession(h: Harness, agentIndex: number, message: string): Promise<void> {
  await h.screen.press('n');
  await h.screen.waitFor('choose an agent');
  for (let i = 0; i < agentIndex; i++) await h.screen.press('j');
  await h.screen.press(KEYS.enter);
  await h.screen.waitFor('message to ');
  await h.screen.press(message, KEYS.enter);
}

/**
 * Runs a rollout spec (its YAML, as `rollouts/<name>.yaml`) to the end, then opens its grid with R and Enter and waits
 * until the grid shows it with `ready` true of the frame. Returns the rollout's id and the grid's frame.
 */
export async function runToGrid(
  h: Harness,
  name: string,
  yaml: string,
  ready: (frame: string) => boolean,
): Promise<{ rollout: string; grid: string }> {
  const spec = parseRolloutSpec(yaml, `rollouts/${name}.yaml`, h.app.workspace);
  const outcome = await new RolloutRunner(h.app).start(spec);
  await h.screen.press('R');
  await h.screen.waitFor('Rollouts: Enter opens the grid');
  await h.screen.press(KEYS.enter);
  const grid = await h.screen.waitFor((f) => f.includes(`Rollout ${name} (${outcome.rollout.id})`) && ready(f));
  return { rollout: outcome.rollout.id, grid };
}
