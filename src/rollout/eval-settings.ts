import type { JsonValue } from '../core/json.ts';
import type { RolloutRow } from '../store/rollouts.ts';

/** A team's `eval:` as a rollout recorded it: what `rollout show` and `rollout export` say about its judge. */
// A type, not an interface: it goes into JSON output as it is.
export type EvalSettings = {
  readonly team: string;
  readonly evaluator_id: string;
  readonly metric: string;
  /** P2Engine's judge version label; also in every score's evaluator version (`… judge_version=<it>`). */
  readonly judge_version: string | null;
  /** How long one judge call may take before that score fails. */
  readonly timeout_sec: number | null;
};

/** The eval settings of every team of a rollout, from the spec it recorded when it started. */
export function evalSettings(rollout: RolloutRow): EvalSettings[] {
  const teams = (rollout.spec as { teams?: Record<string, { eval?: Record<string, JsonValue> }> }).teams ?? {};
  return Object.entries(teams).flatMap(([team, t]) => {
    const e = t.eval;
    if (e === undefined) return [];
    return [
      {
        team,
        evaluator_id: String(e['evaluator_id']),
        metric: String(e['metric'] ?? 'score'),
        judge_version: e['judge_version'] === undefined ? null : String(e['judge_version']),
        timeout_sec: typeof e['timeout_sec'] === 'number' ? e['timeout_sec'] : null,
      },
    ];
  });
}

/** One line per team with a judge version or a time limit: `eval weather_team.score: judge_version 0.4, timeout 900 s`. */
export function describeEvals(settings: readonly EvalSettings[]): string[] {
  return settings.flatMap((e) => {
    const parts = [
      ...(e.judge_version === null ? [] : [`judge_version ${e.judge_version}`]),
      ...(e.timeout_sec === null ? [] : [`timeout ${e.timeout_sec} s`]),
    ];
    return parts.length === 0 ? [] : [`eval ${e.team}.${e.metric} (${e.evaluator_id}): ${parts.join(', ')}`];
  });
}
