import { P2Error, UserError } from '../core/errors.ts';
import { THIS_HOST } from '../core/host.ts';
import { randomId } from '../core/ids.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { EventBus } from '../bus/bus.ts';
import type { ApprovalPolicy, SessionOptions, SessionStatus } from '../core/events.ts';
import type { EffectsPolicy } from './effects-policy.ts';
import type { Store } from '../store/store.ts';
import { isHolderAlive } from '../store/leases.ts';
import { Scheduler } from './scheduler.ts';
import type { SessionRuntime } from './session/runtime.ts';
import { loadSession, startSession, startSessionGrouped } from './session/open.ts';
import type { EngineContext, StartSession, StepTiming } from './context.ts';
import { ControlPoller } from './control.ts';
import { LeaseKeeper } from './lease-keeper.ts';
import { PersonaKit } from './persona-kit.ts';
import type { EnginePorts } from './ports.ts';
import {
  agentOverride,
  changesPersonas,
  forkBranch,
  overriddenPersona,
  resolveBranch,
  type BranchOverrides,
  type Fork,
  type ForkSpec,
} from './branching.ts';
import { rebuildConversations, type Rebuilt } from './rebuild.ts';
import { deriveStatus } from './status.ts';
import { compensateEffect, type CompensationOutcome } from './compensation.ts';
import { seedScratch } from './session/effects.ts';
import type { BranchRow, SessionRow } from '../store/sessions.ts';

/** Thrown inside a fork's transaction to roll it back when the live runtime cannot take the fork in memory. */
const NOT_IN_MEMORY = new Error('not in memory');

export interface EngineOptions {
  /** The open store the engine writes to (its owner closes it). */
  readonly store: Store;
  /** A bus already made over the same store; otherwise the engine makes one. */
  readonly bus?: EventBus;
  /** Personas, tools, models, evaluation triggers and wallets, from the composition root. */
  readonly ports: EnginePorts;
  readonly clock?: Clock;
  /** Model calls in flight at once, over every session. */
  readonly concurrency: number;
  /** Model calls in flight at once per provider (`providers.<id>.concurrency`). */
  readonly providerConcurrency?: Readonly<Record<string, number>>;
  /** What a new session gets when its options do not say (p2tui.yaml's max_steps and approval). */
  readonly defaults: { readonly maxSteps: number; readonly approval: ApprovalPolicy; readonly effects?: EffectsPolicy };
  readonly leaseTtlMs?: number;
  readonly heartbeatMs?: number;
  readonly onStepTiming?: (timing: StepTiming) => void;
}

/**
 * The engine in one process: one scheduler for every session this process drives, and the commands front ends
 * call (start, attach, respond, cancel, fork, checkout). Sessions driven elsewhere are read through the store.
 */
export class Engine {
  readonly store: Store;
  readonly bus: EventBus;
  readonly ports: EnginePorts;
  readonly scheduler: Scheduler;
  /** The engine's time: its timers, leases and stamps (a test's manual clock). */
  readonly clock: Clock;
  private readonly ctx: EngineContext;
  private readonly defaults: EngineOptions['defaults'];
  private readonly leases: LeaseKeeper;
  private readonly control: ControlPoller;
  private readonly sessions = new Map<string, SessionRuntime>();
  private readonly attaching = new Map<string, Promise<SessionRuntime>>();
  /** The conversations a checkout rebuilt, for the attach that usually follows (valid while nothing is written). */
  private prebuilt: { session: string; branch: string; seq: number; rebuilt: Rebuilt } | undefined;

  constructor(options: EngineOptions) {
    this.store = options.store;
    this.ports = options.ports;
    this.defaults = options.defaults;
    const clock = options.clock ?? systemClock;
    this.clock = clock;
    this.bus = options.bus ?? new EventBus(this.store, clock);
    this.scheduler = new Scheduler({
      concurrency: options.concurrency,
      ...(options.providerConcurrency === undefined ? {} : { providerConcurrency: options.providerConcurrency }),
    });
    this.leases = new LeaseKeeper(this.store, clock, {
      owner: `${THIS_HOST}:${process.pid}:${randomId('', 6)}`,
      host: THIS_HOST,
      pid: process.pid,
      ttlMs: options.leaseTtlMs ?? 15_000,
      heartbeatMs: options.heartbeatMs ?? 5_000,
    });
    this.control = new ControlPoller(this.store, clock);
    this.ctx = {
      store: this.store,
      bus: this.bus,
      ports: this.ports,
      clock,
      scheduler: this.scheduler,
      leases: this.leases,
      control: this.control,
      personas: new PersonaKit(this.ports.personas, this.ports.tools),
      ...(options.onStepTiming === undefined ? {} : { onStepTiming: options.onStepTiming }),
    };
  }

