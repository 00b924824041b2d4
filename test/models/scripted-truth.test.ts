import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../src/app/app.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { readSession } from '../../src/engine/session-view.ts';
import { decide } from '../../src/models/scripted/policy.ts';
import type { ModelRequest } from '../../src/models/provider.ts';
import { testEngine, type TestEngine } from '../helpers/workspace.ts';

/**
 * The offline demo tells the truth (issue 17, point 7; issue 19, point 2): every clause of a task is answered,
 * amounts as people write them are paid and restated, a locked payment always gets its work, and a system prompt
 * shows in the answer.
 */
const apps: (App | TestEngine)[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.close();
});

interface Run {
  readonly answer: string;
  /** Tool calls per conversation path, with their arguments. */
  readonly calls: { path: string; tool: string; args: unknown }[];
  readonly paths: string[];
}

async function demo(agent: string, message: string, seed = 1, temperature?: number): Promise<Run> {
  const workspace = await loadWorkspace(new URL('../..', import.meta.url).pathname, { db: ':memory:' });
  const app = new App({ workspace });
  apps.push(app);
  const session = app.engine.start({
    agent,
    message,
    source: 'api',
    options: app.engine.sessionOptions({
      seed,
      approval: 'deny',
      ...(temperature === undefined ? {} : { temperature }),
    }),
  });
  await session.idle();
  return view(app.engine.store, session.id);
}

function view(store: App['engine']['store'], id: string): Run {
  const v = readSession(store, id);
  return {
    answer: v.answer ?? '',
    paths: v.conversations.map((c) => c.row.path),
    calls: v.conversations.flatMap((c) =>
      c.entries.flatMap((e) =>
        e.kind === 'tool_call' ? [{ path: c.row.path, tool: e.payload.tool, args: e.payload.args }] : [],
      ),
    ),
  };
}

describe('every clause of a task is answered', () => {
  it('"X, then Y", "X and then Y" and numbered steps: a call and a line for each clause', async () => {
    for (const task of [
      "What's the weather in Paris, then the weather in Oslo?",
      "What's the weather in Paris and then the weather in Oslo?",
      "1. What's the weather in Paris 2. What's the weather in Oslo",
    ]) {
      const run = await demo('agent_helper', task);
      expect(run.calls.map((c) => c.args)).toEqual([
        { location: 'Paris', unit: 'celsius' },
        { location: 'Oslo', unit: 'celsius' },
      ]);
      expect(run.answer).toContain('Paris: 22 °C');
      expect(run.answer).toContain('Oslo: 4 °C');
    }
  });

  it("a script's clauses follow their own rules: the treasurer checks the balance, then pays", async () => {
    const run = await demo('treasurer', 'Check my balance, then transfer 15 to agent_helper for the weather report.');
    expect(run.calls.map((c) => c.tool)).toEqual(['check_balance', 'transfer_funds']);
    // A line per clause (this in-memory workspace has no ledger, so both calls say why they failed).
    const lines = run.answer.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^Balance: check_balance failed: /);
    expect(lines[1]).toMatch(/^Paid: transfer_funds failed: /);
    expect(run.calls[1]!.args).toMatchObject({ to: 'agent_helper', amount: 15 });
  });

  it('a clause no tool fits is answered as such, not dropped', async () => {
    const run = await demo('agent_helper', "What's the weather in Paris, then sing me a lullaby");
    expect(run.answer).toContain('Paris: 22 °C');
    expect(run.answer).toContain('None of my tools covers "sing me a lullaby"');
  });
});

describe('a warm run says what it skipped', () => {
  it('an agent whose only call was skipped says it did not get to the task, never that no tool covers it', async () => {
    const answers: string[] = [];
    for (let seed = 1; seed <= 12; seed++) answers.push((await demo('agent_beta', 'calculate 6 * 7', seed, 2)).answer);
    expect(answers.some((a) => a === 'I did not get to "calculate 6 * 7".')).toBe(true);
    expect(answers.some((a) => a.includes('42'))).toBe(true);
    expect(answers.filter((a) => a.includes('None of my tools'))).toEqual([]);
  });
});

