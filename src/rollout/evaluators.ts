import type { EvaluatorConfig } from '../judge/config.ts';
import type { Evaluator, EvaluatorRegistry } from '../judge/registry.ts';
import { isRubricId, type RolloutSpec } from './spec.ts';

/** The evaluators a team's cells are judged by, each with the metric its score is reported as. */
export type TeamEvaluators = Map<string, { evaluator: Evaluator; metric: string }[]>;

/**
 * The spec's evaluators, registered in the workspace's registry: `judge.evaluators` (shared by every team) and each
 * team's `eval` (as `<team>.<metric>`), judged on demand when a cell finishes.
 */
export function buildEvaluators(registry: EvaluatorRegistry, spec: RolloutSpec): TeamEvaluators {
  const shared = registry
    .register(
      spec.raw.judge.evaluators.map((e) => ({
        ...e,
        ...(spec.raw.judge.samples === undefined ? {} : { samples: spec.raw.judge.samples }),
      })),
      spec.file,
    )
    .map((evaluator) => ({ evaluator, metric: evaluator.id }));
  const out = new Map<string, { evaluator: Evaluator; metric: string }[]>();
  for (const team of spec.teams) {
    const list = [...shared];
    if (team.eval !== undefined) {
      const text =
        team.eval.rubric ?? 'The answer completes the task it was given: correct, complete and clearly stated.';
      const config: EvaluatorConfig = {
        // Per spec version: another spec (or an edited one) with the same team and metric is another evaluator.
        id: `${team.id}.${team.eval.metric}@${spec.hash.slice(0, 6)}`,
        kind: 'llm',
        // `gpt4_judge` (P2Engine's judge) is the rubric judge on whatever judge model is configured.
        // Inline text is parsed by the spec: P2Engine-style weights ("accuracy (0.5)") are criteria of their own.
        rubric: isRubricId(text)
          ? text
          : {
              description: team.inlineRubric?.description ?? text,
              criteria: [...(team.inlineRubric?.criteria ?? [{ id: 'overall', description: text, weight: 1 }])],
            },
        on: 'demand',
        samples: spec.raw.judge.samples ?? 1,
        weight: 1,
        // P2Engine waited timeout_sec for the evaluation; here it bounds each judge call of this eval.
        ...(team.eval.timeout_sec === undefined
          ? {}
          : { timeout_ms: Math.max(100, Math.round(team.eval.timeout_sec * 1000)) }),
        ...(team.eval.judge_version === undefined ? {} : { judge_version: team.eval.judge_version }),
      };
      list.push(
        ...registry.register([config], spec.file).map((evaluator) => ({ evaluator, metric: team.eval!.metric })),
      );
    }
    out.set(team.id, list);
  }
  return out;
}
