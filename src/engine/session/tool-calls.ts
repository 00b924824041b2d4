import type { EntryDraft, EntryPayloads } from '../../core/entries.ts';
import { fatalStorageFailureOf, messageOf } from '../../core/errors.ts';
import { processIsAlive, THIS_HOST } from '../../core/host.ts';
import { cloneJson, toJson, type JsonValue } from '../../core/json.ts';
import type { Tool, ToolContext } from '../../tools/define.ts';
import type { Txn } from '../context.ts';
import type { EffectJournalPort, JournaledEffect } from '../ports.ts';
import type { ConversationRuntime } from '../conversation.ts';
import { outstanding } from '../fsm.ts';
import { cacheKey, DEFAULT_INLINE_BYTES, runInFlight, runTool, type ToolRun } from '../tool-runner.ts';
import type { Approvals } from './approvals.ts';
import { redactedRun } from './redaction.ts';
import { askReason, BranchEffects, dryRunSkipped, priorOf, simulating } from './effects.ts';
import type { Settlement } from './settlement.ts';
import type { SessionState, ToolCallRef } from './state.ts';
import type { SessionWriter } from './writer.ts';

/**
 * Runs the tool calls of a session: from the recording when replaying, after a person's approval when the call
 * needs one, at most once for effectful tools (marked as running in a commit before the tool starts), from the
 * cache for pure ones; results are redacted of configured secrets and committed with their artifacts and
 * milestones. After a crash, an effectful call that had started is reconciled instead of run again.
 */
export class ToolCalls {
  private readonly state: SessionState;
  private readonly writer: SessionWriter;
  private readonly settlement: Settlement;
  private readonly approvals: Approvals;
  private readonly effects: BranchEffects;

  constructor(state: SessionState, writer: SessionWriter, settlement: Settlement, approvals: Approvals) {
    this.effects = new BranchEffects(state);
    this.state = state;
    this.writer = writer;
    this.settlement = settlement;
    this.approvals = approvals;
  }

  /**
   * Runs one call to its settled result (never throws: a failed commit stops the session). `retake`: an effectful
   * call whose lookup found no effect runs again (its journal entry is taken over instead of checked).
   */
  async run(conv: ConversationRuntime, call: ToolCallRef, retake = false): Promise<void> {
    const tool = this.state.ctx.ports.tools.get(call.tool);
    const signal = conv.abort.signal;
    if (tool === undefined || signal.aborted) return;
    if (this.state.recording !== undefined && (await this.replay(conv, call))) return;
    // The branch's effects policy: a dry run does not execute an effectful call (its simulate answers, if it has
    // one); `ask` puts every effectful call before a person.
    const policy = call.effect === 'effectful' ? this.effects.policy() : 'live';
    if (policy === 'dry-run' && tool.simulate === undefined) {
      const payload = dryRunSkipped(call);
      return this.writer.commitOrStop((tx) =>
        this.settlement.settle(tx, conv, call.callId, { kind: 'tool_result', payload }),
      );
    }
    const seeding = this.effects.ready();
    if (seeding !== undefined) await seeding;
    // A call that needs a person's yes waits for it (or the approval policy's answer) before anything runs.
    let approved = false;
    let reason = await this.approvalReason(conv, tool, call);
    if (policy === 'ask')
      reason = reason === undefined ? askReason(conv, call) : `${reason}; effects: ask on this branch`;
    if (reason !== undefined) {
      const decision = await this.approvals.decide(conv, call, tool.name, reason);
      if (decision === undefined || signal.aborted || this.state.detached) return;
      if (!decision.approved) {
        const error = `not run: ${decision.why}`;
        const payload = { callId: call.callId, tool: tool.name, status: 'error', error } as const;
        await this.writer.commitOrStop((tx) =>
          this.settlement.settle(tx, conv, call.callId, { kind: 'tool_result', payload }),
        );
        return;
      }
      approved = true;
    }
    try {
      // A simulated call changes nothing real: no journal, no at-most-once mark (run again after a crash).
      const simulated = policy === 'dry-run';
      const journal = simulated ? undefined : this.journalOf(call);
      if (journal !== undefined && !(await this.journalStart(conv, call, journal, retake))) return;
      if (call.effect === 'effectful' && !simulated && !(await this.markStarted(conv, call))) return;
      let run = this.redacted(await this.execute(conv, call, simulated ? simulating(tool) : tool, approved));
      if (simulated)
        run = { ...run, result: { kind: 'tool_result', payload: { ...run.result.payload, simulated: true } } };
      // Journaled even if this process no longer drives the session: the next attempt must know it happened. A call
      // cancelled before or while it ran stays journaled as started (looked up, or unknown, next time).
      if (journal !== undefined && run.result.payload.status !== 'cancelled')
        await journal.settle(call.effectKey!, run.result.payload).catch(() => undefined);
      if (this.state.detached) return;
      if (call.duplicateOf !== undefined) {
        const payload = { ...run.result.payload, duplicateOf: call.duplicateOf };
        run = { ...run, result: { kind: 'tool_result', payload } };
      }
      await this.writer.commit((tx) => {
        this.recordOutputs(tx, conv, call, tool, run);
        this.settlement.settle(tx, conv, call.callId, run.result);
      });
    } catch (error) {
      this.state.loop.stop(error);
    } finally {
      this.state.loop.updateStatus();
    }
  }

