import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SessionStatus } from '../../core/events.ts';
import type { Entry } from '../../core/entries.ts';
import { UserError } from '../../core/errors.ts';
import type { JsonObject, JsonValue } from '../../core/json.ts';
import { effectsPolicyOf } from '../../engine/effects-policy.ts';
import { isHolderAlive } from '../../store/leases.ts';
import { defineCommand } from '../define.ts';
import { describeEntry } from '../../core/describe-entry.ts';
import { colourPhase, colourStatus } from '../render/status.ts';
import { formatAge, formatCost, paint, plural, table, truncate } from '../render/text.ts';
import { SESSION_ARG } from '../shared.ts';
import { EXIT } from '../types.ts';
import { terminalTexts } from '../../core/terminal-text.ts';
import { entriesJson, readSession, sessionJson, treeOrder, type ConversationView } from '../../engine/session-view.ts';

/** Reading a session: the list, one session's conversations and usage, and its interaction stacks. */

const STATUSES = [
  'running',
  'paused',
  'waiting',
  'finished',
  'failed',
  'cancelled',
] as const satisfies readonly SessionStatus[];

/**
 * The command that starts a first session here, with an agent this workspace has: the demo's agent_alpha only where
 * it exists. Read from the persona files' names (each is its agent's id), so listing loads no persona.
 */
function firstRun(workspaceDir: string): string {
  const folder = join(workspaceDir, 'personas');
  const agents = existsSync(folder)
    ? readdirSync(folder)
        .filter((f) => /\.(ya?ml|md)$/.test(f) && !f.startsWith('_'))
        .map((f) => f.replace(/\.(ya?ml|md)$/, ''))
        .sort()
    : [];
  if (agents.includes('agent_alpha')) return 'p2tui run agent_alpha "What\'s the weather in Paris?"';
  if (agents.length > 0) return `p2tui run ${agents[0]} "<message>"`;
  return 'p2tui run <agent> "<message>", once the workspace has a persona (personas/<id>.yaml; p2tui init makes some)';
}

export const listCommand = defineCommand({
  path: ['session', 'list'],
  summary: 'List sessions, newest first',
  options: {
    limit: { type: 'number', integer: true, min: 1, value: '<n>', description: 'How many (default 20)' },
    status: { type: 'string', choices: STATUSES, description: 'Only sessions in this status' },
    cells: { type: 'boolean', description: 'Include rollout cell sessions (hidden by default, in --json too)' },
  },
  async run(ctx, input) {
    let store;
    try {
      store =
        ctx.sessionReading === undefined
          ? await ctx.store({ existing: true })
          : await ctx.sessionReading({ existing: true });
    } catch (error) {
      if (!(error instanceof UserError && error.code === 'E_UNKNOWN_SESSION')) throw error;
      if (ctx.output.json) return { exitCode: EXIT.ok, json: [] };
      ctx.output.line(`No sessions yet (${error.message}). Start one with: ${firstRun(ctx.workspaceDir)}`);
      return { exitCode: EXIT.ok };
    }
    const status = input.options.status;
    const filter = status === undefined ? {} : { status };
    const cells = input.options.cells;
    const rows = store.sessions.list({ limit: input.options.limit ?? 20, cells, ...filter });
    // A few rollouts make dozens of cell sessions: they stay out of the list (and of `last`) unless asked for.
    const hidden = cells ? 0 : store.sessions.countCells(filter);
    const footer =
      hidden === 0
        ? []
        : [paint(ctx.output.color, 'gray', `${plural(hidden, 'rollout cell session')} hidden (--cells)`)];
    const now = ctx.clock.now();
    // The checked-out branch's policy: a dry-run or ask session is marked in its title; live, the default, is not.
    const effects = new Map(
      rows.map((r) => [r.id, effectsPolicyOf(r.options, store.sessions.branch(r.headBranch)?.overrides)]),
    );
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
          effects: effects.get(r.id) ?? 'live',
        })),
      };
    }
    if (rows.length === 0) {
      ctx.output.line(
        hidden === 0
          ? `No sessions yet. Start one with: ${firstRun(ctx.workspaceDir)}`
          : 'No sessions besides rollout cells.',
      );
      for (const line of footer) ctx.output.line(line);
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
          truncate(`${effects.get(r.id) === 'live' ? '' : `[${effects.get(r.id)}] `}${r.title}`, 48),
        ];
      }),
      ['SESSION', 'STATUS', 'AGENT', 'FROM', 'STARTED', 'DRIVER', 'TITLE'],
      c,
    );
    for (const line of [...lines, ...footer]) ctx.output.line(line);
    return { exitCode: EXIT.ok };
  },
});

