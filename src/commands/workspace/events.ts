import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { ENTRY_KINDS, type EntryKind } from '../../core/entries.ts';
import { UserError, fileFailureOf } from '../../core/errors.ts';
import type { EventFilter, EventType, StoredEvent } from '../../core/events.ts';
import { defineCommand, type OptionDefs } from '../define.ts';
import { EventText } from '../render/event-text.ts';
import { jsonForTerminal } from '../../core/terminal-text.ts';
import { checkOutPath } from '../shared.ts';
import { EXIT } from '../types.ts';

const EVENT_TYPES: readonly EventType[] = [
  'entry',
  'session.created',
  'session.status',
  'conversation.created',
  'model.call',
  'artifact.created',
  'session.control',
  'branch.created',
  'branch.checkout',
  'effect.compensated',
  'eval.queued',
  'score.recorded',
  'policy.acted',
  'milestone',
  'escrow.settled',
  'approval.requested',
  'approval.decided',
];

const FILTER_OPTIONS = {
  session: { type: 'string', value: '<id>', description: 'Only this session (id, unique prefix, or "last")' },
  type: {
    type: 'string',
    value: '<type>',
    multiple: true,
    description: `Only these event types: ${EVENT_TYPES.join(', ')}`,
  },
  kind: {
    type: 'string',
    value: '<kind>',
    multiple: true,
    description: 'Only entries of these kinds (user_message, tool_call, ...)',
  },
} as const satisfies OptionDefs;

/** The values of FILTER_OPTIONS, as a handler reads them. */
interface FilterValues {
  readonly session: string | undefined;
  readonly type: readonly string[];
  readonly kind: readonly string[];
}

function filterOf(options: FilterValues, resolveSession: (ref: string) => string): EventFilter {
  const filter: { session?: string; types?: EventType[]; kinds?: EntryKind[] } = {};
  if (options.session !== undefined) filter.session = resolveSession(options.session);
  // Checked here rather than declared as choices: the error says which kind of name is unknown and lists the known ones.
  const types = options.type.map((t) => {
    const type = EVENT_TYPES.find((known) => known === t);
    if (type === undefined)
      throw new UserError('E_USAGE', `unknown event type '${t}'`, { hint: `Types: ${EVENT_TYPES.join(', ')}` });
    return type;
  });
  if (types.length > 0) filter.types = types;
  const kinds = options.kind.map((k) => {
    const kind = ENTRY_KINDS.find((known) => known === k);
    if (kind === undefined)
      throw new UserError('E_USAGE', `unknown entry kind '${k}'`, { hint: `Kinds: ${ENTRY_KINDS.join(', ')}` });
    return kind;
  });
  if (kinds.length > 0) filter.kinds = kinds;
  return filter;
}

/** One event as a JSONL line; C1 controls and bidi overrides escaped, so `cat` of an export cannot drive a terminal. */
export function eventJson(event: StoredEvent): string {
  const json = JSON.stringify({
    seq: event.seq,
    id: event.id,
    ts: event.ts,
    v: event.v,
    type: event.type,
    kind: event.kind,
    session: event.session,
    branch: event.branch,
    conversation: event.conversation,
    payload: event.payload,
  });
  return jsonForTerminal(json);
}

export const eventsTailCommand = defineCommand({
  path: ['events', 'tail'],
  summary: 'Show the newest events of the log (with --follow, keep following); --json prints JSONL',
  options: {
    ...FILTER_OPTIONS,
    limit: {
      type: 'number',
      integer: true,
      min: 0,
      short: 'n',
      value: '<n>',
      description: 'How many of the newest events (default 20; 0 with --follow: only new ones)',
    },
    from: { type: 'number', integer: true, min: 0, value: '<seq>', description: 'Start after this seq instead' },
    follow: {
      type: 'boolean',
      short: 'f',
      description: 'Keep printing new events as they are committed (any process)',
    },
  },
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const bus = await ctx.bus();
    const filter = filterOf(input.options, (ref) => store.sessions.resolve(ref).id);
    const limit = input.options.limit ?? 20;
    // -n 0 (as tail's): none of the past events, only what comes next with --follow.
    const from = input.options.from ?? (limit === 0 ? store.log.lastSeq() : store.log.seqBeforeNewest(filter, limit));
    const text = new EventText({ color: ctx.output.color, verbose: true });
    if (filter.session !== undefined) text.know(store.sessions.conversations(filter.session));
    const print = (event: StoredEvent): void => {
      if (ctx.output.json) ctx.output.line(eventJson(event));
      else for (const line of text.lines(event)) ctx.output.line(`${String(event.seq).padStart(6)}  ${line}`);
    };
    const { follow } = input.options;
    for await (const event of bus.subscribe({ fromSeq: from, filter, signal: ctx.signal, follow, pollMs: 200 }))
      print(event);
    return { exitCode: EXIT.ok };
  },
});

export const eventsExportCommand = defineCommand({
  path: ['events', 'export'],
  summary: 'Write matching events as JSONL, to stdout or a file',
  options: {
    ...FILTER_OPTIONS,
    out: { type: 'string', short: 'o', value: '<file>', description: 'Write here instead of stdout' },
  },
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const filter = filterOf(input.options, (ref) => store.sessions.resolve(ref).id);
    const path = input.options.out;
    if (path !== undefined) checkOutPath(path);
    const stream = path === undefined ? undefined : createWriteStream(path);
    const failed =
      stream === undefined
        ? undefined
        : new Promise<never>((_, reject) =>
            stream.once('error', (error) => reject(fileFailureOf(error, `cannot write ${path}`) ?? error)),
          );
    void failed?.catch(() => undefined);
    let count = 0;
    let cursor = 0;
    const upto = store.log.lastSeq();
    while (cursor < upto) {
      const batch = store.log.read(cursor, filter, 2000, upto);
      if (batch.length === 0) break;
      for (const event of batch) {
        const line = eventJson(event);
        if (stream === undefined) ctx.output.line(line);
        else if (!stream.write(`${line}\n`)) await Promise.race([once(stream, 'drain'), failed!]);
        count += 1;
      }
      cursor = batch[batch.length - 1]!.seq;
    }
    if (stream !== undefined) {
      stream.end();
      await Promise.race([once(stream, 'finish'), failed!]);
      ctx.output.warn(`wrote ${count} events to ${path}`);
    }
    return { exitCode: EXIT.ok };
  },
});
