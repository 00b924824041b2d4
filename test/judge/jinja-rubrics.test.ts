import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseVerdict } from '../../src/judge/llm-judge.ts';
import { lintRubric, parseRubricFile } from '../../src/judge/rubric.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { openAIServer, type ModelServer } from '../helpers/model-servers.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/*
 * Rubrics as P2Engine wrote them (`infra/evals/rubrics/<id>.jinja`, copied to rubrics/): the file's whole text is
 * what the judge reads, nothing in it rendered; the judge replies P2Engine's `{"score": x, "comment": "…"}`.
 * Everything runs through the CLI as a real process; the judge is the scripted one offline, or a local
 * OpenAI-protocol server.
 */

/** P2Engine's shipped rubric, written from its description: a Jinja comment and statement, a `{{ }}`, and the JSON. */
const JOKE_QUALITY = `{# joke_quality.jinja: how the joke agents' stories are graded #}
You are a comedy critic grading a joke told by {{ agent_name | default("the assistant") }}.

A good joke here:
1. Is a short story of at least 8 sentences.
2. Has exactly one punch-line, at the very end.
3. Uses a pun, an absurd comparison or a callback to something set up earlier.
4. Avoids clichés ("a man walks into a bar", "why did the chicken…").
{% if strict %}Be harsh: a joke that only nearly works is not funny.{% endif %}

Score it on this scale only: {0, 0.25, 0.5, 0.75, 1.0}
- 1.0: all four hold
- 0.75: three hold
- 0.5: two hold
- 0.25: one holds
- 0: none holds, or it is not a joke

Return only {"score": <one of the values above>}
`;

const STORY =
  'My cat Miso decided he was a chef. He wore a tiny paper hat every morning. ' +
  'He inspected the fridge like a health inspector with a grudge. He rejected the tuna because it lacked ambition. ' +
  'He rejected the salmon because it was too self-absorbed. He whisked eggs with his tail for an hour. ' +
  'The neighbours started booking tables by phone. Then Miso served his signature dish and bowed to us all. ' +
  'It was a purr-fect soufflé, and Miso took all the credit!';
const MEMO =
  'The quarterly report is due on Friday. All department heads must submit their figures to finance. ' +
  'Contact the office with any questions.';

const workspaces: TempWorkspace[] = [];
const servers: ModelServer[] = [];
afterEach(async () => {
  for (const w of workspaces.splice(0)) w.cleanup();
  for (const s of servers.splice(0)) await s.close();
});

function jokeWorkspace(config: Record<string, unknown> = {}): TempWorkspace {
  const ws = tempWorkspace({
    'p2tui.yaml': stringify({
      ...config,
      judge: {
        ...((config['judge'] as Record<string, unknown> | undefined) ?? {}),
        evaluators: [{ id: 'joke', kind: 'llm', rubric: 'joke_quality', on: 'demand' }],
      },
    }),
    'rubrics/joke_quality.jinja': JOKE_QUALITY,
  });
  workspaces.push(ws);
  ws.persona({ id: 'joker', description: 'Tells jokes.', script: [{ when: '.', steps: [{ reply: STORY }] }] });
  ws.persona({ id: 'clerk', description: 'Writes memos.', script: [{ when: '.', steps: [{ reply: MEMO }] }] });
  return ws;
}

function p2tui(ws: TempWorkspace, ...args: string[]): Promise<CliResult> {
  return runCli(['--workspace', ws.dir, ...args], { cwd: ws.dir, env: { OPENAI_API_KEY: 'sk-test-jinja' } });
}

interface EvalJson {
  scores: {
    value: number | null;
    judge: string;
    scores: { status: string; reasoning: string; criteria: { id: string; score: number | null; reason: string }[] }[];
  }[];
  gates: { metric: string; value: number | null; passed: boolean }[];
}

