import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { childEnv } from '../helpers/child-env.ts';
import { MAIN, runCli } from '../helpers/cli.ts';
import { cleanupTuis, requireBuild, startTui } from '../helpers/pty.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/**
 * P2Engine's `human_in_loop` agent only ever replied "Waiting for human response...". Here an agent whose model is
 * `human/operator` is answered by a person: the message it received is asked through the question machinery (the
 * run waits with exit 4, `session respond`, chat, the TUI), and the person's answer is its reply, word for word.
 * Real processes throughout: the CLI from source, the built TUI in a pseudo-terminal.
 */
let ws: TempWorkspace;

beforeAll(() => {
  ws = tempWorkspace();
  ws.persona({ id: 'operator', description: 'A person who approves refunds.', model: 'human/operator' });
  ws.persona({
    id: 'coordinator',
    description: 'Routes refund requests.',
    agents: ['operator'],
    script: [
      {
        when: 'refund',
        steps: [{ delegate: 'operator', message: 'approve the refund of order 42?' }, { reply: '{{result}}' }],
      },
    ],
  });
});
afterAll(() => ws.cleanup());

const cli = (args: string[]) => runCli(args, { cwd: ws.dir });

interface ShownSession {
  answer: string;
  status: string;
  usage: { byAgent: Record<string, { tokensIn: number; tokensOut: number; costUsd: number }> };
  conversations: { agent: string; path: string; answer: string }[];
}

async function show(session: string): Promise<ShownSession> {
  const r = await cli(['session', 'show', session, '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as ShownSession;
}

describe('an agent answered by a person (human/operator)', () => {
  it('asks the person in run (exit 4), replies with the answer given by session respond, costs nothing, and replays offline', async () => {
    const run = await cli(['run', 'operator', 'approve the refund?']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(4);
    expect(run.stdout).toContain('operator asks: operator (human_in_loop) was asked by the user: approve the refund?');
    const session = /session (s_\w+)/.exec(run.stdout)![1]!;
    expect(run.stdout).toContain(`Answer with: p2tui session respond ${session} "<answer>"`);

    const respond = await cli(['session', 'respond', session, 'Yes, refund it — but only once.']);
    expect(respond.code).toBe(0);
    expect(respond.stdout).toContain('operator ▸ Yes, refund it — but only once.');
    const shown = await show(session);
    expect(shown.status).toBe('finished');
    expect(shown.answer).toBe('Yes, refund it — but only once.');
    expect(shown.usage.byAgent['operator']).toMatchObject({ tokensIn: 0, tokensOut: 0, costUsd: 0 });

    const replay = await cli(['session', 'replay', session]);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/✓ identical: 1 conversations, \d+ entries/);
  });

  it('asks the person in chat, on the terminal, and each new message asks again', () => {
    const chat = spawnSync(process.execPath, [MAIN, 'chat', 'operator'], {
      cwd: ws.dir,
      env: childEnv(),
      encoding: 'utf8',
      input: 'approve the refund?\nNo, not this one.\nand order 7?\nYes.\n/exit\n',
      timeout: 20_000,
    });
    expect(chat.stderr).toBe('');
    expect(chat.status).toBe(0);
    expect(chat.stdout).toContain('operator asks: operator (human_in_loop) was asked by the user: approve the refund?');
    expect(chat.stdout).toContain('operator ▸ No, not this one.');
    expect(chat.stdout).toContain('operator asks: operator (human_in_loop) was asked by the user: and order 7?');
    expect(chat.stdout).toContain('operator ▸ Yes.');
  });

  it('makes a delegating agent wait for the person, and gives it the answer', async () => {
    const run = await cli(['run', 'coordinator', 'please refund order 42']);
    expect(run.code).toBe(4);
    expect(run.stdout).toContain(
      'operator asks: operator (human_in_loop) was asked by coordinator: approve the refund of order 42?',
    );
    const session = /session (s_\w+)/.exec(run.stdout)![1]!;
    const waiting = await show(session);
    expect(waiting.status).toBe('waiting');

    const respond = await cli(['session', 'respond', session, 'Approved: refund 42 in full']);
    expect(respond.code).toBe(0);
    expect(respond.stdout).toContain('coordinator ▸ ← operator: Approved: refund 42 in full');
    const shown = await show(session);
    expect(shown.conversations.find((c) => c.agent === 'operator')!.answer).toBe('Approved: refund 42 in full');
    expect(shown.answer).toContain('Approved: refund 42 in full');
    // Offline, the recorded answer reaches the coordinator again.
    const replay = await cli(['session', 'replay', session]);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('coordinator ▸ ← operator: Approved: refund 42 in full');
    expect(replay.stdout).toMatch(/✓ identical: 2 conversations, \d+ entries/);
  });

  it('refuses, at load and naming the persona, a person-answered agent that may not ask', async () => {
    const mute = tempWorkspace();
    try {
      mute.persona({
        id: 'mute',
        description: 'Never asked.',
        model: 'human/operator',
        policies: { ask_user: false },
      });
      const r = await runCli(['run', 'mute', 'hello'], { cwd: mute.dir });
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(
        'error E_PERSONA_INVALID: personas/mute.yaml:6:13: policies.ask_user: mute is answered by a person (model human/operator), ' +
          'who is asked through ask_user: remove policies.ask_user: false',
      );
      // Made a person's agent only for one run (--model), it fails at its first step instead of waiting forever.
      mute.persona({ id: 'quiet', description: 'Never asks.', policies: { ask_user: false } });
      const run = await runCli(['run', 'quiet', 'hello', '--model', 'quiet=human/operator'], { cwd: mute.dir });
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(
        'quiet ▸ ✗ E_CONFIG: human/operator failed: quiet is answered by a person (human/operator) but may not ask',
      );
    } finally {
      mute.cleanup();
    }
  });
});

describe('an agent answered by a person, in the TUI', () => {
  beforeAll(requireBuild);
  afterEach(cleanupTuis);

  /** The screen as one line: a wrapped question reads as its sentence. */
  const flat = (screen: string): string => screen.replace(/[\s│]+/g, ' ');

  it('shows the question at 80×24; the typed answer continues the session and is the reply', async () => {
    const tui = startTui(80, 24, [], { workspace: ws.dir });
    await tui.waitFor('No sessions yet');
    await tui.press('n');
    await tui.waitFor('choose an agent');
    // The agents are listed by id: coordinator, then operator.
    await tui.press('j');
    await tui.waitFor(/› operator/);
    await tui.press('\r');
    await tui.waitFor('message to operator ›');
    await tui.press('approve the refund of order 9?');
    await tui.waitFor('order 9?');
    await tui.press('\r');
    await tui.waitFor('press i to answer');
    await tui.press('i');
    await tui.waitFor('answer operator ›');
    await tui.press('yes, refund 9');
    const asked = await tui.waitFor('answer operator › yes, refund 9');
    expect(flat(asked)).toContain(
      'operator asks: operator (human_in_loop) was asked by the user: approve the refund of order 9?',
    );
    await tui.press('\r');
    // The answer, then the agent's reply (the answer itself), then the end of its turn.
    const answered = await tui.waitFor('operator ✓ finished (2 steps)');
    const lines = answered.split('\n').map((l) => l.trim());
    expect(lines).toContain('operator ← answer: yes, refund 9');
    expect(lines).toContain('operator yes, refund 9');
    expect(answered).toMatch(/s_\w+ operator finished/);
  });
});
