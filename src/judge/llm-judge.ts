import { deadlineSignal, systemClock, type Clock } from '../core/clock.ts';
import { z } from 'zod';
import { messageOf } from '../core/errors.ts';
import { sha256 } from '../core/hash.ts';
import type { JsonObject } from '../core/json.ts';
import type { ChatMessage, ModelProvider, ModelRequest } from '../models/provider.ts';
import { estimateTokens } from '../core/tokens.ts';
import type { CriterionResult } from '../store/scores.ts';
import { transcriptText, type Material } from './material.ts';
import { renderTemplate, type Rubric } from './rubric.ts';
import { scriptedJudge, weightedMean } from './scripted-judge.ts';

export interface JudgeVerdict {
  readonly status: 'ok' | 'failed';
  /** Weighted mean of the criteria; null when the judge failed. */
  readonly value: number | null;
  readonly criteria: readonly CriterionResult[];
  readonly reasoning: string;
  readonly model: string;
  readonly promptHash: string;
}

export interface JudgeCall {
  readonly provider: ModelProvider;
  /** `provider/name` as configured. */
  readonly modelRef: string;
  /** The name the provider is asked for. */
  readonly modelName: string;
  readonly temperature: number;
  readonly seed: number;
  /** Invalid outputs asked again before the score is recorded as a judge failure. */
  readonly retries: number;
  readonly timeoutMs: number;
  /** Where the time limit was set, named when a call runs out of it (absent: nothing is added to the reason). */
  readonly timeoutSetting?: string;
  readonly signal: AbortSignal;
  /** Whose time the timeout takes (the machine's when absent). */
  readonly clock?: Clock;
}

/** The judge's reply, as the JSON schema asks for it. */
const verdictSchema = z.object({
  criteria: z.array(z.object({ id: z.string(), score: z.number().min(0).max(1), reason: z.string() })),
  overall: z.number().min(0).max(1).optional(),
});

/** P2Engine's judge reply (`gpt4_judge`): one score for the whole rubric, with an optional comment or reasoning. */
const scoreReplySchema = z.object({
  score: z.number().min(0).max(1),
  comment: z.string().optional(),
  reasoning: z.string().optional(),
});

const JUDGE_SYSTEM =
  'You evaluate the work of AI agents against rubrics. Reply with one JSON object only, as the schema says.';

/**
 * The judge's system prompt. For a `.jinja` rubric it carries the rubric's text byte for byte, as P2Engine's judge
 * did, with P2Engine's reply contract; nothing in the text is filled in.
 */
export function judgeSystem(rubric: Rubric): string {
  if (rubric.verbatim === undefined) return JUDGE_SYSTEM;
  return [
    'You evaluate the work of AI agents. Score the final answer against this rubric (from ' + rubric.source + '):',
    '',
    rubric.verbatim,
    '',
    'Reply with one JSON object only: {"score": <a number from 0.0 to 1.0>, "comment": "<why, in one sentence>"}',
    '(0 = totally wrong / useless, 1 = perfect; if the rubric names the scores it allows, use one of them).',
  ].join('\n');
}

/** The prompt a rubric gives for some material (its hash goes into every score, so a score can be reproduced). */
export function judgePrompt(rubric: Rubric, m: Material): string {
  return renderTemplate(rubric.prompt, {
    task: m.task === '' ? '(none)' : m.task,
    answer: m.answer === '' ? '(no answer)' : m.answer,
    transcript: transcriptText(m) || '(nothing)',
    criteria: rubric.criteria.map((c) => `- ${c.id} (weight ${c.weight}): ${c.description}`).join('\n'),
    agent: m.agent,
    rubric: rubric.id,
  });
}

