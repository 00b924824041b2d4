import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/host-tools.ts';
import { type DecodedSpan, type Receiver, decodeJson, startOtlpReceiver } from '../helpers/otlp-receiver.ts';

/**
 * `session export --format otlp` and `rollout export --format otlp` against a local OTLP/HTTP receiver: real CLI
 * processes over the demo workspace (scripted personas: agent_alpha delegates to agent_helper and agent_beta).
 */

let root: string;
let dir: string;
let session: string;
let receiver: Receiver;

const QUESTION = "What's the weather in Paris and who leads the Premier League?";

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'p2tui-otel-'));
  expect((await runCli(['demo'], { cwd: root })).code).toBe(0);
  dir = join(root, 'p2tui-demo');
  const run = await runCli(['run', 'agent_alpha', QUESTION, '--json'], { cwd: dir });
  expect(run.code).toBe(0);
  session = (JSON.parse(run.stdout) as { session: string }).session;
  receiver = await startOtlpReceiver();
}, 60_000);

afterAll(async () => {
  await receiver?.close();
  rmSync(root, { recursive: true, force: true });
});

const byName = (spans: DecodedSpan[], name: string): DecodedSpan[] => spans.filter((s) => s.name === name);
const only = (spans: DecodedSpan[], name: string): DecodedSpan => {
  const found = byName(spans, name);
  expect(found.map((s) => s.name)).toEqual([name]);
  return found[0]!;
};

/** What arrives for one export (the receiver keeps every request; this takes the ones the command made). */
async function exported(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ spans: DecodedSpan[]; request: Receiver['requests'][number] }> {
  const before = receiver.requests.length;
  const result = await runCli(args, { cwd: dir, env });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const fresh = receiver.requests.slice(before);
  expect(fresh.length).toBeGreaterThan(0);
  return { spans: fresh.flatMap((r) => r.decoded.flatMap((d) => d.spans)), request: fresh[0]! };
}