  /**
   * After a crash or a takeover: an effectful call that had started is looked up by its key, or settled as unknown.
   * It runs again only when the lookup says it did not happen and its starter cannot still be running it: a process
   * on this host that is alive (even stopped with SIGSTOP) may yet do the effect, so its call is settled as unknown.
   */
  async reconcile(conv: ConversationRuntime, call: ToolCallRef): Promise<void> {
    const tool = this.state.ctx.ports.tools.get(call.tool);
    const starter = this.liveStarter(call);
    let outcome: { found: JsonValue } | 'absent' | { unknown: string };
    if (tool?.reconcile === undefined) {
      outcome = {
        unknown:
          'the process stopped while this effectful call was running, and the tool has no way to look up what ' +
          'happened; it was not run again',
      };
    } else {
      try {
        const found = await tool.reconcile(tool.input.parse(cloneJson(call.args)), {
          ...this.context(conv, call),
          signal: this.state.abort.signal,
          attach: () => undefined,
        });
        // What a tool's lookup found is its output: redacted like a run's.
        const { redactor } = this.state.ctx.ports;
        outcome = found === null || found === undefined ? 'absent' : { found: redactor.json(toJson(found)) };
      } catch (error) {
        // A damaged, full or read-only database under the lookup says nothing about the effect: the session stops
        // (resumable once the disk is fixed) instead of settling the call as unknown for good.
        const storage = fatalStorageFailureOf(error);
        if (storage !== undefined) return this.state.loop.stop(storage);
        const why = this.state.ctx.ports.redactor.redact(messageOf(error));
        outcome = {
          unknown: `the process stopped while this call was running and reconciling it failed: ${why}; it was not run again`,
        };
      }
    }
    if (outcome === 'absent' && starter !== undefined) {
      outcome = { unknown: `${starter}; the lookup found no effect yet, and it was not run again` };
    }
    // The effect provably did not happen and nobody can still do it: running it now is still at most once.
    if (outcome === 'absent') return this.run(conv, call, true);
    const payload: EntryPayloads['tool_result'] =
      'found' in outcome
        ? { callId: call.callId, tool: call.tool, status: 'ok', output: outcome.found }
        : { callId: call.callId, tool: call.tool, status: 'unknown', error: outcome.unknown };
    await this.writer.commitOrStop((tx) =>
      this.settlement.settle(tx, conv, call.callId, { kind: 'tool_result', payload }),
    );
  }

  /** The effect journal for this call: an effectful call of a session with `effectKeys`, when the ports have one. */
  private journalOf(call: ToolCallRef): EffectJournalPort | undefined {
    const { effects } = this.state.ctx.ports;
    return call.effectKey === undefined || call.effect !== 'effectful' ? undefined : effects;
  }