  /** Options for a new session: the given ones over the workspace's defaults, with a random seed. */
  sessionOptions(overrides: Partial<SessionOptions> = {}): SessionOptions {
    return {
      seed: overrides.seed ?? Math.floor(Math.random() * 2 ** 31),
      maxSteps: overrides.maxSteps ?? this.defaults.maxSteps,
      approval: overrides.approval ?? this.defaults.approval,
      ...(overrides.model === undefined ? {} : { model: overrides.model }),
      ...(overrides.temperature === undefined ? {} : { temperature: overrides.temperature }),
      ...(overrides.replay === undefined ? {} : { replay: overrides.replay }),
      ...(overrides.ledgerScope === undefined ? {} : { ledgerScope: overrides.ledgerScope }),
      ...(overrides.effectKeys === undefined ? {} : { effectKeys: overrides.effectKeys }),
      ...(overrides.judgeModel === undefined ? {} : { judgeModel: overrides.judgeModel }),
      // Stored with the session: a later change of p2tui.yaml does not turn a live session's effects off, or on.
      effects: overrides.effects ?? this.defaults.effects ?? 'live',
    };
  }

  /** `start`, its first commit grouped with others of the same tick (for many sessions started at once). */
  async startGrouped(spec: StartSession): Promise<SessionRuntime> {
    this.ports.models.resolve(spec.options.model ?? this.ports.personas.get(spec.agent).model);
    const runtime = await startSessionGrouped(this.ctx, spec);
    this.sessions.set(runtime.id, runtime);
    return runtime;
  }

  /** Starts a session and drives it in this process. */
  start(spec: StartSession): SessionRuntime {
    // Fail on an unknown provider, agent or tool before anything is written.
    this.ports.models.resolve(spec.options.model ?? this.ports.personas.get(spec.agent).model);
    this.checkOverrides(spec.overrides ?? {});
    const runtime = startSession(this.ctx, spec);
    this.sessions.set(runtime.id, runtime);
    return runtime;
  }

  /** Takes over a stored session (its lease must be free, expired, or held by a dead process) and drives it. */
  async attach(
    sessionId: string,
    options: { retryFailed?: boolean; maxSteps?: number; approval?: SessionOptions['approval'] } = {},
  ): Promise<SessionRuntime> {
    const id = this.store.sessions.resolve(sessionId).id;
    const existing = this.sessions.get(id);
    if (existing?.active === true) return existing;
    // Two attaches of one session at once (a command and the adoption of orphans, say) share one load.
    let loading = this.attaching.get(id);
    if (loading === undefined) {
      const head = this.store.sessions.get(id)?.headBranch;
      const prebuilt =
        this.prebuilt?.session === id &&
        this.prebuilt.branch === head &&
        this.prebuilt.seq === this.store.log.lastSeqOf(id)
          ? this.prebuilt.rebuilt
          : undefined;
      this.prebuilt = undefined;
      loading = loadSession(this.ctx, id, options, prebuilt).then(
        (runtime) => {
          this.sessions.set(runtime.id, runtime);
          this.attaching.delete(id);
          return runtime;
        },
        (error: unknown) => {
          this.attaching.delete(id);
          throw error;
        },
      );
      this.attaching.set(id, loading);
    }
    return loading;
  }

  /**
   * Stops driving a session at rest and forgets its runtime, so a process that runs thousands of sessions (a
   * rollout) does not keep every one in memory. It can be attached again later.
   */
  release(sessionId: string): void {
    const runtime = this.sessions.get(sessionId);
    if (runtime === undefined) return;
    // Its lease goes in the next group commit: many sessions at rest let go of theirs in one transaction.
    runtime.detach({ groupedRelease: true });
    this.sessions.delete(sessionId);
  }

  /** How often this process renews its leases: how soon after a lease expires a follower can notice it. */
  get heartbeatMs(): number {
    return this.leases.settings.heartbeatMs;
  }

  /** The runtime driving a session in this process, if any. */
  get(sessionId: string): SessionRuntime | undefined {
    const runtime = this.sessions.get(sessionId);
    return runtime?.active === true ? runtime : undefined;
  }

