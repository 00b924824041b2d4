import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError, ValidationError, formatIssue, messageOf, type ValidationIssue } from '../../core/errors.ts';
import type { JsonObject, JsonValue } from '../../core/json.ts';
import { resolveBranch } from '../../engine/branching.ts';
import { queueEvaluation } from '../../judge/jobs.ts';
import { branchScores, latestTargetScores, meanAndSd, rankBranches, type TargetScore } from '../../judge/aggregate.ts';
import { lintRubric, parseRubricFile, type Rubric } from '../../judge/rubric.ts';
import { materialFor } from '../../judge/material.ts';
import { pairwiseJudge } from '../../judge/pairwise.ts';
import type { EvaluatorRegistry } from '../../judge/registry.ts';
import type { ScoreRow } from '../../store/scores.ts';
import type { Store } from '../../store/store.ts';
import { paint, table, truncate } from '../render/text.ts';
import { EXIT, type Command, type CommandContext, type CommandInput } from '../types.ts';

/** A gate of `--fail-under metric=value`. */
interface Gate {
  readonly metric: string;
  readonly min: number;
}

function gatesOf(input: CommandInput, evaluators: EvaluatorRegistry): Gate[] {
  const raw = input.options['fail-under'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? (raw as string[]) : [String(raw)];
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

/** `0.82`, `0.82 ± 0.05 (n=3)`, or `judge failed`. */
function formatValue(t: TargetScore): string {
  if (t.mean === null) return 'judge failed';
  const base = t.mean.toFixed(2);
  return t.samples > 1
    ? `${base} ± ${t.sd.toFixed(2)} (n=${t.samples - t.failed}${t.failed > 0 ? `, ${t.failed} failed` : ''})`
    : base;
}

/** Who judged: the model, "scripted judge" for the offline one, "assertions"/"code" for the rest. */
function judgeLabel(t: TargetScore): string {
  if (t.model === 'scripted/judge') return 'scripted judge';
  return t.model ?? (t.scores[0]?.evaluatorVersion.startsWith('assert@') === true ? 'assertions' : 'code');
}

function targetLabel(store: Store, t: { targetKind: string; targetId: string }): string {
  if (t.targetKind === 'conversation') return store.sessions.conversation(t.targetId)?.path ?? t.targetId;
  if (t.targetKind === 'branch') return `branch ${t.targetId}`;
  return `${t.targetKind} ${t.targetId.slice(0, 12)}`;
}

function scoreJson(store: Store, t: TargetScore): JsonObject {
  return {
    branch: t.branch,
    target: { kind: t.targetKind, id: t.targetId, label: targetLabel(store, t) },
    evaluator: t.evaluator,
    metric: t.metric,
    value: t.mean,
    sd: t.sd,
    samples: t.samples,
    failed: t.failed,
    judge: judgeLabel(t),
    version: t.evaluatorVersion,
    scores: t.scores.map((s) => ({
      id: s.id,
      value: s.value,
      status: s.status,
      reasoning: s.reasoning,
      criteria: s.criteria.map((c) => ({
        id: c.id,
        score: c.score,
        reason: c.reason,
        ...(c.weight === undefined ? {} : { weight: c.weight }),
      })),
      model: s.model,
      promptHash: s.promptHash,
      sample: s.sample,
    })) as JsonValue,
  };
}

function printScores(ctx: CommandContext, store: Store, targets: readonly TargetScore[], criteria: boolean): void {
  const c = ctx.output.color;
  const rows = targets.map((t) => [
    targetLabel(store, t),
    t.evaluator,
    t.mean === null
      ? paint(c, 'red', formatValue(t))
      : paint(c, t.mean >= 0.7 ? 'green' : t.mean >= 0.4 ? 'yellow' : 'red', formatValue(t)),
    judgeLabel(t),
    truncate(t.scores.at(-1)?.reasoning ?? '', 70),
  ]);
  for (const line of table(rows, ['target', 'evaluator', 'score', 'judge', 'why'], c)) ctx.output.line(line);
  if (!criteria) return;
  for (const t of targets) {
    const last = t.scores.at(-1);
    if (last === undefined || last.criteria.length === 0) continue;
    ctx.output.line();
    ctx.output.line(
      paint(
        c,
        'bold',
        `${targetLabel(store, t)} · ${t.evaluator} (${t.evaluatorVersion}${last.promptHash === null ? '' : `, prompt ${last.promptHash.slice(0, 12)}`})`,
      ),
    );
    for (const cr of last.criteria) {
      ctx.output.line(
        `  ${cr.id.padEnd(18)} ${cr.score === null ? ' –  ' : cr.score.toFixed(2)}${cr.weight === undefined ? '' : ` ×${cr.weight}`}  ${cr.reason}`,
      );
    }
  }
}

const run: Command = {
  path: ['eval', 'run'],
  summary: "Evaluate a session's branch now (every evaluator, or --evaluator), and finish its pending judge jobs",
  details:
    "Scores the root conversation of the checked-out branch (or --branch; --conversations: every conversation) with the workspace's evaluators, " +
    'k times with --samples (mean and spread are shown). Jobs other processes left unfinished for this session are completed too. ' +
    "--fail-under quality=0.7 exits 1 when that metric's mean is below the bar (or its judge failed): a CI gate.",
  args: [{ name: 'session', description: 'Session id, unique prefix, or "last"', required: true }],
  options: [
    {
      name: 'branch',
      type: 'string',
      value: '<branch>',
      description: 'Branch id, prefix or label (default: the checked-out one)',
    },
    {
      name: 'evaluator',
      type: 'string',
      value: '<id>',
      description: 'Only this evaluator (repeatable)',
      multiple: true,
    },
    {
      name: 'samples',
      type: 'number',
      value: '<k>',
      description: 'Runs of the judge per target (mean and spread reported)',
    },
    {
      name: 'conversations',
      type: 'boolean',
      description: 'Score every conversation of the branch, delegated ones included',
    },
    {
      name: 'fail-under',
      type: 'string',
      value: '<metric>=<value>',
      description: 'Exit 1 when a metric is below the value (repeatable)',
      multiple: true,
    },
    { name: 'criteria', type: 'boolean', description: 'Show each criterion’s score and reason' },
  ],
  examples: [
    'p2tui eval run last',
    'p2tui eval run last --samples 3 --fail-under quality=0.7',
    'p2tui eval run s_1a2b --branch hot --evaluator quality',
  ],
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const store = engine.store;
    const registry = app.workspace.evaluators;
    const session = store.sessions.resolve(input.args['session']!);
    const branch =
      input.options['branch'] === undefined
        ? store.sessions.branch(session.headBranch)!
        : resolveBranch(store, session, String(input.options['branch']));
    const gates = gatesOf(input, registry);
    const wanted = input.options['evaluator'] as string[] | undefined;
    const evaluators =
      wanted === undefined || wanted.length === 0 ? registry.list() : wanted.map((id) => registry.require(id));
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
    const samples = input.options['samples'] === undefined ? undefined : Number(input.options['samples']);
    if (samples !== undefined && (!Number.isInteger(samples) || samples < 1 || samples > 20))
      throw new UserError('E_USAGE', '--samples must be a whole number from 1 to 20');
    const conversations =
      input.options['conversations'] === true
        ? [
            ...new Set(
              store.log.visibleEntries(session.id, store.sessions.segments(branch.id)).map((e) => e.conversation),
            ),
          ]
        : [];
    const targets =
      conversations.length > 0
        ? conversations.map((id) => ({ kind: 'conversation' as const, id }))
        : [{ kind: 'branch' as const, id: branch.id }];
    const jobIds: string[] = [];
    const now = ctx.clock.now();
    store.write(() => {
      for (const target of targets) {
        for (const e of evaluators) {
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
    if (!ctx.output.json)
      ctx.output.line(
        paint(
          ctx.output.color,
          'dim',
          `judging ${targets.length === 1 ? 'branch' : `${targets.length} conversations of branch`} ${branch.label ?? branch.id} with ${evaluators.map((e) => e.id).join(', ')}…`,
        ),
      );
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
      return { metric: g.metric, min: g.min, value: mean, passed };
    });
    const exitCode = failedJobs.length > 0 || gateResults.some((g) => !g.passed) ? EXIT.failed : EXIT.ok;
    if (ctx.output.json) {
      return {
        exitCode,
        json: {
          session: session.id,
          branch: branch.id,
          scores: judged.map((t) => scoreJson(store, t)),
          gates: gateResults,
          failedJobs: failedJobs.map((j) => ({ id: j.id, evaluator: j.evaluator, error: j.error })),
        } as JsonObject,
      };
    }
    printScores(ctx, store, judged, input.options['criteria'] === true);
    for (const j of failedJobs)
      ctx.output.warn(`evaluator ${j.evaluator} could not run: ${j.error ?? 'unknown error'}`);
    for (const g of gateResults) {
      const text = `${g.metric} ${g.value === null ? 'has no score (the judge failed)' : g.value.toFixed(3)} ${g.passed ? '≥' : '<'} ${g.min}`;
      ctx.output.line(paint(ctx.output.color, g.passed ? 'green' : 'red', `${g.passed ? 'pass' : 'FAIL'}  ${text}`));
    }
    return { exitCode };
  },
};

const show: Command = {
  path: ['eval', 'show'],
  summary: "A session's scores: per branch, target and evaluator (newest evaluation), with the judge and why",
  args: [{ name: 'session', description: 'Session id, unique prefix, or "last"', required: true }],
  options: [
    { name: 'branch', type: 'string', value: '<branch>', description: 'Only this branch' },
    { name: 'metric', type: 'string', value: '<metric>', description: 'Only this metric' },
    { name: 'criteria', type: 'boolean', description: 'Show each criterion’s score and reason' },
  ],
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const session = store.sessions.resolve(input.args['session']!);
    const branch =
      input.options['branch'] === undefined
        ? undefined
        : resolveBranch(store, session, String(input.options['branch'])).id;
    const metric = input.options['metric'] === undefined ? undefined : String(input.options['metric']);
    const targets = latestTargetScores(
      store.scores.scores({
        session: session.id,
        ...(branch === undefined ? {} : { branch }),
        ...(metric === undefined ? {} : { metric }),
      }),
    );
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
      printScores(ctx, store, list, input.options['criteria'] === true);
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
    for (const j of failed) ctx.output.warn(`job ${j.id} (${j.evaluator}) failed: ${j.error ?? ''}`);
    return { exitCode: EXIT.ok };
  },
};

const top: Command = {
  path: ['eval', 'top'],
  summary: "A session's branches ranked by score (a metric's mean, or the weighted overall of every metric)",
  args: [{ name: 'session', description: 'Session id, unique prefix, or "last"', required: true }],
  options: [
    {
      name: 'metric',
      type: 'string',
      value: '<metric>',
      description: 'Rank by this metric (default: weighted overall)',
    },
  ],
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const session = store.sessions.resolve(input.args['session']!);
    const metric = input.options['metric'] === undefined ? undefined : String(input.options['metric']);
    let weights = new Map<string, number>();
    try {
      weights = new Map((await ctx.workspace()).evaluators.list().map((e) => [e.id, e.config.weight]));
    } catch {
      // Read-only ranking works without a loadable workspace (every metric weighs 1).
    }
    const targets = latestTargetScores(store.scores.scores({ session: session.id }));
    const summaries = branchScores(targets, (m) => weights.get(m) ?? 1);
    // The whole session: every branch's targets together.
    const overall = branchScores(
      targets.map((t) => ({ ...t, branch: session.id })),
      (m) => weights.get(m) ?? 1,
    )[0];
    const ranked = rankBranches(summaries, metric);
    if (metric !== undefined && !summaries.some((b) => b.metrics.has(metric))) {
      const known = [...new Set(summaries.flatMap((b) => [...b.metrics.keys()]))];
      throw new UserError('E_USAGE', `no scores for metric '${metric}' in session ${session.id}`, {
        hint:
          known.length === 0 ? `Score it first: p2tui eval run ${session.id}` : `Metrics scored: ${known.join(', ')}.`,
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
    const metrics = [...new Set(summaries.flatMap((b) => [...b.metrics.keys()]))].sort();
    const rows = json.map((r) => [
      String(r.rank),
      `${r.branch}${r.label === null ? '' : ` (${r.label})`}${r.branch === session.headBranch ? ' *' : ''}`,
      r.value === null ? '–' : r.value.toFixed(3),
      ...metrics.map((m) =>
        r.metrics[m] === undefined ? '–' : `${r.metrics[m].mean.toFixed(2)} (min ${r.metrics[m].min.toFixed(2)})`,
      ),
    ]);
    if (overall !== undefined) {
      const value = metric === undefined ? overall.weighted : (overall.metrics.get(metric)?.mean ?? null);
      rows.push([
        '',
        'whole session',
        value === null ? '–' : value.toFixed(3),
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
};

const pairwise: Command = {
  path: ['eval', 'pairwise'],
  summary:
    "Compare two branches' final answers with an llm evaluator's rubric, in both orders (position bias shows as a split)",
  details:
    'The judge sees both answers twice, the order of the first run drawn from --seed and the second run swapped, and names the better one each time. ' +
    'The winner is the branch preferred in both orders; a split verdict (one each) is reported as a tie with position bias.',
  args: [
    { name: 'session', description: 'Session id, unique prefix, or "last"', required: true },
    { name: 'a', description: 'A branch: id, prefix or label', required: true },
    { name: 'b', description: 'The other branch', required: true },
  ],
  options: [
    {
      name: 'evaluator',
      type: 'string',
      value: '<id>',
      description: 'An llm evaluator whose rubric and model to use (default: the first llm evaluator)',
    },
    {
      name: 'seed',
      type: 'number',
      value: '<n>',
      description: 'Seed for the order of the first run (default: random)',
    },
  ],
  examples: ['p2tui eval pairwise last main hot', 'p2tui eval pairwise s_1a2b main b_9x --evaluator quality --seed 7'],
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const store = engine.store;
    const registry = app.workspace.evaluators;
    const session = store.sessions.resolve(input.args['session']!);
    const a = resolveBranch(store, session, input.args['a']!);
    const b = resolveBranch(store, session, input.args['b']!);
    if (a.id === b.id)
      throw new UserError('E_USAGE', `both sides are branch ${a.id}`, {
        hint: 'Name two different branches (see: p2tui session branches ' + session.id + ').',
      });
    const evaluator =
      input.options['evaluator'] === undefined
        ? registry.list().find((e) => e.kind === 'llm')
        : registry.require(String(input.options['evaluator']));
    if (evaluator === undefined || evaluator.rubric === undefined) {
      throw new UserError(
        'E_UNKNOWN_EVALUATOR',
        evaluator === undefined
          ? 'this workspace has no llm evaluator to judge with'
          : `evaluator '${evaluator.id}' is not an llm evaluator (it has no rubric)`,
        {
          hint: 'Pairwise judging uses an evaluator of kind llm (a rubric and a judge model) from judge.evaluators in p2tui.yaml.',
        },
      );
    }
    const modelRef = registry.modelOf(evaluator);
    const resolved = app.workspace.providers.resolve(modelRef);
    const seed = input.options['seed'] === undefined ? ctx.clock.now() : Number(input.options['seed']);
    const material = (branch: string) =>
      materialFor(store, { session: session.id, branch, kind: 'branch', id: branch });
    const verdict = await pairwiseJudge(evaluator.rubric, material(a.id), material(b.id), {
      provider: resolved.provider,
      modelRef,
      modelName: resolved.model.name,
      temperature: registry.config.temperature,
      seed: Number.isFinite(seed) ? seed : 0,
      retries: registry.config.retries,
      timeoutMs: registry.config.timeout_ms,
      signal: ctx.signal,
      order: String(seed),
    });
    const name = (side: 'a' | 'b') => (side === 'a' ? (a.label ?? a.id) : (b.label ?? b.id));
    const json = {
      session: session.id,
      a: a.id,
      b: b.id,
      evaluator: evaluator.id,
      status: verdict.status,
      winner: verdict.winner === 'tie' ? null : verdict.winner === 'a' ? a.id : b.id,
      consistent: verdict.consistent,
      shareA: verdict.shareA,
      model: verdict.model,
      promptHash: verdict.promptHash,
      runs: verdict.runs.map((r) => ({
        first: r.first === 'a' ? a.id : b.id,
        preferred: r.preferred === 'tie' ? null : r.preferred === 'a' ? a.id : b.id,
        reason: r.reason,
      })),
      ...(verdict.error === undefined ? {} : { error: verdict.error }),
    };
    if (ctx.output.json) return { exitCode: verdict.status === 'ok' ? EXIT.ok : EXIT.failed, json: json as JsonObject };
    const c = ctx.output.color;
    ctx.output.line(
      paint(
        c,
        'bold',
        `pairwise ${evaluator.id} · ${verdict.model === 'scripted/judge' ? 'scripted judge' : verdict.model} · A = ${name('a')}, B = ${name('b')}`,
      ),
    );
    verdict.runs.forEach((r, i) => {
      const order = r.first === 'a' ? `${name('a')} first` : `${name('b')} first`;
      ctx.output.line(
        `  run ${i + 1} (${order}): ${r.preferred === 'tie' ? 'tie' : `prefers ${name(r.preferred)}`} — ${r.reason}`,
      );
    });
    if (verdict.status === 'failed') {
      ctx.output.line(paint(c, 'red', `the judge failed: ${verdict.error ?? ''}`));
      return { exitCode: EXIT.failed };
    }
    const outcome =
      verdict.winner === 'tie'
        ? verdict.consistent
          ? 'tie'
          : 'tie (the judge preferred whichever came first or second: position bias)'
        : `${name(verdict.winner)} wins${verdict.consistent ? ' in both orders' : ''}`;
    ctx.output.line(paint(c, verdict.winner === 'tie' ? 'yellow' : 'green', outcome));
    return { exitCode: EXIT.ok };
  },
};

/** Rubric files of a workspace, each parsed on its own so one broken file does not hide the others' problems. */
function readRubricFiles(root: string): { file: string; rubric?: Rubric; issues: ValidationIssue[] }[] {
  const dir = join(root, 'rubrics');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => /\.(ya?ml|md)$/i.test(n))
    .sort()
    .map((name) => {
      const file = `rubrics/${name}`;
      try {
        const rubric = parseRubricFile(readFileSync(join(dir, name), 'utf8'), file);
        return { file, rubric, issues: lintRubric(rubric) };
      } catch (error) {
        return {
          file,
          issues:
            error instanceof ValidationError ? [...error.issues] : [{ file, field: '', message: messageOf(error) }],
        };
      }
    });
}

const rubricsList: Command = {
  path: ['rubrics', 'list'],
  summary: 'The rubrics of rubrics/: criteria, weights, version, and the evaluators that use them',
  args: [],
  options: [],
  async run(ctx) {
    const files = readRubricFiles(ctx.workspaceDir);
    let users = new Map<string, string[]>();
    try {
      const registry = (await ctx.workspace()).evaluators;
      users = new Map(
        registry
          .list()
          .flatMap((e) => (e.rubric === undefined ? [] : [[e.rubric.id, e.id] as const]))
          .reduce((m, [r, e]) => m.set(r, [...(m.get(r) ?? []), e]), new Map<string, string[]>()),
      );
    } catch {
      // Listing works even when the workspace does not load (rubrics lint says why).
    }
    const json = files.map((f) => ({
      file: f.file,
      id: f.rubric?.id ?? null,
      criteria: (f.rubric?.criteria ?? []).map((c) => ({ id: c.id, weight: c.weight, description: c.description })),
      version: f.rubric?.version ?? null,
      usedBy: f.rubric === undefined ? [] : (users.get(f.rubric.id) ?? []),
      problems: f.issues.length,
    }));
    if (ctx.output.json) return { exitCode: EXIT.ok, json: json as JsonValue };
    if (files.length === 0) {
      ctx.output.line('no rubrics (add rubrics/<id>.yaml or .md; see the README, section The judge)');
      return { exitCode: EXIT.ok };
    }
    const rows = json.map((r) => [
      r.id ?? '(unreadable)',
      r.criteria.map((c) => `${c.id} ${c.weight}`).join(', '),
      r.version ?? '',
      r.usedBy.join(', ') || '–',
      r.problems === 0 ? 'ok' : `${r.problems} problem${r.problems === 1 ? '' : 's'}`,
      r.file,
    ]);
    for (const line of table(rows, ['rubric', 'criteria', 'version', 'used by', 'lint', 'file'], ctx.output.color))
      ctx.output.line(line);
    return { exitCode: EXIT.ok };
  },
};

const rubricsLint: Command = {
  path: ['rubrics', 'lint'],
  summary: 'Check rubrics: weights summing to 1, empty criteria, unknown template variables (exit 1 on a problem)',
  args: [],
  options: [],
  async run(ctx) {
    const files = readRubricFiles(ctx.workspaceDir);
    const issues = files.flatMap((f) => f.issues);
    if (ctx.output.json)
      return {
        exitCode: issues.length === 0 ? EXIT.ok : EXIT.failed,
        json: { files: files.map((f) => f.file), issues: issues.map((i) => ({ ...i })) } as JsonValue,
      };
    for (const issue of issues) ctx.output.line(paint(ctx.output.color, 'red', formatIssue(issue)));
    ctx.output.line(
      issues.length === 0
        ? `${files.length} rubric${files.length === 1 ? '' : 's'} ok`
        : `${issues.length} problem${issues.length === 1 ? '' : 's'} in ${new Set(issues.map((i) => i.file)).size} of ${files.length} rubrics`,
    );
    return { exitCode: issues.length === 0 ? EXIT.ok : EXIT.failed };
  },
};

export const evalCommands: readonly Command[] = [run, show, top, pairwise, rubricsList, rubricsLint];
