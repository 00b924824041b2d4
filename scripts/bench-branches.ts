/**
 * Branch and diff figures (issue 5), recorded in BENCHMARKS.md:
 *
 *   fork         a fork (branch row + segments) at depth 1k, 10k and 100k entries: independent of depth?
 *   nested       the 1,000th of 1,000 nested forks, and reading a branch's visible history behind them
 *   read         reading a branch's visible history at depth d: one query, linear in d
 *   live head    fork at the live head + the first step there, over 1,000 nested forks (engine)
 *   rewind       fork a few steps back + check out + the first step, in the process driving the session and
 *                (cold rewind) in one that has to load it
 *   diff         side-by-side diff of two 1 MB texts that differ in 1% of their lines
 *
 * Marks (issue 22: ratios of figures of the same run, see bench-marks.ts):
 *   fork at the deepest history / fork at a 100-entry one   constant time: ≤ 2× (the noise of a sub-millisecond figure)
 *   cold rewind / rewind in the process driving the session  ≤ 10× (rewind + checkout, and load for the cold one)
 *   side-by-side diff of two 1.18 MB texts / 200 ms          ≤ 1×
 *
 * Run: node scripts/bench-branches.ts [--quick]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { Store } from '../src/store/store.ts';
import type { SessionRow } from '../src/store/sessions.ts';
import { branchEntries, forkBranch } from '../src/engine/branching.ts';
import { diffArrays } from 'diff';
import { diffSequences, splitLines } from '../src/core/diff.ts';
import { sideBySideLines } from '../src/commands/render/diff-view.ts';
import { App } from '../src/app/app.ts';
import { loadWorkspace } from '../src/app/workspace.ts';
import { defineTool } from '../src/tools/define.ts';
import { printMarks, type Mark } from './bench-marks.ts';

const quick = process.argv.includes('--quick');
const fmt = (n: number, digits = 2): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const marks: Mark[] = [];

function storeWithSession(): { store: Store; row: SessionRow; close(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-bench-br-'));
  const store = new Store({ path: join(dir, 'p.db') });
  const row: SessionRow = {
    id: 's_bench',
    createdAt: 0,
    updatedAt: 0,
    agent: 'a',
    rootConversation: 'c_root',
    headBranch: 'b_main',
    title: 't',
    source: 'api',
    status: 'finished',
    statusReason: null,
    options: { seed: 1, maxSteps: 1, approval: 'deny' },
    workspace: dir,
  };
  store.write(() => {
    store.sessions.createSession(row);
    store.sessions.createBranch(
      {
        id: 'b_main',
        session: row.id,
        parent: null,
        forkSeq: null,
        label: 'main',
        overrides: {},
        createdBy: 'bench',
        createdAt: 0,
      },
      [],
    );
  });
  return { store, row, close: () => (store.close(), rmSync(dir, { recursive: true, force: true })) };
}

function append(store: Store, branch: string, count: number): void {
  const batch = 5000;
  for (let done = 0; done < count; done += batch) {
    store.write(() => {
      for (let i = 0; i < Math.min(batch, count - done); i++) {
        store.append(
          {
            type: 'entry',
            kind: 'user_message',
            payload: { text: `message ${done + i}` },
            session: 's_bench',
            branch,
            conversation: 'c_root',
          },
          1,
        );
      }
    });
  }
}

function forkFigures(): void {
  const forks = new Map<number, number>();
  const depths = quick ? [100, 1_000, 10_000] : [100, 1_000, 10_000, 100_000];
  for (const depth of depths) {
    const { store, row, close } = storeWithSession();
    append(store, 'b_main', depth);
    const times: number[] = [];
    for (let i = 0; i < 21; i++) {
      const started = performance.now();
      store.write(() => forkBranch(store, row, { from: 'b_main', createdBy: 'bench', now: 1 }));
      times.push(performance.now() - started);
    }
    const reads: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      branchEntries(store, row.id, 'b_main');
      reads.push(performance.now() - started);
    }
    console.log(
      `fork         at depth ${depth.toLocaleString('en-US').padStart(7)}: median ${fmt(median(times), 3)} ms · read the branch's history: ${fmt(median(reads), 1)} ms`,
    );
    forks.set(depth, median(times));
    close();
  }
  const deepest = depths.at(-1)!;
  marks.push({
    target: `fork at depth ${deepest.toLocaleString('en-US')} / at depth 100 (constant time)`,
    measured: `${fmt(forks.get(deepest)!, 3)} ms / ${fmt(forks.get(100)!, 3)} ms`,
    ratio: forks.get(deepest)! / forks.get(100)!,
    limit: 2,
  });
}

function nestedFigures(): void {
  const { store, row, close } = storeWithSession();
  let branch = 'b_main';
  const count = quick ? 200 : 1_000;
  let last = 0;
  for (let i = 0; i < count; i++) {
    append(store, branch, 1);
    const started = performance.now();
    branch = store.write(() => forkBranch(store, row, { from: branch, createdBy: 'bench', now: 1 })).branch.id;
    last = performance.now() - started;
  }
  append(store, branch, 1);
  const started = performance.now();
  const entries = branchEntries(store, row.id, branch);
  console.log(
    `nested       the ${count.toLocaleString('en-US')}th nested fork: ${fmt(last, 3)} ms · reading its history (${entries.length} entries over ${count + 1} segments): ${fmt(performance.now() - started, 1)} ms`,
  );
  close();
}

async function firstStepFigures(): Promise<void> {
  const echo = defineTool({
    name: 'echo',
    description: 'Returns its input.',
    input: z.object({ n: z.number() }),
    effect: 'idempotent',
    run: ({ n }) => ({ n }),
  });
  for (const steps of quick ? [300, 3_334] : [3_334, 33_334]) {
    const dir = mkdtempSync(join(tmpdir(), 'p2tui-bench-fs-'));
    mkdirSync(join(dir, 'personas'));
    writeFileSync(
      join(dir, 'personas', 'looper.yaml'),
      `id: looper\ndescription: Loops.\ntemperature: 0\ntools: [echo]\npolicies: { max_steps: ${steps + 5_000} }\nscript:\n  - when: '^go$'\n    steps:\n      - { call: echo, args: { n: '{{round}}' }, repeat: ${steps - 1} }\n      - reply: done\n  - when: '.'\n    steps:\n      - reply: ok\n`,
    );
    const workspace = await loadWorkspace(dir, { extraTools: [echo] });
    const app = new App({ workspace });
    const engine = app.engine;
    const run = engine.start({
      agent: 'looper',
      message: 'go',
      source: 'api',
      options: engine.sessionOptions({ seed: 1, maxSteps: 10_000_000, approval: 'deny' }),
    });
    await run.idle();
    const depth = engine.store.log.lastSeqOf(run.id);
    const label = `${depth.toLocaleString('en-US')} events`;
    /** Resolves when the next model call is committed, pausing the session there (one step, then rest). */
    const nextStep = (): Promise<number> =>
      new Promise<number>((resolve) => {
        const stop = engine.store.onCommit((events) => {
          if (events.some((e) => e.type === 'model.call')) {
            stop();
            engine.get(run.id)?.pause();
            resolve(performance.now());
          }
        });
      });

    // Rewind: fork a few steps back and check it out, in the process driving the session (back in memory), then
    // one step on the new branch.
    const rewinds: number[] = [];
    const rewindSteps: number[] = [];
    for (let i = 0; i < (quick ? 20 : 50); i++) {
      const live = engine.get(run.id)!;
      // The branch's own entries and the ones just before its fork point.
      const from = engine.store.sessions.branch(live.branch)?.forkSeq ?? engine.store.log.lastSeqOf(run.id);
      const recent = engine.store.log.visibleEntriesAfter(
        run.id,
        engine.store.sessions.segments(live.branch),
        from - 40,
      );
      const cut = recent.filter((e) => e.kind === 'tool_result').at(-3)?.seq;
      if (cut === undefined) throw new Error('no tool result to rewind to');
      // The step's tool call may still be settling after the pause.
      while (!live.canRewind(cut)) await new Promise((resolve) => setImmediate(resolve));
      const started = performance.now();
      await engine.fork(run.id, { atSeq: cut, createdBy: 'bench', checkout: true });
      const forked = performance.now();
      if (engine.get(run.id) !== live) throw new Error('the rewind did not stay in memory');
      const stepped = nextStep();
      live.resume();
      const done = await stepped;
      await live.idle();
      rewinds.push(forked - started);
      rewindSteps.push(done - forked);
    }
    console.log(
      `rewind       ${label}: fork a few steps back + checkout ${fmt(median(rewinds), 2)} ms, first step ${fmt(median(rewindSteps), 2)} ms (median of ${rewinds.length}, in the process driving it)`,
    );

    // The same from a process that does not hold the session: it has to load the branch (from the conversations'
    // snapshots, written when the driving runtime stopped, and the log after them; without them from the whole log).
    // Measured on the same session as the in-process rewinds just above (as many branches, the same depth), at a
    // point a few steps back as they are.
    const live = engine.get(run.id)!;
    live.pause();
    await live.idle();
    live.detach();
    const main = engine.store.sessions.resolve(run.id).headBranch;
    const from = engine.store.sessions.branch(main)?.forkSeq ?? engine.store.log.lastSeqOf(run.id);
    const recent = engine.store.log.visibleEntriesAfter(run.id, engine.store.sessions.segments(main), from - 40);
    const cut = recent.filter((e) => e.kind === 'tool_result').at(-3)!.seq;
    const colds: number[] = [];
    const coldSteps: number[] = [];
    let split = '';
    for (let i = 0; i < (quick ? 3 : 5); i++) {
      // A new engine each time (nothing of the session in its memory), rewinding the same branch at the same point.
      const otherApp = new App({ workspace, store: engine.store });
      const other = otherApp.engine;
      const started = performance.now();
      await other.fork(run.id, { from: main, atSeq: cut, createdBy: 'bench', checkout: true });
      const forked = performance.now();
      const runtime = await other.attach(run.id);
      const attached = performance.now();
      const stepped = new Promise<number>((resolve) => {
        const stop = engine.store.onCommit((events) => {
          if (events.some((e) => e.type === 'model.call')) {
            stop();
            runtime.pause();
            resolve(performance.now());
          }
        });
      });
      runtime.resume();
      const done = await stepped;
      await runtime.idle();
      colds.push(attached - started);
      coldSteps.push(done - attached);
      if (i === 0)
        split = `first: fork + checkout ${fmt(forked - started, 1)} ms, load ${fmt(attached - forked, 1)} ms`;
      otherApp.close();
    }
    const inProcess = median(rewinds);
    console.log(
      `cold rewind  ${label}: fork + checkout + load ${fmt(median(colds), 2)} ms, first step ${fmt(median(coldSteps), 2)} ms (median of ${colds.length}; ${split}) = ${fmt(median(colds) / inProcess, 1)}× the rewind in the process driving it`,
    );
    marks.push({
      target: `cold rewind at ${label} / rewind in the driving process`,
      measured: `${fmt(median(colds), 2)} ms / ${fmt(inProcess, 2)} ms`,
      ratio: median(colds) / inProcess,
      limit: 10,
    });
    // This process drives the session again, from where the last cold rewind left it.
    await engine.attach(run.id);

    // Finish the loop, so the session can take messages again.
    engine.get(run.id)!.resume();
    await engine.get(run.id)!.idle();

    // Fork at the live head (to go on with another temperature), then one step there: 1,000 times, each fork
    // nested in the previous one.
    const nested = quick ? 200 : 1_000;
    const headForks: number[] = [];
    const headSteps: number[] = [];
    for (let i = 0; i < nested; i++) {
      const started = performance.now();
      await engine.fork(run.id, { createdBy: 'bench', checkout: true, overrides: { temperature: (i % 10) / 10 } });
      const forked = performance.now();
      const stepped = nextStep();
      await engine.get(run.id)!.send('hello');
      const done = await stepped;
      const live = engine.get(run.id)!;
      live.resume();
      await live.idle();
      headForks.push(forked - started);
      headSteps.push(done - forked);
    }
    const firstAndLast = (xs: number[]): string =>
      `${fmt(median(xs.slice(0, 50)), 2)} / ${fmt(median(xs.slice(-50)), 2)}`;
    console.log(
      `live head    ${label}: fork at the head + checkout ${firstAndLast(headForks)} ms, first step ${firstAndLast(headSteps)} ms (first 50 / last 50 of ${nested} nested forks)`,
    );

    app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function diffFigures(): void {
  const lines = Array.from(
    { length: 20_000 },
    (_, i) => `line ${i}: ${'lorem ipsum dolor sit amet '.repeat(2).slice(0, 40)} ${i * 7919}`,
  );
  const a = `${lines.join('\n')}\n`;
  const textWith = (every: number): string => {
    const changed = [...lines];
    for (let i = 50; i < changed.length; i += every) changed[i] = `${changed[i]!.slice(0, 20)} CHANGED ${i}`;
    return `${changed.join('\n')}\n`;
  };
  const timed = (fn: () => void): number => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      fn();
      times.push(performance.now() - started);
    }
    return median(times);
  };
  const b = textWith(100);
  let rows = 0;
  const ours = timed(() => {
    rows = sideBySideLines(diffSequences(splitLines(a), splitLines(b)), 200, false).length;
  });
  console.log(
    `diff         side by side, two ${fmt(a.length / 2 ** 20, 2)} MB texts, 1% of lines changed (${rows.toLocaleString('en-US')} rows shown): median ${fmt(ours, 1)} ms (target < 200 ms)`,
  );
  marks.push({
    target: `side-by-side diff of two ${fmt(a.length / 2 ** 20, 2)} MB texts / 200 ms`,
    measured: `${fmt(ours, 1)} ms / 200 ms`,
    ratio: ours / 200,
    limit: 1,
  });
  // The same edit scripts from jsdiff (the `diff` package), the library core/diff.ts was measured against.
  for (const [every, share] of [
    [100, '1%'],
    [20, '5%'],
  ] as const) {
    const left = splitLines(a);
    const right = splitLines(textWith(every));
    const mine = timed(() => diffSequences(left, right));
    const theirs = timed(() => diffArrays(left, right));
    console.log(
      `diff         edit script only, ${share} of lines changed: core/diff.ts ${fmt(mine, 1)} ms, jsdiff diffArrays ${fmt(theirs, 1)} ms (${fmt(theirs / mine, 1)}×)`,
    );
  }
}

console.log(
  `p2tui branch bench${quick ? ' (quick)' : ''} — Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} ×${cpus().length}, ${new Date().toISOString().slice(0, 10)}`,
);
forkFigures();
nestedFigures();
await firstStepFigures();
diffFigures();
printMarks('branches', marks);