describe('rubrics/<id>.jinja: loaded verbatim, listed, linted', () => {
  it('lists the .jinja rubric as one criterion from its file, lints its Jinja without complaint, and refuses an id clash naming both files', async () => {
    const ws = jokeWorkspace();
    const list = await p2tui(ws, 'rubrics', 'list', '--json');
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([
      {
        file: 'rubrics/joke_quality.jinja',
        id: 'joke_quality',
        criteria: [{ id: 'score', weight: 1, description: JOKE_QUALITY }],
        version: expect.stringMatching(/^[0-9a-f]{12}$/),
        usedBy: ['joke'],
        problems: 0,
      },
    ]);
    const table = await p2tui(ws, 'rubrics', 'list');
    expect(table.stdout).toMatch(/joke_quality\s+score 1\s+[0-9a-f]{12}\s+joke\s+ok\s+rubrics\/joke_quality\.jinja/);
    const lint = await p2tui(ws, 'rubrics', 'lint');
    expect(lint.stdout.trim()).toBe('1 rubric ok');
    expect(lint.code).toBe(0);

    ws.write('rubrics/joke_quality.md', '## Criteria\n- funny (1): It is funny.\n');
    // As for a .yaml and a .md of one id: E_RUBRIC, an invalid workspace (exit 3).
    const clash = await p2tui(ws, 'eval', 'run', 'last');
    expect(clash.code).toBe(3);
    expect(clash.stderr).toContain('error E_RUBRIC: ');
    expect(clash.stderr).toContain(
      "rubrics/joke_quality.md: id: rubric 'joke_quality' is also defined in rubrics/joke_quality.jinja",
    );
  });
});