export const showCommand = defineCommand({
  path: ['session', 'show'],
  summary:
    'Show a session: status, conversations, usage and cost (per agent, conversation and step), questions, answer',
  args: {
    session: SESSION_ARG,
  },
  options: {
    steps: { type: 'boolean', description: 'List every model call with its tokens, cost and latency' },
  },
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const stored = readSession(store, input.args.session);
    const steps = store.calls.steps(stored.session.id);
    const byConversation = new Map<string, { tokens: number; costUsd: number }>();
    for (const step of steps) {
      const u = byConversation.get(step.conversation) ?? { tokens: 0, costUsd: 0 };
      byConversation.set(step.conversation, {
        tokens: u.tokens + step.tokensIn + step.tokensOut,
        costUsd: u.costUsd + step.costUsd,
      });
    }
    if (ctx.output.json) {
      const json = sessionJson(stored);
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
    // Shown, not obeyed: the title, answer, questions and reasons hold model and tool text.
    const view = terminalTexts(stored);
    const out = ctx.output;
    const c = out.color;
    const s = view.session;
    const reason = s.statusReason === null ? '' : paint(c, 'gray', ` (${s.statusReason})`);
    out.line(
      `${paint(c, 'bold', s.id)}  ${colourStatus(c, s.status)}${reason}  ${s.agent}  "${truncate(s.title, 60)}"`,
    );
    const started = `started ${formatAge(ctx.clock.now() - s.createdAt)} from ${s.source} · seed ${s.options.seed}`;
    const effects = view.effects === 'live' ? '' : ` · effects ${view.effects}`;
    const settings = `budget ${s.options.maxSteps} steps · approval ${s.options.approval}${effects}`;
    const model = s.options.model === undefined ? '' : ` · model ${s.options.model}`;
    out.line(paint(c, 'gray', `${started} · ${settings}${model}`));
    if (view.lease !== null && view.lease.expiresAt > ctx.clock.now())
      out.line(paint(c, 'gray', `driven by pid ${view.lease.pid} on ${view.lease.host}`));
    out.line('');
    out.line(paint(c, 'bold', 'Conversations'));
    for (const conv of treeOrder(view.conversations)) {
      const u = byConversation.get(conv.row.id);
      const usage =
        u === undefined ? '' : paint(c, 'gray', ` · ${u.tokens} tokens · ${formatCost(u.costUsd, view.simulated)}`);
      const indent = '  '.repeat(conv.row.depth + 1);
      const size = `${plural(conv.steps, 'step')}, ${plural(conv.entries.length, 'entry', 'entries')}`;
      out.line(
        `${indent}${conv.row.agent}  ${paint(c, 'gray', conv.row.id)}  ${colourPhase(c, conv.phase)}  ${size}${usage}`,
      );
    }
    if (input.options.steps) {
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
    const tokens = `${u.tokensIn} in + ${u.tokensOut} out tokens${u.estimated ? ' (estimated)' : ''}`;
    const cost = formatCost(u.costUsd, view.simulated);
    out.line(`${paint(c, 'bold', 'Usage')}  ${plural(u.calls, 'model call')} · ${tokens} · ${cost}`);
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
});

export const stackCommand = defineCommand({
  path: ['session', 'stack'],
  summary: 'Show the interaction stack of each conversation and the frame stack of delegations',
  args: {
    session: SESSION_ARG,
  },
  options: {
    conversation: {
      type: 'string',
      value: '<id|agent>',
      description: 'Only this conversation (its id, or the agent of a conversation)',
    },
    last: { type: 'number', integer: true, min: 1, value: '<n>', description: 'Only the last n entries of each stack' },
  },
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const stored = readSession(store, input.args.session);
    // JSON keeps the stored text exactly; the lines below show it cleaned for the terminal.
    const view = ctx.output.json ? stored : terminalTexts(stored);
    const only = input.options.conversation;
    const selected = treeOrder(view.conversations).filter(
      (c) => only === undefined || c.row.id === only || c.row.id.startsWith(only) || c.row.agent === only,
    );
    if (only !== undefined && selected.length === 0) {
      throw new UserError('E_USAGE', `session ${view.session.id} has no conversation '${only}'`, {
        hint: `Its conversations: ${view.conversations.map((c) => `${c.row.agent} (${c.row.id})`).join(', ')}`,
      });
    }
    const last = input.options.last;
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
      const indent = '  '.repeat(conv.row.depth + 1);
      const marker = active ? paint(c, 'yellow', '▶ ') : '  ';
      const waiting = conv.outstanding.length > 0 ? paint(c, 'gray', ` waiting on ${conv.outstanding.length}`) : '';
      out.line(
        `${indent}${marker}${conv.row.agent} ${paint(c, 'gray', conv.row.id)} ${colourPhase(c, conv.phase)}${waiting}`,
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
});

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
