import { z } from 'zod';
import { messageOf } from '../core/errors.ts';
import { sha256 } from '../core/hash.ts';
import type { JsonObject } from '../core/json.ts';
import { uniform } from '../core/random.ts';
import type { ChatMessage, ModelRequest } from '../models/provider.ts';
import { estimateTokens } from '../core/tokens.ts';
import type { JudgeCall } from './llm-judge.ts';
import type { Material } from './material.ts';
import type { Rubric } from './rubric.ts';
import { scriptedJudge } from './scripted-judge.ts';

/**
 * Pairwise judging: which of two branches' final answers is better, asked twice with the answers' order swapped
 * (the first order drawn at random from a seed), so a judge that favours a position cancels itself out.
 */
export type Side = 'a' | 'b' | 'tie';

export interface PairwiseRun {
  /** Which branch was shown first. */
  readonly first: 'a' | 'b';
  readonly preferred: Side;
  readonly reason: string;
}

export interface PairwiseVerdict {
  readonly status: 'ok' | 'failed';
  readonly winner: Side;
  /** Both orders preferred the same branch (or both called a tie): no sign of position bias. */
  readonly consistent: boolean;
  /** a's share: 1 for two wins, 0.5 for a split or two ties. */
  readonly shareA: number;
  readonly runs: readonly PairwiseRun[];
  readonly model: string;
  readonly promptHash: string;
  readonly error?: string;
}

const replySchema = z.object({ winner: z.enum(['1', '2', 'tie']), reason: z.string() });

const SCHEMA: JsonObject = {
  type: 'object',
  properties: { winner: { type: 'string', enum: ['1', '2', 'tie'] }, reason: { type: 'string' } },
  required: ['winner', 'reason'],
  additionalProperties: false,
};

function prompt(rubric: Rubric, task: string, first: string, second: string): string {
  return [
    'Two AI agents answered the same task. Compare their final answers against the criteria and say which is better.',
    '',
    `Task:\n${task || '(none)'}`,
    '',
    `Answer 1:\n${first || '(no answer)'}`,
    '',
    `Answer 2:\n${second || '(no answer)'}`,
    '',
    `Criteria (rubric "${rubric.id}"):\n${rubric.criteria.map((c) => `- ${c.id} (weight ${c.weight}): ${c.description}`).join('\n')}`,
    '',
    'Reply with JSON only: {"winner": "1" | "2" | "tie", "reason": "<one sentence>"}.',
  ].join('\n');
}

export async function pairwiseJudge(
  rubric: Rubric,
  a: Material,
  b: Material,
  call: JudgeCall & { readonly order: string },
): Promise<PairwiseVerdict> {
  const firstIsA = uniform('pairwise', call.order, a.branch, b.branch) < 0.5;
  const orders: ('a' | 'b')[] = firstIsA ? ['a', 'b'] : ['b', 'a'];
  const promptHash = sha256(prompt(rubric, a.task, '{{1}}', '{{2}}') + JSON.stringify(SCHEMA));
  const scripted = call.provider.simulated && call.provider.id === 'scripted';
  const runs: PairwiseRun[] = [];
  for (const first of orders) {
    const [one, two] = first === 'a' ? [a, b] : [b, a];
    if (scripted) {
      const s1 = scriptedJudge(rubric, one).value;
      const s2 = scriptedJudge(rubric, two).value;
      const pick: '1' | '2' | 'tie' = Math.abs(s1 - s2) < 0.02 ? 'tie' : s1 > s2 ? '1' : '2';
      runs.push({
        first,
        preferred: sideOf(pick, first),
        reason: `answer 1 ${s1.toFixed(2)}, answer 2 ${s2.toFixed(2)} (scripted judge)`,
      });
      continue;
    }
    const asked = await ask(call, prompt(rubric, a.task, one.answer, two.answer));
    if ('error' in asked)
      return {
        status: 'failed',
        winner: 'tie',
        consistent: false,
        shareA: 0.5,
        runs,
        model: call.modelRef,
        promptHash,
        error: asked.error,
      };
    runs.push({ first, preferred: sideOf(asked.winner, first), reason: asked.reason });
  }
  const shareA =
    runs.reduce((n, r) => n + (r.preferred === 'a' ? 1 : r.preferred === 'tie' ? 0.5 : 0), 0) / runs.length;
  return {
    status: 'ok',
    winner: shareA > 0.5 ? 'a' : shareA < 0.5 ? 'b' : 'tie',
    consistent: runs[0]!.preferred === runs[1]!.preferred,
    shareA,
    runs,
    model: scripted ? 'scripted/judge' : call.modelRef,
    promptHash,
  };
}

/** "1"/"2" as shown, back to the branch it was. */
function sideOf(pick: '1' | '2' | 'tie', first: 'a' | 'b'): Side {
  if (pick === 'tie') return 'tie';
  const second = first === 'a' ? 'b' : 'a';
  return pick === '1' ? first : second;
}

async function ask(
  call: JudgeCall,
  text: string,
): Promise<{ winner: '1' | '2' | 'tie'; reason: string } | { error: string }> {
  const messages: ChatMessage[] = [
    {
      role: 'system',
      content: 'You compare the work of AI agents. Reply with one JSON object only, as the schema says.',
    },
    { role: 'user', content: text },
  ];
  let problem = '';
  for (let attempt = 0; attempt <= call.retries; attempt++) {
    const request: ModelRequest = {
      model: call.modelName,
      messages,
      tools: [],
      temperature: call.temperature,
      seed: call.seed,
      responseFormat: { name: 'pairwise_verdict', schema: SCHEMA },
      estimatedInputTokens: messages.reduce((n, m) => n + estimateTokens(m.content ?? ''), 0),
    };
    let reply: string;
    try {
      const options = {
        signal: call.signal,
        attemptTimeoutMs: call.timeoutMs,
        ...(call.clock === undefined ? {} : { clock: call.clock }),
      };
      reply = (await call.provider.complete(request, options)).text;
    } catch (error) {
      return { error: `the judge model failed: ${messageOf(error)}` };
    }
    try {
      const parsed = replySchema.safeParse(
        JSON.parse(
          reply
            .trim()
            .replace(/^```(?:json)?\s*/i, '')
            .replace(/\s*```$/, ''),
        ),
      );
      if (parsed.success) return parsed.data;
      problem = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    } catch {
      problem = 'not JSON';
    }
    messages.push(
      { role: 'assistant', content: reply },
      { role: 'user', content: `That reply cannot be used: ${problem}. Reply again with the JSON object only.` },
    );
  }
  return { error: `the judge's output was invalid ${call.retries + 1} times: ${problem}` };
}
