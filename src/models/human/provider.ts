import { UserError } from '../../core/errors.ts';
import { sha256 } from '../../core/hash.ts';
import { canonicalJson } from '../../core/json.ts';
import type { ChatMessage, CompleteOptions, ModelProvider, ModelRequest, ModelResponse } from '../provider.ts';

/** The provider id of agents a person answers: `human/operator` (any name after `human/` is only a label). */
export const HUMAN_PROVIDER_ID = 'human';

const NO_USAGE = { inputTokens: 0, outputTokens: 0, estimated: false } as const;

/**
 * A "model" that is a person: P2Engine's `human_in_loop` agent, which only ever answered "Waiting for human
 * response...", made to wait for a real answer. On the agent's turn it asks the person the message the agent
 * received, through the built-in `ask_user` tool, so the question is stored, shown, answered (terminal, TUI,
 * `session respond`, the approval policy, the question's timeout) and replayed exactly as any agent's question is;
 * once answered, the answer is the agent's reply, word for word. No model is called: no tokens, no cost.
 */
export class HumanProvider implements ModelProvider {
  readonly id = HUMAN_PROVIDER_ID;
  readonly simulated = false;

  complete(request: ModelRequest, options: CompleteOptions): Promise<ModelResponse> {
    if (options.signal.aborted) return Promise.reject(options.signal.reason as Error);
    const agent = request.simulation?.agent ?? 'this agent';
    const { task, answer } = currentTurn(request.messages);
    if (answer !== undefined) {
      // The engine refuses an empty reply; an empty answer is still the person's, so it is said in words.
      const text = answer.trim() === '' ? '(the person answered with nothing)' : answer;
      options.onDelta?.({ text });
      return Promise.resolve({ text, toolCalls: [], usage: NO_USAGE, finishReason: 'stop' });
    }
    if (!request.tools.some((t) => t.name === 'ask_user')) {
      // Without the question tool the person could never be reached: failing beats a session that never ends.
      return Promise.reject(
        new UserError(
          'E_CONFIG',
          `${agent} is answered by a person (${HUMAN_PROVIDER_ID}/${request.model}) but may not ask`,
          {
            hint: `Remove policies.ask_user: false from ${agent}'s persona, or give it another model.`,
          },
        ),
      );
    }
    const caller = request.simulation?.caller;
    const question = `${agent} (human_in_loop) was asked by ${caller ?? 'the user'}: ${task}`;
    const path = request.simulation?.conversationPath ?? 'root';
    const ordinal = request.simulation?.ordinal ?? 0;
    // Deterministic, as the simulator's: a replay finds the recorded answer under the same call id.
    const call = {
      id: `call_${sha256(`${path}:${ordinal}:human`).slice(0, 12)}`,
      name: 'ask_user',
      arguments: canonicalJson({ question }),
    };
    options.onDelta?.({ toolCall: { id: call.id, name: call.name, argumentsDelta: call.arguments } });
    return Promise.resolve({ text: '', toolCalls: [call], usage: NO_USAGE, finishReason: 'tool_calls' });
  }
}

/** The message the agent is on (the latest user turn) and the person's answer to it, once one arrived. */
function currentTurn(messages: readonly ChatMessage[]): { task: string; answer: string | undefined } {
  let taskIndex = -1;
  let task = '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === 'user') {
      taskIndex = i;
      task = m.content;
      break;
    }
  }
  for (let i = taskIndex + 1; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role === 'tool' && m.name === 'ask_user') return { task, answer: m.content };
  }
  return { task, answer: undefined };
}
