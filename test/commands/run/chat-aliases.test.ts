import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, runCli, type CliResult } from '../../helpers/cli.ts';
import { childEnv } from '../../helpers/child-env.ts';
import { tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';

/**
 * P2Engine's `chat with <agent>` and `chat resume <session>` (issue 19, §2): the same chat as `chat <agent>` and
 * `chat --session <session>`, run as real processes with the person's lines piped in.
 */
let ws: TempWorkspace;
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

/** `p2tui <args>` with `input` on its stdin (what a person types, one line each). */
function chat(args: readonly string[], input: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: ws.dir, env: childEnv(), stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

beforeAll(() => {
  ws = tempWorkspace();
  ws.persona({
    id: 'helper',
    description: 'Helps.',
    script: [
      { when: 'first', steps: [{ reply: 'First answer.' }] },
      { when: 'second', steps: [{ reply: 'Second answer.' }] },
    ],
  });
});
afterAll(() => ws.cleanup());

describe('chat with / chat resume', () => {
  it('chat with <agent> talks with the agent; chat resume <session> continues that same session', async () => {
    const first = await chat(['chat', 'with', 'helper'], 'first question\n/exit\n');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('chatting with helper on scripted/default (simulator)');
    expect(first.stdout).toContain('helper ▸ First answer.');
    const session = /session (s_\w+) saved/.exec(first.stdout)?.[1];
    expect(session).toBeDefined();

    const again = await chat(['chat', 'resume', session!], 'second question\n/exit\n');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('helper ▸ Second answer.');
    expect(again.stdout).toContain(`session ${session!} saved`);
    // One session holds both turns: the resumed chat added to it, it did not start another.
    const stack = await p2tui('session', 'stack', session!);
    expect(stack.stdout).toContain('first question');
    expect(stack.stdout).toContain('second question');
  }, 20_000);

  it('refuses what chat refuses: no agent (exit 2), an unknown agent (exit 3), an unknown session (E_UNKNOWN_SESSION)', async () => {
    const bare = await p2tui('chat', 'with');
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('E_USAGE');
    const unknown = await chat(['chat', 'with', 'helpr'], '/exit\n');
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('E_UNKNOWN_AGENT');
    const gone = await chat(['chat', 'resume', 's_nosuchone'], '/exit\n');
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain('E_UNKNOWN_SESSION');
  }, 20_000);

  it('help lists the aliases: the main help, chat with --help, and conversation (whose prune is its own)', async () => {
    const main = await p2tui('--help');
    expect(main.stdout).toMatch(/^ {2}chat \[agent\] .*\(also: chat with, chat resume\)$/m);
    expect(main.stdout).toMatch(/Commands: set-tools, set-behavior, show-overrides/);
    const withHelp = await p2tui('chat', 'with', '--help');
    expect(withHelp.stdout).toContain('Usage: p2tui chat with <agent>');
    const group = await p2tui('conversation');
    expect(group.stdout).toContain('conversation prune <session>');
    expect(group.stdout).not.toMatch(/^ {2}session prune/m);
  }, 20_000);
});
