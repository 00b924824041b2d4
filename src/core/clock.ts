import { setTimeout as wait } from 'node:timers/promises';

/** A scheduled callback. */
export interface Timer {
  /** Stops it; safe after it ran, and twice. */
  cancel(): void;
}

export interface TimerOptions {
  /**
   * Keep the process alive while the timer is pending (like a plain setTimeout). Off by default: background
   * timers (heartbeats, polls, deadlines of sessions at rest) must never hold a finished command open.
   */
  readonly keepAlive?: boolean;
}

/**
 * Time as p2tui sees it: the wall clock, a monotonic reading for durations, and timers. Everything that stamps,
 * waits, times out or polls takes one, so a test swaps in a manual clock and advances it instead of sleeping. Real
 * time is used directly only where it is the point: SQLite's own busy waits, frame pacing of the terminal, waiting
 * for an external process to come up, and log lines (see the README's list).
 */
export interface Clock {
  /** Milliseconds since the epoch: what is stored (timestamps, deadlines, leases). */
  now(): number;
  /** A monotonic reading in milliseconds, for measuring durations (a change of the wall clock does not bend it). */
  monotonic(): number;
  /** Calls `fn` once after `ms`. */
  timeout(fn: () => void, ms: number, options?: TimerOptions): Timer;
  /** Calls `fn` every `ms`. */
  interval(fn: () => void, ms: number, options?: TimerOptions): Timer;
  /** Resolves after `ms` (holding the process open: someone awaits it); rejects with the signal's reason if it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The machine's clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  timeout: (fn, ms, options = {}) => {
    const handle = setTimeout(fn, Math.max(0, ms));
    if (options.keepAlive !== true) handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
  interval: (fn, ms, options = {}) => {
    const handle = setInterval(fn, Math.max(1, ms));
    if (options.keepAlive !== true) handle.unref();
    return { cancel: () => clearInterval(handle) };
  },
  sleep: async (ms, signal) => {
    try {
      await wait(Math.max(0, ms), undefined, signal === undefined ? undefined : { signal });
    } catch (error) {
      // The signal's own reason (a cancel, a timeout), as callers expect, not Node's AbortError.
      throw signal?.aborted === true ? signal.reason : error;
    }
  },
};

/** A timer that was never set (so fields can hold one without `undefined` checks). */
export const NO_TIMER: Timer = { cancel: () => undefined };

/** A deadline as an abort signal: it aborts when its time on the clock is up. */
export interface Deadline {
  readonly signal: AbortSignal;
  /** Whether the time ran out (rather than never, or not yet). */
  expired(): boolean;
  /** Disarms it once the work is done. */
  cancel(): void;
}

/**
 * `AbortSignal.timeout` on an injectable clock (a test's manual clock advances it) with the caller's reason. Combine
 * it with a caller's signal by `AbortSignal.any([signal, deadline.signal])`: no listener to add or take off again.
 * Held open while armed by default: the work it bounds is awaited.
 */
export function deadlineSignal(clock: Clock, ms: number, reason: () => unknown, options: TimerOptions = {}): Deadline {
  const controller = new AbortController();
  const timer = clock.timeout(() => controller.abort(reason()), ms, { keepAlive: options.keepAlive ?? true });
  return { signal: controller.signal, expired: () => controller.signal.aborted, cancel: () => timer.cancel() };
}
