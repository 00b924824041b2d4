import type { SessionStatus } from '../../core/events.ts';
import { UserError } from '../../core/errors.ts';
import type { SessionRuntime } from '../../engine/session/runtime.ts';
import { skippedInReplay, type TargetScore } from '../../judge/aggregate.ts';
import { defineCommand } from '../define.ts';
import { formatCost, paint, plural } from '../render/text.ts';
import { entriesJson, readSession, sessionJson } from '../../engine/session-view.ts';
import { OVERRIDE_OPTIONS, OVERRIDES_DETAILS } from '../overrides.ts';
import { REPLAY_OPTIONS, SESSION_OPTIONS, replayOverrides } from '../shared.ts';
import { startSettings } from './start-settings.ts';
import { EXIT, type CommandContext, type CommandResult } from '../types.ts';
import { EventPrinter, driveUntilIdle } from './follow.ts';
import { terminalText } from '../../core/terminal-text.ts';

export const runCommand = defineCommand({
  path: ['run'],
  summary: 'Run an agent on one message until it answers',
  details:
    'Starts a session, prints each step as it happens (delegations indented under their caller) and exits when the root agent answers. ' +
    'With a terminal, questions from agents are asked here; without one they are answered by the approval policy, or, with approval "ask", ' +
    'the run exits with code 4 and the session waits for `p2tui session respond`. ' +
    OVERRIDES_DETAILS,
  args: {
    agent: { description: 'The persona to talk to (see p2tui agents list)', required: true },
    message: { description: 'What to ask it', required: true, rest: true },
  },
  options: {
    ...SESSION_OPTIONS,
    ...OVERRIDE_OPTIONS,
    ...REPLAY_OPTIONS,
    verbose: { type: 'boolean', short: 'v', description: 'Also show model calls, waits and status changes' },
    'skip-judge': {
      type: 'boolean',
      description:
        "Exit without waiting for the judge's scores (its jobs stay queued for eval run or the next p2tui process)",
    },
  },
  examples: [
    'p2tui run agent_alpha "What\'s the weather in Paris and who leads the Premier League?"',
    'p2tui run agent_helper "weather in Tokyo" --json',
    'p2tui run lead "write the report" --temperature 0.2 --temperature writer=0.9 --model writer=scripted/default',
  ],
  async run(ctx, input) {
    const { agent, message } = input.args;
    if (message.trim() === '')
      throw new UserError('E_USAGE', 'the message is empty', { hint: 'p2tui run <agent> "<message>"' });
    const replayed = await replayOverrides(input.options, ctx);
    const app = await ctx.app(replayed.replay === undefined ? {} : { replay: replayed.replay });
    const { engine } = app;
    const { options, overrides } = await startSettings(engine, input.options, replayed);
    const fromSeq = engine.store.log.lastSeq();
    const runtime = engine.start({
      agent,
      message,
      source: 'run',
      options,
      ...(overrides === undefined ? {} : { overrides }),
    });
    return finishRun(ctx, runtime, fromSeq, input.options.verbose, !input.options['skip-judge']);
  },
});

/** The judge's verdicts on a session's checked-out branch, once its jobs are done (the agents never waited). */
async function judgeSession(ctx: CommandContext, sessionId: string, branch: string): Promise<TargetScore[]> {
  const { latestTargetScores } = await import('../../judge/aggregate.ts');
  const app = await ctx.app();
  const { engine } = app;
  // The judge here may have finished already; either way, what counts is the newest verdict per target.
  await app.judge.drain(sessionId, ctx.signal);
  return latestTargetScores(engine.store.scores.scores({ session: sessionId, branch }));
}

