import { UserError } from '../../core/errors.ts';
// Pure (the core only): comparableSession is called synchronously (by the replay tests).
import { compareConversations, withPaths, type ComparableConversation, type Comparison } from '../../engine/replay.ts';
import type { Store } from '../../store/store.ts';
import { defineCommand } from '../define.ts';
import { paint } from '../render/text.ts';
import { EventPrinter, driveUntilIdle } from '../run/follow.ts';
import { exitFor } from '../run/run.ts';
import { REPLAY_OPTIONS, SESSION_ARG } from '../shared.ts';
import { EXIT } from '../types.ts';
import { readSession } from './view.ts';
import { terminalText } from '../../core/terminal-text.ts';

/** A session's conversations in comparable form: ids of conversations, model calls and entries as their places. */
export function comparableSession(store: Store, session: string): ComparableConversation[] {
  const view = readSession(store, session);
  const paths = new Map(view.conversations.map((c) => [c.row.id, c.row.path]));
  for (const call of store.calls.modelCalls({ session }))
    paths.set(call.id, `${paths.get(call.conversation) ?? call.conversation} model call ${call.ordinal}`);
  // Idempotency keys are the ids of their tool_call entries: compared by place (conversation and position).
  for (const c of view.conversations) c.entries.forEach((e, i) => paths.set(e.id, `${c.row.path} entry ${i + 1}`));
  return view.conversations.map((c) => ({
    path: c.row.path,
    entries: c.entries.map((e) => ({ kind: e.kind, payload: withPaths(e.payload, paths) })),
  }));
}

export const replayCommand = defineCommand({
  path: ['session', 'replay'],
  summary: 'Replay a session from its recordings (no network, no effects) and check it reproduces every entry',
  details:
    'Starts a new session with the same agent, messages and options, serving every model call, tool result and answer from the recorded ' +
    'session (model calls matched by conversation path and ordinal and checked by request hash), then compares the two, conversation by ' +
    'conversation. Exits 1 when they differ or a call had no recording.',
  args: {
    session: { ...SESSION_ARG, description: 'The recorded session: id, unique prefix, or "last"' },
  },
  options: {
    'on-miss': REPLAY_OPTIONS['on-miss'],
    verbose: { type: 'boolean', short: 'v', description: 'Also show model calls, waits and status changes' },
  },
  examples: ['p2tui session replay last', 'p2tui session replay s_1a2b --json'],
  async run(ctx, input) {
    const onMiss = input.options['on-miss'] ?? 'fail';
    // Known before the workspace loads: the replay's MCP tools come from the recording, not from the servers.
    const source = (await ctx.store({ existing: true })).sessions.resolve(input.args.session);
    const app = await ctx.app({ replay: { from: source.id, onMiss } });
    const { engine } = app;
    const out = ctx.output;
    const original = readSession(engine.store, source.id);
    const root = original.conversations.find((c) => c.row.id === source.rootConversation);
    const messages = (root?.entries ?? []).flatMap((e) => (e.kind === 'user_message' ? [e.payload.text] : []));
    if (messages.length === 0) throw new UserError('E_SESSION_STATE', `session ${source.id} has no message to replay`);
    const fromSeq = engine.store.log.lastSeq();
    const runtime = engine.start({
      agent: source.agent,
      message: messages[0]!,
      title: `replay of ${source.id}: ${source.title}`,
      source: 'replay',
      options: { ...source.options, replay: { from: source.id, onMiss } },
    });
    const printer = new EventPrinter(engine.bus, engine.store, out, runtime.id, fromSeq, {
      verbose: input.options.verbose,
    });
    if (!out.json)
      out.line(
        paint(
          out.color,
          'gray',
          `replaying ${source.id} as ${runtime.id} (${messages.length === 1 ? '1 message' : `${messages.length} messages`})`,
        ),
      );
    let status = await driveUntilIdle(runtime, printer, out, ctx.signal);
    // A chat: each later message of the recorded session is sent once the previous one is answered.
    for (const message of messages.slice(1)) {
      if (status !== 'finished' && status !== 'failed') break;
      await runtime.send(message);
      status = await driveUntilIdle(runtime, printer, out, ctx.signal);
    }
    await printer.stop();
    if (runtime.error !== undefined) throw runtime.error;
    if (status === 'interrupted') return { exitCode: exitFor(status) };
    const comparison: Comparison = compareConversations(
      comparableSession(engine.store, source.id),
      comparableSession(engine.store, runtime.id),
    );
    const json = { original: source.id, replay: runtime.id, status, ...comparison };
    if (!out.json) {
      if (comparison.same) {
        out.line(
          paint(
            out.color,
            'green',
            `✓ identical: ${comparison.conversations} conversations, ${comparison.entries} entries, as in ${source.id}`,
          ),
        );
      } else {
        out.line(
          paint(
            out.color,
            'red',
            `✗ differs from ${source.id} in conversation ${comparison.path}${comparison.index === 0 ? '' : ` at entry ${comparison.index}`}`,
          ),
        );
        out.line(`  recorded: ${terminalText(comparison.expected)}`);
        out.line(`  replayed: ${terminalText(comparison.actual)}`);
      }
    }
    return { exitCode: comparison.same ? EXIT.ok : EXIT.failed, json };
  },
});
