import type { ScoreRow, TargetKind } from '../store/scores.ts';

/** One evaluator's verdict on one target: the samples of its newest job, with their mean and spread. */
export interface TargetScore {
  readonly branch: string;
  readonly targetKind: TargetKind;
  readonly targetId: string;
  readonly evaluator: string;
  readonly metric: string;
  /** Mean of the samples that succeeded; null when every sample was a judge failure. */
  readonly mean: number | null;
  /** Sample standard deviation (0 for one sample). */
  readonly sd: number;
  readonly samples: number;
  readonly failed: number;
  readonly model: string | null;
  readonly evaluatorVersion: string;
  readonly scores: readonly ScoreRow[];
}

/**
 * Whether a replay skipped this evaluation (src/judge/replayed.ts): model-judged, yet no model was asked, because
 * the recording had no verdict on this material.
 */
export function skippedInReplay(t: TargetScore): boolean {
  return t.mean === null && t.scores.length > 0 && t.scores.every((s) => s.evaluatorKind === 'llm' && s.model === null);
}

export function meanAndSd(values: readonly number[]): { mean: number; sd: number } {
  if (values.length === 0) return { mean: 0, sd: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (values.length === 1) return { mean, sd: 0 };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, sd: Math.sqrt(variance) };
}

/** Groups scores by branch, target and evaluator; a target evaluated again counts with its newest job only. */
export function latestTargetScores(scores: readonly ScoreRow[]): TargetScore[] {
  const groups = new Map<string, ScoreRow[]>();
  for (const s of scores) {
    const key = `${s.branch}\n${s.targetKind}\n${s.targetId}\n${s.evaluator}`;
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [s]);
    else list.push(s);
  }
  return [...groups.values()].map((list) => {
    // Scores come in the order they were written: the last one belongs to the newest job.
    const newest = list[list.length - 1]!;
    const ofJob = list.filter((s) => s.job === newest.job);
    const ok = ofJob.filter((s) => s.status === 'ok' && s.value !== null).map((s) => s.value!);
    const { mean, sd } = meanAndSd(ok);
    return {
      branch: newest.branch,
      targetKind: newest.targetKind,
      targetId: newest.targetId,
      evaluator: newest.evaluator,
      metric: newest.metric,
      mean: ok.length === 0 ? null : mean,
      sd,
      samples: ofJob.length,
      failed: ofJob.length - ok.length,
      model: newest.model,
      evaluatorVersion: newest.evaluatorVersion,
      scores: ofJob,
    };
  });
}

/**
 * The mean of the targets' means per key (e.g. per metric): a branch's figure for an evaluator scoring several
 * conversations. A key whose targets all lack a value is null (a judge failure is no score, never 0).
 */
export function meansByKey(
  targets: readonly TargetScore[],
  keyOf: (t: TargetScore) => string,
): Map<string, number | null> {
  const values = new Map<string, number[]>();
  for (const t of targets) {
    const list = values.get(keyOf(t)) ?? [];
    values.set(keyOf(t), list);
    if (t.mean !== null) list.push(t.mean);
  }
  return new Map([...values].map(([key, list]) => [key, list.length === 0 ? null : meanAndSd(list).mean]));
}

export interface MetricSummary {
  readonly mean: number;
  readonly min: number;
  /** Targets with a value. */
  readonly n: number;
}

export interface BranchScores {
  readonly branch: string;
  readonly metrics: ReadonlyMap<string, MetricSummary>;
  /** The metrics' means weighted by their evaluators' weights (null with no metric). */
  readonly weighted: number | null;
}

/** Per branch: each metric's mean and minimum over the targets judged, and a weighted overall. */
export function branchScores(
  targets: readonly TargetScore[],
  weightOf: (metric: string) => number = () => 1,
): BranchScores[] {
  const byBranch = new Map<string, Map<string, number[]>>();
  for (const t of targets) {
    if (t.mean === null) continue;
    const metrics = byBranch.get(t.branch) ?? new Map<string, number[]>();
    byBranch.set(t.branch, metrics);
    metrics.set(t.metric, [...(metrics.get(t.metric) ?? []), t.mean]);
  }
  return [...byBranch].map(([branch, metrics]) => {
    const summary = new Map<string, MetricSummary>();
    for (const [metric, values] of metrics)
      summary.set(metric, { mean: meanAndSd(values).mean, min: Math.min(...values), n: values.length });
    let total = 0;
    let weights = 0;
    for (const [metric, m] of summary) {
      total += m.mean * weightOf(metric);
      weights += weightOf(metric);
    }
    return { branch, metrics: summary, weighted: weights === 0 ? null : total / weights };
  });
}

/** Branches best first by one metric's mean (default: the weighted overall); branches without it go last. */
export function rankBranches(
  scores: readonly BranchScores[],
  metric?: string,
): { branch: string; value: number | null }[] {
  return scores
    .map((b) => ({
      branch: b.branch,
      value: metric === undefined ? b.weighted : (b.metrics.get(metric)?.mean ?? null),
    }))
    .sort((a, b) => (b.value ?? -1) - (a.value ?? -1));
}

/** Each branch's weighted overall score from its newest evaluations (branches never scored are absent). */
export function scoreByBranch(
  scores: readonly ScoreRow[],
  weightOf: (metric: string) => number = () => 1,
  /** Keeps the targets each evaluator's scope covers (src/judge/scope.ts inScopeTargets). */
  scope: (targets: TargetScore[]) => TargetScore[] = (t) => t,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const b of branchScores(scope(latestTargetScores(scores)), weightOf))
    if (b.weighted !== null) out.set(b.branch, b.weighted);
  return out;
}
