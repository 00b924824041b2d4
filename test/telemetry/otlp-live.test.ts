import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/host-tools.ts';
import { type Receiver, startOtlpReceiver } from '../helpers/otlp-receiver.ts';

/**
 * Live export: a process that drives sessions sends them to the collector that OTEL_EXPORTER_OTLP_* or p2tui.yaml's
 * `otel` names, and flushes before it exits; a collector that is down costs a notice, not the session.
 */

let root: string;
let receiver: Receiver;
const QUESTION = "What's the weather in Paris and who leads the Premier League?";

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'p2tui-otel-live-'));
  receiver = await startOtlpReceiver();
});

afterAll(async () => {
  await receiver?.close();
  rmSync(root, { recursive: true, force: true });
});

async function demo(name: string): Promise<string> {
  const cwd = join(root, name);
  expect((await runCli(['demo', name], { cwd: root })).code).toBe(0);
  return cwd;
}

describe('live export', () => {
  it('run sends the session it drives to OTEL_EXPORTER_OTLP_ENDPOINT before it exits: every span once, with the ids session export gives', async () => {
    const dir = await demo('env');
    const before = receiver.requests.length;
    const run = await runCli(['run', 'agent_alpha', QUESTION, '--json'], {
      cwd: dir,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const session = (JSON.parse(run.stdout) as { session: string }).session;
    const live = receiver.requests.slice(before);
    expect(live.every((r) => r.path === '/v1/traces' && r.contentType === 'application/x-protobuf')).toBe(true);
    const spans = live.flatMap((r) => r.decoded.flatMap((d) => d.spans));
    const ids = spans.map((s) => s.spanId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(spans.every((s) => s.attributes['p2tui.session.id'] === session)).toBe(true);

    const mark = receiver.requests.length;
    const exported = await runCli(
      ['session', 'export', session, '--format', 'otlp', '--endpoint', `${receiver.url}/v1/traces`],
      { cwd: dir },
    );
    expect(exported.code).toBe(0);
    const after = receiver.requests.slice(mark).flatMap((r) => r.decoded.flatMap((d) => d.spans));
    expect([...ids].sort()).toEqual(after.map((s) => s.spanId).sort());
    expect(spans.map((s) => s.name)).toContain('invoke_agent agent_helper');
    expect(spans.map((s) => s.name)).toContain('execute_tool get_weather');
  });

  it('a session answered in another process: the two processes send every span once between them, final spans only', async () => {
    const dir = await demo('respond');
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url };
    const before = receiver.requests.length;
    const asked = await runCli(['run', 'agent_alpha', 'plan a picnic', '--json'], { cwd: dir, env });
    expect(asked.code).toBe(4);
    const session = (JSON.parse(asked.stdout) as { session: string }).session;
    const first = receiver.requests.slice(before).flatMap((r) => r.decoded.flatMap((d) => d.spans));
    // The lead's conversation waits for the answer: its span is not final, so not sent yet.
    expect(first.map((s) => s.name)).not.toContain('invoke_agent agent_alpha');
    expect(first.map((s) => s.name)).toContain('chat default');

    const mark = receiver.requests.length;
    const answered = await runCli(['session', 'respond', session, 'Paris'], { cwd: dir, env });
    expect(answered.code).toBe(0);
    const second = receiver.requests.slice(mark).flatMap((r) => r.decoded.flatMap((d) => d.spans));
    const all = [...first, ...second].map((s) => s.spanId);
    expect(new Set(all).size).toBe(all.length);

    const exportMark = receiver.requests.length;
    const exported = await runCli(
      ['session', 'export', session, '--format', 'otlp', '--endpoint', `${receiver.url}/v1/traces`],
      { cwd: dir },
    );
    expect(exported.code).toBe(0);
    const whole = receiver.requests.slice(exportMark).flatMap((r) => r.decoded.flatMap((d) => d.spans));
    expect([...all].sort()).toEqual(whole.map((s) => s.spanId).sort());
    const lead = second.find((s) => s.name === 'invoke_agent agent_alpha')!;
    expect(lead.events.map((e) => e.name)).toEqual(expect.arrayContaining(['p2tui.question', 'p2tui.answer']));
  });

  it("p2tui.yaml's otel block (protocol, headers, capture_content) is used, and the environment's endpoint wins over its own", async () => {
    const dir = await demo('yaml');
    const closed = await freePort();
    appendFileSync(
      join(dir, 'p2tui.yaml'),
      `otel:\n  endpoint: http://127.0.0.1:${closed}/v1/traces\n  protocol: http/json\n  headers:\n    x-team: agents\n  capture_content: true\n`,
    );
    const before = receiver.requests.length;
    const run = await runCli(['run', 'agent_alpha', QUESTION], {
      cwd: dir,
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/env/traces` },
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const live = receiver.requests.slice(before);
    expect(live.length).toBeGreaterThan(0);
    expect(
      live.every(
        (r) => r.path === '/env/traces' && r.contentType === 'application/json' && r.headers['x-team'] === 'agents',
      ),
    ).toBe(true);
    const lead = live
      .flatMap((r) => r.decoded.flatMap((d) => d.spans))
      .find((s) => s.name === 'invoke_agent agent_alpha')!;
    expect(String(lead.attributes['gen_ai.input.messages'])).toContain('Premier League');
  });

  it('a collector that is down: the run finishes (exit 0) with a notice naming the URL; the session exports later', async () => {
    const dir = await demo('down');
    const closed = await freePort();
    const url = `http://127.0.0.1:${closed}/v1/traces`;
    appendFileSync(join(dir, 'p2tui.yaml'), `otel:\n  endpoint: ${url}\n`);
    const run = await runCli(['run', 'agent_alpha', QUESTION, '--json'], { cwd: dir });
    expect(run.code).toBe(0);
    const session = (JSON.parse(run.stdout) as { session: string; status: string }).session;
    expect(run.stderr).toContain(`notice: the OTLP collector at ${url} did not take the spans: ECONNREFUSED`);
    expect(run.stderr).toContain(`(the log keeps the session: p2tui session export ${session} --format otlp)`);
    expect(run.stderr.split('\n').filter((line) => line.startsWith('notice:'))).toHaveLength(1);
    const show = await runCli(['session', 'list', '--json'], { cwd: dir });
    expect((JSON.parse(show.stdout) as { id: string; status: string }[]).find((s) => s.id === session)!.status).toBe(
      'finished',
    );
    const later = await runCli(
      ['session', 'export', session, '--format', 'otlp', '--endpoint', `${receiver.url}/v1/traces`],
      { cwd: dir },
    );
    expect(later.code).toBe(0);
  });

  it('an OTEL_EXPORTER_OTLP_PROTOCOL p2tui cannot speak (grpc) costs a notice, not the run', async () => {
    const dir = await demo('grpc');
    const before = receiver.requests.length;
    const run = await runCli(['run', 'agent_alpha', QUESTION], {
      cwd: dir,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
    });
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(
      "notice: no live OpenTelemetry export: OTEL_EXPORTER_OTLP_PROTOCOL is 'grpc': p2tui exports over http/protobuf or http/json\n",
    );
    expect(receiver.requests.length).toBe(before);
  });

  it('rollout run flushes every cell before it exits', async () => {
    const dir = await demo('rollout');
    const before = receiver.requests.length;
    const run = await runCli(['rollout', 'run', 'rollouts/demo_rollout.yaml'], {
      cwd: dir,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
    });
    expect(run.code).toBe(0);
    const spans = receiver.requests.slice(before).flatMap((r) => r.decoded.flatMap((d) => d.spans));
    const roots = spans.filter((s) => s.name === 'invoke_agent agent_alpha');
    expect(new Set(roots.map((r) => r.traceId)).size).toBe(2);
    // Each cell's root links to the rollout's span, as `rollout export --format otlp` gives it (same ids, same links).
    const mark = receiver.requests.length;
    expect(
      (
        await runCli(['rollout', 'export', 'last', '--format', 'otlp', '--endpoint', `${receiver.url}/v1/traces`], {
          cwd: dir,
        })
      ).code,
    ).toBe(0);
    const exported = receiver.requests.slice(mark).flatMap((r) => r.decoded.flatMap((d) => d.spans));
    const rollout = exported.find((s) => s.name === 'rollout demo_rollout')!;
    for (const root of roots) {
      expect(root.links).toEqual([
        { traceId: rollout.traceId, spanId: rollout.spanId, attributes: { 'p2tui.link': 'rollout' } },
      ]);
      expect(root.attributes['p2tui.cell.id']).toMatch(/./);
    }
    expect(
      exported
        .filter((s) => s !== rollout)
        .map((s) => s.spanId)
        .sort(),
    ).toEqual(spans.map((s) => s.spanId).sort());
  }, 60_000);
});
