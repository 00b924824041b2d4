import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { z } from 'zod';
import { App } from '../../src/app/app.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { P2Error } from '../../src/core/errors.ts';
import { checkAssertions, assertionSchema } from '../../src/judge/assertions.ts';
import { lintRubric, parseRubricFile } from '../../src/judge/rubric.ts';
import { scriptedJudge } from '../../src/judge/scripted-judge.ts';
import type { Material } from '../../src/judge/material.ts';
import { defineTool } from '../../src/tools/define.ts';
import { openAIServer, type ModelServer } from '../helpers/model-servers.ts';
import { tempWorkspace, testEngine, type TestEngine, type TempWorkspace } from '../helpers/workspace.ts';
import { childEnv } from '../helpers/child-env.ts';
import { until } from '../helpers/manual-clock.ts';

const ROOT = join(import.meta.dirname, '../..');
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const RUBRIC = stringify({
  description: 'Useful answers.',
  criteria: [
    { id: 'relevance', weight: 0.6, description: 'The answer addresses the weather question asked.' },
    { id: 'concise', weight: 0.4, description: 'The answer is concise.' },
  ],
});

function material(over: Partial<Material> = {}): Material {
  return {
    session: 's',
    branch: 'b',
    target: { kind: 'conversation', id: 'c' },
    conversation: 'c',
    agent: 'a',
    task: 'What is the weather in Paris today?',
    answer: 'The weather in Paris today is sunny, 22 °C.',
    finished: true,
    entries: [],
    toolCalls: [{ tool: 'get_weather', args: { location: 'Paris', unit: 'celsius' }, status: 'ok' }],
    delegations: ['agent_helper'],
    usage: { tokensIn: 120, tokensOut: 30, costUsd: 0.0004, latencyMs: 900, modelCalls: 2 },
    ...over,
  };
}

describe('rubrics', () => {
  it('reads YAML and Markdown rubrics; lint names the file, line and problem', () => {
    const yaml = parseRubricFile(RUBRIC, 'rubrics/helpful.yaml');
    expect(yaml.id).toBe('helpful');
    expect(yaml.criteria.map((c) => [c.id, c.weight])).toEqual([
      ['relevance', 0.6],
      ['concise', 0.4],
    ]);
    expect(lintRubric(yaml)).toEqual([]);
    const md = parseRubricFile(
      [
        '# Tone',
        'Is it polite?',
        '',
        '## Criteria',
        '- polite (0.5): Says please.',
        '- warm (0.3): ',
        '',
        '## Prompt',
        'Judge {{answer}} for {{audience}}.',
      ].join('\n'),
      'rubrics/tone.md',
    );
    expect(md.description).toBe('Is it polite?');
    const issues = lintRubric(md).map((i) => `${i.file}:${i.line ?? '-'} ${i.field}: ${i.message}`);
    expect(issues).toEqual([
      'rubrics/tone.md:- criteria: weights sum to 0.8, not 1 (polite 0.5, warm 0.3)',
      'rubrics/tone.md:6 criteria.warm: the criterion has no description: the judge would not know what to score',
      expect.stringMatching(/^rubrics\/tone\.md:- prompt: unknown variable \{\{audience\}\}/),
    ]);
    // The version follows the criteria and the prompt: a score records which rubric it came from.
    expect(
      parseRubricFile(RUBRIC.replace('0.6', '0.5').replace('0.4', '0.5'), 'rubrics/helpful.yaml').version,
    ).not.toBe(yaml.version);
    expect(() => parseRubricFile('## Criteria\n- relevance: no weight\n', 'rubrics/bad.md')).toThrow(
      /rubrics\/bad\.md:2:1: criteria: cannot read/,
    );
  });
});

