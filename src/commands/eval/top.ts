import { UserError, suggest } from '../../core/errors.ts';
import type { JsonValue } from '../../core/json.ts';
import type { EvaluatorConfig } from '../../judge/config.ts';
import { defineCommand } from '../define.ts';
import { table } from '../render/text.ts';
import { SESSION_ARG } from '../shared.ts';
import { EXIT } from '../types.ts';

export const evalTopCommand = defineCommand({
  path: ['eval', 'top'],
  summary: "A session's branches ranked by score (a metric's mean, or the weighted overall of every metric)",
  args: {
    session: SESSION_ARG,
  },
  options: {
    metric: {
      type: 'string',
      value: '<metric>',
      description: 'Rank by this metric (default: weighted overall)',
    },
  },
  async run(ctx, input) {
    const [{ branchScores, latestTargetScores, rankBranches }, { inScopeTargets }] = await Promise.all([
      import('../../judge/aggregate.ts'),
      import('../../judge/scope.ts'),
    ]);
    const store = await ctx.store({ existing: true });
    const session = store.sessions.resolve(input.args.session);
    const metric = input.options.metric;
    let weights = new Map<string, number>();
    let configs = new Map<string, EvaluatorConfig>();
    try {
      const evaluators = (await ctx.workspace()).evaluators.list();
      weights = new Map(evaluators.map((e) => [e.id, e.config.weight]));
      configs = new Map(evaluators.map((e) => [e.id, e.config]));
    } catch {
      // Read-only ranking works without a loadable workspace (every metric weighs 1, scopes unknown).
    }
    // Only what each evaluator's scope covers: a score of the lead by an evaluator of `agents: [writer]` (recorded
    // before scoping was honoured everywhere) must not pull the writer's figure.
    const targets = inScopeTargets(store, latestTargetScores(store.scores.scores({ session: session.id })), (id) =>
      configs.get(id),
    );
    const summaries = branchScores(targets, (m) => weights.get(m) ?? 1);
    // The whole session: every branch's targets together.
    const overall = branchScores(
      targets.map((t) => ({ ...t, branch: session.id })),
      (m) => weights.get(m) ?? 1,
    )[0];
    const ranked = rankBranches(summaries, metric);
    if (metric !== undefined && !summaries.some((b) => b.metrics.has(metric))) {
      const known = [...new Set(summaries.flatMap((b) => [...b.metrics.keys()]))];
      const near = suggest(metric, known);
      throw new UserError('E_UNKNOWN_METRIC', `no scores for metric '${metric}' in session ${session.id}`, {
        hint:
          known.length === 0
            ? `Score it first: p2tui eval run ${session.id}`
            : `${near === undefined ? '' : `Did you mean ${near}? `}Metrics scored: ${known.join(', ')}.`,
      });
    }
    const json = ranked.map((r, i) => {
      const b = summaries.find((s) => s.branch === r.branch)!;
      return {
        rank: i + 1,
        branch: r.branch,
        label: store.sessions.branch(r.branch)?.label ?? null,
        value: r.value,
        metrics: Object.fromEntries([...b.metrics].map(([k, v]) => [k, { mean: v.mean, min: v.min, n: v.n }])),
      };
    });
    const sessionJson =
      overall === undefined
        ? null
        : {
            weighted: overall.weighted,
            metrics: Object.fromEntries(
              [...overall.metrics].map(([k, v]) => [k, { mean: v.mean, min: v.min, n: v.n }]),
            ),
          };
    if (ctx.output.json)
      return { exitCode: EXIT.ok, json: { session: session.id, branches: json, overall: sessionJson } as JsonValue };
    if (ranked.length === 0) {
      ctx.output.line(`session ${session.id} has no scores yet (run: p2tui eval run ${session.id})`);
      return { exitCode: EXIT.ok };
    }
    // The metric ranked by is the ranking column (its mean, with its min): not a second column of its own.
    const metrics = [...new Set(summaries.flatMap((b) => [...b.metrics.keys()]))].filter((m) => m !== metric).sort();
    const ranking = (value: number | null, min: number | undefined): string =>
      value === null
        ? '–'
        : `${value.toFixed(3)}${metric === undefined || min === undefined ? '' : ` (min ${min.toFixed(2)})`}`;
    const rows = json.map((r) => [
      String(r.rank),
      `${r.branch}${r.label === null ? '' : ` (${r.label})`}${r.branch === session.headBranch ? ' *' : ''}`,
      ranking(r.value, metric === undefined ? undefined : r.metrics[metric]?.min),
      ...metrics.map((m) =>
        r.metrics[m] === undefined ? '–' : `${r.metrics[m].mean.toFixed(2)} (min ${r.metrics[m].min.toFixed(2)})`,
      ),
    ]);
    if (overall !== undefined) {
      const value = metric === undefined ? overall.weighted : (overall.metrics.get(metric)?.mean ?? null);
      rows.push([
        '',
        'whole session',
        ranking(value, metric === undefined ? undefined : overall.metrics.get(metric)?.min),
        ...metrics.map((m) =>
          overall.metrics.get(m) === undefined
            ? '–'
            : `${overall.metrics.get(m)!.mean.toFixed(2)} (min ${overall.metrics.get(m)!.min.toFixed(2)})`,
        ),
      ]);
    }
    for (const line of table(rows, ['#', 'branch', metric ?? 'weighted', ...metrics], ctx.output.color))
      ctx.output.line(line);
    return { exitCode: EXIT.ok };
  },
});
