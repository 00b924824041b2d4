import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadWorkspace, type Workspace } from '../../src/app/workspace.ts';
import { App } from '../../src/app/app.ts';
import { readSession } from '../../src/engine/session-view.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';
import { mcpHttpServer } from '../helpers/mcp-servers.ts';
import { childEnv } from '../helpers/child-env.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const STDIO_SERVER = join(ROOT, 'test/fixtures/mcp-stdio-server.ts');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function workspace(
  config: Record<string, unknown>,
  personas: Record<string, unknown>[] = [],
  files: Record<string, string> = {},
): TempWorkspace {
  const ws = tempWorkspace({ 'p2tui.yaml': stringify(config), ...files });
  for (const p of personas) ws.persona(p);
  cleanups.push(() => ws.cleanup());
  return ws;
}

async function load(ws: TempWorkspace, env: Record<string, string> = {}): Promise<Workspace> {
  const w = await loadWorkspace(ws.dir, { env });
  cleanups.push(() => w.close());
  return w;
}

const stdio = { command: process.execPath, args: [STDIO_SERVER] };

describe('MCP tools', () => {
  it('lists the tools of a stdio server and of a streamable HTTP server, with effect classes from annotations and config', async () => {
    const http = await mcpHttpServer();
    cleanups.push(() => http.close());
    const ws = workspace({
      mcp_servers: { calc: stdio, remote: { url: http.url, tools: { slow: { effect: 'pure' } } } },
    });
    const w = await load(ws);
    const names = w.tools.names().filter((n) => n.includes('__'));
    expect(names).toEqual([
      'calc__add',
      'calc__fail',
      'calc__secret',
      'calc__slow',
      'remote__add',
      'remote__fail',
      'remote__secret',
      'remote__slow',
    ]);
    expect(w.tools.get('calc__add')).toMatchObject({
      effect: 'idempotent',
      description: 'Adds two numbers (stdio).',
      source: 'p2tui.yaml (mcp_servers.calc)',
    });
    expect(w.tools.get('calc__fail')!.effect).toBe('effectful');
    expect(w.tools.get('remote__slow')!.effect).toBe('pure');
    expect(w.tools.get('remote__add')!.parameters).toMatchObject({
      type: 'object',
      properties: { a: { type: 'number' }, b: { type: 'number' } },
    });
    expect(w.mcpServers.map((s) => [s.name, s.tools])).toEqual([
      ['calc', 4],
      ['remote', 4],
    ]);
  });

  it('runs MCP tools in sessions: results, tool errors, invalid arguments caught before the call, and timeouts', async () => {
    const http = await mcpHttpServer();
    cleanups.push(() => http.close());
    const ws = workspace(
      { mcp_servers: { calc: { ...stdio, tools: { slow: { timeout_ms: 300 } } }, remote: { url: http.url } } },
      [
        {
          id: 'mathy',
          description: 'Uses MCP tools.',
          tools: ['calc__add', 'remote__add', 'calc__fail', 'calc__slow'],
          script: [
            {
              when: '.',
              steps: [
                {
                  parallel: [
                    { call: 'calc__add', args: { a: 2, b: 3 } },
                    { call: 'remote__add', args: { a: 40, b: 2 } },
                  ],
                },
                { call: 'calc__fail', args: { why: 'no reason' } },
                { call: 'calc__add', args: { a: 'two', b: 3 } },
                { call: 'calc__slow', args: { ms: 5000 } },
                { reply: 'done' },
              ],
            },
          ],
        },
      ],
    );
    const w = await load(ws);
    const app = new App({ workspace: w });
    const engine = app.engine;
    cleanups.push(() => app.close());
    const run = engine.start({
      agent: 'mathy',
      message: 'go',
      source: 'api',
      options: engine.sessionOptions({ seed: 1, approval: 'deny' }),
    });
    expect(await run.idle()).toBe('finished');
    const results = readSession(engine.store, run.id).conversations[0]!.entries.flatMap((e) =>
      e.kind === 'tool_result' ? [e.payload] : [],
    );
    expect(results.map((r) => [r.tool, r.status])).toEqual([
      ['calc__add', 'ok'],
      ['remote__add', 'ok'],
      ['calc__fail', 'error'],
      ['calc__add', 'error'],
      // An effectful tool (no annotations say otherwise) that times out may still have acted: unknown, not timeout.
      ['calc__slow', 'unknown'],
    ]);
    expect(results[0]!.output).toBe('5');
    expect(results[1]!.output).toBe('42');
    expect(results[2]!.error).toContain('refused: no reason');
    expect(results[3]!.error).toMatch(/invalid arguments/);
    expect(results[4]!.error).toMatch(/300 ms/);
  });

  it('passes env values from the workspace environment to a stdio server (redacted wherever stored), and names the server when it cannot start', async () => {
    const ws = workspace({ mcp_servers: { calc: { ...stdio, env: { MCP_TEST_VALUE: '${TEST_SECRET}' } } } }, [
      {
        id: 'a',
        description: 'Reads a secret.',
        tools: ['calc__secret'],
        script: [{ when: '.', steps: [{ call: 'calc__secret', args: {} }, { reply: '{{result}}' }] }],
      },
    ]);
    const w = await load(ws, { TEST_SECRET: 'from-the-env-file-0123' });
    const app = new App({ workspace: w });
    const engine = app.engine;
    cleanups.push(() => app.close());
    const run = engine.start({
      agent: 'a',
      message: 'go',
      source: 'api',
      options: engine.sessionOptions({ seed: 1, approval: 'deny' }),
    });
    expect(await run.idle()).toBe('finished');
    const result = readSession(engine.store, run.id).conversations[0]!.entries.find((e) => e.kind === 'tool_result')!;
    // The server got the value; what is stored (and what the model sees) has it redacted, as for API keys.
    expect(result.payload).toMatchObject({ status: 'ok', output: '[redacted]' });

    const missing = workspace({ mcp_servers: { calc: { ...stdio, env: { MCP_TEST_VALUE: '${NOT_SET_ANYWHERE}' } } } });
    await expect(loadWorkspace(missing.dir, { env: {} })).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringContaining('mcp_servers.calc.env.MCP_TEST_VALUE uses ${NOT_SET_ANYWHERE}'),
    });

    const broken = workspace({
      mcp_servers: {
        nope: { command: process.execPath, args: ['-e', 'console.error("cannot start: no config"); process.exit(3)'] },
      },
    });
    await expect(loadWorkspace(broken.dir, { env: {} })).rejects.toMatchObject({
      code: 'E_MCP',
      message: expect.stringMatching(/MCP server nope .* could not be reached: .*cannot start: no config/),
    });
    const bad = workspace({ mcp_servers: { both: { command: 'x', url: 'http://127.0.0.1:1/mcp' } } });
    await expect(loadWorkspace(bad.dir, { env: {} })).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringContaining('give either command'),
    });
  });

  it('p2tui tools list shows MCP tools, and the stdio server stops when p2tui exits', () => {
    const ws = workspace({ mcp_servers: { calc: stdio } });
    const r = spawnSync(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'tools', 'list'], {
      cwd: ws.dir,
      encoding: 'utf8',
      env: childEnv(),
      timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/calc__add\s+idempotent/);
    expect(r.stdout).toContain('Adds two numbers (stdio).');
  });
});