describe('the scripted judge reads a .jinja rubric', () => {
  it("scores a long story with a comparison and a punch-line above a serious memo, on the rubric's own scale", async () => {
    const ws = jokeWorkspace();
    const judged: EvalJson[] = [];
    for (const agent of ['joker', 'clerk']) {
      const run = await p2tui(ws, 'run', agent, 'Tell me something.');
      expect(run.code, run.stderr).toBe(0);
      const scored = await p2tui(ws, 'eval', 'run', 'last', '--json');
      expect(scored.code, scored.stderr).toBe(0);
      judged.push(JSON.parse(scored.stdout) as EvalJson);
    }
    const [story, memo] = judged.map((j) => j.scores[0]!);
    expect(story!.judge).toBe('scripted judge');
    expect(story!.value).toBe(1);
    expect(story!.scores[0]!.criteria[0]!.reason).toBe(
      '9 of at least 8 sentences, a punch-line at the end, a comparison ("like a health"), no clichés (scripted judge)',
    );
    expect(memo!.value).toBe(0.25);
    expect(memo!.scores[0]!.criteria[0]!.reason).toBe(
      '3 of at least 8 sentences, no punch-line (the last sentence does not land with "!"), no pun, comparison or callback, ' +
        "no clichés; 0.344 → 0.25 on the rubric's scale (scripted judge)",
    );
  });

  it('a rollout eval { evaluator_id: gpt4_judge, rubric: joke_quality } resolves the .jinja rubric and ranks the variants by it', async () => {
    const ws = jokeWorkspace();
    ws.write(
      'rollouts/jokes.yaml',
      [
        'teams:',
        '  jokes:',
        '    initial_message: Tell me a joke.',
        '    base: { agent_id: joker }',
        '    variants:',
        '      - { id: joker, agent_id: joker }',
        '      - { id: clerk, agent_id: clerk }',
        '    eval: { evaluator_id: gpt4_judge, metric: score, rubric: joke_quality }',
        'judge: { workspace: false }',
      ].join('\n'),
    );
    const r = await p2tui(ws, 'rollout', 'run', 'rollouts/jokes.yaml', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { cells: { variant: string; metrics: { scores: Record<string, number> } }[] };
    expect(Object.fromEntries(out.cells.map((c) => [c.variant, c.metrics.scores['score']]))).toEqual({
      joker: 1,
      clerk: 0.25,
    });
  });
});

describe('a judge model on an OpenAI-protocol server with a .jinja rubric', () => {
  async function judgedWorkspace(): Promise<{ ws: TempWorkspace; server: ModelServer }> {
    const server = await openAIServer(['judge-model']);
    servers.push(server);
    const ws = jokeWorkspace({
      providers: { openai: { base_url: `${server.url}/v1`, max_retries: 0, stream: false } },
      judge: { model: 'openai/judge-model', retries: 1 },
    });
    const run = await p2tui(ws, 'run', 'joker', 'Tell me a joke.');
    expect(run.code, run.stderr).toBe(0);
    return { ws, server };
  }

  it("a rubric id starting with a digit (P2Engine's library allowed it) is looked up by a rollout's eval, not read as text", async () => {
    const ws = jokeWorkspace();
    ws.write('rubrics/2024_jokes.jinja', readFileSync(join(ws.dir, 'rubrics/joke_quality.jinja'), 'utf8'));
    ws.write(
      'rollouts/jokes.yaml',
      [
        'teams:',
        '  jokes:',
        '    initial_message: Tell me a joke.',
        '    variants: [{ id: joker, agent_id: joker }]',
        '    eval: { evaluator_id: gpt4_judge, metric: score, rubric: 2024_jokes }',
        'judge: { workspace: false }',
      ].join('\n'),
    );
    const r = await p2tui(ws, 'rollout', 'run', 'rollouts/jokes.yaml', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { cells: { metrics: { scores: Record<string, number> } }[] };
    // The library rubric's verdict (1 for the joker's story), not an inline criterion named "2024_jokes".
    expect(out.cells[0]!.metrics.scores['score']).toBe(1);
    ws.write(
      'rollouts/jokes.yaml',
      readFileSync(join(ws.dir, 'rollouts/jokes.yaml'), 'utf8').replace('2024_jokes', '2024_joke'),
    );
    const typo = await p2tui(ws, 'rollout', 'validate', 'rollouts/jokes.yaml');
    expect(typo.code).toBe(3);
    expect(typo.stderr).toContain("unknown rubric '2024_joke' (did you mean 2024_jokes?)");
  });

  it('sends the rubric byte for byte in the system prompt and records {"score": x} replies with their comment or reasoning', async () => {
    const { ws, server } = await judgedWorkspace();
    const replies: [string, number, string][] = [
      ['{"score": 0.75, "comment": "one pun"}', 0.75, 'score 0.75: one pun'],
      ['{"score": 0.5, "reasoning": "the callback is weak"}', 0.5, 'score 0.5: the callback is weak'],
      ['{"score": 1}', 1, 'score 1: (no comment)'],
    ];
    for (const [reply, value, why] of replies) {
      server.queue({ kind: 'reply', text: reply });
      const scored = await p2tui(ws, 'eval', 'run', 'last');
      expect(scored.code, scored.stderr).toBe(0);
      expect(scored.stdout).toMatch(
        new RegExp(`joke\\s+${value.toFixed(2)}\\s+openai/judge-model\\s+${why.replace(/[()]/g, '\\$&')}\n`),
      );
    }
    // eval show has the newest verdict, its reason and value as recorded.
    const show = await p2tui(ws, 'eval', 'show', 'last', '--json');
    expect(show.code, show.stderr).toBe(0);
    const [score] = (JSON.parse(show.stdout) as EvalJson).scores;
    expect(score).toMatchObject({ value: 1, judge: 'openai/judge-model' });
    expect(score!.scores[0]).toMatchObject({
      status: 'ok',
      reasoning: 'score 1: (no comment)',
      criteria: [{ id: 'score', score: 1, reason: '(no comment)' }],
    });
    expect(server.requests).toHaveLength(3);
    const first = server.requests[0]!.body;
    const messages = first['messages'] as { role: string; content: string }[];
    const system = messages.find((m) => m.role === 'system')!.content;
    expect(system).toContain(JOKE_QUALITY);
    expect(system).toContain('{"score": <a number from 0.0 to 1.0>, "comment": "<why, in one sentence>"}');
    // The material is in the user message, and nothing of the rubric was filled in anywhere.
    expect(messages.find((m) => m.role === 'user')!.content).toContain('purr-fect soufflé');
    expect(JSON.stringify(messages)).toContain('{{ agent_name | default(\\"the assistant\\") }}');
    expect(first['response_format']).toEqual({
      type: 'json_schema',
      json_schema: {
        name: 'rubric_scores',
        strict: true,
        schema: {
          type: 'object',
          properties: { score: { type: 'number', minimum: 0, maximum: 1 }, comment: { type: 'string' } },
          required: ['score', 'comment'],
          additionalProperties: false,
        },
      },
    });
  });

  it('a score outside 0..1 is an invalid verdict: asked again, then a judge failure (no score, never 0) that fails a gate', async () => {
    const { ws, server } = await judgedWorkspace();
    server.queue({ kind: 'reply', text: '{"score": 7, "comment": "hilarious"}' });
    const scored = await p2tui(ws, 'eval', 'run', 'last', '--fail-under', 'joke=0.5', '--json');
    expect(scored.code).toBe(1);
    const out = JSON.parse(scored.stdout) as EvalJson;
    expect(out.scores[0]!.value).toBeNull();
    expect(out.scores[0]!.scores[0]!.status).toBe('failed');
    expect(out.scores[0]!.scores[0]!.reasoning).toMatch(/^the judge's output was invalid 2 times: score: .*1/);
    expect(out.gates).toEqual([{ metric: 'joke', min: 0.5, value: null, passed: false }]);
    // The retry told the judge what was wrong and what to answer.
    expect(server.requests).toHaveLength(2);
    const retry = server.requests[1]!.body['messages'] as { role: string; content: string }[];
    expect(retry.at(-1)!.content).toMatch(
      /^That reply cannot be used: score: .*\{"score": <0\.\.1>, "comment": "<why>"\}\.$/,
    );
    const text = await p2tui(ws, 'eval', 'run', 'last', '--fail-under', 'joke=0.5');
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('judge failed');
    expect(text.stdout).toContain('FAIL  joke has no score (the judge failed) < 0.5');
  });
});

describe('{"score": x} replies for every rubric', () => {
  it('a rubric of several criteria takes {"score": x} as its value (no per-criterion scores); the criteria reply still works for a .jinja one', () => {
    const weighted = parseRubricFile(
      stringify({
        criteria: [
          { id: 'relevance', weight: 0.6, description: 'On topic.' },
          { id: 'concise', weight: 0.4, description: 'Short.' },
        ],
      }),
      'rubrics/helpful.yaml',
    );
    expect(parseVerdict('{"score": 0.6, "comment": "fine", "reasoning": "mostly on topic"}', weighted)).toEqual({
      criteria: [],
      score: 0.6,
      reason: 'score 0.6: fine; mostly on topic',
    });
    expect(parseVerdict('{"score": "high"}', weighted)).toEqual({ problem: expect.stringMatching(/^score: /) });
    const jinja = parseRubricFile(JOKE_QUALITY, 'rubrics/joke_quality.jinja');
    expect(jinja.description).toBe(
      'You are a comedy critic grading a joke told by {{ agent_name | default("the assistant") }}.',
    );
    // An empty file is the one thing lint holds against a .jinja rubric; a name P2Engine could not look up is refused.
    expect(lintRubric(parseRubricFile('\n', 'rubrics/empty.jinja'))).toEqual([
      {
        file: 'rubrics/empty.jinja',
        field: 'text',
        message: 'the rubric is empty: the judge would not know what to score',
      },
    ]);
    expect(() => parseRubricFile('Be funny.', 'rubrics/joke quality.jinja')).toThrow(
      "rubrics/joke quality.jinja: id: 'joke quality' is not a rubric id: P2Engine's rubric names are letters, digits, _ and -",
    );
    expect(parseVerdict('{"criteria": [{"id": "score", "score": 0.25, "reason": "cliché"}]}', jinja)).toEqual({
      criteria: [{ id: 'score', weight: 1, score: 0.25, reason: 'cliché' }],
    });
  });
});
