import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { z } from 'zod';
import { readWorkspaceConfig } from '../../src/app/config.ts';
import { sha256 } from '../../src/core/hash.ts';
import { defineTool, type Tool } from '../../src/tools/define.ts';
import { childEnv } from '../helpers/child-env.ts';
import { runCli } from '../helpers/cli.ts';
import { openAIServer, type Behaviour, type ModelServer } from '../helpers/model-servers.ts';
import { countRows, withRawDb } from '../helpers/raw-db.ts';
import { testEngine, type TestEngine } from '../helpers/workspace.ts';
import { entriesOf, setup, start, toolResults } from './session/harness.ts';

/**
 * Sizes at the tool boundary (issue 16, points 6, 7 and 9): a tool's large error is stored once as an artifact and the
 * model gets a preview, like a large output; a pure tool's large output is not stored a second time in the cache;
 * the cache key is taken before the tool runs (a tool changing its arguments cannot poison it); whatever a tool throws
 * gives an error text. Checked where a user notices: the bytes the model server received, the rows in the database.
 */

const ROOT = new URL('../..', import.meta.url).pathname;
const LARGE_MCP = join(ROOT, 'test/fixtures/mcp-large-server.ts');
const LARGE_OUTPUT = join(ROOT, 'test/fixtures/large-output-session.ts');

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An engine whose `solo` persona talks to a fake OpenAI server that answers with `behaviours` in turn. */
async function overOpenAI(
  behaviours: Behaviour[],
  options: { tools?: Tool[]; toolNames: string[]; yaml?: Record<string, unknown> },
): Promise<{ t: TestEngine; server: ModelServer }> {
  const server = await openAIServer();
  cleanups.push(() => server.close());
  server.queue(...behaviours);
  const t = await testEngine([{ id: 'solo', description: 'Solo.', model: 'openai/m', tools: options.toolNames }], {
    tools: options.tools ?? [],
    files: {
      'p2tui.yaml': stringify({
        // Not streamed: the fake server streams tool-call arguments 5 characters per event, slow for megabytes.
        providers: { openai: { base_url: `${server.url}/v1`, retry_base_ms: 5, stream: false } },
        ...options.yaml,
      }),
    },
    load: { env: {} },
  });
  cleanups.push(() => t.close());
  return { t, server };
}

/** The tool messages the model server received in request `index`. */
function toolMessages(server: ModelServer, index: number): string[] {
  const messages = server.requests[index]!.body['messages'] as { role: string; content: string }[];
  return messages.filter((m) => m.role === 'tool').map((m) => m.content);
}

/** Bytes a session's rows hold in its events and intents, and every artifact's hash and size. */
function stored(
  path: string,
  session: string,
): { events: number; intents: number; artifacts: { hash: string; size: number }[] } {
  return withRawDb(path, (db) => ({
    events: db
      .prepare('SELECT coalesce(sum(length(payload)), 0) FROM events WHERE session_id = ?')
      .pluck()
      .get(session) as number,
    intents: db
      .prepare('SELECT coalesce(sum(length(args) + coalesce(length(result), 0)), 0) FROM intents WHERE session_id = ?')
      .pluck()
      .get(session) as number,
    artifacts: db.prepare('SELECT hash, size FROM artifacts ORDER BY hash').all() as { hash: string; size: number }[],
  }));
}

const callThen = (name: string, args: Record<string, unknown>): Behaviour[] => [
  { kind: 'reply', toolCalls: [{ id: 'c1', name, arguments: args }] },
  { kind: 'reply', text: 'done' },
];

