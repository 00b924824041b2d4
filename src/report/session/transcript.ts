import type { Entry } from '../../core/entries.ts';
import type { ConversationView } from '../../engine/session-view.ts';
import type { Html } from '../html.ts';
import { html } from '../html.ts';
import type { SessionData } from './read.ts';
import { LIMITS, anchors, capped, cappedJson, iso, plural } from './text.ts';

/**
 * Each conversation's transcript on the checked-out branch: messages, tool calls with their arguments and results,
 * delegations, questions and answers, approvals. Each conversation is an anchor the tree links to, each entry one the
 * payments and branches link to. Everything a model, tool or person wrote goes through `html`, capped (see LIMITS).
 */

function link(data: SessionData, conversation: string, text: string): Html {
  return data.view.conversations.some((c) => c.row.id === conversation)
    ? html`<a href="#${anchors.conversation(conversation)}">${text}</a>`
    : html`${text}`;
}

function body(data: SessionData, c: ConversationView, e: Entry): { who: Html | string; what: Html } {
  const agent = c.row.agent;
  switch (e.kind) {
    case 'user_message':
      return {
        who: c.row.parent === null ? 'user' : `${data.conversations.get(c.row.parent)?.agent ?? 'caller'} (delegating)`,
        what: html`<div class="text">${capped(e.payload.text, LIMITS.text)}</div>`,
      };
    case 'assistant_message':
      return { who: agent, what: html`<div class="text">${capped(e.payload.text, LIMITS.text)}</div>` };
    case 'tool_call': {
      const approval = data.approvals.get(e.payload.key);
      const decided = approval?.decided ?? null;
      const asked =
        approval === undefined
          ? ''
          : html`<div class="approval">
              ${
                approval.asked === null
                  ? 'approval:'
                  : html`approval asked: <span class="text">${capped(approval.asked, LIMITS.line)}</span> —`
              }
              ${
                decided === null
                  ? html`<span class="warn">not decided</span>`
                  : html`<span class="${decided.approved ? 'good' : 'bad'}">${decided.approved ? 'approved' : 'refused'}</span>
                    by ${decided.by}${decided.text === '' ? '' : html` (<span class="text">${capped(decided.text, LIMITS.line)}</span>)`}`
              }
            </div>`;
      return {
        who: agent,
        what: html`calls <strong>${e.payload.tool}</strong> <span class="tag">${e.payload.effect}</span>
          <span class="muted">${e.payload.callId}</span>
          <pre>${cappedJson(e.payload.args)}</pre>
          ${asked}`,
      };
    }
    case 'tool_result': {
      const p = e.payload;
      const notes = [
        p.simulated === true ? 'simulated (dry run)' : '',
        p.cached === true ? 'cached' : '',
        p.duplicateOf === undefined ? '' : `repeat of ${p.duplicateOf}`,
        p.latencyMs === undefined ? '' : `${p.latencyMs} ms`,
      ].filter((n) => n !== '');
      return {
        who: p.tool,
        what: html`<span class="${p.status === 'ok' ? 'good' : 'bad'}">${p.status}</span>
          ${notes.length === 0 ? '' : html`<span class="muted">(${notes.join(', ')})</span>`}
          ${p.status === 'ok' ? html`<pre>${cappedJson(p.output)}</pre>` : html`<div class="text bad">${capped(p.error ?? '', LIMITS.text)}</div>`}`,
      };
    }
    case 'agent_call':
      return {
        who: agent,
        what: html`delegates to ${link(data, e.payload.child, e.payload.agent)}:
          <div class="text">${capped(e.payload.message, LIMITS.text)}</div>`,
      };
    case 'agent_result':
      return {
        who: e.payload.agent,
        what: html`answers from ${link(data, e.payload.child, e.payload.agent)}
          (<span class="${e.payload.status === 'ok' ? 'good' : 'bad'}">${e.payload.status}</span>):
          <div class="text">${capped(e.payload.text || (e.payload.error ?? ''), LIMITS.text)}</div>`,
      };
    case 'user_input_request':
      return {
        who: agent,
        what: html`asks: <div class="text">${capped(e.payload.question, LIMITS.text)}</div>`,
      };
    case 'user_response':
      return {
        who: e.payload.by === 'user' ? 'user' : e.payload.by,
        what: html`answers: <div class="text">${capped(e.payload.text, LIMITS.text)}</div>`,
      };
    case 'waiting':
      return {
        who: agent,
        what: html`<span class="muted"
          >waits for ${plural(e.payload.callIds.length, 'call')}${e.payload.deadline === null ? '' : ` until ${iso(e.payload.deadline)}`}</span
        >`,
      };
    case 'finished':
      return { who: agent, what: html`<span class="good">finished</span> after ${plural(e.payload.steps, 'step')}` };
    case 'failed':
      return {
        who: agent,
        what: html`<span class="bad">failed</span> ${e.payload.code}:
          <span class="text">${capped(e.payload.message, LIMITS.text)}</span>${e.payload.hint === undefined ? '' : html` <span class="muted">(${e.payload.hint})</span>`}`,
      };
  }
}

function transcript(data: SessionData, c: ConversationView): Html {
  // A long conversation shows its beginning and its end (how it started, how it finished), and says what it left out.
  const half = LIMITS.entries / 2;
  const cut = c.entries.length > LIMITS.entries;
  const head = cut ? c.entries.slice(0, half) : c.entries;
  const tail = cut ? c.entries.slice(-half) : [];
  const more = c.entries.length - head.length - tail.length;
  const entry = (e: Entry, i: number): Html => {
    const { who, what } = body(data, c, e);
    return html`<div class="entry kind-${e.kind}" id="${anchors.entry(e.id)}">
      <span class="muted">#${i} · seq ${e.seq}</span> <span class="who">${who}</span> ${what}
    </div>`;
  };
  const parent = c.row.parent === null ? undefined : data.conversations.get(c.row.parent);
  return html`<section class="transcript" id="${anchors.conversation(c.row.id)}">
    <h3>
      ${c.row.agent} <span class="muted">${c.row.id} · ${c.row.path}</span>
      <span class="tag phase-${c.phase}">${c.phase}</span>
    </h3>
    ${parent === undefined ? '' : html`<p class="muted">Delegated by ${link(data, parent.id, parent.agent)}.</p>`}
    ${head.map((e, i) => entry(e, i))}
    ${
      more > 0
        ? html`<p class="more">
          … ${plural(more, 'more entry', 'more entries')} (#${half} to #${half + more - 1}): p2tui session stack
          ${data.view.session.id} --conversation ${c.row.id}
        </p>`
        : ''
    }
    ${tail.map((e, i) => entry(e, half + more + i))}
  </section>`;
}

/** Transcripts of every conversation, in tree order (each followed by its delegates). */
export function transcriptsSection(data: SessionData, order: readonly ConversationView[]): Html {
  return html`<section id="transcripts">
    <h2>Transcripts</h2>
    ${order.map((c) => transcript(data, c))}
  </section>`;
}
