import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

// Issue 19, point 5: eval top's doubled column, session list's suggestion of an agent the workspace lacks, and a
// persona whose id is not its file's name. Each runs the real CLI.

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function workspace(files: Record<string, string> = {}): TempWorkspace {
  const ws = tempWorkspace(files);
  cleanups.push(() => ws.cleanup());
  return ws;
}

const cli = (ws: TempWorkspace, ...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

describe('eval top --metric', () => {
  it('shows the ranked metric once (the ranking column, with its min), the other metrics beside it', async () => {
    const ws = workspace({
      'p2tui.yaml': stringify({
        judge: {
          evaluators: [
            { id: 'checks', kind: 'assert', on: 'demand', assert: [{ contains: 'sunny' }] },
            { id: 'short', kind: 'assert', on: 'demand', assert: [{ contains: 'Paris' }] },
          ],
        },
      }),
    });
    ws.persona({
      id: 'w',
      description: 'Weather.',
      script: [{ when: '.', steps: [{ reply: 'Sunny in Paris: sunny.' }] }],
    });
    expect((await cli(ws, 'run', 'w', 'weather?')).code).toBe(0);
    expect((await cli(ws, 'eval', 'run', 'last')).code).toBe(0);
    const r = await cli(ws, 'eval', 'top', 'last', '--metric', 'checks');
    expect(r.code).toBe(0);
    const [header, first] = r.stdout.split('\n');
    expect(header!.split(/\s{2,}/)).toEqual(['#', 'branch', 'checks', 'short']);
    expect(first).toMatch(/^1\s+b_\w+ \(main\) \*\s+1\.000 \(min 1\.00\)\s+1\.00 \(min 1\.00\)$/);
    // Without --metric: the weighted overall, then every metric once.
    const all = await cli(ws, 'eval', 'top', 'last');
    expect(all.stdout.split('\n')[0]!.split(/\s{2,}/)).toEqual(['#', 'branch', 'weighted', 'checks', 'short']);
  });
});

describe('session list with no sessions', () => {
  it('suggests an agent of this workspace, not agent_alpha where there is none', async () => {
    const ws = workspace();
    ws.persona({ id: 'solo', description: 'Answers.' });
    const r = await cli(ws, 'session', 'list');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^No sessions yet \(there is no database at .* yet, so no sessions\)\. Start one with: p2tui run solo "<message>"$/m,
    );
    expect(r.stdout).not.toContain('agent_alpha');
    const empty = workspace({ 'p2tui.yaml': '{}\n' });
    const none = await cli(empty, 'session', 'list');
    expect(none.stdout).toContain('Start one with: p2tui run <agent> "<message>", once the workspace has a persona');
  });
});

describe("a persona whose id is not its file's name", () => {
  it('is refused naming the file, the field and both fixes (E_PERSONA_INVALID, exit 3), under either name', async () => {
    const ws = workspace({ 'personas/foo.yaml': 'id: bar\ndescription: B.\n' });
    ws.persona({ id: 'solo', description: 'Answers.', script: [{ when: '.', steps: [{ reply: 'Hi.' }] }] });
    const message =
      "error E_PERSONA_INVALID: personas/foo.yaml:1:5: id: id 'bar' differs from the file's name 'foo': " +
      'rename the file to personas/bar.yaml, or set id: foo';
    for (const agent of ['bar', 'foo']) {
      const r = await cli(ws, 'run', agent, 'hi');
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(message);
      expect(r.stderr).toContain(`hint: Agent '${agent}' is unavailable until personas/foo.yaml is fixed`);
    }
    // Only that file is set aside: the workspace's other agent runs.
    expect((await cli(ws, 'run', 'solo', 'hi')).code).toBe(0);
  });
});

describe('--workspace that is missing or a file', () => {
  it('is refused the same way by every command (E_WORKSPACE, exit 3, naming the path); init creates a missing one', async () => {
    const ws = workspace();
    ws.persona({ id: 'solo', description: 'Answers.' });
    ws.write('notes.txt', 'not a workspace\n');
    const missing = join(ws.dir, 'nope');
    const file = join(ws.dir, 'notes.txt');
    // Commands that read only the database (session list, ledger balance) used to accept these; others refused them.
    const commands = [
      ['session', 'list'],
      ['ledger', 'balance'],
      ['agents', 'list'],
      ['doctor'],
      ['run', 'solo', 'hi'],
    ];
    const runs = await Promise.all(
      commands.flatMap((args) => [
        runCli([...args, '--workspace', missing], { cwd: ws.dir }),
        runCli([...args, '--workspace', file], { cwd: ws.dir }),
      ]),
    );
    for (const [i, r] of runs.entries()) {
      expect(r.code, `${commands[Math.floor(i / 2)]!.join(' ')}: ${r.stderr}`).toBe(3);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        i % 2 === 0
          ? `error E_WORKSPACE: workspace folder ${missing} (--workspace) does not exist\n` +
              `hint: Check the path, or create a workspace there with: p2tui init ${missing}\n`
          : `error E_WORKSPACE: workspace ${file} (--workspace) is a file, not a folder\n` +
              'hint: Give the folder that holds p2tui.yaml and personas/ (--workspace <dir>).\n',
      );
    }
    const env = await runCli(['session', 'list'], { cwd: ws.dir, env: { P2TUI_WORKSPACE: missing } });
    expect(env.code).toBe(3);
    expect(env.stderr).toContain(`error E_WORKSPACE: workspace folder ${missing} (P2TUI_WORKSPACE) does not exist`);
    // init is the one command for which a missing folder is the point.
    const init = await runCli(['init', '--workspace', missing], { cwd: ws.dir });
    expect(init.code).toBe(0);
    expect(existsSync(join(missing, 'p2tui.yaml'))).toBe(true);
  });
});
