import { runCli, type CliResult } from '../helpers/cli.ts';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { mcpHttpServer } from '../helpers/mcp-servers.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/*
 * A replay with --on-miss fail reaches no MCP server: the tools are built from the listings the recorded session
 * stored, and their results come from the recording. Seen from outside: the HTTP server counts its requests, and
 * the stdio server appends a line to a file each time it starts.
 */

const ROOT = new URL('../..', import.meta.url).pathname;
const STDIO_SERVER = join(ROOT, 'test/fixtures/mcp-stdio-server.ts');

// Per test, and for the one recorded session the tests share (a live run costs a few seconds).
const cleanups: (() => Promise<void> | void)[] = [];
const sharedCleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  for (const c of sharedCleanups.splice(0).reverse()) await c();
});

function p2tui(dir: string, args: readonly string[]): Promise<CliResult> {
  return runCli(['--workspace', dir, ...args]);
}

/** How many times the stdio server has started. */
function starts(log: string): number {
  return existsSync(log)
    ? readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('started')).length
    : 0;
}

interface Recorded {
  readonly ws: TempWorkspace;
  readonly http: Awaited<ReturnType<typeof mcpHttpServer>>;
  readonly log: string;
  readonly config: Record<string, unknown>;
  readonly session: string;
  readonly answer: string;
}

let shared: Promise<Recorded> | undefined;
/** The shared recording: made by the first test that asks (the last test changes its p2tui.yaml). */
function recorded(): Promise<Recorded> {
  shared ??= record();
  return shared;
}

/** A workspace with a stdio and an HTTP MCP server, and a live run whose agent calls a tool of each. */
async function record(): Promise<Recorded> {
  const http = await mcpHttpServer();
  sharedCleanups.push(() => http.close());
  const ws = tempWorkspace();
  sharedCleanups.push(() => ws.cleanup());
  const log = join(ws.dir, 'stdio-starts.log');
  const config = {
    mcp_servers: {
      calc: { command: process.execPath, args: [STDIO_SERVER], env: { MCP_START_LOG: log } },
      remote: { url: http.url },
    },
  };
  ws.write('p2tui.yaml', stringify(config));
  ws.persona({
    id: 'mathy',
    description: 'Adds with MCP tools.',
    tools: ['calc__add', 'remote__add'],
    script: [
      // Only for a replay with --on-miss live that asks something else (a call the recording lacks).
      { when: 'twice', steps: [{ call: 'calc__add', args: { a: 1, b: 1 } }, { reply: 'Twice: {{result}}' }] },
      {
        when: '.',
        steps: [
          {
            parallel: [
              { call: 'calc__add', args: { a: 2, b: 3 } },
              { call: 'remote__add', args: { a: 40, b: 2 } },
            ],
          },
          { reply: 'The sums: {{result}}' },
        ],
      },
    ],
  });
  const run = await p2tui(ws.dir, ['run', 'mathy', 'add things', '--json']);
  expect(run.code, run.stderr).toBe(0);
  const json = JSON.parse(run.stdout) as { session: string; answer: string };
  // The live run reached both servers (the tools answered 5 and 42).
  expect(json.answer).toContain('5');
  expect(json.answer).toContain('42');
  expect(starts(log)).toBe(1);
  expect(http.requests()).toBeGreaterThan(0);
  return { ws, http, log, config, session: json.session, answer: json.answer };
}

