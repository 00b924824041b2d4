import type { SessionOptions } from '../core/events.ts';
import { P2Error, messageOf } from '../core/errors.ts';
import { sha256 } from '../core/hash.ts';
import { newConversationId, nextEventId } from '../core/ids.ts';
import type { JsonValue } from '../core/json.ts';
import {
  type ChatMessage,
  type ModelProvider,
  type ModelRequest,
  type ModelResponse,
  type ToolSpec,
} from '../models/provider.ts';
import { estimateTokens } from '../core/tokens.ts';
import { fitContext, type FittedContext } from './context-budget.ts';
import type { RenderedRef } from '../store/calls.ts';
import type { ConversationRuntime } from './conversation.ts';
import { decide, type Plan } from './decide.ts';
import type { PersonaKit } from './persona-kit.ts';
import type { ModelPort, ToolPort } from './ports.ts';

/** One model call about to be made: the request, what identifies it, and which provider serves it. */
export interface PreparedCall {
  readonly provider: ModelProvider;
  /** `provider/name`, as configured. */
  readonly modelRef: string;
  readonly request: ModelRequest;
  readonly params: Record<string, JsonValue>;
  readonly requestHash: string;
  readonly rendered: RenderedRef;
  readonly ordinal: number;
}

/** Builds the request for a conversation's next step from its incremental transcript: O(1) in its length. */
export function prepareCall(
  conv: ConversationRuntime,
  options: SessionOptions,
  models: ModelPort,
  kit: PersonaKit,
): PreparedCall {
  const persona = conv.persona;
  const modelRef = options.model ?? persona.model;
  const { provider, model } = models.resolve(modelRef);
  const temperature = options.temperature ?? persona.temperature;
  // Sent only when set, and hashed only then: requests (and replays) of agents without them are as before.
  const sampling = {
    ...(persona.topP === undefined ? {} : { topP: persona.topP }),
    ...(persona.maxTokens === undefined ? {} : { maxTokens: persona.maxTokens }),
  };
  const personaKit = kit.for(persona);
  const transcript = conv.transcript;
  const ordinal = conv.steps + 1;
  const fitted = fit(
    transcript.messages,
    transcript.taskIndex,
    transcript.estimatedTokens,
    modelRef,
    persona.policies.context_tokens,
    models,
    personaKit.specs,
  );
  const request: ModelRequest = {
    model: model.name,
    messages: fitted?.messages ?? transcript.messages,
    tools: personaKit.specs,
    temperature,
    ...sampling,
    seed: options.seed,
    estimatedInputTokens:
      fitted === undefined ? transcript.estimatedTokens : transcript.estimatedTokens - fitted.omittedTokens,
    simulation: {
      agent: conv.agent,
      description: persona.description,
      script: persona.script,
      conversationPath: conv.path,
      ordinal,
      taskIndex: fitted?.taskIndex ?? transcript.taskIndex,
      round: transcript.round,
      ...(conv.parent === null ? {} : { caller: conv.parent.agent }),
    },
  };
  // A trimmed request differs from the whole conversation: the hash says so (and stays a function of the stack).
  const params = {
    model: modelRef,
    temperature,
    ...(persona.topP === undefined ? {} : { top_p: persona.topP }),
    ...(persona.maxTokens === undefined ? {} : { max_tokens: persona.maxTokens }),
    seed: options.seed,
    tools: personaKit.hash,
    ...(fitted === undefined ? {} : { context: { budget: fitted.budget, omitted: fitted.omitted } }),
  };
  return {
    provider,
    modelRef,
    request,
    params,
    requestHash: transcript.requestHash(params),
    rendered: {
      conversation: conv.id,
      through: transcript.through,
      entries: transcript.entries,
      messages: request.messages.length,
      ...(fitted === undefined ? {} : { omitted: fitted.omitted }),
    },
    ordinal,
  };
}

/**
 * The context window's cut, when the conversation does not fit: undefined (send everything) in the common case,
 * decided from the transcript's running token total without looking at the messages.
 */
