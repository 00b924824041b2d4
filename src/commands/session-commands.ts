import { hostname } from 'node:os';
import type { SessionStatus } from '../core/events.ts';
import type { Entry } from '../core/entries.ts';
import { describeEntry } from './describe.ts';
import { UserError, messageOf } from '../core/errors.ts';
import type { JsonObject, JsonValue } from '../core/json.ts';
import type { Engine } from '../engine/engine.ts';
import { isHolderAlive } from '../store/leases.ts';
import type { Store } from '../store/store.ts';
import { sessionOverrides } from './common-options.ts';
import { replayCommand } from './session-replay.ts';
import { EXIT, type Command, type CommandContext } from './types.ts';
import { EventPrinter } from './follow.ts';
import { exitFor, finishRun } from './run.ts';
import { entriesJson, readSession, sessionJson, treeOrder, type ConversationView } from './session-view.ts';
import { formatAge, formatCost, paint, plural, table, truncate } from './text.ts';

const STATUSES = ['running', 'paused', 'waiting', 'finished', 'failed', 'cancelled'] as const;

const list: Command = {
  path: ['session', 'list'],
  summary: 'List sessions, newest first',
  args: [],
  options: [
    { name: 'limit', type: 'number', value: '<n>', description: 'How many (default 20)' },
    { name: 'status', type: 'string', choices: STATUSES, description: 'Only sessions in this status' },
  ],
  async run(ctx, input) {
    let store;
    try {
      store = await ctx.store({ existing: true });
    } catch (error) {
      if (!(error instanceof UserError && error.code === 'E_UNKNOWN_SESSION')) throw error;
      if (ctx.output.json) return { exitCode: EXIT.ok, json: [] };
      ctx.output.line(
        `No sessions yet (${error.message}). Start one with: p2tui run agent_alpha "What's the weather in Paris?"`,
      );
      return { exitCode: EXIT.ok };
    }
    const status = input.options['status'] as SessionStatus | undefined;
    const rows = store.sessions.list({
      limit: (input.options['limit'] as number | undefined) ?? 20,
      ...(status === undefined ? {} : { status }),
    });
    const now = ctx.clock.now();
    if (ctx.output.json) {
      return {
        exitCode: EXIT.ok,
        json: rows.map((r) => ({
          id: r.id,
          status: r.status,
          agent: r.agent,
          title: r.title,
          source: r.source,
          createdAt: new Date(r.createdAt).toISOString(),
          statusReason: r.statusReason,
        })),
      };
    }
    if (rows.length === 0) {
      ctx.output.line('No sessions yet. Start one with: p2tui run agent_alpha "What\'s the weather in Paris?"');
      return { exitCode: EXIT.ok };
    }
    const c = ctx.output.color;
    const lines = table(
      rows.map((r) => {
        const lease = store.leases.holder(r.id);
        const live = isHolderAlive(lease, now);
        return [
          r.id,
          colourStatus(c, r.status),
          r.agent,
          r.source,
          formatAge(now - r.createdAt),
          live ? `pid ${lease.pid}` : '',
          truncate(r.title, 48),
        ];
      }),
      ['SESSION', 'STATUS', 'AGENT', 'FROM', 'STARTED', 'DRIVER', 'TITLE'],
      c,
    );
    for (const line of lines) ctx.output.line(line);
    return { exitCode: EXIT.ok };
  },
};

