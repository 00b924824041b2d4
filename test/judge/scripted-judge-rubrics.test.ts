import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseRubricFile } from '../../src/judge/rubric.ts';
import { scriptedJudge } from '../../src/judge/scripted-judge.ts';
import type { Material } from '../../src/judge/material.ts';

/**
 * The scripted judge reads the rubric (issue 19, point 2): two rubrics with opposite criteria rank the same answers
 * in opposite orders, and a criterion's own words count when present (or, after "avoid", when absent).
 */
function material(answer: string): Material {
  return {
    session: 's',
    branch: 'b',
    target: { kind: 'conversation', id: 'c' },
    conversation: 'c',
    agent: 'a',
    task: 'What is the weather in Paris today?',
    answer,
    finished: true,
    entries: [],
    toolCalls: [{ tool: 'get_weather', args: { location: 'Paris' }, status: 'ok' }],
    delegations: [],
    usage: { tokensIn: 100, tokensOut: 30, costUsd: 0, latencyMs: 10, modelCalls: 2 },
  };
}

function rubric(id: string, description: string): ReturnType<typeof parseRubricFile> {
  return parseRubricFile(
    stringify({ description: id, criteria: [{ id: 'style', weight: 1, description }] }),
    `rubrics/${id}.yaml`,
  );
}

const filler = (n: number): string =>
  Array.from({ length: n }, (_, i) => ['clouds', 'drift', 'eastward', 'humidity', 'rises', 'slowly'][i % 6]).join(' ');

const ANSWERS = {
  short: 'The weather in Paris today is sunny, 22 °C.',
  medium: `The weather in Paris today is sunny, 22 °C. ${filler(35)}.`,
  long: `The weather in Paris today is sunny, 22 °C. ${filler(170)}.`,
};

function ranking(r: ReturnType<typeof parseRubricFile>): string[] {
  return Object.entries(ANSWERS)
    .map(([name, answer]) => ({ name, value: scriptedJudge(r, material(answer)).value }))
    .sort((a, b) => b.value - a.value)
    .map((x) => x.name);
}

describe('the scripted judge reads the rubric', () => {
  it('ranks the same answers in opposite orders under a brevity rubric and a detail rubric', () => {
    const brief = rubric('brief', 'The answer is brief and to the point.');
    const detailed = rubric('detailed', 'The answer is detailed and thorough, explaining every step.');
    expect(ranking(brief)).toEqual(['short', 'medium', 'long']);
    expect(ranking(detailed)).toEqual(['long', 'medium', 'short']);
    // Deterministic, and the reason says what the criterion asked for.
    expect(scriptedJudge(brief, material(ANSWERS.long))).toEqual(scriptedJudge(brief, material(ANSWERS.long)));
    expect(scriptedJudge(brief, material(ANSWERS.long)).criteria[0]!.reason).toMatch(/asks for brevity, \d+ words/);
    expect(scriptedJudge(detailed, material(ANSWERS.short)).criteria[0]!.reason).toMatch(/asks for detail, \d+ of 150/);
  });

  it("counts a criterion's words when the answer shows them, and words after 'avoid' when it does not", () => {
    const celsius = 'The weather in Paris today is sunny, 22 degrees celsius.';
    const fahrenheit = 'The weather in Paris today is sunny, 72 degrees fahrenheit.';
    const wants = rubric('celsius', 'The temperature is given in celsius.');
    const avoids = rubric('no-celsius', 'The temperature is given, and avoid celsius.');
    const score = (r: ReturnType<typeof parseRubricFile>, a: string): number => scriptedJudge(r, material(a)).value;
    expect(score(wants, celsius)).toBeGreaterThan(score(wants, fahrenheit));
    expect(score(avoids, fahrenheit)).toBeGreaterThan(score(avoids, celsius));
  });
});
