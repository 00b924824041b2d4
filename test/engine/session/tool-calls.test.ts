import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { StoredEvent } from '../../../src/core/events.ts';
import { DEFAULT_INLINE_BYTES } from '../../../src/engine/tool-runner.ts';
import { defineTool } from '../../../src/tools/define.ts';
import { until } from '../../helpers/manual-clock.ts';
import { countRows, withRawDb } from '../../helpers/raw-db.ts';
import { countingTool } from '../../helpers/tools.ts';
import { entriesOf, eventsOf, gatedTool, restart, setup, start, toolResults } from './harness.ts';

/**
 * Tool calls (src/engine/session/tool-calls.ts): the at-most-once line for effectful tools, the pure-tool cache,
 * redaction of configured secrets, large outputs as artifacts, milestones, and dedup marks.
 */

const caller = (tool: string, args: Record<string, unknown> = { n: 1 }, extra: Record<string, unknown> = {}) => ({
  id: 'solo',
  description: 'Solo.',
  tools: [tool],
  script: [{ when: '.', steps: [{ call: tool, args }, { reply: 'got: {{result}}' }] }],
  ...extra,
});

describe('effectful calls run at most once', () => {
  it('is marked started in a commit before the tool runs; after a crash mid-call it is settled unknown, never run again', async () => {
    let statusSeenByAnotherConnection: unknown;
    let path = '';
    const charge = gatedTool('charge', {
      effect: 'effectful',
      onStart: (run) => {
        statusSeenByAnotherConnection = withRawDb(path, (db) =>
          db.prepare('SELECT status FROM intents WHERE key = ?').pluck().get(run.key),
        );
      },
    });
    const t = await setup([caller('charge')], { tools: [charge] });
    path = t.engine.store.path;
    const session = start(t, 'solo');
    await until(() => charge.runs.length === 1, 'the effectful call to start');
    expect(statusSeenByAnotherConnection).toBe('running');

    // The process goes away while the tool is running: engine and store closed, the tool's result never stored.
    t.app.close();
    const app = await restart(t, [charge]);
    const resumed = await app.engine.attach(session.id);
    expect(await resumed.idle()).toBe('finished');
    expect(charge.runs).toHaveLength(1);
    const [result] = toolResults(entriesOf(app, session.id));
    expect(result).toMatchObject({
      status: 'unknown',
      error:
        'the process stopped while this effectful call was running, and the tool has no way to look up what happened; it was not run again',
    });
    expect(app.store.calls.intent(charge.runs[0]!.key)).toMatchObject({ status: 'done' });

    // The first run ends late, in the dead process: nothing of it reaches the store.
    const before = app.store.log.lastSeqOf(session.id);
    charge.runs[0]!.finish();
    await t.clock.advance(0);
    expect(app.store.log.lastSeqOf(session.id)).toBe(before);
    expect(toolResults(entriesOf(app, session.id))).toHaveLength(1);
  });

  it('hands the tool the lease fence, and aborts its signal once another process takes the lease over', async () => {
    const charge = gatedTool('charge', { effect: 'effectful' });
    const t = await setup([caller('charge')], { tools: [charge] });
    const session = start(t, 'solo');
    await until(() => charge.runs.length === 1, 'the effectful call to start');
    const run = charge.runs[0]!;
    const path = t.engine.store.path;
    const fence = withRawDb(path, (db) =>
      db.prepare('SELECT fence FROM leases WHERE session_id = ?').pluck().get(session.id),
    );
    expect(run.ctx.fence).toBe(fence);
    expect(run.ctx.fence).toBeGreaterThan(0);
    expect(t.engine.store.calls.intent(run.key)?.startedBy).toEqual({
      host: expect.any(String),
      pid: process.pid,
      fence,
    });
    expect(run.ctx.signal.aborted).toBe(false);
    // Another process holds the lease now (as after an expiry): the next heartbeat finds out and aborts the tool.
    withRawDb(path, (db) =>
      db
        .prepare(
          "UPDATE leases SET owner = 'elsewhere:1', host = 'elsewhere', fence = fence + 1, expires_at = ? WHERE session_id = ?",
        )
        .run(t.clock.now() + 600_000, session.id),
    );
    await t.clock.advance(5_000);
    expect(run.ctx.signal.aborted).toBe(true);
    expect(session.error?.code).toBe('E_LEASE_LOST');
    run.finish();
  });

  it('under the penalty dedup policy a repeat runs, and its result says which call it repeats', async () => {
    const pay = countingTool('pay', { effect: 'effectful', dedup: 'penalty' });
    const t = await setup(
      [
        {
          id: 'solo',
          description: 'Solo.',
          tools: ['pay'],
          script: [
            { when: '.', steps: [{ call: 'pay', args: { n: 5 } }, { call: 'pay', args: { n: 5 } }, { reply: 'ok' }] },
          ],
        },
      ],
      { tools: [pay] },
    );
    const session = start(t, 'solo');
    expect(await session.idle()).toBe('finished');
    expect(pay.calls).toHaveLength(2);
    const entries = entriesOf(t, session.id);
    const firstCall = entries.find((e) => e.kind === 'tool_call');
    const results = toolResults(entries);
    expect(results.map((r) => [r.status, r.duplicateOf])).toEqual([
      ['ok', undefined],
      ['ok', firstCall?.kind === 'tool_call' ? firstCall.payload.callId : 'missing'],
    ]);
  });
});

