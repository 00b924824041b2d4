import type { ConversationRuntime } from '../conversation.ts';
import { outstanding } from '../fsm.ts';
import type { Settlement } from './settlement.ts';
import type { SessionState, ToolCallRef } from './state.ts';
import type { ToolCalls } from './tool-calls.ts';
import type { SessionWriter } from './writer.ts';

/**
 * Settles what an interrupted run left outstanding (after a crash, a takeover, or a rewind in memory), then queues
 * every runnable conversation. Delegations take their answer from the child as this branch has it; results already
 * stored are appended; pure and idempotent calls run again, and so does an effectful call that never started;
 * an effectful call that had started is reconciled, never run again; questions are asked again (or answered by
 * the policy).
 */
export async function recover(
  parts: { state: SessionState; writer: SessionWriter; settlement: Settlement; tools: ToolCalls },
  retryFailed: boolean,
): Promise<void> {
  const { state, writer, settlement, tools } = parts;
  const { store, ports } = state.ctx;
  const toRun: { conv: ConversationRuntime; call: ToolCallRef }[] = [];
  const toReconcile: { conv: ConversationRuntime; call: ToolCallRef }[] = [];
  await writer.commit((tx) => {
    for (const conv of state.conversations.values()) {
      if (conv.state.phase !== 'waiting') continue;
      for (const call of outstanding(conv.state)) {
        const key = conv.callKeys.get(call.callId);
        const intent = key === undefined ? undefined : store.calls.intent(key);
        if (call.kind === 'agent_call') {
          // From the child as this branch has it, never from the intent: after a rewind into a delegation the
          // intent holds the answer of the child on the old branch, and the child here goes on from the cut.
          const child = conv.childByCall.get(call.callId);
          if (child?.state.phase === 'finished') settlement.propagate(tx, child, 'ok');
          else if (child?.state.phase === 'failed' && !child.state.retryable)
            settlement.propagate(tx, child, 'failed', 'the delegated agent failed');
          else settlement.armDelegationTimer(tx, conv, call.callId);
        } else if (intent?.status === 'done' && intent.result !== null) {
          conv.pendingResults.set(call.callId, intent.result);
        } else if (call.kind === 'tool_call') {
          if (intent === undefined || key === undefined) continue;
          const ref: ToolCallRef = {
            callId: call.callId,
            key,
            tool: intent.tool,
            args: intent.args,
            effect: intent.effect,
          };
          if (ports.tools.get(intent.tool) === undefined) {
            const error = `tool '${intent.tool}' no longer exists in this workspace`;
            settlement.settle(tx, conv, call.callId, {
              kind: 'tool_result',
              payload: { callId: call.callId, tool: intent.tool, status: 'error', error },
            });
          } else if (intent.effect !== 'effectful' || intent.status === 'pending') {
            // Pure and idempotent calls run again; an effectful one that never started may start now.
            toRun.push({ conv, call: ref });
          } else {
            toReconcile.push({ conv, call: ref });
          }
        } else {
          settlement.answerByPolicyOrWait(tx, conv, call.callId);
        }
      }
      settlement.release(tx, conv);
    }
  });
  for (const { conv, call } of toRun) void tools.run(conv, call);
  for (const { conv, call } of toReconcile) void tools.reconcile(conv, call);
  for (const conv of state.conversations.values()) {
    if (conv.state.phase === 'ready' || (retryFailed && conv.state.phase === 'failed' && conv.state.retryable)) {
      state.loop.enqueue(conv);
    }
  }
}
