import { runCli, type CliResult } from '../helpers/cli.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Store } from '../../src/store/store.ts';
import { openAIServer, type ModelServer } from '../helpers/model-servers.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/*
 * `run --replay-from <s> --on-miss fail` is offline: neither the agents' models nor the llm judge make a request
 * (the server counts them). The judge's verdicts come from the recording, or the evaluation is skipped and says so.
 */

const KEY = 'sk-test-replay-0123456789';

const RUBRIC = stringify({
  description: 'Useful answers.',
  criteria: [
    { id: 'relevance', weight: 0.5, description: 'The answer addresses the question.' },
    { id: 'concise', weight: 0.5, description: 'The answer is concise.' },
  ],
});
const VERDICT = JSON.stringify({
  criteria: [
    { id: 'relevance', score: 0.9, reason: 'on topic' },
    { id: 'concise', score: 0.7, reason: 'short' },
  ],
  overall: 0.8,
});

const servers: ModelServer[] = [];
const workspaces: TempWorkspace[] = [];
afterEach(async () => {
  for (const w of workspaces.splice(0)) w.cleanup();
  for (const s of servers.splice(0)) await s.close();
});

function p2tui(dir: string, args: readonly string[]): Promise<CliResult> {
  return runCli(['--workspace', dir, ...args], { env: { OPENAI_API_KEY: KEY } });
}

/** A workspace whose agent and llm judge both talk to one counting server, and a recorded session (2 requests). */
async function recorded(): Promise<{ server: ModelServer; ws: TempWorkspace; session: string }> {
  const server = await openAIServer(['test-model', 'judge-model']);
  servers.push(server);
  const ws = tempWorkspace({
    'p2tui.yaml': stringify({
      providers: { openai: { base_url: `${server.url}/v1`, max_retries: 0, stream: false } },
      judge: {
        model: 'openai/judge-model',
        retries: 0,
        evaluators: [{ id: 'quality', kind: 'llm', rubric: 'helpful' }],
      },
    }),
    'rubrics/helpful.yaml': RUBRIC,
  });
  workspaces.push(ws);
  ws.persona({ id: 'helper', description: 'Helps.', model: 'openai/test-model' });
  server.queue({ kind: 'reply', text: 'Sunny in Paris.' }, { kind: 'reply', text: VERDICT });
  const run = await p2tui(ws.dir, ['run', 'helper', 'weather in Paris?']);
  expect(run.code, run.stderr).toBe(0);
  expect(run.stdout).toContain('quality 0.80');
  // The agent's call and the judge's.
  expect(server.requests.map((r) => r.body['model'])).toEqual(['test-model', 'judge-model']);
  const session = /session (s_[A-Za-z0-9]+)/.exec(run.stdout)![1]!;
  // Whatever the server is asked from now on gets an answer (a failure would hide a request behind a retry).
  server.queue({ kind: 'reply', text: VERDICT });
  return { server, ws, session };
}

function scoresOf(
  ws: TempWorkspace,
  session: string,
): { model: string | null; value: number | null; reasoning: string }[] {
  const store = new Store({ path: join(ws.dir, '.p2tui', 'p2tui.db') });
  try {
    const id = store.sessions.resolve(session).id;
    return store.scores
      .scores({ session: id })
      .map((s) => ({ model: s.model, value: s.value, reasoning: s.reasoning }));
  } finally {
    store.close();
  }
}

describe('run --replay-from with --on-miss fail', () => {
  it('makes no request when the recording has every answer: the judge replays its recorded verdict', async () => {
    const { server, ws, session } = await recorded();
    const replay = await p2tui(ws.dir, [
      'run',
      'helper',
      'weather in Paris?',
      '--replay-from',
      session,
      '--on-miss',
      'fail',
    ]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain('Sunny in Paris.');
    expect(replay.stdout).toContain('quality 0.80');
    expect(server.requests).toHaveLength(2);
    const [score] = scoresOf(ws, 'last');
    expect(score).toMatchObject({ model: 'openai/judge-model', value: 0.8 });
    expect(score!.reasoning).toContain(`(replayed from ${session})`);
  });

  it("makes no request when the agent's call misses: the session fails there, and no judge model is asked", async () => {
    const { server, ws, session } = await recorded();
    const replay = await p2tui(ws.dir, [
      'run',
      'helper',
      'weather in Oslo?',
      '--replay-from',
      session,
      '--on-miss',
      'fail',
    ]);
    expect(replay.code).toBe(1);
    expect(replay.stdout).toContain('no recording for this model call');
    // The judge waited for (run exits after its verdicts) asked nothing either: whatever it recorded names no model.
    expect(server.requests).toHaveLength(2);
    for (const score of scoresOf(ws, 'last')) expect(score).toMatchObject({ model: null, value: null });
  });

  it("makes no request when only the judge's verdict is missing (the rubric changed): it is not judged", async () => {
    const { server, ws, session } = await recorded();
    ws.write('rubrics/helpful.yaml', RUBRIC.replace('The answer is concise.', 'The answer is short and polite.'));
    const replay = await p2tui(ws.dir, [
      'run',
      'helper',
      'weather in Paris?',
      '--replay-from',
      session,
      '--on-miss',
      'fail',
    ]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain('quality not judged (replay without a recorded verdict)');
    expect(server.requests).toHaveLength(2);
    const shown = await p2tui(ws.dir, ['eval', 'show', 'last']);
    expect(shown.stdout).toMatch(/quality +not judged +none \(replay\) +not judged: this session replays/);
    // With --on-miss live, the missing verdict is asked for, as a missing model answer would be.
    const live = await p2tui(ws.dir, [
      'run',
      'helper',
      'weather in Paris?',
      '--replay-from',
      session,
      '--on-miss',
      'live',
    ]);
    expect(live.code, live.stderr).toBe(0);
    expect(live.stdout).toContain('quality 0.80');
    expect(server.requests.map((r) => r.body['model'])).toEqual(['test-model', 'judge-model', 'judge-model']);
  });
});
