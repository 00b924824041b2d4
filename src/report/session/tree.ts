import { describeEntry } from '../../core/describe-entry.ts';
import type { Entry } from '../../core/entries.ts';
import { describeOverrides } from '../../engine/branching.ts';
import { effectsPolicyOf } from '../../engine/effects-policy.ts';
import type { ConversationView } from '../../engine/session-view.ts';
import type { Html } from '../html.ts';
import { html, joinHtml } from '../html.ts';
import type { BranchData, SessionData } from './read.ts';
import { LIMITS, anchors, branchName, capped, cost, iso, plural } from './text.ts';

/** The session report's header, its conversation tree (delegations nested) and its branches. */

/** Tokens and cost of each conversation, from its model calls. */
export type ConversationUsage = ReadonlyMap<string, { tokens: number; costUsd: number }>;

export function headerSection(data: SessionData, generatedAt: Date): Html {
  const { view } = data;
  const s = view.session;
  const root = view.conversations.find((c) => c.row.id === s.rootConversation);
  const head = data.branches.find((b) => b.checkedOut);
  const u = view.usage.total;
  const rows: [string, Html | string][] = [
    ['Session', s.id],
    ['Started with', html`${s.agent}: <span class="text">${capped(s.title, LIMITS.line)}</span>`],
    [
      'Status',
      html`<span class="tag status-${s.status}">${s.status}</span>${s.statusReason === null ? '' : ` (${s.statusReason})`}
        · root conversation ${root?.phase ?? 'not started'}`,
    ],
    ['Created', iso(s.createdAt)],
    ['Branch checked out', head === undefined ? s.headBranch : branchName(head.row)],
    ['Effects policy', view.effects],
    ['Models', view.simulated ? 'simulated (scripted models): costs are simulated' : 'real model providers'],
    [
      'Usage',
      `${plural(u.calls, 'model call')} · ${u.tokensIn + u.tokensOut} tokens (${u.tokensIn} in + ${u.tokensOut} out${u.estimated ? ', estimated' : ''}) · ${cost(u.costUsd, view.simulated)}`,
    ],
  ];
  const running =
    s.status === 'running' || s.status === 'waiting' || s.status === 'paused'
      ? html`<p class="notice">
          This session was ${s.status} when the report was made (${generatedAt.toISOString()}): it shows what was stored by
          then.${view.questions.length > 0 ? ` Waiting for ${plural(view.questions.length, 'answer')}:` : ''}
        </p>
        ${
          view.questions.length === 0
            ? ''
            : html`<ul>
              ${view.questions.map(
                (q) =>
                  html`<li>
                    ${q.agent} asks (${q.callId}): <span class="text">${capped(q.question, LIMITS.line)}</span>
                  </li>`,
              )}
            </ul>`
        }`
      : '';
  const answer =
    view.answer === null
      ? ''
      : html`<h3>Answer</h3>
          <div class="text answer">${capped(view.answer, LIMITS.text)}</div>`;
  return html`<section id="summary">
    ${running}
    <table class="kv">
      ${rows.map(([k, v]) => html`<tr><th>${k}</th><td>${v}</td></tr>`)}
    </table>
    ${answer}
  </section>`;
}

/** Conversations nested by delegation: who delegated to whom, with what message, and what came back. */
export function treeSection(data: SessionData, usage: ConversationUsage): Html {
  const { view } = data;
  const children = new Map<string | null, ConversationView[]>();
  for (const c of view.conversations) children.set(c.row.parent, [...(children.get(c.row.parent) ?? []), c]);
  // What each child was asked and answered: the parent's agent_call and agent_result naming it.
  const calls = new Map<string, Entry & { kind: 'agent_call' }>();
  const results = new Map<string, Entry & { kind: 'agent_result' }>();
  for (const e of view.entries) {
    if (e.kind === 'agent_call') calls.set(e.payload.child, e);
    if (e.kind === 'agent_result') results.set(e.payload.child, e);
  }
  const node = (c: ConversationView): Html => {
    const u = usage.get(c.row.id);
    const call = calls.get(c.row.id);
    const result = results.get(c.row.id);
    const parent = c.row.parent === null ? undefined : data.conversations.get(c.row.parent);
    const delegated =
      call === undefined
        ? ''
        : html`<div class="delegation">
            <span class="muted">${parent?.agent ?? 'its caller'} delegated:</span>
            <span class="text">${capped(call.payload.message, LIMITS.line)}</span>
          </div>`;
    const answered =
      result === undefined
        ? ''
        : html`<div class="delegation">
            <span class="muted">answered (${result.payload.status}):</span>
            <span class="text">${capped(result.payload.text || (result.payload.error ?? ''), LIMITS.line)}</span>
          </div>`;
    const kids = children.get(c.row.id) ?? [];
    return html`<li class="conversation">
      <a href="#${anchors.conversation(c.row.id)}"><strong>${c.row.agent}</strong></a>
      <span class="muted">${c.row.id}</span> <span class="tag phase-${c.phase}">${c.phase}</span>
      <span class="muted"
        >${plural(c.steps, 'step')} ·
        ${u === undefined ? 'no model calls' : `${u.tokens} tokens · ${cost(u.costUsd, view.simulated)}`}</span
      >
      ${delegated} ${answered} ${kids.length === 0 ? '' : html`<ul>${kids.map(node)}</ul>`}
    </li>`;
  };
  return html`<section id="conversations">
    <h2>Conversations</h2>
    <p class="muted">
      On the checked-out branch; each child is a delegation. Click a conversation for its transcript.
    </p>
    <div class="tree"><ul>${(children.get(null) ?? []).map(node)}</ul></div>
  </section>`;
}

