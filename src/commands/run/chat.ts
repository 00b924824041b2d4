import { UserError } from '../../core/errors.ts';
import type { SessionRuntime } from '../../engine/session/runtime.ts';
import { defineCommand } from '../define.ts';
import { formatCost, paint, plural } from '../render/text.ts';
import { readSession } from '../../engine/session-view.ts';
import { OVERRIDE_OPTIONS, OVERRIDES_DETAILS } from '../overrides.ts';
import { REPLAY_OPTIONS, SESSION_OPTIONS, continuing, replayOverrides } from '../shared.ts';
import { startSettings } from './start-settings.ts';
import { EXIT } from '../types.ts';
import { EventPrinter, driveUntilIdle } from './follow.ts';

const HELP = [
  '/exit or Ctrl-D   leave (the session stays in the store)',
  '/retry            try again what failed in a resumable way (a provider error, a timeout, the step budget)',
  '/status           tokens, cost and the session id',
  '/help             this list',
];

export const chatCommand = defineCommand({
  path: ['chat'],
  summary: 'Talk with an agent turn by turn',
  details:
    'A conversation at the terminal: each of your lines is a message to the agent; tool calls and delegations are shown as they happen, ' +
    "the agent's reply streams in, and its questions are asked in place. Continue an earlier session with --session. " +
    OVERRIDES_DETAILS,
  args: {
    agent: { description: 'The persona to talk to (not needed with --session)' },
  },
  options: {
    ...SESSION_OPTIONS,
    ...OVERRIDE_OPTIONS,
    ...REPLAY_OPTIONS,
    session: {
      type: 'string',
      value: '<id>',
      description: 'Continue this session (an id, a unique prefix, or "last")',
    },
    verbose: { type: 'boolean', short: 'v', description: 'Also show model calls, waits and status changes' },
  },
  examples: [
    'p2tui chat agent_alpha',
    'p2tui chat --session last',
    'p2tui chat lead --temperature 0.2 --temperature writer=0.9',
  ],
  async run(ctx, input) {
    const out = ctx.output;
    const replayed = await replayOverrides(input.options, ctx);
    const app = await ctx.app(
      replayed.replay === undefined ? await continuing(ctx, input.options.session) : { replay: replayed.replay },
    );
    const { engine } = app;
    // A long-lived process: continue sessions whose driver died (their events are not printed here).
    void engine.adoptOrphans().catch(() => undefined);
    const sessionRef = input.options.session;
    const { verbose } = input.options;
    let runtime: SessionRuntime | undefined;
    let printer: EventPrinter | undefined;
    let agent = input.args.agent;
    if (sessionRef !== undefined) {
      runtime = await engine.attach(sessionRef);
      agent = runtime.session.agent;
      printer = new EventPrinter(engine.bus, engine.store, out, runtime.id, engine.store.log.lastSeq(), {
        echoUser: false,
        verbose,
      });
    }
    if (agent === undefined) {
      throw new UserError('E_USAGE', 'chat needs an agent, or --session to continue one', {
        hint: 'p2tui chat agent_alpha',
      });
    }
    const persona = app.workspace.persona(agent);
    const { options, overrides } = await startSettings(engine, input.options, replayed);
    const model = overrides?.personas?.[persona.id]?.model ?? options.model ?? persona.model;
    out.line(
      paint(
        out.color,
        'gray',
        `chatting with ${persona.id} on ${model}${model.startsWith('scripted/') ? ' (simulator)' : ''} — /help for commands, /exit to leave`,
      ),
    );
    /** Follows the session until it rests, answering its questions here; false when the chat should end. */
    const follow = async (): Promise<boolean> => {
      const status = await driveUntilIdle(runtime!, printer!, out, ctx.signal, { answerQuestions: true });
      if (status === 'interrupted') {
        out.line(paint(out.color, 'yellow', `Stopped. Continue with: p2tui chat --session ${runtime!.id}`));
        interrupted = true;
        return false;
      }
      if (runtime!.error !== undefined) throw runtime!.error;
      if (status === 'waiting') {
        out.line(
          paint(
            out.color,
            'yellow',
            `The session waits for an answer: p2tui session respond ${runtime!.id} "<answer>"`,
          ),
        );
        return false;
      }
      if (status === 'failed')
        out.line(
          paint(out.color, 'red', 'Something failed (see above): /retry to try again, or send another message.'),
        );
      if (status === 'cancelled') {
        out.line(paint(out.color, 'red', 'The session was cancelled.'));
        return false;
      }
      return true;
    };
    /**
     * Sends a message. The chat asks only once the session rests, so a session busy now (running, or paused on its
     * way to running) is something else's work: a score policy retrying the last answer, say. The message then waits
     * for that work, shown as it happens, and is answered after it, on the branch the session went on with.
     */
    const sendWhenAtRest = async (to: SessionRuntime, text: string): Promise<'sent' | 'refused' | 'ended'> => {
      while (true) {
        try {
          await to.send(text);
          return 'sent';
        } catch (error) {
          if (!(error instanceof UserError && error.code === 'E_CONVERSATION_BUSY')) throw error;
          if (to.currentStatus !== 'running' && to.currentStatus !== 'paused') {
            out.line(paint(out.color, 'yellow', `${error.message}; /retry resumes what failed.`));
            return 'refused';
          }
          out.line(paint(out.color, 'gray', 'your message waits until the session has answered again (above)'));
          if (!(await follow())) return 'ended';
        }
      }
    };
    let interrupted = false;
    try {
      // A session continued with --session may be in the middle of something, or waiting for an answer.
      if (runtime !== undefined && !(await follow()))
        return { exitCode: interrupted ? EXIT.interrupted : EXIT.ok, json: { session: runtime.id } };
      while (!ctx.signal.aborted) {
        const text = await out.ask(paint(out.color, 'bold', 'you› '));
        if (text === undefined) break;
        const trimmed = text.trim();
        if (trimmed === '') continue;
        if (trimmed === '/exit' || trimmed === '/quit') break;
        if (trimmed === '/help') {
          for (const line of HELP) out.line(line);
          continue;
        }
        if (trimmed === '/retry') {
          const count = runtime?.retry() ?? 0;
          if (count === 0) out.line('nothing to retry');
          else if (!(await follow())) break;
          continue;
        }
        if (trimmed === '/status') {
          if (runtime === undefined) out.line('no session yet: say something first');
          else {
            const view = readSession(engine.store, runtime.id);
            const u = view.usage.total;
            const usage = `${plural(u.calls, 'model call')} · ${u.tokensIn + u.tokensOut} tokens`;
            out.line(
              `session ${runtime.id} · ${view.session.status} · ${usage} · ${formatCost(u.costUsd, view.simulated)}`,
            );
          }
          continue;
        }
        if (runtime === undefined) {
          const fromSeq = engine.store.log.lastSeq();
          runtime = engine.start({
            agent: persona.id,
            message: text,
            source: 'chat',
            options,
            ...(overrides === undefined ? {} : { overrides }),
          });
          printer = new EventPrinter(engine.bus, engine.store, out, runtime.id, fromSeq, {
            echoUser: false,
            verbose,
          });
        } else {
          const sent = await sendWhenAtRest(runtime, text);
          if (sent === 'refused') continue;
          if (sent === 'ended') break;
        }
        if (!(await follow())) break;
      }
    } finally {
      await printer?.stop();
      runtime?.detach();
    }
    if (interrupted) return { exitCode: EXIT.interrupted, json: { session: runtime?.id ?? null } };
    if (runtime !== undefined)
      out.line(
        paint(out.color, 'gray', `session ${runtime.id} saved; continue with: p2tui chat --session ${runtime.id}`),
      );
    return { exitCode: EXIT.ok, ...(runtime === undefined ? {} : { json: { session: runtime.id } }) };
  },
});
