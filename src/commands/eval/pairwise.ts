import { UserError } from '../../core/errors.ts';
import type { JsonObject } from '../../core/json.ts';
import { defineCommand } from '../define.ts';
import { paint } from '../render/text.ts';
import { SESSION_ARG } from '../shared.ts';
import { EXIT } from '../types.ts';
import { terminalText } from '../../core/terminal-text.ts';

export const evalPairwiseCommand = defineCommand({
  path: ['eval', 'pairwise'],
  summary:
    "Compare two branches' final answers with an llm evaluator's rubric, in both orders (position bias shows as a split)",
  details:
    'The judge sees both answers twice, the order of the first run drawn from --seed and the second run swapped, and names the better one each time. ' +
    'The winner is the branch preferred in both orders; a split verdict (one each) is reported as a tie with position bias.',
  args: {
    session: SESSION_ARG,
    a: { description: 'A branch: id, prefix or label', required: true },
    b: { description: 'The other branch', required: true },
  },
  options: {
    evaluator: {
      type: 'string',
      value: '<id>',
      description: 'An llm evaluator whose rubric and model to use (default: the first llm evaluator)',
    },
    seed: {
      type: 'number',
      integer: true,
      value: '<n>',
      description: 'Seed for the order of the first run (default: random)',
    },
  },
  examples: ['p2tui eval pairwise last main hot', 'p2tui eval pairwise s_1a2b main b_9x --evaluator quality --seed 7'],
  async run(ctx, input) {
    const [{ resolveBranch }, { materialFor }, { pairwiseJudge }] = await Promise.all([
      import('../../engine/branching.ts'),
      import('../../judge/material.ts'),
      import('../../judge/pairwise.ts'),
    ]);
    const app = await ctx.app();
    const { engine } = app;
    const store = engine.store;
    const registry = app.workspace.evaluators;
    const session = store.sessions.resolve(input.args.session);
    const a = resolveBranch(store, session, input.args.a);
    const b = resolveBranch(store, session, input.args.b);
    if (a.id === b.id)
      throw new UserError('E_USAGE', `both sides are branch ${a.id}`, {
        hint: 'Name two different branches (see: p2tui session branches ' + session.id + ').',
      });
    const evaluator =
      input.options.evaluator === undefined
        ? registry.list().find((e) => e.kind === 'llm')
        : registry.require(input.options.evaluator);
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
    const seed = input.options.seed ?? ctx.clock.now();
    const material = (branch: string) =>
      materialFor(store, { session: session.id, branch, kind: 'branch', id: branch });
    const verdict = await pairwiseJudge(evaluator.rubric, material(a.id), material(b.id), {
      provider: resolved.provider,
      modelRef,
      modelName: resolved.model.name,
      temperature: registry.config.temperature,
      seed,
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
        `  run ${i + 1} (${order}): ${r.preferred === 'tie' ? 'tie' : `prefers ${name(r.preferred)}`} — ${terminalText(r.reason)}`,
      );
    });
    if (verdict.status === 'failed') {
      ctx.output.line(paint(c, 'red', `the judge failed: ${terminalText(verdict.error ?? '')}`));
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
});
