import { type IncomingHttpHeaders, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local OTLP/HTTP trace receiver, as a collector is one: it takes POST /v1/traces (or any path) in protobuf or JSON,
 * decodes what arrives into one shape, and answers as a collector does (200 with an empty response, or the status a
 * test asks for). OTLP/JSON is read with JSON.parse; protobuf by the wire format of opentelemetry-proto's
 * trace/v1/trace.proto (the official JS packages ship an encoder but no request decoder).
 */

export type Value = string | number | boolean | Value[] | null;
export interface DecodedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly startNs: string;
  readonly endNs: string;
  readonly attributes: Record<string, Value>;
  readonly events: { name: string; timeNs: string; attributes: Record<string, Value> }[];
  readonly links: { traceId: string; spanId: string; attributes: Record<string, Value> }[];
  readonly status: { code: number; message: string };
}
export interface DecodedRequest {
  readonly resource: Record<string, Value>;
  readonly scope: { name: string; version: string };
  readonly spans: DecodedSpan[];
}
export interface Received {
  readonly path: string;
  readonly contentType: string;
  readonly headers: IncomingHttpHeaders;
  readonly decoded: DecodedRequest[];
}

export interface Receiver {
  readonly url: string;
  readonly requests: Received[];
  /** Every span of every request so far. */
  spans(): DecodedSpan[];
  close(): Promise<void>;
}

export async function startOtlpReceiver(options: { status?: number } = {}): Promise<Receiver> {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const contentType = String(req.headers['content-type'] ?? '');
      const status = options.status ?? 200;
      if (status === 200) {
        const decoded = contentType.includes('json') ? decodeJson(body.toString('utf8')) : decodeProtobuf(body);
        requests.push({ path: req.url ?? '', contentType, headers: req.headers, decoded });
      }
      res.writeHead(status, {
        'content-type': contentType.includes('json') ? 'application/json' : 'application/x-protobuf',
      });
      res.end(status === 200 ? (contentType.includes('json') ? '{}' : '') : 'refused by the test');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    spans: () => requests.flatMap((r) => r.decoded.flatMap((d) => d.spans)),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

// --- OTLP/JSON ---------------------------------------------------------------------------------------------------

interface JsonAny {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: JsonAny[] };
}
interface JsonKv {
  key: string;
  value: JsonAny;
}
const jsonValue = (v: JsonAny): Value =>
  v.stringValue !== undefined
    ? v.stringValue
    : v.boolValue !== undefined
      ? v.boolValue
      : v.intValue !== undefined
        ? Number(v.intValue)
        : v.doubleValue !== undefined
          ? v.doubleValue
          : v.arrayValue !== undefined
            ? (v.arrayValue.values ?? []).map(jsonValue)
            : null;
const jsonAttrs = (kvs: JsonKv[] | undefined): Record<string, Value> =>
  Object.fromEntries((kvs ?? []).map((kv) => [kv.key, jsonValue(kv.value)]));

/** An OTLP/JSON ExportTraceServiceRequest (ids in hex, as the OTLP/JSON mapping writes them). */
export function decodeJson(text: string): DecodedRequest[] {
  const body = JSON.parse(text) as {
    resourceSpans: {
      resource?: { attributes?: JsonKv[] };
      scopeSpans: { scope?: { name?: string; version?: string }; spans?: Record<string, unknown>[] }[];
    }[];
  };
  return body.resourceSpans.flatMap((rs) =>
    rs.scopeSpans.map((ss) => ({
      resource: jsonAttrs(rs.resource?.attributes),
      scope: { name: ss.scope?.name ?? '', version: ss.scope?.version ?? '' },
      spans: (ss.spans ?? []).map((s) => ({
        traceId: String(s['traceId']),
        spanId: String(s['spanId']),
        parentSpanId: String(s['parentSpanId'] ?? ''),
        name: String(s['name']),
        kind: Number(s['kind']),
        startNs: String(s['startTimeUnixNano']),
        endNs: String(s['endTimeUnixNano']),
        attributes: jsonAttrs(s['attributes'] as JsonKv[]),
        events: ((s['events'] ?? []) as { name: string; timeUnixNano: string; attributes?: JsonKv[] }[]).map((e) => ({
          name: e.name,
          timeNs: String(e.timeUnixNano),
          attributes: jsonAttrs(e.attributes),
        })),
        links: ((s['links'] ?? []) as { traceId: string; spanId: string; attributes?: JsonKv[] }[]).map((l) => ({
          traceId: l.traceId,
          spanId: l.spanId,
          attributes: jsonAttrs(l.attributes),
        })),
        status: {
          code: Number((s['status'] as { code?: number } | undefined)?.code ?? 0),
          message: String((s['status'] as { message?: string } | undefined)?.message ?? ''),
        },
      })),
    })),
  );
}

