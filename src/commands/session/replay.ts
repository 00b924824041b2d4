import { UserError } from '../../core/errors.ts';
// Pure (the core only): comparableSession is called synchronously (by the replay tests).
import {
  comparableEntry,
  compareConversations,
  type ComparableConversation,
  type Comparison,
} from '../../engine/replay.ts';
import type { BranchOverrides } from '../../engine/branching.ts';
import type { Store } from '../../store/store.ts';
import { defineCommand } from '../define.ts';
import { paint } from '../render/text.ts';
import { EventPrinter, driveUntilIdle } from '../run/follow.ts';
import { exitFor } from '../run/run.ts';
import { REPLAY_OPTIONS, SESSION_ARG } from '../shared.ts';
import { EXIT } from '../types.ts';
import { readSession } from '../../engine/session-view.ts';
import { terminalText } from '../../core/terminal-text.ts';

/** The places of a session's ids: conversations by path, model calls and entries by conversation and position. */
function placesOf(store: Store, session: string, into: Map<string, string>): ReturnType<typeof readSession> {
  const view = readSession(store, session);
  const paths = new Map(view.conversations.map((c) => [c.row.id, c.row.path]));
  for (const call of store.calls.modelCalls({ session }))
    paths.set(call.id, `${paths.get(call.conversation) ?? call.conversation} model call ${call.ordinal}`);
  for (const c of view.conversations) c.entries.forEach((e, i) => paths.set(e.id, `${c.row.path} entry ${i + 1}`));
  for (const [id, place] of paths) into.set(id, place);
  return view;
}

/**
 * A session's conversations in comparable form (see `comparableEntry`). `recorded`: for a replay, the session it
 * replays, whose ids the results served from its recording carry.
 */
export function comparableSession(store: Store, session: string, recorded?: string): ComparableConversation[] {
  const places = new Map<string, string>();
  if (recorded !== undefined) placesOf(store, recorded, places);
  const view = placesOf(store, session, places);
  return view.conversations.map((c) => ({
    path: c.row.path,
    entries: c.entries.map((e) => comparableEntry(e, places)),
  }));
}

/**
 * The seq of `replay` whose history matches `recorded`'s up to `seq`: in every conversation, as many entries. A fork
 * of the replay there is the recorded fork made again (entries the replay wrote past it, such as the stop at a call
 * recorded on the forked branch, are left behind on the replay's first branch).
 */
function sameCut(store: Store, recorded: string, replay: string, seq: number): number {
  const kept = new Map(
    readSession(store, recorded).conversations.map((c) => [c.row.path, c.entries.filter((e) => e.seq <= seq).length]),
  );
  let cut = 0;
  for (const c of readSession(store, replay).conversations) {
    const n = kept.get(c.row.path) ?? 0;
    if (n > 0) cut = Math.max(cut, c.entries[Math.min(n, c.entries.length) - 1]!.seq);
  }
  return cut;
}

export const replayCommand = defineCommand({
  path: ['session', 'replay'],
  summary: 'Replay a session from its recordings (no network, no effects) and check it reproduces every entry',
  details:
    'Starts a new session with the same agent, messages and options, serving every model call, tool result and answer from the recorded ' +
    'session (model calls matched by conversation path and ordinal and checked by request hash), then compares the two, conversation by ' +
    'conversation. A branch forked from another (other settings, a rewind, a score policy) is replayed by forking the replay at the same ' +
    "point with the same overrides. Ids, keys and references are compared by the place of what they name, and a question's deadline by " +
    'its distance from the question. Exits 1 when they differ or a call had no recording.',
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
    const messages = (root?.entries ?? []).flatMap((e) => (e.kind === 'user_message' ? [e] : []));
    if (messages.length === 0) throw new UserError('E_SESSION_STATE', `session ${source.id} has no message to replay`);
    // The recorded branch's history, first branch to head: a branch forked from another (with other settings, by a
    // score policy, …) is replayed by forking the replay at the same point with the same overrides.
    const chain = engine.store.sessions
      .segments(source.headBranch)
      .map((s) => engine.store.sessions.branch(s.branch)!)
      .reverse();
    const fromSeq = engine.store.log.lastSeq();
    let runtime = engine.start({
      agent: source.agent,
      message: messages[0]!.payload.text,
      title: `replay of ${source.id}: ${source.title}`,
      source: 'replay',
      options: { ...source.options, replay: { from: source.id, onMiss, staged: true } },
      overrides: chain[0]!.overrides as BranchOverrides,
    });
    const printer = new EventPrinter(engine.bus, engine.store, out, runtime.id, fromSeq, {
      verbose: input.options.verbose,
    });
    if (!out.json)
      out.line(
        paint(
          out.color,
          'gray',
          `replaying ${source.id} as ${runtime.id} (${messages.length === 1 ? '1 message' : `${messages.length} messages`}` +
            `${chain.length === 1 ? '' : `, ${chain.length - 1} ${chain.length === 2 ? 'fork' : 'forks'}`})`,
        ),
      );
    let status: Awaited<ReturnType<typeof driveUntilIdle>> = 'running';
    let sent = 1;
    for (const [stage, branch] of chain.entries()) {
      if (stage > 0) {
        const atSeq = sameCut(engine.store, source.id, runtime.id, branch.forkSeq!);
        await engine.fork(runtime.id, {
          atSeq,
          overrides: branch.overrides as BranchOverrides,
          // The recorded label, numbered if taken (a database from before labels were unique may repeat one).
          ...(branch.label === null ? {} : { defaultLabel: branch.label }),
          createdBy: 'replay',
          checkout: true,
        });
        runtime = engine.get(runtime.id) ?? (await engine.attach(runtime.id));
        runtime.resume();
      }
      status = await driveUntilIdle(runtime, printer, out, ctx.signal);
      // A chat: each later message of this branch is sent once the previous one is answered.
      while (messages[sent]?.branch === branch.id && (status === 'finished' || status === 'failed')) {
        await runtime.send(messages[sent]!.payload.text);
        sent += 1;
        status = await driveUntilIdle(runtime, printer, out, ctx.signal);
      }
      if (status === 'interrupted' || runtime.error !== undefined) break;
    }
    await printer.stop();
    if (runtime.error !== undefined) throw runtime.error;
    if (status === 'interrupted') return { exitCode: exitFor(status) };
    const comparison: Comparison = compareConversations(
      comparableSession(engine.store, source.id),
      comparableSession(engine.store, runtime.id, source.id),
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
