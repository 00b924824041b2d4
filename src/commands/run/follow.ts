import type { EventBus } from '../../bus/bus.ts';
import type { SessionStatus } from '../../core/events.ts';
import type { Store } from '../../store/store.ts';
import type { SessionRuntime } from '../../engine/session/runtime.ts';
import { EventText } from '../render/event-text.ts';
import type { Output } from '../types.ts';
import { terminalText } from '../../core/terminal-text.ts';
import { storageFailureOf, type StoreError } from '../../core/errors.ts';

/**
 * Prints a session's events as they are committed, from a given seq, until stopped. `drain()` waits until
 * everything committed so far has been printed, so a prompt never appears above the line that caused it.
 */
export class EventPrinter {
  private cursor = 0;
  private readonly controller = new AbortController();
  private readonly waiters: { seq: number; resolve: () => void; reject: (error: unknown) => void }[] = [];
  /** The database failing under the printer (a damaged event log): nothing more can be printed. */
  private failure: StoreError | undefined;
  readonly text: EventText;
  private readonly done: Promise<void>;

  private readonly store: Store;
  private readonly session: string;

  constructor(
    bus: EventBus,
    store: Store,
    output: Output,
    session: string,
    fromSeq: number,
    options: { verbose?: boolean; echoUser?: boolean; stream?: boolean; statusLines?: boolean } = {},
  ) {
    this.store = store;
    this.session = session;
    this.cursor = fromSeq;
    const renderer = new EventText({
      color: output.color,
      verbose: options.verbose ?? false,
      echoUser: options.echoUser ?? true,
      statusLines: options.statusLines ?? false,
    });
    renderer.know(store.sessions.conversations(session));
    this.text = renderer;
    const signal = this.controller.signal;
    if (options.stream !== false && !output.json) {
      void (async () => {
        for await (const delta of bus.deltas({ session }, signal)) {
          // Stream only when every committed event is already on screen, so text never jumps ahead of its context.
          if (delta.type === 'delta' && this.cursor < store.log.lastSeq()) renderer.skip(delta.modelCall);
          const text = renderer.delta(delta);
          if (text !== undefined) output.write(text);
        }
      })().catch(() => {
        // Streaming is a preview: a failure here (the database failing) is reported by the events' loop below.
      });
    }
    this.done = (async () => {
      for await (const event of bus.subscribe({ fromSeq, filter: { session }, signal, pollMs: 100 })) {
        this.cursor = event.seq;
        if (!output.json) for (const line of renderer.lines(event)) output.line(line);
        this.wake();
      }
    })().catch((error: unknown) => {
      // Without this, `drain()` would wait forever for events that can no longer be read.
      this.failure = storageFailureOf(error);
      if (this.failure === undefined) throw error;
      for (const waiter of this.waiters.splice(0)) waiter.reject(this.failure);
    });
  }

  /** The storage failure that stopped the printer, if one did. */
  get failed(): StoreError | undefined {
    return this.failure;
  }

  /** Resolves once every event committed before this call has been printed. */
  drain(): Promise<void> {
    // This session's newest event: newer events of other sessions never reach this printer.
    const target = this.store.log.lastSeqOf(this.session);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.cursor >= target) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ seq: target, resolve, reject }));
  }

  async stop(): Promise<void> {
    await this.drain().finally(() => this.controller.abort());
    await this.done.catch(() => undefined);
    if (this.failure !== undefined) throw this.failure;
  }

  private wake(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!;
      if (this.cursor >= waiter.seq) {
        this.waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }
}

/**
 * Waits for a session this process drives to come to rest, answering agents' questions at the terminal when a
 * person is there. Returns the final status, or 'interrupted' when the signal fired (the session is detached and
 * stays resumable).
 */
export async function driveUntilIdle(
  runtime: SessionRuntime,
  printer: EventPrinter,
  output: Output,
  signal: AbortSignal,
  options: { answerQuestions?: boolean } = {},
): Promise<SessionStatus | 'interrupted'> {
  const interrupted = new Promise<'interrupted'>((resolve) => {
    if (signal.aborted) resolve('interrupted');
    signal.addEventListener('abort', () => resolve('interrupted'), { once: true });
  });
  const stop = async (): Promise<'interrupted'> => {
    runtime.detach();
    await printer.stop();
    return 'interrupted';
  };
  const answerQuestions = options.answerQuestions ?? output.interactive;
  let pausedNoticeShown = false;
  while (true) {
    const status = await Promise.race([runtime.idle(), interrupted]);
    if (status === 'interrupted') return stop();
    await printer.drain();
    if (runtime.error !== undefined) return status;
    if (status === 'paused') {
      // This process still drives the session: wait for a resume (from any terminal) rather than drop it.
      if (!pausedNoticeShown)
        output.line(`paused; continue with: p2tui session resume ${runtime.id} (or Ctrl-C to stop following it here)`);
      pausedNoticeShown = true;
      const next = await Promise.race([runtime.nextStatus(), interrupted]);
      if (next === 'interrupted') return stop();
      continue;
    }
    const questions = runtime.pendingQuestions();
    if (status !== 'waiting' || !answerQuestions || questions.length === 0) return status;
    for (const question of questions) {
      const answer = await Promise.race([
        output.ask(`${question.agent} asks: ${terminalText(question.question)}\nanswer› `),
        interrupted,
      ]);
      if (answer === 'interrupted') return stop();
      if (answer === undefined) return 'waiting';
      await runtime.respond(question.callId, answer);
    }
  }
}
