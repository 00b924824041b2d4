import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testEngine, type TestEngine } from '../helpers/workspace.ts';
import { countingTool } from '../helpers/tools.ts';
import { childEnv } from '../helpers/child-env.ts';
import { ScriptedProvider } from '../../src/models/scripted/provider.ts';
import type { CompleteOptions, ModelProvider, ModelRequest, ModelResponse } from '../../src/models/provider.ts';
import { compareConversations } from '../../src/engine/replay.ts';
import { comparableSession } from '../../src/commands/session/replay.ts';
import { readSession } from '../../src/engine/session-view.ts';

const engines: TestEngine[] = [];
afterEach(() => {
  for (const e of engines.splice(0)) e.close();
});

/** The simulator, counting the calls that reach it. */
class CountingScripted implements ModelProvider {
  readonly id = 'scripted';
  readonly simulated = true;
  calls = 0;
  private readonly inner = new ScriptedProvider({ latencyMs: 0 });
  complete(request: ModelRequest, options: CompleteOptions): Promise<ModelResponse> {
    this.calls += 1;
    return this.inner.complete(request, options);
  }
}

async function team(): Promise<{
  t: TestEngine;
  model: CountingScripted;
  lookup: ReturnType<typeof countingTool>;
  pay: ReturnType<typeof countingTool>;
}> {
  const model = new CountingScripted();
  const lookup = countingTool('lookup');
  const pay = countingTool('pay', { effect: 'effectful' });
  const t = await testEngine(
    [
      {
        id: 'lead',
        description: 'Delegates to two workers at once.',
        agents: ['a', 'b'],
        script: [
          {
            when: '.',
            steps: [
              {
                parallel: [
                  { delegate: 'a', message: 'look up 1 and 2' },
                  { delegate: 'b', message: 'pay 5' },
                ],
              },
              { reply: 'all done: {{result}}' },
            ],
          },
        ],
      },
      {
        id: 'a',
        description: 'Looks things up.',
        tools: ['lookup'],
        script: [
          {
            when: '.',
            steps: [
              {
                parallel: [
                  { call: 'lookup', args: { n: 1 } },
                  { call: 'lookup', args: { n: 2 } },
                ],
              },
              { reply: '{{result}}' },
            ],
          },
        ],
      },
      {
        id: 'b',
        description: 'Pays.',
        tools: ['pay'],
        script: [{ when: '.', steps: [{ call: 'pay', args: { n: 5 } }, { reply: 'paid: {{result}}' }] }],
      },
    ],
    { tools: [lookup, pay], load: { configure: (providers) => providers.register(model) } },
  );
  engines.push(t);
  return { t, model, lookup, pay };
}

