import { haveRedis, startRedis, type RedisServer } from '../helpers/host-tools.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../../src/app/app.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { workerKeys } from '../../src/rollout/queue/signing.ts';
import { redisEffectJournal } from '../../src/rollout/queue/journal.ts';
import { Store } from '../../src/store/store.ts';
import type { Tool } from '../../src/tools/define.ts';
import { until } from '../helpers/manual-clock.ts';
import { tempWorkspace } from '../helpers/workspace.ts';
import { entriesOf, gatedTool, toolResults } from '../engine/session/harness.ts';

/**
 * The effect journal (src/rollout/queue/journal.ts) against a real `redis-server`: two attempts of the same work (a
 * rollout cell on a worker that dies, then on another), each with its own store, as workers have. The second attempt
 * gives the calls the same keys, and what the first journaled decides what runs again.
 */
let redis: RedisServer | undefined;
let url = '';

beforeAll(async () => {
  if (!haveRedis) return;
  redis = await startRedis();
  url = redis.url;
});
afterAll(() => redis?.stop());

describe.skipIf(!haveRedis)('effects journaled in Redis across attempts of a cell', () => {
  it('a finished call is not run again, one that died mid-run is unknown, and one its tool finds absent runs with the same key', async () => {
    const done = gatedTool('done', { effect: 'effectful' });
    const midway = gatedTool('midway', { effect: 'effectful' });
    const lookup = gatedTool('lookup', { effect: 'effectful', reconcile: () => null });
    const ws = tempWorkspace();
    ws.persona({
      id: 'w',
      description: 'W.',
      tools: ['done', 'midway', 'lookup'],
      script: [
        {
          when: '.',
          steps: [
            {
              parallel: [
                { call: 'done', args: { n: 1 } },
                { call: 'midway', args: { n: 2 } },
                { call: 'lookup', args: { n: 3 } },
              ],
            },
            { reply: 'done' },
          ],
        },
      ],
    });
    const attempt = async (tools: Tool[]) => {
      const store = new Store({ path: ':memory:' });
      const effects = redisEffectJournal(url, workerKeys({ secret: 'k'.repeat(64), stateDir: ws.dir }));
      const app = new App({
        workspace: await loadWorkspace(ws.dir, { extraTools: tools }),
        store,
        effects,
        judge: false,
      });
      const options = app.engine.sessionOptions({ seed: 7, approval: 'deny', effectKeys: 'ro_test/c_1' });
      const session = app.engine.start({ agent: 'w', message: 'go', source: 'rollout', options });
      const close = async (): Promise<void> => {
        app.close();
        store.close();
        await effects.close();
      };
      return { app, session, close };
    };
    try {
      // The first attempt: `done` ends, then its worker dies with `midway` and `lookup` still running.
      const first = await attempt([done, midway, lookup]);
      await until(() => done.runs.length + midway.runs.length + lookup.runs.length === 3, 'three calls running');
      done.runs[0]!.finish();
      await until(() => toolResults(entriesOf(first.app, first.session.id)).length === 1, 'done settled');
      await first.close();

      // The second attempt, on a store of its own: the same calls come with the same keys.
      const second = await attempt([done, midway, lookup]);
      await until(() => lookup.runs.length === 2, 'the call its tool found absent to run again');
      expect(lookup.runs[1]!.key).toBe(lookup.runs[0]!.key);
      expect(lookup.runs[0]!.key).toMatch(/^fx_[0-9a-f]{32}$/);
      lookup.runs[1]!.finish();
      expect(await second.session.idle()).toBe('finished');
      expect([done.runs.length, midway.runs.length, lookup.runs.length]).toEqual([1, 1, 2]);
      expect(toolResults(entriesOf(second.app, second.session.id))).toMatchObject([
        { tool: 'done', status: 'ok', output: { n: 1, by: 'done' } },
        {
          tool: 'midway',
          status: 'unknown',
          error:
            'an earlier attempt of this work started this call and did not say how it ended; the tool has no way to look up what happened, and it was not run again',
        },
        { tool: 'lookup', status: 'ok', output: { n: 3, by: 'lookup' } },
      ]);
      await second.close();
    } finally {
      ws.cleanup();
    }
  }, 30_000);
});
