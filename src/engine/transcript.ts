import type { EntryDraft } from '../core/entries.ts';
import { EMPTY_CHAIN, chainHash, sha256 } from '../core/hash.ts';
import { canonicalJson } from '../core/json.ts';
import type { ChatMessage, ToolCallRequest } from '../models/provider.ts';
import { estimateTokens } from '../core/tokens.ts';

/** A transcript's position (see `mark`): a few numbers and references, whatever the transcript's length. */
export interface TranscriptMark {
  readonly length: number;
  /** Tool calls of the last message, when it is an assistant turn (later calls of the same response join it). */
  readonly calls: number;
  readonly sealed: number;
  readonly chain: string;
  readonly tokens: number;
  readonly openModelCall: string | undefined;
  readonly taskIndex: number;
  readonly round: number;
  readonly entries: number;
  readonly through: string | null;
}

/** A transcript's counters as a conversation snapshot stores them (its messages are stored apart, as JSON). */
export type TranscriptCounters = Omit<TranscriptMark, 'calls'>;

type MutableAssistant = { role: 'assistant'; content: string | null; toolCalls: ToolCallRequest[] };
type Message = Exclude<ChatMessage, { role: 'assistant' }> | MutableAssistant;

/**
 * A conversation's stack rendered as model messages, kept incrementally: appending an entry costs the same at step
 * 10 and at step 10,000, and so does the request hash (a running hash over finished messages plus the open tail).
 *
 * Rendering: user messages as user turns; an assistant message and the calls of the same model response as one
 * assistant turn with tool calls (a delegation is a call of `delegate`, a question one of `ask_user`); each result
 * as a tool message; waiting, finished and failed are bookkeeping and not shown to the model.
 */
export class Transcript {
  private readonly list: Message[];
  /**
   * Messages restored from a snapshot and not parsed yet (a load that only rewinds or reads the state never needs
   * them), with the cut a rewind made meanwhile; parsed by the first use of the messages.
   */
  private pending: { load: () => string; length: number; calls: number | undefined } | undefined;
  private sealed = 0;
  private chain = EMPTY_CHAIN;
  private tokens = 0;
  private openModelCall: string | undefined;
  /** Index of the message holding the current task (the latest user message). */
  taskIndex = -1;
  /** Assistant turns since the task. */
  round = 0;
  /** Entries rendered so far, and the newest one's id. */
  entries = 0;
  through: string | null = null;

  constructor(systemPrompt: string) {
    this.list = [{ role: 'system', content: systemPrompt }];
    this.tokens = estimateTokens(systemPrompt);
  }

  get messages(): readonly ChatMessage[] {
    if (this.pending !== undefined) this.parsePending();
    return this.list;
  }

  get estimatedTokens(): number {
    return this.tokens;
  }

  append(id: string, draft: EntryDraft): void {
    if (this.pending !== undefined) this.parsePending();
    this.entries += 1;
    this.through = id;
    switch (draft.kind) {
      case 'user_message':
        this.openModelCall = undefined;
        this.push({ role: 'user', content: draft.payload.text });
        this.taskIndex = this.list.length - 1;
        this.round = 0;
        return;
      case 'assistant_message':
        this.openModelCall = draft.payload.modelCall;
        this.round += 1;
        this.push({ role: 'assistant', content: draft.payload.text, toolCalls: [] });
        return;
      case 'tool_call':
        return this.addCall(draft.payload.modelCall, {
          id: draft.payload.callId,
          name: draft.payload.tool,
          arguments: canonicalJson(draft.payload.args),
        });
      case 'agent_call':
        return this.addCall(draft.payload.modelCall, {
          id: draft.payload.callId,
          name: 'delegate',
          arguments: canonicalJson({ agent: draft.payload.agent, message: draft.payload.message }),
        });
      case 'user_input_request':
        return this.addCall(draft.payload.modelCall, {
          id: draft.payload.callId,
          name: 'ask_user',
          arguments: canonicalJson({ question: draft.payload.question }),
        });
      case 'tool_result': {
        const p = draft.payload;
        const body =
          p.status === 'ok'
            ? { status: p.status, output: p.output ?? null }
            : { status: p.status, error: p.error ?? p.status };
        this.openModelCall = undefined;
        this.push({ role: 'tool', toolCallId: p.callId, name: p.tool, content: JSON.stringify(body) });
        return;
      }
      case 'agent_result': {
        const p = draft.payload;
        const body =
          p.status === 'ok'
            ? { agent: p.agent, status: p.status, answer: p.text }
            : { agent: p.agent, status: p.status, error: p.error ?? p.status };
        this.openModelCall = undefined;
        this.push({ role: 'tool', toolCallId: p.callId, name: 'delegate', content: JSON.stringify(body) });
        return;
      }
      case 'user_response':
        this.openModelCall = undefined;
        this.push({ role: 'tool', toolCallId: draft.payload.callId, name: 'ask_user', content: draft.payload.text });
        return;
      case 'waiting':
      case 'finished':
      case 'failed':
        return;
    }
  }