const show: Command = {
  path: ['session', 'show'],
  summary:
    'Show a session: status, conversations, usage and cost (per agent, conversation and step), questions, answer',
  args: [{ name: 'session', description: 'Session id, unique prefix, or "last"', required: true }],
  options: [{ name: 'steps', type: 'boolean', description: 'List every model call with its tokens, cost and latency' }],
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const view = readSession(store, input.args['session']!);
    const steps = store.calls.steps(view.session.id);
    const byConversation = new Map<string, { tokens: number; costUsd: number }>();
    for (const step of steps) {
      const u = byConversation.get(step.conversation) ?? { tokens: 0, costUsd: 0 };
      byConversation.set(step.conversation, {
        tokens: u.tokens + step.tokensIn + step.tokensOut,
        costUsd: u.costUsd + step.costUsd,
      });
    }
    if (ctx.output.json) {
      const json = sessionJson(view);
      return {
        exitCode: EXIT.ok,
        json: {
          ...json,
          usage: {
            ...(json['usage'] as JsonObject),
            byConversation: Object.fromEntries([...byConversation].map(([id, u]) => [id, { ...u }])),
          },
          steps: steps.map((s) => ({ ...s, ts: new Date(s.ts).toISOString() })),
        },
      };
    }
    const out = ctx.output;
    const c = out.color;
    const s = view.session;
    out.line(
      `${paint(c, 'bold', s.id)}  ${colourStatus(c, s.status)}${s.statusReason === null ? '' : paint(c, 'gray', ` (${s.statusReason})`)}  ${s.agent}  "${truncate(s.title, 60)}"`,
    );
    out.line(
      paint(
        c,
        'gray',
        `started ${formatAge(ctx.clock.now() - s.createdAt)} from ${s.source} · seed ${s.options.seed} · budget ${s.options.maxSteps} steps · approval ${s.options.approval}${s.options.model === undefined ? '' : ` · model ${s.options.model}`}`,
      ),
    );
    if (view.lease !== null && view.lease.expiresAt > ctx.clock.now())
      out.line(paint(c, 'gray', `driven by pid ${view.lease.pid} on ${view.lease.host}`));
    out.line('');
    out.line(paint(c, 'bold', 'Conversations'));
    for (const conv of treeOrder(view.conversations)) {
      const u = byConversation.get(conv.row.id);
      const usage =
        u === undefined ? '' : paint(c, 'gray', ` · ${u.tokens} tokens · ${formatCost(u.costUsd, view.simulated)}`);
      out.line(
        `${'  '.repeat(conv.row.depth + 1)}${conv.row.agent}  ${paint(c, 'gray', conv.row.id)}  ${colourPhase(c, conv.phase)}  ${plural(conv.steps, 'step')}, ${plural(conv.entries.length, 'entry', 'entries')}${usage}`,
      );
    }
    if (input.options['steps'] === true) {
      out.line('');
      out.line(paint(c, 'bold', 'Steps'));
      for (const s of steps) {
        const what =
          s.status === 'ok'
            ? `${s.tokensIn} in + ${s.tokensOut} out tokens${s.estimated ? ' (est.)' : ''} · ${formatCost(s.costUsd, view.simulated)} · ${s.latencyMs} ms`
            : paint(c, 'red', 'failed');
        out.line(
          `  ${s.agent} #${s.ordinal}  ${paint(c, 'gray', s.provider === 'replay' ? `${s.model} (replayed)` : s.model)}  ${what}`,
        );
      }
    }
    out.line('');
    const u = view.usage.total;
    out.line(
      `${paint(c, 'bold', 'Usage')}  ${plural(u.calls, 'model call')} · ${u.tokensIn} in + ${u.tokensOut} out tokens${u.estimated ? ' (estimated)' : ''} · ${formatCost(u.costUsd, view.simulated)}`,
    );
    for (const [agent, a] of Object.entries(view.usage.byAgent)) {
      out.line(
        `  ${agent}: ${plural(a.calls, 'call')} · ${a.tokensIn + a.tokensOut} tokens · ${formatCost(a.costUsd, view.simulated)}`,
      );
    }
    if (view.questions.length > 0) {
      out.line('');
      out.line(paint(c, 'bold', 'Waiting for answers'));
      for (const q of view.questions) out.line(`  ${q.agent} asks (${q.callId}): ${q.question}`);
      out.line(paint(c, 'gray', `  answer with: p2tui session respond ${s.id} "<answer>"`));
    }
    if (view.answer !== null) {
      out.line('');
      out.line(paint(c, 'bold', 'Answer'));
      for (const line of view.answer.split('\n')) out.line(`  ${line}`);
    }
    return { exitCode: EXIT.ok };
  },
};

