import { afterEach, describe, expect, it } from 'vitest';
import { P2Error, UserError, ValidationError } from '../../src/core/errors.ts';
import {
  P2ENGINE_NO_RULE,
  personaFromP2EngineAgent,
  readAgentsYml,
  readAgentsYmlEntries,
  type ConversionContext,
  type P2EngineAgent,
} from '../../src/agents/p2engine/agents-yml.ts';
import { personaSchema } from '../../src/agents/persona.ts';
import { testEngine, type TestEngine } from '../helpers/workspace.ts';
import { SHIPPED } from './p2engine-fixtures.ts';

const FILE = 'config/agents.yml';

const ctx = (templates: Record<string, string> = {}, declaredProviders: string[] = []): ConversionContext => ({
  template: (name) => templates[name],
  declaredProviders,
});

function only(text: string): P2EngineAgent {
  const agents = readAgentsYml(text, FILE);
  expect(agents).toHaveLength(1);
  return agents[0]!;
}

/** The error a call throws (failing the test when it throws none). */
function thrown(f: () => unknown): P2Error {
  try {
    f();
  } catch (error) {
    if (error instanceof P2Error) return error;
    throw error;
  }
  throw new Error('expected an error');
}

describe("readAgentsYml: P2Engine's agents file", () => {
  it('reads the six shipped agents with their models and tools, and each becomes a valid persona', () => {
    const agents = readAgentsYml(SHIPPED, FILE);
    expect(agents.map((a) => a.id)).toEqual([
      'agent_alpha',
      'agent_beta',
      'agent_helper',
      'treasurer',
      'agent_lemy',
      'child',
    ]);
    expect(agents[3]).toMatchObject({
      type: 'llm',
      llm_model: 'openai/gpt-4o',
      tools: ['check_balance', 'transfer_funds', 'transaction_history', 'reward_agent'],
      source: { file: FILE, line: 14 },
    });
    for (const agent of agents) {
      const { persona, carried } = personaFromP2EngineAgent(agent, ctx());
      expect(personaSchema.safeParse(persona).success).toBe(true);
      expect(persona.model).toBe('openai/gpt-4o');
      expect(persona.tools).toEqual(agent.tools);
      expect(carried).toContain('llm_model openai/gpt-4o → model openai/gpt-4o');
    }
    const alpha = personaFromP2EngineAgent(agents[0]!, ctx());
    expect(alpha.mapped.join('\n')).toContain('tools: delegate → this agent may delegate to every other agent');
    // No `agents:` list: the loader reads `delegate` in tools as "any other agent", P2Engine's meaning.
    expect(alpha.persona.agents).toBeUndefined();
  });

  it('names file:line:column and the field of every problem, with did-you-mean for a typo', () => {
    const text = `agents:
  - id: a1
    type: llm
    tool: [get_weather]
  - id: a2
    type: rule_base
  - type: llm
  - id: a4
    type: rule_based
    rules: { hello: 5 }
  - id: a5
    type: llm
    rules: { hi: there }
`;
    const error = thrown(() => readAgentsYml(text, FILE));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.code).toBe('E_AGENTS_YML');
    const lines = error.message.split('\n');
    expect(lines).toEqual([
      `${FILE}:4:11: agents[0].tool: unknown field 'tool' (did you mean tools?); llm agents have: id, type, llm_model, ` +
        'behavior_template, tools, render_policy, enable_self_reflection, reflection_agent_id',
      `${FILE}:6:11: agents[1].type: unknown agent type "rule_base" (did you mean rule_based?); P2Engine's types: llm, rule_based, human_in_loop`,
      `${FILE}:7:5: agents[2]: id is required`,
      `${FILE}:10:21: agents[3].rules.hello: the reply must be a string, got 5`,
      `${FILE}:13:12: agents[4].rules: 'rules' is a field of rule_based agents, not of llm agents (P2Engine forbids it here too)`,
    ]);
  });

  it('refuses one id given twice, naming both lines, and keeps the other entries readable', () => {
    const text = `agents:\n  - { id: x, type: llm }\n  - { id: y, type: llm }\n  - { id: x, type: human_in_loop }\n`;
    const { agents, broken } = readAgentsYmlEntries(text, FILE);
    expect(agents.map((a) => a.id)).toEqual(['y']);
    expect(broken.map((b) => [b.id, b.issues.map((i) => `${i.line}:${i.column} ${i.message}`)])).toEqual([
      ['x', ["2:11 id 'x' is also the id of the entry at line 4; an id names one agent"]],
      ['x', ["4:11 id 'x' is also the id of the entry at line 2; an id names one agent"]],
    ]);
  });

  it('reports malformed YAML and a file without an agents list at their line', () => {
    const bad = thrown(() => readAgentsYml('agents:\n  - id: a\n    type: [llm\n', FILE));
    expect(bad.code).toBe('E_AGENTS_YML');
    expect(bad.message).toMatch(/^config\/agents\.yml:3:\d+: YAML syntax: /);
    const none = thrown(() => readAgentsYml('agent:\n  - id: a\n', FILE));
    expect(none.message).toBe(`${FILE}:1:1: agents: is required (array)`);
  });
});

