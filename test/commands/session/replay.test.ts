import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../../src/commands/run/run.ts';
import { replayCommand } from '../../../src/commands/session/replay.ts';
import { EXIT } from '../../../src/commands/types.ts';
import { tempWorkspace } from '../../helpers/workspace.ts';
import { commandContext, type TestContext } from '../helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function finishedSession(): Promise<{ ctx: TestContext; session: string }> {
  const ws = tempWorkspace();
  ws.persona({ id: 'solo', description: 'Answers.', script: [{ when: '.', steps: [{ reply: 'The answer is 42.' }] }] });
  const ctx = commandContext(ws.dir);
  cleanups.push(() => ws.cleanup());
  cleanups.push(() => ctx.close());
  const r = await ctx.run(runCommand, ['solo', 'what is it?', '--json']);
  return { ctx, session: (r.json as { session: string }).session };
}

describe('session replay', () => {
  it('replays a session from its recordings and finds it identical', async () => {
    const { ctx, session } = await finishedSession();
    const r = await ctx.run(replayCommand, [session, '--json']);
    expect(r.exitCode).toBe(EXIT.ok);
    expect(r.json).toMatchObject({ original: session, status: 'finished', same: true });
    const text = await ctx.run(replayCommand, [session, '--on-miss', 'fail']);
    expect(text.lines[0]).toMatch(new RegExp(`^replaying ${session} as s_\\S+ \\(1 message\\)$`));
    expect(text.lines.at(-1)).toBe(`✓ identical: 1 conversations, 3 entries, as in ${session}`);
  });

  it('refuses an --on-miss that is not fail or live', async () => {
    const { ctx, session } = await finishedSession();
    await expect(ctx.run(replayCommand, [session, '--on-miss', 'skip'])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: "--on-miss must be one of fail, live, got 'skip'",
    });
  });
});
