import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';
import { SHIPPED } from '../agents/p2engine-fixtures.ts';

/**
 * A p2tui workspace holding P2Engine's config/agents.yml: its agents are personas (run, agents list, doctor), a
 * broken entry disables only its agent, and one id in a persona file and in agents.yml is refused naming both.
 * Real processes.
 */

/** The six shipped agents, then one of each other type, then the entries that cannot run (lines 26 on). */
const AGENTS_YML =
  SHIPPED +
  `  - id: faq
    type: rule_based
    rules:
      hello: Hi there!
      "what is 2+2?": "4"
  - id: desk
    type: human_in_loop
    callback_url: https://example.org/hook
  - id: poet
    type: llm
    llm_model: anthropic/claude-3-5-sonnet
  - id: typo
    type: llm
    tool: [get_weather]
`;

const WEATHER = `import { defineTool, z } from 'p2tui';
export const weather = defineTool({ name: 'get_weather', description: 'Current weather of a city.', input: z.object({ city: z.string() }), effect: 'pure', run: ({ city }) => city + ': sunny, 21 °C' });
`;

let ws: TempWorkspace;

function p2tui(...args: string[]): Promise<CliResult> {
  return runCli(['--workspace', ws.dir, ...args], { cwd: ws.dir });
}

beforeAll(() => {
  ws = tempWorkspace({ 'config/agents.yml': AGENTS_YML, 'tools/weather.ts': WEATHER });
  // A persona file with an id agents.yml also has.
  ws.persona({ id: 'agent_beta', description: 'A second definition of agent_beta.' });
  ws.persona({ id: 'solo', description: 'Answers on its own.' });
});
afterAll(() => ws.cleanup());

interface Listed {
  id: string;
  source: string;
  model?: string;
  tools?: string[];
  agents?: string[];
  broken?: true;
  errors?: string[];
}

