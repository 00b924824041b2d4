import type { Entry } from '../../core/entries.ts';
import type { JsonValue } from '../../core/json.ts';
import type { CellRow } from '../../store/rollouts.ts';
import type { ScoreRow } from '../../store/scores.ts';
import type { Store } from '../../store/store.ts';
import type { Html } from '../html.ts';
import { html } from '../html.ts';
import { cellAnchor } from './grid.ts';
import { capped, fixed, LIMITS } from './text.ts';

/**
 * Every cell's conversation, read from the database: its user and assistant messages, tool calls with their
 * arguments and results, delegations (a child conversation's turns indented under its caller's), and the judge's scores with their
 * comments. Each behind a <details>, with an id inside it that the grid links to (a browser opens a closed
 * <details> to show the target of a link).
 */

function json(value: JsonValue | undefined): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value, null, 1);
}

function entryHtml(e: Entry, agent: string, caller: string | null): Html {
  const line = (who: string, body: Html | string, kind: string = e.kind): Html =>
    html`<div class="entry ${kind}"><div class="who">${who}</div><div class="text">${body}</div></div>`;
  switch (e.kind) {
    case 'user_message':
      // A delegated conversation's task is its caller's message.
      return line(caller === null ? 'user' : `task from ${caller}`, capped(e.payload.text));
    case 'assistant_message':
      return line(agent, capped(e.payload.text));
    case 'tool_call':
      return line(`${agent} → ${e.payload.tool}`, html`<pre>${capped(json(e.payload.args))}</pre>`);
    case 'tool_result': {
      const body = e.payload.error ?? json(e.payload.output);
      const notes = [e.payload.cached === true ? 'cached' : '', e.payload.simulated === true ? 'simulated' : '']
        .filter((n) => n !== '')
        .join(', ');
      return line(
        `${e.payload.tool} ← ${e.payload.status}${notes === '' ? '' : ` (${notes})`}`,
        html`<pre>${capped(body)}</pre>`,
        e.payload.status === 'ok' ? 'tool_result' : 'tool_result bad',
      );
    }
    case 'agent_call':
      return line(`${agent} delegates to ${e.payload.agent}`, capped(e.payload.message));
    case 'agent_result':
      return line(
        `${e.payload.agent} returns (${e.payload.status})`,
        capped(e.payload.error ?? e.payload.text),
        e.payload.status === 'ok' ? 'agent_result' : 'agent_result bad',
      );
    case 'user_input_request':
      return line(`${agent} asks`, capped(e.payload.question));
    case 'user_response':
      return line(`answer (${e.payload.by})`, capped(e.payload.text));
    case 'waiting':
      return line('waiting', `for ${e.payload.callIds.length} call(s)`);
    case 'finished':
      return line('finished', `${e.payload.steps} step(s)`);
    case 'failed':
      return line(`failed ${e.payload.code}`, capped(e.payload.message), 'failed bad');
  }
}

function scoresHtml(scores: readonly ScoreRow[]): Html {
  if (scores.length === 0) return html`<p class="muted">No scores.</p>`;
  return html`<table class="scores">
    <tr><th>evaluator</th><th>of</th><th>metric</th><th class="num">score</th><th>comment</th></tr>
    ${scores.map(
      (s) => html`<tr>
        <td>${s.evaluator}${s.model === null ? '' : html` <span class="muted">(${s.model})</span>`}</td>
        <td>${s.targetKind}</td>
        <td>${s.metric}</td>
        <td class="num ${s.status === 'failed' ? 'bad' : ''}">${s.value === null ? 'failed' : fixed(s.value)}</td>
        <td class="text">${capped(s.reasoning)}${
          s.criteria.length === 0
            ? ''
            : html`<ul class="criteria">${s.criteria.map(
                (c) => html`<li>${c.id}: ${c.score === null ? '–' : fixed(c.score)} ${capped(c.reason)}</li>`,
              )}</ul>`
        }</td>
      </tr>`,
    )}
  </table>`;
}

/** One cell's transcript: its entries in the order they were written, on the branch the cell ran on. */
function transcript(store: Store, cell: CellRow, metric: string | null): Html {
  const score = metric === null ? undefined : cell.metrics?.scores[metric];
  const summary = html`${cell.team} / ${cell.variant} / ${cell.scenario} · seed ${cell.seed} ·
    <span class="${cell.status === 'failed' ? 'bad' : cell.status === 'done' ? '' : 'warn'}">${cell.status}</span>${
      typeof score === 'number' ? ` · ${metric} ${score.toFixed(2)}` : ''
    }`;
  const session = cell.session === null ? undefined : store.sessions.get(cell.session);
  let body: Html;
  if (session === undefined) {
    body = html`<p class="muted">No session: the cell ${cell.status === 'failed' ? 'failed before it started one' : 'has not started'}.</p>`;
  } else {
    const branch = cell.metrics?.branch ?? session.headBranch;
    const entries = store.log.visibleEntries(session.id, store.sessions.segments(branch));
    const agents = new Map(store.sessions.conversations(session.id).map((c) => [c.id, c]));
    const shown = entries.slice(0, LIMITS.entries);
    // In the order they happened; a run of one conversation's entries is indented by its delegation depth.
    const runs: { conversation: string; entries: Entry[] }[] = [];
    for (const e of shown) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last.conversation === e.conversation) last.entries.push(e);
      else runs.push({ conversation: e.conversation, entries: [e] });
    }
    const parts = runs.map((run) => {
      const conv = agents.get(run.conversation);
      const agent = conv?.agent ?? '?';
      const caller = conv?.parent == null ? null : (agents.get(conv.parent)?.agent ?? '?');
      return html`<div class="turns depth-${Math.min(conv?.depth ?? 0, 4)}">
        <div class="conv">${agent}${caller === null ? '' : ` (delegated by ${caller})`} · ${run.conversation}</div>
        ${run.entries.map((e) => entryHtml(e, agent, caller))}
      </div>`;
    });
    const more = entries.length - shown.length;
    body = html`<p class="muted">session ${session.id} · branch ${branch}</p>
      ${parts}
      ${more > 0 ? html`<p class="more">… ${more.toLocaleString('en-US')} more entries (p2tui session export ${session.id})</p>` : ''}
      <h4>Scores</h4>
      ${scoresHtml(store.scores.scores({ session: session.id, branch }))}`;
  }
  return html`<details class="cell">
    <summary>${summary}</summary>
    <div class="transcript" id="${cellAnchor(cell)}">
      <div class="cellhead">${summary}</div>
      ${cell.error === null ? '' : html`<p class="bad text">${capped(cell.error)}</p>`}
      ${body}
    </div>
  </details>`;
}

export function transcriptsSection(store: Store, cells: readonly CellRow[], metric: string | null): Html {
  if (cells.length === 0) return html`<p class="muted">No cells.</p>`;
  return html`<p class="muted">One per cell, in the rollout's order; open one, or follow a link from the grid.</p>
    ${cells.map((c) => transcript(store, c, metric))}`;
}
