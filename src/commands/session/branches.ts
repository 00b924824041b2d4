import { UserError } from '../../core/errors.ts';
import type { JsonObject } from '../../core/json.ts';
import { defineCommand } from '../define.ts';
import { formatAge, paint, table } from '../render/text.ts';
import { SESSION_ARG } from '../shared.ts';
import { EXIT } from '../types.ts';
import { DIFF_OPTIONS, renderOps } from './diff-options.ts';
import { terminalText } from '../../core/terminal-text.ts';

/** A session's branches: the list, two compared, and undoing an effect a rewind left behind. */

export const branchesCommand = defineCommand({
  path: ['session', 'branches'],
  summary: "List a session's branches: parent, fork point, label, length; * marks the checked-out one",
  args: {
    session: SESSION_ARG,
  },
  async run(ctx, input) {
    const [{ branchSummaries, describeOverrides }, { effectsPolicyOf }] = await Promise.all([
      import('../../engine/branching.ts'),
      import('../../engine/effects-policy.ts'),
    ]);
    const { scoreByBranch } = await import('../../judge/aggregate.ts');
    const { inScopeTargets } = await import('../../judge/scope.ts');
    const store = await ctx.store({ existing: true });
    const session = store.sessions.resolve(input.args.session);
    const list = branchSummaries(store, session);
    // The judge's weighted overall per branch, with the evaluators' weights when the workspace loads.
    const evaluators = await ctx.workspace().then(
      (w) => w.evaluators.list(),
      () => [],
    );
    const weights = new Map(evaluators.map((e) => [e.id, e.config.weight]));
    const configs = new Map(evaluators.map((e) => [e.id, e.config]));
    // Only what each evaluator's scope (agents:) covers, as in eval top.
    const scores = scoreByBranch(
      store.scores.scores({ session: session.id }),
      (m) => weights.get(m) ?? 1,
      (targets) => inScopeTargets(store, targets, (id) => configs.get(id)),
    );
    const json = list.map((b) => ({
      id: b.branch.id,
      label: b.branch.label,
      parent: b.branch.parent,
      forkSeq: b.branch.forkSeq,
      entries: b.entries,
      checkedOut: b.checkedOut,
      score: scores.get(b.branch.id) ?? null,
      overrides: b.branch.overrides as JsonObject,
      effects: effectsPolicyOf(session.options, b.branch.overrides),
      createdBy: b.branch.createdBy,
      createdAt: new Date(b.branch.createdAt).toISOString(),
    }));
    if (ctx.output.json) return { exitCode: EXIT.ok, json };
    // A policy the session started with shows on each branch that runs under it; `live`, the default, stays quiet.
    const overridesText = (overrides: Record<string, unknown>, effects: string): string => {
      const own = describeOverrides(overrides);
      if (overrides['effects'] !== undefined || effects === 'live') return own;
      return [own, `effects ${effects} (session)`].filter((t) => t !== '').join('; ');
    };
    const c = ctx.output.color;
    const rows = list.map((b) => [
      `${b.checkedOut ? '*' : ' '} ${b.branch.id}`,
      b.branch.label ?? '',
      b.branch.parent === null ? '(root)' : `${b.branch.parent} @ seq ${b.branch.forkSeq}`,
      `${b.entries} entries`,
      scores.get(b.branch.id)?.toFixed(2) ?? '–',
      overridesText(b.branch.overrides, effectsPolicyOf(session.options, b.branch.overrides)),
      `${b.branch.createdBy}, ${formatAge(ctx.clock.now() - b.branch.createdAt)}`,
    ]);
    for (const line of table(rows, ['branch', 'label', 'forked from', 'length', 'score', 'overrides', 'created'], c))
      ctx.output.line(line);
    ctx.output.line(paint(c, 'gray', `check one out with: p2tui session checkout ${session.id} <branch>`));
    return { exitCode: EXIT.ok, json };
  },
});