const stack: Command = {
  path: ['session', 'stack'],
  summary: 'Show the interaction stack of each conversation and the frame stack of delegations',
  args: [{ name: 'session', description: 'Session id, unique prefix, or "last"', required: true }],
  options: [
    {
      name: 'conversation',
      type: 'string',
      value: '<id|agent>',
      description: 'Only this conversation (its id, or the agent of a conversation)',
    },
    { name: 'last', type: 'number', value: '<n>', description: 'Only the last n entries of each stack' },
  ],
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const view = readSession(store, input.args['session']!);
    const only = input.options['conversation'] as string | undefined;
    const selected = treeOrder(view.conversations).filter(
      (c) => only === undefined || c.row.id === only || c.row.id.startsWith(only) || c.row.agent === only,
    );
    if (only !== undefined && selected.length === 0) {
      throw new UserError('E_USAGE', `session ${view.session.id} has no conversation '${only}'`, {
        hint: `Its conversations: ${view.conversations.map((c) => `${c.row.agent} (${c.row.id})`).join(', ')}`,
      });
    }
    const last = input.options['last'] as number | undefined;
    if (ctx.output.json) {
      const entries = entriesJson({ ...view, entries: selected.flatMap((c) => c.entries) });
      return {
        exitCode: EXIT.ok,
        json: {
          session: view.session.id,
          frames: frameTree(view.conversations),
          conversations: selected.map((c) => ({
            id: c.row.id,
            agent: c.row.agent,
            phase: c.phase,
            parent: c.row.parent,
            depth: c.row.depth,
          })),
          entries: last === undefined ? entries : entries.slice(-last),
        },
      };
    }
    const out = ctx.output;
    const c = out.color;
    out.line(
      paint(c, 'bold', 'Frame stack') + paint(c, 'gray', '  (delegations; ▶ marks frames that are working now)'),
    );
    for (const conv of treeOrder(view.conversations)) {
      const active = conv.phase === 'ready' || conv.phase === 'waiting';
      out.line(
        `${'  '.repeat(conv.row.depth + 1)}${active ? paint(c, 'yellow', '▶ ') : '  '}${conv.row.agent} ${paint(c, 'gray', conv.row.id)} ${colourPhase(c, conv.phase)}${conv.outstanding.length > 0 ? paint(c, 'gray', ` waiting on ${conv.outstanding.length}`) : ''}`,
      );
    }
    for (const conv of selected) {
      out.line('');
      out.line(
        `${paint(c, 'bold', conv.row.agent)} ${paint(c, 'gray', `${conv.row.id} · ${conv.row.path}`)} ${colourPhase(c, conv.phase)}`,
      );
      const shown = last === undefined ? conv.entries : conv.entries.slice(-last);
      const offset = conv.entries.length - shown.length;
      const rows = shown.map((e, i) => [
        `#${offset + i}`,
        paint(c, 'gray', `seq ${e.seq}`),
        kindLabel(c, e.kind),
        truncate(describeEntry(e), 90),
      ]);
      for (const line of table(rows)) out.line(`  ${line}`);
    }
    return { exitCode: EXIT.ok };
  },
};

