import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { App } from '../../src/app/app.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { Store } from '../../src/store/store.ts';
import { loadWorkspace, type LoadOptions } from '../../src/app/workspace.ts';
import type { SessionOptions } from '../../src/core/events.ts';
import type { Tool } from '../../src/tools/define.ts';
import type { Clock } from '../../src/core/clock.ts';

/** A temporary workspace folder, removed by `cleanup`. */
export interface TempWorkspace {
  readonly dir: string;
  write(file: string, text: string): void;
  persona(spec: Record<string, unknown>): void;
  cleanup(): void;
}

export function tempWorkspace(files: Record<string, string> = {}): TempWorkspace {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-test-'));
  const write = (file: string, text: string): void => {
    const path = join(dir, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  };
  mkdirSync(join(dir, 'personas'), { recursive: true });
  for (const [file, text] of Object.entries(files)) write(file, text);
  return {
    dir,
    write,
    // Temperature 0 unless a test says otherwise: the simulator is then exact whatever the seed.
    persona: (spec) => write(`personas/${String(spec['id'])}.yaml`, stringify({ temperature: 0, ...spec })),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TestEngine {
  readonly app: App;
  readonly engine: Engine;
  readonly ws: TempWorkspace;
  options(overrides?: Partial<SessionOptions>): SessionOptions;
  close(): void;
}

/** An engine over a temporary workspace with the given personas and extra tools. */
export async function testEngine(
  personas: Record<string, unknown>[],
  options: {
    tools?: Tool[];
    files?: Record<string, string>;
    load?: LoadOptions;
    concurrency?: number;
    leaseTtlMs?: number;
    /** The app's clock (a ManualClock for tests of timeouts, which then advance it instead of sleeping). */
    clock?: Clock;
  } = {},
): Promise<TestEngine> {
  const ws = tempWorkspace(options.files);
  for (const p of personas) ws.persona(p);
  const workspace = await loadWorkspace(ws.dir, { ...options.load, extraTools: options.tools ?? [] });
  const app = new App({
    workspace,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.leaseTtlMs === undefined ? {} : { leaseTtlMs: options.leaseTtlMs }),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const { engine } = app;
  return {
    app,
    engine,
    ws,
    options: (overrides = {}) => engine.sessionOptions({ seed: 7, approval: 'deny', ...overrides }),
    close: () => {
      app.close();
      ws.cleanup();
    },
  };
}

/** A store on a fresh database file in a temporary folder; `cleanup` closes it and removes the folder. */
export function tempStore(): { store: Store; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-store-'));
  const store = new Store({ path: join(dir, 'p.db') });
  return {
    store,
    cleanup: () => {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A payer (balance 100) whose script pays its payee 5, takes the extra steps given, and answers "paid"; and the
 * payee, with nothing. The distributed rollout tests' team.
 */
export function payerAndPayee(ws: TempWorkspace, extra: { tools?: string[]; steps?: object[] } = {}): void {
  ws.persona({
    id: 'payer',
    description: 'Pays.',
    tools: ['transfer_funds', ...(extra.tools ?? [])],
    balance: 100,
    script: [
      {
        when: '.',
        steps: [
          { call: 'transfer_funds', args: { to: 'payee', amount: '5', reason: 'work' } },
          ...(extra.steps ?? []),
          { reply: 'paid' },
        ],
      },
    ],
  });
  ws.persona({ id: 'payee', description: 'Is paid.', balance: 0 });
}

/**
 * A payer (balance 100) whose script, on a task matching `when`, pays the writer 15 for "the report" and answers
 * `reply` (then "Nothing to pay." to anything else); and the writer. The CLI tests of where payments came from.
 */
export function payerOfWriter(ws: TempWorkspace, reply: string, when = '.'): void {
  ws.persona({
    id: 'payer',
    description: 'Pays for reports.',
    tools: ['transfer_funds'],
    balance: 100,
    script: [
      {
        when,
        steps: [{ call: 'transfer_funds', args: { to: 'writer', amount: '15', reason: 'the report' } }, { reply }],
      },
      ...(when === '.' ? [] : [{ when: '.', steps: [{ reply: 'Nothing to pay.' }] }]),
    ],
  });
  ws.persona({ id: 'writer', description: 'Writes reports.' });
}

/** A workspace with `rollouts/weather.yaml` (the spec given) and its one agent, a forecaster with one answer. */
export function weatherWorkspace(spec: string): TempWorkspace {
  const ws = tempWorkspace({ 'rollouts/weather.yaml': spec });
  ws.persona({
    id: 'forecaster',
    description: 'Weather.',
    script: [{ when: '.', steps: [{ reply: 'The weather in Paris today is sunny, 22 °C.' }] }],
  });
  return ws;
}
