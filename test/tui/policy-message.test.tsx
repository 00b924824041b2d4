import { afterEach, describe, expect, it } from 'vitest';
import { KEYS } from './render.ts';
import { closeTuis, openTui } from './harness.ts';
import { until } from '../helpers/manual-clock.ts';

afterEach(() => closeTuis());

/**
 * A message typed in the TUI while the session answers again on its own (a score policy's retry: a fork at the last
 * message, checked out and run on) is not lost: it goes back into the input, and is answered once sent again.
 */
describe('the TUI and a score policy retrying', () => {
  it('puts a message refused while a retry answers back into the input, then answers it on the retry branch', async () => {
    const h = await openTui();
    await h.screen.waitFor('No sessions yet');
    const runtime = h.engine.start({
      agent: 'agent_beta',
      message: 'Calculate 3 * 3',
      source: 'api',
      options: h.engine.sessionOptions({ model: 'scripted/slow', temperature: 0 }),
    });
    h.tui.bridge.open(runtime.id);
    const finished = (): boolean => h.engine.get(runtime.id)?.currentStatus === 'finished';
    await until(finished, 'the first answer');
    // Typed first, sent the moment the retry starts: the retry (two calls of 300 ms) is then surely answering.
    await h.screen.press('i');
    await h.screen.press('Calculate 4 * 4');
    // What retry-low-quality does: fork at the last user message, check out, run on (300 ms a call).
    const first = h.engine.store.log
      .visibleEntries(runtime.id, h.engine.store.sessions.segments(runtime.session.headBranch))
      .find((e) => e.kind === 'user_message')!;
    const fork = await h.engine.fork(runtime.id, {
      atSeq: first.seq,
      // The demo's policy goes warmer (0.9); temperature 0 keeps the simulator's wording exact for the test.
      overrides: { temperature: 0 },
      label: 'retry of main',
      createdBy: 'policy:retry-low-quality',
      checkout: true,
    });
    (h.engine.get(runtime.id) ?? (await h.engine.attach(runtime.id))).resume();
    await h.screen.press(KEYS.enter);
    const frame = await h.screen.waitFor('your message is back in the input');
    expect(frame).toMatch(/›\s*Calculate 4 \* 4/);
    await until(finished, "the retry's answer");
    await h.screen.press(KEYS.enter);
    await h.screen.waitFor('4 * 4 = 16.', 10_000);
    await until(finished, 'the answer to the message');
    const after = h.engine.get(runtime.id)!;
    expect(after.branch).toBe(fork.branch.id);
    expect(after.projection.get(runtime.session.rootConversation)!.state.phase).toBe('finished');
  }, 30_000);
});