  /**
   * Before an effectful call of a journaled session starts: what an earlier attempt of the same work journaled under
   * its key. Nothing: it is journaled as started and runs (true). Something: it does not simply run again. A tool
   * that can look its effect up does (found: that is the result; absent: it runs); otherwise a journaled result is
   * taken as this call's, and a call journaled as started is settled as unknown.
   */
  private async journalStart(
    conv: ConversationRuntime,
    call: ToolCallRef,
    journal: EffectJournalPort,
    retake: boolean,
  ): Promise<boolean> {
    const key = call.effectKey!;
    const described = { tool: call.tool, args: call.args };
    let journaled: JournaledEffect | undefined;
    try {
      if (retake) return await journal.start(key, described, false);
      journaled = await journal.lookup(key);
      if (journaled === undefined && (await journal.start(key, described, true))) return true;
    } catch (error) {
      const payload = {
        callId: call.callId,
        tool: call.tool,
        status: 'error',
        error: `not run: its start could not be journaled (${messageOf(error)})`,
      } as const;
      await this.writer.commitOrStop((tx) =>
        this.settlement.settle(tx, conv, call.callId, { kind: 'tool_result', payload }),
      );
      return false;
    }
    // Journaled meanwhile by another attempt that is running it now.
    journaled ??= { status: 'running' };
    if (this.state.ctx.ports.tools.get(call.tool)?.reconcile !== undefined) {
      await this.reconcile(conv, call);
      return false;
    }
    const payload: EntryPayloads['tool_result'] =
      journaled.status === 'done'
        ? { ...journaled.result, callId: call.callId }
        : {
            callId: call.callId,
            tool: call.tool,
            status: 'unknown',
            error:
              'an earlier attempt of this work started this call and did not say how it ended; the tool has no way ' +
              'to look up what happened, and it was not run again',
          };
    await this.writer.commitOrStop((tx) =>
      this.settlement.settle(tx, conv, call.callId, { kind: 'tool_result', payload }),
    );
    return false;
  }

  /**
   * Why the process that started this call may still be running it, if it may: it lives on this host (alive, even if
   * stopped), or it is this process and the run is still in flight. On another host nobody can tell; there the
   * fence and the key are what keep the effect at most once.
   */
  private liveStarter(call: ToolCallRef): string | undefined {
    const by = this.state.ctx.store.calls.intent(call.key)?.startedBy;
    if (by === undefined || by.host !== THIS_HOST) return undefined;
    if (by.pid === process.pid) {
      return runInFlight(call.effectKey ?? call.key)
        ? 'an earlier run of this call in this process is still going'
        : undefined;
    }
    if (!processIsAlive(by.host, by.pid)) return undefined;
    return (
      `the process that started this call (pid ${by.pid} on this host, fence ${by.fence}) is still alive, ` +
      'stopped or busy, and may yet finish it'
    );
  }

  /** What a tool knows about its call, besides its signal, timeout and attachments. */
  context(conv: ConversationRuntime, call: ToolCallRef): Omit<ToolContext, 'attach' | 'milestone' | 'signal'> {
    const { state } = this;
    const { ports } = state.ctx;
    const { options } = state.row;
    const spend = conv.persona.policies.spend;
    return {
      session: state.id,
      branch: state.branch,
      conversation: conv.id,
      agent: conv.agent,
      callId: call.callId,
      // A journaled session's effectful calls: the key every attempt of the same work gives this call.
      key: call.effectKey ?? call.key,
      fence: state.ctx.leases.fence(state.id),
      workspace: ports.root,
      now: () => state.ctx.clock.now(),
      // A dry-run branch pays in its scratch scope, seeded with the real balances.
      ...(ports.wallets === undefined ? {} : { wallets: ports.wallets.scoped(this.effects.ledgerScope()) }),
      ...(call.effect === 'effectful' ? priorOf(this.effects.prior(conv, call)) : {}),
      ...(spend === undefined
        ? {}
        : { spending: { policy: spend, approval: options.approval, source: conv.persona.source } }),
    };
  }

  /**
   * Replaying: the recorded result, and the tool does not run (no effect happens twice). With --on-miss live a call
   * the recording lacks runs for real (false: not handled here); otherwise it is settled as an error saying so.
   */
  private async replay(conv: ConversationRuntime, call: ToolCallRef): Promise<boolean> {
    const { recording } = this.state;
    if (recording === undefined) return false;
    const recorded = recording.result(conv.path, call.callId, call.tool, call.args);
    if (recorded === undefined && recording.source.onMiss !== 'fail') return false;
    const error = `replay: the recording of ${recording.source.session} has no result for this call`;
    const result: EntryDraft = recorded ?? {
      kind: 'tool_result',
      payload: { callId: call.callId, tool: call.tool, status: 'error', error },
    };
    await this.writer.commitOrStop((tx) => {
      // A recorded output kept as an artifact: this session refers to it too, so it outlives the source.
      const hash = result.kind === 'tool_result' ? result.payload.artifact : undefined;
      if (hash !== undefined)
        this.reference(tx, conv, call, hash, result.kind === 'tool_result' && result.payload.status !== 'ok');
      this.settlement.settle(tx, conv, call.callId, result);
    });
    return true;
  }

