import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../../../src/core/errors.ts';
import { runCommand } from '../../../src/commands/run/run.ts';
import { chatCommand } from '../../../src/commands/run/chat.ts';
import { EXIT } from '../../../src/commands/types.ts';
import { tempWorkspace } from '../../helpers/workspace.ts';
import { commandContext, type TestContext } from '../helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A workspace of scripted personas (temperature 0: the simulator follows the script exactly) and a context over it. */
function workspace(options: { answers?: readonly string[] } = {}): TestContext {
  const ws = tempWorkspace();
  ws.persona({
    id: 'solo',
    description: 'Answers at once.',
    script: [{ when: '.', steps: [{ reply: 'The answer is 42.' }] }],
  });
  ws.persona({
    id: 'asker',
    description: 'Asks first.',
    script: [{ when: '.', steps: [{ ask: 'Which city?' }, { reply: 'city: {{answer}}' }] }],
  });
  const ctx = commandContext(ws.dir, options);
  cleanups.push(() => ws.cleanup());
  cleanups.push(() => ctx.close());
  return ctx;
}

describe('run', () => {
  it('runs a scripted persona until it answers: exit 0, the answer printed, the session named', async () => {
    const ctx = workspace();
    const r = await ctx.run(runCommand, ['solo', 'what', 'is', 'it?']);
    expect(r.exitCode).toBe(EXIT.ok);
    expect(r.lines[0]).toMatch(/^session s_/);
    expect(r.stdout).toContain('The answer is 42.');
    expect(r.lines.at(-1)).toMatch(/^✓ finished · 1 model call · \d+ tokens · /);
  });

  it('--json gives the session, its status, the answer and every entry', async () => {
    const ctx = workspace();
    const r = await ctx.run(runCommand, ['solo', 'what is it?', '--json', '--seed', '5']);
    expect(r.exitCode).toBe(EXIT.ok);
    // With --json nothing but the one value is printed.
    expect(r.lines).toEqual([]);
    const json = r.json as {
      session: string;
      status: string;
      answer: string;
      simulated: boolean;
      options: { seed: number };
      entries: { kind: string; agent: string }[];
      scores: unknown[];
    };
    expect(json.session).toMatch(/^s_/);
    expect(json.status).toBe('finished');
    expect(json.answer).toBe('The answer is 42.');
    expect(json.simulated).toBe(true);
    expect(json.entries.map((e) => e.kind)).toEqual(['user_message', 'assistant_message', 'finished']);
    expect(new Set(json.entries.map((e) => e.agent))).toEqual(new Set(['solo']));
    expect(json.scores).toEqual([]);
  });

  it('with --approval ask and nobody at a terminal, exits 4 and names the question the session waits on', async () => {
    const ctx = workspace();
    const r = await ctx.run(runCommand, ['asker', 'go', '--approval', 'ask']);
    expect(r.exitCode).toBe(EXIT.waiting);
    expect(r.stdout).toContain('asker asks: Which city?');
    const session = /^session (s_\S+)$/m.exec(r.stdout)![1]!;
    expect(r.stdout).toContain(
      `The session waits for an answer. Answer with: p2tui session respond ${session} "<answer>"`,
    );
    const json = await ctx.run(runCommand, ['asker', 'go', '--approval', 'ask', '--json']);
    expect(json.exitCode).toBe(EXIT.waiting);
    expect(json.json).toMatchObject({ status: 'waiting', questions: [{ agent: 'asker', question: 'Which city?' }] });
  });

  it('--on-miss without --replay-from is a usage error; --replay-from serves the recorded session again', async () => {
    const ctx = workspace();
    await expect(ctx.run(runCommand, ['solo', 'hi', '--on-miss', 'live'])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: '--on-miss needs --replay-from <session>',
    });
    const first = await ctx.run(runCommand, ['solo', 'hi', '--json', '--seed', '9']);
    const recorded = (first.json as { session: string }).session;
    const replay = await ctx.run(runCommand, ['solo', 'hi', '--json', '--replay-from', recorded]);
    expect(replay.exitCode).toBe(EXIT.ok);
    expect(replay.json).toMatchObject({
      answer: 'The answer is 42.',
      options: { seed: 9, replay: { from: recorded, onMiss: 'fail' } },
    });
  });

  it('refuses what the parser checks from the declaration: a bad --approval, a fractional --seed, a missing message', async () => {
    const ctx = workspace();
    for (const argv of [
      ['solo', 'hi', '--approval', 'maybe'],
      ['solo', 'hi', '--seed', '1.5'],
      ['solo', 'hi', '--temperature', '3'],
      ['solo'],
    ])
      await expect(ctx.run(runCommand, argv)).rejects.toBeInstanceOf(UserError);
    await expect(ctx.run(runCommand, ['solo', '   '])).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(ctx.run(runCommand, ['solo', 'hi', '--model', 'gpt'])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: "--model needs the form provider/name, not 'gpt'",
    });
  });
});

describe('chat', () => {
  it('talks turn by turn: each line a message, /status names the session, /exit leaves it saved', async () => {
    const ctx = workspace({ answers: ['hello', '/status', '/exit'] });
    const r = await ctx.run(chatCommand, ['solo']);
    expect(r.exitCode).toBe(EXIT.ok);
    expect(r.lines[0]).toBe('chatting with solo on scripted/default (simulator) — /help for commands, /exit to leave');
    expect(r.stdout).toContain('The answer is 42.');
    const session = (r.json as { session: string }).session;
    expect(r.stdout).toMatch(new RegExp(`^session ${session} · finished · 1 model call · `, 'm'));
    expect(r.lines.at(-1)).toBe(`session ${session} saved; continue with: p2tui chat --session ${session}`);
  });

  it('needs an agent or --session', async () => {
    const ctx = workspace();
    await expect(ctx.run(chatCommand, [])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: 'chat needs an agent, or --session to continue one',
    });
  });
});
