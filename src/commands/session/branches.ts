import { UserError } from '../../core/errors.ts';
import type { JsonObject } from '../../core/json.ts';
import {
  branchSummaries,
  describeOverrides,
  resolveBranch,
  seqOfStep,
  type BranchOverrides,
  type Fork,
} from '../../engine/branching.ts';
import { diffBranches } from './branch-diff.ts';
import { scoreByBranch } from '../../judge/aggregate.ts';
import { DIFF_OPTIONS, renderOps } from './artifacts.ts';
import type { CommandContext, CommandInput, CommandResult } from '../types.ts';
import { EXIT, type Command } from '../types.ts';
import { formatAge, paint, table } from '../render/text.ts';

/** `agent=value` of --system and --tools. */
function agentValue(option: string, value: string): [string, string] {
  const eq = value.indexOf('=');
  if (eq <= 0)
    throw new UserError('E_USAGE', `--${option} '${value}' is not of the form <agent>=<value>`, {
      hint: `For example --${option} agent_beta=${option === 'tools' ? 'calculate,get_weather' : '"You are terse."'}`,
    });
  return [value.slice(0, eq), value.slice(eq + 1)];
}

/** `--model`, `--temperature`, `--system`, `--tools` of a fork: what the new branch runs with. */
function overridesOf(input: CommandInput): BranchOverrides {
  const model = input.options['model'];
  const temperature = input.options['temperature'];
  if (typeof model === 'string' && !/^[^/\s]+\/\S+$/.test(model))
    throw new UserError('E_USAGE', `--model '${model}' is not of the form provider/name`, {
      hint: 'For example --model scripted/default.',
    });
  if (typeof temperature === 'number' && (temperature < 0 || temperature > 2))
    throw new UserError('E_USAGE', '--temperature must be between 0 and 2');
  const personas: Record<string, { system?: string; tools?: string[] }> = {};
  const system = input.options['system'];
  if (typeof system === 'string') {
    const [agent, text] = agentValue('system', system);
    personas[agent] = { ...personas[agent], system: text };
  }
  const tools = input.options['tools'];
  if (typeof tools === 'string') {
    const [agent, list] = agentValue('tools', tools);
    personas[agent] = {
      ...personas[agent],
      tools: list
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== ''),
    };
  }
  return {
    ...(typeof model === 'string' ? { model } : {}),
    ...(typeof temperature === 'number' ? { temperature } : {}),
    ...(Object.keys(personas).length === 0 ? {} : { personas }),
  };
}

const OVERRIDE_OPTIONS = [
  { name: 'model', type: 'string', value: '<provider/name>', description: 'Model for every agent on the new branch' },
  { name: 'temperature', type: 'number', value: '<t>', description: 'Temperature for every agent on the new branch' },
  {
    name: 'system',
    type: 'string',
    value: '<agent>=<prompt>',
    description: 'Another system prompt for one agent on the new branch (a template, as in persona files)',
  },
  {
    name: 'tools',
    type: 'string',
    value: '<agent>=<a,b,…>',
    description: 'Another tool list for one agent on the new branch',
  },
] as const;

/** Says what a fork does not undo: effectful calls made on the source after the fork point. */
function reportEffects(ctx: CommandContext, fork: Fork): void {
  if (fork.effects.length === 0 || ctx.output.json) return;
  ctx.output.line(
    paint(
      ctx.output.color,
      'yellow',
      `${fork.effects.length === 1 ? 'One effectful call' : `${fork.effects.length} effectful calls`} after the fork point already happened and ${fork.effects.length === 1 ? 'is' : 'are'} not undone:`,
    ),
  );
  for (const e of fork.effects) {
    const undo = e.compensable ? ` — undo it with: p2tui session compensate ${fork.branch.session} ${e.key}` : '';
    ctx.output.line(paint(ctx.output.color, 'yellow', `  ${e.tool} (key ${e.key}, ${e.status})${undo}`));
  }
}