describe('a large error is stored once, as an artifact, and the model gets a preview', () => {
  it('a tool throwing a 3 MB error: the model receives 2,000 characters and a note; events and intents hold no copy', async () => {
    const huge = 'E'.repeat(3_000_000);
    const boom = defineTool({
      name: 'boom',
      description: 'Fails with a long message.',
      input: z.object({}),
      effect: 'idempotent',
      run: () => {
        throw new Error(huge);
      },
    });
    const { t, server } = await overOpenAI(callThen('boom', {}), { tools: [boom], toolNames: ['boom'] });
    const run = t.engine.start({ agent: 'solo', message: 'go', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    const hash = sha256(huge);
    const preview = `${'E'.repeat(2000)}… (3000000 bytes; full error in artifact ${hash.slice(0, 12)})`;
    expect(toolMessages(server, 1)).toEqual([JSON.stringify({ status: 'error', error: preview })]);
    expect(Buffer.byteLength(JSON.stringify(server.requests[1]!.body))).toBeLessThan(4_000);
    expect(toolResults(entriesOf(t, run.id))[0]).toMatchObject({ status: 'error', error: preview, artifact: hash });
    const rows = stored(t.engine.store.path, run.id);
    expect(rows.events).toBeLessThan(20_000);
    expect(rows.intents).toBeLessThan(5_000);
    expect(rows.artifacts).toEqual([{ hash, size: 3_000_000 }]);
    expect(t.engine.store.artifacts.get(hash)!.data.toString()).toBe(huge);
    expect(t.engine.store.artifacts.list(run.id).map((a) => [a.kind, a.name])).toEqual([
      ['tool_error', 'boom-error.txt'],
    ]);
  });

  it('an MCP server failing with a 5 MB message: the same preview, the message stored once', async () => {
    const { t, server } = await overOpenAI(callThen('big__big_error', { bytes: 5_000_000 }), {
      toolNames: ['big__big_error'],
      // Over the 4 MB default of max_result_bytes: the server's limit is raised so the error reaches the tool runner.
      yaml: { mcp_servers: { big: { command: process.execPath, args: [LARGE_MCP], max_result_bytes: 8_000_000 } } },
    });
    const run = t.engine.start({ agent: 'solo', message: 'go', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    const hash = sha256('M'.repeat(5_000_000));
    const preview = `${'M'.repeat(2000)}… (5000000 bytes; full error in artifact ${hash.slice(0, 12)})`;
    expect(toolMessages(server, 1)).toEqual([JSON.stringify({ status: 'error', error: preview })]);
    const rows = stored(t.engine.store.path, run.id);
    expect(rows.events).toBeLessThan(20_000);
    expect(rows.intents).toBeLessThan(5_000);
    expect(rows.artifacts).toEqual([{ hash, size: 5_000_000 }]);
    // Over 4 MB: written in pieces, read back whole.
    expect(countRows(t.engine.store.path, 'SELECT count(*) AS n FROM artifact_chunks WHERE hash = ?', hash)).toBe(5);
    expect(t.engine.store.artifacts.get(hash)!.data.toString()).toBe('M'.repeat(5_000_000));
  }, 30_000);

  it('limits.inline_bytes in p2tui.yaml sets where outputs become artifacts', async () => {
    const text = 'o'.repeat(600);
    const echo = defineTool({
      name: 'echo',
      description: 'Returns 600 characters.',
      input: z.object({}),
      effect: 'idempotent',
      run: () => text,
    });
    const { t, server } = await overOpenAI(callThen('echo', {}), {
      tools: [echo],
      toolNames: ['echo'],
      yaml: { limits: { inline_bytes: 500 } },
    });
    const run = t.engine.start({ agent: 'solo', message: 'go', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    const hash = sha256(JSON.stringify(text));
    const preview = `"${'o'.repeat(499)}… (602 bytes; full output in artifact ${hash.slice(0, 12)})`;
    expect(toolMessages(server, 1)).toEqual([JSON.stringify({ status: 'ok', output: preview })]);
  });
});

describe('large arguments are stored once, as an artifact', () => {
  it('a 3 MB argument: the tool gets it whole, the rows hold one copy, and the model is sent a preview of its own call', async () => {
    const text = 'A'.repeat(3_000_000);
    const received: number[] = [];
    const takes = defineTool({
      name: 'takes',
      description: 'Counts the text it is given.',
      input: z.object({ text: z.string() }),
      effect: 'idempotent',
      run: ({ text: given }) => {
        received.push(given.length);
        return { length: given.length };
      },
    });
    const { t, server } = await overOpenAI(callThen('takes', { text }), { tools: [takes], toolNames: ['takes'] });
    const run = t.engine.start({ agent: 'solo', message: 'go', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    expect(received).toEqual([3_000_000]);
    const canonical = JSON.stringify({ text });
    const hash = sha256(canonical);
    const preview = `${canonical.slice(0, 2000)}… (3000011 bytes; full arguments in artifact ${hash.slice(0, 12)})`;
    // The next request repeats the model's call with the preview, not 3 MB.
    const messages = server.requests[1]!.body['messages'] as {
      role: string;
      tool_calls?: { function: { arguments: string } }[];
    }[];
    const repeated = messages.find((m) => m.role === 'assistant')!.tool_calls![0]!.function.arguments;
    expect(repeated).toBe(JSON.stringify(preview));
    expect(Buffer.byteLength(JSON.stringify(server.requests[1]!.body))).toBeLessThan(4_000);
    const rows = stored(t.engine.store.path, run.id);
    expect(rows.events).toBeLessThan(20_000);
    expect(rows.intents).toBeLessThan(5_000);
    const responses = withRawDb(t.engine.store.path, (db) =>
      db.prepare('SELECT sum(length(response)) FROM model_calls WHERE session_id = ?').pluck().get(run.id),
    );
    expect(responses).toBeLessThan(5_000);
    expect(rows.artifacts).toEqual([{ hash, size: 3_000_011 }]);
    expect(t.engine.store.artifacts.list(run.id).map((a) => [a.kind, a.name])).toEqual([
      ['tool_arguments', 'takes-arguments.json'],
    ]);
    // Read back whole where they are needed: the call's intent (a resume runs it from there) and a replay.
    const call = entriesOf(t, run.id).find((e) => e.kind === 'tool_call');
    if (call?.kind !== 'tool_call') throw new Error('no tool_call entry');
    expect(call.payload).toMatchObject({ args: preview, argsArtifact: hash });
    expect(t.engine.store.calls.intent(call.payload.key)!.args).toEqual({ text });
    const replay = t.engine.start({
      agent: 'solo',
      message: 'go',
      source: 'replay',
      options: t.options({ replay: { from: run.id, onMiss: 'fail' } }),
    });
    expect(await replay.idle()).toBe('finished');
    expect(toolResults(entriesOf(t, replay.id))).toMatchObject([{ status: 'ok', output: { length: 3_000_000 } }]);
    expect(received).toEqual([3_000_000]);
    expect(stored(t.engine.store.path, run.id).artifacts).toHaveLength(1);
    // The replay refers to the arguments too: they outlive the recorded session.
    expect(t.engine.store.artifacts.list(replay.id).map((a) => [a.hash, a.kind])).toEqual([[hash, 'tool_arguments']]);
  });
});

describe('large arguments and the dedup policies', () => {
  it('a repeat of an effectful call with large arguments, in a later step, is still recognised (strict: not run)', async () => {
    let runs = 0;
    const pay = defineTool({
      name: 'pay',
      description: 'Pays, with a long memo.',
      input: z.object({ memo: z.string() }),
      effect: 'effectful',
      dedup: 'strict',
      run: () => {
        runs += 1;
        return { paid: true };
      },
    });
    const memo = 'm'.repeat(50_000);
    const t = await setup(
      [
        {
          id: 'w',
          description: 'W.',
          tools: ['pay'],
          script: [
            { when: '.', steps: [{ call: 'pay', args: { memo } }, { call: 'pay', args: { memo } }, { reply: 'ok' }] },
          ],
        },
      ],
      { tools: [pay] },
    );
    const session = start(t, 'w');
    expect(await session.idle()).toBe('finished');
    expect(runs).toBe(1);
    const [first, second] = toolResults(entriesOf(t, session.id));
    expect(first).toMatchObject({ status: 'ok' });
    expect(second).toMatchObject({ status: 'skipped', duplicateOf: first!.callId });
  });
});

describe('limits.inline_bytes is validated', () => {
  const workspaceWith = (yaml: string): string => {
    const dir = mkdtempSync(join(tmpdir(), 'p2tui-sizes-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'personas'));
    writeFileSync(join(dir, 'p2tui.yaml'), yaml);
    return dir;
  };

  it('inline_bytes: 0 is refused (E_CONFIG, exit 3) naming the key, at its line', async () => {
    const ws = workspaceWith('limits:\n  inline_bytes: 0\n');
    const r = await runCli(['agents', 'list', '--workspace', ws]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      'error E_CONFIG: p2tui.yaml:2:17: limits.inline_bytes: must be a positive number of bytes (16384 by default)\n',
    );
  });

  it.each([
    ['-16', 'limits.inline_bytes: must be a positive number of bytes (16384 by default)'],
    ['1.5', 'limits.inline_bytes: must be a whole number, got 1.5'],
    ['lots', 'limits.inline_bytes: must be a number, got "lots"'],
    ['2000000000', 'limits.inline_bytes: must be at most 1073741824 bytes (1 GiB)'],
  ])('inline_bytes: %s is refused (E_CONFIG): "%s"', (value, message) => {
    const ws = workspaceWith(`limits:\n  inline_bytes: ${value}\n`);
    expect(() => readWorkspaceConfig(ws)).toThrow(
      expect.objectContaining({ code: 'E_CONFIG', message: expect.stringContaining(`p2tui.yaml:2:17: ${message}`) }),
    );
  });

  it('is 16384 bytes when p2tui.yaml does not say', () => {
    expect(readWorkspaceConfig(workspaceWith('model: scripted/default\n')).config.limits).toEqual({
      inline_bytes: 16_384,
    });
  });
});

const caller = (tool: string, args: Record<string, unknown>) => ({
  id: 'solo',
  description: 'Solo.',
  tools: [tool],
  script: [{ when: '.', steps: [{ call: tool, args }, { reply: 'got: {{result}}' }] }],
});

describe('the pure-tool cache', () => {
  it("stores a large output once: the cache row names the output's artifact, and a cached call refers to it", async () => {
    const rows = 'r'.repeat(200_000);
    let runs = 0;
    const report = defineTool({
      name: 'report',
      description: 'A large report.',
      input: z.object({ n: z.number() }),
      effect: 'pure',
      cacheTtlMs: 60_000,
      run: () => {
        runs += 1;
        return { rows };
      },
    });
    const t = await setup([caller('report', { n: 1 })], { tools: [report] });
    const first = start(t, 'solo');
    expect(await first.idle()).toBe('finished');
    const second = start(t, 'solo');
    expect(await second.idle()).toBe('finished');
    expect(runs).toBe(1);
    const hash = sha256(JSON.stringify({ rows }));
    const [fresh] = toolResults(entriesOf(t, first.id));
    const [cached] = toolResults(entriesOf(t, second.id));
    expect(fresh).toMatchObject({ status: 'ok', artifact: hash });
    expect(cached).toMatchObject({ status: 'ok', cached: true, artifact: hash, output: fresh!.output });
    const path = t.engine.store.path;
    const cacheBytes = withRawDb(path, (db) => db.prepare('SELECT sum(length(result)) FROM tool_cache').pluck().get());
    expect(cacheBytes).toBeLessThan(3_000);
    expect(stored(path, first.id).artifacts).toEqual([{ hash, size: 200_011 }]);
    expect(t.engine.store.artifacts.list(second.id).map((a) => a.hash)).toEqual([hash]);
  });

  it('is keyed before the tool runs: a tool that changes its arguments does not file its result under other arguments', async () => {
    let runs = 0;
    const weather = defineTool({
      name: 'weather',
      description: 'The forecast for a city.',
      input: z.object({ where: z.unknown() }),
      effect: 'pure',
      cacheTtlMs: 60_000,
      run: ({ where }) => {
        runs += 1;
        const place = where as { city: string };
        const city = place.city;
        // A careless tool that normalizes its input in place.
        place.city = 'Paris';
        return { forecast: `sun in ${city}` };
      },
    });
    const t = await setup(
      [
        { ...caller('weather', { where: { city: 'Oslo' } }), id: 'oslo' },
        { ...caller('weather', { where: { city: 'Paris' } }), id: 'paris' },
      ],
      { tools: [weather] },
    );
    const oslo = start(t, 'oslo');
    expect(await oslo.idle()).toBe('finished');
    const paris = start(t, 'paris');
    expect(await paris.idle()).toBe('finished');
    expect(toolResults(entriesOf(t, oslo.id))[0]).toMatchObject({ status: 'ok', output: { forecast: 'sun in Oslo' } });
    const [result] = toolResults(entriesOf(t, paris.id));
    expect(result).toMatchObject({ status: 'ok', output: { forecast: 'sun in Paris' } });
    expect(result!.cached).toBeUndefined();
    expect(runs).toBe(2);
    // What the call's entry and intent hold is what the model sent, not what the tool changed it into.
    const call = entriesOf(t, oslo.id).find((e) => e.kind === 'tool_call');
    expect(call?.kind === 'tool_call' && call.payload.args).toEqual({ where: { city: 'Oslo' } });
  });
});

describe('whatever a tool throws gives an error text (issue 16, point 9)', () => {
  const THROWN: Record<string, () => unknown> = {
    undefined: () => undefined,
    null: () => null,
    symbol: () => Symbol('boom'),
    number: () => 42,
    empty: () => '',
    text: () => 'plain words',
    object: () => ({ code: 7 }),
    blank: () => new TypeError(''),
  };
  it.each([
    ['undefined', 'tool thrower threw undefined (not an Error)'],
    ['null', 'tool thrower threw null (not an Error)'],
    ['symbol', 'tool thrower threw Symbol(boom) (not an Error)'],
    ['number', 'tool thrower threw 42 (not an Error)'],
    ['empty', 'tool thrower threw an empty string (not an Error)'],
    ['text', 'plain words'],
    ['object', 'tool thrower threw an object (not an Error): {"code":7}'],
    ['blank', 'tool thrower threw TypeError with no message'],
  ])('throw %s: the model reads "%s"', async (kind, error) => {
    const thrower = defineTool({
      name: 'thrower',
      description: 'Throws what it is told.',
      input: z.object({ kind: z.string() }),
      effect: 'idempotent',
      run: ({ kind: k }) => {
        throw THROWN[k]!();
      },
    });
    const { t, server } = await overOpenAI(callThen('thrower', { kind }), { tools: [thrower], toolNames: ['thrower'] });
    const run = t.engine.start({ agent: 'solo', message: 'go', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    expect(toolMessages(server, 1)).toEqual([JSON.stringify({ status: 'error', error })]);
  });
});

describe('a 100 MB output', () => {
  // Once 936 MB of peak memory over a 115 MB process (the output parsed back, stringified twice, copied for the
  // cache, then copied twice more by SQLite as one blob): now about 450 MB, the tool's value and its JSON text, the
  // text written to the artifact store in pieces of 1 MB.
  it('is stored as one artifact, in pieces, with at most about 4 times its size in peak memory (child process)', () => {
    const r = spawnSync(process.execPath, [LARGE_OUTPUT, '100'], {
      encoding: 'utf8',
      env: childEnv(),
      timeout: 60_000,
    });
    expect(r.status).toBe(0);
    const measured = JSON.parse(r.stdout) as {
      status: string;
      artifacts: number[];
      readBack: boolean;
      beforeBytes: number;
      peakBytes: number;
    };
    expect(measured).toMatchObject({ status: 'finished', artifacts: [100_000_011], readBack: true });
    expect(measured.peakBytes - measured.beforeBytes).toBeLessThan(450_000_000);
  }, 60_000);
});
