import { spawn } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { MAIN, runCli, type CliResult } from '../helpers/cli.ts';
import { childEnv } from '../helpers/child-env.ts';
import { freePort, haveRedis, redisForSuite } from '../helpers/host-tools.ts';
import { openAIServer, type ModelServer } from '../helpers/model-servers.ts';
import { withRawDb } from '../helpers/raw-db.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/*
 * `rollout run --model <provider/name>`: a spec whose agents all name openai/gpt-4o (base, variants, a variant's
 * other agent, the personas themselves) dry-runs offline on the simulator. The OpenAI provider points at a real
 * server that records every request (and OPENAI_BASE_URL at a closed port): not one request may arrive, not even
 * the judge's, which runs on the scripted judge with a scripted --model unless --judge-model says otherwise.
 */

const servers: ModelServer[] = [];
const workspaces: TempWorkspace[] = [];
afterEach(async () => {
  for (const w of workspaces.splice(0)) w.cleanup();
  for (const s of servers.splice(0)) await s.close();
});

const SPEC = [
  'teams:',
  '  desk:',
  '    initial_message: What is the weather in Paris?',
  '    base: { agent_id: lead, model: openai/gpt-4o }',
  '    variants:',
  '      - { id: cool, temperature: 0.2 }',
  '      - id: mini',
  '        model: gpt-4o-mini',
  '        personas: { helper: { model: openai/gpt-4o, temperature: 0.5 } }',
  '    eval: { evaluator_id: gpt4_judge, metric: score, rubric: helpfulness }',
  'repeats: 2',
  'concurrency: 1',
].join('\n');

async function workspace(): Promise<{ server: ModelServer; ws: TempWorkspace; closed: number }> {
  const server = await openAIServer(['gpt-4o', 'gpt-4o-mini']);
  servers.push(server);
  const ws = tempWorkspace({
    'p2tui.yaml': stringify({
      providers: { openai: { base_url: `${server.url}/v1`, max_retries: 0, stream: false } },
      // A paid judge, and a workspace evaluator of its own: both must stay unasked in a scripted dry run.
      judge: {
        model: 'openai/gpt-4o',
        retries: 0,
        evaluators: [{ id: 'quality', kind: 'llm', rubric: 'helpfulness' }],
      },
    }),
    'rubrics/helpfulness.yaml': stringify({
      description: 'Is the answer useful?',
      criteria: [{ id: 'useful', weight: 1, description: 'The answer is useful.' }],
    }),
    'rollouts/desk.yaml': SPEC,
  });
  workspaces.push(ws);
  ws.persona({
    id: 'lead',
    description: 'Asks the helper.',
    model: 'openai/gpt-4o',
    agents: ['helper'],
    script: [
      {
        when: 'weather',
        steps: [{ delegate: 'helper', message: 'Look up the weather in Paris.' }, { reply: 'helper says: {{result}}' }],
      },
    ],
  });
  ws.persona({ id: 'helper', description: 'Looks things up.', model: 'openai/gpt-4o' });
  return { server, ws, closed: await freePort() };
}

function p2tui(ws: TempWorkspace, closed: number, ...args: string[]): Promise<CliResult> {
  return runCli(['--workspace', ws.dir, ...args], {
    cwd: ws.dir,
    env: { OPENAI_API_KEY: 'sk-test-0123456789', OPENAI_BASE_URL: `http://127.0.0.1:${closed}/v1` },
  });
}

/** Which models answered the cells' agents and judged them, as the database recorded it. */
function recorded(ws: TempWorkspace): { agents: string[]; judges: string[]; conversations: number } {
  return withRawDb(join(ws.dir, '.p2tui/p2tui.db'), (db) => ({
    agents: (db.prepare('SELECT DISTINCT model AS m FROM model_calls').all() as { m: string }[]).map((r) => r.m),
    judges: (db.prepare('SELECT DISTINCT model FROM scores WHERE model IS NOT NULL').all() as { model: string }[]).map(
      (r) => r.model,
    ),
    conversations: (db.prepare('SELECT count(*) AS n FROM conversations').get() as { n: number }).n,
  }));
}