  /** A new reference of this session to an artifact already stored (a replayed or cached output, or error). */
  private reference(tx: Txn, conv: ConversationRuntime, call: ToolCallRef, hash: string, error: boolean): void {
    const { id: session, branch } = this.state;
    const [kind, name] = error ? ['tool_error', `${call.tool}-error.txt`] : ['tool_output', `${call.tool}-output`];
    const entry = call.key;
    const meta = { kind, name, session, branch, conversation: conv.id, entry };
    const ref = this.state.ctx.store.artifacts.reference(hash, meta, tx.now);
    if (ref === undefined) return;
    const { mime, size } = ref;
    this.writer.event(tx, 'artifact.created', { hash, kind, name, mime, size, entry }, conv.id);
  }

  /**
   * The at-most-once line: the call is marked as running in a commit before its tool starts, so a crash after this
   * point leaves it to reconciliation, never to a second run. False when it must not start now (settled meanwhile
   * by a cancel or a timeout, or the session stopped).
   */
  private async markStarted(conv: ConversationRuntime, call: ToolCallRef): Promise<boolean> {
    let started = false;
    await this.writer.commit((tx) => {
      const { leases } = this.state.ctx;
      const { host, pid } = leases.settings;
      started = this.state.ctx.store.calls.markRunning(call.key, tx.now, {
        host,
        pid,
        fence: leases.fence(this.state.id),
      });
      // Marked as started, not started yet: a cancel in the meantime knows the effect did not happen.
      if (started) conv.effectsNotStarted.add(call.callId);
    });
    const settled =
      conv.pendingResults.has(call.callId) || !outstanding(conv.state).some((c) => c.callId === call.callId);
    conv.effectsNotStarted.delete(call.callId);
    return started && !conv.abort.signal.aborted && !settled;
  }

  /** The tool's result: from the cache (a pure tool's fresh result), or a run with its timeout. */
  private async execute(conv: ConversationRuntime, call: ToolCallRef, tool: Tool, approved: boolean): Promise<ToolRun> {
    const { ctx } = this.state;
    if (tool.effect === 'pure' && tool.cacheTtlMs > 0) {
      const cached = ctx.store.toolCache.get(cacheKey(call.tool, call.args), ctx.clock.now());
      // A large output's row names its artifact; an artifact gone since (its sessions deleted) is a miss.
      if (cached !== undefined && (cached.artifact === undefined || ctx.store.artifacts.has(cached.artifact))) {
        const { output, artifact } = cached;
        const payload = { callId: call.callId, tool: tool.name, status: 'ok', output, cached: true } as const;
        const withArtifact = artifact === undefined ? payload : { ...payload, artifact };
        return { result: { kind: 'tool_result', payload: { ...withArtifact, latencyMs: 0 } }, attachments: [] };
      }
    }
    if (ctx.bus.hasDeltaListeners) {
      const event = { type: 'tool.started', session: this.state.id, conversation: conv.id } as const;
      ctx.bus.emit({ ...event, callId: call.callId, tool: tool.name });
    }
    conv.runningTools.add(call.callId);
    try {
      return await runTool(tool, call.args, {
        ...this.context(conv, call),
        ...(approved ? { approved: true } : {}),
        signal: conv.abort.signal,
        timeoutMs: tool.timeoutMs ?? conv.persona.policies.tool_timeout_ms,
        clock: ctx.clock,
        inlineBytes: ctx.ports.inlineBytes ?? DEFAULT_INLINE_BYTES,
        // An effect starts only under a lease valid for a margin, checked (and renewed) right before its run.
        ...(call.effect === 'effectful' ? { mayStart: () => ctx.leases.ensure(this.state.id) } : {}),
        // Before its size is judged and its artifact hashed: the entry names the artifact that is stored.
        ...(ctx.ports.redactor.active ? { redact: (value: JsonValue) => ctx.ports.redactor.json(value) } : {}),
      });
    } finally {
      conv.runningTools.delete(call.callId);
    }
  }

