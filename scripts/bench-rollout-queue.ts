/**
 * Distributed rollout figures (issue 8), recorded in BENCHMARKS.md; needs `redis-server` on PATH (Debian's package):
 *
 *   one worker against two   the same cells at the same total concurrency (one worker × 100, two × 50): what the
 *                            queue costs over the local runner, and what a second process buys
 *   ingest                   the coordinator's rate of ingesting cells (payments applied, session stored)
 *
 * Run: node scripts/bench-rollout-queue.ts [--quick]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../src/app/app.ts';
import { loadWorkspace } from '../src/app/workspace.ts';
import { QueueCoordinator } from '../src/rollout/queue/coordinator.ts';
import { RolloutRunner } from '../src/rollout/runner.ts';
import { parseRolloutSpec } from '../src/rollout/spec.ts';
import { Store } from '../src/store/store.ts';

const quick = process.argv.includes('--quick');
const ROOT = join(import.meta.dirname, '..');
const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

if (spawnSync('redis-server', ['--version']).status !== 0) {
  console.log("rollout queue: skipped (no redis-server on PATH; install Debian's redis-server)");
  process.exit(0);
}

const port = await new Promise<number>((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
const url = `redis://127.0.0.1:${port}`;
const redis = spawn(
  'redis-server',
  ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
  { stdio: 'ignore' },
);
for (
  let i = 0;
  i < 100 && spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() !== 'PONG';
  i++
)
  await new Promise((r) => setTimeout(r, 50));

const dir = mkdtempSync(join(tmpdir(), 'p2tui-bench-queue-'));
mkdirSync(join(dir, 'personas'));
mkdirSync(join(dir, 'tools'));
writeFileSync(
  join(dir, 'tools', 'lookup.ts'),
  "import { defineTool, z } from 'p2tui';\nexport const lookup = defineTool({ name: 'lookup', description: 'Looks something up.', input: z.object({ q: z.string() }), effect: 'pure', cacheTtlMs: 0, run: ({ q }) => `${q}: sunny` });\n",
);
writeFileSync(
  join(dir, 'personas', 'w.yaml'),
  "id: w\ndescription: Looks up twice.\ntemperature: 0\ntools: [lookup]\nscript:\n  - when: '.'\n    steps:\n      - call: lookup\n        args: { q: Paris }\n      - call: lookup\n        args: { q: Oslo }\n      - reply: 'ok {{result}}'\n",
);
writeFileSync(
  join(dir, 'p2tui.yaml'),
  'concurrency: 1000\nproviders:\n  scripted:\n    latency_ms: 100\n    concurrency: 1000\n',
);

// The queue key the coordinator signs jobs with and the workers check them by (issue 16's signing): one file for both.
const keyFile = join(dir, 'queue.key');
writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });

const children: ChildProcess[] = [];
// However the bench ends (a worker refused, a failed assertion), Redis and the workers end with it.
process.on('exit', () => {
  for (const c of children) c.kill();
  redis.kill();
});
async function workers(count: number, concurrency: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'src/cli/main.ts'),
        'worker',
        '--queue',
        url,
        '--concurrency',
        String(concurrency),
        '--workspace',
        dir,
        '--queue-key',
        keyFile,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    // A worker that stops before it is ready (a refused key, say) ends the bench instead of leaving it waiting.
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('Ctrl-C stops') && resolve());
      child.on('exit', (code) => reject(new Error(`p2tui worker exited with ${code} before it was ready`)));
    });
    children.push(child);
  }
}

async function run(cells: number): Promise<{ wallMs: number; ingestPerSecond: number; failed: number }> {
  const store = new Store({ path: join(mkdtempSync(join(tmpdir(), 'p2tui-bench-queue-db-')), 'p.db') });
  const workspace = await loadWorkspace(dir);
  const app = new App({ workspace, store, judge: false });
  const spec = parseRolloutSpec(
    `teams:\n  t:\n    initial_message: weather\n    base: { agent_id: w }\nrepeats: ${cells}\njudge: { workspace: false }\n`,
    'bench.yaml',
    workspace,
  );
  const coordinator = await QueueCoordinator.connect(app, url, { stateDir: dir });
  const started = performance.now();
  const outcome = await new RolloutRunner(app).start(spec, { executor: coordinator.executor(), concurrency: cells });
  const wallMs = performance.now() - started;
  await coordinator.close();
  // The coordinator's own work per cell, alone: the cells' bundles stored again, one after another, into a fresh
  // database (what ingest writes; this workload has no payments to apply).
  const bundles = outcome.cells.map((c) => store.bundles.export(c.session!, 'bench', Date.now()));
  const target = new Store({ path: join(mkdtempSync(join(tmpdir(), 'p2tui-bench-queue-db-')), 'p.db') });
  const t0 = performance.now();
  for (const b of bundles) target.bundles.import(b);
  const ingestPerSecond = (bundles.length / (performance.now() - t0)) * 1000;
  target.close();
  app.close();
  store.close();
  return { wallMs, ingestPerSecond, failed: outcome.cells.filter((c) => c.status !== 'done').length };
}

const n = quick ? 200 : 1_000;
const ideal = (n / 100) * 3 * 100;
await workers(1, 100);
const one = await run(n);
for (const c of children.splice(0)) c.kill();
// --quick: one worker only (the two-worker figure is the slower half of the part, and neither has a target).
let two: Awaited<ReturnType<typeof run>> | undefined;
if (!quick) {
  await workers(2, 50);
  two = await run(n);
  for (const c of children.splice(0)) c.kill();
}
console.log(
  `rollout queue: ${fmt(n)} cells × 3 steps, model latency 100 ms, 100 at once in all (ideal ${fmt(ideal)} ms)`,
);
console.log(
  `  one worker × 100: ${fmt(one.wallMs)} ms (${one.wallMs >= ideal ? '+' : ''}${fmt(((one.wallMs - ideal) / ideal) * 100, 1)}%), ${one.failed} failed; the coordinator ingests ${fmt(one.ingestPerSecond)} cells/s`,
);
if (two !== undefined)
  console.log(
    `  two workers × 50: ${fmt(two.wallMs)} ms (${two.wallMs >= ideal ? '+' : ''}${fmt(((two.wallMs - ideal) / ideal) * 100, 1)}%), ${two.failed} failed; the coordinator ingests ${fmt(two.ingestPerSecond)} cells/s`,
  );
redis.kill();
rmSync(dir, { recursive: true, force: true });