describe('session export --format otlp', () => {
  it('sends a delegating session as one GenAI trace over OTLP/HTTP protobuf: invoke_agent spans nest, chat and execute_tool under them', async () => {
    const { spans, request } = await exported(
      ['session', 'export', session, '--format', 'otlp', '--endpoint', `${receiver.url}/v1/traces`],
      {
        OTEL_EXPORTER_OTLP_HEADERS: 'x-team=observability',
      },
    );
    expect(request.path).toBe('/v1/traces');
    expect(request.contentType).toBe('application/x-protobuf');
    expect(request.headers['x-team']).toBe('observability');
    expect(request.decoded[0]!.resource['service.name']).toBe('p2tui');

    expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
    const lead = only(spans, 'invoke_agent agent_alpha');
    const helper = only(spans, 'invoke_agent agent_helper');
    const beta = only(spans, 'invoke_agent agent_beta');
    expect(lead.parentSpanId).toBe('');
    expect(helper.parentSpanId).toBe(lead.spanId);
    expect(beta.parentSpanId).toBe(lead.spanId);
    expect(lead.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'agent_alpha',
      'gen_ai.provider.name': 'scripted',
      'gen_ai.request.model': 'default',
      'p2tui.session.id': session,
      'p2tui.replayed': false,
    });
    expect(lead.attributes['gen_ai.conversation.id']).toMatch(/^c_/);
    expect(lead.attributes['p2tui.branch']).toMatch(/^b_/);
    expect(lead.attributes['p2tui.cost_usd']).toBeGreaterThan(0);
    expect(lead.status.code).toBe(1);
    expect(lead.events.map((e) => e.name)).toEqual(['p2tui.delegation', 'p2tui.delegation']);

    const chats = byName(spans, 'chat default');
    expect(chats).toHaveLength(6);
    expect(chats.filter((c) => c.parentSpanId === helper.spanId)).toHaveLength(2);
    const chat = chats.find((c) => c.parentSpanId === lead.spanId)!;
    expect(chat.kind).toBe(3); // SPAN_KIND_CLIENT
    expect(chat.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'scripted',
      'gen_ai.request.model': 'default',
      'gen_ai.request.temperature': 0,
      'gen_ai.response.model': 'default',
      'gen_ai.conversation.id': lead.attributes['gen_ai.conversation.id'],
      'p2tui.replayed': false,
    });
    expect(chat.attributes['gen_ai.response.finish_reasons']).toEqual(['tool_calls']);
    expect(chat.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(chat.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(chat.attributes['p2tui.seq']).toBeGreaterThan(0);
    expect(Number(chat.endNs)).toBeGreaterThanOrEqual(Number(chat.startNs));

    const tool = only(spans, 'execute_tool get_weather');
    expect(tool.parentSpanId).toBe(helper.spanId);
    expect(tool.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'get_weather',
      'gen_ai.conversation.id': helper.attributes['gen_ai.conversation.id'],
      'p2tui.effect': 'pure',
      'p2tui.tool.status': 'ok',
    });
    expect(tool.attributes['gen_ai.tool.call.id']).toMatch(/^call_/);
    // Message contents stay out unless asked for.
    expect(JSON.stringify(spans)).not.toContain('Paris');

    // Scores arrive after their conversation: spans of their own under what they judged, linked to it.
    const delivery = byName(spans, 'evaluate delivery');
    expect(delivery.map((s) => s.parentSpanId).sort()).toEqual([helper.spanId, beta.spanId].sort());
    const quality = only(spans, 'evaluate quality');
    expect(quality.parentSpanId).toBe(lead.spanId);
    expect(quality.links).toEqual([
      { traceId: lead.traceId, spanId: lead.spanId, attributes: { 'p2tui.link': 'judged' } },
    ]);
    expect(quality.attributes['gen_ai.evaluation.name']).toBe('quality');
    expect(quality.events[0]!.name).toBe('gen_ai.evaluation.result');
    expect(quality.events[0]!.attributes['gen_ai.evaluation.score.value']).toBeGreaterThan(0);
  });

  it('re-exporting gives the same trace and span ids; http/json (OTEL_EXPORTER_OTLP_PROTOCOL) to OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces carries the same spans', async () => {
    const first = await exported([
      'session',
      'export',
      session,
      '--format',
      'otlp',
      '--endpoint',
      `${receiver.url}/v1/traces`,
    ]);
    const again = await exported(['session', 'export', session, '--format', 'otlp'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/collector`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    });
    expect(again.request.path).toBe('/collector/v1/traces');
    expect(again.request.contentType).toBe('application/json');
    const ids = (spans: DecodedSpan[]): string[] => spans.map((s) => `${s.traceId}/${s.spanId}/${s.parentSpanId}`);
    expect(ids(again.spans)).toEqual(ids(first.spans));
    expect(again.spans).toEqual(first.spans);
    // The traces endpoint variable is used as given.
    const given = await exported(['session', 'export', session, '--format', 'otlp'], {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/exactly/here`,
      OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/not-this`,
    });
    expect(given.request.path).toBe('/exactly/here');
  });

  it('--out writes OTLP/JSON: the same spans a collector gets, and --capture-content adds the messages', async () => {
    const file = join(root, 'trace.json');
    const written = await runCli(['session', 'export', session, '--format', 'otlp', '--out', file], { cwd: dir });
    expect(written.code).toBe(0);
    expect(written.stdout).toMatch(new RegExp(`^exported ${session} as \\d+ spans to ${file}\\n$`));
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { resourceSpans: unknown[] };
    expect(parsed.resourceSpans).toHaveLength(1);
    const fromFile = decodeJson(readFileSync(file, 'utf8')).flatMap((d) => d.spans);
    const sent = await exported([
      'session',
      'export',
      session,
      '--format',
      'otlp',
      '--endpoint',
      `${receiver.url}/v1/traces`,
    ]);
    expect(fromFile).toEqual(sent.spans);

    const content = join(root, 'content.json');
    expect(
      (
        await runCli(['session', 'export', session, '--format', 'otlp', '--capture-content', '--out', content], {
          cwd: dir,
        })
      ).code,
    ).toBe(0);
    const spans = decodeJson(readFileSync(content, 'utf8')).flatMap((d) => d.spans);
    const lead = spans.find((s) => s.name === 'invoke_agent agent_alpha')!;
    expect(JSON.parse(String(lead.attributes['gen_ai.input.messages']))).toEqual([
      { role: 'user', parts: [{ type: 'text', content: QUESTION }] },
    ]);
    expect(
      String(spans.find((s) => s.name === 'execute_tool get_weather')!.attributes['gen_ai.tool.call.arguments']),
    ).toContain('Paris');
  });

  it('a replayed session is marked p2tui.replayed, and its root names the session it replays', async () => {
    const replay = await runCli(['session', 'replay', session, '--json'], { cwd: dir });
    expect(replay.code).toBe(0);
    const list = await runCli(['session', 'list', '--json'], { cwd: dir });
    const replayId = (JSON.parse(list.stdout) as { id: string; source: string }[]).find(
      (s) => s.source === 'replay',
    )!.id;
    const { spans } = await exported([
      'session',
      'export',
      replayId,
      '--format',
      'otlp',
      '--endpoint',
      `${receiver.url}/v1/traces`,
    ]);
    const lead = only(spans, 'invoke_agent agent_alpha');
    expect(lead.attributes['p2tui.replayed']).toBe(true);
    expect(lead.attributes['p2tui.replay.from']).toBe(session);
    const chats = byName(spans, 'chat default');
    expect(chats.length).toBe(6);
    for (const chat of chats)
      expect(chat.attributes).toMatchObject({
        'p2tui.replayed': true,
        'gen_ai.provider.name': 'scripted',
        'p2tui.cost_usd': 0,
      });
    const original = receiver.spans().find((s) => s.attributes['p2tui.session.id'] === session)!;
    expect(lead.traceId).not.toBe(original.traceId);
  });

  it('a collector that is down: E_OTLP_EXPORT naming the URL and the refusal, exit 1; a refusing one: its HTTP status', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/v1/traces`;
    const down = await runCli(['session', 'export', session, '--format', 'otlp', '--endpoint', url], {
      cwd: dir,
      env: { OTEL_EXPORTER_OTLP_TIMEOUT: '1500' },
    });
    expect(down.stderr).toContain(
      `error E_OTLP_EXPORT: the OTLP collector at ${url} did not take the spans: ECONNREFUSED`,
    );
    expect(down.stdout).toBe('');
    expect(down.code).toBe(1);

    const refusing = await startOtlpReceiver({ status: 400 });
    try {
      const refused = await runCli(
        ['session', 'export', session, '--format', 'otlp', '--endpoint', `${refusing.url}/v1/traces`],
        { cwd: dir },
      );
      expect(refused.stderr).toContain(
        `error E_OTLP_EXPORT: the OTLP collector at ${refusing.url}/v1/traces did not take the spans: HTTP 400`,
      );
      expect(refused.code).toBe(1);
    } finally {
      await refusing.close();
    }
    // Nothing was lost: the session exports as before.
    await exported(['session', 'export', session, '--format', 'otlp', '--endpoint', `${receiver.url}/v1/traces`]);
  });

  it('never prints a password written into the collector URL, live or after the fact', async () => {
    const port = await freePort();
    const down = await runCli(
      [
        'session',
        'export',
        session,
        '--format',
        'otlp',
        '--endpoint',
        `http://ops:s3cretpw@127.0.0.1:${port}/v1/traces`,
      ],
      { cwd: dir, env: { OTEL_EXPORTER_OTLP_TIMEOUT: '1500' } },
    );
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(
      `the OTLP collector at http://***@127.0.0.1:${port}/v1/traces did not take the spans`,
    );
    const live = await runCli(['run', 'agent_alpha', QUESTION], {
      cwd: dir,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://ops:s3cretpw@127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_TIMEOUT: '1500' },
    });
    expect(live.stderr).toContain(`notice: the OTLP collector at http://***@127.0.0.1:${port}/v1/traces`);
    expect(down.stdout + down.stderr + live.stdout + live.stderr).not.toContain('s3cretpw');
  });

  it('refuses --endpoint without --format otlp, and --out with --endpoint (E_USAGE, exit 2)', async () => {
    const plain = await runCli(['session', 'export', session, '--endpoint', `${receiver.url}/v1/traces`], { cwd: dir });
    expect(plain.stderr).toContain(
      'error E_USAGE: --endpoint and --capture-content go with --format otlp, not --format bundle',
    );
    expect(plain.code).toBe(2);
    const both = await runCli(
      ['session', 'export', session, '--format', 'otlp', '--out', join(root, 'x.json'), '--endpoint', receiver.url],
      { cwd: dir },
    );
    expect(both.stderr).toContain('error E_USAGE: --out and --endpoint cannot be given together');
    expect(both.code).toBe(2);
  });
});

describe('session export --format otlp: forks and payments', () => {
  it("a fork's first span links to the span it forked from; payments are events on the tool span; top_p and max_tokens", async () => {
    expect((await runCli(['ledger', 'init'], { cwd: dir })).code).toBe(0);
    const run = await runCli(['run', 'agent_alpha', 'hire agent_beta for 5 to calculate 6 * 7', '--json'], {
      cwd: dir,
    });
    expect(run.code).toBe(0);
    const id = (JSON.parse(run.stdout) as { session: string }).session;
    const fork = await runCli(
      [
        'session',
        'fork',
        id,
        '--step',
        '1',
        '--top-p',
        '0.9',
        '--max-tokens',
        '256',
        '--checkout',
        '--label',
        'nucleus',
      ],
      {
        cwd: dir,
      },
    );
    expect(fork.code).toBe(0);
    expect((await runCli(['session', 'resume', id], { cwd: dir })).code).toBe(0);
    const { spans } = await exported([
      'session',
      'export',
      id,
      '--format',
      'otlp',
      '--endpoint',
      `${receiver.url}/v1/traces`,
    ]);

    const escrow = only(spans, 'execute_tool open_escrow');
    expect(escrow.attributes['p2tui.effect']).toBe('effectful');
    expect(escrow.events.map((e) => e.name)).toEqual(['p2tui.payment']);
    expect(escrow.events[0]!.attributes).toMatchObject({
      'p2tui.payment.kind': 'escrow',
      'p2tui.payment.tool': 'open_escrow',
      'p2tui.payment.amount': '5',
      'p2tui.payment.to': 'agent_beta',
    });
    // The judge's score of the delegate's work paid the escrow: an event where it was settled.
    const settled = spans
      .flatMap((s) => s.events)
      .filter((e) => e.attributes['p2tui.payment.kind'] === 'escrow.release');
    expect(settled).toHaveLength(1);

    const roots = byName(spans, 'invoke_agent agent_alpha');
    expect(roots).toHaveLength(2);
    const forked = roots.find((r) => r.links.length > 0)!;
    expect(forked.parentSpanId).toBe('');
    expect(forked.attributes['p2tui.fork.label']).toBe('nucleus');
    expect(forked.attributes['p2tui.branch']).not.toBe(escrow.attributes['p2tui.branch']);
    // Forked after the escrow call (step 1): the newest span before the fork point on the parent branch.
    expect(forked.links).toEqual([
      { traceId: escrow.traceId, spanId: escrow.spanId, attributes: { 'p2tui.link': 'forked_from' } },
    ]);
    const onFork = spans.filter(
      (s) => s.name === 'chat default' && s.attributes['p2tui.branch'] === forked.attributes['p2tui.branch'],
    );
    expect(onFork.length).toBeGreaterThan(0);
    for (const chat of onFork)
      expect(chat.attributes).toMatchObject({ 'gen_ai.request.top_p': 0.9, 'gen_ai.request.max_tokens': 256 });
  }, 60_000);
});

describe('rollout export --format otlp', () => {
  it('sends one trace per cell, each linked to the rollout span of a trace of its own', async () => {
    const run = await runCli(['rollout', 'run', 'rollouts/demo_rollout.yaml', '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    const { spans } = await exported([
      'rollout',
      'export',
      'last',
      '--format',
      'otlp',
      '--endpoint',
      `${receiver.url}/v1/traces`,
    ]);
    const rollout = only(spans, 'rollout demo_rollout');
    expect(rollout.parentSpanId).toBe('');
    const roots = spans.filter((s) => s.parentSpanId === '' && s !== rollout);
    expect(roots).toHaveLength(2);
    expect(new Set([rollout.traceId, ...roots.map((r) => r.traceId)]).size).toBe(3);
    for (const cellRoot of roots) {
      expect(cellRoot.name).toBe('invoke_agent agent_alpha');
      expect(cellRoot.links).toEqual([
        { traceId: rollout.traceId, spanId: rollout.spanId, attributes: { 'p2tui.link': 'rollout' } },
      ]);
      expect(cellRoot.attributes['p2tui.rollout.id']).toBe(rollout.attributes['p2tui.rollout.id']);
      expect(cellRoot.attributes['p2tui.cell.variant']).toMatch(/./);
    }
    expect(roots.map((r) => r.attributes['p2tui.cell.id']).sort()).toHaveLength(2);
    const temps = spans
      .filter((s) => s.name === 'chat default' && s.parentSpanId !== '')
      .map((s) => s.attributes['gen_ai.request.temperature']);
    expect(new Set(temps)).toEqual(new Set([0, 1.2]));
  }, 60_000);
});
