import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { App } from '../../src/app/app.ts';
import { readSession } from '../../src/engine/session-view.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';
import { MAIN, type CliResult } from '../helpers/cli.ts';
import { childEnv } from '../helpers/child-env.ts';
import { mcpHttpServer } from '../helpers/mcp-servers.ts';
import { z } from 'zod';

const ROOT = new URL('../..', import.meta.url).pathname;
const HOSTILE = join(ROOT, 'test/fixtures/mcp-hostile-server.ts');
const REPORT_MAX_RSS = join(ROOT, 'test/fixtures/report-max-rss.ts');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const hostile = (env: Record<string, string> = {}, more: Record<string, unknown> = {}) => ({
  command: process.execPath,
  args: [HOSTILE],
  env,
  ...more,
});

function workspace(config: Record<string, unknown>, personas: Record<string, unknown>[] = []): TempWorkspace {
  const ws = tempWorkspace({ 'p2tui.yaml': stringify(config) });
  for (const p of personas) ws.persona(p);
  cleanups.push(() => ws.cleanup());
  return ws;
}

/** Runs the persona `a` to its end in this process; its tool results, in order. */
async function session(
  ws: TempWorkspace,
): Promise<{ tool: string; status: string; output?: unknown; error?: string }[]> {
  const w = await loadWorkspace(ws.dir, { env: {} });
  const app = new App({ workspace: w });
  cleanups.push(async () => {
    app.close();
    await w.close();
  });
  const engine = app.engine;
  const run = engine.start({
    agent: 'a',
    message: 'go',
    source: 'api',
    options: engine.sessionOptions({ seed: 1, approval: 'deny' }),
  });
  expect(await run.idle()).toBe('finished');
  return readSession(engine.store, run.id).conversations[0]!.entries.flatMap((e) =>
    e.kind === 'tool_result' ? [e.payload as { tool: string; status: string; output?: unknown; error?: string }] : [],
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * `p2tui <args>` in a child process, with its peak resident memory (MiB); stopped after 25 s (a p2tui that hangs on
 * a hostile server must not outlive the test).
 */
function cli(dir: string, args: readonly string[]): Promise<CliResult & { peakMiB: number }> {
  const file = join(dir, `max-rss-${Math.random().toString(36).slice(2)}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', REPORT_MAX_RSS, MAIN, '--workspace', dir, ...args], {
      env: childEnv({ P2TUI_TEST_MAX_RSS_FILE: file }),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 25_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout, stderr, peakMiB: existsSync(file) ? Number(readFileSync(file, 'utf8')) / 1024 : NaN }),
    );
  });
}

const capMessage = (tool: string, limit: number): string =>
  `MCP server h: the result of ${tool} is larger than max_result_bytes (${limit} bytes); ` +
  'the server was stopped at the limit and starts again at the next call';

describe('hostile MCP servers', () => {
  it('a result over max_result_bytes stops the server at the limit with an error naming server, tool and limit; the next call starts it again', async () => {
    const ws = workspace({ mcp_servers: { h: hostile({}, { max_result_bytes: 1_048_576 }) } }, [
      {
        id: 'a',
        description: 'Asks for too much.',
        tools: ['h__pid', 'h__big', 'h__big_read', 'h__exit'],
        script: [
          {
            when: '.',
            steps: [
              { call: 'h__pid', args: {} },
              { call: 'h__big', args: { bytes: 50_000_000 } },
              { call: 'h__pid', args: {} },
              { call: 'h__big_read', args: { bytes: 2_000_000 } },
              // Two calls out when one result is too large: which one's is not known, and both say so.
              {
                parallel: [
                  { call: 'h__big_read', args: { bytes: 3_000_000 } },
                  { call: 'h__exit', args: { code: 0, after_ms: 2000 } },
                ],
              },
              { call: 'h__big_read', args: { bytes: 1_000_000 } },
              { call: 'h__pid', args: {} },
              { reply: 'done' },
            ],
          },
        ],
      },
    ]);
    const results = await session(ws);
    expect(results.map((r) => [r.tool, r.status])).toEqual([
      ['h__pid', 'ok'],
      // Effectful: it ran, and its answer was lost.
      ['h__big', 'unknown'],
      ['h__pid', 'ok'],
      // Read-only: a plain error.
      ['h__big_read', 'error'],
      ['h__big_read', 'error'],
      ['h__exit', 'unknown'],
      // Under the limit, with its JSON-RPC envelope: whole.
      ['h__big_read', 'ok'],
      ['h__pid', 'ok'],
    ]);
    expect(results[1]!.error).toBe(capMessage('big', 1_048_576));
    expect(results[3]!.error).toBe(capMessage('big_read', 1_048_576));
    expect(results[4]!.error).toBe(capMessage('big_read or of another call running on it', 1_048_576));
    expect(results[5]!.error).toBe(capMessage('exit or of another call running on it', 1_048_576));
    const pids = [results[0], results[2], results[7]].map((r) => Number(r!.output));
    // A new server process after each stop, and the stopped ones are gone.
    expect(new Set(pids).size).toBe(3);
    expect(alive(pids[0]!)).toBe(false);
    expect(alive(pids[1]!)).toBe(false);
  });

  for (const events of [false, true]) {
    it(`an HTTP server's result over max_result_bytes is cut off there (${events ? 'event stream' : 'JSON body'}), and the next call connects again`, async () => {
      const http = await mcpHttpServer({
        events,
        tools: (server) =>
          server.registerTool(
            'big',
            { description: 'Answers with bytes bytes.', inputSchema: { bytes: z.number() } },
            async ({ bytes }) => ({
              content: [{ type: 'text', text: 'x'.repeat(bytes) }],
            }),
          ),
      });
      cleanups.push(() => http.close());
      const ws = workspace({ mcp_servers: { h: { url: http.url, max_result_bytes: 1_048_576, timeout_ms: 20_000 } } }, [
        {
          id: 'a',
          description: 'Asks for too much.',
          tools: ['h__big', 'h__add'],
          script: [
            {
              when: '.',
              steps: [
                { call: 'h__big', args: { bytes: 20_000_000 } },
                { call: 'h__add', args: { a: 1, b: 2 } },
                { reply: 'done' },
              ],
            },
          ],
        },
      ]);
      const started = Date.now();
      const results = await session(ws);
      expect(results.map((r) => [r.tool, r.status, r.error ?? r.output])).toEqual([
        [
          'h__big',
          'unknown',
          'MCP server h: the result of big is larger than max_result_bytes (1048576 bytes); it was cut off at the limit, ' +
            'and the next call connects again',
        ],
        ['h__add', 'ok', '3'],
      ]);
      // Not a timeout: the call failed when the limit was reached.
      expect(Date.now() - started).toBeLessThan(15_000);
    });
  }

  it('a 50 MB result costs a p2tui run little memory (the server is killed at the 4 MiB default)', async () => {
    const ws = workspace({ mcp_servers: { h: hostile() } }, [
      {
        id: 'big',
        description: 'Asks for too much.',
        tools: ['h__big'],
        script: [{ when: '.', steps: [{ call: 'h__big', args: { bytes: 50_000_000 } }, { reply: 'got {{result}}' }] }],
      },
      {
        id: 'small',
        description: 'Asks for a little.',
        tools: ['h__big'],
        script: [{ when: '.', steps: [{ call: 'h__big', args: { bytes: 1000 } }, { reply: 'got it' }] }],
      },
    ]);
    const small = await cli(ws.dir, ['run', 'small', 'go', '--json']);
    expect(small.code, small.stderr).toBe(0);
    const big = await cli(ws.dir, ['run', 'big', 'go', '--json']);
    expect(big.code, big.stderr).toBe(0);
    expect((JSON.parse(big.stdout) as { answer: string }).answer).toContain(capMessage('big', 4_194_304));
    // The old transport copied its buffer on every chunk up to 10 MB and then lost the connection.
    expect(big.peakMiB - small.peakMiB).toBeLessThan(40);
  });

  it('an effectful call during which the server exits settles as unknown, a read-only one as error, and the server starts again', async () => {
    const ws = workspace({ mcp_servers: { h: hostile() } }, [
      {
        id: 'a',
        description: 'Crashes its server.',
        tools: ['h__pid', 'h__exit', 'h__exit_read'],
        script: [
          {
            when: '.',
            steps: [
              { call: 'h__exit', args: { code: 7 } },
              { call: 'h__pid', args: {} },
              { call: 'h__exit_read', args: { code: 3 } },
              { call: 'h__pid', args: {} },
              { reply: 'done' },
            ],
          },
        ],
      },
    ]);
    const results = await session(ws);
    expect(results.map((r) => [r.tool, r.status])).toEqual([
      ['h__exit', 'unknown'],
      ['h__pid', 'ok'],
      ['h__exit_read', 'error'],
      ['h__pid', 'ok'],
    ]);
    expect(results[0]!.error).toBe(
      'MCP server h exited with code 7 during the call to exit, which may or may not have taken effect; ' +
        'the server starts again at the next call',
    );
    expect(results[2]!.error).toBe(
      'MCP server h exited with code 3 during the call to exit_read, which may or may not have taken effect; ' +
        'the server starts again at the next call',
    );
    expect(results[1]!.output).not.toBe(results[3]!.output);
  });

  it('a server that paginates tools/list forever is stopped at list_max_pages, a slow one at list_timeout_ms, a large list at max_result_bytes', async () => {
    const pages = workspace({ mcp_servers: { h: hostile({ MCP_HOSTILE_PAGES: 'forever' }) } });
    const r = await cli(pages.dir, ['tools', 'list']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('E_MCP');
    expect(r.stderr).toContain(
      `p2tui.yaml: MCP server h (${process.execPath} ${HOSTILE}) was still listing its tools after list_max_pages (50) pages`,
    );

    const slow = workspace({
      mcp_servers: {
        h: hostile({ MCP_HOSTILE_PAGES: 'forever', MCP_HOSTILE_PAGE_DELAY_MS: '100' }, { list_timeout_ms: 700 }),
      },
    });
    const started = Date.now();
    await expect(loadWorkspace(slow.dir, { env: {} })).rejects.toMatchObject({
      code: 'E_MCP',
      message: `p2tui.yaml: MCP server h (${process.execPath} ${HOSTILE}) did not finish listing its tools within list_timeout_ms (700 ms)`,
    });
    expect(Date.now() - started).toBeLessThan(5000);

    // Pages each under the limit, that add up past it: the whole list is capped too.
    const large = workspace({
      mcp_servers: {
        h: hostile({ MCP_HOSTILE_PAGES: 'forever', MCP_HOSTILE_PAGE_BYTES: '300000' }, { max_result_bytes: 1_048_576 }),
      },
    });
    await expect(loadWorkspace(large.dir, { env: {} })).rejects.toMatchObject({
      code: 'E_MCP',
      message: `p2tui.yaml: MCP server h (${process.execPath} ${HOSTILE}) listed tools larger than max_result_bytes (1048576 bytes) in all`,
    });
    // One page over the limit: the server is stopped at the limit.
    const page = workspace({
      mcp_servers: {
        h: hostile(
          { MCP_HOSTILE_PAGES: 'forever', MCP_HOSTILE_PAGE_BYTES: '2000000' },
          { max_result_bytes: 1_048_576 },
        ),
      },
    });
    await expect(loadWorkspace(page.dir, { env: {} })).rejects.toMatchObject({
      code: 'E_MCP',
      message: `p2tui.yaml: MCP server h (${process.execPath} ${HOSTILE}) sent a message larger than max_result_bytes (1048576 bytes) while starting, and was cut off`,
    });
  });

  it('tool names that collide once made model-safe all load, with a stable hash suffix; tools.<tool>.as renames, and is checked', async () => {
    const suffix = (name: string): string => createHash('sha256').update(name).digest('hex').slice(0, 8);
    const long = (n: string): string => `${'l'.repeat(69)}${n}`;
    const ws = workspace(
      { mcp_servers: { h: hostile({ MCP_HOSTILE_NAMES: '1' }, { tools: { pid: { as: 'whoami' } } }) } },
      [
        {
          id: 'a',
          description: 'Uses renamed tools.',
          tools: ['whoami', `h__a_b_${suffix('h__a.b')}`, 'h__a_b'],
          script: [
            {
              when: '.',
              steps: [
                { call: 'whoami', args: {} },
                { call: `h__a_b_${suffix('h__a.b')}`, args: {} },
                { call: 'h__a_b', args: {} },
                { reply: 'done' },
              ],
            },
          ],
        },
      ],
    );
    const w = await loadWorkspace(ws.dir, { env: {} });
    const names = w.tools.names().filter((n) => n.startsWith('h__') || n === 'whoami');
    await w.close();
    expect(names).toEqual(
      [
        'h__a_b',
        `h__a_b_${suffix('h__a.b')}`,
        'h__big',
        'h__big_read',
        'h__exit',
        'h__exit_read',
        `h__${'l'.repeat(64 - 3 - 9)}_${suffix(`h__${long('1')}`)}`,
        `h__${'l'.repeat(64 - 3 - 9)}_${suffix(`h__${long('2')}`)}`,
        'whoami',
      ].sort(),
    );
    expect(names.every((n) => n.length <= 64)).toBe(true);
    const results = await session(ws);
    expect(results.map((r) => [r.tool, r.status, r.output])).toEqual([
      ['whoami', 'ok', expect.stringMatching(/^\d+$/)],
      [`h__a_b_${suffix('h__a.b')}`, 'ok', 'a.b'],
      ['h__a_b', 'ok', 'a_b'],
    ]);

    const taken = workspace({
      mcp_servers: { h: hostile({ MCP_HOSTILE_NAMES: '1' }, { tools: { pid: { as: 'h__a_b' } } }) },
    });
    const r = await cli(taken.dir, ['tools', 'list']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('E_TOOL_INVALID');
    expect(r.stderr).toContain(
      "p2tui.yaml: mcp_servers.h.tools.pid.as: 'h__a_b' is already the name of tool 'a_b' of MCP server h",
    );

    const invalid = workspace({ mcp_servers: { h: hostile({}, { tools: { pid: { as: '9 lives' } } }) } });
    await expect(loadWorkspace(invalid.dir, { env: {} })).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringContaining('mcp_servers.h.tools.pid.as'),
    });
  });
});
