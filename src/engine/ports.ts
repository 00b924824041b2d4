import type { Persona } from '../agents/persona.ts';
import type { EntryPayloads } from '../core/entries.ts';
import type { JsonValue } from '../core/json.ts';
import type { WalletService } from '../ledger/wallets/service.ts';
import type { Redactor } from '../models/redactor.ts';
import type { ModelProvider } from '../models/provider.ts';
import type { ModelRef } from '../models/registry.ts';
import type { McpListingRow } from '../store/mcp.ts';
import type { JobTrigger, TargetKind } from '../store/scores.ts';
import type { Tool } from '../tools/define.ts';

/**
 * What the engine needs from the rest of the workbench, declared here and implemented by the composition root
 * (`src/app/`). The engine imports no implementation of these: not the judge, not the ledger, not a provider.
 */
export interface EnginePorts {
  /** The workspace folder (tools get it; sessions record it). */
  readonly root: string;
  readonly personas: PersonaPort;
  readonly tools: ToolPort;
  readonly models: ModelPort;
  /** Which evaluators a step triggers, and how their jobs are queued (the judge runs them elsewhere). */
  readonly evaluations: EvaluationPort;
  /** The agents' wallets, for the ledger tools (absent: tools that need a ledger say none is available). */
  readonly wallets?: WalletPort;
  /** Knows every configured secret: tool results pass through it before they are stored. */
  readonly redactor: Pick<Redactor, 'active' | 'json' | 'redact'>;
  /** Outputs, errors and arguments above this many bytes become artifacts (p2tui.yaml's `limits.inline_bytes`). */
  readonly inlineBytes?: number;
  /** What each MCP server listed: recorded with every new session, so a replay of it reaches no server. */
  readonly mcpListings?: readonly McpListingRow[];
  /**
   * A journal of effectful calls outside this store, for sessions with `effectKeys` (a distributed rollout's cells:
   * a worker's store dies with it, and the cell runs again elsewhere). Absent: only the store's intents count.
   */
  readonly effects?: EffectJournalPort;
}

/** What an earlier attempt journaled of a call: it started, or it ended with this result. */
export type JournaledEffect =
  { readonly status: 'running' } | { readonly status: 'done'; readonly result: EntryPayloads['tool_result'] };

export interface EffectJournalPort {
  /** What was journaled under this key (by any attempt), if anything. */
  lookup(key: string): Promise<JournaledEffect | undefined>;
  /**
   * Journals that the call starts, durably, before it does. `fresh`: only if nothing is journaled under the key yet
   * (false then: another attempt got there first, and this one must not start it).
   */
  start(key: string, call: { tool: string; args: JsonValue }, fresh: boolean): Promise<boolean>;
  /** Journals how the call ended. */
  settle(key: string, result: EntryPayloads['tool_result']): Promise<void>;
}

export interface PersonaPort {
  /** Every persona of the workspace, by id. */
  readonly all: ReadonlyMap<string, Persona>;
  /** A persona by id; an unknown id is a UserError (E_UNKNOWN_AGENT) naming the ones that exist. */
  get(id: string): Persona;
  /** The persona's system prompt, its template rendered with its delegates and whether it may ask the user. */
  systemPrompt(persona: Persona, delegates: readonly { id: string; description: string }[], canAsk: boolean): string;
}

export interface ToolPort {
  get(name: string): Tool | undefined;
  /** A tool by name; an unknown name is a UserError (E_UNKNOWN_TOOL). */
  require(name: string): Tool;
}

export interface ModelPort {
  /** The provider serving `provider/name`; an unknown provider is a UserError (E_UNKNOWN_PROVIDER). */
  resolve(ref: string): { provider: ModelProvider; model: ModelRef };
  /** The model's context window in tokens, when known (the persona's own setting comes first). */
  contextTokens(ref: string): number | undefined;
  /** What a call cost, in USD, by the workspace's price table. */
  cost(ref: string, tokensIn: number, tokensOut: number): number;
}

/** An evaluator as the engine sees it: something to queue a job for. */
export interface EvaluatorRef {
  readonly id: string;
}

export interface EvaluationJob {
  readonly session: string;
  readonly branch: string;
  readonly targetKind: TargetKind;
  readonly targetId: string;
  readonly trigger: JobTrigger;
  readonly evaluator: EvaluatorRef;
  /** The job judges the branch as it is at this seq (the end of the triggering commit). */
  readonly uptoSeq: number;
  readonly now: number;
}

export interface EvaluationPort {
  /** Evaluators that judge a conversation of `agent` when it finishes (`root`: it is the session's first). */
  onFinished(agent: string, root: boolean): readonly EvaluatorRef[];
  onArtifact(kind: string): readonly EvaluatorRef[];
  onMilestone(name: string): readonly EvaluatorRef[];
  /** Queues a job; called inside the triggering commit's write, so the job is as durable as the step. */
  queue(job: EvaluationJob): void;
}

export interface WalletPort {
  /** The wallets a session's agents pay from: the workspace's, or a scope's own parties (a rollout cell's). */
  scoped(scope: string | undefined): WalletService;
}
