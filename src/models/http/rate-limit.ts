import { abortableSleep } from './retry.ts';

/**
 * A requests-per-minute limiter for one provider: at most `rpm` requests start in any 60-second window. Waiting
 * requests start in arrival order; a cancelled one gives its turn up.
 */
export class RequestRateLimiter {
  private readonly starts: number[] = [];
  private tail: Promise<void> = Promise.resolve();
  private readonly rpm: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(
    rpm: number,
    options: { now?: () => number; sleep?: (ms: number, signal: AbortSignal) => Promise<void> } = {},
  ) {
    this.rpm = rpm;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? abortableSleep;
  }

  /** Resolves when a request may start (and counts it as started). */
  acquire(signal: AbortSignal): Promise<void> {
    const turn = this.tail.then(() => this.take(signal));
    // The next caller waits for this one's turn, whether it got it or was cancelled.
    this.tail = turn.catch(() => undefined);
    if (signal.aborted) return Promise.reject(signal.reason);
    // A call cancelled while queued stops waiting at once (its turn, when it comes, is skipped: take() sees the abort).
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      turn.then(
        () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  private async take(signal: AbortSignal): Promise<void> {
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const now = this.now();
      while (this.starts.length > 0 && this.starts[0]! <= now - 60_000) this.starts.shift();
      if (this.starts.length < this.rpm) {
        this.starts.push(now);
        return;
      }
      await this.sleep(this.starts[0]! + 60_000 - now, signal);
    }
  }
}