export const diffCommand = defineCommand({
  path: ['session', 'diff'],
  summary:
    'Compare two branches step by step (conversations matched by path) and by final answer; says where they diverge',
  args: {
    session: SESSION_ARG,
    a: { description: 'First branch (default: the parent of the checked-out one)' },
    b: { description: 'Second branch (default: the checked-out one)' },
  },
  options: DIFF_OPTIONS,
  examples: ['p2tui session diff last', 'p2tui session diff s_1a2b main hot --side-by-side'],
  async run(ctx, input) {
    const { resolveBranch } = await import('../../engine/branching.ts');
    const { diffBranches } = await import('../../engine/branch-diff.ts');
    const store = await ctx.store({ existing: true });
    const session = store.sessions.resolve(input.args.session);
    const head = store.sessions.branch(session.headBranch)!;
    const b = input.args.b === undefined ? head : resolveBranch(store, session, input.args.b);
    const a =
      input.args.a !== undefined
        ? resolveBranch(store, session, input.args.a)
        : head.parent === null
          ? undefined
          : store.sessions.branch(head.parent);
    if (a === undefined) {
      const count = store.sessions.branches(session.id).length;
      if (count === 1)
        throw new UserError('E_USAGE', `session ${session.id} has one branch; there is nothing to compare it with`, {
          hint: `Fork one: p2tui session fork ${session.id} --step <n>`,
        });
      // The checked-out branch is the root: it has no parent to default to, but the session has others.
      throw new UserError(
        'E_USAGE',
        `session ${session.id} has ${count} branches, and the checked-out one (${head.id}${head.label === null ? '' : `, ${head.label}`}) ` +
          'is the first, with no parent to compare it with',
        {
          hint: `Name the branches to compare: p2tui session diff ${session.id} <a> <b> (p2tui session branches ${session.id} lists them)`,
        },
      );
    }
    const compared = diffBranches(store, session, a.id, b.id);
    const c = ctx.output.color;
    const out: string[] = [];
    for (const section of compared.sections) {
      out.push(paint(c, 'bold', `== ${section.title}`));
      out.push(...renderOps(input.options, c, section.ops));
    }
    const divergence = compared.divergesAt;
    const same = divergence === null && compared.answers.a === compared.answers.b;
    const json = {
      a: a.id,
      b: b.id,
      same,
      divergesAt: divergence,
      conversations: compared.conversations.map((x) => ({ ...x })),
      answers: { ...compared.answers },
    };
    if (ctx.output.json) return { exitCode: EXIT.ok, json };
    const aName = `${a.id}${a.label === null ? '' : ` (${a.label})`}`;
    const bName = `${b.id}${b.label === null ? '' : ` (${b.label})`}`;
    const verdict =
      divergence === null
        ? json.same
          ? 'no differences'
          : 'the same steps, different final answers'
        : `diverge in ${divergence}`;
    ctx.output.line(`${aName} → ${bName}: ${verdict}`);
    for (const line of out) ctx.output.line(line);
    return { exitCode: EXIT.ok, json };
  },
});

export const compensateCommand = defineCommand({
  path: ['session', 'compensate'],
  summary:
    "Undo an effectful call's effect with its tool's compensating action (once; a rewind never does it by itself)",
  args: {
    session: SESSION_ARG,
    key: { description: "The call's key (rewind and fork list them)", required: true },
  },
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const { key } = input.args;
    const outcome = await engine.compensate(input.args.session, key, 'cli');
    if (!ctx.output.json) {
      if (outcome.status === 'ok')
        ctx.output.line(`compensated ${outcome.tool} ${key}: ${terminalText(JSON.stringify(outcome.output) ?? '')}`);
      else
        ctx.output.line(
          paint(
            ctx.output.color,
            'red',
            `the compensating action of ${outcome.tool} failed: ${terminalText(outcome.error ?? '')}`,
          ),
        );
    }
    return { exitCode: outcome.status === 'ok' ? EXIT.ok : EXIT.failed, json: { key, ...outcome } };
  },
});
