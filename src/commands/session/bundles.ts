import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../../core/errors.ts';
import type { Store } from '../../store/store.ts';
import { isHolderAlive } from '../../store/leases.ts';
import { VERSION } from '../../core/version.ts';
import { defineCommand } from '../define.ts';
import { paint, plural } from '../render/text.ts';
import { SESSION_ARG, checkOutPath, writeOutFile } from '../shared.ts';
import { EXIT, type CommandContext, type CommandResult } from '../types.ts';
import { OTLP_OPTIONS, checkOtlpOptions, deliverSpans } from '../otlp-output.ts';

/** A session as a file and back (export, import), and deleting sessions (one, or all older than a duration). */

/** A session that a live process drives cannot be deleted from under it. */
function assertNotDriven(store: Store, session: string, now: number): void {
  const holder = store.leases.holder(session);
  if (isHolderAlive(holder, now)) {
    throw new UserError('E_LEASE_HELD', `session ${session} is being driven by pid ${holder.pid} on ${holder.host}`, {
      hint: `Cancel it first: p2tui session cancel ${session}`,
    });
  }
}

/** `30d`, `12h`, `90m`, `45s` in milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(d|h|m|s)$/.exec(text.trim());
  if (m === null)
    throw new UserError('E_USAGE', `'${text}' is not a duration`, {
      hint: 'Write it as a number and a unit: 30d, 12h, 90m or 45s.',
    });
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }[m[2] as 'd' | 'h' | 'm' | 's'];
  return Number(m[1]) * unit;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size + (statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0);
  } catch {
    return 0;
  }
}

export const exportCommand = defineCommand({
  path: ['session', 'export'],
  summary:
    'Write a session as a self-contained bundle (entries of every branch, recordings, artifacts) to replay elsewhere',
  args: {
    session: SESSION_ARG,
  },
  options: {
    out: { type: 'string', value: '<file>', description: 'Write to this file (default: <session>.p2tui.json)' },
    format: {
      type: 'string',
      choices: ['bundle', 'otlp'],
      description:
        'bundle (default), or otlp: the session as an OpenTelemetry trace (GenAI spans, OTLP/JSON or to a collector)',
    },
    ...OTLP_OPTIONS,
  },
  examples: [
    'p2tui session export last --out run.p2tui.json',
    'p2tui session import run.p2tui.json --db other.db && p2tui session replay last --db other.db',
    'p2tui session export last --format otlp --endpoint http://localhost:4318/v1/traces',
    'p2tui session export last --format otlp --out trace.json',
  ],
  async run(ctx, input) {
    const format = input.options.format ?? 'bundle';
    checkOtlpOptions(format, input.options);
    if (input.options.out !== undefined) checkOutPath(input.options.out);
    const store = await ctx.store({ existing: true });
    const session = store.sessions.resolve(input.args.session);
    if (format === 'otlp') return exportOtlp(ctx, store, session.id, input.options);
    const bundle = store.bundles.export(session.id, VERSION, ctx.clock.now());
    const out = writeOutFile(input.options.out ?? `${session.id}.p2tui.json`, `${JSON.stringify(bundle)}\n`);
    const json = {
      session: session.id,
      file: out,
      events: bundle.events.length,
      modelCalls: bundle.modelCalls.length,
      artifacts: bundle.artifacts.length,
      bytes: statSync(out).size,
    };
    if (!ctx.output.json) {
      const counts = [
        plural(json.events, 'event'),
        plural(json.modelCalls, 'model call'),
        plural(json.artifacts, 'artifact'),
      ].join(', ');
      ctx.output.line(`exported ${session.id} to ${out}: ${counts} (${json.bytes} bytes)`);
    }
    return { exitCode: EXIT.ok, json };
  },
});

/** The session as one OpenTelemetry trace, read from the log (nothing of OpenTelemetry loads for a bundle). */
async function exportOtlp(
  ctx: CommandContext,
  store: Store,
  session: string,
  options: { out?: string; endpoint?: string; 'capture-content'?: boolean },
): Promise<CommandResult> {
  const [{ readSessionLog }, { sessionSpans }] = await Promise.all([
    import('../../telemetry/log.ts'),
    import('../../telemetry/spans.ts'),
  ]);
  const spans = sessionSpans(readSessionLog(store, session), { captureContent: options['capture-content'] === true });
  const done = await deliverSpans(ctx, spans, options);
  const json = { session, format: 'otlp', to: done.to, spans: done.spans, traceId: spans[0]?.traceId ?? null };
  if (!ctx.output.json && done.to !== 'stdout')
    ctx.output.line(`exported ${session} as ${plural(done.spans, 'span')} to ${done.to}`);
  return { exitCode: EXIT.ok, ...(done.to === 'stdout' ? {} : { json }) };
}