// --- protobuf ----------------------------------------------------------------------------------------------------

type Field = { n: number; wire: number; varint?: bigint; bytes?: Buffer; fixed?: Buffer };

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const tag = Number(varint());
    const n = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) out.push({ n, wire, varint: varint() });
    else if (wire === 1) out.push({ n, wire, fixed: buf.subarray(pos, (pos += 8)) });
    else if (wire === 5) out.push({ n, wire, fixed: buf.subarray(pos, (pos += 4)) });
    else if (wire === 2) {
      const len = Number(varint());
      out.push({ n, wire, bytes: buf.subarray(pos, (pos += len)) });
    } else throw new Error(`protobuf wire type ${wire} at ${pos}`);
  }
  return out;
}
const all = (fs: Field[], n: number): Field[] => fs.filter((f) => f.n === n);
const one = (fs: Field[], n: number): Field | undefined => fs.find((f) => f.n === n);
const str = (f: Field | undefined): string => f?.bytes?.toString('utf8') ?? '';
const hex = (f: Field | undefined): string => f?.bytes?.toString('hex') ?? '';
const u64 = (f: Field | undefined): string => (f?.fixed === undefined ? '0' : f.fixed.readBigUInt64LE().toString());

function anyValue(buf: Buffer): Value {
  const f = fields(buf)[0];
  if (f === undefined) return null;
  switch (f.n) {
    case 1:
      return str(f);
    case 2:
      return f.varint === 1n;
    case 3:
      return Number(BigInt.asIntN(64, f.varint ?? 0n));
    case 4:
      return f.fixed!.readDoubleLE();
    case 5:
      return all(fields(f.bytes!), 1).map((v) => anyValue(v.bytes!));
    default:
      return null;
  }
}
const attrs = (fs: Field[], n: number): Record<string, Value> =>
  Object.fromEntries(
    all(fs, n).map((kv) => {
      const inner = fields(kv.bytes!);
      return [str(one(inner, 1)), anyValue(one(inner, 2)?.bytes ?? Buffer.alloc(0))];
    }),
  );

/** A protobuf ExportTraceServiceRequest (opentelemetry/proto/collector/trace/v1), field numbers as in the .proto. */
export function decodeProtobuf(body: Buffer): DecodedRequest[] {
  return all(fields(body), 1).flatMap((rsField) => {
    const rs = fields(rsField.bytes!);
    const resource = attrs(fields(one(rs, 1)?.bytes ?? Buffer.alloc(0)), 1);
    return all(rs, 2).map((ssField) => {
      const ss = fields(ssField.bytes!);
      const scope = fields(one(ss, 1)?.bytes ?? Buffer.alloc(0));
      return {
        resource,
        scope: { name: str(one(scope, 1)), version: str(one(scope, 2)) },
        spans: all(ss, 2).map((spanField): DecodedSpan => {
          const s = fields(spanField.bytes!);
          const status = fields(one(s, 15)?.bytes ?? Buffer.alloc(0));
          return {
            traceId: hex(one(s, 1)),
            spanId: hex(one(s, 2)),
            parentSpanId: hex(one(s, 4)),
            name: str(one(s, 5)),
            kind: Number(one(s, 6)?.varint ?? 0n),
            startNs: u64(one(s, 7)),
            endNs: u64(one(s, 8)),
            attributes: attrs(s, 9),
            events: all(s, 11).map((e) => {
              const ef = fields(e.bytes!);
              return { name: str(one(ef, 2)), timeNs: u64(one(ef, 1)), attributes: attrs(ef, 3) };
            }),
            links: all(s, 13).map((l) => {
              const lf = fields(l.bytes!);
              return { traceId: hex(one(lf, 1)), spanId: hex(one(lf, 2)), attributes: attrs(lf, 4) };
            }),
            status: { code: Number(one(status, 3)?.varint ?? 0n), message: str(one(status, 2)) },
          };
        }),
      };
    });
  });
}
