import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../../helpers/cli.ts';
import { withRawDb } from '../../helpers/raw-db.ts';
import { tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';

/**
 * Per-agent overrides through the real CLI (issue 17, point 3): `--temperature`, `--model`, `--system` and
 * `--tools` take a bare value for every agent or `agent=value` for one, on `run`, `session fork` and
 * `session rewind`; what the model calls were made with is read from the store, as another program would.
 */

let ws: TempWorkspace;
let session: string;

/** Each model call of a branch: the agent that made it, its model and temperature. */
function calls(branch: string): { agent: string; model: string; temperature: number }[] {
  return withRawDb(
    join(ws.dir, '.p2tui', 'p2tui.db'),
    (db) =>
      db
        .prepare(
          `SELECT c.agent AS agent, m.model AS model, json_extract(m.request, '$.params.temperature') AS temperature
         FROM model_calls m JOIN conversations c ON c.id = m.conversation_id WHERE m.branch_id = ? ORDER BY m.ts, m.ordinal`,
        )
        .all(branch) as { agent: string; model: string; temperature: number }[],
  );
}

async function cli(...args: string[]): Promise<CliResult> {
  return runCli(args, { cwd: ws.dir });
}

/** Forks at the writer's task (the lead waits for it) with `flags`, checks the branch out and runs it on. */
async function forkAndResume(...flags: string[]): Promise<string> {
  const fork = await cli(
    'session',
    'fork',
    session,
    '--from',
    'main',
    '--step',
    '0',
    '--conversation',
    'writer',
    ...flags,
  );
  expect(fork.stderr).toBe('');
  expect(fork.code).toBe(0);
  const branch = /branch (b_\S+) \(checked out\)/.exec(fork.stdout)![1]!;
  const resumed = await cli('session', 'resume', session);
  expect(resumed.code).toBe(0);
  return branch;
}

beforeAll(async () => {
  ws = tempWorkspace();
  ws.persona({
    id: 'lead',
    description: 'Delegates the report.',
    agents: ['writer'],
    script: [{ when: '.', steps: [{ delegate: 'writer', message: 'write it' }, { reply: 'lead done: {{result}}' }] }],
  });
  ws.persona({ id: 'writer', description: 'Writes.', script: [{ when: '.', steps: [{ reply: 'report written' }] }] });
  const run = await cli('run', 'lead', 'go', '--json');
  expect(run.code).toBe(0);
  session = (JSON.parse(run.stdout) as { session: string }).session;
}, 30_000);

afterAll(() => ws.cleanup());

describe('per-agent overrides on fork, rewind and run', () => {
  it('fork --temperature writer=0.9 changes the writer alone; a bare value changes every agent', async () => {
    const writerOnly = await forkAndResume('--temperature', 'writer=0.9', '--checkout');
    expect(calls(writerOnly).map((c) => [c.agent, c.temperature])).toEqual([
      ['writer', 0.9],
      ['lead', 0],
    ]);
    const everyone = await forkAndResume('--temperature', '0.4', '--checkout');
    expect(calls(everyone).map((c) => [c.agent, c.temperature])).toEqual([
      ['writer', 0.4],
      ['lead', 0.4],
    ]);
  }, 30_000);

  it("an agent's own value beats the bare one, and repeated options combine", async () => {
    const branch = await forkAndResume(
      '--temperature',
      'writer=0.9',
      '--temperature',
      '0.1',
      '--model',
      'writer=scripted/slow',
      '--checkout',
    );
    expect(calls(branch)).toEqual([
      { agent: 'writer', model: 'scripted/slow', temperature: 0.9 },
      { agent: 'lead', model: 'scripted/default', temperature: 0.1 },
    ]);
    const list = await cli('session', 'branches', session, '--json');
    const made = (JSON.parse(list.stdout) as { id: string; overrides: unknown }[]).find((b) => b.id === branch);
    expect(made?.overrides).toEqual({
      temperature: 0.1,
      personas: { writer: { temperature: 0.9, model: 'scripted/slow' } },
    });

    // A rewind of that branch with a bare temperature: every agent takes it (the parent's writer=0.9 gives way),
    // the writer keeps the model it was given.
    const rewind = await cli('session', 'rewind', session, '0', '--conversation', 'writer', '--temperature', '0.3');
    expect(rewind.code).toBe(0);
    const rewound = /branch (b_\S+) checked out/.exec(rewind.stdout)![1]!;
    expect((await cli('session', 'resume', session)).code).toBe(0);
    expect(calls(rewound)).toEqual([
      { agent: 'writer', model: 'scripted/slow', temperature: 0.3 },
      { agent: 'lead', model: 'scripted/default', temperature: 0.3 },
    ]);
  }, 30_000);

  it('session branches shows which agent each override touched', async () => {
    const fork = await cli(
      'session',
      'fork',
      session,
      '--from',
      'main',
      '--label',
      'mixed',
      '--temperature',
      '0.1',
      '--temperature',
      'writer=0.9',
      '--tools',
      'writer=check_balance,transfer_funds',
      '--system',
      'Answer as: x = 1',
    );
    expect(fork.code).toBe(0);
    const list = await cli('session', 'branches', session, '--no-color');
    const row = list.stdout.split('\n').find((l) => l.includes(' mixed '));
    expect(row).toContain('temperature *=0.1 writer=0.9; system *; tools writer=check_balance,transfer_funds');
    const json = JSON.parse((await cli('session', 'branches', session, '--json')).stdout) as {
      label: string;
      overrides: unknown;
    }[];
    // A prompt whose text before `=` is no agent id is a bare value, for every agent.
    expect(json.find((b) => b.label === 'mixed')?.overrides).toEqual({
      temperature: 0.1,
      system: 'Answer as: x = 1',
      personas: { writer: { temperature: 0.9, tools: ['check_balance', 'transfer_funds'] } },
    });
  }, 30_000);

  it('refuses an unknown agent (exit 3) and a bad value, naming the option and the agent (exit 2)', async () => {
    // Refused before anything is written, so they can run side by side.
    const [unknown, prompt, bad, tool] = await Promise.all([
      cli('session', 'fork', session, '--temperature', 'wrter=0.9'),
      cli('session', 'rewind', session, '0', '--system', 'x=1 always'),
      cli('session', 'fork', session, '--temperature', 'writer=hot'),
      cli('run', 'lead', 'go', '--tools', 'writer=nope'),
    ]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain("error E_UNKNOWN_AGENT: --temperature wrter=0.9: unknown agent 'wrter'");
    expect(unknown.stderr).toContain('Agents in this workspace: lead, writer.');
    expect(prompt.code).toBe(3);
    expect(prompt.stderr).toContain("error E_UNKNOWN_AGENT: --system x=1 always: unknown agent 'x'");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("error E_USAGE: --temperature for writer needs a number from 0 to 2, not 'hot'");
    expect(tool.code).toBe(3);
    expect(tool.stderr).toContain("error E_UNKNOWN_TOOL: --tools for writer: unknown tool 'nope'");
  }, 30_000);

  it('run --model writer=scripted/slow runs the writer alone on that model; a replay of it keeps the per-agent settings', async () => {
    const run = await cli(
      'run',
      'lead',
      'go',
      '--model',
      'writer=scripted/slow',
      '--temperature',
      'writer=0.7',
      '--json',
    );
    expect(run.code).toBe(0);
    const started = (JSON.parse(run.stdout) as { session: string }).session;
    const main = withRawDb(
      join(ws.dir, '.p2tui', 'p2tui.db'),
      (db) => (db.prepare('SELECT head_branch AS b FROM sessions WHERE id = ?').get(started) as { b: string }).b,
    );
    expect(calls(main)).toEqual([
      { agent: 'lead', model: 'scripted/default', temperature: 0 },
      { agent: 'writer', model: 'scripted/slow', temperature: 0.7 },
      { agent: 'lead', model: 'scripted/default', temperature: 0 },
    ]);
    // Without the recorded session's per-agent settings the writer's request would differ (E_REPLAY_MISS).
    const replay = await cli('run', 'lead', 'go', '--replay-from', started);
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
  }, 30_000);
});