export const importCommand = defineCommand({
  path: ['session', 'import'],
  summary: 'Load a session bundle into this database (replay it with no network: p2tui session replay <id>)',
  args: {
    file: { description: 'A bundle written by p2tui session export', required: true },
  },
  async run(ctx, input) {
    const file = resolve(input.args.file);
    const store = await ctx.store();
    // Streamed and checked row by row inside one transaction: a refused bundle leaves nothing behind.
    const done = store.bundles.importFile(file);
    if (!ctx.output.json) {
      ctx.output.line(`imported ${done.session} (${plural(done.events, 'event')})`);
      ctx.output.line(
        paint(
          ctx.output.color,
          'gray',
          `see it: p2tui session show ${done.session} · replay it offline: p2tui session replay ${done.session}`,
        ),
      );
    }
    return { exitCode: EXIT.ok, json: done };
  },
});

export const deleteCommand = defineCommand({
  path: ['session', 'delete'],
  summary: 'Delete a session and everything of it (branches, recordings, artifacts no other session uses)',
  args: {
    session: { ...SESSION_ARG, description: 'Session id or unique prefix ("last" is refused: name the session)' },
  },
  options: {
    vacuum: { type: 'boolean', description: 'Also give the freed space back to the file system (VACUUM)' },
  },
  async run(ctx, input) {
    const ref = input.args.session;
    if (ref === 'last' || ref === '@last')
      throw new UserError('E_USAGE', 'delete needs a session id, not "last"', {
        hint: 'p2tui session list shows the ids.',
      });
    const store = await ctx.store({ existing: true });
    const session = store.sessions.resolve(ref);
    assertNotDriven(store, session.id, ctx.clock.now());
    store.bundles.remove(session.id);
    if (input.options.vacuum) store.vacuum();
    if (!ctx.output.json) ctx.output.line(`deleted ${session.id}`);
    return { exitCode: EXIT.ok, json: { deleted: [session.id] } };
  },
});

export const pruneCommand = defineCommand({
  path: ['session', 'prune'],
  summary: 'Delete sessions older than a duration (not running ones) and reclaim the space',
  details:
    'Whole sessions go. To delete only the old branches of one session (P2Engine’s conversation prune), use ' +
    'p2tui conversation prune <session> [--keep-days n] [--execute].',
  options: {
    'older-than': {
      type: 'string',
      value: '<30d|12h|…>',
      description: 'Delete sessions last updated longer ago than this (required)',
    },
    'dry-run': { type: 'boolean', description: 'Only list what would be deleted' },
  },
  examples: ['p2tui session prune --older-than 30d --dry-run', 'p2tui session prune --older-than 7d'],
  async run(ctx, input): Promise<CommandResult> {
    const olderThan = input.options['older-than'];
    if (olderThan === undefined)
      throw new UserError('E_USAGE', 'prune needs --older-than', {
        hint: 'For example: p2tui session prune --older-than 30d',
      });
    const age = parseDuration(olderThan);
    const store = await ctx.store({ existing: true });
    const cutoff = ctx.clock.now() - age;
    const doomed = store.sessions
      .restingSince(cutoff)
      .filter((r) => !isHolderAlive(store.leases.holder(r.id), ctx.clock.now()))
      .map((r) => r.id);
    if (input.options['dry-run']) {
      if (!ctx.output.json)
        ctx.output.line(
          doomed.length === 0
            ? 'nothing to prune'
            : `would delete ${plural(doomed.length, 'session')}: ${doomed.join(', ')}`,
        );
      return { exitCode: EXIT.ok, json: { wouldDelete: doomed } };
    }
    const before = fileSize(store.path);
    for (const id of doomed) store.bundles.remove(id);
    if (doomed.length > 0) store.vacuum();
    const after = fileSize(store.path);
    if (!ctx.output.json)
      ctx.output.line(
        doomed.length === 0
          ? 'nothing to prune'
          : `deleted ${plural(doomed.length, 'session')}; the database went from ${before} to ${after} bytes`,
      );
    return { exitCode: EXIT.ok, json: { deleted: doomed, bytesBefore: before, bytesAfter: after } };
  },
});