/** What a verdict was given on: the same hash means the same rubric, material and schema (a replay finds it by this). */
export function judgePromptHash(rubric: Rubric, m: Material): string {
  // The system prompt joins the hash only when it carries a rubric, so earlier rubrics' hashes (replays) still match.
  const system = rubric.verbatim === undefined ? '' : `${judgeSystem(rubric)}\n`;
  return sha256(`${system}${judgePrompt(rubric, m)}\n${JSON.stringify(verdictJsonSchema(rubric))}`);
}

export function verdictJsonSchema(rubric: Rubric): JsonObject {
  // P2Engine's response schema for a `.jinja` rubric (strict structured output wants every property required).
  if (rubric.verbatim !== undefined)
    return {
      type: 'object',
      properties: { score: { type: 'number', minimum: 0, maximum: 1 }, comment: { type: 'string' } },
      required: ['score', 'comment'],
      additionalProperties: false,
    };
  return {
    type: 'object',
    properties: {
      criteria: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            id: { type: 'string', enum: rubric.criteria.map((c) => c.id) },
            score: { type: 'number', minimum: 0, maximum: 1 },
            reason: { type: 'string' },
          },
          required: ['id', 'score', 'reason'],
          additionalProperties: false,
        },
      },
      overall: { type: 'number', minimum: 0, maximum: 1 },
    },
    required: ['criteria', 'overall'],
    additionalProperties: false,
  };
}

/**
 * Scores material against a rubric with a model: structured output (a JSON schema), validated here; an invalid
 * reply is asked again with the reason, and after `retries` more it is a judge failure, never a zero. With the
 * scripted provider the scripted judge scores it (labelled so).
 */
export async function llmJudge(rubric: Rubric, m: Material, call: JudgeCall): Promise<JudgeVerdict> {
  const prompt = judgePrompt(rubric, m);
  const schema = verdictJsonSchema(rubric);
  const promptHash = judgePromptHash(rubric, m);
  if (call.provider.simulated && call.provider.id === 'scripted') {
    const scored = scriptedJudge(rubric, m);
    return {
      status: 'ok',
      value: scored.value,
      criteria: scored.criteria,
      reasoning: summary(scored.criteria),
      model: 'scripted/judge',
      promptHash,
    };
  }
  const messages: ChatMessage[] = [
    { role: 'system', content: judgeSystem(rubric) },
    { role: 'user', content: prompt },
  ];
  let lastProblem = '';
  for (let attempt = 0; attempt <= call.retries; attempt++) {
    const request: ModelRequest = {
      model: call.modelName,
      messages,
      tools: [],
      temperature: call.temperature,
      seed: call.seed,
      responseFormat: { name: 'rubric_scores', schema },
      estimatedInputTokens: messages.reduce((n, msg) => n + estimateTokens(msg.content ?? ''), 0),
    };
    const clock = call.clock ?? systemClock;
    const deadline =
      call.provider.timesAttempts === true
        ? undefined
        : deadlineSignal(clock, call.timeoutMs, () => new Error(`no answer within ${call.timeoutMs} ms`), {
            within: call.signal,
          });
    const signal = deadline?.signal ?? call.signal;
    let text: string;
    try {
      text = (await call.provider.complete(request, { signal, attemptTimeoutMs: call.timeoutMs, clock })).text;
    } catch (error) {
      const timedOut = call.timeoutSetting !== undefined && /within \d+ ms/.test(messageOf(error));
      return {
        status: 'failed',
        value: null,
        criteria: [],
        reasoning: `the judge model failed: ${messageOf(error)}${timedOut ? ` (${call.timeoutSetting})` : ''}`,
        model: call.modelRef,
        promptHash,
      };
    } finally {
      deadline?.cancel();
    }
    const parsed = parseVerdict(text, rubric);
    if ('criteria' in parsed) {
      const value = parsed.score ?? weightedMean(parsed.criteria);
      const disagree =
        parsed.overall !== undefined && Math.abs(parsed.overall - value) > 0.25
          ? ` (the judge's own overall was ${parsed.overall})`
          : '';
      return {
        status: 'ok',
        value,
        criteria: parsed.criteria,
        reasoning: `${parsed.reason ?? summary(parsed.criteria)}${disagree}${attempt > 0 ? ` (valid on attempt ${attempt + 1})` : ''}`,
        model: call.modelRef,
        promptHash,
      };
    }
    lastProblem = parsed.problem;
    messages.push(
      { role: 'assistant', content: text },
      {
        role: 'user',
        content:
          rubric.verbatim === undefined
            ? `That reply cannot be used: ${parsed.problem}. Reply again with the JSON object only, scoring every criterion between 0 and 1.`
            : `That reply cannot be used: ${parsed.problem}. Reply again with the JSON object only: {"score": <0..1>, "comment": "<why>"}.`,
      },
    );
  }
  return {
    status: 'failed',
    value: null,
    criteria: [],
    reasoning: `the judge's output was invalid ${call.retries + 1} time${call.retries === 0 ? '' : 's'}: ${lastProblem}`,
    model: call.modelRef,
    promptHash,
  };
}

