import { UserError } from '../../core/errors.ts';
import type { BranchOverrides, Fork } from '../../engine/branching.ts';
import { defineCommand, type OptionDefs } from '../define.ts';
import { paint } from '../render/text.ts';
import { EFFECTS_POLICIES, type EffectsPolicy } from '../../engine/effects-policy.ts';
import { OVERRIDE_OPTIONS, OVERRIDES_DETAILS, parseOverrides, targetsOf, type OverrideValues } from '../overrides.ts';
import { SESSION_ARG } from '../shared.ts';
import { EXIT, type CommandContext } from '../types.ts';

/** Moving between branches: fork one at a point of its history, rewind to a step, check one out. */

/** `--effects` of fork and rewind: what effectful tool calls do on the new branch (stored as its overrides.effects). */
const EFFECTS_OPTION = {
  effects: {
    type: 'string',
    choices: EFFECTS_POLICIES,
    value: '<live|dry-run|ask>',
    description:
      'What effectful tool calls do on the new branch: live (run them), dry-run (do not: simulate or skip; ledger ' +
      "tools pay in a scratch copy of the wallets), ask (a person approves each). Default: the session's policy",
  },
} as const satisfies OptionDefs;

/** The branch's overrides: the four settings' and `--effects`. */
function overridesOf(
  options: OverrideValues & { readonly effects?: EffectsPolicy | undefined },
  engine: Parameters<typeof targetsOf>[0],
): BranchOverrides {
  const { effects } = options;
  return { ...parseOverrides(options, targetsOf(engine)), ...(effects === undefined ? {} : { effects }) };
}

/** Says what a fork does not undo: effectful calls made on the source after the fork point. */
function reportEffects(ctx: CommandContext, fork: Fork): void {
  if (fork.effects.length === 0 || ctx.output.json) return;
  const one = fork.effects.length === 1;
  const calls = one ? 'One effectful call' : `${fork.effects.length} effectful calls`;
  ctx.output.line(
    paint(
      ctx.output.color,
      'yellow',
      `${calls} after the fork point already happened and ${one ? 'is' : 'are'} not undone:`,
    ),
  );
  for (const e of fork.effects) {
    const undo = e.compensable ? ` — undo it with: p2tui session compensate ${fork.branch.session} ${e.key}` : '';
    ctx.output.line(paint(ctx.output.color, 'yellow', `  ${e.tool} (key ${e.key}, ${e.status})${undo}`));
  }
}

export const forkCommand = defineCommand({
  path: ['session', 'fork'],
  summary:
    'Fork a branch at a point of its history (copies nothing), optionally with another model, temperature, prompt or tools',
  details:
    'The new branch sees the whole session (every conversation, delegated children included) as it was at the fork point, and nothing after. ' +
    'Give the point as a seq (--at) or as a step of a conversation as `session stack` numbers them (--step, root conversation unless --conversation). ' +
    'Without either, the fork is at the newest entry. ' +
    OVERRIDES_DETAILS,
  args: {
    session: SESSION_ARG,
  },
  options: {
    at: { type: 'number', integer: true, min: 0, value: '<seq>', description: 'Keep history up to this seq' },
    step: {
      type: 'number',
      integer: true,
      min: 0,
      value: '<n>',
      description: 'Keep history up to step #n of the conversation (as in session stack)',
    },
    conversation: {
      type: 'string',
      value: '<agent|id|path>',
      description: 'The conversation --step counts in (default: the root)',
    },
    from: { type: 'string', value: '<branch>', description: 'Fork this branch (default: the checked-out one)' },
    label: { type: 'string', value: '<text>', description: 'A name for the new branch' },
    ...OVERRIDE_OPTIONS,
    ...EFFECTS_OPTION,
    checkout: { type: 'boolean', description: 'Check the new branch out' },
  },
  examples: [
    'p2tui session fork last --step 3 --label cheaper --model scripted/default --temperature 0.9 --checkout',
    'p2tui session fork last --temperature 0.2 --temperature writer=0.9 --tools writer=search,save',
    'p2tui session fork last --step 0 --effects dry-run --checkout',
  ],
  async run(ctx, input) {
    const { resolveBranch, seqOfStep } = await import('../../engine/branching.ts');
    const app = await ctx.app();
    const { engine } = app;
    const session = engine.store.sessions.resolve(input.args.session);
    const { at, step, from, label, checkout } = input.options;
    if (at !== undefined && step !== undefined) throw new UserError('E_USAGE', 'give --at or --step, not both');
    const source = from === undefined ? session.headBranch : resolveBranch(engine.store, session, from).id;
    // Steps are counted on the branch being forked.
    const atSeq = step !== undefined ? seqOfStep(engine.store, session, step, input.options.conversation, source) : at;
    const made = await engine.fork(session.id, {
      ...(from === undefined ? {} : { from }),
      ...(atSeq === undefined ? {} : { atSeq }),
      ...(label === undefined ? {} : { label }),
      overrides: overridesOf(input.options, engine),
      createdBy: 'cli',
      checkout,
    });
    const json = {
      session: session.id,
      branch: made.branch.id,
      parent: made.branch.parent,
      forkSeq: made.branch.forkSeq,
      checkedOut: checkout,
      effects: made.effects.map((e) => ({ ...e })),
    };
    if (!ctx.output.json) {
      ctx.output.line(
        `forked ${made.branch.parent} at seq ${made.branch.forkSeq}: branch ${made.branch.id}${checkout ? ' (checked out)' : ''}`,
      );
      reportEffects(ctx, made);
      if (checkout)
        ctx.output.line(paint(ctx.output.color, 'gray', `continue it with: p2tui session resume ${session.id}`));
    }
    return { exitCode: EXIT.ok, json };
  },
});

