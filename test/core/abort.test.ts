import { describe, expect, it } from 'vitest';
import { abortable, whenAborted } from '../../src/core/abort.ts';
import { deadlineSignal } from '../../src/core/clock.ts';
import { ManualClock } from '../helpers/manual-clock.ts';

describe('deadlines and aborts', () => {
  it('aborts a deadline when its time on the clock is up, with the caller’s reason, and not before', async () => {
    const clock = new ManualClock();
    const deadline = deadlineSignal(clock, 1_000, () => new Error('no answer within 1 s'));
    await clock.advance(999);
    expect(deadline.signal.aborted).toBe(false);
    await clock.advance(1);
    expect(deadline.expired()).toBe(true);
    expect((deadline.signal.reason as Error).message).toBe('no answer within 1 s');
  });

  it('never fires once cancelled (the work ended in time)', async () => {
    const clock = new ManualClock();
    const deadline = deadlineSignal(clock, 1_000, () => new Error('late'));
    deadline.cancel();
    await clock.advance(5_000);
    expect(deadline.expired()).toBe(false);
  });

  it('within a cancel, aborts on whichever comes first and says which', async () => {
    const clock = new ManualClock();
    const cancel = new AbortController();
    const deadline = deadlineSignal(clock, 1_000, () => new Error('late'), { within: cancel.signal });
    cancel.abort(new Error('cancelled by the user'));
    await clock.advance(2_000);
    expect((deadline.signal.reason as Error).message).toBe('cancelled by the user');
    expect(deadline.expired()).toBe(false);
  });

  it('leaves no listener on the signal it was within once cancelled (a conversation lives for thousands of calls)', () => {
    const clock = new ManualClock();
    const conversation = new AbortController();
    let listeners = 0;
    const add = conversation.signal.addEventListener.bind(conversation.signal);
    const remove = conversation.signal.removeEventListener.bind(conversation.signal);
    conversation.signal.addEventListener = (...args: Parameters<typeof add>) => {
      listeners += 1;
      add(...args);
    };
    conversation.signal.removeEventListener = (...args: Parameters<typeof remove>) => {
      listeners -= 1;
      remove(...args);
    };
    for (let i = 0; i < 1_000; i++)
      deadlineSignal(clock, 1_000, () => 'late', { within: conversation.signal }).cancel();
    expect(listeners).toBe(0);
  });

  it('stops waiting for work when the signal aborts, and leaves no listener on a long-lived signal', async () => {
    const rollout = new AbortController();
    // A thousand waits on one signal, each settled: none of them may leave its listener behind.
    let listeners = 0;
    const add = rollout.signal.addEventListener.bind(rollout.signal);
    const remove = rollout.signal.removeEventListener.bind(rollout.signal);
    rollout.signal.addEventListener = (...args: Parameters<typeof add>) => {
      listeners += 1;
      add(...args);
    };
    rollout.signal.removeEventListener = (...args: Parameters<typeof remove>) => {
      listeners -= 1;
      remove(...args);
    };
    for (let i = 0; i < 1_000; i++) await abortable(Promise.resolve(i), rollout.signal);
    expect(listeners).toBe(0);
    const never = new Promise<number>(() => undefined);
    const waiting = abortable(never, rollout.signal);
    rollout.abort(new Error('interrupted'));
    await expect(waiting).rejects.toThrow('interrupted');
  });

  it('resolves with a value or rejects with the reason when the signal aborts', async () => {
    const a = new AbortController();
    const resolved = whenAborted(a.signal, 'stopped' as const);
    const rejected = whenAborted(a.signal);
    a.abort(new Error('gone'));
    expect(await resolved).toBe('stopped');
    await expect(rejected).rejects.toThrow('gone');
  });
});