const watch: Command = {
  path: ['session', 'watch'],
  summary: 'Follow a session live, from any process (history first, then new steps as they are committed)',
  args: [{ name: 'session', description: 'Session id, unique prefix, or "last"', required: true }],
  options: [
    { name: 'from', type: 'number', value: '<seq>', description: 'Start after this seq instead of from the beginning' },
    {
      name: 'until-done',
      type: 'boolean',
      description: 'Exit when the session is finished, failed, cancelled or waiting for an answer',
    },
    { name: 'verbose', type: 'boolean', short: 'v', description: 'Also show model calls, waits and status changes' },
  ],
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const bus = await ctx.bus();
    const session = store.sessions.resolve(input.args['session']!);
    const verbose = input.options['verbose'] === true;
    const printer = new EventPrinter(
      bus,
      store,
      ctx.output,
      session.id,
      (input.options['from'] as number | undefined) ?? 0,
      { verbose, statusLines: true },
    );
    const untilDone = input.options['until-done'] === true;
    let status: SessionStatus = session.status;
    let orphaned = false;
    while (!ctx.signal.aborted) {
      await ctx.clock.sleep(200);
      status = store.sessions.require(session.id).status;
      if (
        untilDone &&
        status !== 'running' &&
        (status !== 'paused' || !drivenElsewhere(store, session.id, ctx.clock.now()))
      )
        break;
      // A running session whose driver is gone will not move until someone resumes it: say so instead of waiting.
      const driverGone = status === 'running' && !drivenElsewhere(store, session.id, ctx.clock.now());
      if (driverGone && !orphaned) {
        orphaned = true;
        await printer.drain();
        ctx.output.warn(
          paint(
            ctx.output.color,
            'yellow',
            `No process drives session ${session.id} now. Continue it with: p2tui session resume ${session.id}`,
          ),
        );
        if (untilDone) break;
      }
      if (!driverGone) orphaned = false;
    }
    await printer.stop();
    const exitCode = ctx.signal.aborted ? EXIT.ok : orphaned ? EXIT.failed : exitFor(status);
    return { exitCode, json: { session: session.id, status, driven: !orphaned } };
  },
};

const resume: Command = {
  path: ['session', 'resume'],
  summary: 'Continue a session from its last commit (after a crash, a pause, a failure or an exhausted budget)',
  details:
    'Takes the session over if no live process drives it, settles what an interrupted run left (pure tools run again; an effectful call that had ' +
    'started is reconciled or settled as unknown, never run twice), retries a failed model call, and follows it until it rests. ' +
    'Without a session id, continues every session whose driver is gone.',
  args: [
    {
      name: 'session',
      description: 'Session id, unique prefix, or "last" (omit to adopt every orphaned session)',
      required: false,
    },
  ],
  options: [
    { name: 'max-steps', type: 'number', value: '<n>', description: 'Raise the step budget' },
    {
      name: 'approval',
      type: 'string',
      choices: ['deny', 'approve', 'ask'],
      description: "How agents' questions are answered from now on when nobody is at a terminal",
    },
    { name: 'verbose', type: 'boolean', short: 'v', description: 'Also show model calls, waits and status changes' },
  ],
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const ref = input.args['session'];
    if (ref === undefined) {
      const { adopted, failed } = await engine.adoptOrphans();
      const results: { session: string; status: string; error?: string }[] = [];
      for (const runtime of adopted) {
        const status = await runtime.idle();
        results.push({
          session: runtime.id,
          status: runtime.error === undefined ? status : 'stopped',
          ...(runtime.error === undefined ? {} : { error: runtime.error.message }),
        });
      }
      for (const { session, error } of failed)
        results.push({ session, status: 'not resumed', error: messageOf(error) });
      if (!ctx.output.json) {
        for (const r of results)
          ctx.output.line(`${r.session}: ${r.status}${r.error === undefined ? '' : ` (${r.error})`}`);
        if (results.length === 0) ctx.output.line('No orphaned sessions: every unfinished session has a live driver.');
      }
      const ok = results.every((r) => r.status === 'finished' || r.status === 'waiting' || r.status === 'paused');
      return { exitCode: ok ? EXIT.ok : EXIT.failed, json: results };
    }
    const session = engine.store.sessions.resolve(ref);
    if (drivenElsewhere(engine.store, session.id, ctx.clock.now(), engine) && session.status === 'paused') {
      return control(ctx, engine, session.id, { action: 'resume' }, 'running');
    }
    const fromSeq = engine.store.log.lastSeq();
    const { maxSteps, approval } = sessionOverrides(input);
    const runtime = await engine.attach(session.id, {
      retryFailed: true,
      ...(maxSteps === undefined ? {} : { maxSteps }),
      ...(approval === undefined ? {} : { approval }),
    });
    if (runtime.currentStatus === 'cancelled')
      throw new UserError('E_SESSION_STATE', `session ${session.id} was cancelled and cannot be resumed`, {
        hint: 'Start a new session.',
      });
    runtime.resume();
    return finishRun(ctx, runtime, fromSeq, input.options['verbose'] === true);
  },
};

