import { deadlineSignal, systemClock, type Clock } from '../../core/clock.ts';
import { ProviderError } from '../../core/errors.ts';

/**
 * Retries of model calls: exponential backoff with full jitter on what may succeed later (429, 5xx, network
 * errors, a stream cut mid-way), never on another 4xx. A `Retry-After` from the provider is honoured.
 */
export interface RetryPolicy {
  /** Retries after the first attempt (0: try once). */
  readonly maxRetries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 4, baseDelayMs: 500, maxDelayMs: 30_000 };

/** The longest Retry-After we honour; a provider asking for more is treated as failing now. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** What a retry looks like to the user (the CLI and TUI show it while they wait). */
export interface RetryNotice {
  /** 1 for the first retry. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly reason: string;
}

/**
 * Delay before retry number `attempt` (1-based): uniformly random in [0, min(max, base·2^(attempt-1))] (full
 * jitter, so many sessions hit by the same 429 do not come back in step), and never less than Retry-After.
 */
export function retryDelayMs(
  attempt: number,
  policy: RetryPolicy,
  random: () => number,
  retryAfterMs?: number,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(random() * ceiling);
  return retryAfterMs === undefined ? jittered : Math.max(retryAfterMs, jittered);
}

/** `Retry-After` (seconds or an HTTP date) or OpenAI's `retry-after-ms`, in milliseconds from `now`. */
export function parseRetryAfter(
  headers: { get(name: string): string | null } | undefined,
  now: number,
): number | undefined {
  if (headers === undefined) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms));
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export interface RetryOptions {
  readonly policy: RetryPolicy;
  readonly signal: AbortSignal;
  readonly random?: () => number;
  /** Whose time the backoffs and Retry-After waits take (the engine's; a test's manual clock). */
  readonly clock?: Clock;
  readonly onRetry?: (notice: RetryNotice) => void;
}

/** Runs `attempt` until it succeeds, fails for good, or the retries are spent; the last error is thrown. */
export async function withRetries<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const random = options.random ?? Math.random;
  const clock = options.clock ?? systemClock;
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (
        !(error instanceof ProviderError) ||
        !error.retryable ||
        n >= options.policy.maxRetries ||
        options.signal.aborted
      )
        throw error;
      if (error.retryAfterMs !== undefined && error.retryAfterMs > MAX_RETRY_AFTER_MS) throw error;
      const delayMs = retryDelayMs(n + 1, options.policy, random, error.retryAfterMs);
      options.onRetry?.({ attempt: n + 1, delayMs, reason: error.message });
      await clock.sleep(delayMs, options.signal);
    }
  }
}

/** One attempt's signal: aborted with the call, or when the attempt has taken `timeoutMs`. */
export interface AttemptSignal {
  readonly signal: AbortSignal;
  readonly timedOut: () => boolean;
  dispose(): void;
}

export function attemptSignal(
  outer: AbortSignal,
  timeoutMs: number | undefined,
  clock: Clock = systemClock,
): AttemptSignal {
  if (timeoutMs === undefined) return { signal: outer, timedOut: () => false, dispose: () => undefined };
  const deadline = deadlineSignal(clock, timeoutMs, () => new Error(`no answer within ${timeoutMs} ms`), {
    within: outer,
  });
  return {
    signal: deadline.signal,
    timedOut: () => deadline.expired(),
    dispose: () => deadline.cancel(),
  };
}