type RunJson = {
  cells: { status: string; metrics: { scores: Record<string, number | null>; delegations: number } | null }[];
  model_override: unknown;
};

describe('rollout run --model', () => {
  it('runs every agent of every cell offline on --model scripted/default, judged by the scripted judge, and says so', async () => {
    const { server, ws, closed } = await workspace();
    const r = await p2tui(ws, closed, 'rollout', 'run', 'rollouts/desk.yaml', '--model', 'scripted/default', '--json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toContain(
      'every agent of every cell runs on scripted/default (--model); the judge on scripted/judge (offline, as --model is scripted; --judge-model to change it)',
    );
    const json = JSON.parse(r.stdout) as RunJson;
    expect(json.model_override).toEqual({ model: 'scripted/default', judge_model: 'scripted/judge' });
    expect(json.cells).toHaveLength(4);
    for (const c of json.cells) {
      expect(c.status).toBe('done');
      // The lead delegated to its helper in every cell: the child ran on the override too.
      expect(c.metrics!.delegations).toBe(1);
      expect(typeof c.metrics!.scores['score']).toBe('number');
      expect(typeof c.metrics!.scores['quality']).toBe('number');
    }
    expect(server.requests).toHaveLength(0);
    const db = recorded(ws);
    expect(db.agents).toEqual(['scripted/default']);
    expect(db.judges).toEqual(['scripted/judge']);
    expect(db.conversations).toBe(8);

    const shown = await p2tui(ws, closed, 'rollout', 'show', 'last', '--width', '200');
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(
      'model overridden by --model: scripted/default (every agent of every cell); judge: scripted/judge',
    );
    const row = (variant: string): string | undefined =>
      shown.stdout.split('\n').find((l) => new RegExp(`^desk\\s+${variant}\\s+lead\\s`).test(l));
    expect(row('cool')).toContain('model=scripted/default (--model, not openai/gpt-4o) temperature=0.2');
    expect(row('mini')).toContain('model=scripted/default (--model, not gpt-4o-mini)');
    const json2 = await p2tui(ws, closed, 'rollout', 'show', 'last', '--json');
    expect((JSON.parse(json2.stdout) as RunJson).model_override).toEqual({
      model: 'scripted/default',
      judge_model: 'scripted/judge',
    });
    // What a dry run exports says it was one.
    const exported = await p2tui(ws, closed, 'rollout', 'export', 'last', '--format', 'json');
    expect(exported.code, exported.stderr).toBe(0);
    expect((JSON.parse(exported.stdout) as RunJson).model_override).toEqual({
      model: 'scripted/default',
      judge_model: 'scripted/judge',
    });
  });

  it('--judge-model puts the judge elsewhere (a real server here) while the agents stay on --model', async () => {
    const { server, ws, closed } = await workspace();
    const judge = await openAIServer(['judge-model']);
    servers.push(judge);
    judge.queue({
      kind: 'reply',
      text: JSON.stringify({ criteria: [{ id: 'useful', score: 0.75, reason: 'fine' }], overall: 0.75 }),
    });
    ws.write(
      'p2tui.yaml',
      stringify({
        providers: {
          openai: { base_url: `${server.url}/v1`, max_retries: 0, stream: false },
          grader: {
            type: 'openai',
            base_url: `${judge.url}/v1`,
            api_key_env: 'OPENAI_API_KEY',
            max_retries: 0,
            stream: false,
          },
        },
        judge: { model: 'openai/gpt-4o', retries: 0 },
      }),
    );
    const r = await p2tui(
      ws,
      closed,
      'rollout',
      'start',
      'rollouts/desk.yaml',
      '--model',
      'scripted/default',
      '--judge-model',
      'grader/judge-model',
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toContain('the judge on grader/judge-model (--judge-model)');
    expect(server.requests).toHaveLength(0);
    // One judge call per cell (the team's eval), each to the judge's server.
    expect(judge.requests.map((q) => q.body['model'])).toEqual([
      'judge-model',
      'judge-model',
      'judge-model',
      'judge-model',
    ]);
    expect(recorded(ws)).toMatchObject({ agents: ['scripted/default'], judges: ['grader/judge-model'] });
    expect(r.stdout).toContain(
      'model overridden by --model: scripted/default (every agent of every cell); judge: grader/judge-model',
    );
  });

  it('reads a LiteLLM id as P2Engine users type it: --model gpt-4o-mini runs every agent as openai/gpt-4o-mini, and says so', async () => {
    const { server, ws, closed } = await workspace();
    const r = await p2tui(
      ws,
      closed,
      'rollout',
      'run',
      'rollouts/desk.yaml',
      '--model',
      'gpt-4o-mini',
      '--judge-model',
      'scripted/judge',
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toContain(
      "--model: 'gpt-4o-mini' → openai/gpt-4o-mini (LiteLLM sends a bare gpt-4o-mini to OpenAI)",
    );
    expect(r.stderr).toContain(
      'every agent of every cell runs on openai/gpt-4o-mini (--model); the judge on scripted/judge (--judge-model)',
    );
    const agents = server.requests.filter((q) => q.path.endsWith('/chat/completions')).map((q) => q.body['model']);
    expect(agents.length).toBeGreaterThanOrEqual(4);
    expect(new Set(agents)).toEqual(new Set(['gpt-4o-mini']));
  });

  it('refuses a model the simulator does not have, a provider the workspace lacks, --model with --replay, and with fork_from (E_USAGE, exit 2)', async () => {
    const { server, ws, closed } = await workspace();
    const bad = await p2tui(ws, closed, 'rollout', 'run', 'rollouts/desk.yaml', '--model', 'scripted/nonexist');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("E_USAGE: --model: the simulator has no model 'nonexist'");
    const provider = await p2tui(ws, closed, 'rollout', 'run', 'rollouts/desk.yaml', '--judge-model', 'nowhere/x');
    expect(provider.code).toBe(2);
    expect(provider.stderr).toContain("E_USAGE: --judge-model: model 'nowhere/x' is served by 'nowhere'");
    const claude = await p2tui(ws, closed, 'rollout', 'run', 'rollouts/desk.yaml', '--model', 'claude-3-opus');
    expect(claude.code).toBe(2);
    expect(claude.stderr).toContain(
      "E_USAGE: --model: model 'claude-3-opus' is served by 'anthropic', and p2tui has adapters for OpenAI-compatible servers and Ollama only",
    );
    const first = await p2tui(ws, closed, 'rollout', 'run', 'rollouts/desk.yaml', '--model', 'scripted/default');
    expect(first.code, first.stderr).toBe(0);
    const replay = await p2tui(
      ws,
      closed,
      'rollout',
      'run',
      'rollouts/desk.yaml',
      '--replay',
      'last',
      '--model',
      'scripted/default',
    );
    expect(replay.code).toBe(2);
    expect(replay.stderr).toContain(
      'E_USAGE: --model and --judge-model cannot go with --replay: a replay serves the recorded calls',
    );
    // A fork_from spec's cells are branches of another session, judged by its judge: no scripted judge to swap in.
    ws.write('rollouts/fork.yaml', `${SPEC}\nfork_from: { session: last }\n`);
    const fork = await p2tui(ws, closed, 'rollout', 'run', 'rollouts/fork.yaml', '--model', 'scripted/default');
    expect(fork.code).toBe(2);
    expect(fork.stderr).toContain(
      'E_USAGE: --model scripted/default (which puts the judge on scripted/judge) cannot go with fork_from',
    );
    expect(server.requests).toHaveLength(0);
  });

  it("dry-runs a spec naming a provider p2tui has no adapter for: the spec's model is noted as unused, not refused", async () => {
    const { server, ws, closed } = await workspace();
    ws.write('rollouts/claude.yaml', SPEC.replace('model: gpt-4o-mini', 'model: anthropic/claude-3-5-sonnet'));
    const refused = await p2tui(ws, closed, 'rollout', 'run', 'rollouts/claude.yaml');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("model 'anthropic/claude-3-5-sonnet' is served by 'anthropic'");
    const r = await p2tui(
      ws,
      closed,
      'rollout',
      'run',
      'rollouts/claude.yaml',
      '--model',
      'scripted/default',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      "rollouts/claude.yaml: teams.desk: model: 'anthropic/claude-3-5-sonnet' is not used: --model scripted/default runs every agent",
    );
    expect((JSON.parse(r.stdout) as RunJson).cells.map((c) => c.status)).toEqual(['done', 'done', 'done', 'done']);
    expect(server.requests).toHaveLength(0);
    const resumed = await p2tui(ws, closed, 'rollout', 'resume', 'last', '--json');
    expect(resumed.code, resumed.stderr).toBe(0);
  });

  it('is recorded with the rollout: interrupted with SIGINT, `rollout resume` runs the rest on the same model and judge', async () => {
    const { server, ws, closed } = await workspace();
    // scripted/slow takes 300 ms a call or more: the interrupt lands while cells remain.
    const child = spawn(
      process.execPath,
      [MAIN, '--workspace', ws.dir, 'rollout', 'start', 'rollouts/desk.yaml', '--model', 'scripted/slow', '--follow'],
      {
        cwd: ws.dir,
        env: childEnv({ OPENAI_API_KEY: 'sk-test-0123456789', OPENAI_BASE_URL: `http://127.0.0.1:${closed}/v1` }),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let interrupted = false;
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        // Once: a second Ctrl-C quits at once (no summary, no 130), as the run says.
        if (!interrupted && out.includes('✓ desk/')) {
          interrupted = true;
          child.kill('SIGINT');
        }
      });
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', resolve);
    });
    expect(code, out).toBe(130);
    const resumed = await p2tui(ws, closed, 'rollout', 'resume', 'last', '--json');
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    const json = JSON.parse(resumed.stdout) as RunJson;
    expect(json.cells.map((c) => c.status)).toEqual(['done', 'done', 'done', 'done']);
    expect(json.model_override).toEqual({ model: 'scripted/slow', judge_model: 'scripted/judge' });
    expect(server.requests).toHaveLength(0);
    expect(recorded(ws)).toMatchObject({ agents: ['scripted/slow'], judges: ['scripted/judge'] });
  });
});