/** Follows a session this process drives until it rests, then reports; shared by run and session resume. */
export async function finishRun(
  ctx: CommandContext,
  first: SessionRuntime,
  fromSeq: number,
  verbose: boolean,
  waitForJudge = true,
): Promise<CommandResult> {
  const app = await ctx.app();
  const { engine } = app;
  const out = ctx.output;
  if (!out.json) out.line(paint(out.color, 'gray', `session ${first.id}`));
  let runtime = first;
  let from = fromSeq;
  let status: SessionStatus | 'interrupted';
  let scores: TargetScore[] = [];
  let policyLines: string[] = [];
  // A score policy may retry the branch after the judge has spoken: follow the new branch too (a few times at most).
  for (let round = 0; ; round++) {
    const printer = new EventPrinter(engine.bus, engine.store, out, runtime.id, from, { verbose });
    status = await driveUntilIdle(runtime, printer, out, ctx.signal);
    await printer.stop();
    if (runtime.error !== undefined) throw runtime.error;
    if (!waitForJudge || status === 'interrupted') break;
    const branch = engine.store.sessions.require(runtime.id).headBranch;
    const seen = engine.store.log.lastSeq();
    scores = await judgeSession(ctx, runtime.id, branch);
    await app.policies.settled(runtime.id);
    await app.arbiter.settled();
    policyLines = engine.store.log.read(seen, { session: runtime.id }, 100).flatMap((e) => {
      if (e.type === 'policy.acted') return [`policy ${e.payload.policy} · ${e.payload.text}`];
      if (e.type !== 'escrow.settled') return [];
      const escrow = e.payload;
      const release = escrow.outcome === 'release';
      const outcome = release
        ? `paid ${escrow.amount} to ${escrow.payee}`
        : `refunded ${escrow.amount} (not paid to ${escrow.payee})`;
      const threshold = `${release ? '≥' : '<'} ${escrow.threshold}`;
      return [`escrow · ${outcome}: ${escrow.evaluator} ${escrow.value.toFixed(2)} ${threshold}`];
    });
    const retried =
      engine.store.sessions.require(runtime.id).headBranch !== branch ? engine.get(runtime.id) : undefined;
    if (retried === undefined || round >= 4 || ctx.signal.aborted) break;
    if (!out.json) {
      printScores(out, runtime.id, scores);
      for (const line of policyLines.splice(0)) out.line(paint(out.color, 'magenta', terminalText(line)));
    }
    runtime = retried;
    from = engine.store.log.lastSeq();
  }
  const view = readSession(engine.store, runtime.id);
  if (out.json) {
    return {
      exitCode: exitFor(status),
      json: {
        ...sessionJson(view),
        status: status === 'interrupted' ? 'interrupted' : view.session.status,
        entries: entriesJson(view),
        scores: scores.map((t) => ({
          target: { kind: t.targetKind, id: t.targetId },
          evaluator: t.evaluator,
          value: t.mean,
          samples: t.samples,
          judge: t.model,
        })),
      },
    };
  }
  const usage = view.usage.total;
  const footer = `${plural(usage.calls, 'model call')} · ${usage.tokensIn + usage.tokensOut} tokens · ${formatCost(usage.costUsd, view.simulated)}`;
  switch (status) {
    case 'finished':
      out.line(paint(out.color, 'gray', `✓ finished · ${footer}`));
      break;
    case 'waiting':
      for (const q of view.questions) out.line(`${q.agent} asks: ${terminalText(q.question)}`);
      out.line(
        paint(
          out.color,
          'yellow',
          `The session waits for an answer. Answer with: p2tui session respond ${runtime.id} "<answer>"`,
        ),
      );
      break;
    case 'interrupted':
      out.line(
        paint(
          out.color,
          'yellow',
          `Stopped. Nothing committed is lost; continue with: p2tui session resume ${runtime.id}`,
        ),
      );
      break;
    case 'failed':
      out.line(
        paint(
          out.color,
          'red',
          `✗ failed${view.session.statusReason === null ? '' : `: ${terminalText(view.session.statusReason)}`} · ${footer}`,
        ),
      );
      // A failure nothing retries (an internal error, a refused delegation) is not resumable: say what is.
      if ([...runtime.projection.values()].some((c) => c.state.phase === 'failed' && c.state.retryable))
        out.line(`Resume with: p2tui session resume ${runtime.id}`);
      else
        out.line(
          `It cannot be resumed: send it a new message (p2tui chat --session ${runtime.id}) or start a new session.`,
        );
      break;
    default:
      out.line(paint(out.color, 'gray', `session ${status} · ${footer}`));
  }
  printScores(out, runtime.id, scores);
  for (const line of policyLines) out.line(paint(out.color, 'magenta', terminalText(line)));
  return { exitCode: exitFor(status) };
}

function printScores(out: CommandContext['output'], session: string, scores: readonly TargetScore[]): void {
  if (scores.length === 0) return;
  const parts = scores.map((t) => {
    const value = skippedInReplay(t)
      ? 'not judged (replay without a recorded verdict)'
      : t.mean === null
        ? 'judge failed'
        : t.mean.toFixed(2);
    return `${t.evaluator} ${value}${t.model === 'scripted/judge' ? ' (scripted judge)' : ''}`;
  });
  out.line(paint(out.color, 'cyan', `judge · ${parts.join(' · ')}   (details: p2tui eval show ${session} --criteria)`));
}

export function exitFor(status: SessionStatus | 'interrupted'): number {
  switch (status) {
    case 'finished':
      return EXIT.ok;
    case 'waiting':
      return EXIT.waiting;
    case 'interrupted':
      return EXIT.interrupted;
    default:
      return EXIT.failed;
  }
}
