import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { ollamaServer, openAIServer, type ModelServer, type RecordedRequest } from '../helpers/model-servers.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/*
 * Rollout specs as P2Engine's users wrote them (its shipped rollout_*.yml): multi-line initial_message blocks, a
 * variant with its own agent_id and task, list and dict-of-lists variants (one over agent_id), nested base maps
 * merged under every variant, and an eval naming a rubric of rubrics/. The agents run on a real OpenAI-protocol
 * server that records every request, so each cell's agent (its system prompt) and task (its user message) are seen
 * as the model saw them; the judge is the scripted one, so every cell is scored offline.
 */

const servers: ModelServer[] = [];
const workspaces: TempWorkspace[] = [];
afterEach(async () => {
  for (const w of workspaces.splice(0)) w.cleanup();
  for (const s of servers.splice(0)) await s.close();
});

async function workspace(): Promise<{ server: ModelServer; ws: TempWorkspace }> {
  const server = await openAIServer(['test-model']);
  servers.push(server);
  const ws = tempWorkspace({
    'p2tui.yaml': stringify({
      providers: { openai: { base_url: `${server.url}/v1`, max_retries: 0, stream: false } },
      judge: { model: 'scripted/judge', retries: 0 },
    }),
    'tools/city.ts': `import { defineTool, z } from 'p2tui';
export const weather = defineTool({ name: 'get_weather', description: 'Weather of a city.', input: z.object({ city: z.string() }), effect: 'pure', run: ({ city }) => city + ': sunny' });
`,
    'rubrics/joke_quality.yaml': stringify({
      description: 'Is it funny and short?',
      criteria: [
        { id: 'funny', weight: 0.6, description: 'The joke is funny.' },
        { id: 'short', weight: 0.4, description: 'The joke is short.' },
      ],
    }),
  });
  workspaces.push(ws);
  for (const id of ['agent_alpha', 'agent_beta'])
    ws.persona({ id, description: `The ${id}.`, model: 'openai/test-model', system: `You are ${id}.` });
  return { server, ws };
}

const readSpec = (ws: TempWorkspace, file: string): string => readFileSync(join(ws.dir, file), 'utf8');

function p2tui(ws: TempWorkspace, ...args: string[]): Promise<CliResult> {
  return runCli(['--workspace', ws.dir, ...args], { cwd: ws.dir, env: { OPENAI_API_KEY: 'sk-test-0123456789' } });
}

type Message = { role: string; content: string };
const messages = (r: RecordedRequest): Message[] => r.body['messages'] as Message[];
/** Each cell's first request: the agent (its system prompt), the task, temperature and tools the model got. */
const firstCalls = (server: ModelServer): { agent: string; task: string; temperature: unknown; tools: string[] }[] =>
  server.requests
    .filter((r) => r.path.endsWith('/chat/completions'))
    .map((r) => ({
      agent: /^You are (\w+)\./.exec(messages(r).find((m) => m.role === 'system')?.content ?? '')?.[1] ?? '?',
      task: messages(r).find((m) => m.role === 'user')?.content ?? '',
      temperature: r.body['temperature'],
      tools: ((r.body['tools'] as { function: { name: string } }[] | undefined) ?? [])
        .map((t) => t.function.name)
        .filter((t) => t !== 'ask_user'),
    }));

