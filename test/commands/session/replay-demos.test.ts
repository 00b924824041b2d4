import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerInitCommand } from '../../../src/commands/ledger/wallets.ts';
import { rolloutRunCommand } from '../../../src/commands/rollout/run.ts';
import { chatCommand } from '../../../src/commands/run/chat.ts';
import { runCommand } from '../../../src/commands/run/run.ts';
import { exportCommand, importCommand } from '../../../src/commands/session/bundles.ts';
import { respondCommand, resumeCommand } from '../../../src/commands/session/control.ts';
import { forkCommand } from '../../../src/commands/session/fork.ts';
import { replayCommand } from '../../../src/commands/session/replay.ts';
import { EXIT } from '../../../src/commands/types.ts';
import { withRawDb } from '../../helpers/raw-db.ts';
import { tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';
import { commandContext, type TestContext } from '../helpers.ts';

/**
 * Property-style: every demo of the README and every persona and rollout of the demo workspace, run offline, replays
 * exactly (`session replay` exit 0); and a recording changed in one place (a reply, an amount) does not (exit 1,
 * showing both entries). In process, over a copy of the demo workspace.
 */

const ROOT = join(import.meta.dirname, '../../..');
const DEMO = ['personas', 'tools', 'rubrics', 'evaluators', 'policies', 'rollouts', 'p2tui.yaml'];

let ws: TempWorkspace;
let ctx: TestContext;
/** Every recorded session to replay, with what it is. */
const recorded: { what: string; session: string }[] = [];

async function sessionOf(
  run: Promise<{ exitCode: number; json: unknown; stdout: string }>,
  exit: number = EXIT.ok,
): Promise<string> {
  const r = await run;
  expect(r.exitCode, JSON.stringify(r.json)).toBe(exit);
  return (r.json as { session: string }).session;
}

/** A chat in its own context: `answers` are what the person types, in order. */
async function chatted(argv: readonly string[], answers: readonly string[]): Promise<string> {
  const chat = commandContext(ws.dir, { answers });
  try {
    return await sessionOf(chat.run(chatCommand, [...argv, '--json']));
  } finally {
    await chat.close();
  }
}

async function replay(
  session: string,
): Promise<{ exitCode: number; json: Record<string, unknown>; lines: readonly string[] }> {
  const r = await ctx.run(replayCommand, [session]);
  const json = (await ctx.run(replayCommand, [session, '--json'])).json as Record<string, unknown>;
  return { exitCode: r.exitCode, json, lines: r.lines };
}

beforeAll(async () => {
  ws = tempWorkspace();
  for (const name of DEMO) cpSync(join(ROOT, name), join(ws.dir, name), { recursive: true });
  // One repeat per cell: every variant and scenario still runs, in a few seconds.
  for (const spec of ['demo_rollout.yaml', 'p2engine-payments.yaml', 'temperature.yaml']) {
    const path = join(ws.dir, 'rollouts', spec);
    writeFileSync(path, readFileSync(path, 'utf8').replace(/^repeats: \d+$/m, 'repeats: 1'));
  }
  // A workspace tool whose output is its own idempotency key (as `transfer_funds` returns its key as the reference).
  ws.write(
    'tools/stamp.ts',
    "import { defineTool, z } from 'p2tui';\n" +
      "export const stamp = defineTool({ name: 'stamp', description: 'Stamps a document.', input: z.object({ doc: z.string() }),\n" +
      "  effect: 'effectful', run: ({ doc }, ctx) => ({ doc, key: ctx.key }) });\n",
  );
  ws.persona({
    id: 'stamper',
    description: 'Stamps documents.',
    tools: ['stamp'],
    script: [{ when: '.', steps: [{ call: 'stamp', args: { doc: '{{task}}' } }, { reply: 'Stamped: {{result}}.' }] }],
  });
  ctx = commandContext(ws.dir);
  expect((await ctx.run(ledgerInitCommand, [])).exitCode).toBe(EXIT.ok);
  const run = (argv: string[], exit?: number) => sessionOf(ctx.run(runCommand, [...argv, '--json']), exit);
  const demos: [string, () => Promise<string>][] = [
    [
      'walkthrough: delegation in parallel',
      () => run(['agent_alpha', "What's the weather in Paris and who leads the Premier League?"]),
    ],
    ['ask_user answered by policy', () => run(['agent_helper', 'What is the weather like?', '--approval', 'deny'])],
    [
      'ask_user answered with session respond',
      async () => {
        const s = await run(['agent_helper', 'What is the weather like?'], EXIT.waiting);
        expect((await ctx.run(respondCommand, [s, 'Oslo'])).exitCode).toBe(EXIT.ok);
        return s;
      },
    ],
    ['chat with agent_beta', () => chatted(['agent_beta'], ['Who leads La Liga?', 'And the Bundesliga?', '/exit'])],
    ['chat: plan a picnic (asks where)', () => chatted(['agent_alpha'], ['Plan a picnic', 'Paris', '/exit'])],
    [
      'invoice (effectful, its key in its output)',
      () => run(['treasurer', 'Pay agent_beta 120 for the league analysis']),
    ],
    [
      'transfer_funds',
      () => run(['treasurer', 'Check my balance, then transfer 15 to agent_helper for the weather report.']),
    ],
    ['escrow: hire agent_beta', () => run(['agent_alpha', 'hire agent_beta for 5 to calculate 6 * 7'])],
    ['a tool returning its own key', () => run(['stamper', 'the lease'])],
    [
      'a branch forked with overrides',
      async () => {
        const s = await run(['agent_alpha', "What's the weather in Paris and who leads the Premier League?"]);
        const fork = await ctx.run(forkCommand, [
          s,
          '--step',
          '2',
          '--temperature',
          '0.9',
          '--label',
          'hot',
          '--checkout',
        ]);
        expect(fork.exitCode).toBe(EXIT.ok);
        expect((await ctx.run(resumeCommand, [s])).exitCode).toBe(EXIT.ok);
        return s;
      },
    ],
  ];
  for (const [what, make] of demos) recorded.push({ what, session: await make() });
  // Every persona on its own, with a message its script answers.
  for (const [agent, message] of [
    ['agent_alpha', 'Plan a picnic'],
    ['agent_beta', 'Who leads the Premier League?'],
    ['agent_helper', "What's the weather in Tokyo?"],
    ['treasurer', 'What is my balance?'],
  ] as const)
    recorded.push({ what: `persona ${agent}`, session: await run([agent, message, '--approval', 'deny']) });
  // Every rollout's every cell (each its own session, with its variant's overrides on its main branch).
  for (const spec of ['demo_rollout.yaml', 'p2engine-payments.yaml', 'temperature.yaml']) {
    const r = await ctx.run(rolloutRunCommand, [join('rollouts', spec), '--json']);
    expect(r.exitCode).toBe(EXIT.ok);
    const cells = (r.json as { cells: { id: string; session: string | null }[] }).cells;
    expect(cells.length).toBeGreaterThan(1);
    for (const cell of cells) recorded.push({ what: `rollout ${spec} cell ${cell.id}`, session: cell.session! });
  }
}, 120_000);

afterAll(async () => {
  await ctx?.close();
  ws?.cleanup();
});

describe('session replay of every demo', () => {
  it('replays every README demo, persona and rollout cell exactly', async () => {
    const differing: string[] = [];
    for (const { what, session } of recorded) {
      const r = await replay(session);
      if (r.exitCode !== EXIT.ok || r.json['same'] !== true)
        differing.push(`${what} (${session}): ${r.lines.slice(-3).join('\n')}`);
    }
    expect(differing).toEqual([]);
    expect(recorded.length).toBeGreaterThan(20);
  }, 120_000);

  it('replays the demos exactly from bundles loaded into another database (session import)', async () => {
    const other = commandContext(ws.dir, { dbPath: join(ws.dir, 'other.db') });
    try {
      const differing: string[] = [];
      for (const { what, session } of recorded.filter((r) => !r.what.startsWith('rollout'))) {
        const file = join(ws.dir, `${session}.json`);
        expect((await ctx.run(exportCommand, [session, '--out', file])).exitCode).toBe(EXIT.ok);
        expect((await other.run(importCommand, [file])).exitCode).toBe(EXIT.ok);
        const r = await other.run(replayCommand, [session]);
        if (r.exitCode !== EXIT.ok) differing.push(`${what} (${session}): ${r.lines.slice(-3).join('\n')}`);
      }
      expect(differing).toEqual([]);
    } finally {
      await other.close();
    }
  }, 120_000);

  it('still finds a real difference: a recorded reply or amount changed in one place exits 1 and shows both', async () => {
    const db = join(ws.dir, '.p2tui', 'p2tui.db');
    const of = (what: string): string => recorded.find((r) => r.what === what)!.session;
    const change = (session: string, path: string, from: string, to: string): void =>
      withRawDb(db, (raw) => {
        const changed = raw
          .prepare(
            `UPDATE model_calls SET response = replace(response, ?, ?)
             WHERE conversation_id IN (SELECT id FROM conversations WHERE session_id = ? AND path = ?) AND instr(response, ?) > 0`,
          )
          .run(from, to, session, path, from).changes;
        expect(changed).toBe(1);
      });
    // The helper's reply, as recorded: the coordinator then receives another report.
    const walkthrough = of('walkthrough: delegation in parallel');
    change(walkthrough, 'agent_alpha/agent_helper#1', 'Paris: 22 °C', 'Paris: 23 °C');
    const reply = await ctx.run(replayCommand, [walkthrough]);
    expect(reply.exitCode).toBe(EXIT.failed);
    // First where the coordinator receives the report (or the helper's own reply, if compared first).
    expect(reply.lines.at(-3)).toMatch(
      new RegExp(`^✗ differs from ${walkthrough} in conversation agent_alpha\\S* at entry \\d+$`),
    );
    expect(reply.lines.at(-2)).toContain('"text":"Paris: 22 °C, partly cloudy."');
    expect(reply.lines.at(-1)).toContain('"text":"Paris: 23 °C, partly cloudy."');
    // The amount of a payment, as the model asked for it.
    const transfer = of('transfer_funds');
    change(transfer, 'treasurer', '\\"amount\\":15,', '\\"amount\\":16,');
    const amount = await ctx.run(replayCommand, [transfer, '--json']);
    expect(amount.exitCode).toBe(EXIT.failed);
    expect(amount.json).toMatchObject({ same: false, path: 'treasurer' });
    const { expected, actual } = amount.json as { expected: string; actual: string };
    expect(expected).toContain('"tool":"transfer_funds","args":{"amount":15,');
    expect(actual).toContain('"tool":"transfer_funds","args":{"amount":16,');
  }, 60_000);
});