  /** A tool that echoes a configured key (an MCP server given it in its environment, say) must not store it. */
  private redacted(run: ToolRun): ToolRun {
    return redactedRun(this.state.ctx.ports.redactor, run);
  }

  /**
   * What a run leaves besides its result, in the result's commit: the cache entry, its attachments as artifacts and
   * its milestones, each with the evaluation jobs it triggers.
   */
  private recordOutputs(tx: Txn, conv: ConversationRuntime, call: ToolCallRef, tool: Tool, run: ToolRun): void {
    const { store, ports } = this.state.ctx;
    const { id: session, branch } = this.state;
    const { payload: result } = run.result;
    // The cache row holds what the entry holds: a large output stays in its one artifact, named by hash.
    if (run.cache !== undefined && result.status === 'ok') {
      const cached = {
        output: result.output ?? null,
        ...(result.artifact === undefined ? {} : { artifact: result.artifact }),
      };
      store.toolCache.put(run.cache.key, tool.name, cached, run.cache.expiresAt);
    }
    // A cached large output: this session refers to the artifact too (it outlives the session that stored it).
    if (result.cached === true && result.artifact !== undefined) {
      this.reference(tx, conv, call, result.artifact, false);
    }
    for (const a of run.attachments) {
      const meta = {
        mime: a.mime,
        kind: a.kind,
        name: a.name,
        session,
        branch,
        conversation: conv.id,
        entry: call.key,
      };
      const ref = store.artifacts.put(a.data, meta, tx.now);
      const payload = { hash: ref.hash, kind: a.kind, name: a.name, mime: a.mime, size: ref.size, entry: call.key };
      this.writer.event(tx, 'artifact.created', payload, conv.id);
      for (const e of ports.evaluations.onArtifact(a.kind))
        this.writer.job(tx, e, 'artifact', ref.hash, 'artifact.created');
    }
    for (const m of run.milestones ?? []) {
      const payload = { name: m.name, detail: m.detail, tool: tool.name, entry: call.key };
      this.writer.event(tx, 'milestone', payload, conv.id);
      for (const e of ports.evaluations.onMilestone(m.name)) this.writer.job(tx, e, 'step', call.key, 'milestone');
    }
  }

  /** Why this call needs a person's approval (its persona guards the tool, or the tool says so), if it does. */
  private async approvalReason(conv: ConversationRuntime, tool: Tool, call: ToolCallRef): Promise<string | undefined> {
    const guarded = conv.persona.policies.approve_tools?.includes(tool.name) === true;
    // Neither the tool nor the persona asks for approval: nothing to parse (the run reports invalid arguments).
    if (tool.approval === undefined && !guarded) return undefined;
    // A copy, as for the run: what the tool's approval or lookup does to its arguments stays there.
    const parsed = tool.input.safeParse(cloneJson(call.args));
    // Invalid arguments never run: the tool runner reports them without asking anyone.
    if (!parsed.success) return undefined;
    let own: string | undefined;
    try {
      own = await tool.approval?.(parsed.data, {
        ...this.context(conv, call),
        signal: conv.abort.signal,
        attach: () => undefined,
      });
    } catch (error) {
      // A broken disk stops the session, as everywhere else.
      const fatal = fatalStorageFailureOf(error);
      if (fatal !== undefined) throw fatal;
      // The tool cannot tell (its ledger is unreachable, say): fail closed, so a person (or the approval policy)
      // decides instead of the call running unasked.
      const why = this.state.ctx.ports.redactor.redact(messageOf(error)).slice(0, 200);
      own = `${tool.name} could not tell whether this call needs approval (${why})`;
    }
    if (own !== undefined) return own;
    if (guarded) {
      const args = JSON.stringify(call.args);
      const shown = args.length > 200 ? `${args.slice(0, 200)}…` : args;
      return `${conv.agent} calls ${tool.name} ${shown} (policies.approve_tools in ${conv.persona.source})`;
    }
    return undefined;
  }
}
