import { hostname } from 'node:os';
import type { SessionStatus } from '../../core/events.ts';
import { UserError, messageOf } from '../../core/errors.ts';
import type { JsonValue } from '../../core/json.ts';
import type { Engine } from '../../engine/engine.ts';
import { isHolderAlive } from '../../store/leases.ts';
import type { Store } from '../../store/store.ts';
import { defineCommand } from '../define.ts';
import { paint } from '../render/text.ts';
import { EventPrinter } from '../run/follow.ts';
import { exitFor, finishRun } from '../run/run.ts';
import { SESSION_ARG, SESSION_OPTIONS, continuing } from '../shared.ts';
import { EXIT, type CommandContext } from '../types.ts';
import { readSession } from '../../engine/session-view.ts';
import { terminalText } from '../../core/terminal-text.ts';

/**
 * Driving a session from any terminal: follow it, resume it, cancel, pause, answer its questions. When another live
 * process drives it, the request goes to that process through the log.
 */

export const watchCommand = defineCommand({
  path: ['session', 'watch'],
  summary: 'Follow a session live, from any process (history first, then new steps as they are committed)',
  args: {
    session: SESSION_ARG,
  },
  options: {
    from: {
      type: 'number',
      integer: true,
      min: 0,
      value: '<seq>',
      description: 'Start after this seq instead of from the beginning',
    },
    'until-done': {
      type: 'boolean',
      description: 'Exit when the session is finished, failed, cancelled or waiting for an answer',
    },
    verbose: { type: 'boolean', short: 'v', description: 'Also show model calls, waits and status changes' },
  },
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const bus = await ctx.bus();
    const session = store.sessions.resolve(input.args.session);
    const verbose = input.options.verbose;
    const printer = new EventPrinter(bus, store, ctx.output, session.id, input.options.from ?? 0, {
      verbose,
      statusLines: true,
    });
    const untilDone = input.options['until-done'];
    let status: SessionStatus = session.status;
    let orphaned = false;
    while (!ctx.signal.aborted) {
      await ctx.clock.sleep(200);
      if (printer.failed !== undefined) break;
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
});

export const resumeCommand = defineCommand({
  path: ['session', 'resume'],
  summary: 'Continue a session from its last commit (after a crash, a pause, a failure or an exhausted budget)',
  details:
    'Takes the session over if no live process drives it, settles what an interrupted run left (pure tools run again; an effectful call that had ' +
    'started is reconciled or settled as unknown, never run twice), retries a failed model call, and follows it until it rests. ' +
    'Without a session id, continues every session whose driver is gone.',
  args: {
    session: { description: 'Session id, unique prefix, or "last" (omit to adopt every orphaned session)' },
  },
  options: {
    'max-steps': { ...SESSION_OPTIONS['max-steps'], description: 'Raise the step budget' },
    approval: {
      type: 'string',
      choices: ['deny', 'approve', 'ask'],
      description: "How agents' questions are answered from now on when nobody is at a terminal",
    },
    verbose: { type: 'boolean', short: 'v', description: 'Also show model calls, waits and status changes' },
  },
  async run(ctx, input) {
    const app = await ctx.app(await continuing(ctx, input.args.session));
    const { engine } = app;
    const ref = input.args.session;
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
          ctx.output.line(`${r.session}: ${r.status}${r.error === undefined ? '' : ` (${terminalText(r.error)})`}`);
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
    const maxSteps = input.options['max-steps'];
    const { approval } = input.options;
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
    return finishRun(ctx, runtime, fromSeq, input.options.verbose);
  },
});

export const cancelCommand = defineCommand({
  path: ['session', 'cancel'],
  summary: 'Cancel a session: stop its steps and calls, from any process',
  args: {
    session: SESSION_ARG,
  },
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const session = engine.store.sessions.resolve(input.args.session);
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
});

export const pauseCommand = defineCommand({
  path: ['session', 'pause'],
  summary: 'Pause a session: running steps finish, no new ones start until resume',
  args: {
    session: SESSION_ARG,
  },
  async run(ctx, input) {
    const app = await ctx.app();
    const { engine } = app;
    const session = engine.store.sessions.resolve(input.args.session);
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
});

export const respondCommand = defineCommand({
  path: ['session', 'respond'],
  summary: "Answer an agent's question (the session continues where it waited)",
  args: {
    session: SESSION_ARG,
    answer: { description: 'Your answer', required: true, rest: true },
  },
  options: {
    call: {
      type: 'string',
      value: '<call-id>',
      description: 'Which question, when several are open (see session show)',
    },
  },
  async run(ctx, input) {
    const app = await ctx.app(await continuing(ctx, input.args.session));
    const { engine } = app;
    const view = readSession(engine.store, input.args.session);
    const id = view.session.id;
    const callId = input.options.call ?? onlyQuestion(view.questions, id);
    if (!view.questions.some((q) => q.callId === callId)) {
      throw new UserError('E_SESSION_STATE', `session ${id} has no open question '${callId}'`, {
        hint: `Open questions: ${view.questions.map((q) => q.callId).join(', ') || 'none'}`,
      });
    }
    const answer = input.args.answer;
    if (drivenElsewhere(engine.store, id, ctx.clock.now(), engine))
      return control(ctx, engine, id, { action: 'respond', callId, text: answer }, 'running');
    const fromSeq = engine.store.log.lastSeq();
    const runtime = await engine.attach(id);
    await runtime.respond(callId, answer);
    return finishRun(ctx, runtime, fromSeq, false);
  },
});

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