describe('amounts as people write them', () => {
  it('"$12.50", "5 units", "3 credits": the payment pays that amount and the answer restates it', async () => {
    const t = await testEngine([
      { id: 'payer', description: 'Pays agents.', tools: ['transfer_funds'], balance: 100 },
      { id: 'payee_agent', description: 'Is paid.', balance: 0 },
    ]);
    apps.push(t);
    for (const [task, paid, said] of [
      ['Transfer $12.50 to payee_agent for the report', '12.5', '$12.50'],
      ['Transfer 5 units to payee_agent for the notes', '5', '5 units'],
      ['Transfer 3 credits to payee_agent', '3', '3 credits'],
    ] as const) {
      const session = t.engine.start({ agent: 'payer', message: task, source: 'api', options: t.options({ seed: 1 }) });
      await session.idle();
      const run = view(t.engine.store, session.id);
      expect(run.calls).toEqual([
        {
          path: 'payer',
          tool: 'transfer_funds',
          args: expect.objectContaining({ to: 'payee_agent', amount: Number(paid) }),
        },
      ]);
      expect(run.answer).toContain(said);
    }
  });

  it("the demo treasurer reads them too (its built-in planning, where its rules' patterns do not match)", async () => {
    const run = await demo('treasurer', 'Transfer 5 units to agent_helper for the notes');
    expect(run.calls).toEqual([
      { path: 'treasurer', tool: 'transfer_funds', args: expect.objectContaining({ to: 'agent_helper', amount: 5 }) },
    ]);
    expect(run.answer).toContain('5 units');
  });
});

describe('the demo never pays for undelivered work', () => {
  it('an escrow the lead opened always gets its delegation, however warm the run', async () => {
    const runs: { escrow: boolean; delegated: boolean }[] = [];
    for (let seed = 1; seed <= 16; seed++) {
      const run = await demo('agent_alpha', 'hire agent_beta for 5 to calculate 6 * 7', seed, 2);
      runs.push({
        escrow: run.calls.some((c) => c.tool === 'open_escrow'),
        delegated: run.paths.some((p) => p.includes('agent_beta')),
      });
    }
    expect(runs.some((r) => r.escrow && r.delegated)).toBe(true);
    // Warm runs do skip steps (here, the escrow: the work is then done unpaid), but never the work of a locked payment.
    expect(runs.some((r) => !r.escrow)).toBe(true);
    expect(runs.filter((r) => r.escrow && !r.delegated)).toEqual([]);
  });
});

describe('a system prompt shows in the answer', () => {
  const ask = (system: string): string => {
    const request: ModelRequest = {
      model: 'default',
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: 'hello there' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'lookup', arguments: '{}' }] },
        {
          role: 'tool',
          toolCallId: 'c1',
          name: 'lookup',
          content: '{"status":"ok","output":"It\'s sunny. Wind is light."}',
        },
      ],
      tools: [],
      temperature: 0,
      seed: 1,
      estimatedInputTokens: 10,
      simulation: {
        agent: 'w',
        description: 'Writes.',
        script: [],
        conversationPath: 'w',
        ordinal: 2,
        taskIndex: 1,
        round: 1,
      },
    };
    return decide(request).text;
  };

  it("honours a documented set of instructions, and notes any other one; the persona's own prompt changes nothing", () => {
    const plain = ask('You are w: Writes.');
    expect(plain).toBe("It's sunny. Wind is light.");
    expect(ask('You are w: Writes. Use your tools for every number you report.')).toBe(plain);
    expect(ask('You are a pirate captain.')).toBe("As a pirate captain: It's sunny. Wind is light.");
    expect(ask('Answer in one sentence.')).toBe("It's sunny; Wind is light.");
    expect(ask('Answer in bullet points.')).toBe("- It's sunny.\n- Wind is light.");
    expect(ask('Be formal.')).toBe('It is sunny. Wind is light.\nKind regards, w.');
    expect(ask('Answer in capital letters.')).toBe("IT'S SUNNY. WIND IS LIGHT.");
    expect(ask('Start with "Ahoy".')).toBe("Ahoy It's sunny. Wind is light.");
    expect(ask('Sign off with "-- the desk".')).toBe("It's sunny. Wind is light.\n-- the desk");
    expect(ask('Always mention the word forecast.')).toBe("It's sunny. Wind is light. (forecast)");
    expect(ask('Talk like a sailor.')).toBe(
      `It's sunny. Wind is light.\n(instruction noted, not simulated: "Talk like a sailor")`,
    );
    expect(ask('Talk like a sailor.')).toBe(ask('Talk like a sailor.'));
  });
});
