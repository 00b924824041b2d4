import { deriveStatus } from '../status.ts';
import type { Approvals } from './approvals.ts';
import type { SessionState } from './state.ts';
import type { SessionWriter } from './writer.ts';

/** What a fork changes of the session's options on its branch (`session fork --model … --temperature …`). */
export interface BranchOptions {
  readonly model?: string;
  readonly temperature?: number;
}

/**
 * Moving the session this process drives onto a new branch without replaying the log: a fork at its head (the
 * state in memory is the new branch's as it is) or a rewind (each conversation goes back in memory to the cut).
 * The engine writes the branch row and the checkout in the same transaction.
 */
export class BranchMoves {
  private readonly state: SessionState;
  private readonly writer: SessionWriter;
  private readonly approvals: Approvals;

  constructor(state: SessionState, writer: SessionWriter, approvals: Approvals) {
    this.state = state;
    this.writer = writer;
    this.approvals = approvals;
  }

  /** Whether nothing is in flight, so a fork at the head can continue in this runtime. */
  canSwitch(): boolean {
    const { state } = this;
    if (!state.active || state.paused || state.queuedCommits > 0) return false;
    for (const conv of state.conversations.values()) {
      if (conv.inFlight || conv.runningTools.size > 0 || conv.pendingResults.size > 0 || conv.state.phase === 'ready')
        return false;
    }
    return true;
  }

  /**
   * Continues on a branch forked at the current head. Only while nothing is in flight (in-flight work belongs to
   * the source branch). Returns false when it cannot switch now.
   */
  switchTo(branch: string, options: BranchOptions, now: number): boolean {
    if (!this.canSwitch()) return false;
    const { state } = this;
    state.branch = branch;
    state.row = { ...state.row, headBranch: branch, options: { ...state.row.options, ...options } };
    for (const conv of state.conversations.values()) this.writer.head(conv, branch, now);
    return true;
  }

  /**
   * Whether a rewind to `seq` can happen in memory: nothing in flight or half-delivered, no cancel or message on its
   * way, and every conversation still keeps marks that far back.
   */
  canRewind(seq: number): boolean {
    const { state } = this;
    const busy = state.sending || state.queuedCommits > 0 || state.cancelled !== undefined;
    if (!state.active || busy || state.status === 'cancelled') return false;
    for (const conv of state.conversations.values()) {
      const inFlight = conv.inFlight || conv.runningTools.size > 0 || conv.effectsNotStarted.size > 0;
      if (inFlight || conv.pendingResults.size > 0 || !conv.canRewindTo(seq)) return false;
    }
    return true;
  }

  /**
   * Continues on a branch forked at an earlier point (a rewind): each conversation goes back to how it was after its
   * last entry at or before `seq` (what came after is undone, so the cost is the length of the part cut off, not of
   * the history), and conversations started after it are dropped. Like a checkout, it leaves the session paused
   * when the branch has work to do. Returns true when outstanding calls remain for `settleAfterRewind` to settle;
   * the caller checks `canRewind` first.
   */
  rewindTo(branch: string, seq: number, options: BranchOptions, now: number): boolean {
    const { state } = this;
    const { conversations } = state;
    for (const conv of conversations.values()) {
      // Deadlines and delegation timers belong to the old branch; settling the new one arms its own.
      conv.clearTimers();
      if (!conv.rewindTo(seq)) conversations.delete(conv.id);
      // A conversation cancelled after the cut (a delegation timeout, say) is not cancelled on the new branch.
      else if (conv.abort.signal.aborted) conv.abort = new AbortController();
    }
    let total = 0;
    for (const conv of conversations.values()) {
      total += conv.steps;
      // Links to conversations that do not exist at the cut go with them (a rebuild would not make them).
      for (const [callId, child] of conv.childByCall) if (!conversations.has(child.id)) conv.childByCall.delete(callId);
      for (const [agent, children] of conv.childrenByAgent) {
        const kept = children.filter((c) => conversations.has(c.id));
        if (kept.length === 0) conv.childrenByAgent.delete(agent);
        else if (kept.length !== children.length) conv.childrenByAgent.set(agent, kept);
      }
      this.writer.head(conv, branch, now);
    }
    state.totalSteps = total;
    state.branch = branch;
    state.row = { ...state.row, headBranch: branch, options: { ...state.row.options, ...options } };
    state.settling = [...conversations.values()].some((c) => c.state.phase === 'waiting');
    if (state.settling) {
      // Outstanding calls are settled by `settleAfterRewind`, which then decides.
      state.paused = true;
      return true;
    }
    // Nothing to settle: the caller writes the status in the same transaction.
    state.paused = this.hasWork();
    return false;
  }

  /** Whether the branch has work to do (it would be running if it were not paused). */
  hasWork(): boolean {
    const { state } = this;
    const flags = { paused: false };
    return deriveStatus(state.conversations.values(), state.root, flags, this.approvals.waiting).status === 'running';
  }
}
