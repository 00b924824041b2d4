/**
 * Branch and diff figures (issue 5), recorded in BENCHMARKS.md:
 *
 *   fork         a fork (branch row + segments) at depth 1k, 10k and 100k entries: independent of depth?
 *   nested       the 1,000th of 1,000 nested forks, and reading a branch's visible history behind them
 *   read         reading a branch's visible history at depth d: one query, linear in d
 *   first step   fork + check out + the first step on the new branch of a session of d entries (engine)
 *   diff         side-by-side diff of two 1 MB texts that differ in 1% of their lines
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
import { diffSequences, splitLines } from '../src/core/diff.ts';
import { sideBySideLines } from '../src/commands/diff-view.ts';
import { Engine } from '../src/engine/engine.ts';
import { loadWorkspace } from '../src/engine/workspace.ts';
import { defineTool } from '../src/tools/define.ts';

const quick = process.argv.includes('--quick');
const fmt = (n: number, digits = 2): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function storeWithSession(): { store: Store; row: SessionRow; close(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-bench-br-'));
  const store = new Store({ path: join(dir, 'p.db') });
  const row: SessionRow = {
    id: 's_bench', createdAt: 0, updatedAt: 0, agent: 'a', rootConversation: 'c_root', headBranch: 'b_main', title: 't', source: 'api',
    status: 'finished', statusReason: null, options: { seed: 1, maxSteps: 1, approval: 'deny' }, workspace: dir,
  };
  store.write(() => {
    store.sessions.createSession(row);
    store.sessions.createBranch({ id: 'b_main', session: row.id, parent: null, forkSeq: null, label: 'main', overrides: {}, createdBy: 'bench', createdAt: 0 }, []);
  });
  return { store, row, close: () => (store.close(), rmSync(dir, { recursive: true, force: true })) };
}

function append(store: Store, branch: string, count: number): void {
  const batch = 5000;
  for (let done = 0; done < count; done += batch) {
    store.write(() => {
      for (let i = 0; i < Math.min(batch, count - done); i++) {
        store.append({ type: 'entry', kind: 'user_message', payload: { text: `message ${done + i}` }, session: 's_bench', branch, conversation: 'c_root' }, 1);
      }
    });
  }
}

function forkFigures(): void {
  for (const depth of quick ? [1_000, 10_000] : [1_000, 10_000, 100_000]) {
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
    console.log(`fork         at depth ${depth.toLocaleString('en-US').padStart(7)}: median ${fmt(median(times), 3)} ms · read the branch's history: ${fmt(median(reads), 1)} ms`);
    close();
  }
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
  console.log(`nested       the ${count.toLocaleString('en-US')}th nested fork: ${fmt(last, 3)} ms · reading its history (${entries.length} entries over ${count + 1} segments): ${fmt(performance.now() - started, 1)} ms`);
  close();
}

async function firstStepFigures(): Promise<void> {
  const echo = defineTool({ name: 'echo', description: 'Returns its input.', input: z.object({ n: z.number() }), effect: 'idempotent', run: ({ n }) => ({ n }) });
  for (const steps of quick ? [300] : [300, 3_334]) {
    const dir = mkdtempSync(join(tmpdir(), 'p2tui-bench-fs-'));
    mkdirSync(join(dir, 'personas'));
    writeFileSync(
      join(dir, 'personas', 'looper.yaml'),
      `id: looper\ndescription: Loops.\ntemperature: 0\ntools: [echo]\npolicies: { max_steps: ${steps + 10} }\nscript:\n  - when: '.'\n    steps:\n      - { call: echo, args: { n: '{{round}}' }, repeat: ${steps - 1} }\n      - reply: done\n`,
    );
    const workspace = await loadWorkspace(dir, { extraTools: [echo] });
    const engine = new Engine({ workspace });
    const run = engine.start({ agent: 'looper', message: 'go', source: 'api', options: engine.sessionOptions({ seed: 1, maxSteps: 1_000_000, approval: 'deny' }) });
    await run.idle();
    const entries = branchEntries(engine.store, run.id, engine.store.sessions.resolve(run.id).headBranch);
    // Rewind to the last tool result (the model is called next), then take one step there.
    const cut = entries.filter((e) => e.kind === 'tool_result').at(-1)!.seq;
    const started = performance.now();
    await engine.fork(run.id, { atSeq: cut, createdBy: 'bench', checkout: true });
    const forked = performance.now();
    const runtime = await engine.attach(run.id);
    const attached = performance.now();
    runtime.resume();
    await runtime.idle();
    const done = performance.now();
    console.log(
      `first step   session of ${entries.length.toLocaleString('en-US')} entries: fork + checkout ${fmt(forked - started, 2)} ms, load the branch ${fmt(attached - forked, 1)} ms, first step ${fmt(done - attached, 2)} ms`,
    );
    // Forking the live head and going on: the running session switches branch without replaying the log.
    const headStarted = performance.now();
    await engine.fork(run.id, { createdBy: 'bench', checkout: true, overrides: { temperature: 0.1 } });
    const headForked = performance.now();
    const live = engine.get(run.id)!;
    // One step: until its model call is committed (the commit listener sees it at once).
    const stepped = new Promise<number>((resolve) => {
      const stop = engine.store.onCommit((events) => {
        if (events.some((e) => e.type === 'model.call')) {
          stop();
          resolve(performance.now());
        }
      });
    });
    await live.send('go');
    const headStep = await stepped;
    live.pause();
    await live.idle();
    console.log(`live head    session of ${entries.length.toLocaleString('en-US')} entries: fork at the head + checkout ${fmt(headForked - headStarted, 2)} ms, first step on the new branch ${fmt(headStep - headForked, 2)} ms`);
    engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function diffFigures(): void {
  const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i}: ${'lorem ipsum dolor sit amet '.repeat(2).slice(0, 40)} ${i * 7919}`);
  const a = `${lines.join('\n')}\n`;
  const changed = [...lines];
  for (let i = 50; i < changed.length; i += 100) changed[i] = `${changed[i]!.slice(0, 20)} CHANGED ${i}`;
  const b = `${changed.join('\n')}\n`;
  const times: number[] = [];
  let rows = 0;
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    rows = sideBySideLines(diffSequences(splitLines(a), splitLines(b)), 200, false).length;
    times.push(performance.now() - started);
  }
  console.log(`diff         side by side, two ${fmt(a.length / 2 ** 20, 2)} MB texts, 1% of lines changed (${rows.toLocaleString('en-US')} rows shown): median ${fmt(median(times), 1)} ms (target < 200 ms)`);
}

console.log(`p2tui branch bench${quick ? ' (quick)' : ''} — Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} ×${cpus().length}, ${new Date().toISOString().slice(0, 10)}`);
forkFigures();
nestedFigures();
await firstStepFigures();
diffFigures();
