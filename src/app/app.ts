import { EventBus } from '../bus/bus.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { UserError } from '../core/errors.ts';
import { THIS_HOST } from '../core/host.ts';
import { randomId } from '../core/ids.ts';
import type { StepTiming } from '../engine/context.ts';
import { Engine } from '../engine/engine.ts';
import type { EffectJournalPort } from '../engine/ports.ts';
import { ScorePolicyRunner } from '../judge/policy-runner.ts';
import { JudgeRunner } from '../judge/runner.ts';
import { EscrowArbiter } from '../ledger/escrow-arbiter.ts';
import { openWallets } from '../ledger/wallets/open.ts';
import type { WalletService } from '../ledger/wallets/service.ts';
import { Store } from '../store/store.ts';
import { enginePorts } from './ports.ts';
import type { Workspace } from './workspace.ts';

export interface AppOptions {
  readonly workspace: Workspace;
  /** An open store to use (its owner closes it); otherwise the workspace's database is opened, and closed with the app. */
  readonly store?: Store;
  /** A bus already made over the same store. */
  readonly bus?: EventBus;
  readonly clock?: Clock;
  /** Model calls in flight at once (default: p2tui.yaml's concurrency). */
  readonly concurrency?: number;
  readonly leaseTtlMs?: number;
  readonly heartbeatMs?: number;
  readonly onStepTiming?: (timing: StepTiming) => void;
  /** Where effectful calls are journaled beyond the store (a distributed rollout's worker: the queue's Redis). */
  readonly effects?: EffectJournalPort;
  /** Recorded in a new database (which p2tui made it). */
  readonly appVersion?: string;
  /**
   * Whether this process runs the judge's jobs, the score policies and the escrow arbiter (default: when the
   * workspace has evaluators). Benchmarks and embedders that judge elsewhere turn it off.
   */
  readonly judge?: boolean;
}

/**
 * The composition root: one workspace wired to one store. It makes the engine (with its ports over the workspace),
 * the judge that runs evaluation jobs beside it, the score policies and the escrow arbiter that react to scores, and
 * the wallets; front ends (the CLI's commands, the TUI, rollouts) work through it.
 */
export class App {
  readonly workspace: Workspace;
  readonly store: Store;
  readonly bus: EventBus;
  readonly engine: Engine;
  /** The app's time: the engine's, the judge's and the ledger's timers and stamps (a test's manual clock). */
  readonly clock: Clock;
  /** Runs evaluation jobs beside the agents (started when the workspace has evaluators). */
  readonly judge: JudgeRunner;
  /** The workspace's score policies, acting on scores recorded here (started with the judge). */
  readonly policies: ScorePolicyRunner;
  /** Settles escrows for delegates by the judge's scores (ledger.escrow of p2tui.yaml). */
  readonly arbiter: EscrowArbiter;
  private readonly ownsStore: boolean;
  private walletService: WalletService | undefined;

  constructor(options: AppOptions) {
    const { workspace } = options;
    const { config } = workspace;
    this.workspace = workspace;
    this.ownsStore = options.store === undefined;
    this.store =
      options.store ??
      new Store({
        path: workspace.dbPath,
        ...(options.appVersion === undefined ? {} : { appVersion: options.appVersion }),
      });
    this.store.setDurability(config.durability);
    const clock = options.clock ?? systemClock;
    this.clock = clock;
    this.bus = options.bus ?? new EventBus(this.store, clock);
    const providerConcurrency: Record<string, number> = {};
    for (const [id, p] of Object.entries(config.providers)) {
      if (p.concurrency !== undefined) providerConcurrency[id] = p.concurrency;
    }
    this.engine = new Engine({
      store: this.store,
      bus: this.bus,
      ports: enginePorts(workspace, this.store, () => this.wallets, options.effects),
      clock,
      concurrency: options.concurrency ?? config.concurrency,
      providerConcurrency,
      defaults: { maxSteps: config.max_steps, approval: config.approval, effects: config.effects },
      ...leaseTimes(options),
      ...(options.onStepTiming === undefined ? {} : { onStepTiming: options.onStepTiming }),
    });
    this.judge = new JudgeRunner(this.store, workspace.evaluators, workspace.providers, {
      owner: `judge:${THIS_HOST}:${process.pid}:${randomId('', 6)}`,
      clock,
    });
    this.policies = new ScorePolicyRunner(this.engine, workspace.scorePolicies, clock);
    // The arbiter asks for the wallets only when it has an escrow rule to apply.
    this.arbiter = new EscrowArbiter(this.store, () => this.wallets, config.ledger.escrow, clock);
    if (options.judge ?? workspace.evaluators.list().length > 0) {
      this.judge.start();
      this.policies.start();
      this.arbiter.start();
    }
  }

  /**
   * The agents' wallets: the embedded ledger in this store, or the Canton participant p2tui.yaml names. Opened on
   * first use (a Canton token that is not set is an error only for what pays).
   */
  get wallets(): WalletService {
    this.walletService ??= openWallets(this.store, this.workspace.config.ledger, this.clock);
    return this.walletService;
  }

  /** Stops the engine, the judge and its followers; closes the store if the app opened it. */
  close(): void {
    this.engine.close();
    this.judge.stop();
    this.policies.stop();
    this.arbiter.stop();
    if (this.ownsStore) this.store.close();
  }
}

/**
 * How long a session's lease lives and how often it is renewed: the options, else P2TUI_LEASE_MS (a lifetime in
 * milliseconds, renewed three times per lifetime; tests shorten takeovers with it), else the engine's defaults.
 */
function leaseTimes(options: AppOptions): { leaseTtlMs?: number; heartbeatMs?: number } {
  const env = process.env['P2TUI_LEASE_MS'];
  if (options.leaseTtlMs !== undefined || options.heartbeatMs !== undefined) {
    const { leaseTtlMs, heartbeatMs } = options;
    return {
      ...(leaseTtlMs === undefined ? {} : { leaseTtlMs }),
      ...(heartbeatMs === undefined ? {} : { heartbeatMs }),
    };
  }
  let ttl: number | undefined;
  if (env !== undefined && env !== '') {
    const ms = Number(env);
    if (!Number.isInteger(ms) || ms < 100 || ms > 3_600_000) {
      throw new UserError(
        'E_CONFIG',
        `P2TUI_LEASE_MS must be a whole number of milliseconds from 100 to 3600000, not '${env}'`,
        {
          hint: 'Unset it to use the default lease of 15 s.',
        },
      );
    }
    ttl = ms;
  }
  return ttl === undefined ? {} : { leaseTtlMs: ttl, heartbeatMs: Math.max(30, Math.floor(ttl / 3)) };
}