function agentOf(data: SessionData, e: Entry): string {
  return data.conversations.get(e.conversation)?.agent ?? e.conversation;
}

/** One line about an entry: seq, agent, kind, what it says (linked to its transcript when the page has it). */
export function entryLine(data: SessionData, e: Entry, shown: ReadonlySet<string>): Html {
  const agent = agentOf(data, e);
  return html`<li>
    <span class="muted">seq ${e.seq}</span>
    ${shown.has(e.conversation) ? html`<a href="#${anchors.entry(e.id)}">${agent}</a>` : agent}
    <span class="tag kind">${e.kind}</span> <span class="text">${capped(describeEntry(e), LIMITS.line)}</span>
  </li>`;
}

function branchRow(data: SessionData, b: BranchData): Html {
  const effects = effectsPolicyOf(data.view.session.options, b.row.overrides);
  const fork =
    b.forkPoint === null
      ? html`<span class="muted">(root)</span>`
      : html`<a href="#${anchors.branch(b.parent?.id ?? '')}">${b.parent === undefined ? '' : branchName(b.parent)}</a>
          at seq ${b.row.forkSeq}: ${agentOf(data, b.forkPoint.entry)} #${b.forkPoint.index}
          <span class="tag kind">${b.forkPoint.entry.kind}</span>
          <span class="text">${capped(describeEntry(b.forkPoint.entry), LIMITS.line / 2)}</span>`;
  const d = b.divergence;
  const diverges =
    b.parent === undefined
      ? ''
      : d === null
        ? html`<span class="muted">not yet: the same steps as its parent</span>`
        : html`in ${d.path} at #${d.index}
            <div class="diff">
              <div class="del">${d.a === null ? '(nothing)' : capped(d.a, LIMITS.line)}</div>
              <div class="ins">${d.b === null ? '(nothing)' : capped(d.b, LIMITS.line)}</div>
            </div>`;
  return html`<tr id="${anchors.branch(b.row.id)}">
    <td>${b.checkedOut ? '* ' : ''}${b.row.id}</td>
    <td>${b.row.label ?? ''}</td>
    <td class="fork">${fork}</td>
    <td class="diverges">${diverges}</td>
    <td class="num">${b.length}</td>
    <td class="num">${b.own.length}</td>
    <td>${[describeOverrides(b.row.overrides), effects === 'live' ? '' : `effects ${effects}`].filter((t) => t !== '').join('; ')}</td>
    <td>${b.row.createdBy}, ${iso(b.row.createdAt)}</td>
  </tr>`;
}

/** Every branch: where it was forked, where it first differs from its parent, and its own entries after the fork. */
export function branchesSection(data: SessionData): Html {
  const shown = new Set(data.view.conversations.map((c) => c.row.id));
  const forks = data.branches.filter((b) => b.parent !== undefined);
  const own = forks.map((b) => {
    const list = b.own.slice(0, LIMITS.entries);
    const more = b.own.length - list.length;
    return html`<details class="branch-own">
      <summary>
        ${branchName(b.row)}: ${plural(b.own.length, 'entry', 'entries')} of its own after the fork point (seq
        ${b.row.forkSeq})
      </summary>
      <ul class="entries">
        ${list.map((e) => entryLine(data, e, shown))}
      </ul>
      ${more > 0 ? html`<p class="more">… ${plural(more, 'more entry', 'more entries')}</p>` : ''}
    </details>`;
  });
  return html`<section id="branches">
    <h2>Branches</h2>
    <p class="muted">
      * marks the checked-out branch. A fork keeps its parent's history up to the fork point; "diverges" is where it
      first differs (as <code>p2tui session diff</code> says): the parent's entry, then the branch's.
    </p>
    <table>
      <tr>
        <th>branch</th>
        <th>label</th>
        <th>forked from</th>
        <th>diverges</th>
        <th class="num">entries</th>
        <th class="num">own</th>
        <th>overrides</th>
        <th>created</th>
      </tr>
      ${data.branches.map((b) => branchRow(data, b))}
    </table>
    ${joinHtml(own)}
  </section>`;
}