describe('replay', () => {
  it('reproduces every entry of every conversation (delegation, parallel tool calls) with no model call and no tool run', async () => {
    const { t, model, lookup, pay } = await team();
    const original = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
    expect(await original.idle()).toBe('finished');
    const counts = { model: model.calls, lookup: lookup.calls.length, pay: pay.calls.length };
    expect(counts).toEqual({ model: 6, lookup: 2, pay: 1 });

    const replay = t.engine.start({
      agent: 'lead',
      message: 'go',
      source: 'replay',
      options: t.options({ replay: { from: original.id, onMiss: 'fail' } }),
    });
    expect(await replay.idle()).toBe('finished');
    expect({ model: model.calls, lookup: lookup.calls.length, pay: pay.calls.length }).toEqual(counts);
    const comparison = compareConversations(
      comparableSession(t.engine.store, original.id),
      comparableSession(t.engine.store, replay.id),
    );
    expect(comparison).toEqual({ same: true, conversations: 3, entries: expect.any(Number) });
    // Served calls are recorded as replayed and cost nothing.
    const calls = t.engine.store.calls.modelCalls({ session: replay.id });
    expect(calls).toHaveLength(6);
    expect(calls.every((c) => c.provider === 'replay' && c.costUsd === 0)).toBe(true);
  });

  it('a replayed output stored as an artifact is referenced by the replay too, so it outlives the recorded session', async () => {
    const { defineTool } = await import('../../src/tools/define.ts');
    const { z } = await import('zod');
    const big = defineTool({
      name: 'report',
      description: 'A long report.',
      input: z.object({}),
      effect: 'pure',
      cacheTtlMs: 0,
      run: () => 'line of the report\n'.repeat(2000),
    });
    const t = await testEngine(
      [
        {
          id: 'r',
          description: 'Reports.',
          tools: ['report'],
          script: [{ when: '.', steps: [{ call: 'report', args: {} }, { reply: 'done' }] }],
        },
      ],
      { tools: [big] },
    );
    engines.push(t);
    const original = t.engine.start({ agent: 'r', message: 'go', source: 'api', options: t.options() });
    await original.idle();
    const [artifact] = t.engine.store.artifacts.list(original.id);
    expect(artifact).toBeDefined();
    const replay = t.engine.start({
      agent: 'r',
      message: 'go',
      source: 'replay',
      options: t.options({ replay: { from: original.id, onMiss: 'fail' } }),
    });
    expect(await replay.idle()).toBe('finished');
    expect(t.engine.store.artifacts.list(replay.id).map((a) => a.hash)).toEqual([artifact!.hash]);
    t.engine.store.bundles.remove(original.id);
    expect(t.engine.store.artifacts.get(artifact!.hash)).toBeDefined();
  });

  it('with --on-miss fail, stops at the first request that differs, naming it and the recorded one', async () => {
    const { t, model } = await team();
    const original = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
    await original.idle();
    const before = model.calls;
    const replay = t.engine.start({
      agent: 'lead',
      message: 'go',
      source: 'replay',
      options: t.options({ temperature: 0.9, replay: { from: original.id, onMiss: 'fail' } }),
    });
    expect(await replay.idle()).toBe('failed');
    expect(model.calls).toBe(before);
    const failed = readSession(t.engine.store, replay.id).conversations[0]!.entries.at(-1)!;
    expect(failed.kind).toBe('failed');
    expect(failed.payload).toMatchObject({ code: 'E_REPLAY_MISS' });
    expect(JSON.stringify(failed.payload)).toMatch(
      /conversation lead, model call 1: the request \(hash [0-9a-f]{12}, \d+ messages\) differs from the recorded one \(hash [0-9a-f]{12}/,
    );
    // The recorded call's message count is the one its record holds (read for the message, not parsed whole).
    const recorded = t.engine.store.calls.modelCalls({ session: original.id })[0]!;
    expect(JSON.stringify(failed.payload)).toContain(
      `(hash ${recorded.requestHash.slice(0, 12)}, ${recorded.request.rendered.messages} messages, model ${recorded.model})`,
    );
  });

  it('with --on-miss live, calls the model where the recording has no answer and serves the rest', async () => {
    const { t, model } = await team();
    const original = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
    await original.idle();
    const before = model.calls;
    // A second message the recording never saw: the first turn is served, the second goes live.
    const replay = t.engine.start({
      agent: 'lead',
      message: 'go',
      source: 'replay',
      options: t.options({ replay: { from: original.id, onMiss: 'live' } }),
    });
    expect(await replay.idle()).toBe('finished');
    expect(model.calls).toBe(before);
    await replay.send('go again');
    expect(await replay.idle()).toBe('finished');
    expect(model.calls).toBeGreaterThan(before);
    expect(replay.answer).not.toBe('');
  });

  it('p2tui session replay checks a demo session with delegation end to end, and exits 1 when the recording cannot serve it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2tui-replay-'));
    const db = join(dir, 'p.db');
    const ROOT = new URL('../..', import.meta.url).pathname;
    const p2tui = (args: string[]) =>
      spawnSync(process.execPath, [join(ROOT, 'src/cli/main.ts'), ...args, '--db', db], {
        cwd: ROOT,
        encoding: 'utf8',
        env: childEnv(),
        timeout: 60_000,
      });
    try {
      const run = p2tui([
        'run',
        'agent_alpha',
        "What's the weather in Paris and who leads the Premier League?",
        '--approval',
        'deny',
        '--json',
      ]);
      expect(run.status).toBe(0);
      const id = (JSON.parse(run.stdout) as { session: string }).session;
      const replay = p2tui(['session', 'replay', id]);
      expect(replay.stderr).toBe('');
      expect(replay.stdout).toMatch(/✓ identical: 3 conversations, \d+ entries, as in s_/);
      expect(replay.status).toBe(0);
      const json = p2tui(['session', 'replay', id, '--json']);
      const replayed = JSON.parse(json.stdout) as { replay: string };
      expect(replayed).toMatchObject({ original: id, status: 'finished', same: true, conversations: 3 });
      // Per-step usage: the replay's calls are marked and cost nothing.
      const steps = p2tui(['session', 'show', replayed.replay, '--steps']);
      expect(steps.stdout).toMatch(
        /agent_alpha #1 {2}scripted\/default \(replayed\) {2}\d+ in \+ \d+ out tokens \(est\.\) · \$0/,
      );

      const other = p2tui(['run', 'agent_alpha', "What's the weather in Tokyo?", '--replay-from', id]);
      expect(other.status).toBe(1);
      expect(other.stdout).toContain('E_REPLAY_MISS');
      expect(other.stdout).toContain('--on-miss live');
      const live = p2tui([
        'run',
        'agent_alpha',
        "What's the weather in Tokyo?",
        '--replay-from',
        id,
        '--on-miss',
        'live',
      ]);
      expect(live.status).toBe(0);
      expect(live.stdout).toContain('Tokyo');
      expect(live.stdout).not.toContain('Paris');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