export const rewindCommand = defineCommand({
  path: ['session', 'rewind'],
  summary: 'Rewind to a step: fork there and check the new branch out (the old branch stays)',
  details:
    'The step is an entry of the root conversation as `session stack` numbers it (#0 is the first message); ' +
    'the new branch keeps it and everything before it, in every conversation. ' +
    'Effectful tool calls after that point are not undone (listed). ' +
    'The session rests afterwards; `session resume` or `chat --session` continues it. ' +
    OVERRIDES_DETAILS,
  args: {
    session: SESSION_ARG,
    step: { description: 'Step number (as in session stack)', required: true },
  },
  options: {
    conversation: {
      type: 'string',
      value: '<agent|id|path>',
      description: 'Count steps in this conversation instead of the root',
    },
    label: { type: 'string', value: '<text>', description: 'A name for the new branch' },
    ...OVERRIDE_OPTIONS,
    ...EFFECTS_OPTION,
  },
  examples: [
    'p2tui session rewind last 2',
    'p2tui conversation rewind s_1a2b 4 --temperature 0.9',
    'p2tui session rewind last 2 --temperature writer=0.9 --system writer="You are terse."',
    'p2tui session rewind last 2 --effects dry-run',
  ],
  async run(ctx, input) {
    const { seqOfStep } = await import('../../engine/branching.ts');
    const app = await ctx.app();
    const { engine } = app;
    const session = engine.store.sessions.resolve(input.args.session);
    // A positional argument is a word: the step is checked here, as the parser checks a number option.
    const step = Number(input.args.step);
    if (!Number.isInteger(step))
      throw new UserError('E_USAGE', `step '${input.args.step}' is not a whole number`, {
        hint: `See the steps with: p2tui session stack ${session.id}`,
      });
    const atSeq = seqOfStep(engine.store, session, step, input.options.conversation);
    const made = await engine.fork(session.id, {
      atSeq,
      ...(input.options.label === undefined ? { defaultLabel: `rewind to #${step}` } : { label: input.options.label }),
      overrides: overridesOf(input.options, engine),
      createdBy: 'cli:rewind',
      checkout: true,
    });
    const status = engine.store.sessions.resolve(session.id).status;
    const json = {
      session: session.id,
      branch: made.branch.id,
      previous: made.branch.parent,
      forkSeq: atSeq,
      status,
      effects: made.effects.map((e) => ({ ...e })),
    };
    if (!ctx.output.json) {
      ctx.output.line(
        `rewound ${session.id} to step #${step} (seq ${atSeq}): branch ${made.branch.id} checked out, ${made.branch.parent} kept`,
      );
      reportEffects(ctx, made);
      ctx.output.line(
        paint(
          ctx.output.color,
          'gray',
          `session ${status}; continue with: p2tui session resume ${session.id}  (or p2tui chat --session ${session.id})`,
        ),
      );
    }
    return { exitCode: EXIT.ok, json };
  },
});

export const checkoutCommand = defineCommand({
  path: ['session', 'checkout'],
  summary: 'Check out a branch of a session (by id, prefix or label)',
  args: {
    session: SESSION_ARG,
    branch: { description: 'Branch id, unique prefix, or label', required: true },
  },
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const { branch, status } = await engine.checkout(input.args.session, input.args.branch);
    if (!ctx.output.json)
      ctx.output.line(
        `checked out ${branch.id}${branch.label === null ? '' : ` (${branch.label})`}; session ${status}`,
      );
    return { exitCode: EXIT.ok, json: { branch: branch.id, status } };
  },
});
