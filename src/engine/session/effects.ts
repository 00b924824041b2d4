import type { EntryPayloads } from '../../core/entries.ts';
import { canonicalJson } from '../../core/json.ts';
import { scratchScope } from '../../core/scratch-scope.ts';
import type { PriorResult, Tool } from '../../tools/define.ts';
import type { ConversationRuntime } from '../conversation.ts';
import { effectsPolicyOf, type EffectsPolicy } from '../effects-policy.ts';
import type { WalletPort } from '../ports.ts';
import type { SessionState, ToolCallRef } from './state.ts';

/** What the model sees of an effectful call a dry-run branch did not execute (its tool has no `simulate`). */
export function dryRunSkipped(call: ToolCallRef): EntryPayloads['tool_result'] {
  return {
    callId: call.callId,
    tool: call.tool,
    status: 'skipped',
    error:
      `E_DRY_RUN: ${call.tool} was not executed because this branch is a dry run (effects: dry-run); ` +
      'it has no simulate() to answer in its place, and nothing it would have changed was changed',
    simulated: true,
  };
}

/**
 * A tool as a dry run executes it: its `simulate` in place of `run`, through the same runner (timeout, redaction,
 * artifacts), as an idempotent call (no at-most-once bookkeeping: nothing real happens).
 */
export function simulating(tool: Tool): Tool {
  return { ...tool, run: tool.simulate!, effect: 'idempotent' };
}

/** `prior` for a tool's context, when there is one. */
export function priorOf(prior: PriorResult | undefined): { prior?: PriorResult } {
  return prior === undefined ? {} : { prior };
}

/** Why a call waits for a person on a branch whose policy is `ask`. */
export function askReason(conv: ConversationRuntime, call: ToolCallRef): string {
  const args = JSON.stringify(call.args);
  const shown = args.length > 200 ? `${args.slice(0, 200)}…` : args;
  return `${conv.agent} calls ${call.tool} ${shown} (effects: ask on this branch)`;
}

/**
 * Seeds a dry-run branch's scratch wallets with the real scope's balances now (idempotent: an agent seeded before
 * keeps its scratch balance). The fork does it right after it is written; a session that starts dry-run, at the
 * first tool call that may use the ledger.
 */
export async function seedScratch(wallets: WalletPort, ledgerScope: string | undefined, branch: string): Promise<void> {
  const real = wallets.scoped(ledgerScope);
  await wallets.scoped(scratchScope(ledgerScope, branch)).seedFrom(real);
}

/**
 * The effects policy of the branch a session runs on, the ledger scope its tools pay in, and what an ancestor
 * branch's same call returned. The branch is read from the store (not the runtime's overrides): a fork or a rewind
 * in memory moves the runtime onto a branch whose row holds its own policy.
 */
export class BranchEffects {
  private readonly state: SessionState;
  private known: { branch: string; policy: EffectsPolicy } | undefined;
  /** Scratch scopes seeded by this runtime (once per branch). */
  private readonly seeded = new Map<string, Promise<void>>();

  constructor(state: SessionState) {
    this.state = state;
  }

  /** The policy effectful calls run under on the current branch. */
  policy(): EffectsPolicy {
    const { state } = this;
    if (this.known?.branch !== state.branch) {
      const overrides = state.ctx.store.sessions.branch(state.branch)?.overrides;
      this.known = { branch: state.branch, policy: effectsPolicyOf(state.row.options, overrides) };
    }
    return this.known.policy;
  }

  /** The ledger scope tool calls pay in: a dry-run branch's scratch scope, else the session's. */
  ledgerScope(): string | undefined {
    const { ledgerScope } = this.state.row.options;
    return this.policy() === 'dry-run' ? scratchScope(ledgerScope, this.state.branch) : ledgerScope;
  }

  /**
   * On a dry-run branch with a ledger: its scratch wallets seeded (once per branch in this runtime). Undefined when
   * there is nothing to wait for, so a live call takes no extra turn of the event loop before it starts.
   */
  ready(): Promise<void> | undefined {
    const { wallets } = this.state.ctx.ports;
    if (wallets === undefined || this.policy() !== 'dry-run') return undefined;
    const { branch } = this.state;
    let seeding = this.seeded.get(branch);
    if (seeding === undefined) {
      seeding = seedScratch(wallets, this.state.row.options.ledgerScope, branch);
      // A failure (a ledger that cannot be reached) is the tool's to report; the next call tries again.
      seeding.catch(() => this.seeded.delete(branch));
      this.seeded.set(branch, seeding);
    }
    return seeding.catch(() => undefined);
  }

  /**
   * What the nearest ancestor branch's same call (same tool, canonical-equal arguments, same conversation path)
   * returned, including calls it made after this branch's fork point; undefined on a first branch or when none did.
   * Calls of dry-run branches (simulated or skipped) are passed over: they changed nothing.
   */
  prior(conv: ConversationRuntime, call: ToolCallRef): PriorResult | undefined {
    const { store } = this.state.ctx;
    const args = canonicalJson(call.args);
    let parent = store.sessions.branch(this.state.branch)?.parent ?? null;
    while (parent !== null) {
      const found = store.calls
        .resultsOnBranch(this.state.id, parent, conv.path, call.tool)
        // A dry-run branch's call did nothing real: it is not a prior call, and the search goes on up the tree.
        .filter(
          (r) =>
            r.result.kind === 'tool_result' && r.result.payload.simulated !== true && canonicalJson(r.args) === args,
        )
        .at(-1)?.result;
      if (found?.kind === 'tool_result') {
        const { status, output, error } = found.payload;
        return { status, ...(output === undefined ? {} : { output }), ...(error === undefined ? {} : { error }) };
      }
      parent = store.sessions.branch(parent)?.parent ?? null;
    }
    return undefined;
  }
}