  /** Where the transcript stands now, to come back to with `truncate` (a rewind in memory). */
  mark(): TranscriptMark {
    if (this.pending !== undefined) this.parsePending();
    const last = this.list[this.list.length - 1]!;
    return {
      length: this.list.length,
      calls: last.role === 'assistant' ? last.toolCalls.length : 0,
      sealed: this.sealed,
      chain: this.chain,
      tokens: this.tokens,
      openModelCall: this.openModelCall,
      taskIndex: this.taskIndex,
      round: this.round,
      entries: this.entries,
      through: this.through,
    };
  }

  /** Back to a mark taken earlier: the messages after it go, and the running hash is the one it had then. */
  truncate(mark: TranscriptMark): void {
    if (this.pending !== undefined) {
      this.pending.length = mark.length;
      this.pending.calls = mark.calls;
    } else {
      this.list.length = mark.length;
      const last = this.list[mark.length - 1]!;
      // Calls of the same response appended after the mark belong to the cut-off part.
      if (last.role === 'assistant') last.toolCalls.length = mark.calls;
    }
    this.sealed = mark.sealed;
    this.chain = mark.chain;
    this.tokens = mark.tokens;
    this.openModelCall = mark.openModelCall;
    this.taskIndex = mark.taskIndex;
    this.round = mark.round;
    this.entries = mark.entries;
    this.through = mark.through;
  }

  /** The messages as JSON and the counters, as a conversation snapshot stores them. */
  data(): { readonly messages: string; readonly counters: TranscriptCounters } {
    return { messages: JSON.stringify(this.messages), counters: this.counters() };
  }

  private counters(): TranscriptCounters {
    return {
      length: this.pending?.length ?? this.list.length,
      sealed: this.sealed,
      chain: this.chain,
      tokens: this.tokens,
      openModelCall: this.openModelCall,
      taskIndex: this.taskIndex,
      round: this.round,
      entries: this.entries,
      through: this.through,
    };
  }

  /**
   * Takes over a snapshot's counters, on a transcript just made; its messages come from `load` (JSON of the
   * messages at the snapshot, or any later point of the same history: the counters' length cuts them) when first used.
   */
  restore(load: () => string, data: TranscriptCounters): void {
    this.pending = { load, length: data.length, calls: undefined };
    this.sealed = data.sealed;
    this.chain = data.chain;
    this.tokens = data.tokens;
    this.openModelCall = data.openModelCall;
    this.taskIndex = data.taskIndex;
    this.round = data.round;
    this.entries = data.entries;
    this.through = data.through;
  }

  private parsePending(): void {
    const { load, length, calls } = this.pending!;
    this.pending = undefined;
    const list = JSON.parse(load()) as Message[];
    this.list.length = 0;
    for (let i = 0; i < length; i++) this.list.push(list[i]!);
    const last = this.list[length - 1]!;
    if (calls !== undefined && last.role === 'assistant') last.toolCalls.length = calls;
  }

  /** Hash of the request: every message plus the call parameters, in O(1) per step. */
  requestHash(params: unknown): string {
    if (this.pending !== undefined) this.parsePending();
    let tail = '';
    for (let i = this.sealed; i < this.list.length; i++) tail += `${JSON.stringify(this.list[i])}\n`;
    return sha256(`${this.chain}\n${tail}${canonicalJson(params)}`);
  }

  private addCall(modelCall: string, call: ToolCallRequest): void {
    const last = this.list[this.list.length - 1];
    this.tokens += estimateTokens(call.name) + estimateTokens(call.arguments);
    if (last?.role === 'assistant' && this.openModelCall === modelCall) {
      last.toolCalls.push(call);
      return;
    }
    this.openModelCall = modelCall;
    this.round += 1;
    this.push({ role: 'assistant', content: null, toolCalls: [call] });
  }

  private push(message: Message): void {
    // The previous tail can no longer change: fold it into the running hash.
    while (this.sealed < this.list.length) {
      // Messages are built here with a fixed key order, so plain JSON is canonical for them.
      this.chain = chainHash(this.chain, JSON.stringify(this.list[this.sealed]));
      this.sealed += 1;
    }
    this.list.push(message);
    if (message.role !== 'assistant') this.tokens += estimateTokens(message.content);
    else this.tokens += estimateTokens(message.content ?? '');
  }
}
