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

/** A deadline as an abort signal: it aborts when its time on the clock is up, or when the signal it is within does. */
export interface Deadline {
  readonly signal: AbortSignal;
  /** Whether the time ran out first (not the signal it is within, and not yet, or never). */
  expired(): boolean;
  /** Disarms it once the work is done, and stops following the signal it is within. */
  cancel(): void;
}

export interface DeadlineOptions extends TimerOptions {
  /** The caller's signal (a cancel of the call): the deadline's signal aborts on whichever comes first. */
  readonly within?: AbortSignal;
}

/**
 * `AbortSignal.timeout` on an injectable clock (a test's manual clock advances it), with the caller's reason, within
 * the caller's signal. Not `AbortSignal.any`: Node keeps an observed composite of a long-lived signal (a
 * conversation's) alive (nodejs/node#64476), which measured +86 MiB peak over 10,000 model calls here; this takes its
 * one listener off the caller's signal when cancelled. Held open while armed by default: the work it bounds is awaited.
 */
export function deadlineSignal(
  clock: Clock,
  ms: number,
  reason: () => unknown,
  options: DeadlineOptions = {},
): Deadline {
  const controller = new AbortController();
  const { within } = options;
  let expired = false;
  const timer = clock.timeout(
    () => {
      if (controller.signal.aborted) return;
      expired = true;
      controller.abort(reason());
    },
    ms,
    { keepAlive: options.keepAlive ?? true },
  );
  const follow = (): void => controller.abort(within?.reason);
  if (within?.aborted === true) follow();
  else within?.addEventListener('abort', follow, { once: true });
  return {
    signal: controller.signal,
    expired: () => expired,
    cancel: () => {
      timer.cancel();
      within?.removeEventListener('abort', follow);
    },
  };
}
