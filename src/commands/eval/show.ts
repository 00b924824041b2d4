import { UserError, suggest } from '../../core/errors.ts';
import type { JsonObject } from '../../core/json.ts';
import type { TargetScore } from '../../judge/aggregate.ts';
import { defineCommand } from '../define.ts';
import { paint } from '../render/text.ts';
import { SESSION_ARG } from '../shared.ts';
import { EXIT } from '../types.ts';
import { printScores, scoreJson } from './scores.ts';
import { terminalText } from '../../core/terminal-text.ts';

export const evalShowCommand = defineCommand({
  path: ['eval', 'show'],
  summary: "A session's scores: per branch, target and evaluator (newest evaluation), with the judge and why",
  args: {
    session: SESSION_ARG,
  },
  options: {
    branch: { type: 'string', value: '<branch>', description: 'Only this branch' },
    metric: { type: 'string', value: '<metric>', description: 'Only this metric' },
    criteria: { type: 'boolean', description: 'Show each criterion’s score and reason' },
  },
  async run(ctx, input) {
    const [{ resolveBranch }, { latestTargetScores }] = await Promise.all([
      import('../../engine/branching.ts'),
      import('../../judge/aggregate.ts'),
    ]);
    const store = await ctx.store({ existing: true });
    const session = store.sessions.resolve(input.args.session);
    const branch =
      input.options.branch === undefined ? undefined : resolveBranch(store, session, input.options.branch).id;
    const metric = input.options.metric;
    const targets = latestTargetScores(
      store.scores.scores({
        session: session.id,
        ...(branch === undefined ? {} : { branch }),
        ...(metric === undefined ? {} : { metric }),
      }),
    );
    if (metric !== undefined && targets.length === 0) {
      // A metric the session was never scored on is a misspelling more often than a filter that matched nothing.
      const known = [...new Set(store.scores.scores({ session: session.id }).map((sc) => sc.metric))];
      if (known.length > 0) {
        const near = suggest(metric, known);
        throw new UserError('E_UNKNOWN_METRIC', `no scores for metric '${metric}' in session ${session.id}`, {
          hint: `${near === undefined ? '' : `Did you mean ${near}? `}Metrics scored: ${known.join(', ')}.`,
        });
      }
    }
    const open = store.scores.openJobs(session.id);
    const failed = store.scores.jobs({ session: session.id, status: 'failed' });
    if (ctx.output.json) {
      return {
        exitCode: EXIT.ok,
        json: {
          session: session.id,
          scores: targets.map((t) => scoreJson(store, t)),
          openJobs: open,
          failedJobs: failed.map((j) => ({ id: j.id, evaluator: j.evaluator, error: j.error })),
        } as JsonObject,
      };
    }
    if (targets.length === 0)
      ctx.output.line(
        `session ${session.id} has no scores yet${open > 0 ? '' : ' (run: p2tui eval run ' + session.id + ')'}`,
      );
    const byBranch = new Map<string, TargetScore[]>();
    for (const t of targets) byBranch.set(t.branch, [...(byBranch.get(t.branch) ?? []), t]);
    for (const [b, list] of byBranch) {
      const row = store.sessions.branch(b);
      ctx.output.line(
        paint(
          ctx.output.color,
          'bold',
          `branch ${b}${row?.label === null || row === undefined ? '' : ` (${row.label})`}${b === session.headBranch ? ' *' : ''}`,
        ),
      );
      printScores(ctx, store, list, input.options.criteria);
      ctx.output.line();
    }
    if (open > 0)
      ctx.output.line(
        paint(
          ctx.output.color,
          'yellow',
          `${open} evaluation${open === 1 ? '' : 's'} still pending (p2tui eval run ${session.id} finishes them)`,
        ),
      );
    for (const j of failed) ctx.output.warn(`job ${j.id} (${j.evaluator}) failed: ${terminalText(j.error ?? '')}`);
    return { exitCode: EXIT.ok };
  },
});
