import type { ProviderRegistry } from '../models/registry.ts';
import type { Store } from '../store/store.ts';
import { judgePromptHash } from './llm-judge.ts';
import type { Material } from './material.ts';
import type { Evaluation, Evaluator, EvaluatorRegistry } from './registry.ts';

/** The replay a session runs (`--replay-from`), as its options record it. */
export interface ReplayOf {
  readonly from: string;
  readonly onMiss: 'fail' | 'live';
}

/**
 * The judge's verdict in a replay, without asking a model: the recorded session's verdict on the same material
 * (same rubric, transcript and answer: the same prompt hash), by the same judge model and for the same sample. When
 * there is none, `--on-miss fail` skips the evaluation and says why (a replay makes no network request), and
 * `--on-miss live` gets undefined: the judge is asked, as the agents' models are on a miss.
 *
 * Only model-judged evaluators are replayed: assertions and the offline scripted judge make no request, and custom
 * evaluators are the workspace's own code.
 */
export function replayedVerdict(
  store: Store,
  evaluators: EvaluatorRegistry,
  providers: ProviderRegistry,
  target: {
    readonly evaluator: Evaluator;
    readonly material: Material;
    readonly sample: number;
    readonly session: string;
  },
  replay: ReplayOf,
): Evaluation | undefined {
  const { evaluator, material, sample } = target;
  if (evaluator.kind !== 'llm' || evaluator.rubric === undefined) return undefined;
  const model = evaluators.modelOf(evaluator);
  let simulated: boolean;
  try {
    simulated = providers.resolve(model).provider.simulated;
  } catch {
    // An unknown provider: the evaluation fails with that message, and asks nothing.
    return undefined;
  }
  if (simulated) return undefined;
  const promptHash = judgePromptHash(evaluator.rubric, material);
  const recorded = store.scores
    .scores({ session: replay.from, evaluator: evaluator.id })
    .findLast((s) => s.promptHash === promptHash && s.model === model && s.sample === sample);
  if (recorded !== undefined) {
    return {
      status: recorded.status,
      value: recorded.value,
      criteria: recorded.criteria,
      reasoning: `${recorded.reasoning} (replayed from ${replay.from})`,
      model: recorded.model,
      promptHash,
    };
  }
  if (replay.onMiss === 'live') return undefined;
  return {
    status: 'failed',
    value: null,
    criteria: [],
    reasoning:
      `not judged: this session replays ${replay.from} with --on-miss fail, and its recording has no verdict of ` +
      `${evaluator.id} by ${model} on this material (sample ${sample + 1}); a replay asks no judge model. ` +
      `Judge it live with: p2tui eval run ${target.session} --evaluator ${evaluator.id}`,
    // No model was asked: how `run` and `eval show` tell a skipped evaluation from a failed judge.
    model: null,
    promptHash,
  };
}