describe('personaFromP2EngineAgent', () => {
  it('refuses a model p2tui has no adapter for, naming the provider and the OpenAI-compatible route', () => {
    const agent = only('agents:\n  - id: poet\n    type: llm\n    llm_model: anthropic/claude-3-5-sonnet\n');
    const error = thrown(() => personaFromP2EngineAgent(agent, ctx()));
    expect(error).toBeInstanceOf(UserError);
    expect(error.code).toBe('E_AGENTS_YML');
    expect(error.message).toMatch(
      /^config\/agents\.yml:4:16: agents\[0\]\.llm_model: model 'anthropic\/claude-3-5-sonnet' is served by 'anthropic'/,
    );
    expect(error.message).toContain('OpenAI-compatible endpoint');
    expect(error.message).toContain('providers: { anthropic: { type: openai');
    // Declared in p2tui.yaml under LiteLLM's name: the id runs unchanged.
    expect(personaFromP2EngineAgent(agent, ctx({}, ['anthropic'])).persona.model).toBe('anthropic/claude-3-5-sonnet');
  });

  it("maps LiteLLM spellings and P2Engine's default model, saying so", () => {
    const bare = personaFromP2EngineAgent(only('agents:\n  - { id: a, type: llm, llm_model: gpt-4o }\n'), ctx());
    expect(bare.persona.model).toBe('openai/gpt-4o');
    expect(bare.mapped[0]).toBe("llm_model 'gpt-4o' → openai/gpt-4o (LiteLLM sends a bare gpt-4o to OpenAI)");
    const unset = personaFromP2EngineAgent(only('agents:\n  - { id: a, type: llm }\n'), ctx());
    expect(unset.persona.model).toBe('openai/gpt-4.1');
    expect(unset.mapped[0]).toBe("llm_model (not set) → model openai/gpt-4.1: P2Engine's default openai/gpt-4.1");
  });

  it('makes a behavior template the system prompt, adds what weather_expert needed, and refuses a missing one', () => {
    const agent = only(
      'agents:\n  - id: w\n    type: llm\n    behavior_template: weather_expert\n    tools: [check_balance]\n',
    );
    const { persona, mapped } = personaFromP2EngineAgent(
      agent,
      ctx({ weather_expert: 'You are a weather expert. Use the get_weather tool.' }),
    );
    expect(persona.system).toBe('You are a weather expert. Use the get_weather tool.');
    expect(persona.tools).toEqual(['check_balance', 'get_weather']);
    expect(mapped).toContain(
      'tools: get_weather added, as P2Engine added it at call time for the weather_expert persona',
    );
    const missing = thrown(() => personaFromP2EngineAgent(agent, ctx()));
    expect(missing.code).toBe('E_AGENTS_YML');
    expect(missing.message).toBe(
      "config/agents.yml:4:24: agents[0].behavior_template: no template 'weather_expert' in templates/ (nor templates/personas/)",
    );
  });

  it('says what has no counterpart: reflection, render_policy, callback_url', () => {
    const llm = personaFromP2EngineAgent(
      only(
        'agents:\n  - { id: a, type: llm, render_policy: full, enable_self_reflection: true, reflection_agent_id: critic }\n',
      ),
      ctx(),
    );
    expect(llm.cannot).toEqual([
      'render_policy: P2Engine never read it; ignored',
      "enable_self_reflection: p2tui does not re-prompt an agent with its own answer (P2Engine's reflection/self.j2); " +
        'judge the answers with an evaluator (p2tui eval) instead',
      'reflection_agent_id critic: p2tui does not send a finished answer to a critic agent; judge the answers with an ' +
        'evaluator (p2tui eval), or have the agent delegate to it',
    ]);
    const human = personaFromP2EngineAgent(
      only('agents:\n  - { id: desk, type: human_in_loop, callback_url: "https://example.org/hook" }\n'),
      ctx(),
    );
    expect(human.persona).toMatchObject({ id: 'desk', model: 'human/operator' });
    expect(human.cannot).toEqual([
      'callback_url https://example.org/hook: P2Engine only logged it; p2tui calls no URL, it asks the person in the CLI or TUI',
    ]);
  });

  it('refuses a rule reply that the simulator would fill as a template', () => {
    const agent = only('agents:\n  - id: r\n    type: rule_based\n    rules: { hi: "hello {{task}}" }\n');
    const error = thrown(() => personaFromP2EngineAgent(agent, ctx()));
    expect(error.code).toBe('E_AGENTS_YML');
    expect(error.message).toContain("agents[0].rules: the reply to 'hi' contains {{task}}");
  });
});

describe('a rule_based agent answers as P2Engine did (real engine, scripted simulator)', () => {
  const engines: TestEngine[] = [];
  afterEach(() => {
    for (const e of engines.splice(0)) e.close();
  });

  it('replies a rule for the whole message, any case, and the default text otherwise', async () => {
    const agent = only(`agents:
  - id: faq
    type: rule_based
    rules:
      hello: Hi there!
      "what is 2+2? (really)": "4"
      "hi. how are you?": Fine, thanks.
      "pay $5, then stop": Paid.
      Shout: only in p2tui
`);
    const { persona, mapped } = personaFromP2EngineAgent(agent, ctx());
    expect(mapped).toContain(
      "rule 'Shout': P2Engine looked up the lower-cased message and never matched this key; p2tui matches it case-insensitively",
    );
    const t = await testEngine([persona]);
    engines.push(t);
    const ask = async (message: string): Promise<string | undefined> => {
      const session = t.engine.start({ agent: 'faq', message, source: 'api', options: t.options() });
      expect(await session.idle()).toBe('finished');
      return session.answer;
    };
    expect(await ask('HELLO')).toBe('Hi there!');
    expect(await ask('hello there')).toBe(P2ENGINE_NO_RULE);
    // Regular-expression characters are the message's own.
    expect(await ask('What is 2+2? (really)')).toBe('4');
    expect(await ask('what is 22 (really)')).toBe(P2ENGINE_NO_RULE);
    // A key of several sentences or clauses is one message, not split.
    expect(await ask('Hi. How are you?')).toBe('Fine, thanks.');
    expect(await ask('hi. how are you')).toBe(P2ENGINE_NO_RULE);
    expect(await ask('shout')).toBe('only in p2tui');
    expect(await ask('Pay $5, then stop')).toBe('Paid.');
  });
});
