/**
 * Rollout figures (issue 8), recorded in BENCHMARKS.md:
 *
 *   wall time   1,000 cells of 3 steps (two tool calls and an answer), a simulated model latency of 100 ms per
 *               call, 100 cells at once: against the ideal (1,000 / 100 × 3 × 100 ms = 3 s)
 *   memory      peak resident memory and heap after 1,000 and 10,000 cells (it should stay flat as cells grow)
 *
 * Run: node scripts/bench-rollout.ts [--quick]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../src/app/app.ts';
import { loadWorkspace } from '../src/app/workspace.ts';
import { RolloutRunner } from '../src/rollout/runner.ts';
import { parseRolloutSpec } from '../src/rollout/spec.ts';
import { defineTool } from '../src/tools/define.ts';
import { z } from 'zod';

const lookup = defineTool({
  name: 'lookup',
  description: 'Looks something up.',
  input: z.object({ q: z.string() }),
  effect: 'pure',
  cacheTtlMs: 0,
  run: ({ q }) => `${q}: sunny`,
});

const quick = process.argv.includes('--quick');
const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function workspace(latencyMs: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-bench-rollout-'));
  mkdirSync(join(dir, 'personas'));
  writeFileSync(
    join(dir, 'personas', 'w.yaml'),
    "id: w\ndescription: Looks the weather up twice.\ntemperature: 0\ntools: [lookup]\nscript:\n  - when: '.'\n    steps:\n      - call: lookup\n        args: { q: Paris }\n      - call: lookup\n        args: { q: Oslo }\n      - reply: 'Paris and Oslo: {{result}}'\n",
  );
  writeFileSync(
    join(dir, 'p2tui.yaml'),
    `concurrency: 1000\nproviders:\n  scripted:\n    latency_ms: ${latencyMs}\n    concurrency: 1000\n`,
  );
  return dir;
}

async function run(
  cells: number,
  concurrency: number,
  latencyMs: number,
): Promise<{ wallMs: number; peakRssMb: number; heapMb: number; failed: number }> {
  const dir = workspace(latencyMs);
  const ws = await loadWorkspace(dir, { extraTools: [lookup] });
  const app = new App({ workspace: ws, judge: false });
  const repeats = cells;
  const spec = parseRolloutSpec(
    `teams:\n  t:\n    initial_message: weather\n    base: { agent_id: w }\nrepeats: ${repeats}\nconcurrency: ${concurrency}\njudge: { workspace: false }\n`,
    'bench.yaml',
    ws,
  );
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const started = performance.now();
  const outcome = await new RolloutRunner(app).start(spec);
  const wallMs = performance.now() - started;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  globalThis.gc?.();
  const heapMb = process.memoryUsage().heapUsed / 2 ** 20;
  app.close();
  rmSync(dir, { recursive: true, force: true });
  return { wallMs, peakRssMb: peak / 2 ** 20, heapMb, failed: outcome.cells.filter((c) => c.status !== 'done').length };
}

const n = quick ? 200 : 1_000;
const ideal = (n / 100) * 3 * 100;
const a = await run(n, 100, 100);
console.log(
  `rollout: ${fmt(n)} cells × 3 steps, model latency 100 ms, 100 at once: ${fmt(a.wallMs)} ms against the ideal ${fmt(ideal)} ms (${a.wallMs >= ideal ? '+' : ''}${fmt(((a.wallMs - ideal) / ideal) * 100, 1)}%), ${a.failed} failed; peak RSS ${fmt(a.peakRssMb)} MB, heap after ${fmt(a.heapMb)} MB`,
);
for (const size of quick ? [500] : [1_000, 10_000]) {
  const m = await run(size, 100, 0);
  console.log(
    `  ${fmt(size)} cells (no model latency): ${fmt(m.wallMs)} ms (${fmt((size / m.wallMs) * 1000)} cells/s), peak RSS ${fmt(m.peakRssMb)} MB, heap after ${fmt(m.heapMb)} MB, ${m.failed} failed`,
  );
}
