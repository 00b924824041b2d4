import type { Clock, Timer } from '../core/clock.ts';
import type { StoredEvent } from '../core/events.ts';
import type { Store } from '../store/store.ts';
import { readSessionLog } from './log.ts';
import { type OtlpTarget, otlpTarget, sendOtlp } from './otlp.ts';
import { cellSpans } from './rollout.ts';
import { type TraceSpan, sessionSpans } from './spans.ts';

/** p2tui.yaml's `otel` block (the environment's OTEL_EXPORTER_OTLP_* variables win over it). */
export interface OtelConfig {
  readonly endpoint?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly protocol?: 'http/protobuf' | 'http/json' | undefined;
  readonly capture_content?: boolean | undefined;
}

export interface LiveSettings {
  readonly target: OtlpTarget;
  readonly headers: Record<string, string> | undefined;
  readonly captureContent: boolean;
  /** How long one export may take, retries included: an exit waits at most this long for a collector that is down. */
  readonly timeoutMillis: number | undefined;
}

/** Live export is on when a collector is configured, by the environment or by p2tui.yaml; else undefined. */
export function liveSettings(env: NodeJS.ProcessEnv, config: OtelConfig | undefined): LiveSettings | undefined {
  const target = otlpTarget(env, undefined, {
    ...(config?.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    ...(config?.protocol === undefined ? {} : { protocol: config.protocol }),
  });
  if (target === undefined) return undefined;
  const envHeaders = env['OTEL_EXPORTER_OTLP_TRACES_HEADERS'] ?? env['OTEL_EXPORTER_OTLP_HEADERS'];
  const envTimeout = env['OTEL_EXPORTER_OTLP_TRACES_TIMEOUT'] ?? env['OTEL_EXPORTER_OTLP_TIMEOUT'];
  return {
    target,
    headers: envHeaders === undefined && config?.headers !== undefined ? { ...config.headers } : undefined,
    captureContent: config?.capture_content === true,
    timeoutMillis: envTimeout === undefined ? LIVE_TIMEOUT_MS : undefined,
  };
}

const LIVE_TIMEOUT_MS = 2000;
const INTERVAL_MS = 2000;
/**
 * Reading and mapping the changed sessions takes the process's own time, which the steps share: the next pass waits
 * at least this many times as long as the last one took, so the export keeps to about 3% of the process's time.
 */
const SHARE = 30;

/** A span that will not change any more: a model call, a tool call with its result, a settled conversation, a score. */
function isFinal(span: TraceSpan): boolean {
  const operation = span.attributes['gen_ai.operation.name'];
  if (operation === 'execute_tool') return span.attributes['p2tui.tool.status'] !== undefined;
  if (operation === 'invoke_agent') return span.status.code !== 'unset';
  return true;
}

/**
 * Exports, while they run, the sessions this process drives: those it commits entries of (only the process holding a
 * session's lease writes its entries). It reads the log as every other reader does, so it never blocks a step; every
 * couple of seconds (less often when a pass takes long: see SHARE) it sends the spans that are final and not sent
 * yet; `flush` does the same, and sends a session that has ended whole. Ids come from the log, so what a collector
 * gets matches a later `session export --format otlp`. A collector that is down costs one notice; what it missed is
 * sent at the next try (the log keeps everything).
 *
 * Each span goes once, also across processes: a span stays unsent until it is final (a conversation waiting for an
 * answer is sent by the process that finishes it), and a process that takes a session over (`session respond`,
 * `resume`) counts the spans that were final before its first commit as sent by the one before. What that one could
 * not send (it was killed, or its collector was down) `session export --format otlp` sends.
 */
export class LiveExport {
  private readonly driven = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly sent = new Set<string>();
  /** Per session: the newest seq before this process's first commit to it (the spans final then were sent before). */
  private readonly before = new Map<string, number>();
  private tail: Promise<void> = Promise.resolve();
  private noticed = false;
  private timer: Timer | undefined;
  private stopped = false;
  private stopCommits: (() => void) | undefined;

  private readonly store: Store;
  private readonly settings: LiveSettings;
  private readonly notice: (text: string) => void;
  private readonly clock: Clock;

  constructor(store: Store, settings: LiveSettings, notice: (text: string) => void, clock: Clock) {
    this.store = store;
    this.settings = settings;
    this.notice = notice;
    this.clock = clock;
  }

  start(): void {
    this.stopCommits = this.store.onCommit((events: readonly StoredEvent[]) => {
      const first = new Map<string, number>();
      for (const event of events)
        if (event.session !== null && !first.has(event.session)) first.set(event.session, event.seq);
      for (const event of events) {
        if (event.session === null) continue;
        if (event.type === 'entry' && !this.driven.has(event.session)) {
          this.driven.add(event.session);
          this.before.set(event.session, (first.get(event.session) ?? event.seq) - 1);
        }
        if (this.driven.has(event.session)) this.dirty.add(event.session);
      }
    });
    this.schedule(INTERVAL_MS);
  }

  /** Sends what is final and not sent yet, and whole the sessions that have ended; resolves when done, never rejects. */
  flush(): Promise<void> {
    for (const session of this.driven) this.dirty.add(session);
    return this.enqueue(true);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.stopCommits?.();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.clock.timeout(() => {
      const started = this.clock.monotonic();
      void this.enqueue(false).then(() =>
        this.schedule(Math.max(INTERVAL_MS, (this.clock.monotonic() - started) * SHARE)),
      );
    }, ms);
  }

  /** Once per session: the spans that were final before this process's first commit count as sent. */
  private primeFrom(session: string): void {
    const upto = this.before.get(session);
    if (upto === undefined) return;
    this.before.delete(session);
    if (upto <= 0) return;
    for (const span of sessionSpans(readSessionLog(this.store, session, upto)))
      if (isFinal(span)) this.sent.add(span.spanId);
  }

  private enqueue(all: boolean): Promise<void> {
    // One export at a time, in order: a slow collector makes the next tick wait, never two sends of one span.
    this.tail = this.tail.then(() => this.exportDirty(all));
    return this.tail;
  }

  private async exportDirty(all: boolean): Promise<void> {
    const sessions = [...this.dirty];
    this.dirty.clear();
    for (const session of sessions) {
      const options = { captureContent: this.settings.captureContent };
      // A rollout's cell is exported as `rollout export` exports it: linked to the rollout's span.
      const cell = this.store.rollouts.cellOfSession(session);
      const spans =
        cell === undefined
          ? sessionSpans(readSessionLog(this.store, session), options)
          : cellSpans(this.store, session, cell, options);
      this.primeFrom(session);
      const status = this.store.sessions.get(session)?.status;
      const ended = all && (status === 'finished' || status === 'failed' || status === 'cancelled');
      const fresh = spans.filter((s) => !this.sent.has(s.spanId) && (ended || isFinal(s)));
      if (fresh.length === 0) continue;
      try {
        await sendOtlp(fresh, this.settings.target, {
          ...(this.settings.headers === undefined ? {} : { headers: this.settings.headers }),
          ...(this.settings.timeoutMillis === undefined ? {} : { timeoutMillis: this.settings.timeoutMillis }),
        });
        for (const span of fresh) this.sent.add(span.spanId);
      } catch (error) {
        // Tried again with the next change (not after the flush, the last try); the session itself goes on untouched.
        if (!all) this.dirty.add(session);
        // One notice per process: the collector's state is news once, not at every try.
        if (!this.noticed) {
          this.noticed = true;
          const why = error instanceof Error ? error.message : String(error);
          this.notice(`notice: ${why} (the log keeps the session: p2tui session export ${session} --format otlp)`);
        }
      }
    }
  }
}
