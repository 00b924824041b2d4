import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/store/store.ts';
import { EventBus } from '../../src/bus/bus.ts';
import { ControlPoller } from '../../src/engine/control.ts';
import { ManualClock, settle } from '../helpers/manual-clock.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-bus-'));
  dirs.push(dir);
  return join(dir, 'p2tui.db');
}

const append = (store: Store, session: string, text: string) =>
  store.write(() =>
    store.append(
      { type: 'entry', kind: 'user_message', payload: { text }, session, branch: 'b', conversation: 'c' },
      Date.now(),
    ),
  );

async function collect(iterable: AsyncIterable<{ seq: number; payload: unknown }>, count: number): Promise<string[]> {
  const out: string[] = [];
  for await (const event of iterable) {
    out.push((event.payload as { text: string }).text);
    if (out.length === count) break;
  }
  return out;
}

describe('event bus', () => {
  it('a late subscriber replays from the store, then goes live, with no gap and no duplicate', async () => {
    const store = new Store({ path: tempDb() });
    const bus = new EventBus(store);
    for (let i = 0; i < 5; i++) append(store, 's', `old${i}`);
    const received = collect(bus.subscribe({ fromSeq: 2, filter: { session: 's' } }), 6);
    await settle();
    for (let i = 0; i < 3; i++) append(store, 's', `new${i}`);
    expect(await received).toEqual(['old2', 'old3', 'old4', 'new0', 'new1', 'new2']);
    store.close();
  });

  it('filters by session without being slowed by other sessions', async () => {
    const store = new Store({ path: tempDb() });
    const bus = new EventBus(store);
    append(store, 'a', 'a1');
    append(store, 'b', 'b1');
    append(store, 'a', 'a2');
    expect(await collect(bus.subscribe({ filter: { session: 'a' }, follow: false }), 10)).toEqual(['a1', 'a2']);
    store.close();
  });

  it('follows writes made by another process (another connection) by polling the log', async () => {
    const path = tempDb();
    const reader = new Store({ path });
    const writer = new Store({ path });
    const bus = new EventBus(reader);
    const received = collect(bus.subscribe({ filter: { session: 's' }, pollMs: 20 }), 2);
    append(writer, 's', 'from elsewhere 1');
    append(writer, 's', 'from elsewhere 2');
    expect(await received).toEqual(['from elsewhere 1', 'from elsewhere 2']);
    reader.close();
    writer.close();
  });

  it('a slow subscriber does not hold up writers', async () => {
    const store = new Store({ path: tempDb() });
    const bus = new EventBus(store);
    let seen = 0;
    const slow = (async () => {
      for await (const _ of bus.subscribe({ filter: { session: 's' } })) {
        seen += 1;
        await new Promise((r) => setTimeout(r, 50));
        if (seen === 2) break;
      }
    })();
    const started = performance.now();
    for (let i = 0; i < 200; i++)
      await store.commit(() =>
        store.append(
          {
            type: 'entry',
            kind: 'user_message',
            payload: { text: String(i) },
            session: 's',
            branch: 'b',
            conversation: 'c',
          },
          1,
        ),
      );
    expect(performance.now() - started).toBeLessThan(1000);
    expect(store.log.lastSeq()).toBe(200);
    await slow;
    store.close();
  });

  it('drops the oldest streaming deltas for a listener that does not keep up, instead of growing without bound', async () => {
    const store = new Store({ path: tempDb() });
    const bus = new EventBus(store);
    const controller = new AbortController();
    const deltas = bus.deltas({ session: 's' }, controller.signal);
    for (let i = 0; i < 5000; i++)
      bus.emit({ type: 'delta', session: 's', conversation: 'c', agent: 'a', modelCall: 'm', text: String(i) });
    const first = await deltas[Symbol.asyncIterator]().next();
    expect(first.value).toMatchObject({ text: '3000' });
    controller.abort();
    expect(bus.hasDeltaListeners).toBe(false);
    store.close();
  });

  it('the control poller delivers requests from another process, and each poll reads only what is new', async () => {
    const path = tempDb();
    const driver = new Store({ path });
    const other = new Store({ path });
    const clock = new ManualClock();
    const poller = new ControlPoller(driver, clock, 20);
    const received: string[] = [];
    poller.watch('s', (request) => received.push(request.action));
    const reads: number[] = [];
    const read = driver.log.read.bind(driver.log);
    driver.log.read = (afterSeq, filter, limit, upto) => {
      reads.push(afterSeq);
      return read(afterSeq, filter, limit, upto);
    };
    // A busy log with no control requests: the poller's cursor must still move past it.
    for (let i = 0; i < 50; i++) append(other, 's', `step ${i}`);
    await clock.advance(80);
    // Several polls ran meanwhile; the steps were scanned once, not on every poll.
    expect(reads.filter((seq) => seq === 0).length).toBeLessThanOrEqual(1);
    other.write(() =>
      other.append(
        {
          type: 'session.control',
          payload: { action: 'pause', from: 'test' },
          session: 's',
          branch: null,
          conversation: null,
        },
        clock.now(),
      ),
    );
    await clock.advance(20);
    expect(received).toEqual(['pause']);
    poller.stop();
    driver.close();
    other.close();
  });
});
