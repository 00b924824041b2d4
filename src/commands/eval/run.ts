import { UserError } from '../../core/errors.ts';
import type { JsonObject } from '../../core/json.ts';
import type { EvaluatorConfig } from '../../judge/config.ts';
import type { EvaluatorRegistry } from '../../judge/registry.ts';
import type { ScoreRow } from '../../store/scores.ts';
import { defineCommand } from '../define.ts';
import { paint } from '../render/text.ts';
import { SESSION_ARG } from '../shared.ts';
import { EXIT } from '../types.ts';
import { printScores, scoreJson } from './scores.ts';
import { terminalText } from '../../core/terminal-text.ts';
import { JUNIT_OPTION, checkJunitPath, writeJunit } from '../junit-file.ts';
import { evalSuite } from './junit.ts';

/** What an evaluator found none of on a branch (then it gives no score, rather than 0). */
function nothingInScope(c: EvaluatorConfig): string {
  if (c.on === 'artifact') return `no artifact${c.artifact_kind === undefined ? '' : ` of kind ${c.artifact_kind}`}`;
  if (c.on === 'milestone') return `no milestone${c.milestone === undefined ? '' : ` ${c.milestone}`}`;
  return `no conversation of ${(c.agents ?? []).join(', ')}`;
}

/** A gate of `--fail-under metric=value`. */
interface Gate {
  readonly metric: string;
  readonly min: number;
}

function gatesOf(list: readonly string[], evaluators: EvaluatorRegistry): Gate[] {
  return list.map((text) => {
    const m = /^([A-Za-z][A-Za-z0-9_-]*)=(-?[0-9]*\.?[0-9]+)$/.exec(text.trim());
    if (m === null)
      throw new UserError('E_USAGE', `--fail-under '${text}' is not of the form <metric>=<value>`, {
        hint: 'For example --fail-under quality=0.7',
      });
    if (evaluators.get(m[1]!) === undefined) evaluators.require(m[1]!);
    return { metric: m[1]!, min: Number(m[2]) };
  });
}

