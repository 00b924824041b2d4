import { afterEach, describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { App } from '../../src/app/app.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { CellRunner } from '../../src/rollout/cell-runner.ts';
import { RolloutRunner } from '../../src/rollout/runner.ts';
import { parseRolloutSpec } from '../../src/rollout/spec.ts';
import { countRows } from '../helpers/raw-db.ts';
import { tempWorkspace } from '../helpers/workspace.ts';

// A real collection on demand (vitest's workers run without --expose-gc): the flag, then V8's gc from a new context.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const cleanups: (() => void)[] = [];
afterEach(() =>
  cleanups
    .splice(0)
    .reverse()
    .forEach((c) => c()),
);

/** A workspace whose one persona answers "sunny", with `judge` settings in p2tui.yaml, and its app. */
async function sunnyApp(p2tuiYaml: string): Promise<App> {
  const ws = tempWorkspace({ 'p2tui.yaml': p2tuiYaml });
  ws.persona({ id: 'w', description: 'Answers at once.', script: [{ when: '.', steps: [{ reply: 'sunny' }] }] });
  const workspace = await loadWorkspace(ws.dir);
  const app = new App({ workspace });
  cleanups.push(() => {
    app.close();
    ws.cleanup();
  });
  return app;
}

const spec = (app: App, cells: number, concurrency: number) =>
  parseRolloutSpec(
    `teams:\n  t:\n    initial_message: weather\n    base: { agent_id: w }\nrepeats: ${cells}\nconcurrency: ${concurrency}\n` +
      'judge:\n  workspace: false\n  evaluators: [{ id: sunny, kind: assert, assert: [{ contains: sunny }], on: demand }]\n',
    'memory.yaml',
    app.workspace,
  );

describe('a rollout keeps nothing of a finished cell in memory', () => {
  it('three quarters through 200 cells (10 at once), the finished cells are collectable: only running ones stay', async () => {
    const app = await sunnyApp('judge: { concurrency: 4 }\n');
    // Each cell the runner hands to the cell runner, watched (not held) as it starts.
    const cells: WeakRef<object>[] = [];
    const run = CellRunner.prototype.run;
    CellRunner.prototype.run = function (this: CellRunner, ...args: Parameters<typeof run>) {
      cells.push(new WeakRef(args[2]));
      return run.apply(this, args);
    };
    cleanups.push(() => (CellRunner.prototype.run = run));
    let alive: number | undefined;
    let finishedThen = 0;
    const outcome = await new RolloutRunner(app).start(spec(app, 200, 10), {
      onProgress: (p) => {
        if (alive !== undefined || p.done + p.failed < 150) return;
        finishedThen = p.done + p.failed;
        gc();
        alive = cells.filter((c) => c.deref() !== undefined).length;
      },
    });
    expect(outcome.stopped).toBeNull();
    expect(outcome.cells.map((c) => c.status)).toEqual(Array(200).fill('done'));
    // Every cell judged on its own contains assertion: a score each, 1 each.
    expect(outcome.cells.every((c) => c.metrics?.scores['sunny'] === 1)).toBe(true);
    expect(finishedThen).toBeGreaterThanOrEqual(150);
    // At most the cells in flight (10, and those whose result is still on its way to the database), not the 150+
    // finished ones.
    expect(alive).toBeLessThanOrEqual(25);
  });

  it("judges every cell within p2tui.yaml's judge concurrency: 1 evaluation at a time for 40 cells run 20 at once", async () => {
    const app = await sunnyApp('judge: { concurrency: 1 }\n');
    let most = 0;
    const outcome = await new RolloutRunner(app).start(spec(app, 40, 20), {
      onProgress: () => (most = Math.max(most, app.judge.busy)),
    });
    expect(outcome.cells.map((c) => c.metrics?.scores['sunny'])).toEqual(Array(40).fill(1));
    expect(most).toBeLessThanOrEqual(1);
    // One job per cell, every one done; one score each.
    expect(countRows(app.store.path, "SELECT count(*) AS n FROM eval_jobs WHERE status = 'done'")).toBe(40);
    expect(countRows(app.store.path, 'SELECT count(*) AS n FROM scores')).toBe(40);
  });
});