describe('assertions', () => {
  it('each kind passes and fails on what the conversation did, with a reason', () => {
    const run = (a: unknown, m: Material = material()) => checkAssertions([assertionSchema.parse(a)], m).criteria[0]!;
    expect(run({ contains: ['paris', 'sunny'] }).score).toBe(1);
    expect(run({ contains: 'rain' })).toMatchObject({ score: 0, reason: 'missing "rain"' });
    expect(run({ contains: 'paris', case_sensitive: true }).score).toBe(0);
    expect(run({ not_contains: 'error' }).score).toBe(1);
    expect(run({ regex: '\\d+ °C' }).score).toBe(1);
    expect(run({ equals: 'nope' }).score).toBe(0);
    expect(run({ length: { max: 10 } })).toMatchObject({ score: 0, reason: '43 characters (bounds 0…10)' });
    expect(run({ tool_called: { tool: 'get_weather', args: { location: '/^par/i' } } }).score).toBe(1);
    expect(run({ tool_called: { tool: 'get_weather', args: { location: 'Rome' } } }).score).toBe(0);
    expect(run({ tool_called: { tool: 'get_weather', times: 2 } }).score).toBe(0);
    expect(run({ tool_not_called: 'calculate' }).score).toBe(1);
    expect(run({ delegated_to: 'agent_helper' }).score).toBe(1);
    expect(run({ delegated_to: 'treasurer' })).toMatchObject({ score: 0, reason: 'delegated to agent_helper' });
    expect(run({ max_cost_usd: 0.0001 }).score).toBe(0);
    expect(run({ max_tokens: 150 }).score).toBe(1);
    expect(run({ max_latency_ms: 500 }).score).toBe(0);
    expect(run({ max_steps: 2 }).score).toBe(1);
    expect(run({ finished: true }, material({ finished: false })).score).toBe(0);
    const paying = material({
      toolCalls: [
        { tool: 'transfer_funds', args: { to: 'agent_beta', amount: '12.50' }, status: 'ok' },
        { tool: 'transfer_funds', args: { to: 'bob', amount: '3' }, status: 'error' },
      ],
    });
    expect(run({ transferred: { to: 'agent_beta', amount: 12.5 } }, paying)).toMatchObject({
      score: 1,
      reason: 'paid 12.5 to agent_beta',
    });
    expect(run({ transferred: { to: 'bob' } }, paying)).toMatchObject({
      score: 0,
      reason: 'paid 12.50 to agent_beta, not a payment to bob',
    });
    expect(run({ transferred: { to: 'agent_beta' } })).toMatchObject({
      score: 0,
      reason: 'no payment made (wanted a payment to agent_beta)',
    });
    const schema = { type: 'object', properties: { total: { type: 'number' } }, required: ['total'] };
    expect(run({ json_schema: schema }, material({ answer: '{"total": 51}' })).score).toBe(1);
    expect(run({ json_schema: schema }, material({ answer: '{"total": "51"}' }))).toMatchObject({
      score: 0,
      reason: expect.stringMatching(/^total: /),
    });
    expect(run({ json_schema: schema })).toMatchObject({ score: 0, reason: 'the answer is not JSON' });
    const all = checkAssertions(
      [{ contains: 'paris' }, { contains: 'rain' }].map((a) => assertionSchema.parse(a)),
      material(),
    );
    expect(all.value).toBe(0.5);
    expect(all.reasoning).toBe('1/2 passed; failed: 2.contains (missing "rain")');
  });
});

describe('the scripted judge', () => {
  it('scores deterministically from the content: an on-topic answer above an off-topic one, an empty one lowest', () => {
    const rubric = parseRubricFile(RUBRIC, 'rubrics/helpful.yaml');
    const good = scriptedJudge(rubric, material());
    expect(scriptedJudge(rubric, material())).toEqual(good);
    const off = scriptedJudge(rubric, material({ answer: 'Bananas are rich in potassium and grow in clusters.' }));
    const empty = scriptedJudge(rubric, material({ answer: '' }));
    expect(good.value).toBeGreaterThan(off.value);
    expect(off.value).toBeGreaterThan(empty.value);
    expect(good.criteria.every((c) => c.reason.endsWith('(scripted judge)'))).toBe(true);
    expect(good.value).toBeGreaterThan(0);
    expect(good.value).toBeLessThanOrEqual(1);
  });
});