export const evalRunCommand = defineCommand({
  path: ['eval', 'run'],
  summary: "Evaluate a session's branch now (every evaluator, or --evaluator), and finish its pending judge jobs",
  details:
    "Scores the root conversation of the checked-out branch (or --branch; --conversations: every conversation) with the workspace's evaluators " +
    '(as when they run by themselves: agents: scores each conversation of those agents, on: milestone|artifact the steps or ' +
    'artifacts it names; nothing in scope is no score, not 0), ' +
    'k times with --samples (mean and spread are shown). Jobs other processes left unfinished for this session are completed too. ' +
    "--fail-under quality=0.7 exits 1 when that metric's mean is below the bar (or its judge failed): a CI gate.",
  args: {
    session: SESSION_ARG,
  },
  options: {
    branch: {
      type: 'string',
      value: '<branch>',
      description: 'Branch id, prefix or label (default: the checked-out one)',
    },
    evaluator: {
      type: 'string',
      value: '<id>',
      description: 'Only this evaluator (repeatable)',
      multiple: true,
    },
    samples: {
      type: 'number',
      integer: true,
      min: 1,
      max: 20,
      value: '<k>',
      description: 'Runs of the judge per target (mean and spread reported)',
    },
    conversations: {
      type: 'boolean',
      description: 'Score every conversation of the branch, delegated ones included',
    },
    'fail-under': {
      type: 'string',
      value: '<metric>=<value>',
      description: 'Exit 1 when a metric is below the value (repeatable)',
      multiple: true,
    },
    criteria: { type: 'boolean', description: 'Show each criterion’s score and reason' },
    junit: JUNIT_OPTION,
  },
  examples: [
    'p2tui eval run last',
    'p2tui eval run last --samples 3 --fail-under quality=0.7',
    'p2tui eval run s_1a2b --branch hot --evaluator quality',
  ],
  async run(ctx, input) {
    const junit = input.options.junit;
    if (junit !== undefined) checkJunitPath(junit);
    // Loaded here, not at start-up: the judge and the engine pull in the database and the model clients.
    const [{ resolveBranch }, { queueEvaluation }, { latestTargetScores, meanAndSd }, scope] = await Promise.all([
      import('../../engine/branching.ts'),
      import('../../judge/jobs.ts'),
      import('../../judge/aggregate.ts'),
      import('../../judge/scope.ts'),
    ]);
    const { branchConversations, evaluatorTargets } = scope;
    const app = await ctx.app();
    const { engine } = app;
    const store = engine.store;
    const registry = app.workspace.evaluators;
    const session = store.sessions.resolve(input.args.session);
    const branch =
      input.options.branch === undefined
        ? store.sessions.branch(session.headBranch)!
        : resolveBranch(store, session, input.options.branch);
    const gates = gatesOf(input.options['fail-under'], registry);
    const wanted = input.options.evaluator;
    const evaluators = wanted.length === 0 ? registry.list() : wanted.map((id) => registry.require(id));
    for (const g of gates) {
      if (!evaluators.some((e) => e.id === g.metric)) {
        throw new UserError(
          'E_USAGE',
          `--fail-under ${g.metric}=… names an evaluator this run does not use (--evaluator ${evaluators.map((e) => e.id).join(', ')})`,
          { hint: `Add --evaluator ${g.metric}, or drop that gate.` },
        );
      }
    }
    if (evaluators.length === 0)
      throw new UserError('E_UNKNOWN_EVALUATOR', 'this workspace has no evaluators', {
        hint: 'Add some under judge.evaluators in p2tui.yaml (README, section The judge).',
      });
    const samples = input.options.samples;
    // What each evaluator judges: the rule of its own trigger (src/judge/scope.ts) — the conversations of its
    // `agents:`, the artifacts or milestones it waits for, else the branch (--conversations: every conversation).
    const onBranch = branchConversations(store, session.id, branch.id);
    const plan = evaluators.map((e) => ({
      evaluator: e,
      targets: evaluatorTargets(store, e.config, {
        session: session.id,
        branch: branch.id,
        conversations: onBranch,
        everyConversation: input.options.conversations,
      }),
    }));
    // Nothing in its scope on this branch (no conversation of a listed agent, no such artifact): no score, not 0.
    const unscored = plan.filter((p) => p.targets.length === 0).map((p) => p.evaluator);
    const jobIds: string[] = [];
    const now = ctx.clock.now();
    store.write(() => {
      for (const { evaluator: e, targets } of plan) {
        for (const target of targets) {
          jobIds.push(
            queueEvaluation(store, {
              session: session.id,
              branch: branch.id,
              targetKind: target.kind,
              targetId: target.id,
              trigger: 'demand',
              evaluator: e,
              ...(samples === undefined ? {} : { samples }),
              uptoSeq: null,
              now,
            }),
          );
        }
      }
    });
    if (!ctx.output.json) {
      const conversations = new Set(
        plan.flatMap((p) => p.targets.filter((t) => t.kind === 'conversation').map((t) => t.id)),
      );
      const what = conversations.size === 0 ? 'branch' : `${conversations.size} conversations of branch`;
      const judges = evaluators.map((e) => e.id).join(', ');
      ctx.output.line(paint(ctx.output.color, 'dim', `judging ${what} ${branch.label ?? branch.id} with ${judges}…`));
    }
    await app.judge.drain(session.id, ctx.signal);
    const scores: ScoreRow[] = store.scores.scoresOfJobs(jobIds);
    const judged = latestTargetScores(scores);
    const mine = new Set(jobIds);
    const failedJobs = store.scores.jobs({ session: session.id, status: 'failed' }).filter((j) => mine.has(j.id));
    const gateResults = gates.map((g) => {
      const values = judged.filter((t) => t.metric === g.metric);
      const ok = values.filter((t) => t.mean !== null).map((t) => t.mean!);
      const mean = ok.length === 0 ? null : meanAndSd(ok).mean;
      const passed = mean !== null && ok.length === values.length && mean >= g.min;
      // A gate on an evaluator with nothing in its scope fails: no score is not a pass.
      return { metric: g.metric, min: g.min, value: mean, passed };
    });
    const exitCode = failedJobs.length > 0 || gateResults.some((g) => !g.passed) ? EXIT.failed : EXIT.ok;
    // Written whatever the exit code: a failed gate is when CI needs the report most.
    if (junit !== undefined)
      writeJunit(junit, [
        evalSuite({
          session: session.id,
          branch: branch.id,
          startedAt: now,
          plan,
          judged,
          failedJobs,
          gates: gateResults,
        }),
      ]);
    if (ctx.output.json) {
      return {
        exitCode,
        json: {
          session: session.id,
          branch: branch.id,
          scores: judged.map((t) => scoreJson(store, t)),
          gates: gateResults,
          unscored: unscored.map((e) => ({ evaluator: e.id, agents: [...(e.config.agents ?? [])] })),
          failedJobs: failedJobs.map((j) => ({ id: j.id, evaluator: j.evaluator, error: j.error })),
        } as JsonObject,
      };
    }
    printScores(ctx, store, judged, input.options.criteria);
    for (const j of failedJobs)
      ctx.output.warn(`evaluator ${j.evaluator} could not run: ${terminalText(j.error ?? 'unknown error')}`);
    for (const e of unscored) ctx.output.line(`${e.id}: no score (${nothingInScope(e.config)} on this branch)`);
    for (const g of gateResults) {
      const why = unscored.some((e) => e.id === g.metric)
        ? 'has no score (no conversation in its scope)'
        : 'has no score (the judge failed)';
      const text = `${g.metric} ${g.value === null ? why : g.value.toFixed(3)} ${g.passed ? '≥' : '<'} ${g.min}`;
      ctx.output.line(paint(ctx.output.color, g.passed ? 'green' : 'red', `${g.passed ? 'pass' : 'FAIL'}  ${text}`));
    }
    return { exitCode };
  },
});