describe.skipIf(!haveRedis)('rollout run --model on a queue', () => {
  const redis = redisForSuite();
  const SECRET = 'b2'.repeat(32);

  it("a worker runs the cells on the coordinator's --model and judge", async () => {
    const { server, ws, closed } = await workspace();
    // The worker and the coordinator share the workspace, so its queue key too.
    mkdirSync(join(ws.dir, '.p2tui'), { recursive: true });
    writeFileSync(join(ws.dir, '.p2tui/queue.key'), SECRET, { mode: 0o600 });
    const env = { OPENAI_API_KEY: 'sk-test-0123456789', OPENAI_BASE_URL: `http://127.0.0.1:${closed}/v1` };
    const worker = spawn(process.execPath, [MAIN, 'worker', '--queue', redis.url, '--workspace', ws.dir], {
      cwd: ws.dir,
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    redis.children.push(worker);
    let log = '';
    worker.stdout.on('data', (d: Buffer) => (log += d.toString()));
    worker.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const r = await p2tui(
      ws,
      closed,
      'rollout',
      'run',
      'rollouts/desk.yaml',
      '--queue',
      redis.url,
      '--model',
      'scripted/default',
      '--json',
    );
    worker.kill('SIGKILL');
    expect(r.code, r.stdout + r.stderr + log).toBe(0);
    const json = JSON.parse(r.stdout) as RunJson;
    expect(json.cells.map((c) => c.status)).toEqual(['done', 'done', 'done', 'done']);
    for (const c of json.cells) {
      expect(c.metrics!.delegations).toBe(1);
      expect(typeof c.metrics!.scores['score']).toBe('number');
    }
    expect(server.requests).toHaveLength(0);
    // The cells' sessions came back from the worker: their calls were the simulator's, their scores the scripted judge's.
    expect(recorded(ws)).toMatchObject({ agents: ['scripted/default'], judges: ['scripted/judge'] });
  }, 30_000);
});