/**
 * A judge reply checked against the rubric: every criterion once, scores in [0, 1]; or, for any rubric, P2Engine's
 * `{"score": x}` (with an optional `comment` and/or `reasoning`): x is the value, the comment its reason. A rubric of
 * one criterion records x as that criterion's score; one of several records no per-criterion scores (none were given).
 */
export function parseVerdict(
  text: string,
  rubric: Rubric,
): { criteria: CriterionResult[]; overall?: number; score?: number; reason?: string } | { problem: string } {
  const body = text
    .trim()
    .replace(/^```(?:json)?\s*/i, '')
    .replace(/\s*```$/, '');
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { problem: `not JSON (${body.length === 0 ? 'empty reply' : `starts with "${body.slice(0, 40)}"`})` };
  }
  if (typeof json === 'object' && json !== null && 'score' in json && !('criteria' in json))
    return scoreReply(json, rubric);
  const result = verdictSchema.safeParse(json);
  if (!result.success)
    return { problem: result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  const byId = new Map(result.data.criteria.map((c) => [c.id, c]));
  const unknown = result.data.criteria.filter((c) => !rubric.criteria.some((r) => r.id === c.id)).map((c) => c.id);
  const missing = rubric.criteria.filter((c) => !byId.has(c.id)).map((c) => c.id);
  if (unknown.length > 0 || missing.length > 0) {
    return {
      problem: [
        missing.length > 0 ? `missing criteria ${missing.join(', ')}` : '',
        unknown.length > 0 ? `unknown criteria ${unknown.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; '),
    };
  }
  return {
    criteria: rubric.criteria.map((c) => ({
      id: c.id,
      weight: c.weight,
      score: byId.get(c.id)!.score,
      reason: byId.get(c.id)!.reason,
    })),
    ...(result.data.overall === undefined ? {} : { overall: result.data.overall }),
  };
}

function scoreReply(
  json: object,
  rubric: Rubric,
): { criteria: CriterionResult[]; score: number; reason: string } | { problem: string } {
  const result = scoreReplySchema.safeParse(json);
  if (!result.success)
    return { problem: result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  const { score, comment, reasoning } = result.data;
  const said = [comment, reasoning].filter((t): t is string => t !== undefined && t.trim() !== '').map((t) => t.trim());
  const why = said.length === 0 ? '(no comment)' : said.join('; ');
  const only = rubric.criteria.length === 1 ? rubric.criteria[0]! : undefined;
  return {
    criteria: only === undefined ? [] : [{ id: only.id, weight: only.weight, score, reason: why }],
    score,
    reason: only === undefined ? `score ${score}: ${why}` : summary([{ id: only.id, score, reason: why }]),
  };
}

function summary(criteria: readonly CriterionResult[]): string {
  return criteria.map((c) => `${c.id} ${c.score ?? '–'}: ${c.reason}`).join('; ');
}
