/** Waiting on abort signals: racing work against a cancel or a deadline (see deadlineSignal in clock.ts). */

/**
 * Settles as the signal aborts: with `value`, or (without one) by rejecting with the signal's reason; for racing
 * work against a cancel. Meant for a signal that lives as long as the work (a call's own, or a deadline's): its
 * listener goes with the signal. On a long-lived signal use `abortable`, which takes its listener off.
 */
export function whenAborted<T = never>(signal: AbortSignal, ...value: [T] | []): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const settle = (): void => (value.length === 1 ? resolve(value[0]) : reject(signal.reason));
    if (signal.aborted) settle();
    else signal.addEventListener('abort', settle, { once: true });
  });
}

/**
 * `promise`, or a rejection with the signal's reason as soon as the signal aborts (the work itself goes on; the
 * caller stops waiting for it). Its listener is taken off when the promise settles: safe on a long-lived signal
 * (a rollout's, with thousands of cells waited for in turn).
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
