import type { EventBus } from '../bus/bus.ts';
import type { SessionOptions, SessionSource } from '../core/events.ts';
import type { Clock } from '../core/clock.ts';
import type { Store } from '../store/store.ts';
import type { ControlPoller } from './control.ts';
import type { ConversationRuntime } from './conversation.ts';
import type { LeaseKeeper } from './lease-keeper.ts';
import type { PersonaKit } from './persona-kit.ts';
import type { Scheduler } from './scheduler.ts';
import type { EnginePorts } from './ports.ts';
import type { BranchOverrides } from './branching.ts';

export interface StepTiming {
  readonly totalMs: number;
  readonly modelMs: number;
}

/** What a session runtime gets from the engine that drives it. */
export interface EngineContext {
  readonly store: Store;
  readonly bus: EventBus;
  readonly ports: EnginePorts;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly leases: LeaseKeeper;
  readonly control: ControlPoller;
  readonly personas: PersonaKit;
  readonly onStepTiming?: (timing: StepTiming) => void;
}

export interface StartSession {
  readonly agent: string;
  readonly message: string;
  readonly source: SessionSource;
  readonly title?: string;
  readonly options: SessionOptions;
  /** The main branch's overrides (a rollout variant's per-agent model, temperature, tools, system prompt). */
  readonly overrides?: BranchOverrides;
}

/** One commit's bookkeeping: its time, the conversations it touched, what to do once it is durable. */
export interface Txn {
  readonly now: number;
  readonly touched: Set<ConversationRuntime>;
  readonly after: (() => void)[];
  /** Judge jobs to queue at the end of the transaction, when the seq they judge up to is known. */
  readonly jobs: ((uptoSeq: number) => void)[];
}