function fit(
  messages: readonly ChatMessage[],
  taskIndex: number,
  tokens: number,
  modelRef: string,
  personaWindow: number | undefined,
  models: ModelPort,
  tools: readonly ToolSpec[],
): (FittedContext & { budget: number }) | undefined {
  const window = personaWindow ?? models.contextTokens(modelRef);
  if (window === undefined) return undefined;
  // Room for the answer (a quarter of the window, at most 4,096 tokens) and for the tool definitions.
  const reserve = Math.min(4096, Math.floor(window / 4));
  const budget = Math.max(64, window - reserve - toolTokens(tools));
  if (tokens <= budget) return undefined;
  return { ...fitContext(messages, taskIndex, budget), budget };
}

const toolTokenCache = new WeakMap<readonly ToolSpec[], number>();

/** Estimated tokens of a persona's tool definitions (its spec list is built once, so this is computed once). */
function toolTokens(tools: readonly ToolSpec[]): number {
  let tokens = toolTokenCache.get(tools);
  if (tokens === undefined) {
    tokens = estimateTokens(JSON.stringify(tools));
    toolTokenCache.set(tools, tokens);
  }
  return tokens;
}

/** The FSM's reading of a response, with the persona's tools and the conversation's history. */
export function planResponse(
  conv: ConversationRuntime,
  response: ModelResponse,
  modelCall: string,
  tools: ToolPort,
  now: number,
): Plan {
  const persona = conv.persona;
  return decide({
    response,
    modelCall,
    steps: conv.steps,
    conversation: { id: conv.id, agent: conv.agent, depth: conv.depth, ancestors: conv.ancestors },
    persona: {
      tools: persona.tools,
      agents: persona.agents,
      canAsk: persona.policies.ask_user,
      maxDepth: persona.policies.max_depth,
      dedup: persona.policies.dedup,
      reuseChildren: persona.policies.reuse_children,
      userTimeoutMs: persona.policies.user_timeout_ms,
    },
    now,
    lookupTool: (name) => {
      const tool = tools.get(name);
      if (tool === undefined) return undefined;
      return {
        name: tool.name,
        effect: tool.effect,
        dedup: tool.dedup,
        validate: (args) => {
          const result = tool.input.safeParse(args);
          return result.success
            ? { ok: true }
            : {
                ok: false,
                error: result.error.issues.map((i) => `${i.path.join('.') || '(arguments)'}: ${i.message}`).join('; '),
              };
        },
      };
    },
    // An earlier call with large arguments is known by their hash (its entry holds a preview of them).
    previousCall: (tool, args) =>
      conv.effectfulCalls.get(`${tool}\n${args}`) ?? conv.effectfulCalls.get(`${tool}\n@${sha256(args)}`),
    reusableChild: (agent) => conv.childrenByAgent.get(agent)?.findLast((c) => c.state.phase === 'finished')?.id,
    newEntryId: () => nextEventId(),
    newConversationId,
  });
}

export interface Failure {
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
  readonly hint?: string;
}

/** What a failed model call becomes: a `failed` entry with the provider's message, resumable unless it says not. */
export function modelFailure(
  error: unknown,
  timedOut: boolean,
  modelRef: string,
  timeoutMs: number,
  session: string,
): Failure {
  const resume = `Resume to try again: p2tui session resume ${session}`;
  if (timedOut)
    return {
      code: 'E_MODEL_TIMEOUT',
      message: `${modelRef} did not answer within ${timeoutMs} ms`,
      retryable: true,
      hint: resume,
    };
  return {
    code: error instanceof P2Error ? error.code : 'E_MODEL_PROVIDER',
    message: `${modelRef} failed: ${messageOf(error)}`,
    // Resumable whatever the HTTP status: the provider's retries are spent, and what is left to do (fix the key,
    // wait out a quota, start the server) is the user's; a resume then calls the model again.
    retryable: true,
    hint: error instanceof P2Error && error.hint !== undefined ? error.hint : resume,
  };
}
