import { Redis } from 'ioredis';
import { UserError } from '../../core/errors.ts';
import type { EntryPayloads } from '../../core/entries.ts';
import type { EffectJournalPort, JournaledEffect } from '../../engine/ports.ts';
import { connectionOf } from './connection.ts';
import { sign, verify, type QueueKeys, type SignedFor } from './signing.ts';

/** How long a journaled call is kept: far longer than any rollout waits for a cell to be retried. */
const KEEP_S = 7 * 24 * 3600;

/**
 * The effect journal of distributed rollouts, in the queue's Redis: a worker's store lives in its memory and dies
 * with it, and the cell then runs again on another worker. Each effectful call of a cell is journaled under its key
 * (the same on every attempt of the cell) before it starts and again when it ends, so the next attempt looks it up
 * instead of running it blindly a second time. Each entry is signed with the queue key: a journal entry written by
 * anyone else (saying a call is done, with a result of their choosing) is refused, not believed.
 */
export function redisEffectJournal(url: string, keys: QueueKeys): EffectJournalPort & { close(): Promise<void> } {
  // A few retries, then the call fails (and its effect does not start) rather than wait for Redis for ever.
  const client = new Redis({ ...connectionOf(url), maxRetriesPerRequest: 3 });
  // A failing Redis shows in the calls (their start cannot be journaled, so they do not run), not as a crash.
  client.on('error', () => undefined);
  const name = (key: string): string => `p2tui-effect:${key}`;
  const what = (key: string): SignedFor => ({ kind: 'effect', job: key, rollout: '', cell: '', attempt: 0 });
  const signed = (key: string, entry: unknown): string => {
    const plain = JSON.parse(JSON.stringify(entry)) as unknown;
    return JSON.stringify({ entry: plain, signature: sign(keys, what(key), plain) });
  };
  return {
    async lookup(key) {
      const text = await client.get(name(key));
      if (text === null) return undefined;
      let parsed: { entry?: unknown; signature?: unknown } | null;
      try {
        parsed = JSON.parse(text) as { entry?: unknown; signature?: unknown } | null;
      } catch {
        parsed = null;
      }
      if (parsed === null || typeof parsed !== 'object' || !verify(keys, what(key), parsed.entry, parsed.signature))
        throw new UserError(
          'E_QUEUE',
          `the effect journal's entry for ${key} is not signed with the queue key; refused`,
          {
            hint: "Something other than a worker of this workspace wrote to the queue's Redis: check who can reach it.",
          },
        );
      return parsed.entry as JournaledEffect;
    },
    async start(key, call, fresh) {
      const value = signed(key, { status: 'running', tool: call.tool, args: call.args });
      const ok = fresh
        ? await client.set(name(key), value, 'EX', KEEP_S, 'NX')
        : await client.set(name(key), value, 'EX', KEEP_S);
      return ok === 'OK';
    },
    async settle(key: string, result: EntryPayloads['tool_result']) {
      await client.set(name(key), signed(key, { status: 'done', result }), 'EX', KEEP_S);
    },
    async close() {
      // QUIT waits for an answer: only a connected client gets one.
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
      else client.disconnect();
    },
  };
}