  /**
   * Adopts sessions left running by a process that is gone (its lease expired, or its pid is dead on this host)
   * and continues them. Returns the ids taken over.
   */
  async adoptOrphans(): Promise<{ adopted: SessionRuntime[]; failed: { session: string; error: unknown }[] }> {
    const adopted: SessionRuntime[] = [];
    const failed: { session: string; error: unknown }[] = [];
    const now = this.ctx.clock.now();
    for (const row of this.store.sessions.unfinished()) {
      const here = this.sessions.get(row.id);
      if (here?.active === true || this.attaching.has(row.id)) continue;
      // One that stopped here on an error (a failed commit, say) waits for a person's resume: adopting it again and
      // again (a TUI adopts every few seconds) would repeat the failure in a loop.
      if (here?.error !== undefined && here.error.code !== 'E_LEASE_LOST') continue;
      if (isHolderAlive(this.store.leases.holder(row.id), now)) continue;
      try {
        adopted.push(await this.attach(row.id));
      } catch (error) {
        // Another process won the race (E_LEASE_HELD), or the session cannot load here: it stays as it is.
        if (!(error instanceof P2Error && error.code === 'E_LEASE_HELD')) failed.push({ session: row.id, error });
      }
    }
    return { adopted, failed };
  }

  /**
   * Forks a branch of a session (see branching.ts) and, with `checkout`, makes it the session's branch. The fork
   * itself writes only the branch row, its segments and a `branch.created` event.
   */
  async fork(sessionId: string, spec: Omit<ForkSpec, 'now'> & { checkout?: boolean }): Promise<Fork> {
    const fork = await this.forkOnly(sessionId, spec);
    const { wallets } = this.ports;
    // A dry-run branch pays in a scratch copy of the wallets as they are at the fork. A ledger that cannot be reached
    // now is not the fork's failure: the branch's first tool call seeds it then.
    if (fork.branch.overrides['effects'] === 'dry-run' && wallets !== undefined) {
      const session = this.store.sessions.resolve(sessionId);
      await seedScratch(wallets, session.options.ledgerScope, fork.branch.id).catch(() => undefined);
    }
    return fork;
  }

  private async forkOnly(sessionId: string, spec: Omit<ForkSpec, 'now'> & { checkout?: boolean }): Promise<Fork> {
    const session = this.store.sessions.resolve(sessionId);
    const now = this.ctx.clock.now();
    // Refused before anything is written: a fork to check out of a session another process drives.
    if (spec.checkout === true) this.assertNotDrivenElsewhere(session.id);
    const own = spec.overrides ?? {};
    this.checkOverrides(own);
    // Forking the head of a session this process drives, to go on from there (another model, say): the live runtime
    // switches to the new branch in the same transaction, with no replay of the log.
    // A rewind of such a session (a fork at an earlier point) takes its conversations back in memory instead.
    const live = this.sessions.get(session.id);
    if (
      spec.checkout === true &&
      live !== undefined &&
      !changesPersonas(this.store.sessions.branch(session.headBranch)?.overrides ?? {}, own) &&
      (spec.from === undefined || spec.from === session.headBranch)
    ) {
      const newest = this.store.log.newestVisibleSeq(session.id, this.store.sessions.segments(session.headBranch));
      const atHead = spec.atSeq === undefined || spec.atSeq === newest;
      // Where the cut lands (the end of a response, say) is at or after the requested point, which is enough here.
      if (atHead ? live.canSwitchBranch() : live.canRewind(spec.atSeq!)) {
        let made: Fork;
        let moved = false;
        try {
          made = this.store.write(() => {
            const fork = this.writeFork(session, spec, now);
            const b = fork.branch;
            this.store.sessions.checkout(session.id, b.id, now);
            this.store.append(
              {
                type: 'branch.checkout',
                payload: { branch: b.id, previous: session.headBranch },
                session: session.id,
                branch: b.id,
                conversation: null,
              },
              now,
            );
            const options = {
              ...(spec.overrides?.model === undefined ? {} : { model: spec.overrides.model }),
              ...(spec.overrides?.temperature === undefined ? {} : { temperature: spec.overrides.temperature }),
            };
            // Memory moves last, once every row is written: a refused fork (a bad seq) leaves the session as it was.
            moved = true;
            // Refused (the cut lies before the marks kept): roll back and take the slow path below.
            if (!(atHead ? live.switchBranch(b.id, options, now) : live.rewindTo(b.id, b.forkSeq!, options, now)))
              throw NOT_IN_MEMORY;
            return fork;
          });
          if (!atHead) await live.settleAfterRewind();
          return made;
        } catch (error) {
          if (error !== NOT_IN_MEMORY) {
            // Memory may have moved on while the transaction did not commit: the next attach reloads from the store.
            if (moved) {
              live.detach();
              this.sessions.delete(session.id);
            }
            throw error;
          }
        }
      }
    }
    const fork = this.store.write(() => this.writeFork(session, spec, now));
    if (spec.checkout === true) await this.checkout(session.id, fork.branch.id);
    return fork;
  }

