import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { openAIServer, type ModelServer } from '../helpers/model-servers.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';
import { runCli } from '../helpers/cli.ts';
import { countRows } from '../helpers/raw-db.ts';

/**
 * A session whose step meets an internal fault ends `failed` with the error, never `running` with nobody driving it,
 * and a resume does not run the same step into the same fault again. The fault is genuine and unguarded: a workspace
 * tool whose argument schema throws while the engine checks a model's arguments (zod rethrows from a refinement), in
 * the step that maps the model's answer to entries. The model is a fake OpenAI server over a real socket.
 */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const BOOM_TOOL = `import { defineTool, z } from 'p2tui';
export const boom = defineTool({
  name: 'boom', description: 'Explodes while its arguments are checked.', effect: 'pure',
  input: z.object({ x: z.string() }).refine(() => { throw new Error('the refinement exploded'); }),
  run: () => ({ ok: true }),
});
`;

async function crashingWorkspace(): Promise<{ ws: TempWorkspace; server: ModelServer; db: string }> {
  const server = await openAIServer(['m']);
  cleanups.push(() => server.close());
  const providers = { openai: { base_url: `${server.url}/v1`, api_key: 'sk-test', max_retries: 0, stream: false } };
  const ws = tempWorkspace({ 'p2tui.yaml': stringify({ providers }), 'tools/boom.ts': BOOM_TOOL });
  cleanups.push(() => ws.cleanup());
  ws.persona({ id: 'w', description: 'Calls boom.', model: 'openai/m', tools: ['boom'] });
  // Every answer calls the tool: a resume that asked the model again would crash again.
  server.queue({ kind: 'reply', toolCalls: [{ id: 'c1', name: 'boom', arguments: { x: 'go' } }] });
  return { ws, server, db: join(ws.dir, 'p.db') };
}

const ENV = { P2TUI_LEASE_MS: '1000' };

describe('an internal error in a step', () => {
  it('ends the session failed with the error; session resume says so and does not call the model again', async () => {
    const { ws, server, db } = await crashingWorkspace();
    const p2tui = (...args: string[]) => runCli([...args, '--db', db], { cwd: ws.dir, env: ENV });
    const run = await p2tui('run', 'w', 'hi');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/error E_INTERNAL: session s_\w+ stopped: the refinement exploded/);
    expect(run.stderr).toContain('hint: The session ended failed with this error');
    expect(server.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(1);
    // No lease left: nobody drives it, and nothing says it is running.
    expect(countRows(db, "SELECT count(*) AS n FROM leases WHERE owner != ''")).toBe(0);
    const list = await p2tui('session', 'list', '--json');
    expect(list.code).toBe(0);
    const [row] = JSON.parse(list.stdout) as { id: string; status: string }[];
    expect(row!.status).toBe('failed');
    const show = await p2tui('session', 'show', row!.id, '--json');
    expect(show.code).toBe(0);
    const shown = JSON.parse(show.stdout) as {
      status: string;
      statusReason: string;
      conversations: { phase: string }[];
    };
    expect(shown.status).toBe('failed');
    expect(shown.statusReason).toBe(`E_INTERNAL: session ${row!.id} stopped: the refinement exploded`);
    expect(shown.conversations.map((c) => c.phase)).toEqual(['failed']);
    expect((await p2tui('session', 'show', row!.id)).stdout).toContain(
      `failed (E_INTERNAL: session ${row!.id} stopped: the refinement exploded)`,
    );
    // The conversation's stack (what the TUI shows) ends with the error.
    const stack = await p2tui('session', 'stack', row!.id, '--json');
    expect(stack.code).toBe(0);
    const { entries } = JSON.parse(stack.stdout) as { entries: { kind: string }[] };
    expect(entries.filter((e) => e.kind === 'failed')).toEqual([
      expect.objectContaining({
        code: 'E_INTERNAL',
        message: `session ${row!.id} stopped: the refinement exploded`,
        retryable: false,
      }),
    ]);
    // Twice: no crash loop, the model is not asked again, and the session stays failed.
    for (let i = 0; i < 2; i++) {
      const resumed = await p2tui('session', 'resume', row!.id);
      expect(resumed.code).toBe(1);
      expect(resumed.stdout).toContain(`✗ failed: E_INTERNAL: session ${row!.id} stopped: the refinement exploded`);
      expect(resumed.stdout).toContain('It cannot be resumed');
      expect(server.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(1);
    }
    expect(JSON.parse((await p2tui('session', 'list', '--json')).stdout)[0].status).toBe('failed');
    expect(countRows(db, "SELECT count(*) AS n FROM leases WHERE owner != ''")).toBe(0);
  }, 30_000);

  it('fails a rollout cell whose session hits one, with the session failed (not running)', async () => {
    const { ws, server, db } = await crashingWorkspace();
    ws.write('rollouts/boom.yaml', stringify({ teams: { t: { base: { agent_id: 'w' }, initial_message: 'hi' } } }));
    const p2tui = (...args: string[]) => runCli([...args, '--db', db], { cwd: ws.dir, env: ENV });
    const rollout = await p2tui('rollout', 'run', 'rollouts/boom.yaml', '--json');
    expect(rollout.code).toBe(0);
    // The cell's session: rollout cells are listed with --cells.
    const sessions = JSON.parse((await p2tui('session', 'list', '--json', '--cells')).stdout) as { status: string }[];
    expect(sessions.map((s) => s.status)).toEqual(['failed']);
    const { cells } = JSON.parse(rollout.stdout) as { cells: { status: string; error: string | null }[] };
    expect(cells.map((c) => [c.status, c.error])).toEqual([
      ['failed', expect.stringMatching(/^session s_\w+ stopped: the refinement exploded$/)],
    ]);
    expect(server.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(1);
    expect(countRows(db, "SELECT count(*) AS n FROM leases WHERE owner != ''")).toBe(0);
  }, 30_000);
});
