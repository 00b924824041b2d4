import type { EphemeralEvent, StoredEvent } from '../../core/events.ts';
import type { ConversationRow } from '../../store/sessions.ts';
import { terminalText, terminalTexts, unfinishedTail } from '../../core/terminal-text.ts';
import { paint, plural, truncate } from './text.ts';

/**
 * Turns log events (and streaming deltas) into the lines `run`, `chat`, `session watch` and `events tail` print:
 * one line per step, delegations indented under their caller, model text streamed as it arrives. Every event and
 * delta is cleaned for the terminal before it is formatted (core/terminal-text.ts): model, tool and MCP text is
 * shown, never obeyed.
 */
export interface EventTextOptions {
  readonly color: boolean;
  /** Show bookkeeping too: waiting entries, model calls with tokens, status changes. */
  readonly verbose?: boolean;
  /** Print the user's own messages (off in chat, where the user just typed them). */
  readonly echoUser?: boolean;
  /** Print status changes of the session (on in watch; included in verbose). */
  readonly statusLines?: boolean;
  readonly width?: number;
}

interface ConversationInfo {
  readonly agent: string;
  readonly depth: number;
}

export class EventText {
  private readonly conversations = new Map<string, ConversationInfo>();
  /** Model calls whose text was streamed in full (their entry prints no text again). */
  private readonly streamed = new Set<string>();
  /** Model calls not to stream: their entry prints the whole text. */
  private readonly cut = new Set<string>();
  private openStream: string | undefined;
  /** The end of the open stream's text that the next delta may complete (core/terminal-text.ts, unfinishedTail). */
  private held = '';
  private readonly options: EventTextOptions;

  constructor(options: EventTextOptions) {
    this.options = options;
  }

  /** Conversations created before the first event this renderer sees. */
  know(rows: readonly ConversationRow[]): void {
    for (const row of rows) this.conversations.set(row.id, { agent: row.agent, depth: row.depth });
  }

  /** Text to write for a streaming delta (no newline), or undefined. */
  delta(event: EphemeralEvent): string | undefined {
    if (event.type === 'stream.end') {
      if (this.openStream !== event.modelCall) return undefined;
      // The reply is complete on screen: end its line; its entry will not print the text again.
      this.openStream = undefined;
      return `${this.streamText(event.conversation, this.release())}\n`;
    }
    if (event.type === 'model.retry') {
      // A line of its own, whether or not this call was streaming: the user sees why nothing arrives for a while.
      const open = this.openStream === event.modelCall;
      const rest = open ? this.streamText(event.conversation, this.release()) : '';
      if (open) this.openStream = undefined;
      this.cut.delete(event.modelCall);
      const reason = terminalText(event.reason);
      return `${open ? `${rest}\n` : ''}${this.indent(event.conversation)}   ↻ retry ${event.attempt} in ${(event.delayMs / 1000).toFixed(1)} s: ${reason}\n`;
    }
    if (event.type !== 'delta' || this.cut.has(event.modelCall)) return undefined;
    if (this.openStream !== undefined && this.openStream !== event.modelCall) {
      // Another conversation streams at the same time: this one prints whole when its entry is committed.
      this.cut.add(event.modelCall);
      return undefined;
    }
    let out = '';
    if (this.openStream === undefined) {
      this.openStream = event.modelCall;
      this.streamed.add(event.modelCall);
      this.held = '';
      out += this.prefix(event.conversation);
    }
    const { ready, held } = unfinishedTail(this.held + event.text);
    this.held = held;
    return out + this.streamText(event.conversation, ready);
  }

  /** Streamed model text, cleaned for the terminal and indented under its conversation. */
  private streamText(conversation: string, text: string): string {
    return terminalText(text).replace(/\n/g, `\n${this.indent(conversation)}   `);
  }

  private release(): string {
    const held = this.held;
    this.held = '';
    return held;
  }

  /** Do not stream this model call (the printer is behind the log): its entry will print whole. */
  skip(modelCall: string): void {
    if (this.openStream !== modelCall) this.cut.add(modelCall);
  }

  /** Lines to print for a stored event (possibly none). */
  lines(event: StoredEvent): string[] {
    const out = this.render(terminalTexts(event));
    if (this.openStream === undefined || out.length === 0) return out;
    const own =
      event.type === 'entry' && event.kind === 'assistant_message' && event.payload.modelCall === this.openStream;
    if (own) return out;
    // Another line interrupts a streaming reply: end it here ("…") and print the reply whole when it is committed.
    this.streamed.delete(this.openStream);
    this.cut.add(this.openStream);
    this.openStream = undefined;
    this.held = '';
    return [paint(this.options.color, 'gray', ' …'), ...out];
  }

