import { afterEach, describe, expect, it } from 'vitest';
import { chatCommand } from '../../../src/commands/run/chat.ts';
import { branchesCommand } from '../../../src/commands/session/branches.ts';
import { showCommand } from '../../../src/commands/session/inspect.ts';
import { EXIT } from '../../../src/commands/types.ts';
import { tempWorkspace } from '../../helpers/workspace.ts';
import { commandContext, type TestContext } from '../helpers.ts';

/**
 * `chat` takes `--model/--temperature/--system/--tools` as `run` does (issue 17, point 3): a bare value for every
 * agent or `agent=value` for one, each repeatable, an agent's own value beating the every-agent one.
 */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function workspace(answers: readonly string[]): TestContext {
  const ws = tempWorkspace();
  ws.persona({ id: 'lead', description: 'Leads.', script: [{ when: '.', steps: [{ reply: 'On it.' }] }] });
  ws.persona({ id: 'writer', description: 'Writes.' });
  const ctx = commandContext(ws.dir, { answers });
  cleanups.push(() => ws.cleanup());
  cleanups.push(() => ctx.close());
  return ctx;
}

describe('chat with per-agent settings', () => {
  it('--temperature 0.1 --temperature writer=0.9 --model lead=…: every agent 0.1, the writer 0.9, on the branch tree', async () => {
    const ctx = workspace(['hello', '/exit']);
    const r = await ctx.run(chatCommand, [
      'lead',
      '--temperature',
      '0.1',
      '--temperature',
      'writer=0.9',
      '--model',
      'lead=scripted/slow',
    ]);
    expect(r.exitCode).toBe(EXIT.ok);
    // The header names the model the lead talks with: its own override.
    expect(r.lines[0]).toBe('chatting with lead on scripted/slow (simulator) — /help for commands, /exit to leave');
    const session = (r.json as { session: string }).session;
    const shown = await ctx.run(showCommand, [session, '--json']);
    expect((shown.json as { options: { temperature?: number } }).options.temperature).toBe(0.1);
    const branches = await ctx.run(branchesCommand, [session, '--json']);
    expect((branches.json as { overrides: unknown }[])[0]!.overrides).toEqual({
      personas: { writer: { temperature: 0.9 }, lead: { model: 'scripted/slow' } },
    });
  });

  it('an agent= that is no persona is refused with E_UNKNOWN_AGENT, and a bad value with E_USAGE', async () => {
    await expect(workspace(['hello']).run(chatCommand, ['lead', '--temperature', 'wrtier=0.9'])).rejects.toMatchObject({
      code: 'E_UNKNOWN_AGENT',
      message: "--temperature wrtier=0.9: unknown agent 'wrtier'",
    });
    await expect(workspace(['hello']).run(chatCommand, ['lead', '--temperature', 'writer=hot'])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: "--temperature for writer needs a number from 0 to 2, not 'hot'",
    });
  });
});