  /** Refuses overrides naming an unknown provider, agent or tool (before anything is written). */
  private checkOverrides(own: BranchOverrides): void {
    for (const model of [own.model, ...Object.values(own.personas ?? {}).map((o) => o.model)])
      if (model !== undefined) this.ports.models.resolve(model);
    for (const [agent, override] of [['*', own] as const, ...Object.entries(own.personas ?? {})]) {
      if (agent !== '*') this.ports.personas.get(agent);
      for (const tool of override.tools ?? [])
        if (tool !== 'delegate' && tool !== 'ask_user') this.ports.tools.require(tool);
    }
  }

  /** The fork's rows and its `branch.created` event; inside a write. */
  private writeFork(session: SessionRow, spec: Omit<ForkSpec, 'now'>, now: number): Fork {
    const made = forkBranch(
      this.store,
      session,
      { ...spec, now },
      (tool) => this.ports.tools.get(tool)?.compensate !== undefined,
    );
    const b = made.branch;
    this.store.append(
      {
        type: 'branch.created',
        payload: {
          branch: b.id,
          parent: b.parent!,
          forkSeq: b.forkSeq!,
          label: b.label,
          overrides: b.overrides as BranchOverrides,
        },
        session: session.id,
        branch: b.id,
        conversation: null,
      },
      now,
    );
    return made;
  }

  /**
   * Checks a branch out: readers show it and a resume drives it. A runtime driving the session here stops first;
   * a session driven by another process is refused. The session rests afterwards: paused unless the branch is
   * finished, failed or waiting for an answer (\`session resume\` continues it).
   */
  async checkout(sessionId: string, branchRef: string): Promise<{ branch: BranchRow; status: SessionStatus }> {
    const session = this.store.sessions.resolve(sessionId);
    const branch = resolveBranch(this.store, session, branchRef);
    this.assertNotDrivenElsewhere(session.id);
    // An attach still loading would register afterwards and drive the old branch: let it finish, then stop it.
    const loading = this.attaching.get(session.id);
    if (loading !== undefined) await loading.then((r) => r.detach()).catch(() => undefined);
    const here = this.sessions.get(session.id);
    here?.detach();
    this.sessions.delete(session.id);
    const overrides = branch.overrides as BranchOverrides;
    const rebuilt = rebuildConversations(
      this.store,
      this.ctx.personas,
      { ...session, headBranch: branch.id },
      (id) => overriddenPersona(this.ports.personas.get(id), agentOverride(overrides, id)),
      { save: true },
    );
    const derived = deriveStatus(rebuilt.conversations.values(), rebuilt.root, { paused: false });
    const status: SessionStatus = derived.status === 'running' ? 'paused' : derived.status;
    const now = this.ctx.clock.now();
    this.store.write(() => {
      this.store.sessions.checkout(session.id, branch.id, now);
      this.store.append(
        {
          type: 'branch.checkout',
          payload: { branch: branch.id, previous: session.headBranch },
          session: session.id,
          branch: branch.id,
          conversation: null,
        },
        now,
      );
      this.store.sessions.setStatus(session.id, status, derived.reason, now);
      this.store.append(
        {
          type: 'session.status',
          payload: { status, ...(derived.reason === null ? {} : { reason: derived.reason }) },
          session: session.id,
          branch: branch.id,
          conversation: null,
        },
        now,
      );
    });
    this.prebuilt = { session: session.id, branch: branch.id, seq: this.store.log.lastSeqOf(session.id), rebuilt };
    return { branch, status };
  }

  /**
   * Runs the compensating action of an effectful call (the tool's `compensate`), once, as the user's explicit choice
   * (see compensation.ts).
   */
  compensate(sessionId: string, key: string, by: string): Promise<CompensationOutcome> {
    return compensateEffect(this.ctx, sessionId, key, by);
  }

  private assertNotDrivenElsewhere(session: string): void {
    const holder = this.store.leases.holder(session);
    const here = holder?.host === THIS_HOST && holder.pid === process.pid;
    if (!here && isHolderAlive(holder, this.ctx.clock.now())) {
      throw new UserError('E_LEASE_HELD', `session ${session} is being driven by pid ${holder.pid} on ${holder.host}`, {
        hint: `Pause or cancel it there first (p2tui session pause ${session}), then check out another branch.`,
      });
    }
  }

  /** Stops driving every session (in-flight work is left for a resume); the store stays open for its owner. */
  close(): void {
    for (const runtime of this.sessions.values()) runtime.detach();
    this.sessions.clear();
    this.leases.stop();
    this.control.stop();
  }
}