describe("rollout configs as P2Engine's users wrote them", () => {
  it('runs each variant with its own agent_id and initial_message (| and > blocks), deep-merges nested base maps, and judges with a rubric of rubrics/', async () => {
    const { server, ws } = await workspace();
    ws.write(
      'rollouts/rollout_joke.yml',
      [
        '# As P2Engine shipped it: a team task, a base, variants as a list, an eval with a library rubric.',
        'teams:',
        '  jokes:',
        '    initial_message: |',
        '      Tell me a joke about cats.',
        '      Keep it under twenty words.',
        '    base:',
        '      agent_id: agent_alpha',
        '      model: openai/test-model',
        '      personas:',
        '        agent_beta: { temperature: 0.5, tools: [get_weather] }',
        '    variants:',
        '      - { id: team_task, temperature: 0.1 }',
        '      - id: beta_own',
        '        agent_id: agent_beta',
        '        initial_message: |',
        '          First line of beta’s task.',
        '          Second line of beta’s task.',
        '        personas:',
        '          agent_beta: { temperature: 0.9 }',
        '      - id: folded',
        '        initial_message: >',
        '          Fold these',
        '          lines into one.',
        '    eval:',
        '      evaluator_id: gpt4_judge',
        '      metric: score',
        '      rubric: joke_quality',
        '      judge_version: 1',
        'concurrency: 1',
      ].join('\n'),
    );
    const run = await p2tui(ws, 'rollout', 'run', 'rollouts/rollout_joke.yml', '--width', '200');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const calls = firstCalls(server);
    expect(calls).toHaveLength(3);
    expect(calls).toContainEqual({
      agent: 'agent_alpha',
      task: 'Tell me a joke about cats.\nKeep it under twenty words.\n',
      temperature: 0.1,
      tools: [],
    });
    // The variant's agent_id and initial_message beat the base's and the team's; its nested map is merged over the
    // base's (temperature from the variant, tools from the base).
    expect(calls).toContainEqual({
      agent: 'agent_beta',
      task: 'First line of beta’s task.\nSecond line of beta’s task.\n',
      temperature: 0.9,
      tools: ['get_weather'],
    });
    expect(calls).toContainEqual({
      agent: 'agent_alpha',
      task: 'Fold these lines into one.\n',
      temperature: 0,
      tools: [],
    });

    // Every cell scored by the rubric of rubrics/ (the scripted judge: offline).
    const shown = await p2tui(ws, 'rollout', 'show', 'last', '--json');
    expect(shown.code, shown.stderr).toBe(0);
    const json = JSON.parse(shown.stdout) as {
      cells: { status: string; metrics: { scores: Record<string, unknown> } }[];
    };
    expect(json.cells.map((c) => c.status)).toEqual(['done', 'done', 'done']);
    for (const c of json.cells) expect(typeof c.metrics.scores['score']).toBe('number');

    // A multi-line task is one line in the Variants table (run's summary, show) and in validate's listing.
    const text = await p2tui(ws, 'rollout', 'show', 'last', '--width', '200');
    expect(text.code, text.stderr).toBe(0);
    for (const out of [run.stdout, text.stdout]) {
      const row = out.split('\n').find((l) => /^jokes\s+beta_own\s+agent_beta\s/.test(l));
      expect(row, out).toContain('initial_message=First line of beta’s task. Second line …');
      expect(out).not.toMatch(/^Second line/m);
      const folded = out.split('\n').find((l) => /^jokes\s+folded\s+agent_alpha\s/.test(l));
      expect(folded, out).toContain('initial_message=Fold these lines into one.');
    }
    const validate = await p2tui(ws, 'rollout', 'validate', 'rollouts/rollout_joke.yml');
    expect(validate.code, validate.stderr).toBe(0);
    expect(validate.stdout).toContain(
      'beta_own: agent_beta model=openai/test-model initial_message=First line of beta’s task. Second line of beta’s task. ' +
        'personas={"agent_beta":{"temperature":0.9,"tools":["get_weather"]}}',
    );
    expect(validate.stdout).not.toMatch(/^\s*Second line/m);
  });

  it('expands a dict of lists over agent_id into their cross product, each cell on its own agent, and notes an ignored key once', async () => {
    const { server, ws } = await workspace();
    ws.write(
      'rollouts/rollout_competitive.yml',
      [
        'teams:',
        '  duel:',
        '    initial_message: Who wins?',
        '    base: { model: openai/test-model, reasoning_policy: default }',
        '    variants:',
        '      agent_id: [agent_alpha, agent_beta]',
        '      temperature: [0.2, 0.7]',
        'concurrency: 1',
      ].join('\n'),
    );
    const r = await p2tui(ws, 'rollout', 'run', 'rollouts/rollout_competitive.yml', '--json');
    expect(r.code, r.stderr).toBe(0);
    const calls = firstCalls(server).map((c) => `${c.agent}@${String(c.temperature)}: ${c.task}`);
    expect(calls.sort()).toEqual([
      'agent_alpha@0.2: Who wins?',
      'agent_alpha@0.7: Who wins?',
      'agent_beta@0.2: Who wins?',
      'agent_beta@0.7: Who wins?',
    ]);
    const json = JSON.parse(r.stdout) as { variants: { variant: string; agent: string; settings: unknown }[] };
    expect(json.variants.map((v) => `${v.variant}=${v.agent}`)).toEqual([
      'v1=agent_alpha',
      'v2=agent_alpha',
      'v3=agent_beta',
      'v4=agent_beta',
    ]);
    // Written once in the base, read in four variants: said once.
    expect(r.stderr.match(/reasoning_policy is accepted but not applied/g)).toHaveLength(1);
  });
});