describe('the pure-tool cache', () => {
  it('serves a second identical call from the cache (in another session too) until the entry expires on the clock', async () => {
    const lookup = countingTool('lookup', { effect: 'pure', cacheTtlMs: 60_000 });
    const t = await setup([caller('lookup')], { tools: [lookup] });
    const runOnce = async () => {
      const session = start(t, 'solo');
      expect(await session.idle()).toBe('finished');
      return toolResults(entriesOf(t, session.id))[0]!;
    };
    const first = await runOnce();
    expect(first).toMatchObject({ status: 'ok', output: { n: 1 } });
    expect(first.cached).toBeUndefined();
    expect(countRows(t.engine.store.path, "SELECT count(*) AS n FROM tool_cache WHERE tool = 'lookup'")).toBe(1);

    const second = await runOnce();
    expect(second).toMatchObject({ status: 'ok', cached: true, output: first.output, latencyMs: 0 });
    expect(lookup.calls).toHaveLength(1);

    await t.clock.advance(59_999);
    expect((await runOnce()).cached).toBe(true);
    expect(lookup.calls).toHaveLength(1);
    await t.clock.advance(1);
    const third = await runOnce();
    expect(third.cached).toBeUndefined();
    expect(lookup.calls).toHaveLength(2);
  });

  it('does not cache a failed run: the next identical call runs the tool again', async () => {
    let runs = 0;
    const flaky = defineTool({
      name: 'flaky',
      description: 'Fails the first time.',
      input: z.object({ n: z.number() }),
      effect: 'pure',
      run: ({ n }) => {
        runs += 1;
        if (runs === 1) throw new Error('upstream hiccup');
        return { n };
      },
    });
    const t = await setup([caller('flaky')], { tools: [flaky] });
    const first = start(t, 'solo');
    expect(await first.idle()).toBe('finished');
    expect(toolResults(entriesOf(t, first.id))[0]).toMatchObject({ status: 'error', error: 'upstream hiccup' });
    expect(countRows(t.engine.store.path, 'SELECT count(*) AS n FROM tool_cache')).toBe(0);
    const second = start(t, 'solo');
    expect(await second.idle()).toBe('finished');
    expect(toolResults(entriesOf(t, second.id))[0]).toMatchObject({ status: 'ok', output: { n: 1 } });
    expect(runs).toBe(2);
  });
});

const SECRET = 'sk-test-0123456789abcdefSECRET';

/** A workspace whose OPENAI_API_KEY is SECRET: the redactor knows it. */
const secretEnv = { load: { env: { OPENAI_API_KEY: SECRET } } };

