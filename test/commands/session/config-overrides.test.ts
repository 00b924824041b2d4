import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { runCli, type CliResult } from '../../helpers/cli.ts';
import { withRawDb } from '../../helpers/raw-db.ts';
import { tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';

/**
 * P2Engine's `config set-tools|set-behavior <session> …` and `config show-overrides <session>` (issue 19, §2). A
 * branch's overrides are fixed at its fork, so the setters fork the checked-out branch at its newest entry with the
 * override and check the new branch out, saying so; show-overrides lists what is in effect and which branch set it.
 */
let ws: TempWorkspace;
let session: string;
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

type Branch = { id: string; label: string | null; checkedOut: boolean; overrides: Record<string, unknown> };

const WEATHER = 'You are a weather expert. Answer in one short line.';

beforeAll(async () => {
  ws = tempWorkspace({ 'templates/weather_expert.md': `${WEATHER}\n` });
  ws.persona({ id: 'lead', description: 'Leads.', script: [{ when: '.', steps: [{ reply: 'Done.' }] }] });
  ws.persona({ id: 'writer', description: 'Writes.' });
  const run = await p2tui('run', 'lead', 'hello', '--json');
  expect(run.code, run.stderr).toBe(0);
  session = (JSON.parse(run.stdout) as { session: string }).session;
}, 20_000);
afterAll(() => ws.cleanup());

/** The session's branches as stored (read from the file: one process less per check). */
function branches(): Branch[] {
  return withRawDb(join(ws.dir, '.p2tui', 'p2tui.db'), (db) => {
    const head = (db.prepare('SELECT head_branch FROM sessions WHERE id = ?').get(session) as { head_branch: string })
      .head_branch;
    const rows = db
      .prepare('SELECT id, label, overrides FROM branches WHERE session_id = ? ORDER BY rowid')
      .all(session) as { id: string; label: string | null; overrides: string }[];
    return rows.map((r) => ({
      id: r.id,
      label: r.label,
      checkedOut: r.id === head,
      overrides: JSON.parse(r.overrides) as Record<string, unknown>,
    }));
  });
}

describe('config set-tools / set-behavior / show-overrides', () => {
  it('set-tools forks at the newest entry with the tools for one agent, checks the new branch out and says so', async () => {
    const r = await p2tui('config', 'set-tools', session, 'delegate,ask_user', '--agent', 'writer');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^forked (b_\w+) at seq \d+ with tools delegate,ask_user for writer and checked it out \(from b_\w+; overrides are fixed at a fork, so this is a new branch\)$/m,
    );
    const made = /^forked (b_\w+)/m.exec(r.stdout)![1]!;
    const listed = branches();
    expect(listed).toHaveLength(2);
    const head = listed.find((b) => b.checkedOut)!;
    expect(head.id).toBe(made);
    expect(head.overrides).toEqual({ personas: { writer: { tools: ['delegate', 'ask_user'] } } });
  }, 20_000);

  it('set-behavior reads a template of templates/ by name (its text becomes the agent’s system prompt)', async () => {
    const named = await p2tui('config', 'set-behavior', session, 'weather_expert', '--agent', 'lead');
    expect(named.code, named.stderr).toBe(0);
    expect(named.stdout).toContain('with the system prompt of templates/weather_expert.md for lead and checked it out');
    const head = branches().find((b) => b.checkedOut)!;
    // The template's text, not its name; the writer's tools from the branch it was forked from are kept.
    expect(head.overrides).toEqual({
      personas: { writer: { tools: ['delegate', 'ask_user'] }, lead: { system: WEATHER } },
    });
  }, 20_000);

  it('show-overrides lists per agent what the checked-out branch runs with and the branch that set it', async () => {
    const listed = branches();
    const [r, asJson] = await Promise.all([
      p2tui('config', 'show-overrides', session),
      p2tui('config', 'show-overrides', session, '--json'),
    ]);
    const toolsBranch = listed.find((b) => b.label === 'config set-tools')!.id;
    const behaviorBranch = listed.find((b) => b.label === 'config set-behavior')!.id;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`checked out ${behaviorBranch} (config set-behavior), forked from ${toolsBranch}`);
    expect(r.stdout).toMatch(new RegExp(`^writer +tools +delegate,ask_user +${toolsBranch}$`, 'm'));
    expect(r.stdout).toMatch(
      new RegExp(`^lead +system +"You are a weather expert\\. Answer in one short line\\." +${behaviorBranch}$`, 'm'),
    );
    const json = JSON.parse(asJson.stdout) as {
      branch: string;
      overrides: { agent: string; setting: string; setOn: string }[];
    };
    expect(json.branch).toBe(behaviorBranch);
    expect(json.overrides.map((o) => `${o.agent} ${o.setting} ${o.setOn}`).sort()).toEqual(
      [`lead system ${behaviorBranch}`, `writer tools ${toolsBranch}`].sort(),
    );
  }, 20_000);

  it('refuses an unknown agent or tool (exit 3), "none" and an unknown template (exit 2), forking nothing', async () => {
    const [agent, tool, none, typo] = await Promise.all([
      p2tui('config', 'set-tools', session, 'delegate', '--agent', 'wrtier'),
      p2tui('config', 'set-tools', session, 'nosuch'),
      p2tui('config', 'set-tools', session, 'none'),
      p2tui('config', 'set-behavior', session, 'weather_expret'),
    ]);
    expect(agent.code).toBe(3);
    expect(agent.stderr).toContain('E_UNKNOWN_AGENT');
    expect(agent.stderr).toContain("Did you mean 'writer'?");
    expect(tool.code).toBe(3);
    expect(tool.stderr).toContain("E_UNKNOWN_TOOL: --tools: unknown tool 'nosuch'");
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("E_USAGE: 'none' cannot clear the tools: overrides are fixed at a fork");
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("E_USAGE: no template 'weather_expret' in templates/");
    expect(typo.stderr).toContain('did you mean weather_expert?');
    expect(branches()).toHaveLength(3);
  }, 20_000);

  it('set-behavior takes text with a space as the prompt itself, for every agent ("x=1" in it names no agent)', async () => {
    const r = await p2tui('config', 'set-behavior', session, 'Be terse. Answer: x=1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('with the system prompt "Be terse. Answer: x=1" for every agent and checked it out');
    const head = branches().find((b) => b.checkedOut)!;
    // An every-agent prompt replaces the lead's own (as session fork --system does); the writer's tools stay.
    expect(head.overrides).toEqual({
      system: 'Be terse. Answer: x=1',
      personas: { writer: { tools: ['delegate', 'ask_user'] } },
    });
  }, 20_000);
});