describe('models in rollout specs as P2Engine named them (LiteLLM ids)', () => {
  it('runs gpt-3.5-turbo as openai/gpt-3.5-turbo and ollama_chat/x as ollama/x, saying so once per file and key', async () => {
    const { server, ws } = await workspace();
    const ollama = await ollamaServer(['llama3']);
    servers.push(ollama);
    ws.write(
      'p2tui.yaml',
      stringify({
        providers: {
          openai: { base_url: `${server.url}/v1`, max_retries: 0, stream: false },
          ollama: { host: ollama.url, max_retries: 0, stream: false },
        },
        judge: { model: 'scripted/judge' },
      }),
    );
    ws.write(
      'rollouts/rollout_joke.yml',
      [
        'teams:',
        '  jokes:',
        '    initial_message: Tell me a joke.',
        '    base: { agent_id: agent_alpha, model: gpt-3.5-turbo }',
        '    variants:',
        '      - { temperature: 0.7, top_p: 0.9 }',
        '      - { temperature: 0.2 }',
        '      - { model: ollama_chat/llama3 }',
        '  pairs:',
        '    initial_message: Tell me a joke.',
        '    base: { agent_id: agent_beta }',
        '    variants:',
        '      model: [gpt-3.5-turbo, openai/test-model]',
        '      temperature: [0.1, 0.9]',
        'concurrency: 1',
      ].join('\n'),
    );
    const r = await p2tui(ws, 'rollout', 'run', 'rollouts/rollout_joke.yml', '--json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const openai = server.requests.filter((x) => x.path.endsWith('/chat/completions')).map((x) => x.body['model']);
    expect(openai.sort()).toEqual([
      'gpt-3.5-turbo',
      'gpt-3.5-turbo',
      'gpt-3.5-turbo',
      'gpt-3.5-turbo',
      'test-model',
      'test-model',
    ]);
    expect(ollama.requests.filter((x) => x.path === '/api/chat').map((x) => x.body['model'])).toEqual(['llama3']);
    // Once per file, team and key: not once per variant (the base's model is in two of them, the dict's in two).
    const mapped = "rollouts/rollout_joke.yml: teams.jokes: model: 'gpt-3.5-turbo' → openai/gpt-3.5-turbo";
    expect(r.stderr.split(mapped)).toHaveLength(2);
    expect(r.stderr).toContain(
      "rollouts/rollout_joke.yml: teams.jokes: model: 'ollama_chat/llama3' → ollama/llama3 (p2tui's ollama adapter serves LiteLLM's ollama_chat)",
    );
    expect(r.stderr.split("teams.pairs: model: 'gpt-3.5-turbo' → openai/gpt-3.5-turbo")).toHaveLength(2);
    const json = JSON.parse(r.stdout) as { cells: { status: string }[] };
    expect(json.cells.map((c) => c.status)).toEqual(Array(7).fill('done'));
  });

  it('refuses anthropic/claude-… at its line (E_ROLLOUT_SPEC, exit 3) naming the provider and the OpenAI-compatible route; declared in p2tui.yaml it runs', async () => {
    const { server, ws } = await workspace();
    ws.write(
      'rollouts/claude.yml',
      [
        'teams:',
        '  t:',
        '    initial_message: hi',
        '    base: { agent_id: agent_alpha }',
        '    variants:',
        '      model: [openai/test-model, anthropic/claude-3-5-sonnet]',
      ].join('\n'),
    );
    for (const command of ['validate', 'run']) {
      const r = await p2tui(ws, 'rollout', command, 'rollouts/claude.yml');
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain(
        "E_ROLLOUT_SPEC: rollouts/claude.yml:6:34: teams.t.variants[1].model: model 'anthropic/claude-3-5-sonnet' is served by 'anthropic'",
      );
      expect(r.stderr).toContain('OpenAI-compatible endpoint');
      expect(r.stderr).toContain('providers: { anthropic: { type: openai, base_url:');
      // Said once, though the dict's value is in one variant only here.
      expect(r.stderr.split("model 'anthropic/claude-3-5-sonnet' is served").length).toBe(2);
    }
    // Another agent's model in a variant's personas: mapped, or refused where it is written.
    ws.write(
      'rollouts/personas.yml',
      [
        'teams:',
        '  t:',
        '    initial_message: hi',
        '    base: { agent_id: agent_alpha, personas: { agent_beta: { model: gpt-3.5-turbo } } }',
        '    variants:',
        '      - { id: ok }',
        '      - { id: bad, personas: { agent_beta: { model: claude-3-opus } } }',
      ].join('\n'),
    );
    const personas = await p2tui(ws, 'rollout', 'validate', 'rollouts/personas.yml');
    expect(personas.code, personas.stderr).toBe(3);
    expect(personas.stderr).toContain(
      "E_ROLLOUT_SPEC: rollouts/personas.yml:7:53: teams.t.variants[1].personas.agent_beta.model: model 'claude-3-opus' is served by 'anthropic'",
    );
    ws.write('rollouts/personas.yml', readSpec(ws, 'rollouts/personas.yml').replace(/\n.*id: bad.*$/, ''));
    const fine = await p2tui(ws, 'rollout', 'validate', 'rollouts/personas.yml', '--json');
    expect(fine.code, fine.stdout).toBe(0);
    const listed = JSON.parse(fine.stdout) as {
      teams: { variants: { settings: { personas: unknown } }[] }[];
      notes: string[];
    };
    expect(listed.teams[0]!.variants[0]!.settings.personas).toEqual({ agent_beta: { model: 'openai/gpt-3.5-turbo' } });
    expect(listed.notes).toContain(
      "rollouts/personas.yml: teams.t: personas.agent_beta.model: 'gpt-3.5-turbo' → openai/gpt-3.5-turbo (LiteLLM sends a bare gpt-3.5-turbo to OpenAI)",
    );
    expect(server.requests.filter((x) => x.path.endsWith('/chat/completions'))).toHaveLength(0);
    // The route the message names: an OpenAI-compatible endpoint under the provider's name runs the id unchanged.
    const proxy = await openAIServer(['claude-3-5-sonnet']);
    servers.push(proxy);
    ws.write(
      'p2tui.yaml',
      stringify({
        providers: {
          openai: { base_url: `${server.url}/v1`, max_retries: 0, stream: false },
          anthropic: {
            type: 'openai',
            base_url: `${proxy.url}/v1`,
            api_key_env: 'OPENAI_API_KEY',
            max_retries: 0,
            stream: false,
          },
        },
        judge: { model: 'scripted/judge' },
      }),
    );
    const ok = await p2tui(ws, 'rollout', 'run', 'rollouts/claude.yml');
    expect(ok.code, ok.stderr + ok.stdout).toBe(0);
    expect(ok.stderr).not.toContain('anthropic/claude-3-5-sonnet →');
    expect(proxy.requests.filter((x) => x.path.endsWith('/chat/completions')).map((x) => x.body['model'])).toEqual([
      'claude-3-5-sonnet',
    ]);
  });
});
