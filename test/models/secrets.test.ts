import { runCli, type CliResult } from '../helpers/cli.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ProviderRegistry } from '../../src/models/registry.ts';
import { OpenAIProvider } from '../../src/models/openai/provider.ts';
import type { ModelDelta } from '../../src/models/provider.ts';
import { Redactor } from '../../src/models/redactor.ts';
import { eventsExportCommand, eventsTailCommand } from '../../src/commands/workspace/events.ts';
import { exportCommand } from '../../src/commands/session/bundles.ts';
import { showCommand } from '../../src/commands/session/inspect.ts';
import { commandContext } from '../commands/helpers.ts';
import { openAIServer, type ModelServer } from '../helpers/model-servers.ts';
import { tempWorkspace, testEngine, type TempWorkspace } from '../helpers/workspace.ts';
import { defineTool } from '../../src/tools/define.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { z } from 'zod';

/*
 * A provider whose successful reply echoes the API key it was sent (in its text, split across stream chunks, in a
 * tool call's arguments, in its list of models): the key is in no byte of the database, its WAL, any export or any
 * output, and what streams live never shows it either.
 */

const KEY = 'sk-test-SECRET-7f3a9c2e41b8d605';

const servers: ModelServer[] = [];
const workspaces: TempWorkspace[] = [];
afterEach(async () => {
  for (const w of workspaces.splice(0)) w.cleanup();
  for (const s of servers.splice(0)) await s.close();
});

function p2tui(dir: string, args: readonly string[]): Promise<CliResult> {
  return runCli(['--workspace', dir, ...args], { env: { OPENAI_API_KEY: KEY } });
}

async function setup(models: readonly string[] = ['test-model']): Promise<{ server: ModelServer; ws: TempWorkspace }> {
  const server = await openAIServer(models);
  servers.push(server);
  const ws = tempWorkspace({
    'p2tui.yaml': stringify({
      providers: {
        openai: { base_url: `${server.url}/v1`, max_retries: 0 },
        plain: { type: 'openai', base_url: `${server.url}/v1`, api_key_env: 'OPENAI_API_KEY', stream: false },
      },
    }),
    'tools/echo.ts':
      "import { defineTool, z } from 'p2tui';\n" +
      "export const echo = defineTool({ name: 'echo', description: 'Echo.', input: z.object({ text: z.string() }), " +
      "effect: 'pure', run: ({ text }: { text: string }) => text });\n",
  });
  workspaces.push(ws);
  ws.persona({ id: 'streamer', description: 'Streams.', model: 'openai/test-model' });
  ws.persona({ id: 'plain', description: 'Answers whole.', model: 'plain/test-model' });
  ws.persona({ id: 'tooler', description: 'Calls tools.', model: 'openai/test-model', tools: ['echo'] });
  return { server, ws };
}

/**
 * Every place the key could be stored or shown after a run: none has it, and the redaction marks where it was. The
 * read commands run in this process (as the CLI runs them) over the database the `run` process wrote.
 */
async function expectNoKey(ws: TempWorkspace, run: CliResult): Promise<void> {
  expect(run.stdout + run.stderr).not.toContain(KEY);
  const session = /session (s_[A-Za-z0-9]+)/.exec(run.stdout)?.[1];
  expect(session, run.stdout + run.stderr).toBeDefined();
  const bundle = join(ws.dir, 'bundle.p2tui.json');
  const ctx = commandContext(ws.dir);
  try {
    const outputs = [
      await ctx.run(exportCommand, [session!, '--out', bundle]),
      await ctx.run(showCommand, [session!, '--json']),
      await ctx.run(showCommand, [session!, '--steps']),
      await ctx.run(eventsExportCommand, []),
      await ctx.run(eventsTailCommand, ['--limit', '1000', '--json']),
      await ctx.run(eventsTailCommand, ['--limit', '1000']),
    ];
    for (const out of outputs) {
      expect(out.exitCode).toBe(0);
      expect(out.stdout + out.warnings.join('\n') + JSON.stringify(out.json ?? null)).not.toContain(KEY);
    }
    expect(outputs[3]!.stdout).toContain('[redacted]');
  } finally {
    await ctx.close();
  }
  expect(readFileSync(bundle, 'utf8')).not.toContain(KEY);
  expect(readFileSync(bundle, 'utf8')).toContain('[redacted]');
  const db = join(ws.dir, '.p2tui', 'p2tui.db');
  for (const file of [db, `${db}-wal`])
    if (existsSync(file)) expect(readFileSync(file).includes(KEY), file).toBe(false);
}