  private render(event: StoredEvent): string[] {
    const c = this.options.color;
    const conv = event.conversation ?? '';
    const prefix = this.prefix(conv);
    switch (event.type) {
      case 'conversation.created':
        this.conversations.set(conv, { agent: event.payload.agent, depth: event.payload.depth });
        return [];
      case 'session.created':
        return this.options.verbose === true
          ? [paint(c, 'dim', `session ${event.session} started with ${event.payload.agent}`)]
          : [];
      case 'session.status':
        return this.options.verbose === true || this.options.statusLines === true
          ? [
              paint(
                c,
                'dim',
                `session ${event.payload.status}${event.payload.reason === undefined ? '' : `: ${event.payload.reason}`}`,
              ),
            ]
          : [];
      case 'model.call': {
        if (event.payload.status === 'error')
          return [`${prefix}${paint(c, 'red', `model call failed: ${event.payload.error ?? ''}`)}`];
        // Always shown: the model did not see the whole conversation.
        if (event.payload.omitted !== undefined && event.payload.omitted > 0 && this.options.verbose !== true) {
          return [
            `${prefix}${paint(c, 'yellow', `· ${event.payload.omitted} earlier messages left out to fit ${event.payload.model}'s context window`)}`,
          ];
        }
        if (this.options.verbose !== true) return [];
        const call = event.payload;
        const model = `${call.model}${call.simulated ? ' (simulated)' : ''}`;
        const omitted = call.omitted === undefined ? '' : `, ${call.omitted} messages left out to fit the context`;
        const text = `· ${model} ${call.tokensIn}→${call.tokensOut} tokens, ${call.latencyMs} ms${omitted}`;
        return [`${prefix}${paint(c, 'gray', text)}`];
      }
      case 'artifact.created':
        return [
          `${prefix}${paint(c, 'gray', `artifact ${event.payload.name} (${event.payload.size} bytes, ${event.payload.hash.slice(0, 12)})`)}`,
        ];
      case 'session.control':
        return this.options.verbose === true
          ? [paint(c, 'dim', `control: ${event.payload.action} from ${event.payload.from}`)]
          : [];
      case 'branch.created': {
        const { branch, parent, forkSeq, label } = event.payload;
        return [
          paint(
            c,
            'gray',
            `branch ${branch} forked from ${parent} at seq ${forkSeq}${label === null ? '' : ` (${label})`}`,
          ),
        ];
      }
      case 'branch.checkout':
        return [paint(c, 'gray', `checked out branch ${event.payload.branch} (was ${event.payload.previous})`)];
      case 'effect.compensated':
        if (event.payload.status === 'started')
          return [paint(c, 'gray', `compensating ${event.payload.tool} ${event.payload.key}…`)];
        return [
          paint(
            c,
            event.payload.status === 'ok' ? 'yellow' : 'red',
            `${event.payload.tool} ${event.payload.key} compensated${event.payload.status === 'ok' ? '' : ` — failed: ${event.payload.error ?? ''}`}`,
          ),
        ];
      case 'eval.queued':
        return this.options.verbose === true
          ? [
              paint(
                c,
                'dim',
                `judging ${event.payload.target.kind} ${event.payload.target.id} with ${event.payload.evaluator}`,
              ),
            ]
          : [];
      case 'score.recorded': {
        if (this.options.verbose !== true) return [];
        const score = event.payload;
        const value = score.value === null ? `failed: ${score.reasoning}` : score.value.toFixed(2);
        const scripted = score.model === 'scripted/judge' ? ' (scripted judge)' : '';
        return [paint(c, 'cyan', `judge ${score.evaluator} ${value}${scripted}`)];
      }
      case 'escrow.settled': {
        const escrow = event.payload;
        const outcome =
          escrow.outcome === 'release' ? `paid ${escrow.amount} to ${escrow.payee}` : `refunded ${escrow.amount}`;
        return [paint(c, 'magenta', `escrow ${outcome} (${escrow.evaluator} ${escrow.value.toFixed(2)})`)];
      }
      case 'approval.requested':
        return [
          paint(
            c,
            'yellow',
            `${event.payload.agent} waits for approval: ${event.payload.tool} — ${event.payload.reason}`,
          ),
        ];
      case 'approval.decided':
        return [
          paint(
            c,
            event.payload.approved ? 'green' : 'yellow',
            `${event.payload.approved ? 'approved' : 'not approved'} (${event.payload.by}${event.payload.by === 'user' ? `: ${event.payload.text}` : ''})`,
          ),
        ];
      case 'milestone':
        return [
          `${prefix}${paint(c, 'cyan', `◆ ${event.payload.name}${event.payload.detail === null ? '' : `: ${event.payload.detail}`}`)}`,
        ];
      case 'policy.acted':
        return [
          paint(
            c,
            event.payload.action === 'error' ? 'red' : 'magenta',
            `policy ${event.payload.policy} · ${event.payload.text}`,
          ),
        ];
      case 'entry':
        break;
    }
    const p = event.payload;
    switch (event.kind) {
      case 'user_message': {
        const child = (this.conversations.get(conv)?.depth ?? 0) > 0;
        if (!child && this.options.echoUser === false) return [];
        return [
          `${prefix}${paint(c, 'bold', child ? 'task:' : 'you:')} ${this.body(conv, (p as { text: string }).text)}`,
        ];
      }
      case 'assistant_message': {
        const { text, modelCall } = p as { text: string; modelCall: string };
        if (this.streamed.has(modelCall)) {
          this.streamed.delete(modelCall);
          if (this.openStream === modelCall) {
            this.openStream = undefined;
            return [''];
          }
          return [];
        }
        this.cut.delete(modelCall);
        return [`${prefix}${this.body(conv, text)}`];
      }
      case 'tool_call': {
        const { tool, args } = p as { tool: string; args: unknown };
        return [`${prefix}${paint(c, 'cyan', `→ ${tool}`)} ${paint(c, 'gray', truncate(JSON.stringify(args), 100))}`];
      }
      case 'tool_result': {
        const r = p as {
          tool: string;
          status: string;
          output?: unknown;
          error?: string;
          latencyMs?: number;
          cached?: boolean;
          simulated?: boolean;
        };
        const ok = r.status === 'ok';
        const detail = ok ? summary(r.output) : (r.error ?? r.status);
        // A dry-run branch's call says so: its result was simulated, or nothing ran.
        const simulated = r.simulated === true ? ', simulated' : '';
        const tag = `${r.status}${r.cached === true ? ', cached' : ''}${simulated}${r.latencyMs === undefined ? '' : `, ${r.latencyMs} ms`}`;
        return [
          `${prefix}${paint(c, ok ? 'green' : 'red', `← ${r.tool}`)} ${paint(c, 'gray', `(${tag})`)} ${truncate(detail, 160)}`,
        ];
      }
      case 'agent_call': {
        const { agent, message } = p as { agent: string; message: string };
        return [`${prefix}${paint(c, 'magenta', `→ delegate to ${agent}:`)} ${truncate(message, 140)}`];
      }
      case 'agent_result': {
        const r = p as { agent: string; status: string; text: string; error?: string };
        const ok = r.status === 'ok';
        const from = paint(c, ok ? 'magenta' : 'red', `← ${r.agent}${ok ? '' : ` (${r.status})`}:`);
        return [`${prefix}${from} ${truncate(ok ? r.text : (r.error ?? r.status), 160)}`];
      }
      case 'user_input_request':
        return [`${prefix}${paint(c, 'yellow', '? asks:')} ${(p as { question: string }).question}`];
      case 'user_response': {
        const r = p as { text: string; by: string };
        return [
          `${prefix}${paint(c, 'yellow', `← answer${r.by === 'user' ? '' : ` (${r.by})`}:`)} ${truncate(r.text, 160)}`,
        ];
      }
      case 'waiting': {
        const w = p as { callIds: string[] };
        return this.options.verbose === true
          ? [`${prefix}${paint(c, 'gray', `… waiting for ${plural(w.callIds.length, 'call')}`)}`]
          : [];
      }
      case 'finished':
        return (this.conversations.get(conv)?.depth ?? 0) > 0 || this.options.verbose === true
          ? [`${prefix}${paint(c, 'green', `✓ finished (${plural((p as { steps: number }).steps, 'step')})`)}`]
          : [];
      case 'failed': {
        const f = p as { code: string; message: string; hint?: string };
        return [
          `${prefix}${paint(c, 'red', `✗ ${f.code}: ${f.message}`)}${f.hint === undefined ? '' : paint(c, 'gray', ` — ${f.hint}`)}`,
        ];
      }
      default:
        return [];
    }
  }

  private indent(conversation: string): string {
    return '  '.repeat(this.conversations.get(conversation)?.depth ?? 0);
  }

  private prefix(conversation: string): string {
    const info = this.conversations.get(conversation);
    return `${this.indent(conversation)}${paint(this.options.color, 'bold', info?.agent ?? '?')} ▸ `;
  }

  private body(conversation: string, text: string): string {
    return text.replace(/\n/g, `\n${this.indent(conversation)}   `);
  }
}

function summary(output: unknown): string {
  if (
    output !== null &&
    typeof output === 'object' &&
    'summary' in output &&
    typeof (output as { summary: unknown }).summary === 'string'
  ) {
    return (output as { summary: string }).summary;
  }
  return typeof output === 'string' ? output : JSON.stringify(output);
}
