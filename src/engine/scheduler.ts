import { Semaphore } from './limiter.ts';

/** What the scheduler runs: one step of one conversation of one session. */
export interface Steppable {
  /** Whether the conversation may take a step now (not paused, not cancelled, still wants the model). */
  canStep(conversation: string): boolean;
  /**
   * Runs the step. `modelDone` gives the slot back as soon as the model has answered, so the next step's model call
   * starts while this one commits: the concurrency limit is a limit on model calls in flight.
   */
  step(conversation: string, modelDone: () => void): Promise<void>;
}

export interface SchedulerOptions {
  /** Model calls in flight at once, over every session. */
  readonly concurrency: number;
  /** Model calls in flight at once per provider. */
  readonly providerConcurrency?: Readonly<Record<string, number>>;
}

/**
 * Runs every runnable conversation of every session with bounded concurrency, first come first served, and with a
 * separate limit per model provider. It holds only what is runnable now; sessions tell it when that changes.
 */
export class Scheduler {
  private readonly queue: { session: Steppable; conversation: string }[] = [];
  private readonly queued = new Set<string>();
  private head = 0;
  private running = 0;
  private readonly providers = new Map<string, Semaphore>();

  private readonly options: SchedulerOptions;

  constructor(options: SchedulerOptions) {
    this.options = options;
  }

  enqueue(session: Steppable, conversation: string): void {
    if (this.queued.has(conversation)) return;
    this.queued.add(conversation);
    this.queue.push({ session, conversation });
    this.pump();
  }

  /** The limiter for a provider's model calls. */
  provider(id: string): Semaphore {
    let semaphore = this.providers.get(id);
    if (semaphore === undefined) {
      semaphore = new Semaphore(this.options.providerConcurrency?.[id] ?? this.options.concurrency);
      this.providers.set(id, semaphore);
    }
    return semaphore;
  }

  get inFlight(): number {
    return this.running;
  }

  get waiting(): number {
    return this.queue.length - this.head;
  }

  private pump(): void {
    while (this.running < this.options.concurrency && this.head < this.queue.length) {
      const item = this.queue[this.head]!;
      this.head += 1;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.queued.delete(item.conversation);
      if (!item.session.canStep(item.conversation)) continue;
      this.running += 1;
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        this.running -= 1;
        this.pump();
      };
      void item.session
        .step(item.conversation, release)
        .catch(() => undefined)
        .finally(release);
    }
  }
}
