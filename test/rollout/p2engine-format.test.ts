import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ollamaServer, type RecordedRequest } from '../helpers/model-servers.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { parseRolloutSpec } from '../../src/rollout/spec.ts';
import { ValidationError } from '../../src/core/errors.ts';
import { agentCalls, p2tui, servers, systemOf, toolsOf, userOf, workspace } from './p2engine-setup.ts';

/*
 * A spec in P2Engine's format, honoured key by key: every key P2Engine read reaches the model's requests (a real
 * OpenAI-protocol server records them), keys P2Engine ignored are applied or warned about truthfully, and keys
 * nobody knows are refused with a suggestion before anything runs.
 */

describe("P2Engine's rollout format, field by field", () => {
  it('sends each variant’s settings to the model: model, temperature, top_p, max_tokens, tools and the behavior_template prompt', async () => {
    const { server, ws } = await workspace();
    ws.write(
      'rollouts/p2.yaml',
      [
        'teams:',
        '  weather_team:',
        '    initial_message: What is the weather in Paris?',
        '    base:',
        '      agent_id: agent_alpha',
        '      model: openai/test-model',
        '      tools: [get_weather]',
        '      behavior_template: weather_expert',
        '    variants:',
        '      - { temperature: 0.3, top_p: 0.9, max_tokens: 120 }',
        '      - { temperature: 0.3, top_p: 0.5, max_tokens: 120 }',
        '      - model: openai/other-model',
        '        temperature: 1.1',
        '        top_p: 0.95',
        '        tools: [get_weather, get_time]',
        '        behavior_template: You are a terse forecaster.',
        '        initial_message: What time is it in Tokyo?',
        'concurrency: 1',
      ].join('\n'),
    );
    const r = await p2tui(ws, 'rollout', 'run', 'rollouts/p2.yaml');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stderr).toContain('max_tokens: P2Engine ignored this key; p2tui applies it');
    expect(r.stderr).not.toContain('P2Engine ignored it too');
    const calls = agentCalls(server);
    expect(calls).toHaveLength(3);
    const byTopP = (p: number): RecordedRequest => calls.find((c) => c.body['top_p'] === p)!;
    const [v1, v2, v3] = [byTopP(0.9), byTopP(0.5), byTopP(0.95)];
    expect(v1.body).toMatchObject({ model: 'test-model', temperature: 0.3, top_p: 0.9, max_tokens: 120 });
    expect(toolsOf(v1)).toEqual(['get_weather']);
    // behavior_template names P2Engine's persona template: its text is the system prompt, not the word.
    expect(systemOf(v1)).toMatch(/^You are a weather expert\. Use the get_weather tool for agent_alpha\./);
    expect(userOf(v1)).toBe('What is the weather in Paris?');
    // Variants that differ only in top_p send requests that differ only in top_p.
    const without = (b: Record<string, unknown>): Record<string, unknown> =>
      Object.fromEntries(Object.entries(b).filter(([k]) => k !== 'top_p'));
    expect(v2.body['top_p']).toBe(0.5);
    expect(without(v2.body)).toEqual(without(v1.body));
    expect(v3.body).toMatchObject({ model: 'other-model', temperature: 1.1, top_p: 0.95 });
    expect(v3.body).not.toHaveProperty('max_tokens');
    expect(toolsOf(v3)).toEqual(['get_time', 'get_weather']);
    // Text with a space is the prompt itself.
    expect(systemOf(v3)).toMatch(/^You are a terse forecaster\./);
    expect(userOf(v3)).toBe('What time is it in Tokyo?');
  });

  it('refuses a key nobody knows with its file, line and a suggestion (validate and run, exit 3), and warns truthfully about reasoning_policy', async () => {
    const { server, ws } = await workspace();
    const spec = (extra: string): string =>
      [
        'teams:',
        '  t:',
        '    initial_message: hi',
        '    base: { agent_id: agent_alpha }',
        '    variants:',
        `      - { temperature: 0.2, ${extra} }`,
      ].join('\n');
    ws.write('rollouts/typo.yaml', spec('top_pp: 0.9'));
    for (const command of ['validate', 'run']) {
      const r = await p2tui(ws, 'rollout', command, 'rollouts/typo.yaml');
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain('E_ROLLOUT_SPEC');
      expect(r.stderr).toMatch(/rollouts\/typo\.yaml:6:\d+/);
      expect(r.stderr).toContain("unknown key 'top_pp' (did you mean top_p?)");
    }
    expect(agentCalls(server)).toHaveLength(0);
    ws.write('rollouts/policy.yaml', spec('reasoning_policy: mcts_v1'));
    const ok = await p2tui(ws, 'rollout', 'validate', 'rollouts/policy.yaml');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout + ok.stderr).toContain(
      'reasoning_policy is accepted but not applied: P2Engine accepted it and never read it',
    );
    // Misspelt keys of the team, its eval and the spec itself get the same suggestion.
    const loaded = await loadWorkspace(ws.dir);
    const text = [
      'teams:',
      '  t:',
      '    initial_message: hi',
      '    base: { agent_id: agent_alpha }',
      '    eval: { evaluator_id: gpt4_judge, timeout_secs: 3 }',
      '    variantz: []',
      'repeat: 2',
    ].join('\n');
    expect(() => parseRolloutSpec(text, 'rollouts/x.yaml', loaded)).toThrow(ValidationError);
    try {
      parseRolloutSpec(text, 'rollouts/x.yaml', loaded);
    } catch (error) {
      expect(
        (error as ValidationError).issues.map((i) => `${i.line}:${i.field}: ${i.message.replace(/;.*/, '')}`),
      ).toEqual([
        "5:teams.t.eval: unknown field 'timeout_secs' (did you mean timeout_sec?)",
        "3:teams.t: unknown field 'variantz' (did you mean variants?)",
        "1:: unknown field 'repeat' (did you mean repeats?)",
      ]);
    }
  });

  it('resolves behavior_template from templates/ (.md, .txt, .j2) and refuses a name that is no template, with a suggestion', async () => {
    const { ws } = await workspace();
    ws.write('templates/pirate.md', 'You speak like a pirate.');
    ws.write('templates/formal.txt', 'You are formal.');
    const spec = (template: string): string =>
      [
        'teams:',
        '  t:',
        '    initial_message: hi',
        `    base: { agent_id: agent_alpha, behavior_template: ${template} }`,
      ].join('\n');
    const workspaceNow = await loadWorkspace(ws.dir);
    for (const [name, text] of [
      ['pirate', 'You speak like a pirate.'],
      ['formal', 'You are formal.'],
      ['weather_expert', 'You are a weather expert. Use the get_weather tool for {{id}}.'],
      ['"Say hi twice."', 'Say hi twice.'],
    ] as const) {
      const parsed = parseRolloutSpec(spec(name), 'rollouts/t.yaml', workspaceNow);
      expect(parsed.teams[0]!.variants[0]!.personas['agent_alpha']!.system).toBe(text);
    }
    // P2Engine's own layout (templates/personas/<name>.j2) works as it is; a path is no template name.
    ws.write('templates/personas/forecaster.j2', 'You forecast.');
    expect(
      parseRolloutSpec(spec('forecaster'), 'rollouts/t.yaml', workspaceNow).teams[0]!.variants[0]!.personas,
    ).toEqual({ agent_alpha: { system: 'You forecast.' } });
    expect(() => parseRolloutSpec(spec('../p2tui'), 'rollouts/t.yaml', workspaceNow)).toThrow(
      /'\.\.\/p2tui' is neither a template name/,
    );
    // Jinja statements would reach the model unevaluated: refused, naming the file.
    ws.write('templates/looping.j2', '{% for c in cities %}{{ c }}{% endfor %}');
    expect(() => parseRolloutSpec(spec('looping'), 'rollouts/t.yaml', workspaceNow)).toThrow(
      /templates\/looping\.j2 uses Jinja statements/,
    );
    ws.write('rollouts/t.yaml', spec('weather_expret'));
    const bad = await p2tui(ws, 'rollout', 'validate', 'rollouts/t.yaml');
    expect(bad.code, bad.stderr).toBe(3);
    expect(bad.stderr).toContain("no template 'weather_expret' in templates/");
    expect(bad.stderr).toContain('did you mean weather_expert?');
  });

  it("sends a persona file's top_p and max_tokens to Ollama (options.top_p, num_predict), and a spec variant's", async () => {
    const { server, ws } = await workspace();
    const ollama = await ollamaServer(['llama3.2']);
    servers.push(ollama);
    ws.write(
      'p2tui.yaml',
      stringify({
        providers: {
          openai: { base_url: `${server.url}/v1`, max_retries: 0, stream: false },
          ollama: { host: ollama.url, max_retries: 0, stream: false },
        },
      }),
    );
    ws.persona({ id: 'local', description: 'Runs locally.', model: 'ollama/llama3.2', top_p: 0.7, max_tokens: 32 });
    const b = await p2tui(ws, 'run', 'local', 'hello');
    expect(b.code, b.stderr).toBe(0);
    expect(ollama.requests.find((r) => r.path === '/api/chat')!.body['options']).toMatchObject({
      top_p: 0.7,
      num_predict: 32,
    });
    ws.write(
      'rollouts/local.yaml',
      ['teams:', '  t:', '    initial_message: hi', '    base: { agent_id: local, top_p: 0.3, max_tokens: 16 }'].join(
        '\n',
      ),
    );
    const c = await p2tui(ws, 'rollout', 'run', 'rollouts/local.yaml');
    expect(c.code, c.stderr).toBe(0);
    expect(ollama.requests.filter((r) => r.path === '/api/chat').at(-1)!.body['options']).toMatchObject({
      top_p: 0.3,
      num_predict: 16,
    });
  });

  it('run --top-p and --max-tokens send them for every agent or one (its own value wins); a bad value is a usage error', async () => {
    const { server, ws } = await workspace();
    const r = await p2tui(
      ws,
      'run',
      'agent_alpha',
      'hi',
      '--top-p',
      '0.4',
      '--max-tokens',
      '30',
      '--top-p',
      'agent_alpha=0.6',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(agentCalls(server)[0]!.body).toMatchObject({ top_p: 0.6, max_tokens: 30 });
    const bad = await p2tui(ws, 'run', 'agent_alpha', 'hi', '--top-p', '1.5');
    expect(bad.code, bad.stderr).toBe(2);
    expect(bad.stderr).toContain("E_USAGE: --top-p needs a number from 0 to 1, not '1.5'");
    expect(agentCalls(server)).toHaveLength(1);
  });
});
