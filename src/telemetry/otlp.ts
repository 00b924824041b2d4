/**
 * Spans out through the official OpenTelemetry packages: OTLP/JSON for a file (the transformer's serializer),
 * OTLP/HTTP for a collector (the official exporters, protobuf unless asked for JSON). Every @opentelemetry module is
 * imported here, on demand: nothing of it loads unless something is exported.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { P2Error, UserError } from '../core/errors.ts';
import { VERSION } from '../core/version.ts';
import type { TraceSpan } from './spans.ts';

export type OtlpProtocol = 'http/protobuf' | 'http/json';

const DEFAULT_ENDPOINT = 'http://localhost:4318/v1/traces';

/** `Exporter` from the environment the standard way, unless the command line names one. */
export interface OtlpTarget {
  readonly url: string;
  readonly protocol: OtlpProtocol;
}

/**
 * Where spans go: `--endpoint` as given; else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given; else
 * OTEL_EXPORTER_OTLP_ENDPOINT with /v1/traces appended; else p2tui.yaml's `otel.endpoint` as given; else undefined
 * (nothing configured). The protocol likewise: the variables, then p2tui.yaml, then http/protobuf.
 */
export function otlpTarget(
  env: NodeJS.ProcessEnv,
  endpoint?: string,
  workspace: { endpoint?: string; protocol?: string } = {},
): OtlpTarget | undefined {
  const raw =
    env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ??
    env['OTEL_EXPORTER_OTLP_PROTOCOL'] ??
    workspace.protocol ??
    'http/protobuf';
  const protocol = raw.trim();
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new UserError(
      'E_CONFIG',
      `OTEL_EXPORTER_OTLP_PROTOCOL is '${raw}': p2tui exports over http/protobuf or http/json`,
      {
        hint: 'Set it to http/protobuf (the default) or http/json; a gRPC collector also listens for OTLP/HTTP on port 4318.',
      },
    );
  }
  const specific = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim();
  const general = env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim();
  const url =
    endpoint ??
    (specific !== undefined && specific !== ''
      ? specific
      : general !== undefined && general !== ''
        ? `${general.replace(/\/+$/, '')}/v1/traces`
        : workspace.endpoint);
  if (url === undefined) return undefined;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError('not http');
  } catch {
    throw new UserError('E_USAGE', `'${url}' is not an http or https URL of an OTLP collector`, {
      hint: `Name the collector's traces URL, e.g. ${DEFAULT_ENDPOINT}`,
    });
  }
  return { url, protocol };
}

const hr = (ms: number): [number, number] => {
  const whole = Math.floor(ms);
  return [Math.floor(whole / 1000), (whole % 1000) * 1_000_000 + Math.round((ms - whole) * 1_000_000)];
};

/** The plain spans as the SDK's ReadableSpan, under one resource (service.name p2tui). */
export async function readableSpans(spans: readonly TraceSpan[]): Promise<ReadableSpan[]> {
  const [
    { SpanKind, SpanStatusCode, TraceFlags },
    { resourceFromAttributes },
    { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION },
  ] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'),
  ]);
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'p2tui', [ATTR_SERVICE_VERSION]: VERSION });
  const scope = { name: 'p2tui', version: VERSION };
  return spans.map((s): ReadableSpan => {
    const context = { traceId: s.traceId, spanId: s.spanId, traceFlags: TraceFlags.SAMPLED };
    const end = Math.max(s.end, s.start);
    return {
      name: s.name,
      kind: s.kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL,
      spanContext: () => context,
      ...(s.parentSpanId === null
        ? {}
        : { parentSpanContext: { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: TraceFlags.SAMPLED } }),
      startTime: hr(s.start),
      endTime: hr(end),
      duration: hr(end - s.start),
      status: {
        code:
          s.status.code === 'ok'
            ? SpanStatusCode.OK
            : s.status.code === 'error'
              ? SpanStatusCode.ERROR
              : SpanStatusCode.UNSET,
        ...(s.status.message === undefined ? {} : { message: s.status.message }),
      },
      attributes: { ...s.attributes },
      links: s.links.map((l) => ({
        context: { traceId: l.to.traceId, spanId: l.to.spanId, traceFlags: TraceFlags.SAMPLED },
        attributes: { ...l.attributes },
      })),
      events: s.events.map((e) => ({ name: e.name, time: hr(e.time), attributes: { ...e.attributes } })),
      ended: true,
      resource,
      instrumentationScope: scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  });
}

/** OTLP/JSON (an ExportTraceServiceRequest), as the official transformer writes it. */
export async function otlpJson(spans: readonly TraceSpan[]): Promise<string> {
  const { JsonTraceSerializer } = await import('@opentelemetry/otlp-transformer');
  const bytes = JsonTraceSerializer.serializeRequest(await readableSpans(spans));
  return new TextDecoder().decode(bytes ?? new Uint8Array());
}

/**
 * Sends the spans to a collector over OTLP/HTTP through the official exporter. A collector that is down or refuses
 * is an error naming the URL and the status (E_OTLP_EXPORT): the log it was made from is untouched.
 */
export async function sendOtlp(
  spans: readonly TraceSpan[],
  target: OtlpTarget,
  extra: { headers?: Record<string, string>; timeoutMillis?: number } = {},
): Promise<void> {
  const readable = await readableSpans(spans);
  const { OTLPTraceExporter } =
    target.protocol === 'http/json'
      ? await import('@opentelemetry/exporter-trace-otlp-http')
      : await import('@opentelemetry/exporter-trace-otlp-proto');
  // Headers and the timeout come from OTEL_EXPORTER_OTLP_(TRACES_)HEADERS / _TIMEOUT, which the exporter reads, unless
  // the caller passes p2tui.yaml's (only when those variables are unset: the environment wins).
  const exporter = new OTLPTraceExporter({
    url: target.url,
    ...(extra.headers === undefined ? {} : { headers: extra.headers }),
    ...(extra.timeoutMillis === undefined ? {} : { timeoutMillis: extra.timeoutMillis }),
  });
  try {
    const result = await new Promise<{ code: number; error?: Error }>((resolve) => exporter.export(readable, resolve));
    if (result.code !== 0) throw exportError(target, result.error);
  } finally {
    await exporter.shutdown().catch(() => undefined);
  }
}

function exportError(target: OtlpTarget, error: Error | undefined): P2Error {
  const status = (error as { code?: unknown } | undefined)?.code;
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  const why =
    typeof status === 'number'
      ? `HTTP ${status}${error?.message ? ` ${error.message}` : ''}`
      : typeof status === 'string'
        ? `${status}${error?.message ? ` (${error.message})` : ''}`
        : typeof cause === 'string'
          ? cause
          : (error?.message ?? 'no answer');
  return new P2Error('E_OTLP_EXPORT', `the OTLP collector at ${shownUrl(target.url)} did not take the spans: ${why}`, {
    hint: 'Check that the collector runs and listens for OTLP/HTTP there (OTEL_EXPORTER_OTLP_ENDPOINT, --endpoint); nothing in the log was changed.',
    ...(error === undefined ? {} : { cause: error }),
  });
}

/**
 * A collector's URL as it may be printed: a user and password written into it (`http://user:secret@host`) are a
 * credential like a header's, so they are shown as `***` in notices, errors and what a command prints.
 */
export function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return url;
    parsed.username = '***';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url;
  }
}
