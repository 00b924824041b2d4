import { P2Error, StoreError, messageOf, storageFailureOf } from '../../core/errors.ts';
import type { Txn } from '../context.ts';
import { rebuildConversations } from '../rebuild.ts';
import type { Settlement } from './settlement.ts';
import type { SessionState } from './state.ts';
import type { SessionWriter } from './writer.ts';

/**
 * Whether an error that stopped a session is a fault of the code that ran its step (p2tui's, or workspace code it
 * calls unguarded), rather than the world: such a session ends `failed` with the error, since a resume would only run
 * the same step into the same fault. A storage failure cannot be written and stays resumable once the disk is fixed;
 * a lost lease belongs to the process that took the session over; a cancel or a detach is no fault.
 */
export function endsSession(error: P2Error): boolean {
  return error.code === 'E_INTERNAL' || error.code === 'E_ILLEGAL_TRANSITION';
}

/** The error a session stops on: a P2Error as it is, a storage failure by its kind, anything else E_INTERNAL. */
export function stopError(session: string, error: unknown): P2Error {
  if (error instanceof P2Error) return error;
  return (
    storageFailureOf(error) ??
    new StoreError('E_INTERNAL', `session ${session} stopped: ${messageOf(error)}`, {
      cause: error,
      hint: `Resume it with: p2tui session resume ${session}`,
    })
  );
}

/**
 * After a stop on `error` (state.error already set, everything aborted): a fault ends the session failed (see
 * writeFailure) unless a cancel is under way; the error's hint then says so. Whether it ended.
 */
export function endOnFault(
  parts: { state: SessionState; writer: SessionWriter; settlement: Settlement },
  error: unknown,
  crashedConversation: string | undefined,
): boolean {
  const { state } = parts;
  const stopped = state.error;
  if (stopped === undefined || !endsSession(stopped)) return false;
  if (state.cancelled !== undefined || state.status === 'cancelled' || state.ctx.store.isClosed) return false;
  try {
    writeFailure(parts, stopped, crashedConversation);
  } catch {
    // Not written (the lease went meanwhile, the log does not rebuild): the session stays as it was, resumable.
    return false;
  }
  if (!(error instanceof P2Error)) {
    state.error = new StoreError('E_INTERNAL', stopped.message, {
      cause: error,
      hint: `The session ended failed with this error (p2tui session show ${state.id}); a resume would repeat the step.`,
    });
  }
  return true;
}

/**
 * Ends a session that stopped on an internal error, in one write while the lease is still held: the conversation
 * whose step broke gets a `failed` entry with the error (not retryable), everything else that was working is
 * cancelled with the reason (calls that may have run settled as unknown), and the session's status becomes
 * `failed` with the error's code and message. Built over the log, not memory: the fault may have struck inside a
 * commit the store rolled back while memory kept its entries. Throws when it cannot write (the caller leaves the
 * session as it was).
 */
export function writeFailure(
  parts: { state: SessionState; writer: SessionWriter; settlement: Settlement },
  error: P2Error,
  crashedConversation: string | undefined,
): void {
  const { state, writer, settlement } = parts;
  const { ctx } = state;
  ctx.store.write(() => {
    const now = ctx.clock.now();
    ctx.leases.assert(state.id, now);
    const rebuilt = rebuildConversations(ctx.store, ctx.personas, { ...state.row, headBranch: state.branch }, (id) =>
      state.persona(id),
    );
    state.conversations = rebuilt.conversations;
    state.root = rebuilt.root;
    state.totalSteps = rebuilt.totalSteps;
    const tx: Txn = { now, touched: new Set(), after: [], jobs: [] };
    // The conversation whose step broke; when the fault struck elsewhere (a commit, a tool's settling), the root if
    // it can take the entry: either way the stack the user reads ends with the error itself.
    const crashed =
      (crashedConversation === undefined ? undefined : state.conversations.get(crashedConversation)) ?? state.root;
    const phase = crashed.state.phase;
    if (phase === 'ready' || (phase === 'failed' && crashed.state.retryable)) {
      const hint =
        'A resume would repeat the same step; send a new message (p2tui chat --session) or start a new session.';
      settlement.fail(tx, crashed, { code: error.code, message: error.message, retryable: false, hint });
    }
    const reason = `stopped by an internal error: ${error.message}`;
    for (const conv of state.conversations.values()) settlement.cancel(tx, conv, reason);
    if (tx.jobs.length > 0) {
      const upto = ctx.store.log.lastSeq();
      for (const queue of tx.jobs) queue(upto);
    }
    writer.heads(tx);
    writer.status('failed', `${error.code}: ${error.message}`, now);
  });
  state.status = 'failed';
}
