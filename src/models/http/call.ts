import type { CompleteOptions } from '../provider.ts';
import { attemptTimeout, type FailureContext } from './errors.ts';
import type { RequestRateLimiter } from './rate-limit.ts';
import { DEFAULT_RETRY, attemptSignal, withRetries, type RetryPolicy } from './retry.ts';

/**
 * One model call the way every HTTP provider makes it: wait for the rate limiter, run an attempt under its own
 * timeout (the call's signal aborts it too), turn what it throws into a typed provider error, and retry by the
 * policy. `attempt` gets the attempt's signal; `translate` maps an SDK's errors.
 */
export function callWithRetries<T>(
  options: CompleteOptions,
  settings: {
    readonly retry?: RetryPolicy | undefined;
    readonly limiter: RequestRateLimiter | undefined;
    readonly failure: FailureContext;
  },
  attempt: (signal: AbortSignal) => Promise<T>,
  translate: (error: unknown) => unknown,
): Promise<T> {
  return withRetries(
    async () => {
      await settings.limiter?.acquire(options.signal, options.clock);
      const timed = attemptSignal(options.signal, options.attemptTimeoutMs, options.clock);
      try {
        return await attempt(timed.signal);
      } catch (error) {
        if (timed.timedOut()) throw attemptTimeout(options.attemptTimeoutMs!, settings.failure);
        throw translate(error);
      } finally {
        timed.dispose();
      }
    },
    {
      policy: settings.retry ?? DEFAULT_RETRY,
      signal: options.signal,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.onRetry === undefined ? {} : { onRetry: options.onRetry }),
    },
  );
}