const cancel: Command = {
  path: ['session', 'cancel'],
  summary: 'Cancel a session: stop its steps and calls, from any process',
  args: [{ name: 'session', description: 'Session id, unique prefix, or "last"', required: true }],
  options: [],
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const session = engine.store.sessions.resolve(input.args['session']!);
    if (session.status === 'cancelled' || session.status === 'finished') {
      if (!ctx.output.json) ctx.output.line(`session ${session.id} is already ${session.status}; nothing to cancel`);
      return { exitCode: EXIT.ok, json: { session: session.id, status: session.status } };
    }
    if (drivenElsewhere(engine.store, session.id, ctx.clock.now(), engine))
      return control(ctx, engine, session.id, { action: 'cancel' }, 'cancelled');
    const runtime = await engine.attach(session.id);
    await runtime.cancel('cancelled by the user');
    if (!ctx.output.json) ctx.output.line(`session ${session.id} cancelled`);
    return { exitCode: EXIT.ok, json: { session: session.id, status: 'cancelled' } };
  },
};

const pause: Command = {
  path: ['session', 'pause'],
  summary: 'Pause a session: running steps finish, no new ones start until resume',
  args: [{ name: 'session', description: 'Session id, unique prefix, or "last"', required: true }],
  options: [],
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const session = engine.store.sessions.resolve(input.args['session']!);
    if (drivenElsewhere(engine.store, session.id, ctx.clock.now(), engine))
      return control(ctx, engine, session.id, { action: 'pause' }, 'paused');
    if (session.status !== 'running' && session.status !== 'waiting') {
      throw new UserError(
        'E_SESSION_STATE',
        `session ${session.id} is ${session.status}; only a running or waiting session can be paused`,
      );
    }
    // Nobody drives it: mark it paused, so that nothing (an adopting process included) continues it before a resume.
    const now = ctx.clock.now();
    engine.store.write(() => {
      engine.store.sessions.setStatus(session.id, 'paused', 'paused by the user', now);
      engine.store.append(
        {
          type: 'session.status',
          payload: { status: 'paused', reason: 'paused by the user' },
          session: session.id,
          branch: session.headBranch,
          conversation: null,
        },
        now,
      );
    });
    if (!ctx.output.json)
      ctx.output.line(`session ${session.id} paused; continue with: p2tui session resume ${session.id}`);
    return { exitCode: EXIT.ok, json: { session: session.id, status: 'paused' } };
  },
};

const respond: Command = {
  path: ['session', 'respond'],
  summary: "Answer an agent's question (the session continues where it waited)",
  args: [
    { name: 'session', description: 'Session id, unique prefix, or "last"', required: true },
    { name: 'answer', description: 'Your answer', required: true, rest: true },
  ],
  options: [
    {
      name: 'call',
      type: 'string',
      value: '<call-id>',
      description: 'Which question, when several are open (see session show)',
    },
  ],
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const view = readSession(engine.store, input.args['session']!);
    const id = view.session.id;
    const callId = (input.options['call'] as string | undefined) ?? onlyQuestion(view.questions, id);
    if (!view.questions.some((q) => q.callId === callId)) {
      throw new UserError('E_SESSION_STATE', `session ${id} has no open question '${callId}'`, {
        hint: `Open questions: ${view.questions.map((q) => q.callId).join(', ') || 'none'}`,
      });
    }
    const answer = input.args['answer']!;
    if (drivenElsewhere(engine.store, id, ctx.clock.now(), engine))
      return control(ctx, engine, id, { action: 'respond', callId, text: answer }, 'running');
    const fromSeq = engine.store.log.lastSeq();
    const runtime = await engine.attach(id);
    await runtime.respond(callId, answer);
    return finishRun(ctx, runtime, fromSeq, false);
  },
};

