/**
 * Judge figures (issue 6), recorded in BENCHMARKS.md:
 *
 *   assertions   scoring 10,000 finished conversations with an assertion evaluator (jobs written by the steps)
 *   latency      a judge that takes 200 ms per verdict, at concurrency 50: wall time against the ideal
 *
 * Run: node scripts/bench-judge.ts [--quick]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../src/app/app.ts';
import type { Engine } from '../src/engine/engine.ts';
import { loadWorkspace } from '../src/app/workspace.ts';
import { JudgeRunner } from '../src/judge/runner.ts';
import { systemClock } from '../src/core/clock.ts';
import { printMarks } from './bench-marks.ts';

const quick = process.argv.includes('--quick');
const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** A workspace whose one persona answers at once, with the given judge section and evaluator files. */
function workspace(judge: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-bench-judge-'));
  mkdirSync(join(dir, 'personas'));
  writeFileSync(
    join(dir, 'personas', 'w.yaml'),
    "id: w\ndescription: Answers.\ntemperature: 0\nscript:\n  - when: '.'\n    steps:\n      - reply: The weather in Paris is sunny, 22 degrees.\n",
  );
  writeFileSync(join(dir, 'p2tui.yaml'), judge);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Runs `count` one-step sessions with the judge off, so their jobs wait in the database. */
async function finishedSessions(engine: Engine, count: number): Promise<void> {
  const batch = 500;
  for (let done = 0; done < count; done += batch) {
    const runs = Array.from({ length: Math.min(batch, count - done) }, (_, i) =>
      engine.start({
        agent: 'w',
        message: `weather ${done + i}`,
        source: 'api',
        options: engine.sessionOptions({ seed: i, approval: 'deny' }),
      }),
    );
    await Promise.all(runs.map((r) => r.idle()));
  }
}

async function assertionFigures(): Promise<void> {
  const count = quick ? 2_000 : 10_000;
  const dir = workspace(
    'judge:\n  concurrency: 50\n  evaluators:\n    - id: checks\n      kind: assert\n      assert:\n        - contains: sunny\n        - regex: "\\\\d+ degrees"\n        - finished: true\n        - max_steps: 3\n',
  );
  const ws = await loadWorkspace(dir);
  const app = new App({ workspace: ws, judge: false });
  const engine = app.engine;
  await finishedSessions(engine, count);
  const judge = new JudgeRunner(engine.store, ws.evaluators, ws.providers, {
    owner: 'bench',
    clock: systemClock,
    concurrency: 50,
  });
  const started = performance.now();
  await judge.drain();
  const ms = performance.now() - started;
  const scores = engine.store.scores.scores({}).length;
  console.log(
    `assertions   ${fmt(scores)} conversations scored in ${fmt(ms)} ms = ${fmt((scores / ms) * 1000)} per second (4 assertions each, concurrency 50)`,
  );
  judge.stop();
  app.close();
  rmSync(dir, { recursive: true, force: true });
}

/** The wall time of the verdicts over their ideal (every judge slot busy all the time). */
async function latencyFigures(): Promise<{ ms: number; ideal: number; count: number }> {
  const count = quick ? 250 : 1_000;
  const concurrency = 50;
  const delay = 200;
  const dir = workspace(
    `judge:\n  concurrency: ${concurrency}\n  evaluators:\n    - id: slow\n      kind: custom\n      evaluator: slow\n`,
    {
      'evaluators/slow.ts': `import { defineEvaluator } from 'p2tui';\nexport const slow = defineEvaluator({ id: 'slow', evaluate: () => new Promise((resolve) => setTimeout(() => resolve({ value: 1 }), ${delay})) });\n`,
    },
  );
  const ws = await loadWorkspace(dir);
  const app = new App({ workspace: ws, judge: false });
  const engine = app.engine;
  await finishedSessions(engine, count);
  const judge = new JudgeRunner(engine.store, ws.evaluators, ws.providers, {
    owner: 'bench',
    clock: systemClock,
    concurrency,
  });
  const started = performance.now();
  await judge.drain();
  const ms = performance.now() - started;
  const ideal = (count / concurrency) * delay;
  console.log(
    `latency      ${fmt(count)} verdicts of ${delay} ms at concurrency ${concurrency}: ${fmt(ms)} ms vs ideal ${fmt(ideal)} ms (+${fmt(((ms - ideal) / ideal) * 100, 1)}%)`,
  );
  judge.stop();
  app.close();
  rmSync(dir, { recursive: true, force: true });
  return { ms, ideal, count };
}

console.log(
  `p2tui judge bench${quick ? ' (quick)' : ''} — Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} ×${cpus().length}, ${new Date().toISOString().slice(0, 10)}`,
);
await assertionFigures();
const latency = await latencyFigures();
// Issue 22, target 5: kept at +1.7% over the ideal (BENCHMARKS.md: +1.4% to +2.4% over its runs); 5% is the mark.
printMarks('judge', [
  {
    target: `judge: ${fmt(latency.count)} verdicts of 200 ms at concurrency 50, wall time / ideal`,
    measured: `${fmt(latency.ms)} ms / ${fmt(latency.ideal)} ms`,
    ratio: latency.ms / latency.ideal,
    limit: 1.05,
  },
]);
