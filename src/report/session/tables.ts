import { formatUsd } from '../../core/money.ts';
import type { ScoreRow } from '../../store/scores.ts';
import type { Html } from '../html.ts';
import { html } from '../html.ts';
import { renderPlot } from '../plot.ts';
import type { SessionData } from './read.ts';
import { LIMITS, anchors, branchName, capped, cost, plural } from './text.ts';

/** The judge's scores, the payments, and usage and cost per agent (with its plot). */

function target(data: SessionData, s: ScoreRow): Html {
  const branch = data.branches.find((b) => b.row.id === s.branch);
  const onBranch = html`<span class="muted"
    >on <a href="#${anchors.branch(s.branch)}">${branch === undefined ? s.branch : branchName(branch.row)}</a></span
  >`;
  if (s.targetKind === 'conversation') {
    const c = data.conversations.get(s.targetId);
    const label = c === undefined ? s.targetId : `${c.agent} (${s.targetId})`;
    return data.view.conversations.some((v) => v.row.id === s.targetId)
      ? html`conversation <a href="#${anchors.conversation(s.targetId)}">${label}</a> ${onBranch}`
      : html`conversation ${label} ${onBranch}`;
  }
  if (s.targetKind === 'branch') return html`branch ${onBranch}`;
  // A step is an entry (a milestone's tool call): linked to the transcript when the checked-out branch has it.
  if (s.targetKind === 'step' && data.view.entries.some((e) => e.id === s.targetId))
    return html`step <a href="#${anchors.entry(s.targetId)}">${s.targetId}</a> ${onBranch}`;
  return html`${s.targetKind} ${s.targetId} ${onBranch}`;
}

export function scoresSection(data: SessionData): Html {
  const rows = data.scores.map(
    (s) => html`<tr>
      <td>${target(data, s)}</td>
      <td>${s.evaluator}${s.metric === s.evaluator ? '' : ` / ${s.metric}`}</td>
      <td class="num">${s.value === null ? html`<span class="bad">${s.status}</span>` : s.value.toFixed(2)}</td>
      <td>${s.model ?? s.evaluatorKind}</td>
      <td>
        <div class="text">${capped(s.reasoning, LIMITS.text)}</div>
        ${
          s.criteria.length === 0
            ? ''
            : html`<ul class="criteria">
              ${s.criteria.map(
                (c) =>
                  html`<li>
                    ${c.id}${c.weight === undefined ? '' : ` ×${c.weight}`}:
                    ${c.score === null ? 'not judged' : c.score.toFixed(2)} —
                    <span class="text">${capped(c.reason, LIMITS.line)}</span>
                  </li>`,
              )}
            </ul>`
        }
      </td>
    </tr>`,
  );
  return html`<section id="scores">
    <h2>Judge scores</h2>
    ${
      rows.length === 0
        ? html`<p class="muted">No scores yet (p2tui eval run ${data.view.session.id} judges it).</p>`
        : html`<table>
          <tr>
            <th>target</th>
            <th>evaluator</th>
            <th class="num">score</th>
            <th>judge</th>
            <th>comment</th>
          </tr>
          ${rows}
        </table>`
    }
  </section>`;
}

export function paymentsSection(data: SessionData): Html {
  // A call on the checked-out branch links to its transcript; one only another branch made is named.
  const shown = new Set(data.view.entries.map((e) => e.id));
  const names = new Map(data.branches.map((b) => [b.row.id, branchName(b.row)]));
  const rows = data.payments.map((p) => {
    const call =
      p.call === null
        ? html`<span class="muted">the judge</span>`
        : shown.has(p.call.id)
          ? html`<a href="#${anchors.entry(p.call.id)}">${toolOf(p.call)} ${p.call.id}</a>`
          : html`${toolOf(p.call)} ${p.call.id}`;
    return html`<tr>
      <td>${p.kind}</td>
      <td>${p.from}</td>
      <td>${p.to}</td>
      <td class="num">${p.amount}</td>
      <td><span class="text">${capped(p.reason, LIMITS.line)}</span></td>
      <td class="${p.status === 'ok' || p.status === 'released' ? 'good' : 'bad'}">
        ${p.status}${p.simulated ? ' (dry run)' : ''}
      </td>
      <td>${names.get(p.branch) ?? p.branch}</td>
      <td>${call}</td>
    </tr>`;
  });
  return html`<section id="payments">
    <h2>Payments</h2>
    ${
      rows.length === 0
        ? html`<p class="muted">No payments in this session.</p>`
        : html`<table>
          <tr>
            <th>kind</th>
            <th>from</th>
            <th>to</th>
            <th class="num">amount</th>
            <th>reason</th>
            <th>result</th>
            <th>branch</th>
            <th>tool call</th>
          </tr>
          ${rows}
        </table>`
    }
  </section>`;
}

function toolOf(entry: { kind: string; payload: unknown }): string {
  const p = entry.payload as { tool?: unknown };
  return typeof p.tool === 'string' ? p.tool : entry.kind;
}

/** Usage and cost per agent, as `session show --json` counts them (usage.byAgent): a table and a bar chart. */
export async function usageSection(data: SessionData): Promise<Html> {
  const { view } = data;
  const agents = Object.entries(view.usage.byAgent);
  const table = html`<table class="usage">
    <tr>
      <th>agent</th>
      <th class="num">model calls</th>
      <th class="num">tokens in</th>
      <th class="num">tokens out</th>
      <th class="num">tokens</th>
      <th class="num">cost (USD)</th>
    </tr>
    ${agents.map(
      ([agent, u]) => html`<tr>
        <td>${agent}</td>
        <td class="num">${u.calls}</td>
        <td class="num">${u.tokensIn}</td>
        <td class="num">${u.tokensOut}</td>
        <td class="num">${u.tokensIn + u.tokensOut}</td>
        <td class="num">${formatUsd(u.costUsd)}</td>
      </tr>`,
    )}
  </table>`;
  const values = agents.flatMap(([agent, u]) => [
    { agent, tokens: u.tokensIn, part: 'input' },
    { agent, tokens: u.tokensOut, part: 'output' },
  ]);
  // Drawn even with no model call yet (an empty axis): every session report has its plot, and says what it counts.
  const figures = html`<table>
    <tr>
      <th>agent</th>
      <th class="num">input tokens</th>
      <th class="num">output tokens</th>
    </tr>
    ${agents.map(
      ([agent, u]) => html`<tr>
        <td>${agent}</td>
        <td class="num">${u.tokensIn}</td>
        <td class="num">${u.tokensOut}</td>
      </tr>`,
    )}
  </table>`;
  const plot = await renderPlot(
    {
      data: { values },
      width: 520,
      height: { step: 26 },
      mark: { type: 'bar', tooltip: false },
      encoding: {
        y: { field: 'agent', type: 'nominal', title: null, sort: '-x' },
        x: { field: 'tokens', type: 'quantitative', stack: 'zero', title: 'tokens' },
        color: {
          field: 'part',
          type: 'nominal',
          title: null,
          scale: { domain: ['input', 'output'], range: ['#3658c7', '#9ab0ef'] },
        },
        order: { field: 'part' },
      },
    },
    'Tokens per agent (input and output)',
    figures,
  );
  const total = view.usage.total;
  return html`<section id="usage">
    <h2>Usage and cost per agent</h2>
    <p>
      ${plural(total.calls, 'model call')} · ${total.tokensIn + total.tokensOut} tokens ·
      ${cost(total.costUsd, view.simulated)}${total.estimated ? ' (tokens estimated)' : ''}
    </p>
    ${table} ${plot}
  </section>`;
}