describe("P2Engine's config/agents.yml in a workspace", () => {
  it('agents list shows its agents from config/agents.yml, and each broken entry with file:line:column', async () => {
    const json = await p2tui('agents', 'list', '--json');
    expect(json.code).toBe(0);
    const listed = JSON.parse(json.stdout) as Listed[];
    const byId = (id: string, file = 'config/agents.yml'): Listed | undefined =>
      listed.find((a) => a.id === id && a.source === file);
    for (const id of ['agent_alpha', 'agent_helper', 'treasurer', 'agent_lemy', 'child'])
      expect(byId(id), id).toMatchObject({ model: 'openai/gpt-4o' });
    expect(byId('agent_helper')?.tools).toEqual(['get_weather', 'check_balance', 'transaction_history']);
    // delegate: any other agent of the workspace, as in P2Engine.
    expect(byId('agent_alpha')?.agents).toEqual(expect.arrayContaining(['treasurer', 'faq', 'solo']));
    expect(byId('faq')).toMatchObject({ model: 'scripted/default' });
    expect(byId('solo', 'personas/solo.yaml')).toMatchObject({ model: 'scripted/default' });
    expect(byId('desk')).toMatchObject({ model: 'human/operator' });
    expect(byId('poet')).toMatchObject({ broken: true });
    expect(byId('poet')?.errors).toEqual([
      expect.stringMatching(
        /^config\/agents\.yml:36:16: agents\[8\]\.llm_model: model 'anthropic\/claude-3-5-sonnet' is served by 'anthropic'.*OpenAI-compatible endpoint/,
      ),
    ]);
    expect(byId('typo')?.errors).toEqual([
      "config/agents.yml:39:11: agents[9].tool: unknown field 'tool' (did you mean tools?); llm agents have: id, type, " +
        'llm_model, behavior_template, tools, render_policy, enable_self_reflection, reflection_agent_id',
    ]);
    // One id in a persona file and in agents.yml: neither is guessed at, each names the other file.
    expect(byId('agent_beta')?.errors).toEqual([
      "config/agents.yml:6:9: id: agent id 'agent_beta' is also defined in personas/agent_beta.yaml; rename or remove one of the two",
    ]);
    expect(byId('agent_beta', 'personas/agent_beta.yaml')?.errors).toEqual([
      "personas/agent_beta.yaml:2:5: id: persona id 'agent_beta' is also defined in config/agents.yml (line 6); rename or remove one of the two",
    ]);
    const text = await p2tui('agents', 'list');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^agent_helper +openai\/gpt-4o +get_weather, check_balance, transaction_history/m);
    expect(text.stdout).toContain(
      "From config/agents.yml (P2Engine's agents file): agent_alpha, agent_helper, treasurer, agent_lemy, child, faq, desk\n",
    );
    expect(text.stdout).toContain(
      "config/agents.yml:39:11: agents[9].tool: unknown field 'tool' (did you mean tools?)",
    );
  }, 60_000);

  it('runs an agent of agents.yml offline with --model scripted/default', async () => {
    // At temperature 0: the simulator's warm runs skip a call now and then by design, which is not what this checks.
    const r = await p2tui(
      'run',
      'agent_helper',
      'weather in Paris',
      '--model',
      'scripted/default',
      '--temperature',
      'agent_helper=0',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Paris: sunny, 21 °C');
    expect(r.stdout).toContain('✓ finished');
  }, 60_000);

  it('a rule_based agent replies its rule for the whole message in any case, and the default text otherwise', async () => {
    const [hit, sum, miss] = await Promise.all([
      p2tui('run', 'faq', 'HeLLo'),
      p2tui('run', 'faq', 'What is 2+2?'),
      p2tui('run', 'faq', 'hello, what is 2+2?'),
    ]);
    for (const r of [hit, sum, miss]) expect(r.code, r.stderr).toBe(0);
    expect(hit.stdout).toMatch(/^faq ▸ Hi there!$/m);
    expect(sum.stdout).toMatch(/^faq ▸ 4$/m);
    expect(miss.stdout).toMatch(/^faq ▸ I don’t have a rule for that\.$/m);
    expect(miss.stdout).not.toContain('Hi there!');
  }, 60_000);

  it('a human_in_loop agent asks a person (exit 4) and replies the answer', async () => {
    const run = await p2tui('run', 'desk', 'approve the refund?');
    expect(run.code, run.stderr).toBe(4);
    expect(run.stdout).toContain('desk asks: desk (human_in_loop) was asked by the user: approve the refund?');
    const session = /session (s_\w+)/.exec(run.stdout)![1]!;
    const respond = await p2tui('session', 'respond', session, 'Approved.');
    expect(respond.code, respond.stderr).toBe(0);
    expect(respond.stdout).toContain('desk ▸ Approved.');
  }, 60_000);

  it('refuses to run an agent whose model p2tui has no adapter for, or whose entry has a typo (exit 3)', async () => {
    const [poet, typo, twin] = await Promise.all([
      p2tui('run', 'poet', 'a haiku'),
      p2tui('run', 'typo', 'hi', '--model', 'scripted/default'),
      p2tui('run', 'agent_beta', 'hi'),
    ]);
    expect(poet.code).toBe(3);
    expect(poet.stderr).toContain(
      "error E_AGENTS_YML: config/agents.yml:36:16: agents[8].llm_model: model 'anthropic/claude-3-5-sonnet' is served by 'anthropic'",
    );
    expect(poet.stderr).toContain('a LiteLLM proxy (`litellm --model anthropic/claude-3-5-sonnet`)');
    // The whole route, to its end (a persona file's problems are cut at 300 characters).
    expect(poet.stderr).toContain('and name the model anthropic/claude-3-5-sonnet\n');
    expect(poet.stderr).toContain("hint: Agent 'poet' is unavailable until config/agents.yml is fixed");
    expect(typo.code).toBe(3);
    expect(typo.stderr).toContain(
      "error E_AGENTS_YML: config/agents.yml:39:11: agents[9].tool: unknown field 'tool' (did you mean tools?)",
    );
    expect(twin.code).toBe(3);
    expect(twin.stderr).toContain(
      "error E_AGENTS_YML: config/agents.yml:6:9: id: agent id 'agent_beta' is also defined in personas/agent_beta.yaml",
    );
    // The persona files' agents are unaffected.
    const solo = await p2tui('run', 'solo', 'hello');
    expect(solo.code, solo.stderr).toBe(0);
  }, 60_000);

  it('doctor names every agents.yml entry that cannot run, with file:line:column', async () => {
    const r = await p2tui('doctor', '--json');
    expect(r.code).toBe(1);
    const { checks } = JSON.parse(r.stdout) as {
      checks: { name: string; ok: boolean; detail: string; code?: string }[];
    };
    const check = checks.find((c) => c.name === 'agents.yml');
    expect(check).toMatchObject({ ok: false, code: 'E_AGENTS_YML' });
    expect(check?.detail).toContain(
      'config/agents.yml: 7 agents loaded as personas (agent_alpha, agent_helper, treasurer, agent_lemy, child, faq, desk); 3 unavailable: ',
    );
    expect(check?.detail).toContain(
      "config/agents.yml:39:11: agents[9].tool: unknown field 'tool' (did you mean tools?)",
    );
    expect(check?.detail).toContain(
      "config/agents.yml:36:16: agents[8].llm_model: model 'anthropic/claude-3-5-sonnet'",
    );
  }, 60_000);

  it('an agents.yml that cannot be parsed makes the agents it names unavailable with the syntax error; persona files work', async () => {
    const broken = tempWorkspace({ 'config/agents.yml': 'agents:\n  - id: faq\n    type: [rule_based\n' });
    broken.persona({ id: 'solo', description: 'Answers on its own.' });
    try {
      const opts = { cwd: broken.dir };
      const [faq, solo] = await Promise.all([
        runCli(['--workspace', broken.dir, 'run', 'faq', 'hello'], opts),
        runCli(['--workspace', broken.dir, 'run', 'solo', 'hello'], opts),
      ]);
      expect(faq.code).toBe(3);
      expect(faq.stderr).toMatch(/^error E_AGENTS_YML: config\/agents\.yml:3:\d+: YAML syntax: /m);
      expect(faq.stderr).toContain("hint: Agent 'faq' is unavailable until config/agents.yml is fixed");
      expect(solo.code, solo.stderr).toBe(0);
      expect(solo.stderr).toContain('warning: 1 broken persona file not loaded (config/agents.yml: agent faq)');
    } finally {
      broken.cleanup();
    }
  }, 60_000);
});