const branches: Command = {
  path: ['session', 'branches'],
  summary: "List a session's branches: parent, fork point, label, length; * marks the checked-out one",
  args: [{ name: 'session', description: 'Session id, unique prefix, or "last"', required: true }],
  options: [],
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const session = store.sessions.resolve(input.args['session']!);
    const list = branchSummaries(store, session);
    // The judge's weighted overall per branch, with the evaluators' weights when the workspace loads.
    const weights = await ctx.workspace().then(
      (w) => new Map(w.evaluators.list().map((e) => [e.id, e.config.weight])),
      () => new Map<string, number>(),
    );
    const scores = scoreByBranch(store.scores.scores({ session: session.id }), (m) => weights.get(m) ?? 1);
    const json = list.map((b) => ({
      id: b.branch.id,
      label: b.branch.label,
      parent: b.branch.parent,
      forkSeq: b.branch.forkSeq,
      entries: b.entries,
      checkedOut: b.checkedOut,
      score: scores.get(b.branch.id) ?? null,
      overrides: b.branch.overrides as JsonObject,
      createdBy: b.branch.createdBy,
      createdAt: new Date(b.branch.createdAt).toISOString(),
    }));
    if (ctx.output.json) return { exitCode: EXIT.ok, json };
    const c = ctx.output.color;
    const rows = list.map((b) => [
      `${b.checkedOut ? '*' : ' '} ${b.branch.id}`,
      b.branch.label ?? '',
      b.branch.parent === null ? '(root)' : `${b.branch.parent} @ seq ${b.branch.forkSeq}`,
      `${b.entries} entries`,
      scores.has(b.branch.id) ? scores.get(b.branch.id)!.toFixed(2) : '–',
      describeOverrides(b.branch.overrides),
      `${b.branch.createdBy}, ${formatAge(ctx.clock.now() - b.branch.createdAt)}`,
    ]);
    for (const line of table(rows, ['branch', 'label', 'forked from', 'length', 'score', 'overrides', 'created'], c))
      ctx.output.line(line);
    ctx.output.line(paint(c, 'gray', `check one out with: p2tui session checkout ${session.id} <branch>`));
    return { exitCode: EXIT.ok, json };
  },
};

const fork: Command = {
  path: ['session', 'fork'],
  summary: 'Fork a branch at a point of its history (copies nothing), optionally with another model or temperature',
  details:
    'The new branch sees the whole session (every conversation, delegated children included) as it was at the fork point, and nothing after. ' +
    'Give the point as a seq (--at) or as a step of a conversation as `session stack` numbers them (--step, root conversation unless --conversation). ' +
    'Without either, the fork is at the newest entry.',
  args: [{ name: 'session', description: 'Session id, unique prefix, or "last"', required: true }],
  options: [
    { name: 'at', type: 'number', value: '<seq>', description: 'Keep history up to this seq' },
    {
      name: 'step',
      type: 'number',
      value: '<n>',
      description: 'Keep history up to step #n of the conversation (as in session stack)',
    },
    {
      name: 'conversation',
      type: 'string',
      value: '<agent|id|path>',
      description: 'The conversation --step counts in (default: the root)',
    },
    { name: 'from', type: 'string', value: '<branch>', description: 'Fork this branch (default: the checked-out one)' },
    { name: 'label', type: 'string', value: '<text>', description: 'A name for the new branch' },
    ...OVERRIDE_OPTIONS,
    { name: 'checkout', type: 'boolean', description: 'Check the new branch out' },
  ],
  examples: ['p2tui session fork last --step 3 --label cheaper --model scripted/default --temperature 0.9 --checkout'],
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const session = engine.store.sessions.resolve(input.args['session']!);
    const at = input.options['at'] as number | undefined;
    const step = input.options['step'] as number | undefined;
    if (at !== undefined && step !== undefined) throw new UserError('E_USAGE', 'give --at or --step, not both');
    const from =
      typeof input.options['from'] === 'string'
        ? resolveBranch(engine.store, session, input.options['from']).id
        : session.headBranch;
    // Steps are counted on the branch being forked.
    const atSeq =
      step !== undefined
        ? seqOfStep(engine.store, session, step, input.options['conversation'] as string | undefined, from)
        : at;
    const made = await engine.fork(session.id, {
      ...(typeof input.options['from'] === 'string' ? { from: input.options['from'] } : {}),
      ...(atSeq === undefined ? {} : { atSeq }),
      ...(typeof input.options['label'] === 'string' ? { label: input.options['label'] } : {}),
      overrides: overridesOf(input),
      createdBy: 'cli',
      checkout: input.options['checkout'] === true,
    });
    const json = {
      session: session.id,
      branch: made.branch.id,
      parent: made.branch.parent,
      forkSeq: made.branch.forkSeq,
      checkedOut: input.options['checkout'] === true,
      effects: made.effects.map((e) => ({ ...e })),
    };
    if (!ctx.output.json) {
      ctx.output.line(
        `forked ${made.branch.parent} at seq ${made.branch.forkSeq}: branch ${made.branch.id}${input.options['checkout'] === true ? ' (checked out)' : ''}`,
      );
      reportEffects(ctx, made);
      if (input.options['checkout'] === true)
        ctx.output.line(paint(ctx.output.color, 'gray', `continue it with: p2tui session resume ${session.id}`));
    }
    return { exitCode: EXIT.ok, json };
  },
};

