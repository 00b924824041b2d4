import { systemClock, type Clock } from '../../core/clock.ts';

/**
 * A requests-per-minute limiter for one provider: at most `rpm` requests start in any 60-second window. Waiting
 * requests start in arrival order; a cancelled one gives its turn up.
 */
export class RequestRateLimiter {
  private readonly starts: number[] = [];
  private tail: Promise<void> = Promise.resolve();
  private readonly rpm: number;

  constructor(rpm: number) {
    this.rpm = rpm;
  }

  /** Resolves when a request may start (and counts it as started), waiting on `clock` (the caller's). */
  acquire(signal: AbortSignal, clock: Clock = systemClock): Promise<void> {
    const turn = this.tail.then(() => this.take(signal, clock));
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

  private async take(signal: AbortSignal, clock: Clock): Promise<void> {
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const now = clock.now();
      while (this.starts.length > 0 && this.starts[0]! <= now - 60_000) this.starts.shift();
      if (this.starts.length < this.rpm) {
        this.starts.push(now);
        return;
      }
      await clock.sleep(this.starts[0]! + 60_000 - now, signal);
    }
  }
}