describe('a key a tool prints in colour (ripgrep highlighting the match)', () => {
  it('is shown nowhere once the colour codes between its halves are taken out for the terminal', async () => {
    const { ws } = await setup();
    // What `rg --color always sk-test-SECRET .env` prints: colour codes inside the key, so the key is not found as
    // written; the terminal removes colour codes from shown text, which would put it back together.
    ws.write(
      'tools/grep.ts',
      "import { defineTool, z } from 'p2tui';\n" +
        "export const grep = defineTool({ name: 'grep', description: 'Grep.', input: z.object({}), effect: 'pure', " +
        "run: () => { const k = process.env.OPENAI_API_KEY ?? ''; return '.env:1:OPENAI_API_KEY=\\u001b[0m\\u001b[1m' + " +
        "'\\u001b[31m' + k.slice(0, 14) + '\\u001b[0m' + k.slice(14) + '\\n'; } });\n",
    );
    ws.persona({
      id: 'searcher',
      description: 'Greps.',
      model: 'scripted/default',
      tools: ['grep'],
      script: [{ when: '.', steps: [{ call: 'grep', args: {} }, { reply: 'found it' }] }],
    });
    const run = await p2tui(ws.dir, ['run', 'searcher', 'find the key', '--skip-judge']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('OPENAI_API_KEY=[redacted]');
    await expectNoKey(ws, run);
  });
});

describe('a provider that echoes the API key in a successful reply', () => {
  it('stores and shows no key from a whole (non-streamed) reply', async () => {
    const { server, ws } = await setup();
    server.queue({ kind: 'reply', text: `Your key is ${KEY}, keep it safe.` });
    const run = await p2tui(ws.dir, ['run', 'plain', 'hi', '--skip-judge']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Your key is [redacted], keep it safe.');
    // The server did get the key (it is what it echoed): only what comes back is redacted.
    expect(server.requests[0]!.headers['authorization']).toBe(`Bearer ${KEY}`);
    await expectNoKey(ws, run);
  });

  it('stores and shows no key split across two stream chunks', async () => {
    const { server, ws } = await setup();
    // Chunks of 24 characters: "Here: sk-test-SECRET-7f3a" and "9c2e41b8d605 done." hold one half each.
    server.queue({ kind: 'reply', text: `Here: ${KEY} done.`, chunk: 24 });
    const run = await p2tui(ws.dir, ['run', 'streamer', 'hi', '--skip-judge']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Here: [redacted] done.');
    await expectNoKey(ws, run);
  });

  it("stores and shows no key in a tool call's arguments (the intent, the tool's input and result)", async () => {
    const { server, ws } = await setup();
    server.queue(
      { kind: 'reply', toolCalls: [{ id: 'c1', name: 'echo', arguments: { text: `key=${KEY}` } }] },
      { kind: 'reply', text: 'Echoed.' },
    );
    const run = await p2tui(ws.dir, ['run', 'tooler', 'echo the key', '--skip-judge', '--verbose']);
    expect(run.code, run.stderr).toBe(0);
    // The tool got the arguments as stored: redacted.
    const second = server.requests[1]!.body['messages'] as { role: string; content: string }[];
    expect(second.find((m) => m.role === 'tool')!.content).toContain('key=[redacted]');
    await expectNoKey(ws, run);
  });

  it('doctor shows no key from the list of models', async () => {
    const { ws } = await setup(['test-model', `echo-${KEY}`]);
    for (const out of await Promise.all([p2tui(ws.dir, ['doctor']), p2tui(ws.dir, ['doctor', '--json'])])) {
      expect(out.stdout).toContain('echo-[redacted]');
      expect(out.stdout + out.stderr).not.toContain(KEY);
    }
  });

  it('never shows the key while it streams: what is held back is shown once the next chunk proves it harmless', async () => {
    const server = await openAIServer();
    servers.push(server);
    const redactor = new Redactor();
    redactor.add(KEY);
    const registry = new ProviderRegistry(redactor);
    registry.register(
      new OpenAIProvider({
        id: 'openai',
        baseURL: `${server.url}/v1`,
        apiKey: KEY,
        redactor,
        retry: { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 1 },
      }),
    );
    const request = {
      model: 'test-model',
      messages: [{ role: 'user' as const, content: 'hi' }],
      tools: [],
      temperature: 0,
      seed: 1,
      estimatedInputTokens: 1,
    };
    const { provider } = registry.resolve('openai/test-model');
    // An attempt cut after the first half of the key, then retried: the half it held back is never shown.
    // (Pieces of 18 characters: the one sent is "x " and the key's first 16.)
    server.queue(
      { kind: 'cut', text: `x ${KEY.slice(0, 16)}${'.'.repeat(18)}`, chunks: 1 },
      { kind: 'reply', text: 'fine' },
    );
    const retried: ModelDelta[] = [];
    const notices: string[] = [];
    await provider.complete(request, {
      signal: new AbortController().signal,
      onDelta: (d) => retried.push(d),
      onRetry: (n) => notices.push(n.reason),
    });
    expect(notices).toHaveLength(1);
    expect(retried.map((d) => ('text' in d ? d.text : '')).join('')).toBe('fine');
    const text = `a ${KEY.slice(0, 10)} b ${KEY} c ${KEY}`;
    for (const chunk of [1, 3, 7, 16, 24]) {
      server.queue({
        kind: 'reply',
        text,
        chunk,
        toolCalls: [{ id: 'c1', name: 'echo', arguments: { text: KEY } }],
      });
      const deltas: ModelDelta[] = [];
      const response = await provider.complete(request, {
        signal: new AbortController().signal,
        onDelta: (d) => deltas.push(d),
      });
      const shown = deltas.map((d) => ('text' in d ? d.text : '')).join('');
      const args = deltas.map((d) => ('toolCall' in d ? d.toolCall.argumentsDelta : '')).join('');
      const expected = `a ${KEY.slice(0, 10)} b [redacted] c [redacted]`;
      expect(shown).toBe(expected);
      expect(response.text).toBe(expected);
      expect(args).toBe('{"text":"[redacted]"}');
      expect(response.toolCalls[0]!.arguments).toBe('{"text":"[redacted]"}');
    }
  });

  it('a tool that puts the key in a binary file, a file name or its error has it stored nowhere', async () => {
    const leaky = defineTool({
      name: 'leaky',
      description: 'Leaks.',
      input: z.object({}),
      effect: 'pure',
      run: (_args, ctx) => {
        ctx.attach(`dump-${KEY}.bin`, Buffer.concat([Buffer.from([0, 255, 1]), Buffer.from(KEY), Buffer.from([254])]));
        return 'ok';
      },
    });
    const failing = defineTool({
      name: 'failing',
      description: 'Fails.',
      input: z.object({}),
      effect: 'pure',
      run: () => {
        throw new Error(`upstream refused key ${KEY}`);
      },
    });
    const t = await testEngine(
      [
        {
          id: 'solo',
          description: 'Solo.',
          tools: ['leaky', 'failing'],
          script: [
            { when: '.', steps: [{ call: 'leaky', args: {} }, { call: 'failing', args: {} }, { reply: 'done' }] },
          ],
        },
      ],
      { tools: [leaky, failing], load: { env: { OPENAI_API_KEY: KEY } } },
    );
    try {
      const run = t.engine.start({ agent: 'solo', message: 'go', source: 'api', options: t.options() });
      await run.idle();
      const [file] = t.engine.store.artifacts.list(run.id);
      expect(file!.name).toBe('dump-[redacted].bin');
      expect([...t.engine.store.artifacts.get(file!.hash)!.data]).toEqual([
        0,
        255,
        1,
        ...Buffer.from('[redacted]'),
        254,
      ]);
      const path = t.engine.store.path;
      t.engine.store.checkpoint();
      for (const f of [path, `${path}-wal`]) if (existsSync(f)) expect(readFileSync(f).includes(KEY), f).toBe(false);
      expect(JSON.stringify(t.engine.store.log.read(0, { session: run.id }, 1000))).toContain(
        'upstream refused key [redacted]',
      );
    } finally {
      t.close();
    }
  });

  it('an MCP server that prints the token it was given before it fails: the error quotes its stderr redacted', async () => {
    const ws = tempWorkspace({
      'p2tui.yaml': stringify({
        mcp_servers: {
          leaky: {
            command: process.execPath,
            args: ['-e', 'console.error("starting with token " + process.env.MCP_TOKEN); process.exit(3)'],
            env: { MCP_TOKEN: '${MCP_TOKEN}' },
          },
        },
      }),
    });
    workspaces.push(ws);
    const error = await loadWorkspace(ws.dir, { env: { MCP_TOKEN: KEY } }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_MCP', message: expect.stringContaining('starting with token [redacted]') });
    expect(JSON.stringify(error) + String(error)).not.toContain(KEY);
  });

  it("a custom evaluator that quotes the key: the score's reasoning and criteria are stored redacted", async () => {
    const evaluator =
      "import { defineEvaluator } from 'p2tui';\n" +
      `export const leak = defineEvaluator({ id: 'leak', version: '1', evaluate: () => ({ value: 1, reasoning: 'saw ${KEY}', ` +
      `criteria: [{ id: 'k', score: 1, reason: '${KEY}' }] }) });\n`;
    const t = await testEngine(
      [{ id: 'solo', description: 'Solo.', script: [{ when: '.', steps: [{ reply: 'done' }] }] }],
      {
        files: {
          'p2tui.yaml': stringify({ judge: { evaluators: [{ id: 'leak', kind: 'custom', evaluator: 'leak' }] } }),
          'evaluators/leak.ts': evaluator,
        },
        load: { env: { OPENAI_API_KEY: KEY } },
      },
    );
    try {
      const run = t.engine.start({ agent: 'solo', message: 'go', source: 'api', options: t.options() });
      await run.idle();
      await t.app.judge.drain(run.id);
      const [score] = t.engine.store.scores.scores({ session: run.id });
      expect(score).toMatchObject({ value: 1, reasoning: 'saw [redacted]' });
      expect(score!.criteria[0]!.reason).toBe('[redacted]');
      t.engine.store.checkpoint();
      const path = t.engine.store.path;
      for (const f of [path, `${path}-wal`]) if (existsSync(f)) expect(readFileSync(f).includes(KEY), f).toBe(false);
    } finally {
      t.close();
    }
  });

  it('redacts a key the server wrote with JSON escapes inside tool-call arguments', async () => {
    // Escaped as `\u0074` for the "t" of "test": only parsing the arguments shows the key.
    const escaped = KEY.replace('test', '\\u0074est');
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        `{"id":"x","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,"finish_reason":"tool_calls",` +
          `"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",` +
          `"function":{"name":"echo","arguments":${JSON.stringify(`{"text":"${escaped}"}`)}}}]}}]}`,
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const redactor = new Redactor();
      redactor.add(KEY);
      const registry = new ProviderRegistry(redactor);
      const baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
      registry.register(new OpenAIProvider({ id: 'openai', baseURL, apiKey: KEY, redactor, stream: false }));
      const response = await registry.resolve('openai/m').provider.complete(
        {
          model: 'm',
          messages: [{ role: 'user', content: 'hi' }],
          tools: [],
          temperature: 0,
          seed: 1,
          estimatedInputTokens: 1,
        },
        { signal: new AbortController().signal },
      );
      expect(response.toolCalls[0]!.arguments).not.toContain('u0074');
      expect(JSON.parse(response.toolCalls[0]!.arguments)).toEqual({ text: '[redacted]' });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