describe('replaying a session that used MCP tools', () => {
  it('run --replay-from --on-miss fail and session replay start no stdio server and send no request to an HTTP one', async () => {
    const { ws, http, log, session, answer } = await recorded();
    const before = http.requests();
    const started = starts(log);
    const replay = await p2tui(ws.dir, ['run', 'mathy', 'add things', '--replay-from', session, '--on-miss', 'fail']);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain(answer);
    expect(http.requests()).toBe(before);
    expect(starts(log)).toBe(started);

    // The replay recorded the listings it was built from: it can be replayed in turn, offline too.
    const again = await p2tui(ws.dir, ['session', 'replay', 'last', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ status: 'finished', same: true });
    expect(http.requests()).toBe(before);
    expect(starts(log)).toBe(started);
  });

  it('a session exported and imported into another database replays there offline: the bundle carries the listings', async () => {
    const { ws, http, log, session, answer } = await recorded();
    const bundle = join(ws.dir, 'run.p2tui.json');
    const exported = await p2tui(ws.dir, ['session', 'export', session, '--out', bundle]);
    expect(exported.code, exported.stderr).toBe(0);
    const other = join(ws.dir, 'other.db');
    const imported = await p2tui(ws.dir, ['--db', other, 'session', 'import', bundle]);
    expect(imported.code, imported.stderr).toBe(0);
    const before = http.requests();
    const started = starts(log);
    const args = ['--db', other, 'run', 'mathy', 'add things', '--replay-from', session, '--on-miss', 'fail'];
    const replay = await p2tui(ws.dir, args);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain(answer);
    expect(http.requests()).toBe(before);
    expect(starts(log)).toBe(started);
  });

  it('rollout run --replay builds the MCP tools from the recorded cells: no server is reached', async () => {
    const { ws, http, log } = await recorded();
    const spec = ['teams:', '  adders:', '    initial_message: add things', '    base: { agent_id: mathy }'];
    ws.write('rollouts/adders.yaml', [...spec, '    variants:', '      - temperature: 0'].join('\n'));
    const live = await p2tui(ws.dir, ['rollout', 'run', join(ws.dir, 'rollouts/adders.yaml'), '--json']);
    expect(live.code, live.stderr).toBe(0);
    const before = http.requests();
    const started = starts(log);
    const replay = await p2tui(ws.dir, [
      'rollout',
      'run',
      join(ws.dir, 'rollouts/adders.yaml'),
      '--replay',
      'last',
      '--json',
    ]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain('42');
    expect(http.requests()).toBe(before);
    expect(starts(log)).toBe(started);
  });

  it('a replay whose model call misses fails there, and resuming it reaches no MCP server either', async () => {
    const { ws, http, log, session } = await recorded();
    const before = http.requests();
    const started = starts(log);
    const replay = await p2tui(ws.dir, ['run', 'mathy', 'add more', '--replay-from', session, '--on-miss', 'fail']);
    expect(replay.code).toBe(1);
    expect(replay.stdout).toContain('no recording for this model call');
    // The replay session continues as a replay: resumed, it is built from the recorded listings again.
    const resumed = await p2tui(ws.dir, ['session', 'resume', 'last']);
    expect(resumed.code).toBe(1);
    expect(resumed.stdout).toContain('no recording for this model call');
    expect(http.requests()).toBe(before);
    expect(starts(log)).toBe(started);
  });

  it('a server the recording has no listing of is an E_REPLAY_MISS naming it, and still no server is reached', async () => {
    const { ws, http, log, config, session } = await recorded();
    const added = await mcpHttpServer();
    cleanups.push(() => added.close());
    // A server configured after the session was recorded.
    ws.write(
      'p2tui.yaml',
      stringify({ mcp_servers: { ...(config['mcp_servers'] as object), extra: { url: added.url } } }),
    );
    const before = http.requests();
    const started = starts(log);
    const replay = await p2tui(ws.dir, ['run', 'mathy', 'add things', '--replay-from', session, '--on-miss', 'fail']);
    expect(replay.code).not.toBe(0);
    expect(replay.stderr).toContain('E_REPLAY_MISS');
    expect(replay.stderr).toContain(`MCP server extra (${added.url})`);
    expect(replay.stderr).toContain(`the recording of ${session} has no listing of its tools`);
    expect(replay.stderr).toContain('--on-miss live');
    expect(http.requests()).toBe(before);
    expect(added.requests()).toBe(0);
    expect(starts(log)).toBe(started);

    // With --on-miss live the new server is connected (and listed). A recorded server starts only when a call the
    // recording lacks must really run (here 1 + 1 on calc, after the model call missed); remote is never reached.
    const args = ['run', 'mathy', 'add twice', '--replay-from', session, '--on-miss', 'live'];
    const live = await p2tui(ws.dir, args);
    expect(live.code, live.stderr).toBe(0);
    expect(live.stdout).toContain('Twice: 2');
    expect(added.requests()).toBeGreaterThan(0);
    expect(http.requests()).toBe(before);
    expect(starts(log)).toBe(started + 1);
  });
});
