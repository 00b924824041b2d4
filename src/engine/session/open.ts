import type { SessionOptions } from '../../core/events.ts';
import { newBranchId, newConversationId, newSessionId } from '../../core/ids.ts';
import type { SessionRow } from '../../store/sessions.ts';
import { agentOverride, overriddenPersona, type BranchOverrides } from '../branching.ts';
import type { EngineContext, StartSession, Txn } from '../context.ts';
import { rebuildConversations, type Rebuilt } from '../rebuild.ts';
import { SessionRuntime } from './runtime.ts';

/** Starts a session: its row, main branch, root conversation and first user message, in one commit. */
export function startSession(ctx: EngineContext, spec: StartSession): SessionRuntime {
  const { runtime, write } = prepareStart(ctx, spec);
  ctx.store.write(write);
  ctx.scheduler.enqueue(runtime, runtime.session.rootConversation);
  return runtime;
}

/**
 * `startSession` with its first commit shared with whatever else commits in the same tick (many sessions started
 * at once: a rollout's cells). The session exists once this resolves.
 */
export async function startSessionGrouped(ctx: EngineContext, spec: StartSession): Promise<SessionRuntime> {
  const { runtime, write } = prepareStart(ctx, spec);
  await ctx.store.commit(write);
  ctx.scheduler.enqueue(runtime, runtime.session.rootConversation);
  return runtime;
}

function prepareStart(ctx: EngineContext, spec: StartSession): { runtime: SessionRuntime; write: () => void } {
  const persona = overriddenPersona(
    ctx.ports.personas.get(spec.agent),
    agentOverride(spec.overrides ?? {}, spec.agent),
  );
  const now = ctx.clock.now();
  const branch = newBranchId();
  const row: SessionRow = {
    id: newSessionId(),
    createdAt: now,
    updatedAt: now,
    agent: persona.id,
    rootConversation: newConversationId(),
    headBranch: branch,
    title: spec.title ?? spec.message.split('\n')[0]!.slice(0, 80),
    source: spec.source,
    status: 'running',
    statusReason: null,
    options: spec.options,
    workspace: ctx.ports.root,
  };
  const overrides = spec.overrides ?? {};
  const runtime = SessionRuntime.create(ctx, row, overrides);
  const write = (): void => {
    runtime.claimLease(now);
    ctx.store.sessions.createSession(row);
    const main = { id: branch, session: row.id, parent: null, forkSeq: null, label: 'main' };
    const made = { overrides: overrides as Record<string, unknown>, createdBy: spec.source, createdAt: now };
    ctx.store.sessions.createBranch({ ...main, ...made }, []);
    ctx.store.mcp.record(row.id, ctx.ports.mcpListings ?? [], now);
    const tx: Txn = { now, touched: new Set(), after: [], jobs: [] };
    runtime.begin(tx, persona, spec.message);
  };
  return { runtime, write };
}

/**
 * Loads a session from the store and takes it over: rebuilds every conversation from the log (or takes `prebuilt`,
 * which a checkout just made), then settles what a crash interrupted (pure and idempotent calls run again;
 * effectful ones are reconciled or settled as unknown).
 */
export async function loadSession(
  ctx: EngineContext,
  sessionId: string,
  options: { retryFailed?: boolean; maxSteps?: number; approval?: SessionOptions['approval'] } = {},
  prebuilt?: Rebuilt,
): Promise<SessionRuntime> {
  let row = ctx.store.sessions.require(sessionId);
  const { maxSteps, approval } = options;
  const changed = maxSteps !== undefined || approval !== undefined;
  if (changed) {
    const given = { ...(maxSteps === undefined ? {} : { maxSteps }), ...(approval === undefined ? {} : { approval }) };
    row = { ...row, options: { ...row.options, ...given } };
  }
  // A branch forked with overrides (another model or temperature) runs its steps with them; the session's own
  // options stay as they are for its other branches.
  const overrides = (ctx.store.sessions.branch(row.headBranch)?.overrides ?? {}) as BranchOverrides;
  const { model, temperature } = overrides;
  const branchOptions = {
    ...(model === undefined ? {} : { model }),
    ...(temperature === undefined ? {} : { temperature }),
  };
  const runtime = SessionRuntime.create(ctx, { ...row, options: { ...row.options, ...branchOptions } }, overrides);
  ctx.store.write(() => {
    runtime.claimLease(ctx.clock.now());
    if (changed) ctx.store.sessions.setOptions(row.id, row.options);
  });
  let rebuilt: Rebuilt;
  try {
    rebuilt =
      prebuilt ?? rebuildConversations(ctx.store, ctx.personas, row, (id) => runtime.persona(id), { save: true });
  } catch (error) {
    runtime.releaseLease();
    throw error;
  }
  await runtime.adopt(rebuilt, options.retryFailed ?? false);
  return runtime;
}