/** A workspace with a weather persona and the given judge section; a tool records nothing. */
async function judgeEngine(
  judge: Record<string, unknown>,
  files: Record<string, string> = {},
  options: { judge?: boolean } = {},
): Promise<{ app: App; engine: Engine; ws: TempWorkspace }> {
  const ws = tempWorkspace({ 'p2tui.yaml': stringify({ judge }), 'rubrics/helpful.yaml': RUBRIC, ...files });
  ws.persona({
    id: 'w',
    description: 'Weather.',
    script: [{ when: '.', steps: [{ reply: 'The weather in Paris today is sunny, 22 °C.' }] }],
  });
  cleanups.push(() => ws.cleanup());
  const workspace = await loadWorkspace(ws.dir);
  const app = new App({ workspace, ...(options.judge === undefined ? {} : { judge: options.judge }) });
  const engine = app.engine;
  cleanups.push(() => app.close());
  return { app, engine, ws };
}

describe('evaluation jobs', () => {
  it('are written in the commit that finishes the conversation, and the run never waits for its judge', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const evaluator = `import { defineEvaluator } from 'p2tui';\nexport const slow = defineEvaluator({ id: 'slow', version: '2', async evaluate(m) { await globalThis.__judgeGate; return { value: m.answer.includes('sunny') ? 0.9 : 0.1, reasoning: 'gate opened' }; } });\n`;
    (globalThis as { __judgeGate?: Promise<void> }).__judgeGate = gate;
    const { app, engine } = await judgeEngine(
      { evaluators: [{ id: 'slow', kind: 'custom', evaluator: 'slow' }] },
      { 'evaluators/slow.ts': evaluator },
    );
    const jobsAtFinish: number[] = [];
    engine.store.onCommit((events) => {
      const finished = events.find((e) => e.type === 'entry' && e.kind === 'finished');
      if (finished !== undefined) jobsAtFinish.push(engine.store.scores.jobs({ session: finished.session! }).length);
    });
    const recorded: number[] = [];
    engine.store.onCommit((events) =>
      events.forEach((e) => e.type === 'score.recorded' && recorded.push((e.payload as { value: number }).value)),
    );
    const run = engine.start({
      agent: 'w',
      message: 'weather in Paris?',
      source: 'api',
      options: engine.sessionOptions({ seed: 1 }),
    });
    expect(await run.idle()).toBe('finished');
    // The commit that finished the conversation held its job; the session is done while the judge still works.
    expect(jobsAtFinish).toEqual([1]);
    await until(
      () => engine.store.scores.jobs({ session: run.id })[0]?.status === 'running',
      'the judge to claim the job',
    );
    expect(engine.store.scores.scores({ session: run.id })).toEqual([]);
    release();
    await app.judge.drain(run.id);
    const [score] = engine.store.scores.scores({ session: run.id });
    expect(score).toMatchObject({
      evaluator: 'slow',
      evaluatorVersion: 'custom@2',
      value: 0.9,
      status: 'ok',
      targetKind: 'conversation',
      targetId: run.session.rootConversation,
      reasoning: 'gate opened',
    });
    expect(recorded).toEqual([0.9]);
  });

  it('survive the process: jobs left by a run that exited early are finished by the next engine, and a dead judge’s claim is taken over', async () => {
    const judge = {
      evaluators: [
        { id: 'quality', kind: 'llm', rubric: 'helpful' },
        { id: 'checks', kind: 'assert', assert: [{ contains: 'sunny' }] },
      ],
    };
    const first = await judgeEngine(judge, {}, { judge: false });
    const run = first.engine.start({
      agent: 'w',
      message: 'weather in Paris?',
      source: 'api',
      options: first.engine.sessionOptions({ seed: 1 }),
    });
    await run.idle();
    expect(first.engine.store.scores.jobs({ session: run.id }).map((j) => j.status)).toEqual(['pending', 'pending']);
    // A judge claims one job and dies: its lease runs out.
    first.engine.store.write(() => first.engine.store.scores.claim('judge:dead', Date.now() - 10_000, 1, 1));
    first.app.close();
    const workspace = await loadWorkspace(first.ws.dir);
    const secondApp = new App({ workspace });
    const second = secondApp.engine;
    cleanups.push(() => secondApp.close());
    await secondApp.judge.drain(run.id);
    const jobs = second.store.scores.jobs({ session: run.id });
    expect(jobs.map((j) => j.status)).toEqual(['done', 'done']);
    expect(jobs[0]!.attempts).toBe(2);
    const scores = second.store.scores
      .scores({ session: run.id })
      .sort((a, b) => a.evaluator.localeCompare(b.evaluator));
    expect(scores.map((s) => [s.evaluator, s.model, s.value !== null && s.value > 0])).toEqual([
      ['checks', null, true],
      ['quality', 'scripted/judge', true],
    ]);
    expect(scores[1]!.promptHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a milestone a tool marks queues its evaluators on that step, with the tool’s result as what is judged', async () => {
    const draft = defineTool({
      name: 'draft',
      description: 'Writes a draft.',
      input: z.object({ topic: z.string() }),
      effect: 'pure',
      run: ({ topic }, ctx) => {
        ctx.milestone?.('draft-ready', `draft about ${topic}`);
        return { text: `A short draft about ${topic}.` };
      },
    });
    const t = await testEngine(
      [
        {
          id: 'writer',
          description: 'Writes.',
          tools: ['draft'],
          script: [{ when: '.', steps: [{ call: 'draft', args: { topic: 'owls' } }, { reply: 'done' }] }],
        },
      ],
      {
        tools: [draft],
        files: {
          'p2tui.yaml': stringify({
            judge: {
              evaluators: [
                {
                  id: 'draft-check',
                  kind: 'assert',
                  on: 'milestone',
                  milestone: 'draft-ready',
                  assert: [{ contains: 'owls' }],
                },
              ],
            },
          }),
        },
      },
    );
    cleanups.push(() => t.close());
    const run = t.engine.start({ agent: 'writer', message: 'write about owls', source: 'api', options: t.options() });
    await run.idle();
    await t.app.judge.drain(run.id);
    const milestone = t.engine.store.log.read(0, { session: run.id, types: ['milestone'] }, 10)[0];
    expect(milestone?.payload).toMatchObject({ name: 'draft-ready', detail: 'draft about owls', tool: 'draft' });
    const [score] = t.engine.store.scores.scores({ session: run.id });
    expect(score).toMatchObject({
      evaluator: 'draft-check',
      targetKind: 'step',
      targetId: (milestone!.payload as { entry: string }).entry,
      value: 1,
    });
  });

  it('name an unknown rubric or evaluator in p2tui.yaml when the workspace loads', async () => {
    const ws = tempWorkspace({
      'p2tui.yaml': stringify({
        judge: {
          evaluators: [
            { id: 'q', kind: 'llm', rubric: 'helpfull' },
            { id: 'c', kind: 'custom', evaluator: 'nope' },
          ],
        },
      }),
      'rubrics/helpful.yaml': RUBRIC,
    });
    cleanups.push(() => ws.cleanup());
    const error = await loadWorkspace(ws.dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(P2Error);
    expect((error as P2Error).message).toBe(
      "p2tui.yaml: judge.evaluators[0].rubric: unknown rubric 'helpfull' (did you mean helpful?); rubrics/ has helpful\np2tui.yaml: judge.evaluators[1].evaluator: no evaluator 'nope' in evaluators/ (found: none)",
    );
    const missing = tempWorkspace({
      'p2tui.yaml': stringify({ judge: { evaluators: [{ id: 'q', kind: 'assert' }] } }),
    });
    cleanups.push(() => missing.cleanup());
    await expect(loadWorkspace(missing.dir)).rejects.toThrow(
      "p2tui.yaml:3:7: judge.evaluators[0].assert: an evaluator of kind assert needs 'assert'",
    );
  });
});

describe('score policies', () => {
  it('a policy retries a branch that scored low on a new, warmer branch, once, and the run follows it', async () => {
    const ws = tempWorkspace({
      'p2tui.yaml': stringify({
        judge: { evaluators: [{ id: 'checks', kind: 'assert', assert: [{ contains: 'sunny' }] }] },
      }),
      'policies/retry.ts': `import { defineScorePolicy } from 'p2tui';\nexport const retry = defineScorePolicy({ id: 'retry', when: (s) => s.evaluator === 'checks' && s.root && s.value === 0, async act(s, a) { if (a.attempts >= 1) return a.note('still failing'); await a.retry({ temperature: 0.5 }); } });\n`,
    });
    ws.persona({ id: 'w', description: 'Weather.', script: [{ when: '.', steps: [{ reply: 'It is raining.' }] }] });
    cleanups.push(() => ws.cleanup());
    const db = join(ws.dir, 'p.db');
    const run = spawnSync(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'run', 'w', 'weather?', '--db', db], {
      cwd: ws.dir,
      encoding: 'utf8',
      env: childEnv(),
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/policy retry · checks 0\.00: retried on branch b_\w+ at temperature 0\.5/);
    expect(run.stdout).toMatch(/policy retry · still failing\s*$/);
    const branches = JSON.parse(
      spawnSync(
        process.execPath,
        [join(ROOT, 'src/cli/main.ts'), 'session', 'branches', 'last', '--json', '--db', db],
        { cwd: ws.dir, encoding: 'utf8', env: childEnv() },
      ).stdout,
    ) as {
      label: string;
      createdBy: string;
      checkedOut: boolean;
      overrides: { temperature?: number };
      score: number;
    }[];
    expect(branches.map((b) => [b.label, b.createdBy, b.checkedOut, b.overrides.temperature ?? null, b.score])).toEqual(
      [
        ['main', 'run', false, null, 0],
        ['retry of main', 'policy:retry', true, 0.5, 0],
      ],
    );
  });
});

describe('the llm judge against an OpenAI-protocol server', () => {
  let server: ModelServer;
  const verdict = (r: number, c: number) =>
    JSON.stringify({
      criteria: [
        { id: 'relevance', score: r, reason: 'on topic' },
        { id: 'concise', score: c, reason: 'short' },
      ],
      overall: 0.5,
    });

  async function llmEngine(): Promise<App> {
    server = await openAIServer(['judge-model']);
    cleanups.push(() => server.close());
    const files = {
      'p2tui.yaml': stringify({
        providers: { openai: { base_url: `${server.url}/v1`, api_key: 'sk-test', max_retries: 0, stream: false } },
        judge: {
          model: 'openai/judge-model',
          retries: 2,
          evaluators: [{ id: 'quality', kind: 'llm', rubric: 'helpful' }],
        },
      }),
    };
    const ws = tempWorkspace({ ...files, 'rubrics/helpful.yaml': RUBRIC });
    ws.persona({ id: 'w', description: 'Weather.', script: [{ when: '.', steps: [{ reply: 'Sunny in Paris.' }] }] });
    cleanups.push(() => ws.cleanup());
    const app = new App({ workspace: await loadWorkspace(ws.dir), judge: false });
    cleanups.push(() => app.close());
    return app;
  }

  it('asks again after malformed output, records the valid verdict with its model and prompt hash', async () => {
    const app = await llmEngine();
    const { engine } = app;
    server.queue(
      { kind: 'reply', text: 'Sure! The answer is great.' },
      {
        kind: 'reply',
        text: JSON.stringify({ criteria: [{ id: 'relevance', score: 0.9, reason: 'x' }], overall: 0.9 }),
      },
      { kind: 'reply', text: `\`\`\`json\n${verdict(1, 0.5)}\n\`\`\`` },
    );
    const run = engine.start({
      agent: 'w',
      message: 'weather?',
      source: 'api',
      options: engine.sessionOptions({ seed: 1 }),
    });
    await run.idle();
    await app.judge.drain(run.id);
    const [score] = engine.store.scores.scores({ session: run.id });
    expect(score).toMatchObject({ status: 'ok', value: 0.8, model: 'openai/judge-model' });
    expect(score!.reasoning).toContain('(valid on attempt 3)');
    expect(score!.criteria.map((c) => [c.id, c.score])).toEqual([
      ['relevance', 1],
      ['concise', 0.5],
    ]);
    // The request asked for structured output, and each retry told the judge what was wrong.
    const bodies = server.requests.map((r) => r.body);
    expect(bodies).toHaveLength(3);
    expect((bodies[0]!['response_format'] as { type: string }).type).toBe('json_schema');
    const retry = bodies[2]!['messages'] as { role: string; content: string }[];
    expect(retry.at(-1)!.content).toContain('missing criteria concise');
  });

  it('pairwise: asks in both orders; a judge that always picks the first answer is caught as position bias', async () => {
    const app = await llmEngine();
    const { engine } = app;
    const run = engine.start({
      agent: 'w',
      message: 'weather?',
      source: 'api',
      options: engine.sessionOptions({ seed: 1 }),
    });
    await run.idle();
    await engine.fork(run.id, { createdBy: 'test', label: 'other', checkout: false });
    const { pairwiseJudge } = await import('../../src/judge/pairwise.ts');
    const { materialFor } = await import('../../src/judge/material.ts');
    const branches = engine.store.sessions.branches(run.id);
    const m = branches.map((b) =>
      materialFor(engine.store, { session: run.id, branch: b.id, kind: 'branch', id: b.id }),
    );
    const rubric = app.workspace.evaluators.require('quality').rubric!;
    const provider = app.workspace.providers.resolve('openai/judge-model').provider;
    const call = {
      provider,
      modelRef: 'openai/judge-model',
      modelName: 'judge-model',
      temperature: 0,
      seed: 1,
      retries: 1,
      timeoutMs: 5_000,
      signal: new AbortController().signal,
    };
    server.queue({ kind: 'reply', text: '{"winner": "1", "reason": "first is better"}' });
    const biased = await pairwiseJudge(rubric, m[0]!, m[1]!, { ...call, order: 'x' });
    expect(biased).toMatchObject({ status: 'ok', winner: 'tie', consistent: false, shareA: 0.5 });
    expect(biased.runs.map((r) => r.first).sort()).toEqual(['a', 'b']);
    const prompts = server.requests.slice(-2).map((r) => (r.body['messages'] as { content: string }[])[1]!.content);
    expect(prompts[0]).toContain('Answer 1:');
    server.queue({ kind: 'reply', text: 'no json' });
    const failed = await pairwiseJudge(rubric, m[0]!, m[1]!, { ...call, order: 'y' });
    expect(failed).toMatchObject({ status: 'failed', error: "the judge's output was invalid 2 times: not JSON" });
  });

  it('records a judge failure, never a zero, when every reply is invalid or the provider fails', async () => {
    const app = await llmEngine();
    const { engine } = app;
    server.queue({
      kind: 'reply',
      text: '{"criteria": [{"id": "relevance", "score": 7, "reason": "x"}, {"id": "concise", "score": 1, "reason": "y"}]}',
    });
    const run = engine.start({
      agent: 'w',
      message: 'weather?',
      source: 'api',
      options: engine.sessionOptions({ seed: 1 }),
    });
    await run.idle();
    await app.judge.drain(run.id);
    const [score] = engine.store.scores.scores({ session: run.id });
    expect(score).toMatchObject({ status: 'failed', value: null });
    expect(score!.reasoning).toMatch(/^the judge's output was invalid 3 times: criteria\.0\.score: /);
    server.queue({ kind: 'error', status: 500, message: 'boom' });
    const again = engine.start({
      agent: 'w',
      message: 'weather?',
      source: 'api',
      options: engine.sessionOptions({ seed: 1 }),
    });
    await again.idle();
    await app.judge.drain(again.id);
    const [failed] = engine.store.scores.scores({ session: again.id });
    expect(failed).toMatchObject({ status: 'failed', value: null });
    expect(failed!.reasoning).toMatch(/^the judge model failed: .*500/);
  });
});

describe('eval and rubrics commands', () => {
  const engines: TestEngine[] = [];
  afterEach(() => engines.splice(0).forEach((e) => e.close()));

  it('eval run scores a branch (samples, criteria, --fail-under gates), eval show lists scores, eval top ranks branches', async () => {
    const ws = tempWorkspace({
      'p2tui.yaml': stringify({
        judge: {
          evaluators: [
            { id: 'quality', kind: 'llm', rubric: 'helpful', on: 'demand' },
            { id: 'checks', kind: 'assert', on: 'demand', assert: [{ contains: 'sunny' }] },
          ],
        },
      }),
      'rubrics/helpful.yaml': RUBRIC,
      'rubrics/broken.md': '## Criteria\n- only (0.5): Half.\n',
    });
    ws.persona({
      id: 'w',
      description: 'Weather.',
      script: [
        { when: '^weather', steps: [{ reply: 'The weather in Paris today is sunny, 22 °C.' }] },
        { when: '.', steps: [{ reply: 'No idea.' }] },
      ],
    });
    cleanups.push(() => ws.cleanup());
    const db = join(ws.dir, 'p.db');
    const p2tui = (...args: string[]) =>
      spawnSync(process.execPath, [join(ROOT, 'src/cli/main.ts'), ...args, '--db', db], {
        cwd: ws.dir,
        encoding: 'utf8',
        env: childEnv(),
        timeout: 60_000,
        input: '',
      });
    expect(p2tui('run', 'w', 'weather in Paris today?').status).toBe(0);
    const scored = p2tui(
      'eval',
      'run',
      'last',
      '--samples',
      '3',
      '--criteria',
      '--fail-under',
      'checks=1',
      '--fail-under',
      'quality=0.1',
    );
    expect(scored.stderr).toBe('');
    expect(scored.status).toBe(0);
    expect(scored.stdout).toMatch(/quality\s+0\.\d\d ± 0\.00 \(n=3\)\s+scripted judge/);
    expect(scored.stdout).toContain('relevance');
    expect(scored.stdout).toContain('pass  checks 1.000 ≥ 1');
    const gate = p2tui('eval', 'run', 'last', '--evaluator', 'quality', '--fail-under', 'quality=0.99');
    expect(gate.status).toBe(1);
    expect(gate.stdout).toMatch(/FAIL {2}quality 0\.\d{3} < 0\.99/);
    expect(p2tui('eval', 'run', 'last', '--fail-under', 'qualty=0.5').stderr).toContain(
      "no evaluator 'qualty' in this workspace",
    );
    // Another branch answering worse ranks below.
    const session = JSON.parse(p2tui('session', 'list', '--json').stdout)[0].id as string;
    expect(p2tui('session', 'fork', session, '--label', 'other', '--checkout').status).toBe(0);
    const chat = spawnSync(
      process.execPath,
      [join(ROOT, 'src/cli/main.ts'), 'chat', '--session', session, '--db', db],
      { cwd: ws.dir, encoding: 'utf8', env: childEnv(), timeout: 60_000, input: 'something else\n' },
    );
    expect(chat.stdout).toContain('No idea.');
    expect(p2tui('eval', 'run', session).status).toBe(0);
    const ranked = JSON.parse(p2tui('eval', 'top', session, '--metric', 'checks', '--json').stdout) as {
      branches: { branch: string; label: string | null; value: number }[];
      overall: { metrics: Record<string, { mean: number; min: number; n: number }> };
    };
    const top = ranked.branches;
    expect(top.map((b) => [b.label, b.value])).toEqual([
      ['main', 1],
      ['other', 0],
    ]);
    // The session as a whole: the mean and the minimum over both branches.
    expect(ranked.overall.metrics['checks']).toEqual({ mean: 0.5, min: 0, n: 2 });
    const show = JSON.parse(p2tui('eval', 'show', session, '--json').stdout) as {
      scores: { evaluator: string; branch: string }[];
    };
    expect(show.scores.filter((s) => s.evaluator === 'checks')).toHaveLength(2);
    // Pairwise, scripted: the answer with "sunny" beats "No idea." in both orders.
    const pair = JSON.parse(
      p2tui('eval', 'pairwise', session, 'main', 'other', '--evaluator', 'quality', '--seed', '1', '--json').stdout,
    ) as { winner: string; consistent: boolean; runs: { first: string }[] };
    expect(pair.winner).toBe(top[0]!.branch);
    expect(pair.consistent).toBe(true);
    expect(new Set(pair.runs.map((r) => r.first)).size).toBe(2);
    expect(p2tui('eval', 'pairwise', session, 'main', 'main').stderr).toContain('both sides are branch');
    const lint = p2tui('rubrics', 'lint');
    expect(lint.status).toBe(1);
    expect(lint.stdout).toContain('rubrics/broken.md: criteria: weights sum to 0.5, not 1 (only 0.5)');
    expect(p2tui('rubrics', 'list').stdout).toMatch(
      /helpful\s+relevance 0\.6, concise 0\.4\s+[0-9a-f]{12}\s+quality\s+ok/,
    );
  });
});