describe('redaction and artifacts', () => {
  it('a secret a tool echoes reaches neither the transcript, the intent, the cache, its files, nor the next model step', async () => {
    const leak = defineTool({
      name: 'leak',
      description: 'Echoes its environment.',
      input: z.object({ n: z.number() }),
      effect: 'pure',
      run: (_args, ctx) => {
        ctx.attach('env.txt', `OPENAI_API_KEY=${SECRET}\n`, 'text/plain');
        return { line: `token=${SECRET}` };
      },
    });
    const t = await setup([caller('leak')], { tools: [leak], ...secretEnv });
    const session = start(t, 'solo');
    expect(await session.idle()).toBe('finished');
    const [result] = toolResults(entriesOf(t, session.id));
    expect(result).toMatchObject({ status: 'ok', output: { line: 'token=[redacted]' } });
    expect(session.answer).toContain('[redacted]');
    expect(session.answer).not.toContain(SECRET);
    const path = t.engine.store.path;
    const holding = (sql: string) => countRows(path, sql, `%${SECRET}%`);
    expect(holding('SELECT count(*) AS n FROM events WHERE payload LIKE ?')).toBe(0);
    expect(holding('SELECT count(*) AS n FROM intents WHERE result LIKE ?')).toBe(0);
    expect(holding('SELECT count(*) AS n FROM tool_cache WHERE result LIKE ?')).toBe(0);
    expect(holding('SELECT count(*) AS n FROM artifacts WHERE CAST(data AS TEXT) LIKE ?')).toBe(0);
    expect(holding('SELECT count(*) AS n FROM model_calls WHERE request LIKE ?')).toBe(0);
    expect(holding('SELECT count(*) AS n FROM model_calls WHERE response LIKE ?')).toBe(0);
    const [file] = t.engine.store.artifacts.list(session.id);
    expect(t.engine.store.artifacts.get(file!.hash)!.data.toString()).toBe('OPENAI_API_KEY=[redacted]\n');
  });

  it('a large output is kept whole as an artifact the entry names; the entry holds a preview', async () => {
    const rows = Array.from({ length: 1500 }, (_, i) => ({ i, text: 'a row of the report' }));
    const report = defineTool({
      name: 'report',
      description: 'A large report.',
      input: z.object({ n: z.number() }),
      effect: 'idempotent',
      run: () => ({ rows }),
    });
    const t = await setup([caller('report')], { tools: [report] });
    const session = start(t, 'solo');
    expect(await session.idle()).toBe('finished');
    const entries = entriesOf(t, session.id);
    const [result] = toolResults(entries);
    const hash = result!.artifact!;
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof result!.output).toBe('string');
    expect((result!.output as string).length).toBeLessThan(DEFAULT_INLINE_BYTES);
    expect(result!.output).toContain(`full output in artifact ${hash.slice(0, 12)}`);
    const stored = t.engine.store.artifacts.get(hash);
    expect(JSON.parse(stored!.data.toString())).toEqual({ rows });
    const call = entries.find((e) => e.kind === 'tool_call');
    const announced = eventsOf(t, session.id).filter((e) => e.type === 'artifact.created');
    expect(announced.map((e) => [e.conversation, e.type === 'artifact.created' && e.payload.entry])).toEqual([
      [call!.conversation, call?.kind === 'tool_call' && call.payload.key],
    ]);
  });

  // Once a bug: the entry's `artifact` hash was taken before redaction and the stored blob's after, so a large
  // output holding a secret named an artifact that did not exist ("artifacts show <hash>" found nothing).
  it('a large output holding a secret is stored redacted, under the hash its entry names', async () => {
    const dump = defineTool({
      name: 'dump',
      description: 'A large dump with the key in it.',
      input: z.object({ n: z.number() }),
      effect: 'pure',
      run: () => ({ key: SECRET, rows: Array.from({ length: 1500 }, (_, i) => ({ i, text: 'a row of the dump' })) }),
    });
    const t = await setup([caller('dump')], { tools: [dump], ...secretEnv });
    const session = start(t, 'solo');
    expect(await session.idle()).toBe('finished');
    const [result] = toolResults(entriesOf(t, session.id));
    const stored = t.engine.store.artifacts.get(result!.artifact!);
    expect(stored).toBeDefined();
    expect(stored!.data.toString()).not.toContain(SECRET);
  });
  // Once a bug: milestones did not go through the redactor, so a secret in a milestone's detail was stored as it was.
  it("a secret in a milestone's detail is redacted like the result", async () => {
    const leak = defineTool({
      name: 'leak',
      description: 'Marks a milestone naming the key.',
      input: z.object({ n: z.number() }),
      effect: 'pure',
      run: (_args, ctx) => {
        ctx.milestone?.('got key', `key ${SECRET}`);
        return { ok: true };
      },
    });
    const t = await setup([caller('leak')], { tools: [leak], ...secretEnv });
    const session = start(t, 'solo');
    expect(await session.idle()).toBe('finished');
    expect(countRows(t.engine.store.path, 'SELECT count(*) AS n FROM events WHERE payload LIKE ?', `%${SECRET}%`)).toBe(
      0,
    );
  });
});

describe('milestones', () => {
  it('are committed in the same transaction as the result of the call that marked them; a failed run leaves none', async () => {
    const ship = defineTool({
      name: 'ship',
      description: 'Ships an order.',
      input: z.object({ n: z.number() }),
      effect: 'idempotent',
      run: ({ n }, ctx) => {
        ctx.milestone?.('shipped', `order ${n}`);
        if (n === 2) throw new Error('the truck broke down');
        return { shipped: n };
      },
    });
    const t = await setup(
      [
        {
          id: 'solo',
          description: 'Solo.',
          tools: ['ship'],
          script: [
            { when: '.', steps: [{ call: 'ship', args: { n: 1 } }, { call: 'ship', args: { n: 2 } }, { reply: 'ok' }] },
          ],
        },
      ],
      { tools: [ship] },
    );
    const batches: StoredEvent[][] = [];
    t.engine.store.onCommit((events) => batches.push([...events]));
    const session = start(t, 'solo');
    expect(await session.idle()).toBe('finished');
    const entries = entriesOf(t, session.id);
    const [okCall, failedCall] = entries.flatMap((e) => (e.kind === 'tool_call' ? [e] : []));
    expect(toolResults(entries).map((r) => r.status)).toEqual(['ok', 'error']);
    const milestones = eventsOf(t, session.id).filter((e) => e.type === 'milestone');
    expect(milestones.map((e) => [e.conversation, e.payload])).toEqual([
      [okCall!.conversation, { name: 'shipped', detail: 'order 1', tool: 'ship', entry: okCall!.payload.key }],
    ]);
    const batch = batches.find((b) => b.some((e) => e.type === 'milestone'))!;
    expect(
      batch.some((e) => e.type === 'entry' && e.kind === 'tool_result' && e.payload.callId === okCall!.payload.callId),
    ).toBe(true);
    expect(failedCall).toBeDefined();
  });
});
