import { meanText, type JunitCase, type JunitSuite } from '../../core/junit.ts';
import { summarize } from '../../rollout/stats.ts';

/**
 * `eval run --junit`: one suite (`eval.<session>`), a test case per target × evaluator (class `eval.<evaluator>`),
 * failed when its judge failed; each gate one more case, `gate <metric> >= <value>`, failed with the mean over the
 * targets and its 95% interval when the mean is under the bar (or there is no score).
 */

interface Planned {
  readonly evaluator: { readonly id: string };
  readonly targets: readonly { readonly kind: string; readonly id: string }[];
}

interface Judged {
  readonly targetKind: string;
  readonly targetId: string;
  readonly evaluator: string;
  readonly metric: string;
  readonly mean: number | null;
  readonly samples: number;
  readonly failed: number;
}

interface FailedJob {
  readonly evaluator: string;
  readonly targetKind: string;
  readonly targetId: string;
  readonly error: string | null;
}

interface GateResult {
  readonly metric: string;
  readonly min: number;
  readonly passed: boolean;
}

export function evalSuite(run: {
  readonly session: string;
  readonly branch: string;
  readonly startedAt: number;
  readonly plan: readonly Planned[];
  readonly judged: readonly Judged[];
  readonly failedJobs: readonly FailedJob[];
  readonly gates: readonly GateResult[];
}): JunitSuite {
  const cases: JunitCase[] = run.plan.flatMap(({ evaluator, targets }) => {
    const classname = `eval.${evaluator.id}`;
    // Nothing in its scope on this branch: no score, which is neither a pass nor the judge's failure.
    if (targets.length === 0)
      return [{ name: `branch ${run.branch}`, classname, seconds: 0, skipped: 'nothing in scope' }];
    return targets.map((t): JunitCase => {
      const name = `${t.kind} ${t.id}`;
      const scores = run.judged.filter(
        (j) => j.evaluator === evaluator.id && j.targetKind === t.kind && j.targetId === t.id,
      );
      const job = run.failedJobs.find(
        (j) => j.evaluator === evaluator.id && j.targetKind === t.kind && j.targetId === t.id,
      );
      const scored = scores.filter((s) => s.mean !== null);
      if (job === undefined && scored.length > 0) return { name, classname, seconds: 0 };
      const error = job?.error ?? 'the judge gave no score';
      const message = `${evaluator.id} on ${name}: ${error.split('\n')[0]!}`;
      return {
        name,
        classname,
        seconds: 0,
        failure: { message, type: 'judge failed', text: `${evaluator.id} on ${name}: ${error}` },
      };
    });
  });
  for (const g of run.gates) {
    const values = run.judged.filter((j) => j.metric === g.metric && j.mean !== null).map((j) => j.mean!);
    const s = summarize(values);
    const base = { name: `gate ${g.metric} >= ${g.min}`, classname: `eval.${g.metric}`, seconds: 0 };
    if (g.passed) {
      cases.push(base);
      continue;
    }
    const measured = s.mean === null ? `no ${g.metric} score` : meanText({ mean: s.mean, ci: s.ci, n: s.n });
    const message = `${measured}, under ${g.metric} >= ${g.min}`;
    cases.push({ ...base, failure: { message, type: 'gate', text: message } });
  }
  return {
    name: `eval.${run.session}`,
    pkg: `eval.${run.session}`,
    startedAt: run.startedAt,
    properties: { session: run.session, branch: run.branch },
    cases,
  };
}