const rewind: Command = {
  path: ['session', 'rewind'],
  summary: 'Rewind to a step: fork there and check the new branch out (the old branch stays)',
  details:
    'The step is an entry of the root conversation as `session stack` numbers it (#0 is the first message); the new branch keeps it and everything before it, ' +
    'in every conversation. Effectful tool calls after that point are not undone (listed). The session rests afterwards; `session resume` or `chat --session` continues it.',
  args: [
    { name: 'session', description: 'Session id, unique prefix, or "last"', required: true },
    { name: 'step', description: 'Step number (as in session stack)', required: true },
  ],
  options: [
    {
      name: 'conversation',
      type: 'string',
      value: '<agent|id|path>',
      description: 'Count steps in this conversation instead of the root',
    },
    { name: 'label', type: 'string', value: '<text>', description: 'A name for the new branch' },
    ...OVERRIDE_OPTIONS,
  ],
  examples: ['p2tui session rewind last 2', 'p2tui conversation rewind s_1a2b 4 --temperature 0.9'],
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const session = engine.store.sessions.resolve(input.args['session']!);
    const step = Number(input.args['step']);
    if (!Number.isInteger(step))
      throw new UserError('E_USAGE', `step '${input.args['step']}' is not a whole number`, {
        hint: `See the steps with: p2tui session stack ${session.id}`,
      });
    const atSeq = seqOfStep(engine.store, session, step, input.options['conversation'] as string | undefined);
    const made = await engine.fork(session.id, {
      atSeq,
      label: typeof input.options['label'] === 'string' ? input.options['label'] : `rewind to #${step}`,
      overrides: overridesOf(input),
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
};

const checkout: Command = {
  path: ['session', 'checkout'],
  summary: 'Check out a branch of a session (by id, prefix or label)',
  args: [
    { name: 'session', description: 'Session id, unique prefix, or "last"', required: true },
    { name: 'branch', description: 'Branch id, unique prefix, or label', required: true },
  ],
  options: [],
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const { branch, status } = await engine.checkout(input.args['session']!, input.args['branch']!);
    if (!ctx.output.json)
      ctx.output.line(
        `checked out ${branch.id}${branch.label === null ? '' : ` (${branch.label})`}; session ${status}`,
      );
    return { exitCode: EXIT.ok, json: { branch: branch.id, status } };
  },
};

const diff: Command = {
  path: ['session', 'diff'],
  summary:
    'Compare two branches step by step (conversations matched by path) and by final answer; says where they diverge',
  args: [
    { name: 'session', description: 'Session id, unique prefix, or "last"', required: true },
    { name: 'a', description: 'First branch (default: the parent of the checked-out one)', required: false },
    { name: 'b', description: 'Second branch (default: the checked-out one)', required: false },
  ],
  options: [...DIFF_OPTIONS],
  examples: ['p2tui session diff last', 'p2tui session diff s_1a2b main hot --side-by-side'],
  async run(ctx, input): Promise<CommandResult> {
    const store = await ctx.store({ existing: true });
    const session = store.sessions.resolve(input.args['session']!);
    const head = store.sessions.branch(session.headBranch)!;
    const b =
      input.args['b'] !== undefined
        ? resolveBranch(store, session, input.args['b'])
        : input.args['a'] !== undefined
          ? head
          : head;
    const a =
      input.args['a'] !== undefined
        ? resolveBranch(store, session, input.args['a'])
        : head.parent === null
          ? undefined
          : store.sessions.branch(head.parent);
    if (a === undefined)
      throw new UserError('E_USAGE', `session ${session.id} has one branch; there is nothing to compare it with`, {
        hint: `Fork one: p2tui session fork ${session.id} --step <n>`,
      });
    const compared = diffBranches(store, session, a.id, b.id);
    const c = ctx.output.color;
    const out: string[] = [];
    for (const section of compared.sections) {
      out.push(paint(c, 'bold', `== ${section.title}`));
      out.push(...renderOps(input, c, section.ops));
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
    ctx.output.line(
      `${a.id}${a.label === null ? '' : ` (${a.label})`} → ${b.id}${b.label === null ? '' : ` (${b.label})`}: ${divergence === null ? (json.same ? 'no differences' : 'the same steps, different final answers') : `diverge in ${divergence}`}`,
    );
    for (const line of out) ctx.output.line(line);
    return { exitCode: EXIT.ok, json };
  },
};

const compensate: Command = {
  path: ['session', 'compensate'],
  summary:
    "Undo an effectful call's effect with its tool's compensating action (once; a rewind never does it by itself)",
  args: [
    { name: 'session', description: 'Session id, unique prefix, or "last"', required: true },
    { name: 'key', description: "The call's key (rewind and fork list them)", required: true },
  ],
  options: [],
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const outcome = await engine.compensate(input.args['session']!, input.args['key']!, 'cli');
    if (!ctx.output.json) {
      if (outcome.status === 'ok')
        ctx.output.line(`compensated ${outcome.tool} ${input.args['key']}: ${JSON.stringify(outcome.output)}`);
      else
        ctx.output.line(
          paint(ctx.output.color, 'red', `the compensating action of ${outcome.tool} failed: ${outcome.error ?? ''}`),
        );
    }
    return { exitCode: outcome.status === 'ok' ? EXIT.ok : EXIT.failed, json: { key: input.args['key']!, ...outcome } };
  },
};

export const branchCommands: readonly Command[] = [branches, fork, rewind, checkout, diff, compensate];
