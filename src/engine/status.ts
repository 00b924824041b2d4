import type { SessionStatus } from '../core/events.ts';
import type { ConversationRuntime } from './conversation.ts';
import { outstanding } from './fsm.ts';

/**
 * A session's status, derived from its conversations: running while anything is in flight or runnable; waiting
 * when only questions to the user remain; failed when a failure needs a resume; finished when the root answered.
 */
export function deriveStatus(
  conversations: Iterable<ConversationRuntime>,
  root: ConversationRuntime,
  flags: { paused: boolean },
  /** Tool calls waiting for a person's approval, by call id: the session waits for the user on them. */
  approvals: ReadonlyMap<string, unknown> = new Map(),
): { status: SessionStatus; reason: string | null } {
  if (flags.paused) return { status: 'paused', reason: null };
  let waitingForUser = false;
  let retryableFailure: string | null = null;
  for (const conv of conversations) {
    const phase = conv.state.phase;
    if (conv.inFlight || conv.runningTools.size > 0 || phase === 'ready' || phase === 'deciding')
      return { status: 'running', reason: null };
    if (phase === 'waiting') {
      for (const call of outstanding(conv.state)) {
        // A question answered a moment ago (stored, not yet appended behind earlier calls) is no longer waiting.
        if (call.kind === 'user_input_request') waitingForUser ||= !conv.pendingResults.has(call.callId);
        else if (call.kind === 'tool_call' && !conv.pendingResults.has(call.callId)) {
          if (!approvals.has(call.callId)) return { status: 'running', reason: null };
          waitingForUser = true;
        }
      }
    }
    if (phase === 'failed' && conv.state.retryable) retryableFailure ??= `${conv.agent} failed; resumable`;
  }
  if (waitingForUser)
    return {
      status: 'waiting',
      reason: approvals.size > 0 ? 'a tool call waits for your approval' : 'an agent asked the user a question',
    };
  if (retryableFailure !== null) return { status: 'failed', reason: retryableFailure };
  if (root.state.phase === 'finished') return { status: 'finished', reason: null };
  if (root.state.phase === 'failed') return { status: 'failed', reason: null };
  return { status: 'running', reason: null };
}
