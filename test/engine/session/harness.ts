import { afterEach } from 'vitest';
import { z } from 'zod';
import { App } from '../../../src/app/app.ts';
import { loadWorkspace, type LoadOptions } from '../../../src/app/workspace.ts';
import { readSession } from '../../../src/engine/session-view.ts';
import type { Entry, EntryPayloads } from '../../../src/core/entries.ts';
import type { StoredEvent } from '../../../src/core/events.ts';
import type { SessionRuntime } from '../../../src/engine/session/runtime.ts';
import { defineTool, type Tool, type ToolContext } from '../../../src/tools/define.ts';
import { ManualClock } from '../../helpers/manual-clock.ts';
import { testEngine, type TestEngine } from '../../helpers/workspace.ts';

/**
 * What the tests of the session's parts share: engines closed after each test, tools whose runs the test finishes
 * (in any order, or never), and readers of what the store holds.
 */

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** `testEngine` on a manual clock (unless one is given), closed after the test. */
export async function setup(
  personas: Record<string, unknown>[],
  options: Parameters<typeof testEngine>[1] = {},
): Promise<TestEngine & { clock: ManualClock }> {
  const clock = options.clock instanceof ManualClock ? options.clock : new ManualClock();
  const t = await testEngine(personas, { ...options, clock });
  cleanups.push(() => t.close());
  return Object.assign(t, { clock });
}

/**
 * A second process on the same database file: the workspace loaded again (with `tools`) and a new app on it, as a
 * restarted p2tui would be. Closed after the test.
 */
export async function restart(
  t: TestEngine & { clock: ManualClock },
  tools: Tool[],
  load: LoadOptions = {},
): Promise<App> {
  const workspace = await loadWorkspace(t.ws.dir, { ...load, extraTools: tools });
  const app = new App({ workspace, clock: t.clock });
  cleanups.push(() => app.close());
  return app;
}

/** One run of a gated tool: what it was given, and the handles that end it. */
export interface GatedRun {
  readonly args: { n?: number; text?: string };
  readonly key: string;
  readonly callId: string;
  readonly approved: boolean;
  readonly ctx: ToolContext;
  /** Ends the run with this output (default: `{ n, by }`). */
  finish(output?: unknown): void;
  fail(error: Error): void;
}

/**
 * A tool whose runs wait until the test finishes them: the order calls end in, and whether they end at all, is the
 * test's. It ignores its abort signal on purpose (a tool that keeps going after a cancel or a crash).
 */
export function gatedTool(
  name: string,
  options: {
    effect?: 'pure' | 'idempotent' | 'effectful';
    cacheTtlMs?: number;
    dedup?: 'none' | 'penalty' | 'strict';
    reconcile?: (args: { n?: number }, ctx: ToolContext) => unknown;
    /** Runs at the start of each run (inside the tool, before it waits). */
    onStart?: (run: GatedRun) => void;
  } = {},
): Tool & { runs: GatedRun[]; runOf(n: number, index?: number): GatedRun } {
  const runs: GatedRun[] = [];
  const tool = defineTool({
    name,
    description: `gated test tool ${name}`,
    input: z.object({ n: z.number().optional(), text: z.string().optional() }),
    effect: options.effect ?? 'pure',
    ...(options.cacheTtlMs === undefined ? {} : { cacheTtlMs: options.cacheTtlMs }),
    ...(options.dedup === undefined ? {} : { dedup: options.dedup }),
    ...(options.reconcile === undefined ? {} : { reconcile: options.reconcile }),
    run: (args, ctx) =>
      new Promise((resolve, reject) => {
        const run: GatedRun = {
          args,
          key: ctx.key,
          callId: ctx.callId,
          approved: ctx.approved === true,
          ctx,
          finish: (output) => resolve(output ?? { n: args.n ?? null, by: name }),
          fail: reject,
        };
        runs.push(run);
        options.onStart?.(run);
      }),
  });
  const find = (n: number, index = 0): GatedRun => {
    const run = runs.filter((r) => r.args.n === n)[index];
    if (run === undefined) throw new Error(`${name} has no run #${index} with n=${n}`);
    return run;
  };
  return Object.assign(tool, { runs, runOf: find });
}

/** The entries of a session's conversation: its root, or the `index`th of `agent`. */
export function entriesOf(t: { engine: { store: App['store'] } }, session: string, agent?: string, index = 0): Entry[] {
  const view = readSession(t.engine.store, session);
  const conv =
    agent === undefined
      ? view.conversations.find((c) => c.row.parent === null)
      : view.conversations.filter((c) => c.row.agent === agent)[index];
  if (conv === undefined) throw new Error(`no conversation ${agent ?? 'root'} #${index} in ${session}`);
  return [...conv.entries];
}

/** Entry kinds, with a tool result's status and an agent result's (`tool_result:ok`). */
export function kinds(entries: readonly Entry[]): string[] {
  return entries.map((e) =>
    e.kind === 'tool_result' || e.kind === 'agent_result' ? `${e.kind}:${e.payload.status}` : e.kind,
  );
}

export function toolResults(entries: readonly Entry[]): EntryPayloads['tool_result'][] {
  return entries.flatMap((e) => (e.kind === 'tool_result' ? [e.payload] : []));
}

/** Every event of a session in the log, oldest first. */
export function eventsOf(t: { engine: { store: App['store'] } }, session: string): StoredEvent[] {
  return t.engine.store.log.read(0, { session }, 100_000);
}

/** Starts a session with the test engine's options (seed 7, approval deny unless given). */
export function start(
  t: TestEngine,
  agent: string,
  message = 'go',
  options: Parameters<TestEngine['options']>[0] = {},
): SessionRuntime {
  return t.engine.start({ agent, message, source: 'api', options: t.options(options) });
}