function onlyQuestion(questions: readonly { callId: string }[], session: string): string {
  if (questions.length === 1) return questions[0]!.callId;
  if (questions.length === 0) throw new UserError('E_SESSION_STATE', `session ${session} is not waiting for an answer`);
  throw new UserError('E_USAGE', `session ${session} has ${questions.length} open questions; say which with --call`, {
    hint: `p2tui session show ${session}`,
  });
}

/** Whether another live process holds the session's lease (this process's engine, if given, does not count). */
function drivenElsewhere(store: Store, session: string, now: number, engine?: Engine): boolean {
  if (engine?.get(session) !== undefined) return false;
  return isHolderAlive(store.leases.holder(session), now);
}

/** Asks the process driving a session to do something, through the log, and waits until it shows. */
async function control(
  ctx: CommandContext,
  engine: Engine,
  session: string,
  request: { action: 'cancel' | 'pause' | 'resume' } | { action: 'respond'; callId: string; text: string },
  expect: SessionStatus,
): Promise<{ exitCode: number; json: JsonValue }> {
  const holder = engine.store.leases.holder(session);
  const from = `${hostname()}:${process.pid}`;
  const now = ctx.clock.now();
  const seq = engine.store.write(
    () =>
      engine.store.append(
        { type: 'session.control', payload: { ...request, from }, session, branch: null, conversation: null },
        now,
      ).seq,
  );
  const deadline = ctx.clock.now() + 10_000;
  let status = engine.store.sessions.require(session).status;
  while (ctx.clock.now() < deadline) {
    await ctx.clock.sleep(100);
    status = engine.store.sessions.require(session).status;
    // An answer shows as the question's response entry, or (for a tool call waiting for approval) as its decision.
    const answered =
      request.action !== 'respond' ||
      engine.store.log
        .read(seq, { session, kinds: ['user_response'] }, 50)
        .some((e) => e.kind === 'user_response' && e.payload.callId === request.callId) ||
      engine.store.log
        .read(seq, { session, types: ['approval.decided'] }, 50)
        .some((e) => e.type === 'approval.decided' && e.payload.callId === request.callId);
    if ((request.action === 'respond' && answered) || status === expect) break;
  }
  if (!ctx.output.json)
    ctx.output.line(
      `asked pid ${holder?.pid ?? '?'} (which drives session ${session}) to ${request.action}; the session is now ${status}`,
    );
  return { exitCode: EXIT.ok, json: { session, requested: request.action, status } };
}

function frameTree(conversations: readonly ConversationView[]): JsonValue {
  const build = (parent: string | null): JsonValue[] =>
    conversations
      .filter((c) => c.row.parent === parent)
      .map((c) => ({
        conversation: c.row.id,
        agent: c.row.agent,
        phase: c.phase,
        active: c.phase === 'ready' || c.phase === 'waiting',
        children: build(c.row.id),
      }));
  return build(null);
}

function kindLabel(color: boolean, kind: Entry['kind']): string {
  const style =
    kind === 'failed'
      ? 'red'
      : kind === 'finished'
        ? 'green'
        : kind.endsWith('_call') || kind === 'user_input_request'
          ? 'cyan'
          : kind === 'waiting'
            ? 'gray'
            : 'blue';
  return paint(color, style, kind);
}

export function colourStatus(color: boolean, status: SessionStatus): string {
  const style =
    status === 'finished'
      ? 'green'
      : status === 'failed' || status === 'cancelled'
        ? 'red'
        : status === 'waiting' || status === 'paused'
          ? 'yellow'
          : 'cyan';
  return paint(color, style, status);
}

function colourPhase(color: boolean, phase: string): string {
  const style = phase === 'finished' ? 'green' : phase === 'failed' ? 'red' : phase === 'waiting' ? 'yellow' : 'cyan';
  return paint(color, style, phase);
}

export const sessionCommands: readonly Command[] = [
  list,
  show,
  stack,
  watch,
  resume,
  cancel,
  pause,
  respond,
  replayCommand,
];
