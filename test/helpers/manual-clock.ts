import type { Clock, Timer, TimerOptions } from '../../src/core/clock.ts';

interface Scheduled {
  readonly id: number;
  at: number;
  readonly every: number | null;
  readonly fn: () => void;
}

/**
 * A clock that moves only when a test says so: `advance(ms)` fires every timer that falls due, in order, and lets
 * the work each one starts (commits, the next step) run before the next, so a test of a 30-second timeout takes no
 * time and does not depend on the machine's speed.
 */
export class ManualClock implements Clock {
  private time: number;
  private readonly timers = new Map<number, Scheduled>();
  private nextId = 1;

  constructor(start = Date.UTC(2026, 11, 7, 12, 0, 0)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  monotonic(): number {
    return this.time;
  }

  timeout(fn: () => void, ms: number, _options?: TimerOptions): Timer {
    return this.schedule(fn, Math.max(0, ms), null);
  }

  interval(fn: () => void, ms: number, _options?: TimerOptions): Timer {
    return this.schedule(fn, Math.max(1, ms), Math.max(1, ms));
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted === true) return reject(signal.reason);
      const timer = this.timeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        timer.cancel();
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing what falls due on the way (and settling what each firing started). */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      await settle();
      const next = [...this.timers.values()].sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (next === undefined || next.at > until) break;
      this.time = next.at;
      if (next.every === null) this.timers.delete(next.id);
      else next.at += next.every;
      next.fn();
    }
    this.time = until;
    await settle();
  }

  private schedule(fn: () => void, delay: number, every: number | null): Timer {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.time + delay, every, fn });
    return { cancel: () => void this.timers.delete(id) };
  }
}

/** Lets promise chains and group commits (setImmediate) that a timer started run to completion. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Waits until `condition` holds (what a step reached), polling every few milliseconds; fails after `timeoutMs`
 * of real time, naming what it waited for. For waits on real work (a tool started), not on time.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what = 'the condition',
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms`);
    await new Promise<void>((resolve) => setTimeout(resolve, 2));
  }
}
